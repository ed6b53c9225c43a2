"""Build VOCAug (10,582 train_aug + 1,449 val) from PASCAL VOC 2012 and SBD.

    python data_scripts/prepare_vocaug.py --voc data/VOC2012 --sbd /downloads/benchmark_RELEASE

Inputs
  --voc  VOC2012 (VOCtrainval_11-May-2012.tar, http://host.robots.ox.ac.uk/pascal/VOC/voc2012/):
         JPEGImages/, SegmentationClass/, ImageSets/Segmentation/{train,val}.txt
  --sbd  SBD (benchmark.tgz, http://www.eecs.berkeley.edu/Research/Projects/CS/vision/grouping/semantic_contours/benchmark.tgz):
         dataset/cls/<id>.mat, dataset/img/<id>.jpg, dataset/{train,val}.txt
Output (in the VOC folder)
  SegmentationClassAug/<id>.png  palette PNGs of class ids (255 = ignore) for train_aug and val
  ImageSets/Segmentation/train_aug.txt
train_aug = (VOC train | SBD train | SBD val) - VOC val. A VOC fine mask wins over SBD's where
both exist (it marks object boundaries 255, SBD does not). Re-running skips finished masks.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

VOC_URL = "http://host.robots.ox.ac.uk/pascal/VOC/voc2012/VOCtrainval_11-May-2012.tar"
SBD_URL = "http://www.eecs.berkeley.edu/Research/Projects/CS/vision/grouping/semantic_contours/benchmark.tgz"


class InputError(SystemExit):
    """Missing or malformed input: the message names the path and where to get it."""


def read_ids(path: Path) -> list[str]:
    return [l.split()[0] for l in path.read_text().splitlines() if l.strip()]


def sbd_dataset_dir(sbd: Path) -> Path:
    """Accept benchmark_RELEASE/ or benchmark_RELEASE/dataset/."""
    return sbd / "dataset" if (sbd / "dataset").is_dir() else sbd


def check_inputs(voc: Path, sbd: Path) -> None:
    problems = []
    for rel in (
        "JPEGImages",
        "SegmentationClass",
        "ImageSets/Segmentation/train.txt",
        "ImageSets/Segmentation/val.txt",
    ):
        if not (voc / rel).exists():
            problems.append(
                f"VOC: {voc / rel} is missing (download and extract {VOC_URL}; --voc is .../VOCdevkit/VOC2012)"
            )
    ds = sbd_dataset_dir(sbd)
    for rel in ("cls", "train.txt", "val.txt"):
        if not (ds / rel).exists():
            problems.append(
                f"SBD: {ds / rel} is missing (download and extract {SBD_URL}; --sbd is .../benchmark_RELEASE)"
            )
    if problems:
        raise InputError("cannot build VOCAug:\n  " + "\n  ".join(problems))


def read_sbd_mask(path: Path) -> np.ndarray:
    """SBD class map: ``GTcls.Segmentation`` of a MATLAB .mat file, uint8 class ids."""
    import scipy.io

    try:
        gt = scipy.io.loadmat(path, squeeze_me=True, struct_as_record=False)["GTcls"]
        return np.asarray(gt.Segmentation, dtype=np.uint8)
    except (KeyError, AttributeError, ValueError, OSError) as e:
        raise InputError(
            f"SBD mask {path} is not an SBD class file (expected a struct GTcls with a Segmentation field): {e}"
        ) from None


def read_voc_mask(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        if im.mode not in ("P", "L"):
            raise InputError(f"VOC mask {path} has mode {im.mode}; expected VOC's palette PNG")
        return np.asarray(im, dtype=np.uint8)


def write_mask(mask: np.ndarray, path: Path) -> None:
    """Palette PNG, written atomically (an interrupted run leaves no torn file)."""
    from mkdlib.data.palette import voc_palette
    from mkdlib.io import _atomic

    img = Image.fromarray(mask, mode="P")
    img.putpalette(voc_palette().reshape(-1).tolist())
    _atomic(path, lambda f: img.save(f, format="PNG"))


def build(voc: Path, sbd: Path, workers: int = 4, progress: bool = True) -> dict:
    from tqdm.auto import tqdm

    from mkdlib.io import atomic_write_text

    check_inputs(voc, sbd)
    out = voc
    ds = sbd_dataset_dir(sbd)
    sets = voc / "ImageSets" / "Segmentation"
    voc_train, voc_val = read_ids(sets / "train.txt"), read_ids(sets / "val.txt")
    sbd_ids = set(read_ids(ds / "train.txt")) | set(read_ids(ds / "val.txt"))
    train_aug = sorted((set(voc_train) | sbd_ids) - set(voc_val))
    masks = out / "SegmentationClassAug"
    masks.mkdir(parents=True, exist_ok=True)
    copied_images = []

    def one(sid: str, is_val: bool) -> str:
        target = masks / f"{sid}.png"
        fine = voc / "SegmentationClass" / f"{sid}.png"
        image = voc / "JPEGImages" / f"{sid}.jpg"
        if not image.is_file():  # SBD has a few images VOC2012's JPEGImages lacks in some copies
            src = ds / "img" / f"{sid}.jpg"
            if not src.is_file():
                raise InputError(f"image of {sid} is neither {image} nor {src}")
            out_image = out / "JPEGImages" / f"{sid}.jpg"
            out_image.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, out_image)
            copied_images.append(sid)
        if target.is_file():
            return "kept"
        if fine.is_file():
            write_mask(read_voc_mask(fine), target)
            return "voc"
        if is_val:
            raise InputError(f"val mask {fine} is missing (VOC2012's SegmentationClass is incomplete)")
        mat = ds / "cls" / f"{sid}.mat"
        if not mat.is_file():
            raise InputError(f"no mask for train_aug id {sid}: neither {fine} nor {mat} exists")
        write_mask(read_sbd_mask(mat), target)
        return "sbd"

    jobs = [(i, False) for i in train_aug] + [(i, True) for i in voc_val]
    with ThreadPoolExecutor(max(1, workers)) as pool:
        sources = list(
            tqdm(pool.map(lambda j: one(*j), jobs), total=len(jobs), desc="VOCAug masks", disable=not progress)
        )
    atomic_write_text(out / "ImageSets" / "Segmentation" / "train_aug.txt", "\n".join(train_aug) + "\n")
    return {
        "train_aug": len(train_aug),
        "val": len(voc_val),
        "from_voc": sources.count("voc"),
        "from_sbd": sources.count("sbd"),
        "kept": sources.count("kept"),
        "images_copied": len(copied_images),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--voc", type=Path, required=True, help="the VOC2012 folder (VOCdevkit/VOC2012)")
    p.add_argument("--sbd", type=Path, required=True, help="SBD's benchmark_RELEASE folder")
    p.add_argument("--workers", type=int, default=4)
    args = p.parse_args(argv)
    counts = build(args.voc, args.sbd, args.workers)
    print(" ".join(f"{k}={v}" for k, v in counts.items()))
    if (counts["train_aug"], counts["val"]) != (10582, 1449):
        print(
            f"note: the full VOCAug has 10582 train_aug and 1449 val ids; these inputs gave "
            f"{counts['train_aug']} and {counts['val']} (fine for a subset, wrong for the paper's runs)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
