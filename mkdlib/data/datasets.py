"""Dataset readers. One reader for every VOC-layout folder (the built-in dataset, VOC, VOCAug).

Samples are addressed by ``(index, seed)`` pairs from :class:`SeededInfiniteSampler`: the seed fixes
the sample's augmentation, so a resumed run sees exactly the batches an uninterrupted one would.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset, Sampler

from .palette import IGNORE_INDEX
from .transforms import strong_photometric, to_tensor, weak_augmentation


class DatasetError(ValueError):
    """A dataset that cannot be read; the message names the file and what was expected."""


@dataclass(frozen=True)
class FolderLayout:
    """Where a sample's image and mask live, relative to the dataset root."""

    image: str = "JPEGImages/{id}.jpg"
    mask: str = "SegmentationClass/{id}.png"

    def image_path(self, root: Path, sample_id: str) -> Path:
        return root / self.image.format(id=sample_id)

    def mask_path(self, root: Path, sample_id: str) -> Path:
        return root / self.mask.format(id=sample_id)


VOC_LAYOUT = FolderLayout()


def read_image(path: Path) -> np.ndarray:
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"))
    except FileNotFoundError:
        raise DatasetError(f"image {path} does not exist") from None
    except OSError as e:
        raise DatasetError(f"image {path} cannot be read ({e}); expected a JPEG/PNG file") from None


def read_mask(path: Path) -> np.ndarray:
    try:
        with Image.open(path) as im:
            if im.mode not in ("P", "L", "I", "I;16"):
                raise DatasetError(
                    f"mask {path} has mode {im.mode}; expected a palette (P) or "
                    "grayscale (L) PNG of class ids, 255 = ignore"
                )
            return np.asarray(im).astype(np.uint8)
    except FileNotFoundError:
        raise DatasetError(f"mask {path} does not exist") from None
    except OSError as e:
        raise DatasetError(f"mask {path} cannot be read ({e})") from None


class SegmentationFolder:
    """Reads (image, mask) pairs of a folder dataset by id."""

    def __init__(self, root: str | Path, layout: FolderLayout = VOC_LAYOUT):
        self.root = Path(root)
        self.layout = layout

    def image_path(self, sample_id: str) -> Path:
        return self.layout.image_path(self.root, sample_id)

    def mask_path(self, sample_id: str) -> Path:
        return self.layout.mask_path(self.root, sample_id)

    def image(self, sample_id: str) -> np.ndarray:
        return read_image(self.image_path(sample_id))

    def mask(self, sample_id: str) -> np.ndarray:
        return read_mask(self.mask_path(sample_id))


def _key(key) -> tuple[int, int | None]:
    return (int(key[0]), int(key[1])) if isinstance(key, (tuple, list)) else (int(key), None)


class _FolderIds(Dataset):
    """Samples of ``folder`` listed by id; every image ends normalised as a CHW tensor."""

    def __init__(self, folder: SegmentationFolder, ids: list[str]):
        self.folder, self.ids, self.finish = folder, list(ids), to_tensor()

    def __len__(self) -> int:
        return len(self.ids)


class LabeledDataset(_FolderIds):
    """Weakly augmented labeled crops: ``{"image", "mask"}``."""

    def __init__(
        self, folder: SegmentationFolder, ids: list[str], crop_size: int, scale_range: tuple[float, float] = (0.5, 2.0)
    ):
        super().__init__(folder, ids)
        self.weak = weak_augmentation(crop_size, scale_range)

    def __getitem__(self, key) -> dict:
        index, seed = _key(key)
        if seed is not None:
            self.weak.set_random_seed(seed)
        sid = self.ids[index]
        out = self.weak(image=self.folder.image(sid), mask=self.folder.mask(sid))
        t = self.finish(image=out["image"])
        return {"image": t["image"], "mask": torch.from_numpy(out["mask"].astype(np.int64))}


class UnlabeledDataset(_FolderIds):
    """Two views of one crop: weak (teachers) and strong (students), plus a padding mask.

    ``ignore`` is True where the crop is padding: no loss is computed there.
    """

    def __init__(
        self,
        folder: SegmentationFolder,
        ids: list[str],
        crop_size: int,
        scale_range: tuple[float, float] = (0.5, 2.0),
        photometric_probs: str = "always",
    ):
        super().__init__(folder, ids)
        self.weak = weak_augmentation(crop_size, scale_range)
        self.strong = strong_photometric(crop_size, photometric_probs)

    def __getitem__(self, key) -> dict:
        index, seed = _key(key)
        if seed is not None:
            self.weak.set_random_seed(seed)
            self.strong.set_random_seed(seed + 1)
        image = self.folder.image(self.ids[index])
        out = self.weak(image=image, mask=np.zeros(image.shape[:2], np.uint8))
        strong = self.strong(image=out["image"])["image"]
        return {
            "image_weak": self.finish(image=out["image"])["image"],
            "image_strong": self.finish(image=strong)["image"],
            "ignore": torch.from_numpy(out["mask"] == IGNORE_INDEX),
        }


class EvalDataset(_FolderIds):
    """Whole validation images, normalised, with their masks and ids."""

    def __getitem__(self, index: int) -> dict:
        sid = self.ids[index]
        return {
            "image": self.finish(image=self.folder.image(sid))["image"],
            "mask": torch.from_numpy(self.folder.mask(sid).astype(np.int64)),
            "id": sid,
        }


class SeededInfiniteSampler(Sampler):
    """Endless ``(index, seed)`` stream: a fresh seeded permutation each epoch, sharded by rank.

    The stream is a pure function of ``(seed, position)``, so starting at ``start`` (=
    iterations done x per-rank batch size) resumes it exactly where an interrupted run stopped.
    """

    def __init__(self, n: int, seed: int, start: int = 0, rank: int = 0, world_size: int = 1):
        if n == 0:
            raise DatasetError("cannot sample from an empty id list")
        self.n, self.seed, self.start, self.rank, self.world = n, seed, start, rank, world_size

    def __iter__(self) -> Iterator[tuple[int, int]]:
        q, epoch, perm = self.start, -1, None
        while True:
            pos = q * self.world + self.rank
            e, k = divmod(pos, self.n)
            if e != epoch:
                g = torch.Generator().manual_seed(self.seed * 100_003 + e)
                perm, epoch = torch.randperm(self.n, generator=g).tolist(), e
            yield perm[k], (self.seed * 1_000_003 + pos) % (2**31)
            q += 1

    def __len__(self) -> int:  # endless; len() only for tools that ask
        return 2**62
