"""Why a weak-view teacher row can collapse, read from the stored traces (computed by
:mod:`mkdlib.traces`, ``python -m mkdlib.traces``: minutes each on a CPU) and the teachers grid.

The signature of the collapse: the eval-mode teacher predicts one class almost everywhere while
the same network on batch statistics still segments, because its BatchNorm running variances are
still far from the decoder's batch variances; its pseudo labels then pull the students onto that
class on unlabeled images, while the labeled images are memorised. This module trains nothing: it
reads the traces under ``<results store>/traces/`` and the stored runs, and draws.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from ...config import base_config
from ...experiments import TEACHER_STARTS
from ...traces import BN_MODES, SUBSETS, TRACE_SEEDS, TRACED_STARTS, trace_path, traced_config, traces_dir
from ..evidence import stats
from ..evidence.cells import count

__all__ = ["BN_MODES", "SUBSETS", "TRACE_SEEDS", "TRACED_STARTS", "trace_path", "traced_config", "traces_dir"]

NO_TRACE = "No trace is stored yet: `python -m mkdlib.traces` computes them (minutes each)."


def stored_traces(root: str | Path | None = None, seed: int = 0) -> dict[str, pd.DataFrame]:
    """The stored traces of TRACED_STARTS at ``seed``, by label (missing ones left out)."""
    out = {}
    for label, start in TRACED_STARTS.items():
        cfg = traced_config(start, seed)
        path = trace_path(cfg, root)
        if path.is_file():
            out[label] = pd.DataFrame(json.loads(path.read_text())["rows"])
    return out


def trace_summary(root: str | Path | None = None, at: Sequence[int] = (500, 1000)) -> pd.DataFrame:
    """Every stored trace at iterations ``at``: teacher 1 on validation (eval-mode BatchNorm: what it
    labels with; its top class share) and student 1 on its labeled images, on unlabeled ones and on
    validation, per teacher start, mean over the traced seeds (seeds in the last column)."""
    rows = []
    for seed in TRACE_SEEDS:
        for label, df in stored_traces(root, seed).items():
            for it in at:
                d = df[(df.iteration == it) & (df.bn == "eval")].set_index(["network", "subset"])
                if d.empty:
                    continue
                rows.append(
                    {
                        "teacher start": label,
                        "iteration": it,
                        "seed": seed,
                        "teacher, validation": d.loc[("teacher 1", "validation"), "miou"],
                        "teacher's top class share": d.loc[("teacher 1", "validation"), "top_share"],
                        "student, labeled": d.loc[("student 1", "labeled"), "miou"],
                        "student, unlabeled": d.loc[("student 1", "unlabeled"), "miou"],
                        "student, validation": d.loc[("student 1", "validation"), "miou"],
                    }
                )
    if not rows:
        return pd.DataFrame()
    df = pd.DataFrame(rows)
    out = df.groupby(["teacher start", "iteration"], sort=False).mean(numeric_only=True).drop(columns="seed")
    out["seeds"] = df.groupby(["teacher start", "iteration"], sort=False)["seed"].count()
    return out.round(1)


def supervised_curve(root: str | Path | None = None) -> pd.Series:
    """Validation mIoU (%) of supervised training at 1/16 by iteration (the default config, mean over
    the stored seeds): the yardstick a weak-view row has to beat."""
    from ..evidence.store import evaluation_curves

    points: dict[int, list[float]] = {}
    for evals in evaluation_curves("supervised", root):
        for r in evals:
            points.setdefault(r["iter"], []).append(100 * r["miou"])
    return pd.Series({it: sum(v) / len(v) for it, v in sorted(points.items())}, dtype=float)


def plot_collapse(traces: dict[str, pd.DataFrame], supervised: pd.Series | None = None):
    """One panel per teacher start: teacher 1's mIoU on validation in eval mode (what it labels
    with) and on batch statistics, student 1's on its labeled and on unlabeled images, and the
    teacher's share of its most predicted class (dotted, right axis); grey squares: supervised
    training on validation at the same iterations (``supervised``)."""
    import matplotlib.pyplot as plt

    from .palette import METHOD_COLOURS, SUBSET_COLOURS

    if not traces:  # a bare axes would read as a figure of nothing: say what is missing instead
        fig, ax = plt.subplots(figsize=(6, 1.2))
        ax.axis("off")
        ax.text(0.5, 0.5, NO_TRACE, ha="center", va="center", wrap=True, fontsize=9)
        return fig
    n = len(traces)
    cols = min(n, 2)  # two panels a row: the book's column is narrow
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 2.9 * rows + 0.6), sharey=True, squeeze=False)
    flat = list(axes.flat)
    for ax in flat[n:]:
        ax.set_visible(False)
    for ax, (label, df) in zip(flat, traces.items()):
        lines = [
            ("teacher 1", "eval", "validation", "teacher, eval BN", "-"),
            ("teacher 1", "batch", "validation", "teacher, batch stats", "--"),
            ("student 1", "eval", "labeled", "student, labeled", "-"),
            ("student 1", "eval", "unlabeled", "student, unlabeled", "-"),
        ]
        for net, bn, subset, name, style in lines:
            d = df[(df.network == net) & (df.bn == bn) & (df.subset == subset)]
            colour = SUBSET_COLOURS[f"{net.split()[0]} {subset}"]
            ax.plot(d.iteration, d.miou, style, color=colour, marker="o", ms=3, label=name)
        if supervised is not None and len(supervised):
            shown = supervised[supervised.index <= df.iteration.max()]
            ax.plot(
                shown.index, shown.values, "s", color=METHOD_COLOURS["supervised"], ms=5, label="supervised, validation"
            )
        share = df[(df.network == "teacher 1") & (df.bn == "eval") & (df.subset == "validation")]
        twin = ax.twinx()
        twin.plot(share.iteration, share.top_share, ":", color="0.4", label="teacher's top class share")
        twin.set_ylim(0, 100)
        twin.set_yticks([0, 50, 100] if ax in axes[:, -1] else [])
        ax.set_title(label, fontsize=9)
        ax.set_xscale("log")
        ax.set_xlabel("iteration")
        ax.set_ylim(0, 100)
    for ax in axes[:, 0]:
        ax.set_ylabel("mIoU (%)")
    if traces:
        handles = flat[0].get_legend_handles_labels()
        extra = twin.get_legend_handles_labels()
        fig.legend(handles[0] + extra[0], handles[1] + extra[1], loc="lower center", ncol=3, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.14 / rows, 1, 1))
    return fig


def teacher_start_table(root: str | Path | None = None) -> pd.DataFrame:
    """The teachers grid (mkdlib.experiments.teacher_start_grid) read from the store: each teacher
    start on the weak-view row (TEACHER_SCREEN_ITERS) and on the mean teacher (full length), with
    its per-seed mIoU, the mean, its paired difference from the legacy start, and collapsed seeds
    (the claims' one rule, :func:`mkdlib.report.evidence.stats.is_collapsed`, against supervised training at
    the same length); then the two weak-view Table 3 rows at full length on the preset's start (the
    ablation grid's runs): the rows that collapsed before the fix."""
    from ...experiments import HEADLINE_SEEDS, TEACHER_SCREEN_ITERS, table3_row
    from ..evidence.claims import Store, config_at, run_collapsed, supervised_reference

    store = Store(root)

    def stored(fields_: dict) -> dict:
        runs = {s: store.run(config_at(fields_, s)) for s in HEADLINE_SEEDS}  # as the grids stored them
        return {s: r for s, r in runs.items() if r is not None}

    def row(name: str, label: str, iters: int | None, runs: dict, legacy: dict | None) -> dict:
        sup = supervised_reference(store, iters=iters)
        shared = [s for s in runs if legacy is not None and s in legacy]
        effect = stats.paired_effect([runs[s]["miou"] for s in shared], [legacy[s]["miou"] for s in shared])
        values = [runs[s]["miou"] for s in sorted(runs)]
        return {
            "row": name,
            "teacher start": label,
            "iterations": iters or base_config().iters,
            "mIoU per seed": ", ".join(f"{v:.1f}" for v in values),
            "mean": round(sum(values) / len(values), 1) if values else None,
            "vs legacy (paired)": None if legacy is None or effect is None else round(effect.mean, 1),
            "95% interval": ""
            if legacy is None or effect is None or effect.low != effect.low
            else f"[{effect.low:+.1f}, {effect.high:+.1f}]",
            "collapsed seeds": sum(run_collapsed(r, sup) for r in runs.values()),
            "seeds": len(runs),
            "supervised (same length)": None if sup is None else round(sup, 1),
        }

    rows = []
    targets = {
        "co-training + mutual MT, weak views": (
            dict(**table3_row(dict(mutual_mean_teacher=True)), iters=TEACHER_SCREEN_ITERS),
            TEACHER_SCREEN_ITERS,
        ),
        "mean teacher": (dict(method="mean_teacher"), None),
    }
    for name, (fields_, iters) in targets.items():
        legacy = None  # the first start is the legacy one, the reference of the others
        for label, start in TEACHER_STARTS.items():
            runs = stored({**fields_, **start})
            rows.append(row(name, label, iters, runs, legacy))
            legacy = runs if legacy is None else legacy
    for name, on in FULL_LENGTH_ROWS.items():
        rows.append(row(name, f"{chosen_start('mkd', screened=True)} (preset)", None, stored(table3_row(on)), None))
    return pd.DataFrame(rows)


#: the weak-view Table 3 rows that collapsed before the fix (1.4 and 1.5 mIoU), at full length
FULL_LENGTH_ROWS = {
    "co-training + MT, weak views": dict(own_teacher=True),
    "co-training + mutual MT, weak views": dict(mutual_mean_teacher=True),
}


def chosen_start(method: str = "mkd", screened: bool = False) -> str:
    """The label of the teacher start ``method``'s preset uses now (mkdlib.registry), for the text;
    ``screened``: as the preset was when the stored grids ran (mkdlib.experiments.LEGACY_PRESETS)."""
    from ...experiments import LEGACY_PRESETS
    from ...registry import preset_setting

    now = {k: preset_setting(method, k) for k in ("teacher_bn_buffers", "teacher_bn_train", "unsup_rampup")}
    if screened:
        now.update({k: v for k, v in LEGACY_PRESETS.get(method, {}).items() if k in now})
    for label, start in TRACED_STARTS.items():
        if all(now.get(k) == v for k, v in start.items()):
            return label
    return ", ".join(f"{k}={v}" for k, v in now.items())


def notice_collapse(summary: pd.DataFrame, starts: pd.DataFrame) -> str:
    """What the traces (at each start's iteration with the most seeds) and the teachers grid say,
    start by start, and which start the presets use."""
    if summary.empty:
        return NO_TRACE
    lines = []
    sup = supervised_curve()
    # per start, the traced iteration with the most seeds (the later one on a tie)
    flat = summary.reset_index().sort_values(["seeds", "iteration"])
    chosen = flat.groupby("teacher start", sort=False).tail(1).set_index("teacher start")["iteration"]
    for (label, it), r in summary.iterrows():
        if it != chosen[label]:
            continue
        share = r["teacher's top class share"]
        # the claims' rule (mkdlib.report.evidence.stats): one class on > 90 % of the teacher's pixels, or the
        # student below half of supervised training at the same iteration
        collapsed = stats.is_collapsed(r["student, validation"], share, sup.get(it))
        state = "collapsed" if collapsed else "no collapse"
        lines.append(
            f"- **{label}**, {count(int(r['seeds']), 'seed')} at iteration {it}: {state}; the eval-mode teacher gives "
            f"{share:.0f} % of validation pixels one class and scores {r['teacher, validation']:.1f}; the "
            f"student {r['student, labeled']:.1f} on its labeled images, {r['student, unlabeled']:.1f} on "
            f"unlabeled ones, {r['student, validation']:.1f} on validation"
            + (f" (supervised training: {sup[it]:.1f})." if it in sup.index else ".")
        )
    mt = starts[starts["row"] == "mean teacher"]
    for _, r in mt.iterrows():
        if r["seeds"] and r["vs legacy (paired)"] == r["vs legacy (paired)"] and r["vs legacy (paired)"] is not None:
            interval = f", 95 % interval {r['95% interval']}" if r["95% interval"] else ""
            lines.append(
                f"- mean teacher with **{r['teacher start']}**: {r['mean']:.1f} over {count(r['seeds'], 'seed')}, "
                f"{r['vs legacy (paired)']:+.1f} against the legacy start at the same seeds{interval}."
            )
    full = starts[starts["teacher start"].str.endswith("(preset)")] if "teacher start" in starts else starts
    for _, r in full.iterrows():
        if not r["seeds"]:
            continue
        sup = r["supervised (same length)"]  # NaN in the frame when no supervised run is stored
        known = pd.notna(sup)
        lines.append(
            f"- full length ({r['iterations']:,} iterations), the preset's start: **{r['row']}** "
            f"{r['mIoU per seed']} (mean {r['mean']:.1f}), collapsed {r['collapsed seeds']} of {count(r['seeds'], 'seed')}"
            + (f"; supervised training at 1/16: {sup:.1f}" if known else "; no supervised run at 1/16 stored")
            + (
                ", and the run is below it without collapsing: semi-supervision that hurts here (an effect)."
                if known and r["mean"] < sup
                else "."
            )
        )
    then, now = chosen_start("mkd", screened=True), chosen_start("mkd")
    mkd = (
        f"The `mkd` preset, and so every Table 3 row, starts its teachers with **{now}**"
        if then == now
        else f"Every Table 3 row starts its teachers with **{then}**, as the `mkd` preset did when they ran; "
        f"the preset now starts them with **{now}** (set by its departures' screens: the paper-vs-code page)"
    )
    return "\n".join(lines) + (
        f"\n\n{mkd}; the mean teacher with **{chosen_start('mean_teacher')}**; `mkd_release` as the release "
        "(batch statistics, parameters-only EMA)."
    )
