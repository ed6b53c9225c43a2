"""The tables chapter's figures: Table 1 (label fractions), Table 3 (ablation), Tables 4/5 (the
sweeps) and the effects, ours beside the paper's, in the book's palette (re-exported by viz)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from ..evidence.cells import OURS, PAPER
from ..evidence.transcribed import FRACTIONS
from ..tables.display import short_label
from ..tables.effects import COLLAPSED, HIGH, LOW
from ..tables.tables import method_label
from .figstyle import legend_below, legend_under_axes, readable
from .palette import METHOD_COLOURS, OURS_COLOUR, PAPER_COLOUR, method_colour


def _no_data(ax, what: str = "not yet run") -> None:
    ax.text(0.5, 0.5, what, ha="center", va="center", transform=ax.transAxes, color="grey")


def plot_label_fractions(runs: pd.DataFrame, paper: pd.DataFrame) -> Figure:
    """mIoU vs label fraction: ours (built-in dataset, sd over seeds) beside the paper's Table 1.

    ``runs``: :func:`mkdlib.report.evidence.store.grid_runs` rows; ``paper``: the ``table1_voc_classic`` table.
    """
    import seaborn as sns

    fig, (ax, axp) = plt.subplots(1, 2, figsize=(8.5, 3.8), sharey=True, layout="constrained")
    done = runs.dropna(subset=["miou"])
    if len(done):
        colours = {method_label(m): c for m, c in METHOD_COLOURS.items()}
        done = done.assign(
            split=pd.Categorical(done["split"], FRACTIONS, ordered=True), method=done["method"].map(method_label)
        )
        sns.lineplot(
            done,
            x="split",
            y="miou",
            hue="method",
            palette={m: colours.get(m, "0.5") for m in done["method"].unique()},
            errorbar="sd",
            err_style="bars",
            marker="o",
            ax=ax,
            sort=True,
        )
    else:
        _no_data(ax)
    ax.set(xlabel="labeled fraction", ylabel="val mIoU (%)", title="ours: built-in dataset")
    styles = {
        "CPS-R101": (METHOD_COLOURS["cps"], "-"),
        "MKD-R50": (METHOD_COLOURS["mkd"], "--"),
        "MKD-R101": (METHOD_COLOURS["mkd"], "-"),
    }
    for name, (colour, style) in styles.items():
        axp.plot(list(FRACTIONS), paper.loc[name].values, style, color=colour, marker="o", label=name)
    ax.set_ylim(0, 100)
    axp.set(xlabel="labeled fraction", ylabel="val mIoU (%)", title="paper: PASCAL VOC 2012 (Table 1)")
    for a in (ax, axp):
        a.grid(alpha=0.3)
    legend_below(fig, ncol=3)  # ours (methods) and the paper's rows, under both panels
    return readable(fig)


def plot_ablation(runs: pd.DataFrame, table: pd.DataFrame) -> Figure:
    """Table 3 as bars: ours (mean, sd over seeds, one dot per seed) beside the paper's."""
    import seaborn as sns

    labels = [short_label(label) for label in table.index]  # the paper's abbreviations: + MT, + SDA, ...
    # zero-based, shared axes: ours and the paper's bars read on one scale
    fig, (ax, axp) = plt.subplots(1, 2, figsize=(8, 0.45 * len(labels) + 1.8), sharey=True, sharex=True)
    done = runs.dropna(subset=["miou"]).assign(label=lambda d: d["label"].map(short_label))
    ours = METHOD_COLOURS["mkd"]
    if len(done):
        sns.barplot(done, y="label", x="miou", order=labels, errorbar="sd", color=ours, alpha=0.6, ax=ax)
        sns.stripplot(done, y="label", x="miou", order=labels, color=ours, edgecolor="k", linewidth=0.5, size=4, ax=ax)
    else:
        ax.set_yticks(range(len(labels)), labels)
        _no_data(ax)
    ax.set(xlabel="val mIoU (%)", ylabel="", title="ours: built-in dataset")
    if len(done):  # a row with no stored run says so (an empty bar would read as 0 mIoU)
        stored = set(done["label"])
        for i, label in enumerate(labels):
            if label not in stored:
                ax.text(2, i, "not yet run", va="center", ha="left", fontsize="small", color="0.4")
    col = [c for c in table.columns if c.startswith(PAPER) and "gain" not in c][0]
    axp.barh(range(len(labels)), table[col].values, color=PAPER_COLOUR)
    axp.set_xlim(0, 100)
    axp.set(xlabel="val mIoU (%)", title="paper: VOCAug 1/16, R50")
    for a in (ax, axp):
        a.grid(axis="x", alpha=0.3)
    fig.text(
        0.01,
        0.005,
        "co-training (CPS) + MT: mean teacher, mutual MT, SDA: strong aug, FDA: feature aug",
        fontsize="small",
        color="0.3",
        va="bottom",
    )
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return readable(fig)


def plot_sweep(runs: pd.DataFrame, table: pd.DataFrame, param: str) -> Figure:
    """Table 4/5 as lines: ours vs ``param`` (built-in dataset) beside the paper's R50 and R101, on
    one zero-based mIoU axis (the paper's sweep moves its mIoU by under a point: so it reads). Our
    line joins the sweep seed's runs (one seed per value: the line compares runs with the same
    initialisation and data order); the default value's other seeds are the faint dots around it."""
    import seaborn as sns

    from ...experiments import SWEEP_SEED

    # zero-based, shared y axis: ours and the paper's numbers read on one scale (as Tables 1 and 3)
    fig, (ax, axp) = plt.subplots(1, 2, figsize=(8.5, 3.6), sharey=True, layout="constrained")
    done = runs.dropna(subset=["miou"])
    if len(done):
        done = done.assign(series=[f"{method_label(m)}, seed {SWEEP_SEED}" for m in done["method"]])
        colours = dict(zip(done["series"], (method_colour(m) for m in done["method"])))
        sweep, others = done[done["seed"] == SWEEP_SEED], done[done["seed"] != SWEEP_SEED]
        sns.lineplot(sweep, x=param, y="miou", hue="series", palette=colours, errorbar=None, marker="o", ax=ax)
        for method, g in others.groupby("method", sort=False):
            ax.scatter(
                g[param],
                g["miou"],
                color=method_colour(method),
                s=18,
                alpha=0.4,
                label=f"{method_label(method)}, other seeds",
            )
    else:
        _no_data(ax)
    ax.set(xlabel=param, ylabel="val mIoU (%)", title="ours: built-in dataset")
    for col, style in ((f"{PAPER} R50", "--"), (f"{PAPER} R101", "-")):  # MKD's rows, as in Table 1's figure
        s = table[col].dropna()
        label = f"paper MKD-{col.replace(f'{PAPER} ', '')}"
        axp.plot(s.index, s.values, style, color=METHOD_COLOURS["mkd"], marker="o", label=label)
    axp.set(xlabel=param, ylabel="val mIoU (%)", title="paper: VOCAug 1/16")
    ax.set_ylim(0, 100)
    for a in (ax, axp):
        a.grid(alpha=0.3)
    legend_below(fig, ncol=4)
    return readable(fig)


def plot_effect_directions(effects: pd.DataFrame) -> Figure:
    """Each paper effect as two bars: our gain (built-in dataset, with its paired 95 % interval;
    hatched where a run behind it collapsed) and the paper's gain. ``effects``:
    :func:`mkdlib.report.tables.effects.effect_directions`."""

    labels = [f"{t}: {short_label(e)}" for t, e in effects.index]
    y = np.arange(len(labels))
    fig, ax = plt.subplots(
        figsize=(8, 0.38 * len(labels) + 1.8)
    )  # tight layout: its long labels squeeze a constrained one
    ours, theirs = effects[f"{OURS} gain"], effects[f"{PAPER} gain"]
    below, above = (ours - effects[LOW]).fillna(0.0), (effects[HIGH] - ours).fillna(0.0)
    ax.barh(
        y - 0.2,
        ours.fillna(0.0),
        height=0.4,
        color=OURS_COLOUR,
        label="ours (built-in dataset)",
        xerr=np.vstack([below.to_numpy(), above.to_numpy()]),
        error_kw={"ecolor": "0.4", "capsize": 2, "lw": 0.8},
    )
    ax.barh(y + 0.2, theirs, height=0.4, color=PAPER_COLOUR, label="paper")
    right = np.nanmax(
        np.vstack([ours.to_numpy(), effects[HIGH].to_numpy(), theirs.to_numpy(), np.zeros(len(y))]), axis=0
    )
    for yi, v, verdict, x in zip(y, ours, effects["verdict"], right):
        if np.isnan(v):
            ax.text(0, yi - 0.2, " not yet run", va="center", fontsize="x-small", color="grey")
        elif verdict == COLLAPSED:  # counted apart from effects: the bar is no gain
            ax.barh(yi - 0.2, v, height=0.4, color="white", edgecolor=OURS_COLOUR, hatch="///")
            ax.text(x, yi, " collapsed", va="center", fontsize="x-small", color="grey")  # right of its bars
    ax.axvline(0, color="k", lw=0.8)
    ax.set_yticks(y, labels, fontsize="small")
    ax.invert_yaxis()
    ax.set(
        xlabel="mIoU gain over the table's reference row (points)",
        title="Does each effect reproduce?\n(error bars: paired 95 % interval; hatched: a run collapsed)",
    )
    ax.grid(axis="x", alpha=0.3)
    legend_under_axes(ax, ncol=2)
    fig.tight_layout()
    return readable(fig)


def plot_headline_pairs(pairs: pd.DataFrame) -> Figure:
    """The decisive headline seed by seed: per comparison, each seed's test-set difference (a dot),
    their mean with its paired 95 % interval (the claims table's rule; hollow below 3 pairs, which
    get no verdict) and the paper's effect. ``pairs``: :func:`mkdlib.report.tables.effects.headline_pairs`."""
    from ..evidence import stats

    labels = list(dict.fromkeys(pairs["comparison"]))
    fig, ax = plt.subplots(figsize=(8, 0.5 * len(labels) + 1.6), layout="constrained")
    for y, label in enumerate(labels):
        rows = pairs[(pairs["comparison"] == label) & pairs["difference"].notna()]
        d = rows["difference"].to_numpy()
        paper = pairs.loc[pairs["comparison"] == label, "paper"].iloc[0]
        if not np.isnan(paper):
            ax.plot([paper], [y], marker="|", ms=14, mew=2.5, color=PAPER_COLOUR, ls="none")
        if not len(d):
            ax.text(0, y, " no pair yet", va="center", fontsize="x-small", color="grey")
            continue
        jitter = np.linspace(-0.12, 0.12, len(d)) if len(d) > 1 else np.zeros(1)
        ax.scatter(d, y + 0.18 + jitter, s=12, color=OURS_COLOUR, alpha=0.6, lw=0)
        e = stats.paired_effect(list(d), [0.0] * len(d))
        judged = len(d) >= stats.MIN_PAIRS
        if e is not None and np.isfinite(e.low):
            ax.plot([e.low, e.high], [y, y], color="k", lw=1.2)
        ax.plot([d.mean()], [y], marker="D", ms=6, color="k", mfc="k" if judged else "white", ls="none")
        ax.text(
            1.01,
            y,
            f"{len(d)} pair{'s' if len(d) != 1 else ''}",
            transform=ax.get_yaxis_transform(),
            va="center",
            fontsize="x-small",
            color="0.3",
        )
    ax.axvline(0, color="k", lw=0.8)
    ax.set_yticks(range(len(labels)), labels, fontsize="small")
    ax.invert_yaxis()
    ax.set(
        xlabel="test mIoU difference, A - B (points)", title="The decisive headline, seed by seed (held-out test set)"
    )
    key = [
        Line2D([], [], marker="o", ms=4, color=OURS_COLOUR, alpha=0.6, ls="none", label="a seed"),
        Line2D([], [], marker="D", ms=5, color="k", label="mean, paired 95 % interval (hollow: < 3 pairs)"),
        Line2D([], [], marker="|", ms=10, mew=2.5, color=PAPER_COLOUR, ls="none", label="paper"),
    ]
    ax.legend(handles=key, loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=3, fontsize="x-small", frameon=False)
    ax.grid(axis="x", alpha=0.3)
    return readable(fig)
