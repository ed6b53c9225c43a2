"""What every dataset reader returns (:class:`DataBundle`), and where datasets live."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..io import work_dir
from .datasets import DatasetError, SegmentationFolder
from .palette import IGNORE_INDEX
from .splits import Split


def data_dir() -> Path:
    """Root for datasets: ``$MKD_DATA_DIR``, else ``data/`` in the current folder."""
    return work_dir("MKD_DATA_DIR", "data")


@dataclass
class DataBundle:
    folder: SegmentationFolder
    split: Split
    val_ids: list[str]
    class_names: tuple[str, ...]
    test_ids: list[str] = field(default_factory=list)  # held-out test set (built-in dataset, test_images)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


def classes_present(folder: SegmentationFolder, ids: list[str], skip_unreadable: bool = False) -> dict[str, set[int]]:
    """Which classes each id's mask contains (for class-balanced splits).

    ``skip_unreadable``: leave out masks that cannot be read (the data check reports them).
    """
    out = {}
    for i in ids:
        try:
            m = folder.mask(i)
        except DatasetError:
            if skip_unreadable:
                continue
            raise
        out[i] = {int(c) for c in np.unique(m) if c != IGNORE_INDEX and c != 0}
    return out
