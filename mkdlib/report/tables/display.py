"""The tables as the book shows them: numbers as text ("not yet run", "—", signed gains), our mean
and sd in one cell, two short header rows, and the paper's Table 3 abbreviations."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..evidence.cells import OURS, PAPER, SOURCES

#: the paper's Table 3 abbreviations (MT: mean teacher, SDA / FDA: strong / feature augmentation)
SHORT = (
    ("co-training + ", "+ "),
    ("mutual mean teacher", "mutual MT"),
    ("mean teacher", "MT"),
    ("strong aug", "SDA"),
    ("feature aug", "FDA"),
)


def short_label(label: str) -> str:
    """A Table 3 row label in the paper's abbreviations: "co-training + strong aug" -> "+ SDA"."""
    if not isinstance(label, str) or not label.startswith("co-training"):
        return label
    for old, new in SHORT:
        label = label.replace(old, new)
    return label


def for_display(df: pd.DataFrame, digits: int = 2) -> pd.DataFrame:
    """Numbers as text: our missing runs read "not yet run"; the paper's gaps, one-seed standard
    deviations and cells no experiment grid plans (``df.attrs["not_in_grid"]``) read "—"; gains and
    differences carry a sign; text cells are kept."""
    out = df.copy().astype(object)
    not_in_grid = set(df.attrs.get("not_in_grid", ()))
    for idx in df.index:
        for col in df.columns:
            v = df.at[idx, col]
            if isinstance(v, str):  # a label (e.g. a verdict) stays as it is
                continue
            source, quantity = cell_kind(df, idx, col)
            if (idx, col) in not_in_grid:
                out.at[idx, col] = "—"
            elif isinstance(v, float) and math.isnan(v):
                out.at[idx, col] = "not yet run" if source == "ours" and quantity != "sd" else "—"
            elif quantity in ("seeds", "pairs") or quantity.startswith("pairs vs "):
                out.at[idx, col] = f"{int(v)}"
            elif source == "ours - paper" or quantity.startswith("gain") or " gain vs " in quantity:
                out.at[idx, col] = f"{v:+.{digits}f}"
            else:
                out.at[idx, col] = f"{v:.{digits}f}"
    return out


def cell_kind(df: pd.DataFrame, idx, col) -> tuple[str, str]:
    """(source, quantity) of a cell of a wide table: from the layout's ``attrs`` (:func:`wide`);
    for a frame built by hand, from a column label "<source> <quantity>" ("ours (built-in) gain")."""
    if col in df.attrs.get("columns", {}):
        return df.attrs["columns"][col]
    if idx in df.attrs.get("rows", {}):
        return df.attrs["rows"][idx]
    text = str(col)
    for source, shown in SOURCES.items():
        if shown and text.startswith(shown + " "):
            return source, text[len(shown) + 1 :]
    return ("ours - paper" if text.startswith("difference") else ""), text


def flat_index(df: pd.DataFrame) -> pd.DataFrame:
    """One row label per row ("VOCAug R50 1/16 (662)") instead of a sparse multi-level index."""
    out = df.copy()
    if isinstance(out.index, pd.MultiIndex):
        out.index = [" ".join(str(v) for v in t) for t in out.index]
    return out


def compact(shown: pd.DataFrame) -> pd.DataFrame:
    """Our mean and sd in one column, "24.22 ± 0.79" (``shown``: :func:`for_display` output; a
    one-seed sd "—" leaves the mean alone)."""
    mean, sd = f"{OURS} mIoU", f"{OURS} sd"
    if mean not in shown.columns or sd not in shown.columns:
        return shown
    out = shown.copy()
    out[mean] = [m if s_ in ("—", "") or m == "not yet run" else f"{m} ± {s_}" for m, s_ in zip(out[mean], out[sd])]
    out = out.drop(columns=sd).rename(columns={mean: f"{OURS} mIoU ± sd"})
    out.attrs = {
        **shown.attrs,
        "columns": {**shown.attrs.get("columns", {}), f"{OURS} mIoU ± sd": ("ours", "mIoU ± sd")},
    }
    return out


def table_view(df: pd.DataFrame, digits: int = 2) -> pd.DataFrame:
    """A results table as the book shows it: :func:`for_display`, then :func:`compact`, then
    :func:`tidy` (two short header rows instead of one long one)."""
    return tidy(compact(for_display(df, digits)))


def tidy(df: pd.DataFrame) -> pd.DataFrame:
    """Columns grouped under two header rows ("ours (built-in)", "paper", ...) so that each header
    cell is short: "ours (built-in) mIoU" becomes ("ours (built-in)", "mIoU")."""

    def split(col) -> tuple[str, str]:
        source, quantity = cell_kind(df, None, col)
        if source in ("ours", "paper"):
            return SOURCES[source], quantity.replace(" R50 1/16", "")
        return "", str(col)

    out = df.copy()
    if not isinstance(out.columns, pd.MultiIndex):
        groups = [split(c) for c in out.columns]
        order = sorted(range(len(groups)), key=lambda i: {OURS: 0, PAPER: 1}.get(groups[i][0], 2))  # stable
        out = out.iloc[:, order]
        out.columns = pd.MultiIndex.from_tuples([groups[i] for i in order])
    return out


#: what a dash stands for in a table with missing cells, said under the table
MISSING_NOTE = "—: no value (a run not stored yet, or a quantity that does not apply to the row)"


class DashedTable:
    """A frame as the book shows it when some cells have no value: each missing cell (NaN,
    ``<NA>``, None) reads "—" instead of pandas' NaN / <NA>, numbers keep pandas' own formatting,
    and a one-line note under the table says what the dash means."""

    def __init__(self, df: pd.DataFrame, note: str | None = None, mark: str = "—"):
        df = df.copy()
        for col in range(df.shape[1]):  # pandas writes <NA> (Int64) and None (object) whatever na_rep says
            s = df.iloc[:, col]
            if (s.dtype == object or isinstance(s.dtype, pd.api.extensions.ExtensionDtype)) and s.isna().any():
                df.isetitem(col, s.astype(object).where(s.notna(), np.nan))
        self.df, self.mark = df, mark
        self.note = note if note is not None else MISSING_NOTE
        self.has_missing = bool(df.isna().to_numpy().any())

    def _repr_html_(self) -> str:
        html = self.df.to_html(
            na_rep=self.mark,
            notebook=True,
            max_rows=pd.get_option("display.max_rows"),
            max_cols=pd.get_option("display.max_columns"),
            show_dimensions=pd.get_option("display.show_dimensions") is True,
        )
        return html + (f'<p class="table-note"><small>{self.note}</small></p>' if self.has_missing else "")

    def __repr__(self) -> str:
        text = self.df.to_string(na_rep=self.mark)
        return text + (f"\n{self.note}" if self.has_missing else "")


def dashed(df: pd.DataFrame, note: str | None = None) -> DashedTable:
    """``df`` for ``display()`` with missing cells as "—" and a note on what they mean (``note``;
    default :data:`MISSING_NOTE`); the note is left out when no cell is missing."""
    return DashedTable(df, note)


#: the font size of a compact table (the intro's: caveats, verdict and claims on the first two screens)
COMPACT_FONT = "0.82em"


class CompactTable(DashedTable):
    """A :class:`DashedTable` set smaller and tighter by a pandas Styler, with the columns in ``wrap``
    allowed to wrap (every other cell stays on one line), each at least as wide as ``wrap`` says
    ({column: CSS width}, or a sequence of columns: 10em each): a table that must fit the first
    screens of a page without a horizontal scrollbar. ``index=False`` leaves the row labels out (a
    column says what a row is). ``within_screens``: the browser check fails the page when the table
    ends below its first that many screens (``data-mkd-within-screens``)."""

    def __init__(self, df, note=None, wrap=(), index=True, font=COMPACT_FONT, within_screens=None):
        super().__init__(df, note)
        wrap = dict(wrap) if isinstance(wrap, dict) else {c: "10em" for c in wrap}
        self.wrap = {c: w for c, w in wrap.items() if c in self.df.columns}  # a column the table lacks: nothing to wrap
        self.index, self.font, self.within_screens = index, font, within_screens

    def styler(self):
        """The table as a pandas Styler: cells as ``str`` gives them, a missing one as the mark; the
        row labels' name on the last header row (one header row per column level)."""
        df = self.df.copy()
        if self.index and df.index.name:  # in the header's corner, not on a header row of its own
            df.columns = df.columns.set_names([*df.columns.names[:-1], df.index.name])
            df.index.name = None
        within = f' data-mkd-within-screens="{self.within_screens}"' if self.within_screens else ""
        s = df.style.format(str, na_rep=self.mark, escape="html").set_table_attributes(
            f'class="dataframe mkd-compact"{within} style="font-size:{self.font};margin:0;"'
        )
        cell = "padding:2px 4px;line-height:1.3;text-align:left;"
        s = s.set_table_styles(
            [
                {"selector": "td", "props": cell + "white-space:nowrap;"},
                {"selector": "th", "props": cell + "white-space:normal;min-width:0;"},
            ]
        )
        for col, width in self.wrap.items():
            s = s.set_properties(subset=[col], **{"white-space": "normal", "min-width": width})
        if self.wrap:  # "#T_x td.colN" outranks "#T_x td" above: a cell's own id rule ("#T_x_row0_colN") does not
            s = s.set_table_styles(
                {col: [{"selector": "td", "props": "white-space:normal;"}] for col in self.wrap}, overwrite=False
            )
        return s if self.index else s.hide(axis="index")

    def _repr_html_(self) -> str:
        note = f'<p class="table-note" style="margin:2px 0 0 0;"><small>{self.note}</small></p>'
        return self.styler().to_html() + (note if self.has_missing else "")


def compact_table(df, note=None, wrap=(), index=True, within_screens=None) -> CompactTable:
    """``df`` for ``display()`` as a :class:`CompactTable`."""
    return CompactTable(df, note, wrap=wrap, index=index, within_screens=within_screens)


class Folded:
    """HTML (a long table) folded in a closed ``<details>`` under a one-line summary that says what
    it holds: the page stays scannable, the table is one click away (issue 23: long tables behind
    dropdowns). Its text form is the summary."""

    def __init__(self, html: str, summary: str):
        self.html, self.summary = html, summary

    def _repr_html_(self) -> str:
        import html as _html

        return f'<details class="mkd-fold"><summary>{_html.escape(self.summary)}</summary>{self.html}</details>'

    def __repr__(self) -> str:
        return self.summary


def folded(html: str, summary: str) -> Folded:
    """``html`` for ``display()`` folded under ``summary`` (:class:`Folded`)."""
    return Folded(html, summary)


def claims_view(table: pd.DataFrame, label: str = "claim") -> tuple[pd.DataFrame, pd.DataFrame]:
    """A claims-like table (:func:`mkdlib.report.evidence.claims.claims_table`, ``findings_table``,
    ``superseded_table``) in two parts that each fit the text column: the verdict (``label``, the
    paper's effect, ours with its interval, pairs, detectable effect, Holm's p, verdict) and the
    details (source, protocol, collapsed runs, reference below supervised, threads, the command)."""

    def num(values, fmt: str) -> list[str]:
        return ["—" if pd.isna(v) else format(v, fmt) for v in values]

    verdict = pd.DataFrame({label: table[label]})
    if "paper effect" in table:
        verdict["paper"] = num(table["paper effect"], "+.2f")
    from ..evidence.claims import POOLED_SD_TAG

    verdict["ours [95 % interval]"] = [  # †: one pair, its interval from the pooled spread (say so in the note)
        "—" if pd.isna(v) else f"{v:+.1f} {i.replace(POOLED_SD_TAG, '†')}".strip()
        for v, i in zip(table["ours"], table["95% interval"])
    ]
    verdict["pairs"] = table["pairs"]
    verdict["detect\u00adable"] = num(table["detectable effect"], ".1f")  # soft hyphen: a narrow column
    verdict["p (Holm)"] = num(table["p (Holm)"], ".3f")
    verdict["verdict"] = table["verdict"]
    kept = ("paper source", "scored on", "threads", "reference below supervised", "collapsed runs", "command")
    details = table[[label, *(c for c in kept if c in table)]].replace("", np.nan)
    return verdict, details


def claims_brief(table: pd.DataFrame) -> pd.DataFrame:
    """The claims table as the opening page shows it (:func:`claims_view`'s verdict part, shorter):
    the judged rows only (the exploratory ones, one pair each, stay in the tables chapter), short
    claim labels, the paper's effect with its table ("T2"), the verdict's short word, and ‡ where
    the step's reference scores below supervised training."""
    from ..evidence import stats

    judged = table[table["verdict"] != stats.EXPLORATORY]
    view, _ = claims_view(judged)
    tags = [source.split(", ", 1)[0].replace("Table ", "T") for source in judged["paper source"]]
    view["claim"] = [short_label(c).replace("to co-training + ", "to + ") for c in judged["claim"]]
    view["paper"] = [f"{p} ({t})" for p, t in zip(view["paper"], tags)]
    brief = {stats.SMALLER: "smaller", stats.LARGER: "larger"}  # than the paper's (the page's key says so)
    view["verdict"] = [
        brief.get(v, v) + (" ‡" if below else "")
        for v, below in zip(judged["verdict"], judged["reference below supervised"])
    ]
    return view.drop(columns="p (Holm)").reset_index(drop=True)


def claims_sources(table: pd.DataFrame) -> str:
    """Where the claims' paper effects come from, each setting once with its tables: "T2: VOCAug
    R50 1/16; T3, T4, T5: ..." (the key under :func:`claims_brief`)."""
    where: dict[str, list[str]] = {}
    for source in table["paper source"]:
        tag, rest = source.split(", ", 1)
        where.setdefault(rest, []).append(tag.replace("Table ", "T"))
    return "; ".join(f"{', '.join(dict.fromkeys(tags))}: {rest}" for rest, tags in where.items())


def claim_commands_view(root=None) -> Folded:
    """The command that makes each claim's runs again (:func:`mkdlib.report.evidence.rerun.claim_commands`),
    one row per claim of the claims table, folded under a line that says so."""
    from ..evidence.claims import claims
    from ..evidence.rerun import claim_commands

    df = pd.DataFrame({"claim": [c.claim for c in claims()], "command": claim_commands(root)})
    table = compact_table(df, wrap={"claim": "12em", "command": "30em"}, index=False)
    return folded(table._repr_html_(), f"The commands that make each claim's runs again ({len(df)} claims)")
