"""One visual language: every figure draws a method in the colour :mod:`mkdlib.report.figures.palette`
gives it, a series that is no method in a colour no method has, and its legends beside the data,
never over it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]


def _hex(colour) -> str:
    from matplotlib.colors import to_hex

    return to_hex(colour, keep_alpha=False).lower()


def drawn_colours(fig) -> list[tuple[str, str]]:
    """(label, colour) of every legend entry, labelled line and labelled bar group of ``fig``."""
    from matplotlib.lines import Line2D

    found = []
    legends = [*fig.legends, *(ax.get_legend() for ax in fig.axes if ax.get_legend() is not None)]
    for leg in legends:
        for handle, text in zip(leg.legend_handles, leg.get_texts()):
            colour = handle.get_color() if isinstance(handle, Line2D) else handle.get_facecolor()
            found.append((text.get_text(), _hex(colour)))
    for ax in fig.axes:
        found += [
            (line.get_label(), _hex(line.get_color())) for line in ax.lines if not line.get_label().startswith("_")
        ]
        for bars in ax.containers:
            label = bars.get_label()
            if not label.startswith("_") and hasattr(bars, "patches"):
                found += [(label, _hex(p.get_facecolor())) for p in bars.patches]
    return found


def palette_violations(fig) -> list[str]:
    """Entries of ``fig`` drawn in a colour outside the palette's rule."""
    from mkdlib.report.figures.palette import METHOD_COLOURS, method_of

    method_hex = {_hex(c) for c in METHOD_COLOURS.values()}
    bad = []
    for label, colour in drawn_colours(fig):
        method = method_of(label)
        if method is not None and colour != _hex(METHOD_COLOURS[method]):
            bad.append(f"{label!r} ({method}) drawn in {colour}, not {METHOD_COLOURS[method]}")
        elif method is None and colour in method_hex and not label.startswith("gate"):
            bad.append(f"{label!r} names no method but is drawn in a method's colour {colour}")
    return sorted(set(bad))  # a legend entry and its line say the same


def test_method_of_reads_names_labels_short_forms_and_variants():
    from mkdlib.report.figures.palette import method_of

    assert method_of("cps_cutmix") == method_of("CPS + CutMix") == method_of("CPS+CutMix") == "cps_cutmix"
    assert method_of("CPS") == method_of("CPS (co-training)") == "cps"
    assert method_of("supervised only, 1/16") == "supervised"
    assert method_of("mean teacher, 1/16 (teacher_bn_train=True)") == "mean_teacher"
    assert method_of("MKD (2 seeds)") == "mkd"
    assert method_of("paper MKD-R50") == method_of("MKD-R101") == "mkd"
    assert method_of("co-training + SDA") is None and method_of("gamma=0.4") is None


def test_series_styles_keep_method_colours_for_methods_only():
    from mkdlib.report.figures.palette import METHOD_COLOURS, series_styles

    styles = series_styles(["MKD", "mean teacher, 1/16", "mean teacher, 1/16 (x=1)", "+ SDA", "+ FDA"])
    assert styles["MKD"] == (METHOD_COLOURS["mkd"], "-")
    assert styles["mean teacher, 1/16"][0] == styles["mean teacher, 1/16 (x=1)"][0] == METHOD_COLOURS["mean_teacher"]
    assert styles["mean teacher, 1/16"][1] != styles["mean teacher, 1/16 (x=1)"][1]  # variants: another line style
    others = {styles["+ SDA"][0], styles["+ FDA"][0]}
    assert len(others) == 2 and not others & set(METHOD_COLOURS.values())


def _method_figures():
    import matplotlib

    matplotlib.use("Agg")
    from mkdlib.report import paper
    from mkdlib.report.figures import viz

    curves = [{"iter": i, "loss": 1 / i} for i in range(1, 30)] + [{"iter": 10, "miou": 0.3}, {"iter": 20, "miou": 0.4}]
    names = ("background", "a", "b", "c", "d")
    runs = pd.DataFrame(
        [
            {"split": s, "method": m, "miou": 30 + 5 * k + i, "seed": i, "gamma": g, "beta": g}
            for k, m in enumerate(("supervised", "cps_cutmix", "mkd"))
            for s, g in (("1/16", 0.0), ("1/8", 0.4))
            for i in range(2)
        ]
    )
    gains = pd.DataFrame(
        [
            {"method": m, "iter": it, "gain": 1.0 + it / 1000, "noise": 0.5, "seeds": 2}
            for m in ("mean_teacher", "mkd")
            for it in (1000, 2000)
        ]
    )
    return {
        "curves": viz.plot_curves({"supervised only": curves, "CPS": curves, "CPS + CutMix": curves, "MKD": curves}),
        "miou curves": viz.plot_miou_curves(
            {"supervised only, 1/16": curves, "mean teacher, 1/16 (x=1)": curves, "+ SDA": curves}
        ),
        "per-class IoU": viz.plot_per_class_iou({"supervised only": [0.1] * 5, "MKD": [0.3] * 5}, names),
        "gain by iteration": viz.plot_gain_by_iteration(gains, 1.5, {"mean_teacher": "mean teacher", "mkd": "MKD"}),
        "label fractions": viz.plot_label_fractions(runs, paper.paper_table("table1_voc_classic")),
        "gamma sweep": viz.plot_sweep(runs, paper.table_sweep("gamma"), "gamma"),
        "effects": viz.plot_effect_directions(paper.effect_directions()),
    }


def test_every_figure_draws_each_method_in_its_palette_colour_and_no_legend_over_data():
    from mkdlib.report.figures import viz

    for name, fig in _method_figures().items():
        assert drawn_colours(fig), f"{name}: nothing labelled to check"
        assert not palette_violations(fig), f"{name}: {palette_violations(fig)}"
        assert not viz.legends_over_data(fig), f"{name}: a legend covers the plot area"
        renderer = fig.canvas.get_renderer()  # and making room for the legend squeezed no plot away
        widths = [ax.get_window_extent(renderer).width / fig.dpi for ax in fig.axes if ax.get_visible()]
        assert min(widths) > 1.5, f"{name}: a plot area only {min(widths):.2f} in wide"
    import matplotlib.pyplot as plt

    plt.close("all")


def test_one_runs_loss_terms_are_drawn_in_colours_no_method_has():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from mkdlib.report.figures import viz
    from mkdlib.report.figures.palette import LOSS_TERM_COLOURS, METHOD_COLOURS

    recs = [{"iter": i, "loss": 2 / i, "sup": 1 / i, "st": 0.5 / i, "ss": 0.4 / i} for i in range(1, 20)]
    fig = viz.plot_curves(recs + [{"iter": 10, "miou": 0.3}, {"iter": 19, "miou": 0.4}])
    drawn = {line.get_label(): _hex(line.get_color()) for line in fig.axes[0].lines}
    assert drawn == {t: _hex(c) for t, c in LOSS_TERM_COLOURS.items()}
    assert not set(drawn.values()) & {_hex(c) for c in METHOD_COLOURS.values()}
    plt.close(fig)


def test_the_collapse_figure_gives_no_method_colour_to_a_network_curve():
    from mkdlib.report.figures.palette import METHOD_COLOURS, SUBSET_COLOURS

    assert not set(SUBSET_COLOURS.values()) & set(METHOD_COLOURS.values())
    assert len(set(SUBSET_COLOURS.values())) == len(SUBSET_COLOURS)


def test_the_checks_catch_a_method_in_a_foreign_colour_and_a_legend_over_data():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from mkdlib.report.figures import viz

    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1], color="C0", label="MKD")  # matplotlib's default blue: not MKD's colour
    ax.bar([0.5], [0.5], color="#009E73", label="+ SDA")  # a table row in MKD's colour
    ax.legend(loc="center")
    assert len(palette_violations(fig)) == 2
    assert viz.legends_over_data(fig) == ["MKD"]


def test_cost_chart_draws_each_whole_step_in_its_methods_colour(cost_chart):
    from bench.plots import METHOD_LABELS
    from mkdlib.report.figures.palette import METHOD_COLOURS

    ax = cost_chart.axes[0]
    ticks = [t.get_text() for t in ax.get_xticklabels()]
    by_label = {label: m for m, label in METHOD_LABELS.items()}
    for bar in ax.patches:
        method = by_label[ticks[int(np.round(bar.get_x() + bar.get_width() / 2))]]
        if method != "mkd":  # MKD's bar is split into its parts, in colours no method has
            assert _hex(bar.get_facecolor()) == _hex(METHOD_COLOURS[method]), method
        else:
            assert _hex(bar.get_facecolor()) not in {_hex(c) for c in METHOD_COLOURS.values()}


def test_explorer_figures_draw_methods_in_their_colour_and_settings_in_none():
    """Every trace of the explorer's plotly figures (bars, seed dots, curves) in every view: a method in
    its palette colour, a setting that is no method (Table 3 switches, gamma, beta) in a colour no
    method has, and no trace left to plotly's default colours."""
    from mkdlib import explorer
    from mkdlib.report.figures.palette import METHOD_COLOURS, method_of

    method_hex = {_hex(c) for c in METHOD_COLOURS.values()}
    runs = pd.DataFrame(
        [
            {
                "view": v,
                "x": x,
                "series": s,
                "seed": seed,
                "miou": 40.0 + seed,
                "best_miou": 41.0,
                "key": f"{v}-{x}-{seed}",
            }
            for v, x, s in (
                ("method", "supervised only", "built-in dataset"),
                ("method", "CPS + CutMix", "built-in dataset"),
                ("method", "MKD", "built-in dataset"),
                ("switches", "co-training", "built-in dataset"),
                ("switches", "co-training +<br>strong aug", "built-in dataset"),
                ("gamma", "0.4", "built-in dataset"),
                ("split", "1/16", "MKD"),
                ("split", "1/8", "MKD"),
                ("split", "1/16", "CPS (co-training)"),
            )
            for seed in (0, 1)
        ]
    )
    for view in ("method", "switches", "gamma", "split"):
        v = runs[runs["view"] == view]
        styles = explorer.curve_styles(view, v)
        for (series, x, _seed), (colour, _dash, _) in styles.items():
            named = method_of(x.replace("<br>", " ")) if view == "method" else method_of(series)
            if view in ("method", "split"):
                assert _hex(colour) == _hex(METHOD_COLOURS[named]), (view, series, x)
            else:
                assert _hex(colour) not in method_hex, (view, x, colour)
        # seeds of one run (or fractions of one method) told apart by dash, not colour
        if view != "split":
            assert {d for (_, x, _), (_, d, _) in styles.items() if x == v["x"].iloc[0]} == {"solid", "dash"}
        assert len({c for c, _, _ in styles.values()}) == v["x" if view != "split" else "series"].nunique()

    # and on the stored runs: every drawn trace carries an explicit colour; every curve that names a
    # method ("MKD (release), 6 seeds", "MKD, 1/8, 1 seed") is in its colour, every other in none
    import re

    for fig in (explorer.curves_figure(), explorer.final_miou_figure()):
        for t in fig.data:
            colour = t.line.color if t.type == "scatter" and t.mode == "lines+markers" else t.marker.color
            assert colour is not None, f"{t.name}: plotly's default colour"
    for t in explorer.curves_figure().data:
        method = method_of(re.sub(r", \d+ seeds?$", "", t.name))
        if method is not None:
            assert _hex(t.line.color) == _hex(METHOD_COLOURS[method]), t.name
        else:
            assert _hex(t.line.color) not in method_hex, t.name


def test_table3_figure_says_which_rows_have_no_stored_run():
    """An empty bar reads as 0 mIoU: the Table 3 figure writes "not yet run" on our side of every row
    with no stored run, and on no row that has one."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from mkdlib.report import paper
    from mkdlib.report.figures import viz

    table = paper.table_ablation()
    first = table.index[0]
    runs = pd.DataFrame({"label": [first, first], "miou": [50.0, 52.0], "seed": [0, 1]})
    fig = viz.plot_ablation(runs, table)
    ours = fig.axes[0]
    marked = [t for t in ours.texts if t.get_text() == "not yet run"]
    rows = [lab.get_text() for lab in ours.get_yticklabels()]
    assert len(marked) == len(table) - 1
    assert {rows[round(t.get_position()[1])] for t in marked} == set(rows) - {paper.short_label(first)}
    plt.close(fig)
