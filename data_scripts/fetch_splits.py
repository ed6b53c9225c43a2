"""Fetch the public split lists (CPS, U2PL, UniMatch) into the layout mkdlib reads.

    python data_scripts/fetch_splits.py                      # all families, default data folders
    python data_scripts/fetch_splits.py --family u2pl --dest /data/splits

Lists land in ``<dest>/<family>/<pascal|cityscapes>/<file in the family's own naming>``; without
``--dest``, pascal lists go to ``$MKD_DATA_DIR/VOC2012/splits`` and cityscapes lists to
``$MKD_DATA_DIR/cityscapes/splits`` (where ``dataset=voc|vocaug|cityscapes`` look by default;
``MKD_SPLITS_DIR`` points mkdlib at another folder). Offline, the script prints every URL and the
path to put it at, and exits 1.
"""

from __future__ import annotations

import argparse
import sys
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

#: (repository raw root, {(benchmark, local name): path in the repository})
SOURCES: dict[str, tuple[str, dict[tuple[str, str], str]]] = {
    "cps": (
        "https://raw.githubusercontent.com/charlesCXK/TorchSemiSeg/HEAD/DATA/",
        {
            **{
                ("pascal", f"{kind}_labeled_1-{d}.txt"): f"pascal_voc/subset_train_aug/{kind}_labeled_1-{d}.txt"
                for kind in ("pseudoseg", "train_aug")
                for d in (2, 4, 8, 16)
            },
            **{
                (
                    "cityscapes",
                    f"train_aug_labeled_1-{d}.txt",
                ): f"city/config_new/subset_train/train_aug_labeled_1-{d}.txt"
                for d in (2, 4, 8, 16)
            },
        },
    ),
    "u2pl": (
        "https://raw.githubusercontent.com/Haochen-Wang409/U2PL/HEAD/data/splits/",
        {
            **{
                ("pascal", f"{n}/labeled.txt"): f"pascal/{n}/labeled.txt"
                for n in (92, 183, 366, 732, 1464, 662, 1323, 2646, 5291)
            },
            **{("cityscapes", f"{n}/labeled.txt"): f"cityscapes/{n}/labeled.txt" for n in (186, 372, 744, 1488)},
        },
    ),
    "unimatch": (
        "https://raw.githubusercontent.com/LiheYoung/UniMatch/HEAD/splits/",
        {
            **{("pascal", f"{n}/labeled.txt"): f"pascal/{n}/labeled.txt" for n in (92, 183, 366, 732, 1464)},
            **{
                ("pascal", f"{p}1_{d}/labeled.txt"): f"pascal/{p}1_{d}/labeled.txt"
                for p in ("", "u2pl_")
                for d in (2, 4, 8, 16)
            },
            **{("cityscapes", f"1_{d}/labeled.txt"): f"cityscapes/1_{d}/labeled.txt" for d in (2, 4, 8, 16, 30)},
        },
    ),
}


def destination(dest: Path | None, family: str, bench: str) -> Path:
    if dest is not None:
        return dest / family / bench
    from mkdlib.data.real import default_root

    return default_root("cityscapes" if bench == "cityscapes" else "voc") / "splits" / family / bench


def fetch(url: str, timeout: float) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--family", choices=(*SOURCES, "all"), default="all")
    p.add_argument("--dest", type=Path, help="folder for <family>/<benchmark>/... (default: the dataset folders)")
    p.add_argument("--timeout", type=float, default=10.0)
    args = p.parse_args(argv)
    from mkdlib.io import atomic_write_text

    families = list(SOURCES) if args.family == "all" else [args.family]
    failed: list[tuple[str, Path, str]] = []
    done = 0
    for fam in families:
        base, files = SOURCES[fam]
        for (bench, name), remote in files.items():
            target = destination(args.dest, fam, bench) / name
            if target.is_file():
                done += 1
                continue
            url = base + remote
            if failed and "offline" in failed[0][2]:  # one timeout is enough: list the rest
                failed.append((url, target, "offline"))
                continue
            try:
                text = fetch(url, args.timeout).decode()
            except (urllib.error.URLError, TimeoutError, OSError) as e:
                reason = "offline" if not isinstance(e, urllib.error.HTTPError) else f"HTTP {e.code}"
                failed.append((url, target, reason))
                continue
            atomic_write_text(target, text)
            done += 1
    print(f"{done} lists in place")
    if failed:
        print(
            f"{len(failed)} lists could not be downloaded ({failed[0][2]}). On a connected machine, fetch each "
            "URL and save it at the path shown (or copy a checkout of the three repositories' split folders):",
            file=sys.stderr,
        )
        for url, target, _ in failed:
            print(f"  {url}\n    -> {target}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
