"""Tables as the book shows them: a missing cell reads "—" with a note on what it means, never
pandas' NaN / <NA> / None (issue 23); numbers keep pandas' own formatting."""

from __future__ import annotations

import numpy as np
import pandas as pd


def test_dashed_shows_every_kind_of_missing_cell_as_a_dash_with_its_note():
    from mkdlib.report import paper

    df = pd.DataFrame(
        {
            "mIoU": [61.25, np.nan, 40.5],
            "seeds": pd.array([3, None, 1], dtype="Int64"),
            "verdict": ["holds", None, "collapsed"],
            "runs": np.array(["k1", None, "k3"], dtype=object),
        },
        index=["a", "b", "c"],
    )
    df["runs"] = pd.Series(["k1", None, "k3"], index=df.index, dtype=object)  # pandas writes "None" for it
    table = paper.dashed(df, note="—: not run yet")
    html, text = table._repr_html_(), repr(table)
    for raw in ("NaN", "&lt;NA&gt;", "<NA>", "None", "nan"):
        assert raw not in html and raw not in text, raw
    assert html.count("<td>—</td>") == 4 and "—: not run yet" in html and text.endswith("—: not run yet")
    assert "<td>61.25</td>" in html and "<td>40.50</td>" in html  # pandas' formatting of the column
    assert df["seeds"].dtype == "Int64" and df.isna().sum().sum() == 4  # the caller's frame is untouched
    full = paper.dashed(df.dropna())
    assert "—" not in full._repr_html_() and "—" not in repr(full)  # no missing cell: no note
