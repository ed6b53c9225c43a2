"""Datasets, split protocols and augmentation.

:func:`prepare_data` turns a config into everything training needs: the folder reader, the
labeled/unlabeled split and the validation ids. Each dataset is one entry of
:mod:`mkdlib.data.registry` (its reader, class names, run-key part, evaluation defaults). The
built-in ``synthetic`` dataset is generated on first use (seconds) under the data directory;
``folder`` is your own images and masks (:mod:`mkdlib.data.folder`).
"""

from __future__ import annotations

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
from .registry import DATASET_INFO, DATASET_LIST, DATASETS, DatasetInfo, dataset_info, dataset_names
from .splits import Split, SplitError, make_split
from .synthetic import SyntheticSpec, generate, prepare_synthetic


def prepare_data(cfg) -> DataBundle:
    """Data for a resolved Config: its dataset's reader (:mod:`mkdlib.data.registry`)."""
    return dataset_info(cfg.dataset).prepare(cfg)


__all__ = [
    "DATASET_INFO",
    "DATASET_LIST",
    "DATASETS",
    "DataBundle",
    "DatasetError",
    "DatasetInfo",
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
    "dataset_info",
    "dataset_names",
    "generate",
    "make_split",
    "prepare_data",
    "prepare_synthetic",
    "classes_present",
]
