"""PASCAL VOC 2012, VOCAug and Cityscapes: pools, validation ids and the public split lists.

Expected on-disk layouts (made by ``data_scripts/prepare_*.py`` from the official downloads):

- ``voc`` (classic, 1,464 fine training images) and ``vocaug`` (blended, 10,582): one VOC2012
  folder, ``JPEGImages/<id>.jpg``, ``ImageSets/Segmentation/{train,val,train_aug}.txt``;
  masks ``SegmentationClass/<id>.png`` (voc) or ``SegmentationClassAug/<id>.png`` (vocaug, val included).
- ``cityscapes``: ``leftImg8bit/<split>/<city>/<name>_leftImg8bit.png`` and
  ``gtFine/<split>/<city>/<name>_gtFine_labelTrainIds.png`` (19 classes, 255 = ignore);
  a sample's id is ``<split>/<city>/<name>``.

Split lists: ``split_source`` = ``generated`` (seeded, class-balanced, written under
``<data_root>/splits/generated/``) or a public family (``cps``, ``u2pl``, ``unimatch``) read from
``$MKD_SPLITS_DIR`` or ``<data_root>/splits``, laid out as ``<family>/<pascal|cityscapes>/<file>`` in
each family's own file naming (see :func:`public_list_path`). Unlabeled = pool minus labeled.
"""

from __future__ import annotations

import json
import os
import re
from fractions import Fraction
from pathlib import Path

from .bundle import DataBundle, classes_present, data_dir
from .datasets import DatasetError, FolderLayout, SegmentationFolder
from .splits import Split, SplitError, make_split, parse_split_spec, read_split_list, split_dirname, write_split

VOC_CLASSES = (
    "background",
    "aeroplane",
    "bicycle",
    "bird",
    "boat",
    "bottle",
    "bus",
    "car",
    "cat",
    "chair",
    "cow",
    "diningtable",
    "dog",
    "horse",
    "motorbike",
    "person",
    "pottedplant",
    "sheep",
    "sofa",
    "train",
    "tvmonitor",
)

VOC_LAYOUT = FolderLayout("JPEGImages/{id}.jpg", "SegmentationClass/{id}.png")
VOCAUG_LAYOUT = FolderLayout("JPEGImages/{id}.jpg", "SegmentationClassAug/{id}.png")
CITYSCAPES_LAYOUT = FolderLayout("leftImg8bit/{id}_leftImg8bit.png", "gtFine/{id}_gtFine_labelTrainIds.png")

#: labeled counts of the public protocols, by denominator of the fraction (1 = full)
CLASSIC_COUNTS = {16: 92, 8: 183, 4: 366, 2: 732, 1: 1464}
BLENDED_COUNTS = {16: 662, 8: 1323, 4: 2646, 2: 5291}
CITYSCAPES_COUNTS = {16: 186, 8: 372, 4: 744, 2: 1488}

FAMILIES = ("cps", "u2pl", "unimatch")
DATASET_HELP = {
    "voc": "VOC2012 from http://host.robots.ox.ac.uk/pascal/VOC/voc2012/VOCtrainval_11-May-2012.tar "
    "(extract; data_root = .../VOCdevkit/VOC2012)",
    "vocaug": "VOC2012 plus SBD: run `python data_scripts/prepare_vocaug.py --voc <VOC2012> --sbd "
    "<benchmark_RELEASE>` (docs/real-data.md)",
    "cityscapes": "leftImg8bit_trainvaltest.zip and gtFine_trainvaltest.zip from https://www.cityscapes-dataset.com, "
    "then `python data_scripts/prepare_cityscapes.py --root <cityscapes>`",
}


def cityscapes_classes() -> tuple[str, ...]:
    """The 19 evaluated classes, in trainId order, from cityscapesscripts' label table."""
    from cityscapesscripts.helpers.labels import labels

    names = {l.trainId: l.name for l in labels if 0 <= l.trainId < 255}
    return tuple(names[i] for i in range(len(names)))


def default_root(dataset: str) -> Path:
    """``$MKD_DATA_DIR/VOC2012`` for voc and vocaug (one folder serves both), ``.../cityscapes``."""
    return data_dir() / ("cityscapes" if dataset == "cityscapes" else "VOC2012")


def splits_root(data_root: Path) -> Path:
    """Where the public lists live: ``$MKD_SPLITS_DIR``, else ``<data_root>/splits``."""
    env = os.environ.get("MKD_SPLITS_DIR")
    return Path(env) if env else data_root / "splits"


def benchmark(dataset: str) -> str:
    return "cityscapes" if dataset == "cityscapes" else "pascal"


# --------------------------------------------------------------------------- public split lists
def _protocol(dataset: str, spec: str, pool_size: int) -> tuple[int, int, bool]:
    """``(denominator, labeled count, classic)`` of a fraction or count spec in the public tables.

    ``classic`` is True for labels drawn from VOC's 1,464 fine images (Table 1), also on vocaug
    (Table 1's extra-unlabeled rows): their lists are named by the classic counts.
    """
    text = spec.strip().replace(" ", "")
    tables = {
        "voc": [(CLASSIC_COUNTS, True)],
        "vocaug": [(BLENDED_COUNTS, False), (CLASSIC_COUNTS, True)],
        "cityscapes": [(CITYSCAPES_COUNTS, False)],
    }[dataset]
    if re.fullmatch(r"\d+/\d+", text):
        num, den = (int(t) for t in text.split("/"))
        frac = Fraction(num, den)
        if frac.numerator != 1:
            raise SplitError(f"split {spec!r}: the public lists exist for 1/2, 1/4, 1/8 and 1/16 only")
        counts, classic = tables[0]
        return frac.denominator, counts.get(frac.denominator, parse_split_spec(text, pool_size)), classic
    if text.isdigit():
        n = int(text)
        for counts, classic in tables:
            for den, count in counts.items():
                if count == n:
                    return den, n, classic
        known = sorted({c for counts, _ in tables for c in counts.values()})
        raise SplitError(
            f"split {spec!r}: no public {dataset} list has {n} labeled images; the public "
            f"counts are {known} (or give a fraction like '1/16', or a list path)"
        )
    raise SplitError(f"split {spec!r} is not a fraction or a count")


def public_list_path(family: str, dataset: str, spec: str, pool_size: int, root: Path) -> Path:
    """The labeled list of ``family`` for ``spec``, in that family's own naming under ``root``.

    cps:      pascal/pseudoseg_labeled_1-16.txt (classic), pascal/train_aug_labeled_1-16.txt (blended),
              cityscapes/train_aug_labeled_1-16.txt
    u2pl:     pascal/92/labeled.txt, pascal/662/labeled.txt, cityscapes/186/labeled.txt
    unimatch: pascal/92/labeled.txt (classic), pascal/1_16/labeled.txt (blended, CPS's ids),
              pascal/u2pl_1_16/labeled.txt is U2PL's (give it as a path), cityscapes/1_16/labeled.txt
    """
    if family not in FAMILIES:
        raise SplitError(f"split_source {family!r} is not one of generated, {', '.join(FAMILIES)}")
    den, n, classic = _protocol(dataset, spec, pool_size)
    bench = benchmark(dataset)
    if family == "cps":
        if den == 1:
            raise SplitError("CPS published no list for the full 1,464 set; use split_source u2pl or unimatch")
        name = f"pseudoseg_labeled_1-{den}.txt" if classic else f"train_aug_labeled_1-{den}.txt"
    elif family == "u2pl":
        name = f"{n}/labeled.txt"
    else:
        name = f"{n}/labeled.txt" if classic else f"1_{den}/labeled.txt"
    path = root / family / bench / name
    if not path.is_file():
        raise SplitError(
            f"split_source {family!r}, split {spec!r}: the public list {path} is missing. Online: "
            f"`python data_scripts/fetch_splits.py --family {family} --dest {root}`; offline: copy "
            f"{family}'s {bench} list to that path (docs/real-data.md), or set MKD_SPLITS_DIR to a folder "
            f"laid out as <family>/{bench}/..."
        )
    return path


# --------------------------------------------------------------------------- pools
def _check_root(root: Path, dataset: str, required: list[str]) -> None:
    if not root.is_dir():
        raise DatasetError(f"dataset {dataset!r}: data_root {root} does not exist. Get it: {DATASET_HELP[dataset]}")
    missing = [r for r in required if not (root / r).exists()]
    if missing:
        raise DatasetError(f"dataset {dataset!r}: {root} lacks {', '.join(missing)}. {DATASET_HELP[dataset]}")


def _check_files(folder: SegmentationFolder, ids: list[str], what: str, dataset: str) -> None:
    """Every id has its image and mask: one message with the count and examples, not a crash mid-run."""
    bad = [
        (i, p)
        for i in ids
        for p in (folder.layout.image_path(folder.root, i), folder.layout.mask_path(folder.root, i))
        if not p.is_file()
    ]
    if bad:
        examples = ", ".join(str(p) for _, p in bad[:3])
        raise DatasetError(
            f"dataset {dataset!r}: {len(bad)} files of the {what} ids are missing, e.g. {examples}. "
            f"{DATASET_HELP[dataset]}"
        )


def cityscapes_ids(root: Path, split: str) -> list[str]:
    """Ids ``<split>/<city>/<name>`` of every image under ``leftImg8bit/<split>``, sorted."""
    suffix = "_leftImg8bit.png"
    return sorted(
        str(p.relative_to(root / "leftImg8bit"))[: -len(suffix)]
        for p in (root / "leftImg8bit" / split).glob(f"*/*{suffix}")
    )


def pools(dataset: str, root: Path) -> tuple[SegmentationFolder, list[str], list[str], tuple[str, ...]]:
    """``(folder, training pool, validation ids, class names)`` of a real dataset, checked on disk."""
    sets = Path("ImageSets/Segmentation")
    if dataset == "voc":
        _check_root(root, dataset, ["JPEGImages", "SegmentationClass", str(sets / "train.txt"), str(sets / "val.txt")])
        folder = SegmentationFolder(root, VOC_LAYOUT)
        pool, val = read_split_list(root / sets / "train.txt"), read_split_list(root / sets / "val.txt")
        names = VOC_CLASSES
    elif dataset == "vocaug":
        _check_root(
            root, dataset, ["JPEGImages", "SegmentationClassAug", str(sets / "train_aug.txt"), str(sets / "val.txt")]
        )
        folder = SegmentationFolder(root, VOCAUG_LAYOUT)
        pool, val = read_split_list(root / sets / "train_aug.txt"), read_split_list(root / sets / "val.txt")
        names = VOC_CLASSES
    elif dataset == "cityscapes":
        _check_root(root, dataset, ["leftImg8bit/train", "leftImg8bit/val", "gtFine/train", "gtFine/val"])
        folder = SegmentationFolder(root, CITYSCAPES_LAYOUT)
        pool, val = cityscapes_ids(root, "train"), cityscapes_ids(root, "val")
        if not pool or not val:
            raise DatasetError(
                f"dataset 'cityscapes': no *_leftImg8bit.png under {root}/leftImg8bit/"
                f"{'train' if not pool else 'val'}/<city>/. {DATASET_HELP[dataset]}"
            )
        if not (root / CITYSCAPES_LAYOUT.mask.format(id=pool[0])).is_file():
            raise DatasetError(
                f"dataset 'cityscapes': {root / CITYSCAPES_LAYOUT.mask.format(id=pool[0])} is missing: "
                f"the *_labelTrainIds.png masks are made by `python data_scripts/prepare_cityscapes.py "
                f"--root {root}`"
            )
        names = cityscapes_classes()
    else:
        raise DatasetError(f"dataset {dataset!r} is not a real dataset (voc, vocaug, cityscapes)")
    overlap = set(pool) & set(val)
    if overlap:
        raise DatasetError(
            f"dataset {dataset!r} under {root}: {len(overlap)} ids are in both the training pool "
            f"and val, e.g. {sorted(overlap)[:3]}"
        )
    _check_files(folder, pool, "training", dataset)
    _check_files(folder, val, "validation", dataset)
    return folder, pool, val, names


# --------------------------------------------------------------------------- the split
def _generated_split(folder: SegmentationFolder, pool: list[str], cfg, cache_dir: Path) -> Split:
    """Seeded, class-balanced split; the per-id class sets and the lists are cached when writable."""
    present_path = cache_dir / "classes_present.json"
    if present_path.is_file():
        present = {k: set(v) for k, v in json.loads(present_path.read_text()).items()}
    else:
        present = classes_present(folder, pool)
        _try_write(present_path, json.dumps({k: sorted(v) for k, v in present.items()}))
    sp = make_split(pool, cfg.split, seed=cfg.labeled_split_seed, classes_present=present)
    try:
        write_split(sp, cache_dir / f"seed{cfg.labeled_split_seed}" / split_dirname(str(cfg.split)))
    except OSError:
        pass  # a read-only dataset folder: the split is still exact (seeded), only not browsable
    return sp


def _try_write(path: Path, text: str) -> None:
    from ..io import atomic_write_text

    try:
        atomic_write_text(path, text)
    except OSError:
        pass


def resolve_split(cfg, folder: SegmentationFolder, pool: list[str], root: Path) -> Split:
    """The labeled / unlabeled split of a real dataset for ``cfg.split`` and ``cfg.split_source``."""
    spec = str(cfg.split).strip()
    if spec.lower() == "full":
        return Split(tuple(pool), (), "full")
    target = parse_split_spec(spec, len(pool)) if not re.fullmatch(r"\d+", spec) else None
    if isinstance(target, Path) or cfg.split_source == "generated":
        if isinstance(target, Path):
            return make_split(pool, str(target))
        return _generated_split(folder, pool, cfg, root / "splits" / "generated" / cfg.dataset)
    path = public_list_path(cfg.split_source, cfg.dataset, spec, len(pool), splits_root(root))
    labeled = read_split_list(path)
    missing = sorted(set(labeled) - set(pool))
    if missing:
        raise SplitError(
            f"split list {path} ({cfg.split_source}): {len(missing)} ids are not in the {cfg.dataset} "
            f"training pool under {root}, e.g. {missing[:3]}"
        )
    lab = set(labeled)
    return Split(tuple(labeled), tuple(i for i in pool if i not in lab), spec)


def prepare_real(cfg) -> DataBundle:
    """Data for ``dataset`` voc / vocaug / cityscapes: checked folder, split, validation ids."""
    root = Path(cfg.data_root) if cfg.data_root else default_root(cfg.dataset)
    folder, pool, val, names = pools(cfg.dataset, root)
    return DataBundle(folder, resolve_split(cfg, folder, pool, root), val, names)
