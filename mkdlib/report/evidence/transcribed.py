"""The paper's published numbers (Tables 1-5), as transcribed.

``paper_results.yaml`` is a verbatim copy of the figures transcribed from the paper (mIoU %,
PASCAL VOC / Cityscapes); these functions read it and derive what the book quotes from it (split
sizes, MKD's gains). Nothing here reads the results store.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import pandas as pd
import yaml

PAPER_RESULTS_PATH = Path(__file__).with_name("paper_results.yaml")
FRACTIONS = ("1/16", "1/8", "1/4", "1/2", "full")


@lru_cache(maxsize=1)
def load_paper() -> dict:
    """All transcribed tables, keyed as in the YAML (``table1_voc_classic`` ... ``table5_beta``)."""
    return yaml.safe_load(PAPER_RESULTS_PATH.read_text())


def paper_table(name: str) -> pd.DataFrame:
    """One of the paper's tables as a DataFrame (mIoU %; NaN where the paper has no entry)."""
    tables = load_paper()
    if name not in tables:
        raise KeyError(f"paper table {name!r} is not in {PAPER_RESULTS_PATH.name}; tables: {', '.join(tables)}")
    t = tables[name]
    rows = t["rows"]
    if isinstance(rows, dict):
        return pd.DataFrame.from_dict(rows, orient="index", columns=t["columns"]).astype(float)
    return pd.DataFrame(rows, columns=t["columns"])


def split_sizes() -> pd.DataFrame:
    """Labeled images per fraction in the paper's protocols, read from its column headers
    (``"1/16 (92)"``): VOC 2012 classic (1,464), VOCAug (10,582) and Cityscapes (2,975)."""

    def sizes(table: str, prefix: str = "") -> dict:
        out = {}
        for col in paper_table(table).columns:
            m = re.fullmatch(rf"{prefix}(\S+) \((\d+)\)", col)
            if m:
                out[m.group(1).lower()] = int(m.group(2))
        return out

    df = pd.DataFrame(
        {
            "VOC 2012 classic (1,464)": sizes("table1_voc_classic"),
            "VOCAug blended (10,582)": sizes("table2_vocaug", "R50 "),
            "Cityscapes (2,975)": sizes("table2_cityscapes", "R50 "),
        }
    )
    return df.reindex(list(FRACTIONS)).astype("Int64")


def paper_mkd_gains() -> pd.DataFrame:
    """The paper's MKD gain in every column of Table 2 (VOCAug with CPS's splits, Cityscapes; R50,
    R101; 1/16 ... 1/2), over CPS and over CPS w/ CutMix, the fair reference for an MKD that
    trains with CutMix. Long format: one row per (dataset, backbone, labels)."""
    rows = []
    for dataset, name in (("VOCAug", "table2_vocaug"), ("Cityscapes", "table2_cityscapes")):
        t = paper_table(name)
        for col in t.columns:
            backbone, labels = re.fullmatch(r"(R\d+) (.+)", col).groups()
            mkd, cps, cut = (t.loc[r, col] for r in ("MKD", "CPS", "CPS-with-CutMix"))
            rows.append(
                {
                    "dataset": dataset,
                    "backbone": backbone,
                    "labels": labels,
                    "MKD": mkd,
                    "CPS": cps,
                    "CPS w/ CutMix": cut,
                    "MKD gain vs CPS w/ CutMix (fair)": mkd - cut,
                    "MKD gain vs CPS (no CutMix)": mkd - cps,
                }
            )
    return pd.DataFrame(rows).set_index(["dataset", "backbone", "labels"])
