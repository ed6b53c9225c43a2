"""Split protocols: which training ids are labeled, which are unlabeled.

A split is given as a fraction (``"1/16"``), a count (``"92"``), ``"full"``, or a path to a list
file. Lists are plain text, one sample per line, in any of the three public formats
(UniMatch ``JPEGImages/x.jpg SegmentationClass/x.png``, U2PL ids, CPS ids); see
:func:`parse_split_line`. Unlabeled = pool minus labeled.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np


class SplitError(ValueError):
    """A split spec or split list that cannot be used; the message says what was expected."""


@dataclass(frozen=True)
class Split:
    labeled: tuple[str, ...]
    unlabeled: tuple[str, ...]
    name: str

    def __post_init__(self) -> None:
        overlap = set(self.labeled) & set(self.unlabeled)
        if overlap:
            raise SplitError(
                f"split {self.name!r}: {len(overlap)} ids are both labeled and unlabeled, e.g. {sorted(overlap)[:3]}"
            )


def split_dirname(spec: str) -> str:
    """``"1/16"`` -> ``"1_16"`` (the folder name used for split lists on disk)."""
    return spec.replace("/", "_")


def normalise_split(spec: str | int) -> str:
    """The one spelling of a split: ``' 1/4 '`` and ``'1 / 4'`` are ``'1/4'``, ``'FULL'`` is ``'full'``,
    ``'092'`` is ``'92'``; a list file's path is kept (stripped). Run keys and split folders use it, so
    one split never trains under two keys."""
    text = str(spec).strip()
    if text.lower() == "full":
        return "full"
    if m := re.fullmatch(r"(\d+)\s*/\s*(\d+)", text):
        return f"{int(m[1])}/{int(m[2])}"
    if re.fullmatch(r"\d+", text):
        return str(int(text))
    return text


def is_split_list(spec: str | int) -> bool:
    """Whether ``spec`` names a split list file rather than a fraction, a count or ``full``."""
    text = normalise_split(spec)
    if text == "full" or re.fullmatch(r"\d+(/\d+)?", text):
        return False
    return Path(text).suffix == ".txt" or Path(text).exists()


def split_list_digest(spec: str | int) -> str:
    """SHA-1 of the ids a split list holds, in order (not of its path or bytes: a byte-order mark,
    CRLF line ends, comments and the public list formats read the same). Part of the run key, so a
    list edited in place is a new run and a moved or copied one is the same run."""
    import hashlib

    try:
        ids = read_split_list(normalise_split(spec))
    except (SplitError, OSError) as e:  # training stops on it with this error; the key just differs
        return f"unreadable: {e}"
    return hashlib.sha1("\n".join(ids).encode()).hexdigest()


def parse_split_spec(spec: str | int, pool_size: int) -> int | Path:
    """Number of labeled ids for ``spec`` (fraction, count, 'full'), or the Path of a list file.

    Fractions round up, as the public protocols do: 1/16 of VOC's 1,464 is 92, of VOCAug's 10,582
    is 662, of Cityscapes' 2,975 is 186.
    """
    text = str(spec).strip()
    if text.lower() == "full":
        return pool_size
    if re.fullmatch(r"\d+\s*/\s*\d+", text):
        num, den = (int(t) for t in text.split("/"))
        if den == 0 or num == 0 or num > den:
            raise SplitError(f"split {text!r}: a fraction must be in (0, 1], like '1/16' or '1/2'")
        n = math.ceil(Fraction(num, den) * pool_size)
        if n < 1:
            raise SplitError(f"split {text!r} of a pool of {pool_size} ids labels no image")
        return n
    if re.fullmatch(r"\d+", text):
        n = int(text)
        if not 1 <= n <= pool_size:
            raise SplitError(f"split {text!r}: a count must be between 1 and the pool size {pool_size}")
        return n
    path = Path(text)
    if path.suffix == ".txt" or path.exists():
        if not path.is_file():
            raise SplitError(f"split list {path} does not exist")
        return path
    raise SplitError(
        f"split {text!r} is not understood: give a fraction ('1/16'), a count ('92'), "
        "'full', or the path of a split list (.txt)"
    )


#: Cityscapes file names in the public lists, reduced to the canonical id ``split/city/city_seq_frame``
_CITYSCAPES_OFFICIAL = re.compile(r"leftImg8bit/(?P<split>[a-z_]+)/(?P<city>[^/]+)/(?P<name>[^/]+?)_leftImg8bit\.png$")
_CITYSCAPES_CPS = re.compile(r"^/?images/(?P<split>[a-z_]+)/(?P<name>(?P<city>[a-z_]+?)_\d+_\d+)\.png$")


def parse_split_line(line: str) -> str | None:
    """One line of a split list in any public format -> a sample id (None for blank lines).

    VOC ids are the image stem (``2007_000033``); Cityscapes ids are ``train/aachen/aachen_000000_000019``
    (split/city/name, the path under ``leftImg8bit`` without the suffix), whatever the format:

    - UniMatch: ``JPEGImages/2007_000033.jpg SegmentationClass/2007_000033.png`` and
      ``leftImg8bit/train/jena/jena_000078_000019_leftImg8bit.png gtFine/...``;
    - U2PL: ``2007_000033`` and ``leftImg8bit/train/jena/jena_000078_000019_leftImg8bit.png``;
    - CPS: ``2007_000033`` and (flat, tab-separated)
      ``/images/train/jena_000078_000019.png<TAB>/segmentation/train/jena_000078_000019_gtFine.png``.
    """
    line = line.strip()
    if not line or line.startswith("#"):
        return None
    first = line.split()[0]
    if first.startswith("JPEGImages/"):
        return Path(first).stem
    for pattern in (_CITYSCAPES_OFFICIAL, _CITYSCAPES_CPS):
        m = pattern.search(first)
        if m:
            return f"{m['split']}/{m['city']}/{m['name']}"
    return first


def read_split_list(path: str | Path) -> list[str]:
    path = Path(path)
    if not path.is_file():
        raise SplitError(f"split list {path} does not exist")
    try:  # utf-8-sig: a byte-order mark (Windows Notepad) is not part of the first id
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise SplitError(
            f"split list {path} cannot be read ({e}); expected a UTF-8 text file of one id per line"
        ) from None
    ids = [i for i in (parse_split_line(l) for l in text.splitlines()) if i]
    if not ids:
        raise SplitError(f"split list {path} is empty: expected one sample per line")
    dup = {i for i in ids if ids.count(i) > 1} if len(set(ids)) != len(ids) else set()
    if dup:
        raise SplitError(f"split list {path} repeats ids, e.g. {sorted(dup)[:3]}")
    return ids


def choose_labeled(pool: list[str], n: int, seed: int, classes_present: dict[str, set[int]] | None = None) -> list[str]:
    """Pick ``n`` labeled ids, seeded; class-balanced where the per-id classes are known.

    Greedy: repeatedly take the next id (in a seeded order) containing the class seen least so
    far, so that small splits still contain every class when possible.
    """
    rng = np.random.default_rng(seed)
    order = [pool[i] for i in rng.permutation(len(pool))]
    if classes_present is None or n >= len(pool):
        return sorted(order[:n])
    counts: dict[int, int] = {}
    for cls_set in classes_present.values():
        for c in cls_set:
            counts.setdefault(c, 0)
    chosen: list[str] = []
    remaining = list(order)
    while len(chosen) < n and remaining:
        rarest = min(counts, key=lambda c: (counts[c], c)) if counts else None
        pick = next((i for i in remaining if rarest in classes_present.get(i, ())), remaining[0])
        remaining.remove(pick)
        chosen.append(pick)
        for c in classes_present.get(pick, ()):
            counts[c] = counts.get(c, 0) + 1
    return sorted(chosen)


def make_split(
    pool: list[str], spec: str | int, seed: int = 0, classes_present: dict[str, set[int]] | None = None
) -> Split:
    """Labeled/unlabeled lists from a pool and a spec (fraction, count, 'full' or list path)."""
    target = parse_split_spec(spec, len(pool))
    if isinstance(target, Path):
        labeled = read_split_list(target)
        missing = sorted(set(labeled) - set(pool))
        if missing:
            raise SplitError(
                f"split list {target}: {len(missing)} ids are not in the training pool, e.g. {missing[:3]}"
            )
    else:
        labeled = choose_labeled(pool, target, seed, classes_present)
    lab = set(labeled)
    return Split(tuple(labeled), tuple(i for i in pool if i not in lab), str(spec))


def write_split(split: Split, folder: str | Path) -> None:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "labeled.txt").write_text("\n".join(split.labeled) + "\n")
    (folder / "unlabeled.txt").write_text("\n".join(split.unlabeled) + ("\n" if split.unlabeled else ""))
