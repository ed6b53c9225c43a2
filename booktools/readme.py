"""The README's results blocks: each grid's runs summarised from the book's results store (the
repository's ``results/``, :func:`booktools.book_store`), matched by the book's one rule
(:func:`mkdlib.report.evidence.store.stored_key`), and written between the README's
``<!-- results:<grid> -->`` markers (a test checks that they equal the store's summary).

    python -m booktools.readme calibration headline          # print the grids' tables
    python -m booktools.readme calibration headline --update # write them into README.md
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

from booktools import departures
from mkdlib.config import make_config, resolve
from mkdlib.experiments import grid_configs, legacy_note, setting_label
from mkdlib.io import atomic_write_text
from mkdlib.report.evidence.store import seed_free_key, stored_key, stored_result

from . import REPO, book_store

README = REPO / "README.md"
PAPER_VS_CODE = REPO / "book" / "paper-vs-code.md"
BENCHMARK = REPO / "docs" / "benchmark.md"
#: the cost aims of docs/benchmark.md: minutes of one MKD run at the default length, CPU-hours of a
#: full recompute of every grid
AIM_RUN_MINUTES, AIM_RECOMPUTE_HOURS = 20, 8


def _aim(value: float, aim: float) -> str:
    return f"the aim of <= {aim} is {'met' if value <= aim else 'missed'}"


def cost_markdown(root: str | Path | None = None) -> str:
    """The cost paragraph, read from the store (never typed): the wall time of the stored one-thread
    MKD runs at the default length, a full recompute's CPU-hours (the experiment index's estimate)
    and the MKD run of the ``short_schedule`` grid, each against its aim."""
    from booktools.experiment_index import grid_index
    from mkdlib.experiments import SHORT_SCHEDULE_ITERS, grid, train_config
    from mkdlib.report.evidence.provenance import run_time
    from mkdlib.report.evidence.store import snapshot
    from mkdlib.results import provenance

    root = book_store() if root is None else root
    iters = train_config().iters
    minutes = sorted(
        r["wall_time_s"] / 60
        for r in snapshot(root).results.values()
        if r["config"].get("method") == "mkd"
        and r["config"].get("iters") == iters
        and provenance(r)["torch_threads"] == 1
    )
    if minutes:
        median = statistics.median(minutes)
        run = (
            f"a one-thread MKD run took {median:.1f} minutes (median of {len(minutes)} stored `mkd` runs, "
            f"{minutes[0]:.1f} to {minutes[-1]:.1f}; {_aim(median, AIM_RUN_MINUTES)})"
        )
    else:
        run = "no one-thread MKD run is stored yet"
    hours = grid_index(root)["CPU minutes (estimate)"].sum(min_count=1) / 60
    recompute = (
        "nothing is stored yet to estimate a full recompute from"
        if hours != hours
        else f"a full recompute of every grid is about {hours:.1f} CPU-hours at the stored runs' cost per "
        f"iteration ({_aim(hours, AIM_RECOMPUTE_HOURS)})"
    )
    short = next(c for c in grid("short_schedule") if c.method == "mkd")
    return (
        "**Cost**, read from the results store (wall time as each run was made; how many runs shared the "
        f"machine is not recorded): at the default {iters:,} iterations {run}, and {recompute}. The MKD run at "
        f"{SHORT_SCHEDULE_ITERS:,} iterations (grid `short_schedule`): {run_time(short, root)}."
    )


def verdict_markdown(root: str | Path | None = None) -> str:
    """The book's verdict (:func:`mkdlib.report.tables.effects.verdict`): the decisive headline's
    once it is complete, until then where it stands and the superseded headline's."""
    from mkdlib.report.tables.effects import verdict

    return verdict(book_store() if root is None else root)


#: generated blocks that are no grid's results: name -> (the text's maker, a function of the store; the
#: files that carry it)
TEXT_BLOCKS = {
    "departures": (departures.departures_markdown, (README, PAPER_VS_CODE)),
    "sources": (departures.sources_markdown, (PAPER_VS_CODE,)),
    "cost": (cost_markdown, (README, BENCHMARK)),
    "verdict": (verdict_markdown, (README,)),
}


def summary_rows(name: str, root: str | Path | None = None) -> list[dict]:
    """One row per config of a grid with its seeds pooled: what ran, labels, seeds stored / planned,
    final mIoU mean and sd (%), CPU minutes per run. Read from the results store at ``root``
    (default: :func:`booktools.book_store`), never typed."""
    root = book_store() if root is None else root
    groups: dict[str, dict] = {}
    for cfg in grid_configs([name]):
        g = groups.setdefault(
            seed_free_key(resolve(make_config(cfg, seed=0))),
            {
                "run": cfg.run_name(),
                "labels": cfg.split,
                "setting": "; ".join(x for x in (_without_protocol(cfg, setting_label(cfg)), legacy_note(cfg)) if x),
                "test": bool(cfg.test_images),
                "planned": 0,
                "miou": [],
                "minutes": [],
            },
        )
        g["planned"] += 1
        key = stored_key(cfg, root)
        if key is not None:
            r = stored_result(key, root)
            g["miou"].append(100 * (r["test"] if cfg.test_images and "test" in r else r["final"])["miou"])
            g["minutes"].append(r["wall_time_s"] / 60)
    rows = []
    for g in groups.values():
        m = g.pop("miou")
        rows.append(
            {
                **g,
                "seeds": len(m),
                "miou_mean": statistics.fmean(m) if m else None,
                "miou_sd": statistics.stdev(m) if len(m) > 1 else None,
                "minutes": statistics.fmean(g.pop("minutes")) if m else None,
            }
        )
    return rows


#: the fields that set the decisive headline's protocol (each seed its own labeled split, the held-out
#: test set): a grid scored on the test set says so in its header, not in every row's setting
PROTOCOL_FIELDS = ("split_seed", "test_images")


def _without_protocol(cfg, setting: str) -> str:
    """``setting`` without the protocol's fields when ``cfg`` is scored on the held-out test set."""
    if not cfg.test_images:
        return setting
    return ", ".join(x for x in setting.split(", ") if x and x.split("=", 1)[0] not in PROTOCOL_FIELDS)


def summary_markdown(name: str, root: str | Path | None = None) -> str:
    """:func:`summary_rows` as a markdown table (the README's results block is this text); a text
    block (:data:`TEXT_BLOCKS`) is its maker's text. A grid scored on the held-out test set reads
    "test mIoU" (its runs' final models on the test set), any other "final mIoU" (validation)."""
    if name in TEXT_BLOCKS:
        return TEXT_BLOCKS[name][0](book_store() if root is None else root)
    rows = summary_rows(name, root)
    scored = "test" if rows and all(r["test"] for r in rows) else "final"
    lines = [f"| run | labels | setting | {scored} mIoU (%) | seeds | CPU min / run |", "|---|---|---|---|---|---|"]
    for r in rows:
        miou = (
            "not run yet"
            if r["miou_mean"] is None
            else (f"{r['miou_mean']:.1f}" + (f" ± {r['miou_sd']:.1f}" if r["miou_sd"] is not None else ""))
        )
        minutes = "" if r["minutes"] is None else f"{r['minutes']:.1f}"
        setting = f"`{r['setting']}`" if r["setting"] else "default"
        lines.append(f"| {r['run']} | {r['labels']} | {setting} | {miou} | {r['seeds']}/{r['planned']} | {minutes} |")
    return "\n".join(lines)


def readme_block(name: str, text: str | None = None, path: Path = README) -> str:
    """The generated block ``name`` of the README (or of ``path``), between its two markers."""
    text = path.read_text() if text is None else text
    start, end = f"<!-- results:{name} -->", f"<!-- /results:{name} -->"
    if start not in text or end not in text:
        raise KeyError(f"{path.name} has no block {start} ... {end}")
    return text.split(start, 1)[1].split(end, 1)[0].strip("\n")


def block_files(name: str) -> tuple[Path, ...]:
    """The files that carry block ``name``: the README, and for a text block its other pages."""
    return TEXT_BLOCKS[name][1] if name in TEXT_BLOCKS else (README,)


def blocks_in(path: Path) -> list[str]:
    """The names of the generated blocks ``path`` carries (its ``<!-- results:<name> -->`` markers)."""
    import re

    return re.findall(r"<!-- results:(\w+) -->", path.read_text())


def update_readme(name: str) -> None:
    """Write the block's text (numbers read from the store) into every file that carries it."""
    body = summary_markdown(name)
    for path in block_files(name):
        text = path.read_text()
        readme_block(name, text, path)  # both markers are there
        start, end = f"<!-- results:{name} -->", f"<!-- /results:{name} -->"
        head, rest = text.split(start, 1)
        atomic_write_text(path, f"{head}{start}\n{body}\n{end}{rest.split(end, 1)[1]}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m booktools.readme", description=__doc__)
    p.add_argument("grids", nargs="*", default=["calibration"])
    p.add_argument("--update", action="store_true", help="write the tables into README.md's blocks")
    args = p.parse_args(argv)
    try:
        for g in args.grids:
            if args.update:
                update_readme(g)
            else:
                print(f"{g}:\n{summary_markdown(g)}\n")
    except KeyError as e:
        print(f"error: {e.args[0]}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
