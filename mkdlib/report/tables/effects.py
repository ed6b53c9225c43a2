"""Do the paper's effects reproduce here? Each effect's verdict, the intro's headline table and the
book's three-sentence verdict, generated from the stored runs.

One rule, the claims table's (:mod:`mkdlib.report.evidence.claims`): a gain is the mean of per-seed
differences (runs with one seed share initialisation and data order), judged by its 95 % t interval
and stated with the smallest effect its pairs could detect (80 % power); a row with one pair borrows
the spread pooled over the claims' comparisons (:func:`mkdlib.report.evidence.claims.pooled_spread`).
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from ..evidence import stats
from ..evidence.cells import OURS, PAPER, count
from ..evidence.store import grid_runs, headline_progress, seed_summary
from .display import short_label
from .tables import FAIR_REFERENCE, table_ablation, table_methods, table_sweep

NO_RUNS = "no stored runs yet"
NO_CHANGE_IN_PAPER = "beyond seed noise (paper: no change)"
COLLAPSED, INCONCLUSIVE, REPRODUCED, CONTRADICTED = (
    stats.COLLAPSED,
    stats.INCONCLUSIVE,
    stats.REPRODUCED,
    stats.CONTRADICTED,
)


def _paired(t: pd.DataFrame, row, what: str) -> dict:
    return t.attrs.get("paired", {}).get(what, {}).get(row, {"differences": [], "keys": []})


def paired_gain(t: pd.DataFrame, row, what: str, root: str | Path | None = None) -> stats.PairedEffect | None:
    """Our gain of ``row`` over the reference of a table's "gain vs ``what``" column, from the
    per-seed differences the table keeps (``t.attrs["paired"]``, :class:`mkdlib.report.evidence.cells.Cells`):
    mean, 95 % interval and detectable effect (:func:`mkdlib.report.evidence.stats.paired_effect`; one pair
    borrows :func:`mkdlib.report.evidence.claims.pooled_spread`). None when no seed has both rows."""
    from ..evidence.claims import pooled_spread

    diffs = _paired(t, row, what)["differences"]
    if not diffs:
        return None
    sd, df = pooled_spread(root) if len(diffs) < 2 else (None, 0)
    return stats.paired_effect(diffs, [0.0] * len(diffs), sd, df)


def collapsed_behind(t: pd.DataFrame, row, what: str, root: str | Path | None = None) -> list[str]:
    """Keys of the collapsed runs (:func:`mkdlib.report.evidence.claims.collapsed_runs`) behind ``row``'s gain
    over its reference: such a gain is counted apart from effects."""
    from ..evidence.claims import collapsed_runs

    return collapsed_runs(_paired(t, row, what)["keys"], root)


def _judge(effect: stats.PairedEffect | None, paper_gain: float | None = None, collapsed: bool = False) -> str:
    """The claims table's words (:func:`mkdlib.report.evidence.stats.verdict`): "not yet run" / "collapsed" (a
    run behind the gain collapsed: counted apart from effects) / "inconclusive" (the 95 % interval
    holds 0, or there is no spread to build one) / "reproduced" / "contradicted" (the interval
    excludes 0 on the paper's side / the other: the direction, not the size, reproduces); without a
    paper gain: "beyond seed noise"; where the paper's gain is 0, it has no direction: "beyond seed
    noise (paper: no change)"."""
    if effect is None or math.isnan(effect.mean):
        return "not yet run"
    no_paper = paper_gain is None or math.isnan(paper_gain)
    if collapsed or not (no_paper or paper_gain == 0):
        return stats.verdict(effect, paper_gain, collapsed)
    if not math.isfinite(effect.low) or effect.low <= 0 <= effect.high:
        return INCONCLUSIVE
    return "beyond seed noise" if no_paper else NO_CHANGE_IN_PAPER  # no direction to compare


def interval_text(effect: stats.PairedEffect | None, detectable: bool = True) -> str:
    """ "95 % interval [-4.0, +2.1] over 6 pairs, detectable 4.1" (one pair: "..., pooled sd"); ""
    without an interval."""
    if effect is None or not math.isfinite(effect.low):
        return ""
    pairs = count(effect.pairs, "pair") + (", pooled sd" if effect.pooled else "")
    text = f"95 % interval [{effect.low:+.1f}, {effect.high:+.1f}] over {pairs}"
    return text + (f", detectable {effect.mde:.1f}" if detectable else "")


def _mean_sd(mean: float, sd: float, n) -> str:
    if math.isnan(mean):
        return "not yet run"
    return f"{mean:.1f} ± {sd:.1f}" if n and n >= 2 and not math.isnan(sd) else f"{mean:.1f} (one seed)"


#: the summary's columns besides gains and verdict
LOW, HIGH, PAIRS, DETECTABLE = (
    f"{OURS} gain, 95% low",
    f"{OURS} gain, 95% high",
    f"{OURS} pairs vs reference",
    f"{OURS} detectable effect",
)


def effect_directions(root: str | Path | None = None) -> pd.DataFrame:
    """Each effect the paper reports in Tables 2-5, measured here: our gain over the table's
    reference row beside the paper's, and whether it reproduces. Table 2's reference is CPS +
    CutMix, the matching baseline of an MKD that trains with CutMix.

    Our gain is paired by seed (:func:`paired_gain`), with its 95 % interval, its pairs and the
    smallest effect those pairs detect (80 % power, 5 % two-sided): the claims table's rule. Verdict
    (:func:`_judge`): "reproduced" / "contradicted" when the interval excludes 0 (where the paper's
    gain is 0, "beyond seed noise (paper: no change)"), "inconclusive" when it holds 0, "collapsed"
    when a run behind it collapsed ("collapsed runs": how many of the runs behind the gain; their keys
    are in the claims table), "not yet run" when either row is missing. Table 3's rows read in the
    paper's abbreviations. Table 1 has no like-for-like gain beyond 1/16 (no CPS
    at other fractions here, no supervised row in the paper), so it is left out.
    """
    specs = [
        ("Table 2", table_methods(root), FAIR_REFERENCE, FAIR_REFERENCE),
        ("Table 3", table_ablation(root), "co-training", "co-training"),
        ("Table 4", table_sweep("gamma", root), None, "gamma=0"),
        ("Table 5", table_sweep("beta", root), None, "beta=0"),
    ]
    rows = []
    for name, t, ref, what in specs:
        ref = t.index[0] if ref is None else ref
        theirs = t[f"{PAPER} gain vs {what}"]

        def label(i) -> str:
            return f"{t.index.name} = {i:g}" if isinstance(i, float) else short_label(str(i))

        for idx in t.index:
            if idx == ref or math.isnan(theirs[idx]):
                continue
            e, collapsed = paired_gain(t, idx, what, root), collapsed_behind(t, idx, what, root)
            behind = len(_paired(t, idx, what)["keys"])
            rows.append(
                {
                    "table": name,
                    "effect": label(idx),
                    "reference": label(ref),
                    f"{OURS} gain": math.nan if e is None else e.mean,
                    LOW: math.nan if e is None else e.low,
                    HIGH: math.nan if e is None else e.high,
                    PAIRS: 0 if e is None else e.pairs,
                    DETECTABLE: math.nan if e is None else e.mde,
                    f"{PAPER} gain": theirs[idx],
                    "verdict": _judge(e, theirs[idx], bool(collapsed)),
                    "collapsed runs": f"{len(collapsed)}/{behind}" if behind else "",
                }
            )
    return pd.DataFrame(rows).set_index(["table", "effect"])


def effects_view(effects: pd.DataFrame) -> pd.DataFrame:
    """:func:`effect_directions` as the book shows it, narrow enough for the page: the gain and its
    interval as one text column ("-0.9 [-4.0, +2.1]"), the verdict next to it, without the reference
    (the prose names each table's)."""
    gain = [
        "" if math.isnan(g) else f"{g:+.1f}" + ("" if math.isnan(lo) else f" [{lo:+.1f}, {hi:+.1f}]")
        for g, lo, hi in zip(effects[f"{OURS} gain"], effects[LOW], effects[HIGH])
    ]
    out = pd.DataFrame(index=effects.index)
    out[f"{OURS} gain [95 % interval]"] = gain
    out[f"{OURS} verdict"] = effects["verdict"]
    out[f"{OURS} pairs"] = effects[PAIRS]
    out[f"{OURS} detect\u00adable"] = effects[DETECTABLE]  # soft hyphen: a narrow column
    out[f"{OURS} collapsed"] = effects["collapsed runs"]
    out[f"{PAPER} gain"] = effects[f"{PAPER} gain"]
    return out


def headline_summary(root: str | Path | None = None) -> pd.DataFrame:
    """The intro's table: each headline method at 1/16 of the labels, ours as mean ± sd over its
    stored seeds, beside the paper's Table 2 (ResNet-50, 1/16). Columns under two header rows:
    ("ours (built-in)", "mIoU ± sd" / "seeds"), ("paper, R50", "VOCAug" / "Cityscapes"). Once the
    decisive headline is complete its numbers are test mIoU ("test mIoU ± sd"); until then the
    superseded headline's validation mIoU, with supervised training on all labels as the ceiling
    (run on the validation protocol only, so not set beside test numbers)."""
    t = table_methods(root)
    test = t.attrs.get("protocol") == "test"
    ours = (OURS, "test mIoU ± sd" if test else "mIoU ± sd")
    paper_voc, paper_city = (f"{PAPER}, R50", "VOCAug"), (f"{PAPER}, R50", "Cityscapes")
    rows = {
        label: {
            ours: _mean_sd(r[f"{OURS} mIoU"], r[f"{OURS} sd"], r[f"{OURS} seeds"]),
            (OURS, "seeds"): int(r[f"{OURS} seeds"]),
            paper_voc: r[f"{PAPER} VOCAug R50 1/16"],
            paper_city: r[f"{PAPER} Cityscapes R50 1/16"],
        }
        for label, r in t.iterrows()
    }
    if not test:
        full = (
            seed_summary(grid_runs("headline_6seeds", root).query("split == 'full'"), ["method"])
            .reindex(["supervised"])
            .iloc[0]
        )
        rows["supervised only, all labels"] = {
            ours: _mean_sd(full["mean"], full["sd"], full["n"]),
            (OURS, "seeds"): int(full["n"]),
            paper_voc: math.nan,
            paper_city: math.nan,
        }
    df = pd.DataFrame.from_dict(rows, orient="index")
    df.columns = pd.MultiIndex.from_tuples(df.columns)
    for col in (paper_voc, paper_city):
        df[col] = [f"{v:.2f}" if not math.isnan(v) else "—" for v in df[col]]
    df.index.name = "method (1/16 of the labels)"
    return df


def verdict(root: str | Path | None = None) -> str:
    """Three sentences, generated from the stored runs and the paper's Table 2: which method is
    best here, MKD's paired gain over its matching baseline with its 95 % interval and detectable
    effect (:func:`paired_gain`), and whether the paper's gain (over CPS w/ CutMix) reproduces."""
    t = table_methods(root)
    mean, sd_, n = t[f"{OURS} mIoU"], t[f"{OURS} sd"], t[f"{OURS} seeds"]
    p_voc = t.loc["MKD", f"{PAPER} VOCAug R50 1/16"] - t.loc[FAIR_REFERENCE, f"{PAPER} VOCAug R50 1/16"]
    p_city = t.loc["MKD", f"{PAPER} Cityscapes R50 1/16"] - t.loc[FAIR_REFERENCE, f"{PAPER} Cityscapes R50 1/16"]
    paper_sentence = (
        f"The paper reports MKD {p_voc:+.2f} points above CPS with CutMix on VOCAug and "
        f"{p_city:+.2f} on Cityscapes (ResNet-50, 1/16 of the labels)"
    )
    if mean.notna().sum() == 0:
        started = headline_progress(root)[0] > 0  # the decisive headline under way, the superseded one absent
        return (f"{headline_status(root)} " if started else "") + (
            f"**{NO_RUNS.capitalize()}**: the results store holds none of the headline runs, so this "
            "book cannot yet say which method is best on the built-in dataset "
            "(`python -m mkdlib.experiments headline` trains them). "
            f"{paper_sentence}; whether that gain reproduces here is open until those runs exist."
        )
    best = mean.idxmax()
    where = (
        f" on the held-out test set ({count(int(n[best]), 'seed')}, each with its own labeled split)"
        if t.attrs.get("protocol") == "test"
        else f" ({count(int(n[best]), 'seed')})"
    )
    first = (
        f"On the built-in dataset with 1/16 of the labels, **{best}** scores highest: "
        f"{_mean_sd(mean[best], sd_[best], n[best])} mIoU{where}"
    )
    if best != "MKD":
        first += f"; MKD scores {_mean_sd(mean['MKD'], sd_['MKD'], n['MKD'])}"
    first += "."
    effect = paired_gain(t, "MKD", FAIR_REFERENCE, root)
    collapsed = collapsed_behind(t, "MKD", FAIR_REFERENCE, root)
    judged = _judge(effect, p_voc, bool(collapsed))
    baseline = f"MKD's gain over {FAIR_REFERENCE}, its matching baseline (both train with CutMix),"
    if judged == "not yet run":
        second = f"{baseline} cannot be measured yet: one of the two is not yet run."
    elif judged == COLLAPSED:
        second = (
            f"{baseline} is {effect.mean:+.1f} points, but {count(len(collapsed), 'run')} behind it collapsed "
            f"({', '.join(collapsed)}): no effect can be read from it."
        )
    elif not math.isfinite(effect.low):
        second = (
            f"{baseline} is {effect.mean:+.1f} points, but without repeated seeds there is no seed "
            "noise to judge it against."
        )
    else:
        real = effect.low > 0 or effect.high < 0  # the interval excludes 0
        second = (
            f"{baseline} is {effect.mean:+.1f} points ({interval_text(effect, detectable=False)}): "
            f"{'a real difference at this scale' if real else 'the two cannot be told apart'}."
        )
    outcome = {
        REPRODUCED: "here that gain reproduces, its size within the interval",
        stats.SMALLER: "here the gain is smaller than the paper's: the interval excludes it",
        stats.LARGER: "here the gain is larger than the paper's",
        CONTRADICTED: "here MKD falls behind instead",
        INCONCLUSIVE: "here the comparison is inconclusive (the interval holds 0 and the paper's gain)",
        stats.EXPLORATORY: f"here too few seeds are paired for a verdict (fewer than {stats.MIN_PAIRS})",
        NO_CHANGE_IN_PAPER: "here the two differ beyond the seed noise",
        "not yet run": "here it is not yet measured",
        COLLAPSED: "here a collapse stands in the way of the comparison",
    }[judged]
    if effect is not None and math.isfinite(effect.mde):
        outcome += f" (these {count(effect.pairs, 'pair')} detect {effect.mde:.1f} points or more at 80 % power)"
    return f"{headline_status(root)} {first} {second} {paper_sentence}; {outcome}."


def headline_status(root: str | Path | None = None) -> str:
    """Where the decisive headline stands (12 paired seeds, each its own labeled split, scored on the
    held-out test set), and so which protocol the verdict after it reads: the superseded 6-seed
    headline on the validation set until the decisive one is complete."""
    done, planned = headline_progress(root)
    if done == planned:
        return f"The decisive headline is complete ({planned} runs on the held-out test set)."
    return (
        f"*Decisive headline (12 seeds, test set): {done} of {planned} runs stored; until it is complete, "
        "what follows is the superseded one (6 seeds, one split, validation set).*"
    )


#: the decisive headline's comparisons drawn seed by seed: (label, method A, method B, the paper's
#: Table 2 rows of A and B or None); MKD's three first, then what semi-supervision gets here
HEADLINE_PAIRS = (
    ("MKD - CPS + CutMix", "mkd", "cps_cutmix", ("MKD", "CPS-with-CutMix")),
    ("MKD - mean teacher", "mkd", "mean_teacher", ("MKD", "MT")),
    ("MKD - MKD (release)", "mkd", "mkd_release", None),
    ("MKD (release) - CPS + CutMix", "mkd_release", "cps_cutmix", ("MKD", "CPS-with-CutMix")),
    ("CPS + CutMix - mean teacher", "cps_cutmix", "mean_teacher", ("CPS-with-CutMix", "MT")),
    ("mean teacher - supervised", "mean_teacher", "supervised", None),
    ("CPS + CutMix - supervised", "cps_cutmix", "supervised", None),
)


def headline_pairs(root: str | Path | None = None) -> pd.DataFrame:
    """The decisive headline's comparisons (:data:`HEADLINE_PAIRS`) seed by seed on the held-out
    test set: one row per (comparison, seed) stored on both sides, with the difference A - B
    (points) and the paper's effect (Table 2, VOCAug R50 1/16; NaN where it makes none). A
    comparison with no pair yet has one row with seed and difference NaN, so it still shows."""
    from ..evidence.claims import TEST, _store, pairs

    store, rows = _store(root), []
    for label, a, b, _ in HEADLINE_PAIRS:
        theirs = headline_pairs_paper(label)
        got = pairs(store, dict(method=a), dict(method=b), protocol=TEST)
        rows += [
            {"comparison": label, "seed": ra["seed"], "difference": ra["score"] - rb["score"], "paper": theirs}
            for ra, rb in got
        ] or [{"comparison": label, "seed": math.nan, "difference": math.nan, "paper": theirs}]
    return pd.DataFrame(rows)


def headline_pairs_paper(label: str) -> float:
    """The paper's effect (Table 2, VOCAug R50 1/16) of a comparison of :data:`HEADLINE_PAIRS`; NaN
    where the paper makes none."""
    from ..evidence.transcribed import paper_table

    rows = next(r for lab, _, _, r in HEADLINE_PAIRS if lab == label)
    voc = paper_table("table2_vocaug")["R50 1/16 (662)"]
    return float(voc[rows[0]] - voc[rows[1]]) if rows else math.nan
