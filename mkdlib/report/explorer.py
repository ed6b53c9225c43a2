"""The ablation explorer: plotly figures over the stored runs that work in the published HTML
without a kernel, and the JupyterLab widget for live runs beside them.

* :func:`final_miou_figure` and :func:`curves_figure`: one plotly figure each with a dropdown over
  five views of the results store (method, Table 3 switches, gamma, beta, labeled fraction), each
  view the stored runs of the matching experiment grid (:mod:`mkdlib.experiments`), one dot per
  seed. :func:`plotly_output` displays a figure with plotly.js embedded once per kernel (no CDN:
  the page works offline and from ``file://``).
* :func:`ablation_explorer`: the ipywidgets explorer; its "train short run" button calls
  :func:`mkdlib.experiments.short_run` and stores the run in the user's own store
  (:func:`user_store`), never the book's unless asked. Nothing here trains unless that button is
  pressed. :func:`show_figure` displays a figure that the explorer redraws when a short run is
  added ("your runs" view).

Every figure a widget draws is built without pyplot's global state (plotly, displayed as its own
mime type): JupyterLab handles widget messages on another thread than the cells (a kernel
subshell), and the inline backend closes every pyplot figure after each cell, so a pyplot figure
drawn by a button could be closed half-built.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

#: view -> (grids, label column, x-axis title, figure title)
VIEWS = {
    "method": (("headline_6seeds", "methods"), "row", "method", "Methods at 1/16 of the labels (Table 2 analogue)"),
    "switches": (("ablation",), "label", "switches on", "Table 3 switches on top of co-training, 1/16"),
    "gamma": (("gamma",), "gamma", "gamma (EMA weight of the old teacher, Eq. 1)", "EMA gamma, MKD at 1/16 (Table 4)"),
    "beta": (("beta",), "beta", "beta (weight of L_ss, Eq. 4)", "beta, MKD at 1/16 (Table 5)"),
    "split": (("headline_6seeds", "fractions"), "split", "labeled fraction", "Labeled fraction (Table 1 analogue)"),
}
#: the view of the user's own short runs (:func:`user_store`), shown once there are any
YOURS = "your runs"
YOURS_VIEW = ("", "run", "your short run", "Your short runs (your store, not the book's)")
Y_TITLE = "val mIoU (%), built-in dataset"
FONT = dict(size=13)


def explorer_runs(root: str | Path | None = None, user_root: str | Path | None = None) -> pd.DataFrame:
    """One row per (view, grid config, stored run of it), plus a NaN row per config not yet run;
    with ``user_root``, one row per run of that store too (view :data:`YOURS`).
    Columns: view, x (category label), series (trace name), seed, miou, best_miou, key, root (the
    store holding the run: None for ``root``)."""
    from .paper import FRACTIONS, METHOD_ROWS, grid_runs, method_label

    frames = []
    for view, (grids, col, _, _) in VIEWS.items():
        runs = grid_runs(list(grids), root)
        if view == "method":
            runs = runs[runs["split"] == "1/16"]
            runs = runs.assign(row=[method_label(m) for m in runs["method"]])
            runs = runs.assign(order=[list(METHOD_ROWS).index(r) for r in runs["row"]]).sort_values(
                "order", kind="stable"
            )
        if view == "split":  # one series per method, at the fractions it is run at (the baselines
            # CPS + CutMix, the mean teacher and mkd_release at 1/16 only: the headline grid)
            runs = runs.assign(
                series=[method_label(m) for m in runs["method"]], order=[FRACTIONS.index(s) for s in runs["split"]]
            ).sort_values("order", kind="stable")
        else:
            runs = runs.assign(series="built-in dataset")
        x = runs[col].map(lambda v: f"{v:g}" if isinstance(v, float) else str(v))
        frames.append(
            pd.DataFrame(
                {
                    "view": view,
                    "x": x.values,
                    "series": runs["series"].values,
                    "seed": runs["seed"].values,
                    "miou": runs["miou"].values,
                    "best_miou": runs["best_miou"].values,
                    "key": runs["key"].values,
                    "root": None,
                }
            )
        )
    if user_root is not None:
        yours = store_runs(user_root, yours=True)
        if yours:
            frames.append(
                pd.DataFrame(
                    {
                        "view": YOURS,
                        "x": [r.label.removesuffix(YOURS_SUFFIX) for r in yours],
                        "series": "your runs",
                        "seed": [r.seed for r in yours],
                        "miou": [r.miou for r in yours],
                        "best_miou": [r.best_miou for r in yours],
                        "key": [r.key for r in yours],
                        "root": str(user_root),
                    }
                )
            )
    return pd.concat(frames, ignore_index=True)


def views(runs: pd.DataFrame) -> dict[str, tuple]:
    """The views of a figure over ``runs`` (:func:`explorer_runs`): :data:`VIEWS`, and
    :data:`YOURS` when the user's store holds runs."""
    return {**VIEWS, **({YOURS: YOURS_VIEW} if (runs["view"] == YOURS).any() else {})}


def _wrap(label: str) -> str:
    return label.replace(" + ", " +<br>")


def _no_runs(fig, text: str = "no stored runs yet") -> None:
    fig.add_annotation(
        text=text, x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False, font=dict(size=16, color="grey")
    )


#: the legend beside the axes, not under them: under them it covered the x-axis title and the
#: slanted labels of the switches view in JupyterLab (plotly widens the right margin to fit it)
LEGEND = dict(orientation="v", x=1.02, xanchor="left", y=1.0, yanchor="top", font=dict(size=12))


def _menu(buttons: list[dict], active: int = 0) -> list[dict]:
    return [
        dict(
            buttons=buttons,
            active=active,
            direction="down",
            x=0.0,
            xanchor="left",
            y=1.13,
            yanchor="bottom",
            showactive=True,
            font=FONT,
        )
    ]


def _colour(label: str) -> str:
    """The palette's colour of a method named by its label (an MKD variant's otherwise)."""
    from ..registry import METHOD_INFO
    from .figures.palette import method_colour

    by_label = {info.label: name for name, info in METHOD_INFO.items()}
    return method_colour(by_label.get(label, "mkd"))


#: plotly line dashes and marker symbols: a run's seed (or, in the split view, its labeled fraction)
DASHES = ("solid", "dash", "dot", "dashdot", "longdash")
SYMBOLS = ("circle", "square", "diamond", "triangle-up", "x")


def curve_styles(view: str, runs: pd.DataFrame) -> dict[tuple[str, str, int], tuple[str, str, str]]:
    """(colour, dash, marker symbol) of each run's curve, keyed (series, x, seed): one colour per
    method in the palette's colour (the method view by its bar label, the split view by its series),
    the other views' settings (switches, gamma, beta: no method) in colours no method has; seeds
    (and in the split view the labeled fractions) told apart by dash and marker, never by colour."""
    out = {}
    settings = list(dict.fromkeys(runs["x"]))
    colours = view_colours(view, runs)
    for r in runs.itertuples():
        seed = int(r.seed)
        k = settings.index(r.x) if view == "split" else seed
        out[(r.series, r.x, seed)] = (colours[(r.series, r.x)], DASHES[k % len(DASHES)], SYMBOLS[k % len(SYMBOLS)])
    return out


def view_colours(view: str, runs: pd.DataFrame) -> dict[tuple[str, str], str]:
    """The colour of each (series, x) of a view, the same in the bars and in the curves: a method's
    own palette colour where the bar or the series is a method (the method and split views), else
    one colour per setting from those no method has (Table 3 switches, gamma, beta)."""
    from .figures.palette import series_colours

    settings = list(dict.fromkeys(runs["x"]))
    other = series_colours([f"setting {x}" for x in settings])  # "setting ...": never a method's name
    out = {}
    for series, x in dict.fromkeys(zip(runs["series"], runs["x"])):
        if view == "method":
            out[(series, x)] = _colour(x)
        elif view == "split":
            out[(series, x)] = _colour(series)
        else:
            out[(series, x)] = other[f"setting {x}"]
    return out


def final_miou_figure(root: str | Path | None = None, user_root: str | Path | None = None, view: str = "method"):
    """Final mIoU of every stored run, by view: bars (mean, sd over seeds) and one dot per seed
    (hover: key, seed, final and best mIoU). The dropdown picks the view (``view`` first); with
    ``user_root``, the user's short runs are a view of their own."""
    import plotly.graph_objects as go

    runs = explorer_runs(root, user_root)
    shown = views(runs)
    view = view if view in shown else "method"
    fig = go.Figure()
    owner: list[str] = []
    for name in shown:
        v = runs[runs["view"] == name]
        order = list(dict.fromkeys(v["x"]))
        palette = view_colours(name, v)
        for series, s in v.groupby("series", sort=False):
            g = s.groupby("x", sort=False)["miou"]
            mean, sd, n = g.mean().reindex(order), g.std(ddof=1).reindex(order), g.count().reindex(order).fillna(0)
            # one colour per method (by bar in the method view, by series in the split view), else per setting
            colours = [palette.get((series, o), _colour(series) if name == "split" else "#999999") for o in order]
            fig.add_bar(
                marker=dict(color=colours),
                x=[_wrap(o) for o in order],
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
                x=[_wrap(o) for o in done["x"]],
                y=done["miou"],
                mode="markers",
                name=f"{series}: one seed",
                marker=dict(
                    color=[palette[(series, x)] for x in done["x"]],
                    size=7,
                    line=dict(color="black", width=1),
                ),
                visible=name == view,
                customdata=list(zip(done["key"], done["seed"].astype(int), done["best_miou"].round(2))),
                hovertemplate="%{customdata[0]}<br>seed %{customdata[1]}: final %{y:.2f}, "
                "best %{customdata[2]}<extra></extra>",
            )
            owner += [name, name]
    buttons = [
        dict(
            label=name,
            method="update",
            args=[
                {"visible": [o == name for o in owner]},
                {"title.text": shown[name][3], "xaxis.title.text": shown[name][2]},
            ],
        )
        for name in shown
    ]
    fig.update_layout(
        title=dict(text=shown[view][3], x=0.5, y=0.98, font=dict(size=15)),
        updatemenus=_menu(buttons, list(shown).index(view)),
        barmode="group",
        template="plotly_white",
        font=FONT,
        height=500,
        margin=dict(l=60, r=20, t=110, b=60),
        xaxis=dict(title=shown[view][2], automargin=True),
        yaxis_title=Y_TITLE,
        legend=LEGEND,
    )
    if runs["miou"].notna().sum() == 0:
        _no_runs(fig)
    return fig


def curves_figure(root: str | Path | None = None, user_root: str | Path | None = None, view: str = "method"):
    """Validation mIoU during training of every stored run, by view (dropdown, ``view`` first), one
    line per run; with ``user_root``, the user's short runs are a view of their own."""
    import plotly.graph_objects as go

    from ..results import load_curves

    runs = explorer_runs(root, user_root).dropna(subset=["miou"])
    shown = views(runs)
    view = view if view in shown else "method"
    fig = go.Figure()
    owner: list[str] = []
    for name in shown:
        v = runs[runs["view"] == name]
        styles = curve_styles(name, v)
        for r in v.itertuples():
            ev = [c for c in load_curves(r.key, r.root or root) if c.get("miou") is not None]
            trace = (f"{r.series}, " if name == "split" else "") + (
                r.x if name == YOURS else f"{r.x} (seed {int(r.seed)})"
            )
            colour, dash, symbol = styles[(r.series, r.x, int(r.seed))]
            fig.add_scatter(
                x=[c["iter"] for c in ev],
                y=[100 * c["miou"] for c in ev],
                mode="lines+markers",
                name=trace,
                line=dict(color=colour, dash=dash, width=2),
                marker=dict(color=colour, symbol=symbol, size=6),
                legendgroup=f"{name}:{r.series if name == 'split' else r.x}",
                visible=name == view,
                hovertemplate=f"{trace}<br>iteration %{{x}}: %{{y:.2f}}<extra></extra>",
            )
            owner.append(name)
    buttons = [
        dict(
            label=name,
            method="update",
            args=[{"visible": [o == name for o in owner]}, {"title.text": shown[name][3] + ": during training"}],
        )
        for name in shown
    ]
    fig.update_layout(
        title=dict(text=shown[view][3] + ": during training", x=0.5, y=0.98, font=dict(size=15)),
        updatemenus=_menu(buttons, list(shown).index(view)),
        template="plotly_white",
        font=FONT,
        height=520,
        margin=dict(l=60, r=20, t=110, b=60),
        xaxis_title="iteration",
        yaxis_title=Y_TITLE,
        legend=LEGEND,
    )
    if runs.empty:
        _no_runs(fig)
    return fig


_PLOTLYJS_SENT = False
#: plotly's options in every frontend: no toolbar (in JupyterLab it covered the figures' titles)
PLOTLY_CONFIG = {"responsive": True, "displayModeBar": False}


class PlotlyOutput:
    """A plotly figure as notebook output: ``text/html`` with plotly.js embedded (the first figure of
    a kernel carries the library, later ones reuse it: no CDN, works offline and from file://), and
    plotly's own JSON mime type for JupyterLab (with :data:`PLOTLY_CONFIG`). ``html=False``: the JSON
    only (what a widget shows in JupyterLab: no 3.5 MB of plotly.js per press)."""

    def __init__(self, fig, include_plotlyjs: bool, html: bool = True):
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


def plotly_output(fig) -> PlotlyOutput:
    """Wrap ``fig`` for display (see :class:`PlotlyOutput`)."""
    global _PLOTLYJS_SENT
    out = PlotlyOutput(fig, include_plotlyjs=not _PLOTLYJS_SENT)
    _PLOTLYJS_SENT = True
    return out


#: the figures :func:`show_figure` displayed in this kernel as widgets: name -> (output widget, store root)
_SHOWN: dict[str, tuple[object, str | Path | None]] = {}
FIGURES = {"final": final_miou_figure, "curves": curves_figure}
#: set (by ``make lab``, booktools/lab.py) where a frontend renders widgets: the explorer's figures
#: are then drawn in output widgets, which a short run can redraw (a finished cell's own output
#: cannot be replaced later from a button in JupyterLab); elsewhere (the book's build) plain output
LIVE_VARIABLE = "MKD_LIVE_FIGURES"


def _bundle(fig) -> dict:
    """``fig`` as one display_data output (plotly's JSON: what JupyterLab draws)."""
    data = PlotlyOutput(fig, include_plotlyjs=False, html=False)._repr_mimebundle_()
    return {"output_type": "display_data", "data": data, "metadata": {}}


def show_figure(name: str, root: str | Path | None = None) -> None:
    """Display the explorer's figure ``name`` ("final", "curves"). Where ``$MKD_LIVE_FIGURES`` is
    set (``make lab``) it is drawn in an output widget that :func:`refresh_figures` redraws when a
    short run is added; elsewhere as plain output (plotly.js embedded once: the book's page)."""
    from IPython.display import display

    fig = FIGURES[name](root)
    if not os.environ.get(LIVE_VARIABLE):
        display(plotly_output(fig))
        return
    import ipywidgets as w

    out = w.Output()
    out.outputs = (_bundle(fig),)
    _SHOWN[name] = (out, root)
    display(out)


def refresh_figures(user_root: str | Path | None, view: str = YOURS) -> list[str]:
    """Redraw the figures :func:`show_figure` drew as widgets, with the user's runs (``user_root``:
    their results store) as a view of their own, opened at ``view``; returns the names redrawn."""
    redrawn = []
    for name, (out, root) in _SHOWN.items():
        out.outputs = (_bundle(FIGURES[name](root, user_root, view=view)),)
        redrawn.append(name)
    return redrawn


def notice(root: str | Path | None = None) -> str:
    """What to notice in the explorer, from the stored runs."""
    runs = explorer_runs(root)
    done = runs.dropna(subset=["miou"]).drop_duplicates("key")
    if done.empty:
        return (
            "**What to notice.** No stored runs yet: the figures show the grids' settings without "
            "results; `python -m mkdlib.experiments headline` (and the other grids) fill them."
        )
    spread = {}
    for view, v in runs.dropna(subset=["miou"]).groupby("view", sort=False):
        means = v.groupby(["series", "x"])["miou"].mean()
        if len(means) >= 2:
            spread[view] = (means.max() - means.min(), means.idxmax(), means.idxmin())
    text = f"**What to notice.** {len(done)} stored runs appear here."
    if spread:
        view = max(spread, key=lambda k: spread[k][0])
        width, (_, hi), (_, lo) = spread[view]
        text += (
            f" The widest spread of mean final mIoU is in the *{view}* view: {width:.1f} points between "
            f"{hi} and {lo}. Compare it with the seed spread (the dots of one setting) before reading "
            "anything into a difference."
        )
    return text


# --------------------------------------------------------------------------- stored runs, labelled
def user_store() -> Path:
    """The user's own store of the explorer's short runs (``runs/``, ``results/``): ``$MKD_EXPLORER_DIR``,
    else ``mkdlib/explorer`` in ``$XDG_DATA_HOME`` (``~/.local/share``). Never the book's store: a
    short run is not a result of the book."""
    if os.environ.get("MKD_EXPLORER_DIR"):
        return Path(os.environ["MKD_EXPLORER_DIR"]).expanduser()
    data_home = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(data_home) / "mkdlib" / "explorer"


#: appended to the label of a run of the user's store
YOURS_SUFFIX = " (yours)"


@dataclass(frozen=True)
class StoredRun:
    """A stored run as the explorer lists it: ``label`` says what sets it apart (seed, iterations,
    the fields that differ from its method's current preset, superseded or not, yours or not)."""

    key: str
    root: str | None  # the store holding it (None: the book's)
    label: str
    method: str
    split: str
    seed: int
    iters: int
    setting: str  # the fields that differ from the method's current preset ("" for none)
    superseded: bool  # trained with a preset's old settings (mkdlib.experiments.LEGACY_PRESETS)
    miou: float  # final, %
    best_miou: float  # %
    switches: tuple[bool, ...]

    @property
    def order(self) -> tuple:
        """Current preset versions first, then the variants, the superseded last; seeds in order."""
        return (self.superseded, self.setting != "", self.setting, self.root is None, -self.iters, self.seed)


def superseded_fields(config: Mapping) -> tuple[str, ...]:
    """The fields of a stored config that hold its method's *old* preset (:data:`mkdlib.experiments.LEGACY_PRESETS`):
    all of them, or none (a config that sets only some of them is a variant, not the old preset)."""
    from ..experiments import LEGACY_PRESETS

    old = LEGACY_PRESETS.get(config.get("method"), {})
    return tuple(old) if old and all(config.get(k) == v for k, v in old.items()) else ()


def describe_run(config: Mapping, key: str, root: str | None, miou: float, best_miou: float) -> StoredRun:
    """A stored run's :class:`StoredRun` (its label from what differs: :func:`mkdlib.experiments.setting_label`)."""
    from ..config import SWITCHES, make_config
    from ..experiments import setting_label

    cfg = make_config(dict(config))
    old = superseded_fields(config)
    fields = [f for f in setting_label(cfg).split(", ") if f and f.split("=")[0] not in ("iters", *old)]
    setting = ", ".join(fields)
    label = f"seed {cfg.seed}, {cfg.iters} it, " + (setting or "preset")
    if old:
        label += " (superseded preset)"
    if root is not None:
        label += YOURS_SUFFIX
    return StoredRun(
        key=key,
        root=root,
        label=label,
        method=cfg.method,
        split=cfg.split,
        seed=int(cfg.seed),
        iters=int(cfg.iters),
        setting=setting,
        superseded=bool(old),
        miou=100 * float(miou) if miou is not None else float("nan"),
        best_miou=100 * float(best_miou) if best_miou is not None else float("nan"),
        switches=tuple(bool(getattr(cfg, s)) for s in SWITCHES),
    )


def store_runs(root: str | Path | None = None, yours: bool = False) -> list[StoredRun]:
    """Every finished run of a store (``yours``: the user's store, its runs marked so), in
    :attr:`StoredRun.order`."""
    from .evidence.store import snapshot

    snap = snapshot(root)
    where = str(root) if yours else None
    runs = [
        describe_run(r["config"], key, where, r["final"]["miou"], r.get("best_miou")) for key, r in snap.results.items()
    ]
    return sorted(runs, key=lambda r: r.order)


def matching_runs(
    selection: Mapping, root: str | Path | None = None, user_root: str | Path | None = None
) -> list[StoredRun]:
    """The stored runs (the book's store ``root`` and the user's ``user_root``) whose method, split
    and switches are those of ``selection`` (Config fields; switches left out: the method's
    preset), current preset versions first. Raises ValueError for a selection that cannot run."""
    from ..config import SWITCHES, make_config, resolve

    want = resolve(make_config(**selection))
    switches = tuple(bool(getattr(want, s)) for s in SWITCHES)
    runs = store_runs(root) + (store_runs(user_root, yours=True) if user_root and Path(user_root).is_dir() else [])
    hits = [r for r in runs if (r.method, r.split, r.switches) == (want.method, want.split, switches)]
    return sorted(hits, key=lambda r: r.order)


def _summary_row(run: StoredRun) -> dict:
    from ..config import SWITCHES, make_config
    from .evidence.store import stored_result
    from .paper import short_label, switch_label

    r = stored_result(run.key, run.root)
    c = r["config"]
    cfg = make_config(**{f: c[f] for f in ("method", *SWITCHES) if f in c})
    return {
        "run": run.label,
        "method": c["method"],
        "split": c["split"],
        "switches on": short_label(switch_label(cfg)),
        "gamma": c["gamma"],
        "beta": c["beta"],
        "mIoU (%)": round(100 * r["final"]["miou"], 2),
        "wall time (min)": round(r["wall_time_s"] / 60, 1),
    }


# --------------------------------------------------------------------------- stored runs side by side
def run_summary(keys: Sequence[str] | Mapping[str, str], root: str | Path | None = None) -> pd.DataFrame:
    """Stored runs side by side, narrow enough for the book's column: one row per run (labelled by
    what sets it apart, :func:`describe_run`, or by the mapping's labels: label -> key), its method
    and split, the Table 3 switches that are on, gamma, beta, mIoU, wall time."""
    from .evidence.store import stored_result

    runs = []
    for label, k in keys.items() if isinstance(keys, Mapping) else [(None, k) for k in keys]:
        r = stored_result(k, root)
        run = describe_run(
            r["config"], k, str(root) if root is not None else None, r["final"]["miou"], r.get("best_miou")
        )
        runs.append(run if label is None else StoredRun(**{**run.__dict__, "label": label}))
    return summary_table(runs)


def summary_table(runs: Sequence[StoredRun]) -> pd.DataFrame:
    """:func:`run_summary` of runs already described (possibly from several stores)."""
    rows = [_summary_row(r) for r in runs]
    return pd.DataFrame(rows).set_index("run") if rows else pd.DataFrame()


def compare_figure(runs: Sequence[StoredRun]):
    """Training loss and validation mIoU of ``runs`` side by side (plotly: no pyplot state a
    kernel thread could close mid-draw); each trace named by the run's label, as the table's rows."""
    from plotly.subplots import make_subplots

    from ..results import load_curves
    from .figures.palette import series_colours

    fig = make_subplots(rows=1, cols=2, subplot_titles=("training loss (total)", "validation mIoU"))
    colours = series_colours(f"run {i}" for i in range(len(runs)))  # no method's colour: one method
    for i, run in enumerate(runs):
        recs = load_curves(run.key, run.root)
        train = [r for r in recs if r.get("loss") is not None]
        ev = [r for r in recs if r.get("miou") is not None]
        colour = colours[f"run {i}"]
        fig.add_scatter(
            x=[r["iter"] for r in train], y=[r["loss"] for r in train], mode="lines", name=run.label,
            legendgroup=run.key, line=dict(color=colour, width=1.5), row=1, col=1,
            hovertemplate=f"{run.label}<br>iteration %{{x}}: loss %{{y:.3f}}<extra></extra>",
        )  # fmt: skip
        fig.add_scatter(
            x=[r["iter"] for r in ev], y=[100 * r["miou"] for r in ev], mode="lines+markers", name=run.label,
            legendgroup=run.key, showlegend=False, line=dict(color=colour, width=2), marker=dict(size=6), row=1, col=2,
            hovertemplate=f"{run.label}<br>iteration %{{x}}: %{{y:.2f}}<extra></extra>",
        )  # fmt: skip
    fig.update_yaxes(type="log", title_text="loss", row=1, col=1)
    fig.update_yaxes(title_text=Y_TITLE, row=1, col=2)
    fig.update_xaxes(title_text="iteration")
    fig.update_layout(
        template="plotly_white",
        font=FONT,
        height=420,
        margin=dict(l=60, r=20, t=40, b=50),
        legend=dict(orientation="h", yref="container", y=0, yanchor="bottom", x=0),
    )
    fig.update_layout(margin_b=60 + 22 * ((len(runs) + 1) // 2))  # the legend's rows under the axes
    return fig


# --------------------------------------------------------------------------- live runs (JupyterLab)
SWITCH_CHOICES = (("preset", "preset"), ("on", "on"), ("off", "off"))


def ablation_explorer(
    root: str | Path | None = None,
    data_root: str | None = None,
    base: Mapping | None = None,
    user_dir: str | Path | None = None,
    into_book_store: bool = False,
):
    """A JupyterLab widget: pick switches and split, see matching stored runs and their curves side
    by side, and launch a short run of the selection (``base``: extra Config fields for it) through
    :func:`mkdlib.experiments.short_run`, with a progress bar; the run goes to the user's folder
    (``user_dir``, default :func:`user_store`: its ``runs/`` and ``results/``; ``into_book_store``:
    the book's store, ``root``)
    and the figures of :func:`show_figure` are redrawn with it."""
    import ipywidgets as w
    from IPython.display import display

    from ..config import METHODS, SWITCHES
    from ..experiments import short_run
    from .paper import FRACTIONS

    user_folder = Path(user_dir) if user_dir is not None else user_store()
    store = None if into_book_store else user_folder
    user = user_folder / "results"  # the user's results store, read beside the book's
    wide = {"description_width": "initial"}
    method = w.Dropdown(options=METHODS, value="mkd", description="method", style=wide)
    switch = {
        s: w.Dropdown(
            options=SWITCH_CHOICES,
            value="preset",
            description=s.replace("_", " "),
            style=wide,
            layout=w.Layout(width="auto"),
        )
        for s in SWITCHES
    }
    split = w.Dropdown(options=FRACTIONS, value="1/16", description="split", style=wide)
    iters = w.BoundedIntText(value=60, min=1, max=100000, description="iterations", style=wide)
    runs = w.SelectMultiple(options=[], rows=8, description="stored runs", style=wide, layout=w.Layout(width="95%"))
    refresh, show, train_btn = (
        w.Button(description="find matching", tooltip="list the stored runs of this selection"),
        w.Button(description="compare", tooltip="table and curves of the selected runs"),
        w.Button(
            description="train short run",
            button_style="warning",
            tooltip=f"train this selection for the given iterations; stored in {store or 'the book store'}",
        ),
    )
    status, progress, out = w.HTML(value=""), w.Output(), w.Output()
    for widget, name in ((status, "mkd-status"), (progress, "mkd-progress"), (out, "mkd-compare")):
        widget.add_class(name)  # for the tests (tests/test_lab.py finds them in the page too)
    listed: dict[str, StoredRun] = {}
    lock = threading.Lock()  # one press at a time: a widget thread and the cells share these
    controls = [method, split, iters, *switch.values(), refresh, show, train_btn, runs]

    def selection() -> dict:
        return {
            "method": method.value,
            "split": split.value,
            **{s: d.value == "on" for s, d in switch.items() if d.value != "preset"},
        }

    def describe_selection() -> str:
        on = [f"{s.replace('_', ' ')} {d.value}" for s, d in switch.items() if d.value != "preset"]
        return f"{method.value} at {split.value}" + (f" with {', '.join(on)}" if on else " (its preset)")

    def say(text: str) -> None:
        status.value = f"<span style='font-size: 0.95em'>{text}</span>"

    def matching(_=None, select: Sequence[str] = ()) -> list[StoredRun]:
        """List the stored runs of the selection; an empty result says so and clears the old output."""
        try:
            found = matching_runs(selection(), root, user)
        except ValueError as e:
            found, why = [], f"this combination cannot run: {e}"
        else:
            why = f"no stored run of {describe_selection()}: press 'train short run' or change the selection"
        listed.clear()
        listed.update({r.key: r for r in found})
        runs.value = ()  # first: a selection that is not among the new options breaks the view
        runs.options = [(f"{r.label}: mIoU {r.miou:.1f}%", r.key) for r in found]
        runs.value = tuple(k for k in select if k in listed) or tuple(r.key for r in found[:3])
        if not found:
            out.clear_output()
            say(why)
        else:
            say(f"{len(found)} stored run(s) of {describe_selection()}; {len(runs.value)} selected")
        return found

    def compare(_=None) -> None:
        keys = list(runs.value)
        out.clear_output(wait=True)
        if not keys:
            with out:
                print("no run selected: pick one or more in the list (ctrl/shift-click), or press 'find matching'")
            return
        chosen = [listed[k] for k in keys]
        with out:
            display(summary_table(chosen))
            display(PlotlyOutput(compare_figure(chosen), include_plotlyjs=False, html=False))

    def launch(_=None) -> None:
        sel = selection()
        for c in controls:
            c.disabled = True
        progress.clear_output()
        out.clear_output()
        say(
            f"training {describe_selection()} for {iters.value} iterations on the built-in dataset ... "
            "(the buttons come back when it is done)"
        )
        try:
            with progress:
                res = short_run(iters.value, data_root, dict(base or {}), store=store, progress=True, **sel)
        except (ValueError, RuntimeError) as e:  # bad selection or data: one line, no traceback
            say(f"cannot train this selection: {e}")
            return
        finally:
            for c in controls:
                c.disabled = False
        key = res.config.key()
        where = "the book's store" if store is None else f"your store ({_home(store)})"
        matching(select=list(dict.fromkeys([key, *[r.key for r in matching_runs(sel, root, user)[:2]]])))
        redrawn = refresh_figures(user, view=YOURS) if store is not None else []
        say(
            f"<b>done</b>: {describe_selection()}, {iters.value} iterations: final mIoU {100 * res.miou:.2f}% "
            f"(built-in dataset), stored in {where}"
            + ("; the figures above now show it (view 'your runs')" if redrawn else "")
            + ". Compared below with the stored runs of the same selection."
        )
        compare()

    def once(handler):
        def press(b=None):
            if not lock.acquire(blocking=False):
                return  # a press while another is handled (the buttons are disabled meanwhile)
            try:
                handler()
            finally:
                lock.release()

        return press

    refresh.on_click(once(matching))
    show.on_click(once(compare))
    train_btn.on_click(once(launch))
    matching()
    switches = list(switch.values())
    return w.VBox(
        [
            w.HBox([method, split, iters]),
            w.HBox(switches[:3]),
            w.HBox(switches[3:]),
            w.HBox([refresh, show, train_btn]),
            status,
            progress,
            runs,
            out,
        ]
    )


def _home(path: Path) -> str:
    """``path`` with the home folder as ``~``."""
    try:
        return "~/" + str(Path(path).resolve().relative_to(Path.home().resolve()))
    except ValueError:
        return str(path)
