"""Cityscapes: ``*_gtFine_labelIds.png`` -> ``*_gtFine_labelTrainIds.png`` (19 classes, 255 = ignore).

    python data_scripts/prepare_cityscapes.py --root data/cityscapes

Input: leftImg8bit_trainvaltest.zip and gtFine_trainvaltest.zip from https://www.cityscapes-dataset.com
(login needed), extracted into one folder: leftImg8bit/{train,val}/<city>/*_leftImg8bit.png and
gtFine/{train,val}/<city>/*_gtFine_labelIds.png. The mapping is cityscapesscripts' official label
table (``labels.py``: id -> trainId; trainId 255 or -1 -> 255). Re-running skips finished files.
"""

from __future__ import annotations

import argparse
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

URL = "https://www.cityscapes-dataset.com/downloads/ (leftImg8bit_trainvaltest.zip, gtFine_trainvaltest.zip)"
EXPECTED = {"train": 2975, "val": 500}


class InputError(SystemExit):
    """Missing or malformed input: the message names the path and where to get it."""


def train_id_table() -> np.ndarray:
    """256-entry lookup: label id -> train id (255 = ignore), from cityscapesscripts."""
    from cityscapesscripts.helpers.labels import labels

    lut = np.full(256, 255, np.uint8)
    for label in labels:
        if 0 <= label.id < 256:
            lut[label.id] = label.trainId if 0 <= label.trainId < 255 else 255
    return lut


def convert(src: Path, lut: np.ndarray) -> np.ndarray:
    with Image.open(src) as im:
        if im.mode not in ("L", "P", "I", "I;16"):
            raise InputError(f"{src} has mode {im.mode}; expected a single-channel *_labelIds.png")
        ids = np.asarray(im)
    if ids.max() > 255:
        raise InputError(
            f"{src} holds label ids up to {ids.max()}; expected *_labelIds.png (ids 0-33), not *_instanceIds.png"
        )
    return lut[ids.astype(np.uint8)]


def build(root: Path, splits=("train", "val"), workers: int = 4, progress: bool = True, force: bool = False) -> dict:
    from tqdm.auto import tqdm

    from mkdlib.io import _atomic

    problems = [
        f"{root / top / s} is missing"
        for top in ("leftImg8bit", "gtFine")
        for s in splits
        if not (root / top / s).is_dir()
    ]
    if problems:
        raise InputError("cannot prepare Cityscapes:\n  " + "\n  ".join(problems) + f"\n  Get them from {URL}")
    lut = train_id_table()
    counts = {}
    for split in splits:
        images = sorted((root / "leftImg8bit" / split).glob("*/*_leftImg8bit.png"))
        if not images:
            raise InputError(f"no */*_leftImg8bit.png under {root / 'leftImg8bit' / split}; {URL}")
        jobs = []
        for img in images:
            stem = img.name[: -len("_leftImg8bit.png")]
            src = root / "gtFine" / split / img.parent.name / f"{stem}_gtFine_labelIds.png"
            if not src.is_file():
                raise InputError(f"{src} is missing (label of {img}); {URL}")
            jobs.append((src, src.with_name(f"{stem}_gtFine_labelTrainIds.png")))

        def one(job):
            src, dst = job
            if dst.is_file() and not force:
                return False
            mask = convert(src, lut)
            _atomic(dst, lambda f: Image.fromarray(mask, mode="L").save(f, format="PNG"))
            return True

        with ThreadPoolExecutor(max(1, workers)) as pool:
            written = sum(tqdm(pool.map(one, jobs), total=len(jobs), desc=f"cityscapes {split}", disable=not progress))
        counts[split] = len(jobs)
        counts[f"{split}_written"] = written
    return counts


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--root", type=Path, required=True, help="folder holding leftImg8bit/ and gtFine/")
    p.add_argument("--workers", type=int, default=4)
    p.add_argument("--force", action="store_true", help="rewrite existing *_labelTrainIds.png")
    args = p.parse_args(argv)
    counts = build(args.root, workers=args.workers, force=args.force)
    print(" ".join(f"{k}={v}" for k, v in counts.items()))
    for split, n in EXPECTED.items():
        if counts.get(split) != n:
            print(f"note: Cityscapes {split} has {n} images; found {counts.get(split)} (fine for a subset only)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
