"""The built-in benchmark's calibration gates (docs/benchmark.md), read from the results store; with
the book, not the library: they judge the book's own grids, not a researcher's runs.

G1: is there headroom (supervised with all labels against 1/16)? G2: does a semi-supervised
baseline use it (CPS + CutMix against supervised at 1/16, beyond the seed noise)? Every table of
the book means something only when both are met; the intro and the tables chapter show them.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from mkdlib.experiments import reference_grid
from mkdlib.report.evidence.cells import Cells, count, wide
from mkdlib.report.evidence.stats import difference_noise  # the book's one noise formula (re-exported here)
from mkdlib.report.evidence.store import grid_runs, seed_summary
from mkdlib.report.tables.effects import NO_RUNS
from mkdlib.report.tables.notices import format_gain, what_to_notice
from mkdlib.report.tables.tables import method_label

#: the gates of the built-in benchmark (docs/benchmark.md): G1 (headroom), G2 (semi-supervision pays)
G1_FULL_MIN, G1_GAP_MIN, G2_GAIN_MIN = 70.0, 20.0, 5.0


def calibration_runs(root: str | Path | None = None, grid: str = "calibration") -> pd.DataFrame:
    """Stored runs of the calibration grid (or ``grid``, e.g. ``short_schedule``:
    :func:`mkdlib.report.evidence.store.grid_runs`), each with its ``run`` label: method label, labels, and
    any setting that differs from the default; ``miou=NaN`` = not yet run."""
    runs = grid_runs(grid, root)
    run = [
        f"{method_label(m)}, {sp}" + (f" ({setting})" if setting else "")
        for m, sp, setting in zip(runs["method"], runs["split"], runs["setting"])
    ]
    return runs.assign(run=run)


def table_calibration(root: str | Path | None = None, grid: str = "calibration") -> pd.DataFrame:
    """The calibration grid's (or ``grid``'s) final mIoU per run (mean, sd, seeds), from the store."""
    runs = calibration_runs(root, grid)
    cells = Cells(grid)
    cells.ours(seed_summary(runs, ["run"]), list(dict.fromkeys(runs["run"])))
    return wide(cells.frame(), "run")


def g2_holds(gain: float, noise: float) -> bool:
    """G2's test: at least ``G2_GAIN_MIN`` points, and beyond the noise (none to judge by: False)."""
    return bool(gain >= G2_GAIN_MIN and not math.isnan(noise) and gain > noise)


def calibration_gates(root: str | Path | None = None, z: float = 2.0, grid: str = "calibration") -> pd.DataFrame:
    """G1 and G2, measured: the value, its target and whether it is met (3 seeds each).

    G1: supervised with all labels >= 70 mIoU, and at least 20 points above supervised at 1/16.
    G2: CPS (+ CutMix, the paper's CPS baseline) at 1/16 >= supervised at 1/16 + 5 points, and the
    gain beyond ``z`` sd of the difference of the two means (each mean's own seed spread). Plain CPS
    and the mean teacher are measured the same way beside it (where ``grid`` holds them: the
    ``short_schedule`` grid has CPS + CutMix only)."""
    runs = calibration_runs(root, grid)
    # the grid's own setting (the calibration grid's: none; short_schedule's: its iterations); rows
    # that differ from it are one-seed checks of a switch, not gate runs
    default = runs[runs["setting"] == runs["setting"].mode().iloc[0]]
    stats = {
        (m, sp): (g["miou"].mean(), g["miou"].std(ddof=1), int(g["miou"].count()))
        for (m, sp), g in default.groupby(["method", "split"], sort=False)
    }
    nan3 = (math.nan, math.nan, 0)
    full, sup = stats.get(("supervised", "full"), nan3), stats.get(("supervised", "1/16"), nan3)

    def state(ok: bool, *seeds: int) -> str:
        if any(n == 0 for n in seeds):
            return "not yet run"
        return ("met" if ok else "missed") + ("" if all(n >= 3 for n in seeds) else " (fewer than 3 seeds)")

    rows = [
        {
            "gate": "G1: supervised, all labels",
            "measured": full[0],
            "target": f">= {G1_FULL_MIN:g}",
            "noise (±)": math.nan,
            "seeds": f"{full[2]}",
            "verdict": state(full[0] >= G1_FULL_MIN, full[2]),
        },
        {
            "gate": "G1: all labels - 1/16 (headroom)",
            "measured": full[0] - sup[0],
            "target": f">= {G1_GAP_MIN:g}",
            "noise (±)": math.nan,
            "seeds": f"{full[2]} / {sup[2]}",
            "verdict": state(full[0] - sup[0] >= G1_GAP_MIN, full[2], sup[2]),
        },
    ]
    for method, gate in (("cps_cutmix", "G2"), ("cps", "beside G2"), ("mean_teacher", "beside G2")):
        if method not in set(runs["method"]):  # not in this grid
            continue
        m = stats.get((method, "1/16"), nan3)
        gain = m[0] - sup[0]
        noise = difference_noise(m[1], m[2], sup[1], sup[2], z)
        rows.append(
            {
                "gate": f"{gate}: {method_label(method)} - supervised, 1/16",
                "measured": gain,
                "target": f">= +{G2_GAIN_MIN:g}, beyond noise",
                "noise (±)": noise,
                "seeds": f"{m[2]} / {sup[2]}",
                "verdict": state(g2_holds(gain, noise), m[2], sup[2]),
            }
        )
    return pd.DataFrame(rows).set_index("gate")


def notice_calibration(gates: pd.DataFrame, grid: str = "calibration") -> str:
    """What to notice in the gates of :func:`calibration_gates` (of ``grid``), from their numbers."""
    v = gates["verdict"]
    if (v == "not yet run").all():
        return what_to_notice(f"{NO_RUNS.capitalize()} for the {grid} grid (`python -m mkdlib.experiments {grid}`).")
    g1 = [i for i in gates.index if i.startswith("G1")]
    g2 = next(i for i in gates.index if i.startswith("G2"))
    g1_text = (
        "G1 is met: the task is learnable with all labels and 1/16 of them leaves a headroom of "
        f"{gates.loc[g1[1], 'measured']:.1f} points"
        if all(v[i].startswith("met") for i in g1)
        else f"G1 is {', '.join(sorted({v[i] for i in g1}))}"
    )
    g2_gain, g2_noise = gates.loc[g2, "measured"], gates.loc[g2, "noise (±)"]
    if v[g2] == "not yet run":
        g2_text = "G2 (CPS + CutMix against supervised training at 1/16) is not yet run"
    else:
        g2_text = f"G2 is {v[g2]}: CPS + CutMix is {format_gain(g2_gain)} points over supervised training at 1/16"
        g2_text += f" (noise ±{g2_noise:.1f})" if not math.isnan(g2_noise) else " (one seed: no noise to judge by)"
    beside = [
        f"{i.split(': ', 1)[1].split(' - ')[0]} {format_gain(gates.loc[i, 'measured'])}"
        for i in gates.index
        if i.startswith("beside")
    ]
    return what_to_notice(f"{g1_text}. {g2_text}" + (f"; beside it: {', '.join(beside)}." if beside else "."))


def gain_by_iteration(root: str | Path | None = None, z: float = 2.0) -> pd.DataFrame:
    """G2's gain at every evaluation of the headline runs: each semi-supervised method at 1/16
    minus supervised training at 1/16 (validation mIoU %, means over the stored seeds), with the
    ``z``-sd noise of the difference and whether G2's test holds there.

    This is the measurement behind the cost question (how many iterations does G2 need?). It reads
    the curves of the one 4,000-iteration cosine schedule: at an intermediate evaluation the
    learning rate has not decayed, so a shorter schedule is its own experiment, not this curve cut.
    Columns: method, iter, gain, noise, seeds, g2 (bool)."""
    from mkdlib.results import load_curves

    runs = grid_runs(reference_grid(), root)
    runs = runs[(runs["split"] == "1/16") & runs["key"].notna()]
    scores = []
    for r in runs.itertuples():
        for rec in load_curves(r.key, root):
            if rec.get("miou") is not None:
                scores.append({"method": r.method, "iter": rec["iter"], "miou": 100 * rec["miou"]})
    cols = ["method", "iter", "gain", "noise", "seeds", "g2"]
    if not scores:
        return pd.DataFrame(columns=cols)
    stats = pd.DataFrame(scores).groupby(["method", "iter"])["miou"].agg(["mean", "std", "count"])
    if "supervised" not in stats.index.get_level_values("method"):
        return pd.DataFrame(columns=cols)
    sup = stats.loc["supervised"]
    rows = []
    for (method, it), m in stats.iterrows():
        if method == "supervised" or it not in sup.index:
            continue
        s = sup.loc[it]
        gain = m["mean"] - s["mean"]
        noise = difference_noise(m["std"], m["count"], s["std"], s["count"], z)
        seeds = int(min(m["count"], s["count"]))
        rows.append(dict(method=method, iter=int(it), gain=gain, noise=noise, seeds=seeds, g2=g2_holds(gain, noise)))
    return pd.DataFrame(rows, columns=cols)


def g2_from_iteration(gains: pd.DataFrame) -> pd.DataFrame:
    """Per method of :func:`gain_by_iteration`: the first evaluation from which G2's test holds at
    every later one ("never"), and the gain and noise at the last evaluation; iterations as text."""
    rows = []
    for method, g in gains.groupby("method", sort=False):
        g = g.sort_values("iter")
        held = g["g2"].to_numpy()
        tail = [i for i in range(len(g)) if held[i:].all()]
        last = g.iloc[-1]
        rows.append(
            {
                "method": method_label(method),
                "G2 holds from iteration": f"{g['iter'].iloc[tail[0]]:,}" if tail else "never",
                "last iteration": f"{int(last['iter']):,}",
                "gain there": last["gain"],
                "noise (±)": last["noise"],
                "seeds": last["seeds"],
            }
        )
    columns = ["method", "G2 holds from iteration", "last iteration", "gain there", "noise (±)", "seeds"]
    return pd.DataFrame(rows, columns=columns).set_index("method")


def notice_gain_by_iteration(table: pd.DataFrame) -> str:
    """What to notice in :func:`g2_from_iteration`'s table, from its numbers."""
    if table.empty:
        return what_to_notice(f"{NO_RUNS.capitalize()} for the headline grid at 1/16.")
    parts = []
    for method, r in table.iterrows():
        start = r["G2 holds from iteration"]
        when = "never passes the gate" if start == "never" else f"passes it from iteration {start} on"
        seeds = count(int(r["seeds"]), "seed")
        parts.append(f"{method} {when} ({format_gain(r['gain there'])} at {r['last iteration']}, {seeds})")
    return what_to_notice(
        "Read at each evaluation of the 4,000-iteration schedule, "
        + "; ".join(parts)
        + ". Where a gain passes the gate early, a shorter schedule may meet G2 too: the short_schedule"
        " grid below measures it, since a schedule that ends sooner also anneals its learning rate sooner."
    )
