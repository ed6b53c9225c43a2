"""Datasets, defined once: every other module (the run key and the choices of ``config``, the
validation loader of ``runs``, the class names of ``predict``, ``validate``, the book, the
experiment index, ``bench``) reads what it needs of a dataset from its entry here, never from its
name.

A new dataset is one file in ``data/`` (a reader returning a :class:`DataBundle`) and one entry in
:data:`DATASET_LIST`. ``dataset_info(name)`` is its entry; :data:`DATASET_INFO` is the live table
(a test may add an entry to it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..io import DEFAULT_CONFIG
from .bundle import DataBundle
from .datasets import DatasetError
from .folder import fingerprint, prepare_folder, read_classes
from .real import VOC_CLASSES, cityscapes_classes, prepare_real
from .synthetic import CLASSES as SYNTHETIC_CLASSES
from .synthetic import GENERATOR_VERSION, prepare_synthetic


def _no_key_fields(cfg) -> dict[str, Any]:
    return {}


@dataclass(frozen=True)
class DatasetInfo:
    name: str  # the config's ``dataset`` value, and the first part of its run keys
    label: str  # display name
    doc: str  # one line: what it is and where it comes from
    #: ``(cfg, problems=None) -> DataBundle``: the reader. ``problems``: a list that collects layout
    #: problems (``validate`` passes one) where the reader can go on past them; others raise
    prepare: Callable[..., DataBundle]
    #: ``(cfg) -> class names`` without preparing the data (prediction from a checkpoint that lacks
    #: them); None when only the data can say. May raise DatasetError, OSError or ImportError
    class_names: Callable[[Any], tuple[str, ...] | None]
    num_classes: int | None  # its class count; None: read from the data (folder)
    #: ``(cfg) -> {name: value}``: what tells its runs apart beyond the config's fields (Config.key
    #: adds it to the hashed dict: a new generator version, the data's own fingerprint)
    key_fields: Callable[[Any], dict[str, Any]] = _no_key_fields
    val_batch_size: int = 1  # validation images per batch: > 1 only where every image has one size
    #: its unlabeled training ids may have masks (another split labels them): validate checks those too
    unlabeled_masks: bool = False
    default_config: Path | None = None  # the config file the book's training notebook starts from
    test_set: bool = False  # a held-out test set can be made (Config.test_images): the built-in dataset


# --------------------------------------------------------------------------- the readers
#: what the built-in dataset's generator writes into its folder (mkdlib.data.synthetic)
SYNTHETIC_FILES = {"JPEGImages", "SegmentationClass", "ImageSets", "splits", "dataset.json", "classes_present.json"}
#: what a ``folder`` dataset holds (mkdlib.data.folder): a data_root with these is the user's own data
FOLDER_MARKS = ("images", "masks", "classes.txt")


def check_synthetic_root(root: str | Path | None) -> None:
    """The built-in dataset is generated only into its own folder: a new or empty one, or one the
    generator wrote. A ``data_root`` holding anything else (the user's ``images/``, ``masks/``,
    ``classes.txt``: ``--dataset folder`` forgotten) is a DatasetError, before a file is written."""
    if root is None or not Path(root).is_dir() or (Path(root) / "dataset.json").is_file():
        return
    root = Path(root)
    other = sorted(p.name for p in root.iterdir() if p.name not in SYNTHETIC_FILES and not p.name.startswith("."))
    if not other:
        return  # empty, or an interrupted generation: the generator completes it
    marks = [m for m in FOLDER_MARKS if (root / m).exists()]
    if marks:
        raise DatasetError(
            f"data_root {root} holds {', '.join(marks)}: your own images, but the dataset is the built-in "
            "'synthetic' one, which would be generated into that folder; add --dataset folder (dataset: folder)"
        )
    raise DatasetError(
        f"data_root {root} holds files that are not the built-in dataset (e.g. {', '.join(other[:3])}); it is "
        "generated only into a new or empty folder: leave data_root out (default <data dir>/synthetic), "
        "or name the dataset these files are (--dataset folder, voc, ...)"
    )


def _prepare_synthetic(cfg, problems: list | None = None) -> DataBundle:
    check_synthetic_root(cfg.data_root)
    return prepare_synthetic(
        cfg.data_root, cfg.split, cfg.labeled_split_seed, progress=cfg.progress, test_images=cfg.test_images
    )


def _synthetic_key(cfg) -> dict[str, Any]:
    return {"synthetic_generator": GENERATOR_VERSION}  # a new generator version is a new dataset


def _prepare_real(cfg, problems: list | None = None) -> DataBundle:
    return prepare_real(cfg)


def _folder_classes(cfg) -> tuple[str, ...] | None:
    return read_classes(Path(cfg.data_root)) if cfg.data_root else None


def _folder_key(cfg) -> dict[str, Any]:
    # data_root is runtime-only: the data itself (its fingerprint) tells two folders apart
    return {"folder_data": fingerprint(cfg.data_root)}


DATASET_LIST = (
    DatasetInfo(
        "synthetic",
        "built-in dataset (CPU)",
        "procedurally generated shapes on photo backgrounds, generated on first use (mkdlib.data.synthetic)",
        _prepare_synthetic,
        lambda cfg: SYNTHETIC_CLASSES,
        len(SYNTHETIC_CLASSES),
        key_fields=_synthetic_key,
        val_batch_size=32,  # every image has the generator's size
        default_config=DEFAULT_CONFIG,
        test_set=True,
    ),
    DatasetInfo(
        "voc",
        "PASCAL VOC 2012",
        "VOC 2012, 1,464 fine training images (mkdlib.data.real)",
        _prepare_real,
        lambda cfg: VOC_CLASSES,
        len(VOC_CLASSES),
    ),
    DatasetInfo(
        "vocaug",
        "VOCAug",
        "VOC 2012 plus SBD's masks, 10,582 training images (mkdlib.data.real)",
        _prepare_real,
        lambda cfg: VOC_CLASSES,
        len(VOC_CLASSES),
    ),
    DatasetInfo(
        "cityscapes",
        "Cityscapes",
        "Cityscapes fine annotations, 19 evaluated classes (mkdlib.data.real)",
        _prepare_real,
        lambda cfg: cityscapes_classes(),  # needs cityscapesscripts
        19,
    ),
    DatasetInfo(
        "folder",
        "your images (folder)",
        "your own images/, masks/ and classes.txt under data_root (mkdlib.data.folder)",
        prepare_folder,
        _folder_classes,
        None,
        key_fields=_folder_key,
        unlabeled_masks=True,
    ),
)
#: name -> entry: the live table every lookup reads
DATASET_INFO: dict[str, DatasetInfo] = {d.name: d for d in DATASET_LIST}
#: the names at import (config.DATASETS); :func:`dataset_names` sees entries added since
DATASETS: tuple[str, ...] = tuple(DATASET_INFO)


def dataset_names() -> tuple[str, ...]:
    """Every registered dataset's name, in order."""
    return tuple(DATASET_INFO)


def dataset_info(name: str) -> DatasetInfo:
    """The entry of ``name``; a DatasetError naming the registered ones when there is none."""
    try:
        return DATASET_INFO[name]
    except KeyError:
        raise DatasetError(f"dataset {name!r} is not one of {', '.join(DATASET_INFO)}") from None


def key_fields(cfg) -> dict[str, Any]:
    """What ``cfg``'s dataset adds to its run key (nothing for a name without an entry)."""
    info = DATASET_INFO.get(cfg.dataset)
    return info.key_fields(cfg) if info else {}
