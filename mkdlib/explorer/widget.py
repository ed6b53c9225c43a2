"""The explorer in JupyterLab: its figures shown as widgets a short run redraws (:func:`show_figure`)
and the widget that lists, compares and launches runs (:func:`ablation_explorer`). Nothing trains
unless its "train short run" button is pressed: :func:`mkdlib.experiments.short_run`, into the
user's own store (:func:`mkdlib.explorer.runs.user_store`), never the book's unless asked.

JupyterLab handles widget messages on another thread than the cells (a kernel subshell), and the
inline backend closes every pyplot figure after each cell: a widget draws plotly, or a
``matplotlib.figure.Figure`` of its own, never through pyplot."""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

from .figures import PlotlyOutput, compare_figure, curves_figure, final_miou_figure, plotly_output
from .runs import YOURS, StoredRun, matching_runs, run_summary, user_store

FIGURES = {"final": final_miou_figure, "curves": curves_figure}
#: set (by ``make lab``, booktools/lab.py) where a frontend renders widgets: the explorer's figures
#: are then drawn in output widgets, which a short run can redraw (a finished cell's own output
#: cannot be replaced later from a button in JupyterLab); elsewhere (the book's build) plain output
LIVE_VARIABLE = "MKD_LIVE_FIGURES"
#: the figures :func:`show_figure` displayed in this kernel as widgets: name -> (output widget, store root)
_SHOWN: dict[str, tuple[object, str | Path | None]] = {}


def _bundle(fig) -> dict:
    """``fig`` as one display_data output (plotly's JSON: what JupyterLab draws)."""
    return {"output_type": "display_data", "data": PlotlyOutput(fig, html=False)._repr_mimebundle_(), "metadata": {}}


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
    for name, (out, root) in _SHOWN.items():
        out.outputs = (_bundle(FIGURES[name](root, user_root, view=view)),)
    return list(_SHOWN)


def _home(path: Path) -> str:
    """``path`` with the home folder as ``~``."""
    home = str(Path.home().resolve())
    path = str(Path(path).resolve())
    return "~" + path[len(home) :] if path.startswith(home + os.sep) else path


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
    the book's store, ``root``) and the figures of :func:`show_figure` are redrawn with it."""
    import ipywidgets as w
    from IPython.display import display

    from ..config import METHODS, SWITCHES
    from ..experiments import short_run
    from ..report.paper import FRACTIONS

    user_folder = Path(user_dir) if user_dir is not None else user_store()
    store = None if into_book_store else user_folder
    user = user_folder / "results"  # the user's results store, read beside the book's
    wide = {"description_width": "initial"}
    method = w.Dropdown(options=METHODS, value="mkd", description="method", style=wide)
    choices = (("preset", "preset"), ("on", "on"), ("off", "off"))
    switch = {
        s: w.Dropdown(
            options=choices, value="preset", description=s.replace("_", " "), style=wide, layout=w.Layout(width="auto")
        )
        for s in SWITCHES
    }
    split = w.Dropdown(options=FRACTIONS, value="1/16", description="split", style=wide)
    iters = w.BoundedIntText(value=60, min=1, max=100000, description="iterations", style=wide)
    runs = w.SelectMultiple(options=[], rows=8, description="stored runs", style=wide, layout=w.Layout(width="95%"))
    refresh = w.Button(description="find matching", tooltip="list the stored runs of this selection")
    show = w.Button(description="compare", tooltip="table and curves of the selected runs")
    train_btn = w.Button(
        description="train short run",
        button_style="warning",
        tooltip=f"train this selection for the given iterations; stored in {store or 'the book store'}",
    )
    status, progress, out = w.HTML(value=""), w.Output(), w.Output()
    for widget, name in ((status, "mkd-status"), (progress, "mkd-progress"), (out, "mkd-compare")):
        widget.add_class(name)  # for the tests (tests/test_lab.py finds them in the page too)
    listed: dict[str, StoredRun] = {}
    lock = threading.Lock()  # one press at a time: a widget thread and the cells share these
    controls = [method, split, iters, *switch.values(), refresh, show, train_btn, runs]

    def selection() -> dict:
        on = {s: d.value == "on" for s, d in switch.items() if d.value != "preset"}
        return {"method": method.value, "split": split.value, **on}

    def describe_selection() -> str:
        on = [f"{s.replace('_', ' ')} {d.value}" for s, d in switch.items() if d.value != "preset"]
        return f"{method.value} at {split.value}" + (f" with {', '.join(on)}" if on else " (its preset)")

    def say(text: str) -> None:
        status.value = f"<span style='font-size: 0.95em'>{text}</span>"

    def matching(select: Sequence[str] = ()) -> list[StoredRun]:
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
        runs.value = tuple(k for k in dict.fromkeys(select) if k in listed) or tuple(r.key for r in found[:3])
        if not found:
            out.clear_output()
        say(f"{len(found)} stored run(s) of {describe_selection()}; {len(runs.value)} selected" if found else why)
        return found

    def compare() -> None:
        out.clear_output(wait=True)
        with out:
            if not runs.value:
                print("no run selected: pick one or more in the list (ctrl/shift-click), or press 'find matching'")
                return
            chosen = [listed[k] for k in runs.value]
            display(run_summary(chosen))
            display(PlotlyOutput(compare_figure(chosen), html=False))

    def launch() -> None:
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
        where = "the book's store" if store is None else f"your store ({_home(store)})"
        matching(select=[res.config.key(), *[r.key for r in matching_runs(sel, root, user)[:2]]])
        redrawn = refresh_figures(user, view=YOURS) if store is not None else []
        say(
            f"<b>done</b>: {describe_selection()}, {iters.value} iterations: final mIoU {100 * res.miou:.2f}% "
            f"(built-in dataset), stored in {where}"
            + ("; the figures above now show it (view 'your runs')" if redrawn else "")
            + ". Compared below with the stored runs of the same selection."
        )
        compare()

    def once(handler):
        def press(_=None):
            if lock.acquire(blocking=False):  # else a press while another is handled: dropped
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
    rows = [[method, split, iters], switches[:3], switches[3:], [refresh, show, train_btn]]
    return w.VBox([*map(w.HBox, rows), status, progress, runs, out])
