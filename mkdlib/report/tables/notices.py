"""What to notice: the sentence under each table and figure of the book, written from its numbers."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from ..evidence import stats
from ..evidence.cells import OURS, PAPER, count
from ..evidence.transcribed import paper_table
from .display import short_label
from .effects import (
    COLLAPSED,
    CONTRADICTED,
    DETECTABLE,
    INCONCLUSIVE,
    NO_CHANGE_IN_PAPER,
    NO_RUNS,
    REPRODUCED,
    _judge,
    collapsed_behind,
    interval_text,
    paired_gain,
)
from .tables import FAIR_REFERENCE, reference_setting


def what_to_notice(text: str) -> str:
    return f"**What to notice.** {text}"


def format_gain(v: float) -> str:
    return "not yet run" if math.isnan(v) else f"{v:+.1f}"


def notice_label_fractions(t1: pd.DataFrame) -> str:
    """What to notice in the Table 1 analogue, from its numbers."""
    sup, mkd = t1.loc[f"{OURS}: supervised"], t1.loc[f"{OURS}: MKD"]
    pg = t1.loc[f"{PAPER}: MKD-R101 gain vs CPS-R101"]
    paper = (
        f"The paper's MKD-R101 gains over CPS-R101 from {pg['1/16']:+.2f} points at 1/16 to "
        f"{pg['1/2']:+.2f} at 1/2: unlabeled images help most when labels are scarce."
    )
    if sup.notna().sum() == 0 and mkd.notna().sum() == 0:
        return what_to_notice(f"{NO_RUNS.capitalize()} for the label-fraction grid. {paper}")
    parts = []
    if sup.notna().sum() >= 2:
        lo, hi = sup.first_valid_index(), sup.last_valid_index()
        parts.append(f"Labels help supervised training by {sup[hi] - sup[lo]:+.1f} points from {lo} to {hi}.")
    both = [f for f in t1.columns if not math.isnan(sup[f]) and not math.isnan(mkd[f])]
    if both:
        above = [f for f in both if mkd[f] > sup[f]]
        gaps = {f: mkd[f] - sup[f] for f in both}
        worst = min(gaps, key=gaps.get)
        parts.append(
            f"MKD is above supervised training at {len(above)} of {len(both)} fractions where both ran "
            f"(gap from {min(gaps.values()):+.1f} at {worst} to {max(gaps.values()):+.1f}; one seed "
            "except at 1/16)."
        )
    fair, plain = t1.loc[f"{OURS}: MKD gain vs {FAIR_REFERENCE}", "1/16"], t1.loc[f"{OURS}: MKD gain vs CPS", "1/16"]
    if not math.isnan(fair):
        parts.append(
            f"At 1/16 MKD is {fair:+.1f} points against {FAIR_REFERENCE}, its matching baseline (both train "
            f"with CutMix), and {format_gain(plain)} against plain CPS."
        )
    return what_to_notice(" ".join(parts + [paper]))


def notice_methods(t2: pd.DataFrame, root: str | Path | None = None) -> str:
    """What to notice in the Table 2 analogue: the best method, MKD against its matching baseline
    (CPS + CutMix, paired by seed, judged by its 95 % interval) and the paper's fair and unfair MKD gains."""
    mean = t2[f"{OURS} mIoU"]
    voc = t2[f"{PAPER} VOCAug R50 1/16"]
    plain_cps = paper_table("table2_vocaug").loc["CPS", "R50 1/16 (662)"]  # a row of the table whatever ours runs
    paper = (
        f"In the paper MKD leads CPS w/ CutMix by {voc['MKD'] - voc[FAIR_REFERENCE]:+.2f} points on VOCAug "
        f"(the fair reference: both use CutMix); against CPS without CutMix the same table gives "
        f"{voc['MKD'] - plain_cps:+.2f}, a gain that is mostly CutMix's."
    )
    if mean.notna().sum() == 0:
        return what_to_notice(f"{NO_RUNS.capitalize()} for the method comparison. {paper}")
    best = mean.idxmax()
    effect = paired_gain(t2, "MKD", FAIR_REFERENCE, root)
    judged = _judge(effect, voc["MKD"] - voc[FAIR_REFERENCE], bool(collapsed_behind(t2, "MKD", FAIR_REFERENCE, root)))
    scored = " on the held-out test set" if t2.attrs.get("protocol") == "test" else ""
    ours = f"Here {best} scores highest ({mean[best]:.1f}{scored}). MKD against CPS + CutMix: " + (
        "not yet run."
        if effect is None
        else f"{effect.mean:+.1f} points, the mean of {effect.pairs} per-seed differences"
    )
    if effect is not None:
        ours += (
            f" ({judged}; {interval_text(effect)})."
            if interval_text(effect)
            else " (one seed: no seed noise to judge it by)."
        )
    fallen = [row for row in t2.index if row != FAIR_REFERENCE and collapsed_behind(t2, row, FAIR_REFERENCE, root)]
    if fallen:
        ours += (
            f" {' and '.join(fallen)} collapsed (the claims table's rule) and {'is' if len(fallen) == 1 else 'are'} "
            "counted apart from effects."
        )
    return what_to_notice(f"{ours} {paper}")


def notice_gains_vs_reference(
    t: pd.DataFrame, what: str, root: str | Path | None = None, subject: str = "", with_paper: bool = True
) -> str:
    """What to notice in a table with gains over a reference row (Tables 3-5): which of our gains
    are beyond the seed noise (paired 95 % interval, :func:`mkdlib.report.tables.effects.paired_gain`), and in
    which direction compared with the paper's. ``subject`` opens the text (e.g. "On `mkd_release`: ")
    where one table has two sweeps (``with_paper=False``: the paper's rows are said under the other)."""
    ours, paper = t[f"{OURS} gain vs {what}"], t[f"{PAPER} gain vs {what}"]
    ref = t.index[(t[f"{OURS} gain vs {what}"].fillna(1) == 0) | (t[f"{PAPER} gain vs {what}"].fillna(1) == 0)]
    ref = ref[0] if len(ref) else t.index[0]
    verdicts, mdes = {}, []
    for idx in t.index:
        if idx == ref or math.isnan(paper[idx]):
            continue
        effect = paired_gain(t, idx, what, root)
        verdicts[idx] = _judge(effect, paper[idx], bool(collapsed_behind(t, idx, what, root)))
        if effect is not None and math.isfinite(effect.mde):
            mdes.append(effect.mde)
    p_best = t[f"{PAPER} gain vs {what}"].idxmax()
    no_paper = [i for i in t.index if i != ref and math.isnan(paper[i])]
    label = (lambda i: f"{t.index.name} = {i:g}") if t.index.dtype.kind == "f" else short_label
    paper_text = (
        f"The paper's best row (ResNet-50) is {label(p_best)} ({paper[p_best]:+.2f} over {label(ref)}); its gains "
        f"span {paper.drop(ref).min():+.2f} to {paper.drop(ref).max():+.2f} points."
        if with_paper
        else ""
    )
    done = {k: v for k, v in verdicts.items() if v != "not yet run"}
    unreported = f" ({' and '.join(label(i) for i in no_paper)}: no paper value)" if no_paper else ""
    if not done:
        return what_to_notice(
            f"{subject}{NO_RUNS.capitalize()} beyond the reference row, so no effect can be judged yet. {paper_text}"
        )
    phrase = {
        REPRODUCED: "reproduced (the paper's direction, its size within the interval)",
        stats.SMALLER: "smaller than the paper's (the interval excludes its effect)",
        stats.LARGER: "larger than the paper's (same direction, the interval above its effect)",
        CONTRADICTED: "contradicted (against the paper's direction)",
        INCONCLUSIVE: "inconclusive (the interval holds 0 and the paper's effect)",
        stats.EXPLORATORY: f"exploratory (fewer than {stats.MIN_PAIRS} pairs: no verdict)",
        NO_CHANGE_IN_PAPER: "beyond the noise where the paper's row changes nothing",
        COLLAPSED: "collapsed (counted apart from effects)",
    }
    counts = pd.Series(done).value_counts()
    summary = ", ".join(f"{c} {phrase[v]}" for v, c in counts.items())
    o_best = ours.drop(ref).idxmax() if ours.drop(ref).notna().any() else None
    best = (
        ""
        if o_best is None
        else f" Our best row is {label(o_best)} ({ours[o_best]:+.1f} over {label(ref)})."
        if ours[o_best] > 0
        else f" No row run here beats {label(ref)}; the closest is {label(o_best)} ({ours[o_best]:+.1f})."
    )
    detect = ""
    if mdes:
        if max(mdes) - min(mdes) < 0.05:
            detect = f" The smallest gain these pairs could detect is {min(mdes):.1f} points (80 % power)."
        else:
            detect = (
                f" The smallest gain these pairs could detect is {min(mdes):.1f} to {max(mdes):.1f} points, by row "
                "(80 % power)."
            )
    return what_to_notice(
        f"{subject}{'of' if subject else 'Of'} {count(len(done), 'row')} run here that the paper also reports{unreported}, each judged by "
        f"its paired 95 % interval: {summary}.{best}"
        f"{detect} {paper_text}"
    )


def notice_effects(effects: pd.DataFrame, claims: int | None = None) -> str:
    """What to notice in the summary of effects (:func:`mkdlib.report.tables.effects.effect_directions`):
    the verdicts counted, the smallest effect the pairs could see beside the paper's gains, and why
    the count differs from the claims table's (``claims``: its number of rows)."""
    v = effects["verdict"].value_counts()
    done = int(v.drop("not yet run", errors="ignore").sum())
    if not done:
        return what_to_notice(f"{NO_RUNS.capitalize()}: no effect of Tables 2-5 can be judged yet.")

    def n(verdict: str, one: str, many: str) -> str:
        k = int(v.get(verdict, 0))
        return f"{k} {one if k == 1 else many}"

    parts = [
        n(REPRODUCED, "reproduces the paper's effect", "reproduce the paper's effect"),
        n(CONTRADICTED, "is contradicted (the opposite direction)", "are contradicted (the opposite direction)"),
        n(INCONCLUSIVE, "is inconclusive", "are inconclusive"),
    ]
    for word, one, many in (
        (stats.SMALLER, "is smaller than the paper's", "are smaller than the paper's"),
        (stats.LARGER, "is larger than the paper's", "are larger than the paper's"),
        (stats.EXPLORATORY, f"is exploratory (fewer than {stats.MIN_PAIRS} pairs)", "are exploratory"),
    ):
        if v.get(word, 0):
            parts.append(n(word, one, many))
    if v.get(NO_CHANGE_IN_PAPER, 0):
        parts.append(n(NO_CHANGE_IN_PAPER, "changes", "change") + " beyond the noise where the paper shows no change")
    if v.get(COLLAPSED, 0):
        parts.append(n(COLLAPSED, "rests", "rest") + " on a collapsed run (counted apart)")
    mde, paper = effects[DETECTABLE].dropna(), effects[f"{PAPER} gain"].abs()
    reach = (
        f" The pairs behind these rows detect {mde.min():.1f} to {mde.max():.1f} points (80 % power); the "
        f'paper\'s effects are {paper.min():.2f} to {paper.max():.2f} points in size, so "inconclusive" says '
        "little where the paper's effect is smaller than that."
        if len(mde)
        else ""
    )
    return what_to_notice(
        f"Of {done} effects measured here, each judged by its paired 95 % interval, {', '.join(parts[:-1])} "
        f"and {parts[-1]}.{reach}{_counts_differ(done, len(effects), claims)} The absolute scale differs too much "
        "for this to say anything about VOC: it says whether this built-in dataset, at this budget, is a regime "
        "where MKD's parts help."
    )


def _counts_differ(done: int, effects: int, claims: int | None) -> str:
    if claims is None:
        return ""
    return (
        f" Why {effects} effects here and {claims} claims in the claims table: an effect is a row of Tables 2-5 "
        "against its table's reference, a claim a comparison the paper's text makes; Table 2's effects read the "
        "superseded headline (validation set) while its claims wait for the decisive one (test set)."
    )


def notice_breakdown(df: pd.DataFrame, chance: float | None = None) -> str:
    """What to notice in an error breakdown (:func:`error_breakdown`): finding vs naming."""
    rec, acc = f"{OURS} object recall", f"{OURS} class accuracy"
    done = df.dropna(subset=[rec])
    if done.empty:
        return what_to_notice(f"{NO_RUNS.capitalize()}: no confusion matrix to split yet.")
    lo, hi = done[rec].idxmin(), done[rec].idxmax()
    best_acc = done[acc].idxmax()
    text = (
        f"*Finding*: object recall ranges from {done.loc[lo, rec]:.0f} % ({lo}) to {done.loc[hi, rec]:.0f} % "
        f"({hi}). *Naming*: class accuracy on the objects found is highest for {best_acc} "
        f"({done.loc[best_acc, acc]:.0f} %)"
    )
    text += f", against {100 * chance:.0f} % by chance." if chance else "."
    return what_to_notice(text)


def notice_diagnosis(t: pd.DataFrame, root: str | Path | None = None) -> str:
    """What to notice in the diagnosis table: does any single change make MKD beat its matching
    baseline, CPS + CutMix, here, judged by the paired 95 % interval of its gain?"""
    col, ref = f"{OURS} gain vs {FAIR_REFERENCE}", reference_setting(FAIR_REFERENCE)
    changes = t.drop(index=[reference_setting("MKD"), ref], errors="ignore")
    done = changes[col].dropna()
    if done.empty or ref not in t.index or math.isnan(t.loc[ref, f"{OURS} mIoU"]):
        return what_to_notice(f"{NO_RUNS.capitalize()} for the diagnosis grid or its {FAIR_REFERENCE} reference.")
    best = done.idxmax()
    beat = int((done > 0).sum())
    effect = paired_gain(t, best, FAIR_REFERENCE, root)
    yardstick = (
        "No config has two seeds yet, so there is no seed noise to judge it by."
        if not interval_text(effect)
        else f"Gains are paired by seed: the best change has {count(effect.pairs, 'seed')} paired with "
        f"{FAIR_REFERENCE} ({interval_text(effect)} points), "
        + (
            "but a run behind it collapsed: no effect can be read from it."
            if collapsed_behind(t, best, FAIR_REFERENCE, root)
            else f"so it is {_judge(effect)}."
        )
    )
    missing = len(changes) - len(done)
    worst = done.idxmin()
    fallen = collapsed_behind(t, worst, FAIR_REFERENCE, root)
    worst_text = (
        f" The worst is *{worst}* ({done[worst]:+.1f} against {FAIR_REFERENCE}"
        + (f"; {len(fallen)} of its runs collapsed" if fallen else "")
        + ")."
        if worst != best and done[worst] < 0
        else ""
    )
    return what_to_notice(
        f"{beat} of {len(done)} changes{' run so far' if missing else ''} put MKD above {FAIR_REFERENCE} at the "
        "seeds they share"
        + (f" ({missing} not yet run)" if missing else "")
        + f"; the best is *{best}* ({done[best]:+.1f} against {FAIR_REFERENCE}, "
        f"{changes.loc[best, f'{OURS} gain vs MKD']:+.1f} against MKD with the paper's settings). {yardstick}{worst_text}"
    )


def notice_ranking(mious: dict[str, float], what: str = "here", one_seed: bool = True) -> str:
    """What to notice in a side-by-side of stored runs (label -> mIoU %, NaN = not stored): the
    best run and where MKD stands; ``one_seed``: one run per row, else a mean over seeds."""
    done = {k: v for k, v in mious.items() if v is not None and not math.isnan(v)}
    if not done:
        return what_to_notice(f"{NO_RUNS.capitalize()} {what}: the curves and bars appear once the runs are stored.")
    ranked = sorted(done, key=done.get, reverse=True)
    text = f"{ranked[0]} scores highest {what} ({done[ranked[0]]:.1f} mIoU)"
    mkd = next((k for k in ranked if k.startswith("MKD")), None)
    if mkd and mkd != ranked[0]:
        text += f"; MKD ranks {ranked.index(mkd) + 1} of {len(ranked)}, {done[ranked[0]] - done[mkd]:.1f} points behind"
    elif mkd:
        text += f", {done[mkd] - done[ranked[1]]:+.1f} points ahead of {ranked[1]}" if len(ranked) > 1 else ""
    missing = [k for k, v in mious.items() if k not in done]
    text = text[0].upper() + text[1:] + "." + (f" Not yet run: {', '.join(missing)}." if missing else "")
    return what_to_notice(
        text
        + (
            " One seed per row: a difference smaller than the seed spread of the tables chapter says nothing."
            if one_seed
            else " Means over each row's stored seeds, not paired: the claims table compares them seed by seed."
        )
    )


def notice_run(result: dict, curves: list[dict]) -> str:
    """What to notice in one training run: final against best evaluation, and its weakest class."""
    final, best = 100 * result["final"]["miou"], 100 * result["best_miou"]
    ev = [c for c in curves if c.get("miou") is not None]
    at = max(ev, key=lambda c: c["miou"])["iter"] if ev else None
    text = f"The final mIoU is {final:.1f}; the best evaluation during training was {best:.1f}"
    text += f" (iteration {at})" if at is not None else ""
    text += (
        f": the run peaked and then lost {best - final:.1f} points."
        if best - final >= 1.0
        else ": the run ended near its best."
    )
    ious = result["final"].get("per_class_iou") or []
    names = result.get("class_names") or [str(i) for i in range(len(ious))]
    scored = [(n, v) for n, v in zip(names, ious) if v is not None]
    if scored:
        (lo_n, lo_v), (hi_n, hi_v) = min(scored, key=lambda t: t[1]), max(scored, key=lambda t: t[1])
        text += f" Per class, IoU ranges from {100 * lo_v:.1f} ({lo_n}) to {100 * hi_v:.1f} ({hi_n})."
    return what_to_notice(text)


def notice_qualitative(
    counts: tuple[int, int, int] | None, seeds: int, baseline: str = "CPS", method: str = "MKD"
) -> str:
    """What to notice in the qualitative figures: on how many images ``method`` beats ``baseline``,
    ``counts`` = (better, worse, images) summed over ``seeds`` paired seeds."""
    if not counts or not counts[2]:
        return what_to_notice(
            f"{NO_RUNS.capitalize()} for this comparison: the overlays appear once both runs are stored."
        )
    better, worse, total = counts
    return what_to_notice(
        f"Over the {count(seeds, 'seed')} both have stored, {method} is better than {baseline} on {better} of "
        f"{total} validation images and worse on {worse} (each image of each seed counted once; built-in "
        "dataset). The chosen and most-improved rows flatter whichever method they are picked for; the "
        "most-worsened rows are the counterweight."
    )
