"""Dataset readers. One reader for every VOC-layout folder (the built-in dataset, VOC, VOCAug).

Samples are addressed by ``(index, seed)`` pairs from :class:`SeededInfiniteSampler`: the seed fixes
the sample's augmentation, so a resumed run sees exactly the batches an uninterrupted one would.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset, Sampler

from .palette import IGNORE_INDEX
from .transforms import photometric_distortion, strong_photometric, to_tensor, weak_augmentation


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


#: modes of images with more than 8 bits per sample that :func:`read_image` scales to 8 bits
#: (PIL reads 16-bit RGB(A) files as 8-bit RGB(A) itself, keeping the high byte, as done here)
HIGH_DEPTH_MODES = ("I;16", "I;16B", "I;16L", "I;16N")


def _eight_bit(im: Image.Image, path: Path) -> np.ndarray:
    """(H, W, 3) uint8 RGB of an opened image; 16-bit grayscale scaled to 8 bits (its high byte), as
    PIL does for 16-bit RGB. ``convert("RGB")`` alone would clip 16-bit values to 255."""
    mode = im.mode
    if mode in HIGH_DEPTH_MODES or (mode == "I" and im.format == "PNG"):  # older PIL: 16-bit PNG as "I"
        values = np.asarray(im).astype(np.int64)
        if values.min() < 0 or values.max() > 65535:
            raise DatasetError(
                f"image {path} has {mode} pixels from {values.min()} to {values.max()}; expected 8- or 16-bit values"
            )
        gray = (values >> 8).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=2)
    if mode in ("I", "F") or mode.startswith("I;"):  # 32-bit integers or floats: no agreed range
        what = "32-bit float" if mode == "F" else "32-bit integer"
        raise DatasetError(
            f"image {path} has {what} pixels (mode {mode}); expected an 8- or 16-bit image "
            "(JPEG, or PNG in RGB or grayscale): convert it to 8 or 16 bits first"
        )
    return np.asarray(im.convert("RGB"))


#: the EXIF tag that says how a camera held the picture (1: as stored)
EXIF_ORIENTATION = 0x0112


def upright(im: Image.Image) -> Image.Image:
    """``im`` as image viewers show it: its EXIF orientation applied (a phone's portrait photo is
    stored landscape with a tag), so masks drawn on the displayed photo line up with it."""
    from PIL import ImageOps

    if im.getexif().get(EXIF_ORIENTATION, 1) in (None, 1):
        return im
    return ImageOps.exif_transpose(im)


def read_image(path: Path) -> np.ndarray:
    """(H, W, 3) uint8 RGB, upright (EXIF orientation applied); 16-bit images are scaled to 8 bits,
    32-bit ones refused by name."""
    try:
        with Image.open(path) as im:
            return _eight_bit(upright(im), Path(path))
    except FileNotFoundError:
        raise DatasetError(f"image {path} does not exist") from None
    except OSError as e:
        raise DatasetError(f"image {path} cannot be read ({e}); expected a JPEG/PNG file") from None


class MaskValueError(DatasetError):
    """A mask holding values no class id can have (above 255, or negative: a 16- or 32-bit mask).

    ``values``: every distinct value of the mask, so a check that knows the classes lists the bad ones;
    ``shape``: the mask's (H, W)."""

    def __init__(self, path: Path, mode: str, values: np.ndarray, shape: tuple[int, int]):
        self.path, self.mode, self.values, self.shape = Path(path), mode, [int(v) for v in values], shape
        bad = [v for v in self.values if not 0 <= v <= IGNORE_INDEX]
        super().__init__(
            f"mask {path} ({mode}) holds values {bad[:8]} that are not class ids; expected class ids "
            f"(0..{IGNORE_INDEX - 1}) or {IGNORE_INDEX} (ignore)"
        )


def read_mask(path: Path) -> np.ndarray:
    """(H, W) uint8 class ids of a palette (P) or grayscale (L, 16-bit I;16, I) PNG, 255 = ignore.

    Values are never wrapped: a 16- or 32-bit mask whose values all fit 0..255 is read as they are;
    one holding a value above 255 (or below 0) raises :class:`MaskValueError` with its values."""
    try:
        with Image.open(path) as opened:
            im = upright(opened)
            if im.mode not in ("P", "L", "I", "I;16", "I;16B", "I;16L", "I;16N"):
                raise DatasetError(
                    f"mask {path} has mode {im.mode}; expected a palette (P) or "
                    "grayscale (L) PNG of class ids, 255 = ignore"
                )
            values = np.asarray(im)
            if values.dtype != np.uint8:
                if values.size and (values.min() < 0 or values.max() > IGNORE_INDEX):
                    raise MaskValueError(path, im.mode, np.unique(values), values.shape[:2])
                values = values.astype(np.uint8)
            return values
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
    """Samples of ``folder`` listed by id; every image ends normalised as a CHW tensor.

    ``num_classes``: every mask read is checked to hold class ids or 255 only (a DatasetError naming
    the file otherwise), so a bad mask the pre-training check did not sample stops the run clearly
    when it is first read instead of failing inside the loss."""

    def __init__(self, folder: SegmentationFolder, ids: list[str], num_classes: int | None = None):
        self.folder, self.ids, self.finish, self.num_classes = folder, list(ids), to_tensor(), num_classes

    def __len__(self) -> int:
        return len(self.ids)

    def mask(self, sid: str) -> np.ndarray:
        mask, n = self.folder.mask(sid), self.num_classes
        if n is not None and mask.size and int(mask.max()) >= n:
            bad = [int(v) for v in np.unique(mask) if v >= n and v != IGNORE_INDEX]
            if bad:
                raise DatasetError(
                    f"mask {self.folder.mask_path(sid)} holds values {bad[:8]} that are not class ids; expected "
                    f"0..{n - 1} or {IGNORE_INDEX} (ignore) (id {sid!r})"
                )
        return mask


def min_train_side(scale_range: tuple[float, float]) -> int:
    """The smallest side a training image may have: the random rescale by ``scale_range[0]`` must
    leave at least two pixels (cv2 cannot resize to 0)."""
    return max(2, math.ceil(2 / scale_range[0]))


def pad_small(image: np.ndarray, mask: np.ndarray, side: int) -> tuple[np.ndarray, np.ndarray]:
    """An image smaller than ``side`` (e.g. 1x7 px) padded at the bottom and right to it, the padding
    ignored (image 0, mask 255) as the crop's own padding is; larger images are returned as they are."""
    h, w = image.shape[:2]
    if h >= side and w >= side:
        return image, mask
    pad = ((0, max(side - h, 0)), (0, max(side - w, 0)))
    return np.pad(image, (*pad, (0, 0))), np.pad(mask, pad, constant_values=IGNORE_INDEX)


class LabeledDataset(_FolderIds):
    """Weakly augmented labeled crops: ``{"image", "mask"}``."""

    def __init__(
        self,
        folder: SegmentationFolder,
        ids: list[str],
        crop_size: int,
        scale_range: tuple[float, float] = (0.5, 2.0),
        num_classes: int | None = None,
        weak_photometric: bool = False,
    ):
        super().__init__(folder, ids, num_classes)
        self.weak = weak_augmentation(crop_size, scale_range)
        self.photometric = photometric_distortion() if weak_photometric else None
        self.min_side = min_train_side(scale_range)

    def __getitem__(self, key) -> dict:
        index, seed = _key(key)
        if seed is not None:
            self.weak.set_random_seed(seed)
            if self.photometric is not None:
                self.photometric.set_random_seed(seed + 2)
        sid = self.ids[index]
        image, mask = pad_small(self.folder.image(sid), self.mask(sid), self.min_side)
        out = self.weak(image=image, mask=mask)
        image = out["image"] if self.photometric is None else self.photometric(image=out["image"])["image"]
        t = self.finish(image=image)
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
        weak_photometric: bool = False,
    ):
        super().__init__(folder, ids)
        self.weak = weak_augmentation(crop_size, scale_range)
        self.strong = strong_photometric(crop_size, photometric_probs)
        self.photometric = photometric_distortion() if weak_photometric else None
        self.min_side = min_train_side(scale_range)

    def __getitem__(self, key) -> dict:
        index, seed = _key(key)
        if seed is not None:
            self.weak.set_random_seed(seed)
            self.strong.set_random_seed(seed + 1)
            if self.photometric is not None:
                self.photometric.set_random_seed(seed + 2)
        image = self.folder.image(self.ids[index])
        image, mask = pad_small(image, np.zeros(image.shape[:2], np.uint8), self.min_side)
        out = self.weak(image=image, mask=mask)
        strong = self.strong(image=out["image"])["image"]  # from the geometric crop: no distortion
        weak = out["image"] if self.photometric is None else self.photometric(image=out["image"])["image"]
        return {
            "image_weak": self.finish(image=weak)["image"],
            "image_strong": self.finish(image=strong)["image"],
            "ignore": torch.from_numpy(out["mask"] == IGNORE_INDEX),
        }


class EvalDataset(_FolderIds):
    """Whole validation images, normalised, with their masks and ids."""

    def __getitem__(self, index: int) -> dict:
        sid = self.ids[index]
        return {
            "image": self.finish(image=self.folder.image(sid))["image"],
            "mask": torch.from_numpy(self.mask(sid).astype(np.int64)),
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
