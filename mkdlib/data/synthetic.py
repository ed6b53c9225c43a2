"""The built-in dataset: procedurally generated shapes on real-photo backgrounds.

Written once to disk in PASCAL VOC's layout (JPEG images, palette PNG masks with 255 = ignore,
``ImageSets/Segmentation/{train,val}.txt``), so the same reader serves it and VOC. Every image is a
pure function of ``(seed, index)``: regenerating gives byte-identical files.

Classes differ by *shape and texture*, never by colour (colours are drawn at random per object),
so a model has to learn structure, as on real data.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from .bundle import DataBundle, classes_present, data_dir
from .datasets import DatasetError, SegmentationFolder
from .palette import save_mask
from .splits import Split, make_split, read_split_list, split_dirname, write_split

#: Version of the generator; bump it whenever the pictures change, so caches are rebuilt.
GENERATOR_VERSION = 4

CLASSES = ("background", "ring-disc", "checker-square", "striped-triangle", "dotted-star")

#: A *different* set of classes (other shapes, other textures) on the same kind of scenes: the
#: built-in analogue of ImageNet, used once to pretrain encoders (mkdlib.pretrain).
#: Source classes are shapes that no target class has. Class k is drawn with texture k or k + 1 of
#: eight (the target's four and four others), so texture tells a class apart from most others but
#: only shape settles it: the encoder learns texture *and* shape features without ever seeing a
#: target class (a shape-texture pair). ImageNet -> VOC shares far more (cats, dogs, cars).
SOURCE_CLASSES = ("background", "hexagon", "cross", "ellipse", "chevron", "crescent", "arrow", "l-shape", "half-disc")


@dataclass(frozen=True)
class SyntheticSpec:
    """What to generate. The defaults are the calibrated CPU default (see the data notebook)."""

    num_train: int = 512
    num_val: int = 128
    size: int = 64
    seed: int = 0
    min_objects: int = 1
    max_objects: int = 2
    min_radius: float = 0.2  # object radius as a share of the image side
    max_radius: float = 0.38
    noise_std: float = 6.0
    family: str = "target"  # "target" (CLASSES) or "source" (SOURCE_CLASSES, for pretraining)

    @property
    def name(self) -> str:
        family = "" if self.family == "target" else f"-{self.family}"
        return f"synthetic{family}-v{GENERATOR_VERSION}-s{self.size}-n{self.num_train}-seed{self.seed}"

    @property
    def classes(self) -> tuple[str, ...]:
        return SOURCE_CLASSES if self.family == "source" else CLASSES


@lru_cache(maxsize=1)
def background_photos() -> tuple[np.ndarray, ...]:
    """Real photos shipped offline by scikit-image and scikit-learn (RGB uint8)."""
    import skimage.data as skd

    photos = []
    for name in (
        "astronaut",
        "coffee",
        "chelsea",
        "rocket",
        "immunohistochemistry",
        "hubble_deep_field",
        "cat",
        "brick",
        "grass",
        "gravel",
        "camera",
        "moon",
    ):
        try:
            img = getattr(skd, name)()
        except Exception:  # a photo this scikit-image lacks: use the others
            continue
        if img.ndim == 2:
            img = np.stack([img] * 3, axis=-1)
        photos.append(np.ascontiguousarray(img[..., :3]).astype(np.uint8))
    try:
        from sklearn.datasets import load_sample_images

        photos.extend(np.asarray(im, dtype=np.uint8) for im in load_sample_images().images)
    except Exception:
        pass
    if len(photos) < 3:
        raise RuntimeError(
            "scikit-image/scikit-learn ship fewer than 3 sample photos; "
            "reinstall them (pip install scikit-image scikit-learn)"
        )
    return tuple(photos)


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    photos = background_photos()
    photo = photos[rng.integers(len(photos))]
    h, w = photo.shape[:2]
    side = int(rng.integers(min(h, w) // 6, min(h, w) // 2 + 1))
    y0, x0 = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
    crop = photo[y0 : y0 + side, x0 : x0 + side]
    crop = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA).astype(np.float32)
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    if rng.random() < 0.5:  # shift the colour balance (tints the grey photos)
        crop = crop * rng.uniform(0.7, 1.3, size=3)
    mean = crop.mean(axis=(0, 1))
    crop = cv2.GaussianBlur(crop, (0, 0), rng.uniform(0.5, 1.5))
    return mean + rng.uniform(0.25, 0.5) * (crop - mean)  # softer background: objects stand out


def _shape_polygon(cls: int, rng: np.random.Generator) -> np.ndarray:
    """Unit-radius polygon (N, 2) for a class's shape."""
    if cls == 1:  # disc
        t = np.linspace(0, 2 * np.pi, 48, endpoint=False)
        return np.stack([np.cos(t), np.sin(t)], 1)
    if cls == 2:  # square
        return np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], float) * 0.8
    if cls == 3:  # triangle
        t = np.pi / 2 + np.arange(3) * 2 * np.pi / 3
        return np.stack([np.cos(t), np.sin(t)], 1)
    # five-pointed star
    t = np.pi / 2 + np.arange(10) * np.pi / 5
    r = np.where(np.arange(10) % 2 == 0, 1.0, 0.45)
    return np.stack([r * np.cos(t), r * np.sin(t)], 1)


def _source_shape_polygon(cls: int) -> np.ndarray:
    t = np.linspace(0, 2 * np.pi, 48, endpoint=False)
    if cls == 1:  # hexagon
        a = np.arange(6) * np.pi / 3
        return np.stack([np.cos(a), np.sin(a)], 1)
    if cls == 2:  # plus-shaped cross
        w = 0.35
        return np.array(
            [
                [-w, -1],
                [w, -1],
                [w, -w],
                [1, -w],
                [1, w],
                [w, w],
                [w, 1],
                [-w, 1],
                [-w, w],
                [-1, w],
                [-1, -w],
                [-w, -w],
            ],
            float,
        )
    if cls == 3:  # ellipse
        return np.stack([np.cos(t), 0.55 * np.sin(t)], 1)
    if cls == 4:  # chevron
        return np.array([[-1, -0.8], [0, 0.2], [1, -0.8], [1, -0.1], [0, 0.9], [-1, -0.1]], float)
    if cls == 5:  # crescent: the outer arc of a disc and the inner arc of an offset one
        a = np.linspace(-0.8 * np.pi, 0.8 * np.pi, 24)
        outer = np.stack([np.cos(a), np.sin(a)], 1)
        inner = np.stack([0.55 + 0.75 * np.cos(a[::-1]) - 0.55, 0.75 * np.sin(a[::-1])], 1) * [0.45, 1]
        return np.concatenate([outer, inner + [0.1, 0]])
    if cls == 6:  # arrow
        return np.array([[-1, -0.3], [0.1, -0.3], [0.1, -0.8], [1, 0], [0.1, 0.8], [0.1, 0.3], [-1, 0.3]], float)
    if cls == 7:  # L-shape
        return np.array([[-0.8, -1], [-0.2, -1], [-0.2, 0.4], [0.8, 0.4], [0.8, 1], [-0.8, 1]], float)
    a = np.linspace(0, np.pi, 25)  # half-disc
    return np.stack([np.cos(a), np.sin(a) * 1.2 - 0.5], 1)


def _source_texture(tex: int, u: np.ndarray, v: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Texture ``tex`` in 0..7: the target's four (0-3), then zigzag, grid, waves, nested squares."""
    if tex < 4:
        return _texture(tex + 1, u, v, rng)
    cls = tex - 3
    f = rng.uniform(1.2, 1.8)
    if cls == 1:  # zigzag
        return np.abs(((u * f + 0.5 * np.abs((v * f * 2) % 2 - 1)) % 1) - 0.5) < 0.25
    if cls == 2:  # grid lines
        return ((u * f * 1.5) % 1 < 0.3) | ((v * f * 1.5) % 1 < 0.3)
    if cls == 3:  # diagonal waves
        return np.sin(2 * np.pi * f * (u + v + 0.2 * np.sin(4 * v))) > 0
    return (np.maximum(np.abs(u), np.abs(v)) * f * 2) % 1 < 0.5  # nested squares


def _texture(cls: int, u: np.ndarray, v: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Binary texture in object coordinates (u, v in units of the object radius)."""
    if cls == 1:  # concentric rings
        f = rng.uniform(1.2, 1.6)
        return np.sin(2 * np.pi * f * np.hypot(u, v)) > 0
    if cls == 2:  # checkerboard
        k = rng.uniform(1.4, 1.8)
        return (np.floor(u * k) + np.floor(v * k)) % 2 == 0
    if cls == 3:  # stripes
        f = rng.uniform(1.2, 1.6)
        return np.sin(2 * np.pi * f * u) > 0
    k = rng.uniform(1.6, 2.0)  # dots
    du, dv = (u * k) % 1 - 0.5, (v * k) % 1 - 0.5
    return du * du + dv * dv > 0.1


def _contrasting_colours(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    while True:
        a, b = rng.uniform(0, 255, size=3), rng.uniform(0, 255, size=3)
        if np.abs(a - b).sum() > 180:
            return a, b


def render_sample(index: int, spec: SyntheticSpec) -> tuple[np.ndarray, np.ndarray]:
    """Image (H, W, 3) uint8 and mask (H, W) uint8 for one index; deterministic."""
    rng = np.random.default_rng([spec.seed, index])
    size, ss = spec.size, 2  # render at 2x and average down for anti-aliased edges
    big = size * ss
    image = _background(rng, size)
    mask = np.zeros((size, size), np.uint8)
    yy, xx = np.mgrid[0:big, 0:big].astype(np.float32) + 0.5
    for _ in range(int(rng.integers(spec.min_objects, spec.max_objects + 1))):
        cls = int(rng.integers(1, len(spec.classes)))
        radius = rng.uniform(spec.min_radius, spec.max_radius) * big
        cx, cy = rng.uniform(0.1, 0.9, size=2) * big
        theta = rng.uniform(0, 2 * np.pi)
        rot = np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])
        shape = _source_shape_polygon(cls) if spec.family == "source" else _shape_polygon(cls, rng)
        poly = (shape @ rot.T) * radius + [cx, cy]
        cover = np.zeros((big, big), np.uint8)
        cv2.fillPoly(cover, [np.round(poly * 16).astype(np.int32)], 1, lineType=cv2.LINE_8, shift=4)
        # texture in rotated object coordinates
        u = ((xx - cx) * math.cos(theta) + (yy - cy) * math.sin(theta)) / radius
        v = (-(xx - cx) * math.sin(theta) + (yy - cy) * math.cos(theta)) / radius
        if spec.family == "source":
            tex = _source_texture((cls - 1 + int(rng.integers(2))) % 8, u, v, rng)
        else:
            tex = _texture(cls, u, v, rng)
        c1, c2 = _contrasting_colours(rng)
        obj = np.where(tex[..., None], c1, c2).astype(np.float32)
        alpha = cover.reshape(size, ss, size, ss).mean(axis=(1, 3))[..., None]
        obj_small = obj.reshape(size, ss, size, ss, 3).mean(axis=(1, 3))
        image = alpha * obj_small + (1 - alpha) * image
        mask[alpha[..., 0] >= 0.5] = cls
    # lighting: a linear gradient and a global gain, then sensor noise
    phi = rng.uniform(0, 2 * np.pi)
    ramp = np.cos(phi) * (xx[::ss, ::ss] / big - 0.5) + np.sin(phi) * (yy[::ss, ::ss] / big - 0.5)
    image = image * (rng.uniform(0.7, 1.2) + rng.uniform(0.0, 0.5) * ramp)[..., None]
    image = image + rng.normal(0, spec.noise_std * rng.uniform(0.3, 1.0), size=image.shape)
    return np.clip(image, 0, 255).astype(np.uint8), mask


def sample_id(index: int) -> str:
    return f"syn_{index:06d}"


def _write_sample(root: Path, spec: SyntheticSpec, index: int) -> None:
    image, mask = render_sample(index, spec)
    Image.fromarray(image).save(root / "JPEGImages" / f"{sample_id(index)}.jpg", quality=92)
    save_mask(mask, root / "SegmentationClass" / f"{sample_id(index)}.png")


def _write_samples(root: Path, spec: SyntheticSpec, indices: list[int]) -> int:
    for i in indices:
        _write_sample(root, spec, i)
    return len(indices)


def generate(root: str | Path, spec: SyntheticSpec = SyntheticSpec(), progress: bool = True, workers: int = 1) -> Path:
    """Write the dataset under ``root`` (VOC layout) unless a complete copy is already there.

    ``workers`` > 1 renders in that many processes (spawned: safe after CUDA or OpenMP started);
    each image depends only on (seed, index), so the files are the same either way."""
    root = Path(root)
    meta_path = root / "dataset.json"
    meta = {
        "name": spec.name,
        "generator_version": GENERATOR_VERSION,
        "classes": list(spec.classes),
        "spec": asdict(spec),
        "layout": "voc",
    }
    if meta_path.exists() and json.loads(meta_path.read_text()).get("spec") == meta["spec"]:
        return root
    from tqdm.auto import tqdm

    (root / "JPEGImages").mkdir(parents=True, exist_ok=True)
    (root / "SegmentationClass").mkdir(parents=True, exist_ok=True)
    (root / "ImageSets" / "Segmentation").mkdir(parents=True, exist_ok=True)
    n = spec.num_train + spec.num_val
    bar = tqdm(total=n, desc=f"generating {spec.name}", disable=not progress, leave=False)
    if workers > 1 and n > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        chunks = [list(range(k, n, workers * 4)) for k in range(min(n, workers * 4))]
        with ProcessPoolExecutor(min(workers, len(chunks)), mp_context=multiprocessing.get_context("spawn")) as ex:
            for done in ex.map(_write_samples, [root] * len(chunks), [spec] * len(chunks), chunks):
                bar.update(done)
    else:
        for i in range(n):
            _write_sample(root, spec, i)
            bar.update(1)
    bar.close()
    ids = [sample_id(i) for i in range(n)]
    (root / "ImageSets" / "Segmentation" / "train.txt").write_text("\n".join(ids[: spec.num_train]) + "\n")
    (root / "ImageSets" / "Segmentation" / "val.txt").write_text("\n".join(ids[spec.num_train :]) + "\n")
    tmp = meta_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(meta, indent=2))
    tmp.replace(meta_path)  # written last: its presence marks a complete dataset
    return root


#: the held-out test images come from generator seeds ``(spec.seed, TEST_INDEX_OFFSET + i)``, which
#: no training, validation or source (pretraining) image uses
TEST_INDEX_OFFSET = 1_000_000


def test_id(index: int) -> str:
    return f"test_{index:06d}"


def generate_test(root: str | Path, spec: SyntheticSpec, count: int, progress: bool = True) -> list[str]:
    """The first ``count`` held-out test images of the dataset under ``root`` (written on first use,
    beside the others; ``ImageSets/Segmentation/test.txt`` lists them and is written last)."""
    root = Path(root)
    listing = root / "ImageSets" / "Segmentation" / "test.txt"
    have = read_split_list(listing) if listing.is_file() else []
    ids = [test_id(i) for i in range(count)]
    if have[:count] == ids:
        return ids
    from tqdm.auto import tqdm

    for i in tqdm(range(count), desc="generating the test set", disable=not progress, leave=False):
        image, mask = render_sample(TEST_INDEX_OFFSET + i, spec)
        Image.fromarray(image).save(root / "JPEGImages" / f"{test_id(i)}.jpg", quality=92)
        save_mask(mask, root / "SegmentationClass" / f"{test_id(i)}.png")
    tmp = listing.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text("\n".join(ids) + "\n")
    tmp.replace(listing)
    return ids


def _read_ids(path: Path, what: str) -> list[str]:
    if not path.is_file():
        raise DatasetError(f"{what} list {path} does not exist")
    return read_split_list(path)


def prepare_synthetic(
    root: str | Path | None,
    split: str,
    split_seed: int = 0,
    spec: SyntheticSpec | None = None,
    progress: bool = True,
    test_images: int = 0,
) -> DataBundle:
    """The built-in dataset under ``root`` (default: ``<data dir>/<spec.name>``), generated on first
    use, with the labeled/unlabeled split of ``split``, the validation ids and ``test_images``
    held-out test ids."""
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
    test = generate_test(root, spec, test_images, progress) if test_images else []
    return DataBundle(folder, sp, val, spec.classes, test)
