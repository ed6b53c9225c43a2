"""The ablation explorer: plotly figures over the stored runs that work in the published HTML
without a kernel, and the JupyterLab widget for live runs beside them.

* :func:`final_miou_figure` and :func:`curves_figure`: one plotly figure each with a dropdown over
  five views of the results store (method, Table 3 switches, gamma, beta, labeled fraction), each
  view the stored runs of the matching experiment grid (:mod:`mkdlib.experiments`), one dot per
  seed. :func:`plotly_output` displays a figure with plotly.js embedded once per kernel (no CDN:
  the page works offline and from ``file://``).
* :func:`ablation_explorer`: the ipywidgets explorer; its "train short run" button calls
  :func:`mkdlib.experiments.short_run`. Nothing here trains unless that button is pressed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
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
Y_TITLE = "val mIoU (%), built-in dataset"
FONT = dict(size=13)


def explorer_runs(root: str | Path | None = None) -> pd.DataFrame:
    """One row per (view, grid config, stored run of it), plus a NaN row per config not yet run.
    Columns: view, x (category label), series (trace name), seed, miou, best_miou, key."""
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
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def _wrap(label: str) -> str:
    return label.replace(" + ", " +<br>")


def _no_runs(fig, text: str = "no stored runs yet") -> None:
    fig.add_annotation(
        text=text, x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False, font=dict(size=16, color="grey")
    )


def _menu(buttons: list[dict]) -> list[dict]:
    return [
        dict(
            buttons=buttons,
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


def final_miou_figure(root: str | Path | None = None):
    """Final mIoU of every stored run, by view: bars (mean, sd over seeds) and one dot per seed
    (hover: key, seed, final and best mIoU). The dropdown picks the view."""
    import plotly.graph_objects as go

    runs = explorer_runs(root)
    fig = go.Figure()
    owner: list[str] = []
    for view in VIEWS:
        v = runs[runs["view"] == view]
        order = list(dict.fromkeys(v["x"]))
        palette = view_colours(view, v)
        for series, s in v.groupby("series", sort=False):
            g = s.groupby("x", sort=False)["miou"]
            mean, sd, n = g.mean().reindex(order), g.std(ddof=1).reindex(order), g.count().reindex(order).fillna(0)
            # one colour per method (by bar in the method view, by series in the split view), else per setting
            colours = [palette.get((series, o), _colour(series) if view == "split" else "#999999") for o in order]
            fig.add_bar(
                marker=dict(color=colours),
                x=[_wrap(o) for o in order],
                y=mean.values,
                error_y=dict(array=sd.fillna(0).values),
                name=f"{series}: mean ± sd",
                opacity=0.75,
                visible=view == "method",
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
                visible=view == "method",
                customdata=list(zip(done["key"], done["seed"].astype(int), done["best_miou"].round(2))),
                hovertemplate="%{customdata[0]}<br>seed %{customdata[1]}: final %{y:.2f}, "
                "best %{customdata[2]}<extra></extra>",
            )
            owner += [view, view]
    buttons = [
        dict(
            label=view,
            method="update",
            args=[
                {"visible": [o == view for o in owner]},
                {"title.text": VIEWS[view][3], "xaxis.title.text": VIEWS[view][2]},
            ],
        )
        for view in VIEWS
    ]
    fig.update_layout(
        title=dict(text=VIEWS["method"][3], x=0.5, y=0.98, font=dict(size=15)),
        updatemenus=_menu(buttons),
        barmode="group",
        template="plotly_white",
        font=FONT,
        height=500,
        margin=dict(l=60, r=20, t=110, b=60),
        xaxis_title=VIEWS["method"][2],
        yaxis_title=Y_TITLE,
        legend=dict(orientation="h", y=-0.3, x=0),
    )
    if runs["miou"].notna().sum() == 0:
        _no_runs(fig)
    return fig


def curves_figure(root: str | Path | None = None):
    """Validation mIoU during training of every stored run, by view (dropdown), one line per run."""
    import plotly.graph_objects as go

    from ..results import load_curves

    runs = explorer_runs(root).dropna(subset=["miou"])
    fig = go.Figure()
    owner: list[str] = []
    for view in VIEWS:
        v = runs[runs["view"] == view]
        styles = curve_styles(view, v)
        for r in v.itertuples():
            ev = [c for c in load_curves(r.key, root) if c.get("miou") is not None]
            name = (f"{r.series}, " if view == "split" else "") + f"{r.x} (seed {int(r.seed)})"
            colour, dash, symbol = styles[(r.series, r.x, int(r.seed))]
            fig.add_scatter(
                x=[c["iter"] for c in ev],
                y=[100 * c["miou"] for c in ev],
                mode="lines+markers",
                name=name,
                line=dict(color=colour, dash=dash, width=2),
                marker=dict(color=colour, symbol=symbol, size=6),
                legendgroup=f"{view}:{r.series if view == 'split' else r.x}",
                visible=view == "method",
                hovertemplate=f"{name}<br>iteration %{{x}}: %{{y:.2f}}<extra></extra>",
            )
            owner.append(view)
    buttons = [
        dict(
            label=view,
            method="update",
            args=[{"visible": [o == view for o in owner]}, {"title.text": VIEWS[view][3] + ": during training"}],
        )
        for view in VIEWS
    ]
    fig.update_layout(
        title=dict(text=VIEWS["method"][3] + ": during training", x=0.5, y=0.98, font=dict(size=15)),
        updatemenus=_menu(buttons),
        template="plotly_white",
        font=FONT,
        height=520,
        margin=dict(l=60, r=20, t=110, b=60),
        xaxis_title="iteration",
        yaxis_title=Y_TITLE,
        legend=dict(orientation="h", y=-0.2, x=0),
    )
    if runs.empty:
        _no_runs(fig)
    return fig


_PLOTLYJS_SENT = False


class PlotlyOutput:
    """A plotly figure as notebook output: ``text/html`` with plotly.js embedded (the first figure of
    a kernel carries the library, later ones reuse it: no CDN, works offline and from file://), and
    plotly's own JSON mime type for JupyterLab."""

    def __init__(self, fig, include_plotlyjs: bool):
        self.fig, self.include_plotlyjs = fig, include_plotlyjs

    def _repr_mimebundle_(self, include=None, exclude=None):
        html = self.fig.to_html(
            full_html=False,
            include_plotlyjs=self.include_plotlyjs,
            config={"responsive": True, "displayModeBar": False},
        )
        return {
            "text/html": html,
            "application/vnd.plotly.v1+json": json.loads(self.fig.to_json()),
            "text/plain": f"<plotly figure: {self.fig.layout.title.text}>",
        }


def plotly_output(fig) -> PlotlyOutput:
    """Wrap ``fig`` for display (see :class:`PlotlyOutput`)."""
    global _PLOTLYJS_SENT
    out = PlotlyOutput(fig, include_plotlyjs=not _PLOTLYJS_SENT)
    _PLOTLYJS_SENT = True
    return out


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


# --------------------------------------------------------------------------- stored runs side by side
def run_summary(keys: Sequence[str], root: str | Path | None = None) -> pd.DataFrame:
    """Stored runs side by side, narrow enough for the book's column: one row per run (method,
    seed), its split, the Table 3 switches that are on, gamma, beta, iterations, mIoU, wall time."""
    from ..config import SWITCHES, make_config
    from .evidence.store import stored_result
    from .paper import short_label, switch_label

    rows = []
    for k in keys:
        r = stored_result(k, root)
        c = r["config"]
        cfg = make_config(**{f: c[f] for f in ("method", *SWITCHES) if f in c})
        rows.append(
            {
                "run": f"{c['method']}, seed {c['seed']}",
                "split": c["split"],
                "switches on": short_label(switch_label(cfg)),
                "gamma": c["gamma"],
                "beta": c["beta"],
                "iterations": c["iters"],
                "mIoU (%)": round(100 * r["final"]["miou"], 2),
                "wall time (min)": round(r["wall_time_s"] / 60, 1),
            }
        )
    return pd.DataFrame(rows).set_index("run") if rows else pd.DataFrame()


# --------------------------------------------------------------------------- live runs (JupyterLab)
def ablation_explorer(root: str | Path | None = None, data_root: str | None = None, base: Mapping | None = None):
    """A JupyterLab widget: pick switches and split, see matching stored runs and their curves side
    by side, and launch a short run of the selection (``base``: extra Config fields for it) through
    :func:`mkdlib.experiments.short_run`."""
    import ipywidgets as w
    import matplotlib.pyplot as plt
    from IPython.display import display

    from ..config import METHODS, SWITCHES, make_config, resolve
    from ..experiments import short_run
    from ..results import load_curves
    from .evidence.store import stored_result
    from .figures.viz import plot_curves
    from .paper import FRACTIONS, stored_runs

    method = w.Dropdown(options=METHODS, value="mkd", description="method")
    switch = {
        s: w.Dropdown(
            options=[("preset", None), ("on", True), ("off", False)], value=None, description=s.replace("_", " ")
        )
        for s in SWITCHES
    }
    split = w.Dropdown(options=FRACTIONS, value="1/16", description="split")
    iters = w.BoundedIntText(value=60, min=1, max=100000, description="iterations")
    runs = w.SelectMultiple(options=[], rows=6, description="stored", layout=w.Layout(width="70%"))
    refresh, show, train_btn = (
        w.Button(description="find matching"),
        w.Button(description="compare"),
        w.Button(description="train short run", button_style="warning"),
    )
    out = w.Output()

    def selection() -> dict:
        return {
            "method": method.value,
            "split": split.value,
            **{s: d.value for s, d in switch.items() if d.value is not None},
        }

    def matching(_=None):
        """Stored runs whose method, split and (preset-resolved) switches equal the selection."""
        try:
            want = resolve(make_config(**selection()))
        except ValueError as e:
            runs.options = []
            out.clear_output()
            with out:
                print(f"this combination cannot run: {e}")
            return
        opts = []
        for k in stored_runs(root)["key"]:
            r = stored_result(k, root)
            c = r["config"]
            if (
                c["method"] == want.method
                and c["split"] == want.split
                and all(c[s] == getattr(want, s) for s in SWITCHES)
            ):
                opts.append((f"{k}  ({c['iters']} it, seed {c['seed']}, mIoU {100 * r['final']['miou']:.1f}%)", k))
        runs.options = opts
        runs.value = tuple(k for _, k in opts[:3])

    def compare(_=None):
        out.clear_output()
        with out:
            keys = list(runs.value)
            if not keys:
                print("no stored run matches; press 'train short run' or change the selection")
                return
            display(run_summary(keys, root))
            plt.show(plot_curves({k: load_curves(k, root) for k in keys}))

    def launch(_=None):
        out.clear_output()
        with out:
            try:
                print(f"training {method.value} {split.value} for {iters.value} iterations ...")
                res = short_run(iters.value, data_root, dict(base or {}), **selection())
            except (ValueError, RuntimeError) as e:  # bad selection or data: one line, no traceback
                print(f"cannot train this selection: {e}")
                return
            print(f"done: mIoU {100 * res.miou:.2f}% (built-in dataset)")
        matching()
        compare()

    refresh.on_click(matching)
    show.on_click(compare)
    train_btn.on_click(launch)
    matching()
    return w.VBox(
        [
            w.HBox([method, split, iters]),
            w.HBox(list(switch.values())[:3]),
            w.HBox(list(switch.values())[3:]),
            w.HBox([refresh, show, train_btn]),
            runs,
            out,
        ]
    )
