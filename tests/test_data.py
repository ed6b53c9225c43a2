"""The built-in dataset, the split protocols and the augmentation pipelines."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import torch
from PIL import Image

from mkdlib.data import (
    LabeledDataset,
    SeededInfiniteSampler,
    SyntheticSpec,
    UnlabeledDataset,
    generate,
    make_split,
    prepare_synthetic,
)
from mkdlib.data.splits import SplitError, parse_split_spec
from mkdlib.data.synthetic import CLASSES, render_sample


def _digest(root):
    h = hashlib.sha256()
    for p in sorted((root / "JPEGImages").iterdir()) + sorted((root / "SegmentationClass").iterdir()):
        h.update(p.read_bytes())
    return h.hexdigest()


def test_generation_is_deterministic_and_voc_formatted(tmp_path):
    spec = SyntheticSpec(num_train=6, num_val=2, size=32, seed=3)
    a = generate(tmp_path / "a", spec, progress=False)
    b = generate(tmp_path / "b", spec, progress=False, workers=2)  # rendered in 2 spawned processes
    assert _digest(a) == _digest(b)
    assert (a / "dataset.json").read_text() == (b / "dataset.json").read_text()
    assert _digest(a) != _digest(
        generate(tmp_path / "c", SyntheticSpec(num_train=6, num_val=2, size=32, seed=4), progress=False)
    )
    mask = Image.open(a / "SegmentationClass" / "syn_000000.png")
    assert mask.mode == "P" and mask.size == (32, 32)
    assert set(np.unique(np.asarray(mask))) <= set(range(len(CLASSES))) | {255}
    assert Image.open(a / "JPEGImages" / "syn_000000.jpg").format == "JPEG"
    assert (a / "ImageSets" / "Segmentation" / "train.txt").read_text().split() == [f"syn_{i:06d}" for i in range(6)]
    assert len((a / "ImageSets" / "Segmentation" / "val.txt").read_text().split()) == 2
    assert json.loads((a / "dataset.json").read_text())["spec"]["seed"] == 3


def test_every_class_appears_and_colour_does_not_identify_class():
    spec = SyntheticSpec(num_train=60, num_val=0, size=48)
    mean_colour = {c: [] for c in range(1, len(CLASSES))}
    for i in range(60):
        image, mask = render_sample(i, spec)
        for c in mean_colour:
            if (mask == c).sum() > 20:
                mean_colour[c].append(image[mask == c].mean(0))
    assert all(len(v) >= 5 for v in mean_colour.values())
    # per-class mean colours are spread out: the colour of an object says little about its class
    spreads = [np.std(np.stack(v), axis=0).mean() for v in mean_colour.values()]
    assert min(spreads) > 25


@pytest.mark.parametrize("spec,n", [("1/16", 3), ("1/8", 6), ("1/4", 12), ("1/2", 24), ("full", 48), ("5", 5)])
def test_split_sizes_and_disjointness(tiny_data_root, spec, n):
    bundle = prepare_synthetic(tiny_data_root, spec, split_seed=0, progress=False)
    assert len(bundle.split.labeled) == n
    assert len(bundle.split.labeled) + len(bundle.split.unlabeled) == 48
    assert not set(bundle.split.labeled) & set(bundle.split.unlabeled)
    # written as plain lists, and read back identically
    folder = tiny_data_root / "splits" / "seed0" / spec.replace("/", "_")
    assert (folder / "labeled.txt").read_text().split() == list(bundle.split.labeled)


def test_generated_split_is_seeded_and_class_balanced():
    pool = [f"id{i}" for i in range(40)]
    present = {p: ({1} if i < 36 else {2}) for i, p in enumerate(pool)}  # class 2 is rare
    a = make_split(pool, "1/8", seed=0, classes_present=present)
    assert a.labeled == make_split(pool, "1/8", seed=0, classes_present=present).labeled
    assert a.labeled != make_split(pool, "1/8", seed=1, classes_present=present).labeled
    assert any(present[i] == {2} for i in a.labeled)  # the rare class made it into 5 labels


@pytest.mark.parametrize("bad", ["1/0", "3/2", "abc", "0", "999"])
def test_invalid_split_specs_are_explained(bad):
    with pytest.raises(SplitError, match="split"):
        parse_split_spec(bad, 48)


def test_augmentation_is_a_function_of_the_sample_seed(tiny_data_root):
    bundle = prepare_synthetic(tiny_data_root, "full", progress=False)
    ds = LabeledDataset(bundle.folder, list(bundle.split.labeled), 32)
    a, b, c = ds[(0, 7)], ds[(0, 7)], ds[(0, 8)]
    assert torch.equal(a["image"], b["image"]) and torch.equal(a["mask"], b["mask"])
    assert not torch.equal(a["image"], c["image"])
    u = UnlabeledDataset(bundle.folder, list(bundle.split.labeled), 32)
    s = u[(1, 3)]
    assert s["image_weak"].shape == s["image_strong"].shape == (3, 32, 32)
    assert s["ignore"].dtype == torch.bool


def test_weak_augmentation_keeps_image_and_mask_aligned(tiny_data_root):
    """A mask pixel's class must still sit on its object after rescale/crop/flip: check that the
    augmented mask equals the mask of the augmented 'image' made of the mask itself."""
    bundle = prepare_synthetic(tiny_data_root, "full", progress=False)
    ds = LabeledDataset(bundle.folder, list(bundle.split.labeled), 32)
    sid = bundle.split.labeled[0]
    mask = bundle.folder.mask(sid)
    for seed in range(5):
        ds.weak.set_random_seed(seed)
        out = ds.weak(image=np.repeat(mask[..., None] * 40, 3, axis=2).astype(np.uint8), mask=mask)
        valid = out["mask"] != 255
        # nearest for the mask, linear for the image: compare away from edges where they agree
        img_cls = np.round(out["image"][..., 0] / 40.0)
        agree = (img_cls[valid] == out["mask"][valid]).mean()
        assert agree > 0.9


def test_sampler_is_resumable_and_sharded():
    full = SeededInfiniteSampler(10, seed=1)
    it = iter(full)
    stream = [next(it) for _ in range(25)]
    resumed = iter(SeededInfiniteSampler(10, seed=1, start=13))
    assert [next(resumed) for _ in range(12)] == stream[13:]
    assert sorted(i for i, _ in stream[:10]) == list(range(10))  # each epoch a permutation
    r0, r1 = (
        iter(SeededInfiniteSampler(10, 1, rank=0, world_size=2)),
        iter(SeededInfiniteSampler(10, 1, rank=1, world_size=2)),
    )
    shards = [next(r0) for _ in range(5)] + [next(r1) for _ in range(5)]
    assert sorted(i for i, _ in shards) == list(range(10))  # the two ranks split an epoch
