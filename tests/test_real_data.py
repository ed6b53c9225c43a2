"""Real-dataset paths on tiny fixtures in the true on-disk formats (VOC, SBD .mat, Cityscapes),
the three public split-list formats, evaluation modes, and the paper configs."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from mkdlib import make_config
from mkdlib.config import resolve
from mkdlib.data import DatasetError, SplitError, prepare_data
from mkdlib.data.palette import voc_palette
from mkdlib.data.real import public_list_path
from mkdlib.data.splits import parse_split_line, parse_split_spec, read_split_list

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(__file__).resolve().parents[2] / "shared"
REFERENCE_SPLITS = SHARED / "reference-splits"


def _script(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / "data_scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _jpeg(path: Path, h: int, w: int, seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rgb = np.random.default_rng(seed).integers(0, 255, (h, w, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(path, quality=90)


def _palette_png(path: Path, mask: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    img = Image.fromarray(mask.astype(np.uint8), mode="P")
    img.putpalette(voc_palette().reshape(-1).tolist())
    img.save(path)


def _voc_mask(h: int, w: int, cls: int) -> np.ndarray:
    """Background with one object of ``cls`` and a 255 boundary ring, as VOC's fine masks have."""
    m = np.zeros((h, w), np.uint8)
    m[h // 4 : 3 * h // 4, w // 4 : 3 * w // 4] = 255
    m[h // 4 + 1 : 3 * h // 4 - 1, w // 4 + 1 : 3 * w // 4 - 1] = cls
    return m


# VOC fixture: 8 fine training ids, 4 val ids; SBD adds 4 ids of its own and re-annotates some.
VOC_TRAIN = [f"2007_00000{i}" for i in range(8)]
VOC_VAL = [f"2008_00000{i}" for i in range(4)]
SBD_ONLY = [f"2009_00000{i}" for i in range(4)]
SBD_TRAIN = SBD_ONLY[:3] + VOC_TRAIN[:2]  # overlaps VOC train (VOC's fine mask must win)
SBD_VAL = SBD_ONLY[3:] + VOC_VAL[:1]  # overlaps VOC val (must stay out of train_aug)


def _size(i: int) -> tuple[int, int]:
    return 37 + 3 * (i % 4), 45 + 5 * (i % 3)  # odd sizes, like VOC's 500x375 not being multiples of 32


@pytest.fixture(scope="module")
def voc_sbd(tmp_path_factory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("voc")
    voc, sbd = base / "VOCdevkit" / "VOC2012", base / "benchmark_RELEASE"
    for k, sid in enumerate(VOC_TRAIN + VOC_VAL + SBD_ONLY):
        h, w = _size(k)
        in_voc_jpegs = sid not in SBD_ONLY[3:]  # one SBD image missing from VOC's JPEGImages
        _jpeg(
            (voc if in_voc_jpegs else sbd / "dataset") / ("JPEGImages" if in_voc_jpegs else "img") / f"{sid}.jpg",
            h,
            w,
            k,
        )
        if sid in SBD_ONLY:
            _jpeg(sbd / "dataset" / "img" / f"{sid}.jpg", h, w, k)
        if sid not in SBD_ONLY:
            _palette_png(voc / "SegmentationClass" / f"{sid}.png", _voc_mask(h, w, 1 + k % 20))
        if sid in SBD_TRAIN + SBD_VAL:
            import scipy.io

            seg = np.full((h, w), 0, np.uint8)
            seg[: h // 2] = 1 + (k + 5) % 20  # differs from the VOC mask of the overlapping ids
            (sbd / "dataset" / "cls").mkdir(parents=True, exist_ok=True)
            scipy.io.savemat(
                sbd / "dataset" / "cls" / f"{sid}.mat",
                {
                    "GTcls": {
                        "Segmentation": seg,
                        "Boundaries": np.zeros((1, 1), object),
                        "CategoriesPresent": np.unique(seg[seg > 0]).astype(np.uint8),
                    }
                },
            )
    sets = voc / "ImageSets" / "Segmentation"
    sets.mkdir(parents=True)
    (sets / "train.txt").write_text("\n".join(VOC_TRAIN) + "\n")
    (sets / "val.txt").write_text("\n".join(VOC_VAL) + "\n")
    (sbd / "dataset" / "train.txt").write_text("\n".join(SBD_TRAIN) + "\n")
    (sbd / "dataset" / "val.txt").write_text("\n".join(SBD_VAL) + "\n")
    return voc, sbd


@pytest.fixture(scope="module")
def vocaug(voc_sbd) -> Path:
    voc, sbd = voc_sbd
    counts = _script("prepare_vocaug").build(voc, sbd, workers=2, progress=False)
    assert counts["images_copied"] == 1
    return voc


# Cityscapes fixture: label ids covering ignore (0, 4), classes (7 road, 26 car, 33 bicycle).
CITY = {"train": {"aachen": 3, "bad_honnef": 2, "jena": 3}, "val": {"frankfurt": 2, "lindau": 1}}


@pytest.fixture(scope="module")
def cityscapes(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("cityscapes")
    k = 0
    for split, cities in CITY.items():
        for city, n in cities.items():
            for i in range(n):
                name = f"{city}_{i:06d}_000019"
                _jpeg_png = root / "leftImg8bit" / split / city / f"{name}_leftImg8bit.png"
                _jpeg_png.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(np.random.default_rng(k).integers(0, 255, (40, 80, 3), dtype=np.uint8)).save(_jpeg_png)
                ids = np.zeros((40, 80), np.uint8)
                ids[10:30, :20], ids[10:30, 20:40], ids[10:30, 40:60], ids[:5] = 7, 26, 33, 4
                label = root / "gtFine" / split / city / f"{name}_gtFine_labelIds.png"
                label.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(ids, mode="L").save(label)
                k += 1
    _script("prepare_cityscapes").build(root, workers=2, progress=False)
    return root


def _cfg(dataset: str, root: Path, **kw):
    base = dict(
        dataset=dataset,
        data_root=str(root),
        crop_size=32,
        batch_size=2,
        unlabeled_batch_size=2,
        progress=False,
        threads=1,
    )
    base.update(kw)
    return resolve(make_config(**base))


# --------------------------------------------------------------------------- data scripts
def test_prepare_vocaug_merges_voc_and_sbd(vocaug, voc_sbd):
    voc, sbd = voc_sbd
    train_aug = read_split_list(vocaug / "ImageSets" / "Segmentation" / "train_aug.txt")
    # (VOC train | SBD train | SBD val) - VOC val
    assert train_aug == sorted(VOC_TRAIN + SBD_ONLY)
    aug = vocaug / "SegmentationClassAug"
    for sid in VOC_TRAIN[:2]:  # in both: the fine VOC mask (with its 255 boundary) wins
        with Image.open(aug / f"{sid}.png") as got, Image.open(voc / "SegmentationClass" / f"{sid}.png") as want:
            assert got.mode == "P" and np.array_equal(np.asarray(got), np.asarray(want))
            assert 255 in np.asarray(got)
    import scipy.io

    for sid in SBD_ONLY:  # SBD-only ids: the .mat class map
        want = scipy.io.loadmat(sbd / "dataset" / "cls" / f"{sid}.mat")["GTcls"][0, 0]["Segmentation"]
        with Image.open(aug / f"{sid}.png") as got:
            assert np.array_equal(np.asarray(got), want)
    assert all((aug / f"{sid}.png").is_file() for sid in VOC_VAL)
    assert (vocaug / "JPEGImages" / f"{SBD_ONLY[3]}.jpg").is_file()  # copied from SBD's img/


def test_prepare_vocaug_rerun_keeps_masks(vocaug, voc_sbd):
    counts = _script("prepare_vocaug").build(*voc_sbd, workers=1, progress=False)
    assert counts["kept"] == len(VOC_TRAIN + SBD_ONLY + VOC_VAL) and counts["from_sbd"] == 0


def test_prepare_vocaug_names_missing_inputs(tmp_path, voc_sbd):
    with pytest.raises(SystemExit) as e:
        _script("prepare_vocaug").build(voc_sbd[0], tmp_path / "nowhere", progress=False)
    msg = str(e.value)
    assert "nowhere" in msg and "cls" in msg and "benchmark.tgz" in msg


def test_prepare_cityscapes_uses_official_train_ids(cityscapes):
    name = "aachen_000000_000019"
    with Image.open(cityscapes / "gtFine" / "train" / "aachen" / f"{name}_gtFine_labelTrainIds.png") as im:
        t = np.asarray(im)
    assert t[20, 10] == 0  # road (id 7)
    assert t[20, 30] == 13  # car (id 26)
    assert t[20, 50] == 18  # bicycle (id 33)
    assert t[2, 0] == 255 and t[35, 70] == 255  # static (4) and unlabeled (0): ignored


def test_prepare_cityscapes_names_missing_labels(tmp_path):
    (tmp_path / "leftImg8bit" / "train").mkdir(parents=True)
    with pytest.raises(SystemExit) as e:
        _script("prepare_cityscapes").build(tmp_path, progress=False)
    assert "gtFine" in str(e.value) and "cityscapes-dataset.com" in str(e.value)


# --------------------------------------------------------------------------- datasets
def test_voc_classic_pool_and_generated_split(voc_sbd):
    data = prepare_data(_cfg("voc", voc_sbd[0], split="1/4", method="mkd"))
    assert data.num_classes == 21 and data.val_ids == VOC_VAL
    assert len(data.split.labeled) == 2  # ceil(8 / 4)
    assert sorted(data.split.labeled + data.split.unlabeled) == sorted(VOC_TRAIN)
    again = prepare_data(_cfg("voc", voc_sbd[0], split="1/4", method="mkd"))
    assert again.split == data.split  # seeded


def test_vocaug_pool_is_train_aug(vocaug):
    data = prepare_data(_cfg("vocaug", vocaug, split="3"))
    assert len(data.split.labeled) == 3 and len(data.split.unlabeled) == len(VOC_TRAIN + SBD_ONLY) - 3
    mask = data.folder.mask(SBD_ONLY[0])
    assert mask.shape == _size(len(VOC_TRAIN) + len(VOC_VAL))


def test_cityscapes_ids_and_masks(cityscapes):
    data = prepare_data(_cfg("cityscapes", cityscapes, split="1/4"))
    assert data.num_classes == 19 and data.class_names[0] == "road" and data.class_names[18] == "bicycle"
    assert len(data.split.labeled) == 2 and len(data.split.labeled + data.split.unlabeled) == 8
    assert data.val_ids == [
        "val/frankfurt/frankfurt_000000_000019",
        "val/frankfurt/frankfurt_000001_000019",
        "val/lindau/lindau_000000_000019",
    ]
    assert data.folder.image(data.val_ids[0]).shape == (40, 80, 3)
    assert set(np.unique(data.folder.mask(data.val_ids[0]))) == {0, 13, 18, 255}


def test_missing_dataset_says_where_to_get_it(tmp_path):
    with pytest.raises(DatasetError, match="VOCtrainval_11-May-2012.tar"):
        prepare_data(_cfg("voc", tmp_path / "VOC2012"))
    (tmp_path / "cs" / "leftImg8bit" / "train" / "ulm").mkdir(parents=True)
    (tmp_path / "cs" / "leftImg8bit" / "val" / "ulm").mkdir(parents=True)
    with pytest.raises(DatasetError, match="gtFine"):
        prepare_data(_cfg("cityscapes", tmp_path / "cs"))


def test_cityscapes_without_train_ids_names_the_script(cityscapes, tmp_path):
    import shutil

    copy = tmp_path / "cs"
    shutil.copytree(cityscapes, copy, ignore=shutil.ignore_patterns("*labelTrainIds.png"))
    with pytest.raises(DatasetError, match="prepare_cityscapes.py"):
        prepare_data(_cfg("cityscapes", copy))


def test_missing_files_are_counted_with_examples(voc_sbd, tmp_path):
    import shutil

    copy = tmp_path / "VOC2012"
    shutil.copytree(voc_sbd[0], copy)
    (copy / "SegmentationClass" / f"{VOC_TRAIN[3]}.png").unlink()
    with pytest.raises(DatasetError, match=rf"1 files of the training ids are missing, e.g. .*{VOC_TRAIN[3]}.png"):
        prepare_data(_cfg("voc", copy))


# --------------------------------------------------------------------------- public split lists
def _write_lists(root: Path) -> None:
    """One list per family in its own format and naming, for the fixtures' ids."""
    pas, city = root, root
    (pas / "cps" / "pascal").mkdir(parents=True)
    (pas / "cps" / "pascal" / "train_aug_labeled_1-16.txt").write_text(f"{SBD_ONLY[0]}\n{VOC_TRAIN[1]}\n")
    (pas / "cps" / "pascal" / "pseudoseg_labeled_1-16.txt").write_text(f"{VOC_TRAIN[2]}\n")
    (pas / "u2pl" / "pascal" / "662").mkdir(parents=True)
    (pas / "u2pl" / "pascal" / "662" / "labeled.txt").write_text(f"{SBD_ONLY[1]}\n")
    (pas / "unimatch" / "pascal" / "92").mkdir(parents=True)
    (pas / "unimatch" / "pascal" / "92" / "labeled.txt").write_text(
        f"JPEGImages/{VOC_TRAIN[4]}.jpg SegmentationClass/{VOC_TRAIN[4]}.png\n"
    )
    (city / "cps" / "cityscapes").mkdir(parents=True)
    (city / "cps" / "cityscapes" / "train_aug_labeled_1-8.txt").write_text(
        "/images/train/bad_honnef_000001_000019.png\t/segmentation/train/bad_honnef_000001_000019_gtFine.png\n"
    )
    (city / "u2pl" / "cityscapes" / "186").mkdir(parents=True)
    (city / "u2pl" / "cityscapes" / "186" / "labeled.txt").write_text(
        "leftImg8bit/train/jena/jena_000002_000019_leftImg8bit.png\n"
    )
    (city / "unimatch" / "cityscapes" / "1_4").mkdir(parents=True)
    (city / "unimatch" / "cityscapes" / "1_4" / "labeled.txt").write_text(
        "leftImg8bit/train/aachen/aachen_000000_000019_leftImg8bit.png "
        "gtFine/train/aachen/aachen_000000_000019_gtFine_labelTrainIds.png\n"
    )


@pytest.mark.parametrize(
    "dataset,source,split,labeled",
    [
        ("vocaug", "cps", "1/16", [SBD_ONLY[0], VOC_TRAIN[1]]),
        ("vocaug", "cps", "92", [VOC_TRAIN[2]]),  # Table 1's extra-unlabeled rows: classic labels, VOCAug pool
        ("voc", "cps", "1/16", [VOC_TRAIN[2]]),
        ("vocaug", "u2pl", "662", [SBD_ONLY[1]]),
        ("vocaug", "u2pl", "1/16", [SBD_ONLY[1]]),
        ("voc", "unimatch", "1/16", [VOC_TRAIN[4]]),
        ("cityscapes", "cps", "1/8", ["train/bad_honnef/bad_honnef_000001_000019"]),
        ("cityscapes", "u2pl", "186", ["train/jena/jena_000002_000019"]),
        ("cityscapes", "unimatch", "1/4", ["train/aachen/aachen_000000_000019"]),
    ],
)
def test_public_split_families(dataset, source, split, labeled, vocaug, cityscapes, tmp_path, monkeypatch):
    _write_lists(tmp_path / "lists")
    monkeypatch.setenv("MKD_SPLITS_DIR", str(tmp_path / "lists"))
    root = cityscapes if dataset == "cityscapes" else vocaug
    data = prepare_data(_cfg(dataset, root, split=split, split_source=source))
    assert list(data.split.labeled) == labeled
    pool = {"voc": VOC_TRAIN, "vocaug": VOC_TRAIN + SBD_ONLY}.get(dataset)
    if pool is not None:
        assert sorted(data.split.unlabeled) == sorted(set(pool) - set(labeled))
    else:
        assert len(data.split.unlabeled) == 8 - len(labeled)


def test_missing_public_list_says_how_to_get_it(vocaug, tmp_path, monkeypatch):
    monkeypatch.setenv("MKD_SPLITS_DIR", str(tmp_path / "empty"))
    with pytest.raises(SplitError, match=r"u2pl/pascal/1323/labeled.txt is missing.*fetch_splits.py --family u2pl"):
        prepare_data(_cfg("vocaug", vocaug, split="1/8", split_source="u2pl"))
    with pytest.raises(SplitError, match=r"no public vocaug list has 100 labeled images"):
        prepare_data(_cfg("vocaug", vocaug, split="100", split_source="u2pl"))


def test_public_list_with_foreign_ids_is_rejected(vocaug, tmp_path, monkeypatch):
    (tmp_path / "u2pl" / "pascal" / "662").mkdir(parents=True)
    (tmp_path / "u2pl" / "pascal" / "662" / "labeled.txt").write_text("2011_999999\n")
    monkeypatch.setenv("MKD_SPLITS_DIR", str(tmp_path))
    with pytest.raises(SplitError, match="1 ids are not in the vocaug training pool"):
        prepare_data(_cfg("vocaug", vocaug, split="662", split_source="u2pl"))


def test_split_list_path_and_full(vocaug, tmp_path):
    lst = tmp_path / "mine.txt"
    lst.write_text(f"JPEGImages/{VOC_TRAIN[0]}.jpg SegmentationClass/{VOC_TRAIN[0]}.png\n")
    data = prepare_data(_cfg("vocaug", vocaug, split=str(lst), split_source="cps"))  # a path wins over the family
    assert data.split.labeled == (VOC_TRAIN[0],)
    full = prepare_data(_cfg("vocaug", vocaug, split="full", method="supervised"))
    assert len(full.split.labeled) == 12 and full.split.unlabeled == ()


def test_split_lines_of_the_three_formats_agree():
    cps = "/images/train/jena_000078_000019.png\t/segmentation/train/jena_000078_000019_gtFine.png"
    u2pl = "leftImg8bit/train/jena/jena_000078_000019_leftImg8bit.png"
    unimatch = u2pl + " gtFine/train/jena/jena_000078_000019_gtFine_labelTrainIds.png"
    assert (
        parse_split_line(cps) == parse_split_line(u2pl) == parse_split_line(unimatch) == "train/jena/jena_000078_000019"
    )
    assert parse_split_line("JPEGImages/2007_000032.jpg SegmentationClass/2007_000032.png") == "2007_000032"
    assert parse_split_line("2007_000032") == "2007_000032"


@pytest.mark.parametrize(
    "fraction,pool,count",
    [
        ("1/16", 1464, 92),
        ("1/8", 1464, 183),
        ("1/2", 1464, 732),
        ("1/16", 10582, 662),
        ("1/8", 10582, 1323),
        ("1/4", 10582, 2646),
        ("1/16", 2975, 186),
        ("1/4", 2975, 744),
        ("1/2", 2975, 1488),
    ],
)
def test_fractions_round_up_like_the_public_protocols(fraction, pool, count):
    assert parse_split_spec(fraction, pool) == count


# --------------------------------------------------------------------------- the real public lists
needs_shared = pytest.mark.skipif(not REFERENCE_SPLITS.is_dir(), reason="../shared/reference-splits absent")
CITY_ID = re.compile(r"^train/[a-z_]+/[a-z_]+_\d{6}_\d{6}$")


@needs_shared
@pytest.mark.parametrize(
    "path,count",
    [
        ("cps/pascal/pseudoseg_labeled_1-16.txt", 92),
        ("cps/pascal/train_aug_labeled_1-8.txt", 1323),
        ("cps/cityscapes/train_aug_labeled_1-16.txt", 186),
        ("cps/cityscapes/train_aug_labeled_1-2.txt", 1488),
        ("u2pl/pascal/92/labeled.txt", 92),
        ("u2pl/pascal/5291/labeled.txt", 5291),
        ("u2pl/cityscapes/744/labeled.txt", 744),
        ("unimatch/pascal/1_16/labeled.txt", 662),
        ("unimatch/pascal/train_aug.txt", 10582),
        ("unimatch/pascal/val.txt", 1449),
        ("unimatch/cityscapes/1_8/labeled.txt", 372),
        ("u2pl/cityscapes/val.txt", 500),
    ],
)
def test_reference_lists_parse(path, count):
    ids = read_split_list(REFERENCE_SPLITS / path)
    assert len(ids) == count
    if "cityscapes" in path and "val" not in path:
        assert all(CITY_ID.match(i) for i in ids), ids[:3]
    elif "pascal" in path:
        assert all(re.fullmatch(r"20\d\d_\d{6}", i) for i in ids), ids[:3]


@needs_shared
def test_reference_lists_agree_across_formats():
    r = lambda p: set(read_split_list(REFERENCE_SPLITS / p))  # noqa: E731
    # UniMatch republishes CPS's lists (its own format); CPS's flat Cityscapes layout maps to the same ids
    assert r("cps/cityscapes/train_aug_labeled_1-16.txt") == r("unimatch/cityscapes/1_16/labeled.txt")
    assert r("cps/pascal/train_aug_labeled_1-16.txt") == r("unimatch/pascal/1_16/labeled.txt")
    assert r("u2pl/pascal/662/labeled.txt") == r("unimatch/pascal/u2pl_1_16/labeled.txt")
    assert r("u2pl/pascal/92/labeled.txt") == r("cps/pascal/pseudoseg_labeled_1-16.txt")
    train_aug = r("unimatch/pascal/train_aug.txt")
    assert r("u2pl/pascal/1464/labeled.txt") <= train_aug and not train_aug & r("unimatch/pascal/val.txt")


@needs_shared
@pytest.mark.parametrize("dataset,pool", [("voc", 1464), ("vocaug", 10582), ("cityscapes", 2975)])
@pytest.mark.parametrize("family", ["cps", "u2pl", "unimatch"])
def test_public_list_naming_matches_the_real_repositories(dataset, pool, family):
    counts = {"voc": [92, 183, 366, 732], "vocaug": [662, 1323, 2646, 5291], "cityscapes": [186, 372, 744, 1488]}
    for den, n in zip((16, 8, 4, 2), counts[dataset]):
        if family == "unimatch" and dataset == "vocaug" and den == 2:
            continue  # not in the reference copy
        for spec in (f"1/{den}", str(n)):
            path = public_list_path(family, dataset, spec, pool, REFERENCE_SPLITS)
            assert len(read_split_list(path)) == n, path


def test_fetch_splits_covers_every_resolvable_list():
    fetch = _script("fetch_splits")
    for family, (_, files) in fetch.SOURCES.items():
        local = {f"{family}/{bench}/{name}" for bench, name in files}
        for dataset, counts in (
            ("voc", [92, 183, 366, 732]),
            ("vocaug", [662, 1323, 2646, 5291]),
            ("cityscapes", [186, 372, 744, 1488]),
        ):
            for n in counts:
                try:
                    public_list_path(family, dataset, str(n), 10**5, Path("/nonexistent"))
                except SplitError as e:
                    wanted = re.search(r"/nonexistent/(\S+) is missing", str(e)).group(1)
                    assert wanted in local, (family, dataset, n, wanted)


# --------------------------------------------------------------------------- evaluation modes
class _PixelModel(torch.nn.Module):
    """Per-pixel classifier (1x1 conv): its logits do not depend on the window around a pixel."""

    def __init__(self, num_classes: int):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.conv = torch.nn.Conv2d(3, num_classes, 1)
        with torch.no_grad():
            self.conv.weight.copy_(torch.randn(self.conv.weight.shape, generator=g))
        self.calls: list[tuple[int, int]] = []

    def forward(self, x):
        from types import SimpleNamespace

        self.calls.append(tuple(x.shape[-2:]))
        return SimpleNamespace(logits=self.conv(x))


def test_eval_modes_on_cityscapes_format(cityscapes):
    from torch.utils.data import DataLoader

    from mkdlib.data import EvalDataset
    from mkdlib.evaluate import evaluate, predict_logits

    data = prepare_data(_cfg("cityscapes", cityscapes))
    loader = DataLoader(EvalDataset(data.folder, data.val_ids), batch_size=1)
    model = _PixelModel(19)
    image = next(iter(loader))["image"]
    whole = predict_logits(model, image, 19, "whole")
    model.calls.clear()
    sliding = predict_logits(model, image, 19, "sliding", crop=32)
    assert torch.allclose(whole, sliding, atol=1e-5)
    # 40x80 image, 32-px windows at stride 21: rows {0, 8}, columns {0, 21, 42, 48}
    assert model.calls == [(32, 32)] * 8
    ev_whole = evaluate(model, loader, 19, mode="whole")
    ev_sliding = evaluate(model, loader, 19, mode="sliding", crop=32)
    ev_center = evaluate(model, loader, 19, mode="center_crop", crop=32)
    assert ev_whole["miou"] == pytest.approx(ev_sliding["miou"], abs=1e-12)
    labeled_px = sum(int((data.folder.mask(i) != 255).sum()) for i in data.val_ids)
    assert np.sum(ev_whole["confusion"]) == labeled_px
    center_px = sum(int((data.folder.mask(i)[4:36, 24:56] != 255).sum()) for i in data.val_ids)
    assert np.sum(ev_center["confusion"]) == center_px


def test_train_on_voc_format_with_sliding_eval(voc_sbd, tmp_path):
    from mkdlib.trainer import evaluate_run, train

    cfg = make_config(
        dataset="voc",
        data_root=str(voc_sbd[0]),
        split="1/4",
        crop_size=32,
        batch_size=2,
        unlabeled_batch_size=2,
        iters=2,
        eval_interval=2,
        checkpoint_interval=2,
        log_interval=1,
        progress=False,
        threads=1,
        warmup_iters=1,
        eval_mode="sliding",
        eval_crop=32,
        decoder_channels=16,
        run_dir=str(tmp_path / "run"),
    )
    res = train(cfg)
    assert 0.0 <= res.miou <= 1.0
    assert evaluate_run(res.run_dir, "last")["miou"] == pytest.approx(res.miou, abs=1e-12)


# --------------------------------------------------------------------------- paper configs
PAPER = sorted((REPO / "configs" / "paper").glob("*.yaml"))


def test_paper_configs_cover_tables_1_to_5():
    names = {p.stem for p in PAPER}
    assert len([n for n in names if n.startswith("t1_")]) == 23  # classic VOC full has no unlabeled images
    assert len([n for n in names if n.startswith("t2_")]) == 24
    assert len([n for n in names if n.startswith("t3_")]) == 7
    assert len([n for n in names if n.startswith("t4_")]) == 10
    assert len([n for n in names if n.startswith("t5_")]) == 10


@pytest.mark.parametrize("path", PAPER, ids=[p.stem for p in PAPER])
def test_paper_config_resolves(path):
    cfg = resolve(make_config(path))
    assert cfg.dataset in ("voc", "vocaug", "cityscapes") and cfg.encoder in ("resnet50", "resnet101")
    assert cfg.optimizer == "sgd" and cfg.schedule == "poly" and cfg.batch_size * 4 == 16
    if REFERENCE_SPLITS.is_dir() and cfg.split_source != "generated":
        pool = {"voc": 1464, "vocaug": 10582, "cityscapes": 2975}[cfg.dataset]
        assert public_list_path(cfg.split_source, cfg.dataset, cfg.split, pool, REFERENCE_SPLITS).is_file()


def test_paper_configs_match_their_generator():
    import yaml

    spec = importlib.util.spec_from_file_location("paper_generate", REPO / "configs" / "paper" / "generate.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    expected = gen.experiments()
    assert {p.stem for p in PAPER} == set(expected)
    for path in PAPER:
        assert yaml.safe_load(path.read_text()) == {**gen.COMMON, **expected[path.stem][1]}, path.name


def test_fetch_splits_offline_prints_where_to_put_each_list(tmp_path, monkeypatch, capsys):
    import urllib.error

    fetch = _script("fetch_splits")

    def offline(url, timeout):
        raise urllib.error.URLError("no route to host")

    monkeypatch.setattr(fetch, "fetch", offline)
    assert fetch.main(["--family", "cps", "--dest", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "TorchSemiSeg/HEAD/DATA/pascal_voc/subset_train_aug/train_aug_labeled_1-16.txt" in err
    assert f"-> {tmp_path}/cps/pascal/train_aug_labeled_1-16.txt" in err
    assert not list(tmp_path.rglob("*.txt"))


def test_fetch_splits_online_writes_lists_mkdlib_reads(vocaug, tmp_path, monkeypatch):
    fetch = _script("fetch_splits")
    served = []

    def online(url, timeout):
        served.append(url)
        return f"JPEGImages/{SBD_ONLY[2]}.jpg SegmentationClass/{SBD_ONLY[2]}.png\n".encode()

    monkeypatch.setattr(fetch, "fetch", online)
    assert fetch.main(["--family", "unimatch", "--dest", str(tmp_path)]) == 0
    assert len(served) == len(fetch.SOURCES["unimatch"][1])
    monkeypatch.setenv("MKD_SPLITS_DIR", str(tmp_path))
    data = prepare_data(_cfg("vocaug", vocaug, split="1/8", split_source="unimatch"))
    assert data.split.labeled == (SBD_ONLY[2],)
    assert fetch.main(["--family", "unimatch", "--dest", str(tmp_path)]) == 0  # present: nothing fetched again
    assert len(served) == len(fetch.SOURCES["unimatch"][1])
