"""Datasets, split protocols and augmentation.

:func:`prepare_data` turns a config into everything training needs: the folder reader, the
labeled/unlabeled split and the validation ids. The built-in ``synthetic`` dataset is generated
on first use (seconds) under the data directory; ``folder`` is your own images and masks
(:mod:`mkdlib.data.folder`).
"""

from __future__ import annotations

import json
from pathlib import Path

from .bundle import DataBundle, classes_present, data_dir
from .datasets import (
    VOC_LAYOUT,
    DatasetError,
    EvalDataset,
    FolderLayout,
    LabeledDataset,
    SeededInfiniteSampler,
    SegmentationFolder,
    UnlabeledDataset,
)
from .palette import IGNORE_INDEX, colorize, voc_palette
from .splits import Split, SplitError, make_split, read_split_list, split_dirname, write_split
from .synthetic import SyntheticSpec, generate


def _read_ids(path: Path, what: str) -> list[str]:
    if not path.is_file():
        raise DatasetError(f"{what} list {path} does not exist")
    return read_split_list(path)


def prepare_synthetic(
    root: str | Path | None, split: str, split_seed: int = 0, spec: SyntheticSpec | None = None, progress: bool = True
) -> DataBundle:
    spec = spec or SyntheticSpec()
    root = Path(root) if root else data_dir() / spec.name
    meta = root / "dataset.json"
    if meta.is_file():  # an existing built-in dataset keeps the spec it was generated with
        spec = SyntheticSpec(**json.loads(meta.read_text())["spec"])
    generate(root, spec, progress=progress)
    folder = SegmentationFolder(root)
    pool = _read_ids(root / "ImageSets" / "Segmentation" / "train.txt", "training")
    val = _read_ids(root / "ImageSets" / "Segmentation" / "val.txt", "validation")
    split_folder = root / "splits" / f"seed{split_seed}" / split_dirname(str(split))
    if (split_folder / "labeled.txt").is_file() and not str(split).endswith(".txt"):
        labeled = read_split_list(split_folder / "labeled.txt")
        lab = set(labeled)
        sp = Split(tuple(labeled), tuple(i for i in pool if i not in lab), str(split))
    else:
        cache = root / "classes_present.json"
        if cache.is_file():
            present = {k: set(v) for k, v in json.loads(cache.read_text()).items()}
        else:
            present = classes_present(folder, pool)
            cache.write_text(json.dumps({k: sorted(v) for k, v in present.items()}))
        sp = make_split(pool, split, seed=split_seed, classes_present=present)
        if not str(split).endswith(".txt"):
            write_split(sp, split_folder)
    return DataBundle(folder, sp, val, spec.classes)


def prepare_data(cfg) -> DataBundle:
    """Data for a resolved Config."""
    if cfg.dataset == "synthetic":
        return prepare_synthetic(cfg.data_root, cfg.split, cfg.split_seed, progress=cfg.progress)
    if cfg.dataset == "folder":
        from .folder import prepare_folder

        return prepare_folder(cfg)
    from . import real

    return real.prepare_real(cfg)


__all__ = [
    "DataBundle",
    "DatasetError",
    "EvalDataset",
    "FolderLayout",
    "LabeledDataset",
    "SeededInfiniteSampler",
    "SegmentationFolder",
    "Split",
    "SplitError",
    "SyntheticSpec",
    "UnlabeledDataset",
    "VOC_LAYOUT",
    "IGNORE_INDEX",
    "colorize",
    "voc_palette",
    "data_dir",
    "generate",
    "make_split",
    "prepare_data",
    "prepare_synthetic",
    "classes_present",
]
