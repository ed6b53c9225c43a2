"""The explorer's plotly figures: final mIoU and the curves of every stored run, each with a dropdown
over the views (:data:`mkdlib.explorer.runs.VIEWS`), and stored runs compared side by side. They
work in the published HTML without a kernel: :func:`plotly_output` embeds plotly.js once per kernel
(no CDN: the page works offline and from ``file://``). Plotly, not pyplot: a widget's button draws
on another thread than the cells, where the inline backend may close a pyplot figure half-built."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from .runs import YOURS, StoredRun, explorer_runs, views

Y_TITLE = "val mIoU (%), built-in dataset"
FONT = dict(size=13)
#: the final mIoU figure's legend (two entries a series) beside the axes
LEGEND = dict(orientation="v", x=1.02, xanchor="left", y=1.0, yanchor="top", font=dict(size=12))
#: a legend under the axes, below the x-axis title (the figure's bottom margin holds its rows)
LEGEND_BELOW = dict(orientation="h", yref="container", y=0, yanchor="bottom", x=0, xanchor="left", font=dict(size=12))
#: plotly line dashes and marker symbols: a run's seed (or, in the split view, its labeled fraction)
DASHES = ("solid", "dash", "dot", "dashdot", "longdash")
SYMBOLS = ("circle", "square", "diamond", "triangle-up", "x")
#: plotly's options in every frontend: no toolbar (in JupyterLab it covered the figures' titles)
PLOTLY_CONFIG = {"responsive": True, "displayModeBar": False}


def _colour(label: str) -> str:
    """The palette's colour of a method named by its label (an MKD variant's otherwise)."""
    from ..registry import METHOD_INFO
    from ..report.figures.palette import method_colour

    by_label = {info.label: name for name, info in METHOD_INFO.items()}
    return method_colour(by_label.get(label, "mkd"))


def view_colours(view: str, runs: pd.DataFrame) -> dict[tuple[str, str], str]:
    """The colour of each (series, x) of a view, the same in the bars and in the curves: a method's
    own palette colour where the bar or the series is a method (the method and split views), else
    one colour per setting from those no method has (Table 3 switches, gamma, beta)."""
    from ..report.figures.palette import series_colours

    other = series_colours([f"setting {x}" for x in dict.fromkeys(runs["x"])])  # never a method's name
    pick = {"method": lambda s, x: _colour(x), "split": lambda s, x: _colour(s)}
    default = lambda s, x: other[f"setting {x}"]  # noqa: E731
    return {(s, x): pick.get(view, default)(s, x) for s, x in dict.fromkeys(zip(runs["series"], runs["x"]))}


def curve_styles(view: str, runs: pd.DataFrame) -> dict[tuple[str, str, int], tuple[str, str, str]]:
    """(colour, dash, marker symbol) of each run's curve, keyed (series, x, seed): colours as
    :func:`view_colours`; seeds (and in the split view the labeled fractions) told apart by dash
    and marker, never by colour."""
    settings, colours = list(dict.fromkeys(runs["x"])), view_colours(view, runs)
    out = {}
    for r in runs.itertuples():
        k = settings.index(r.x) if view == "split" else int(r.seed)
        dash, symbol = DASHES[k % len(DASHES)], SYMBOLS[k % len(SYMBOLS)]
        out[(r.series, r.x, int(r.seed))] = (colours[(r.series, r.x)], dash, symbol)
    return out


def _with_views(fig, shown: dict, owner: list[str], view: str, layout) -> None:
    """The dropdown over the views ``shown``: an entry shows the traces it owns (``owner``: the view
    of each trace) and sets ``layout(name)`` (dotted layout paths); the figure opens at ``view``."""
    buttons = [dict(label=n, method="update", args=[{"visible": [o == n for o in owner]}, layout(n)]) for n in shown]
    menu = dict(buttons=buttons, active=list(shown).index(view), direction="down", showactive=True, font=FONT)
    fig.update_layout(updatemenus=[dict(menu, x=0.0, xanchor="left", y=1.13, yanchor="bottom")])
    fig.update_layout({k.replace(".", "_"): v for k, v in layout(view).items()})


def _no_runs(fig, text: str = "no stored runs yet") -> None:
    fig.add_annotation(
        text=text, x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False, font=dict(size=16, color="grey")
    )


def final_miou_figure(root: str | Path | None = None, user_root: str | Path | None = None, view: str = "method"):
    """Final mIoU of every stored run, by view: bars (mean, sd over seeds) and one dot per seed
    (hover: key, seed, final and best mIoU). The dropdown picks the view (``view`` first); with
    ``user_root``, the user's short runs are a view of their own."""
    import plotly.graph_objects as go

    runs = explorer_runs(root, user_root)
    shown = views(runs)
    view = view if view in shown else "method"
    fig, owner = go.Figure(), []
    for name in shown:
        v = runs[runs["view"] == name]
        order, palette = list(dict.fromkeys(v["x"])), view_colours(name, v)
        for series, s in v.groupby("series", sort=False):
            missing = _colour(series) if name == "split" else "#999999"  # a bar not yet run
            g = s.groupby("x", sort=False)["miou"]
            mean, sd, n = g.mean().reindex(order), g.std().reindex(order), g.count().reindex(order).fillna(0)
            fig.add_bar(
                marker_color=[palette.get((series, o), missing) for o in order],
                x=[o.replace(" + ", " +<br>") for o in order],
                y=mean.values,
                error_y=dict(array=sd.fillna(0).values),
                name=f"{series}: mean ± sd",
                opacity=0.75,
                visible=name == view,
                customdata=[[int(k), "not yet run" if k == 0 else f"{m:.2f}"] for k, m in zip(n, mean)],
                hovertemplate="%{x}<br>mean %{customdata[1]} over %{customdata[0]} seed(s)<extra></extra>",
            )
            done = s.dropna(subset=["miou"])
            fig.add_scatter(
                x=[o.replace(" + ", " +<br>") for o in done["x"]],
                y=done["miou"],
                mode="markers",
                name=f"{series}: one seed",
                marker=dict(color=[palette[(series, x)] for x in done["x"]], size=7, line=dict(color="black", width=1)),
                visible=name == view,
                customdata=list(zip(done["key"], done["seed"].astype(int), done["best_miou"].round(2))),
                hovertemplate="%{customdata[0]}<br>seed %{customdata[1]}: final %{y:.2f}, "
                "best %{customdata[2]}<extra></extra>",
            )
            owner += [name, name]
    fig.update_layout(
        title=dict(x=0.5, y=0.98, font=dict(size=15)),
        barmode="group",
        template="plotly_white",
        font=FONT,
        height=500,
        margin=dict(l=60, r=20, t=110, b=60),
        xaxis_automargin=True,
        yaxis_title=Y_TITLE,
        legend=LEGEND,
    )
    _with_views(fig, shown, owner, view, lambda n: {"title.text": shown[n][3], "xaxis.title.text": shown[n][2]})
    if runs["miou"].notna().sum() == 0:
        _no_runs(fig)
    return fig


def legend_rows(names: Sequence[str], width: int = 700, char_px: float = 6.0, item_px: int = 45) -> int:
    """Rows a horizontal legend of ``names`` takes in a plot ``width`` px wide (the book's column;
    a wider frontend needs fewer): one row if all fit, else plotly's grid of the widest entry."""
    widths = [item_px + char_px * len(n) for n in names]
    if sum(widths) <= width:
        return 1
    return math.ceil(len(widths) / max(1, int(width // max(widths))))


def curves_figure(root: str | Path | None = None, user_root: str | Path | None = None, view: str = "method"):
    """Validation mIoU during training of every stored run, by view (dropdown, ``view`` first), one
    line per run; with ``user_root``, the user's short runs are a view of their own. The legend has
    one entry per setting (a method, a Table 3 row, a gamma, ...; in the split view a method at a
    fraction) that shows and hides its seeds together, under the x-axis title (hover names a seed)."""
    import plotly.graph_objects as go

    from ..results import load_curves

    runs = explorer_runs(root, user_root).dropna(subset=["miou"])
    shown = views(runs)
    view = view if view in shown else "method"
    fig, owner, entries = go.Figure(), [], {}
    for name in shown:
        v = runs[runs["view"] == name]
        styles = curve_styles(name, v)
        group = v["x"] if name != "split" else v["series"] + ", " + v["x"]
        n = group.value_counts()
        entry = {g: g if name == YOURS else f"{g}, {n[g]} seed{'s' if n[g] > 1 else ''}" for g in dict.fromkeys(group)}
        entries[name] = list(entry.values())
        seen = set()
        for r, g in zip(v.itertuples(), group):
            ev = [c for c in load_curves(r.key, r.root or root) if c.get("miou") is not None]
            colour, dash, symbol = styles[(r.series, r.x, int(r.seed))]
            fig.add_scatter(
                x=[c["iter"] for c in ev],
                y=[100 * c["miou"] for c in ev],
                mode="lines+markers",
                name=entry[g],
                legendgroup=f"{name}:{g}",
                showlegend=g not in seen and not seen.add(g),
                line=dict(color=colour, dash=dash, width=2),
                marker=dict(color=colour, symbol=symbol, size=6),
                visible=name == view,
                hovertemplate=f"{g}{'' if name == YOURS else f', seed {int(r.seed)}'}<br>"
                "iteration %{x}: %{y:.2f}<extra></extra>",
            )
            owner.append(name)

    legend = 22 * max(map(legend_rows, entries.values()), default=1)  # the same for every view: no jump
    fig.update_layout(
        title=dict(x=0.5, y=0.98, font=dict(size=15)),
        template="plotly_white",
        font=FONT,
        height=470 + legend,
        margin=dict(l=60, r=20, t=110, b=70 + legend),
        xaxis_title="iteration",
        yaxis_title=Y_TITLE,
        legend=dict(LEGEND_BELOW, traceorder="normal"),
    )
    _with_views(fig, shown, owner, view, lambda n: {"title.text": shown[n][3] + ": during training"})
    if runs.empty:
        _no_runs(fig)
    return fig


def compare_figure(runs: Sequence[StoredRun]):
    """Training loss and validation mIoU of ``runs`` side by side, each trace named by the run's
    label, as the table's rows (:func:`mkdlib.explorer.runs.run_summary`)."""
    from plotly.subplots import make_subplots

    from ..report.figures.palette import series_colours
    from ..results import load_curves

    fig = make_subplots(rows=1, cols=2, subplot_titles=("training loss (total)", "validation mIoU"))
    colours = series_colours(f"run {i}" for i in range(len(runs)))  # no method's colour: one method
    for i, run in enumerate(runs):
        recs = load_curves(run.key, run.root)
        for col, field, scale, mode in ((1, "loss", 1, "lines"), (2, "miou", 100, "lines+markers")):
            pts = [r for r in recs if r.get(field) is not None]
            fig.add_scatter(
                x=[r["iter"] for r in pts], y=[scale * r[field] for r in pts], mode=mode, name=run.label,
                legendgroup=run.key, showlegend=col == 1, line=dict(color=colours[f"run {i}"], width=col / 2 + 1),
                row=1, col=col, hovertemplate=f"{run.label}<br>iteration %{{x}}: %{{y:.3g}}<extra></extra>",
            )  # fmt: skip
    fig.update_yaxes(type="log", title_text="loss", row=1, col=1)
    fig.update_yaxes(title_text=Y_TITLE, row=1, col=2)
    fig.update_xaxes(title_text="iteration")
    rows = math.ceil(len(runs) / 2)  # the legend's rows under the axes
    margin = dict(l=60, r=20, t=40, b=60 + 22 * rows)
    fig.update_layout(template="plotly_white", font=FONT, height=420, margin=margin, legend=LEGEND_BELOW)
    return fig


class PlotlyOutput:
    """A plotly figure as notebook output: ``text/html`` with plotly.js embedded (the first figure of
    a kernel carries the library, later ones reuse it: no CDN, works offline and from file://), and
    plotly's own JSON mime type for JupyterLab (with :data:`PLOTLY_CONFIG`). ``html=False``: the JSON
    only (what a widget shows in JupyterLab: no 3.5 MB of plotly.js per press)."""

    def __init__(self, fig, include_plotlyjs: bool = False, html: bool = True):
        self.fig, self.include_plotlyjs, self.html = fig, include_plotlyjs, html

    def _repr_mimebundle_(self, include=None, exclude=None):
        bundle = {
            "application/vnd.plotly.v1+json": {**json.loads(self.fig.to_json()), "config": PLOTLY_CONFIG},
            "text/plain": f"<plotly figure: {self.fig.layout.title.text}>",
        }
        if self.html:
            bundle["text/html"] = self.fig.to_html(
                full_html=False, include_plotlyjs=self.include_plotlyjs, config=PLOTLY_CONFIG
            )
        return bundle


_PLOTLYJS_SENT = False


def plotly_output(fig) -> PlotlyOutput:
    """Wrap ``fig`` for display (see :class:`PlotlyOutput`): plotly.js with the first of a kernel."""
    global _PLOTLYJS_SENT
    out = PlotlyOutput(fig, include_plotlyjs=not _PLOTLYJS_SENT)
    _PLOTLYJS_SENT = True
    return out
