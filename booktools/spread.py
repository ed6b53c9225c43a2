"""The decisive headline's power calculation, its assumption checked as the runs land: the book's
view (the Table 2 page), read from the store through :mod:`mkdlib.report`."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from mkdlib.experiments import as_stored
from mkdlib.report.evidence import stats
from mkdlib.report.evidence.claims import _store, pairs
from mkdlib.report.tables.effects import HEADLINE_PAIRS, headline_pairs, headline_pairs_paper


def spread_check(root: str | Path | None = None, seeds: int = 12) -> pd.DataFrame:
    """The power calculation's assumption, checked as the decisive headline's runs land: per
    comparison of :data:`HEADLINE_PAIRS`, the spread (sd) of its per-seed test differences so far
    (each seed its own labeled split) beside the spread the superseded headline measured on one split
    (what the calculation written before the runs used), and what ``seeds`` pairs detect at the spread
    so far (80 % power) and the pairs the paper's effect needs to be told from 0. Spreads from fewer
    than 3 pairs are left blank."""
    store, found = _store(root), headline_pairs(root).dropna(subset=["difference"])
    rows = []
    for label, a, b, _ in HEADLINE_PAIRS:
        d = found.loc[found["comparison"] == label, "difference"]
        old = [x["score"] - y["score"] for x, y in pairs(store, as_stored(dict(method=a)), as_stored(dict(method=b)))]
        sd = float(d.std(ddof=1)) if len(d) >= stats.MIN_PAIRS else math.nan
        paper = headline_pairs_paper(label)
        rows.append(
            {
                "comparison": label,
                "pairs so far": len(d),
                "sd so far (test, own splits)": sd,
                "sd superseded (validation, one split)": float(pd.Series(old).std(ddof=1))
                if len(old) >= 2
                else math.nan,
                f"detectable with {seeds} pairs": stats.detectable_effect(sd, seeds) if math.isfinite(sd) else math.nan,
                "paper effect": paper,
                "pairs to tell the paper's effect from 0": stats.seeds_needed(sd, paper)
                if math.isfinite(sd) and math.isfinite(paper)
                else None,
            }
        )
    t = pd.DataFrame(rows)
    t["pairs to tell the paper's effect from 0"] = t["pairs to tell the paper's effect from 0"].astype("Int64")
    return t
