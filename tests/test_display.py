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


def test_compact_table_keeps_cells_on_one_line_but_the_wrapped_columns_and_merges_header_groups():
    """The intro's compact tables (issue 23: caveats, verdict and claims on the first two screens),
    drawn by a pandas Styler: only the named columns wrap, a missing cell reads "—", two-level
    headers merge their groups, the row labels' name sits in the header's corner."""
    import re

    from mkdlib.report.tables.display import compact_table

    df = pd.DataFrame({"claim": ["MKD beats CPS with CutMix", "beta 1.0 beats beta 0"], "ours": [1.5, np.nan]})
    html = compact_table(df, wrap={"claim": "14em"}, index=False)._repr_html_()
    cells = re.findall(r'<td id="(T_\w+)" class="data [^"]*" >([^<]*)</td>', html)
    assert [t for _, t in cells] == ["MKD beats CPS with CutMix", "1.5", "beta 1.0 beats beta 0", "—"]
    wrapped = re.search(r"(#T_\w+(?:, #T_\w+)*) \{\s*white-space: normal;\s*min-width: 14em;", html)
    assert wrapped and set(wrapped[1].replace("#", "").split(", ")) == {i for i, t in cells if t[0] in "Mb"}
    assert re.search(r"#T_\w+ td \{[^}]*white-space: nowrap;", html)  # every other cell on one line
    # ... and a wrapped column's rule outranks that one (a cell's own id rule alone does not: id < id + tag)
    assert re.search(r"#T_\w+ td\.col0 \{\s*white-space: normal;", html) and "td.col1" not in html
    assert "nan" not in html.lower() and "row_heading" not in html  # index=False: no row labels
    assert "data-mkd-within-screens" not in html and "—: no value" in html  # a missing cell: the note
    assert 'data-mkd-within-screens="2"' in compact_table(df, within_screens=2)._repr_html_()  # the browser check's

    wide = pd.DataFrame(
        [["45.6 ± 1.2", 3, "66.77"]],
        index=pd.Index(["MKD"], name="method"),
        columns=pd.MultiIndex.from_tuples([("ours", "mIoU ± sd"), ("ours", "seeds"), ("paper", "VOCAug")]),
    )
    html = compact_table(wide)._repr_html_()
    assert re.search(r'colspan="2">ours</th>', html) and html.count("<tr>") == 3  # 2 header rows, 1 body row
    assert re.search(r'class="index_name level1" >method</th>', html) and re.search(r">MKD</th>", html)
    assert wide.index.name == "method" and "table-note" not in html  # the caller's frame kept; nothing missing


def test_caveats_box_sets_ours_beside_the_papers_regime_from_the_config_and_the_store():
    from booktools import caveats
    from mkdlib.config import DEFAULT_CONFIG, base_config, resolve

    cfg = resolve(base_config())
    rows = caveats.regime_caveats()
    assert [t for t, _, _ in rows] == ["data", "encoder", "training", "convergence", "departures", "what it can say"]
    from booktools.departures import departures_table

    fields = departures_table()["field"].unique()
    assert f"in {len(fields)} settings" in dict((t, h) for t, h, _ in rows)["departures"]  # counted, not typed
    here = dict((t, h) for t, h, _ in rows)
    assert f"{cfg.iters:,} iterations" in here["training"] and DEFAULT_CONFIG.name in here["training"]
    assert cfg.encoder in here["encoder"] and "80 %" in here["encoder"]
    html = caveats.caveats_html()
    assert html.count("<tr>") == 1 + len(rows) and "the paper" in html and "SGD + poly" in html
    assert 'colspan="2"' in html  # ours alone: convergence, what it can say
    assert html.startswith('<div class="admonition important" data-mkd-within-screens="2">')  # on the first screens


def test_folded_puts_a_long_table_in_a_closed_fold_under_its_summary():
    from mkdlib.report.tables.display import folded

    table = "<table><tr><td>python -m mkdlib train --config a.yaml</td></tr></table>"
    shown = folded(table, "headline: 21 configs, 17 stored")
    html = shown._repr_html_()
    assert html.startswith('<details class="mkd-fold"><summary>headline: 21 configs, 17 stored</summary>')
    assert table in html and html.endswith("</details>") and "<details open" not in html
    assert repr(shown) == "headline: 21 configs, 17 stored"
    assert "&lt;" in folded("", "a < b")._repr_html_()  # the summary is text, escaped


def test_claims_views_split_a_claims_table_and_the_brief_one_keeps_the_judged_rows(tmp_path):
    """claims_view: verdict and details parts of every row; claims_brief (the opening page): the
    judged rows only, the paper's table beside its effect, short verdict words, ‡ on a step whose
    reference scores below supervised; claims_sources: each setting once with its tables."""
    from mkdlib.report.evidence import stats
    from mkdlib.report.evidence.claims import POOLED_SD_TAG
    from mkdlib.report.tables.display import claims_brief, claims_sources, claims_view

    table = pd.DataFrame(
        {
            "claim": ["MKD beats CPS", "+ MT beats co-training alone", "gamma 0.2 beats gamma 0"],
            "paper source": ["Table 1, VOC R50 1/16", "Table 3, VOCAug R50 1/16", "Table 4, VOCAug R50 1/16"],
            "paper effect": [1.28, 0.03, 0.27],
            "ours": [-0.9, 4.2, 12.6],
            "95% interval": ["[-4.0, +2.1]", "[-8.6, +17.0]", f"[+1.0, +24.0] {POOLED_SD_TAG}"],
            "pairs": [3, 3, 1],
            "detectable effect": [4.1, 16.0, np.nan],
            "p (Holm)": [0.5, 1.0, np.nan],
            "verdict": [stats.SMALLER, stats.INCONCLUSIVE, stats.EXPLORATORY],
            "scored on": ["test set", "validation set", "validation set"],
            "reference below supervised": [False, True, False],
        }
    )
    verdict, details = claims_view(table)
    assert len(verdict) == len(details) == 3 and "p (Holm)" in verdict and "scored on" in details
    assert verdict["ours [95 % interval]"].iloc[2].endswith("†")  # one pair: the pooled spread's interval
    brief = claims_brief(table)
    assert list(brief["claim"]) == ["MKD beats CPS", "+ MT beats co-training alone"]  # no exploratory row
    assert list(brief["paper"]) == ["+1.28 (T1)", "+0.03 (T3)"]
    assert list(brief["verdict"]) == ["smaller", stats.INCONCLUSIVE + " ‡"]
    assert "p (Holm)" not in brief
    assert claims_sources(table) == "T1: VOC R50 1/16; T3, T4: VOCAug R50 1/16"
