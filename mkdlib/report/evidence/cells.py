"""The tables' long frame and its wide layout.

Every table is built as **cells on one long frame** (``source, table, row, metric, value``:
:class:`Cells`) and only then laid out wide (:func:`wide`) and formatted as text
(:mod:`mkdlib.report.tables.display`). The wide frame keeps its cells (as records) in ``attrs["cells"]`` and
each column's (source, metric) in ``attrs["columns"]``, so formatting reads what a number is from
those fields, not from its display text; a table with gains keeps each row's per-seed differences in
``attrs["paired"]`` (``{what: {row: {"differences": [...], "keys": [runs behind them]}}}``), which the
verdicts judge (:func:`mkdlib.report.tables.effects.paired_gain`).
"""

from __future__ import annotations

import math

import pandas as pd

#: Column prefix of every number measured here; the book labels it "built-in dataset".
OURS = "ours (built-in)"
PAPER = "paper"
#: the long frame's sources and how the wide layout labels them ("ours - paper": a difference of gains)
SOURCES = {"ours": OURS, "paper": PAPER, "ours - paper": ""}
LONG_COLUMNS = ["source", "table", "row", "metric", "value"]


def count(n: int, word: str) -> str:
    """ "1 seed", "3 seeds": a count with its noun in the right number."""
    return f"{n} {word}{'' if n == 1 else 's'}"


class Cells:
    """One table's numbers as long records (source, table, row, metric, value), in insertion order."""

    def __init__(self, table: str):
        self.table, self.records = table, []
        self.paired: dict[str, dict] = {}  # what -> row -> per-seed differences (points), their runs' keys

    def add(self, source: str, row, metric: str, value) -> None:
        self.records.append(
            {"source": source, "table": self.table, "row": row, "metric": metric, "value": float(value)}
        )

    def ours(self, summary: pd.DataFrame, rows) -> None:
        """mIoU, sd and seeds (from :func:`mkdlib.report.evidence.store.seed_summary`) of each row; NaN = not yet run."""
        for row in rows:
            for metric, col in (("mIoU", "mean"), ("sd", "sd"), ("seeds", "n")):
                self.add("ours", row, metric, summary[col].get(row, math.nan))

    def series(self, source: str, metric: str) -> pd.Series:
        return pd.Series(
            {r["row"]: r["value"] for r in self.records if r["source"] == source and r["metric"] == metric},
            dtype=float,
        )

    def gains(self, reference, paper_metric: str | None, what: str, runs: pd.DataFrame, by: str) -> None:
        """Gain over the ``reference`` row: ours **paired by seed** (runs with one seed share their
        initialisation and data order, so the gain is the mean of per-seed differences over the seeds
        both rows have; "pairs vs ``what``" counts them), the paper's (``paper_metric``; None: no
        paper column) and their difference. ``runs``: one row per run with ``by``, ``seed``, ``miou``."""
        theirs = self.series("paper", paper_metric) if paper_metric else pd.Series(dtype=float)
        by_seed = runs_by_seed(runs, by)
        for row in list(dict.fromkeys(r["row"] for r in self.records)):
            diff = seed_differences(by_seed, row, reference)
            o = float(diff.mean()) if len(diff) else math.nan
            self.add("ours", row, f"gain vs {what}", o)
            self.add("ours", row, f"pairs vs {what}", len(diff))
            keys = []
            if "key" in runs.columns and len(diff):
                both = runs[runs[by].isin([row, reference]) & runs["seed"].isin(diff.index)]
                keys = sorted(set(both["key"].dropna()))
            self.paired.setdefault(what, {})[row] = {"differences": [float(d) for d in diff], "keys": keys}
            if paper_metric:
                t = theirs.get(row, math.nan) - theirs.get(reference, math.nan)
                self.add("paper", row, f"gain vs {what}", t)
                self.add("ours - paper", row, "difference of gains (ours - paper)", o - t)

    def frame(self) -> pd.DataFrame:
        df = pd.DataFrame(self.records, columns=LONG_COLUMNS)
        if self.paired:
            df.attrs["paired"] = self.paired
        return df


def runs_by_seed(runs: pd.DataFrame, by) -> pd.DataFrame:
    """The runs' mIoU as a table of ``by`` (a column, or columns) x seed: what gains pair from."""
    return runs.dropna(subset=["miou"]).pivot_table(index=by, columns="seed", values="miou")


def seed_differences(by_seed: pd.DataFrame, row, reference) -> pd.Series:
    """``row`` minus ``reference`` at each seed both have (:func:`runs_by_seed`): a gain paired by
    seed, as every gain of the book (runs with one seed share their initialisation and data order)."""
    if row not in by_seed.index or reference not in by_seed.index:
        return pd.Series(dtype=float)
    return (by_seed.loc[row] - by_seed.loc[reference]).dropna()


def _label(source: str, text) -> str:
    return f"{SOURCES[source]} {text}" if SOURCES[source] else str(text)


def wide(cells: pd.DataFrame, index_name: str | None = None, by: str = "row") -> pd.DataFrame:
    """The display layout of one table's long cells. ``by="row"``: a row per ``row``, a column per
    (source, metric) labelled "<source> <metric>"; ``by="metric"`` (Table 1): a row per (source,
    row) labelled "<source>: <row>", a column per metric (the label fractions)."""
    if by == "row":
        rows = list(dict.fromkeys(cells["row"]))
        cols = [_label(s, m) for s, m in zip(cells["source"], cells["metric"])]
        kinds, attr = dict(zip(cols, zip(cells["source"], cells["metric"]))), "columns"
        pairs = zip(cells["row"], cols)
    elif by == "metric":
        labels = [f"{SOURCES[s]}: {r}" if SOURCES[s] else str(r) for s, r in zip(cells["source"], cells["row"])]
        rows, cols = list(dict.fromkeys(labels)), list(cells["metric"])
        kinds, attr = dict(zip(labels, zip(cells["source"], cells["row"]))), "rows"
        pairs = zip(labels, cols)
    else:
        raise ValueError(f"by must be 'row' or 'metric', got {by!r}")
    df = pd.DataFrame(math.nan, index=rows, columns=list(dict.fromkeys(cols)), dtype=float)
    for (r, c), v in zip(pairs, cells["value"]):
        df.at[r, c] = v
    df.index.name = index_name
    df.attrs = {"cells": cells.to_dict("records"), attr: kinds}  # plain records: attrs are copied and compared
    if "paired" in cells.attrs:
        df.attrs["paired"] = cells.attrs["paired"]
    return df
