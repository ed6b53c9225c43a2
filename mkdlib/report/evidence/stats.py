"""Paired comparisons, their intervals and what they could have detected: the one statistical
rule of the claims table (mkdlib.report.evidence.claims).

Runs with the same seed share the initialisation and the data order, so a method's gain over
another is the mean of per-seed differences, with the spread of those differences. Each verdict
states the minimum detectable effect (80 % power, 5 % two-sided) beside the paper's effect, so
"inconclusive" says whether the comparison could have seen the paper's gain at all.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from scipy import stats as sps

ALPHA, POWER = 0.05, 0.80
#: a run is collapsed when one class takes more than this share (%) of its predicted pixels ...
COLLAPSE_TOP_SHARE = 90.0
#: ... or its mIoU is below this fraction of supervised training's at the same split and length
COLLAPSE_OF_SUPERVISED = 0.5

REPRODUCED, SMALLER, LARGER, CONTRADICTED, INCONCLUSIVE, EXPLORATORY, COLLAPSED, NOT_RUN = (
    "reproduced",
    "smaller than the paper's",
    "larger than the paper's",
    "contradicted",
    "inconclusive",
    "exploratory",
    "collapsed",
    "not run",
)
#: fewer pairs than this give no verdict ("exploratory"): two pairs' spread is too unsure to bound an effect
MIN_PAIRS = 3
#: what each verdict means, in the book's words (the keys under the claims tables)
VERDICT_RULES = {
    REPRODUCED: "the 95 % interval excludes 0 on the paper's side and holds the paper's effect",
    SMALLER: "the interval excludes the paper's effect from above (it may hold 0): the effect here is smaller",
    LARGER: "the interval excludes 0 and the paper's effect from below: the same direction, larger here",
    CONTRADICTED: "the interval excludes 0 on the other side",
    INCONCLUSIVE: "the interval holds both 0 and the paper's effect",
    EXPLORATORY: f"fewer than {MIN_PAIRS} paired seeds: no verdict",
    COLLAPSED: "a run behind it collapsed (counted apart from effects)",
}


@dataclass(frozen=True)
class PairedEffect:
    """Mean per-seed difference (points), its 95 % interval and the minimum detectable effect."""

    mean: float
    low: float
    high: float
    mde: float
    pairs: int
    sd: float
    pooled: bool  # the spread is the pooled one of other comparisons (fewer than 2 pairs here)
    p: float = math.nan  # two-sided p-value of the paired t-test against no effect


def detectable_effect(sd: float, n: int, df: int | None = None, alpha: float = ALPHA, power: float = POWER) -> float:
    """Smallest true mean difference a paired t-test on ``n`` pairs (spread ``sd``) detects with
    ``power`` at two-sided level ``alpha``: (t_{1-alpha/2} + t_{power}) * sd / sqrt(n)."""
    df = n - 1 if df is None else df
    if n < 1 or df < 1 or not math.isfinite(sd):
        return math.nan
    return (sps.t.ppf(1 - alpha / 2, df) + sps.t.ppf(power, df)) * sd / math.sqrt(n)


def paired_effect(
    a: Sequence[float], b: Sequence[float], pooled_sd: float | None = None, pooled_df: int | None = None
) -> PairedEffect | None:
    """Effect of A over B from paired values (same seeds, same order). With fewer than 2 pairs the
    spread is ``pooled_sd`` (with its ``pooled_df``), else the pairs' own; None without any pair."""
    d = [x - y for x, y in zip(a, b)]
    n = len(d)
    if n == 0:
        return None
    mean = sum(d) / n
    if n >= 2:
        sd, df, pooled = math.sqrt(sum((x - mean) ** 2 for x in d) / (n - 1)), n - 1, False
    elif pooled_sd is not None and pooled_df:
        sd, df, pooled = pooled_sd, pooled_df, True
    else:
        return PairedEffect(mean, math.nan, math.nan, math.nan, n, math.nan, False)
    se = sd / math.sqrt(n)
    half = sps.t.ppf(1 - ALPHA / 2, df) * se
    p = 2 * sps.t.sf(abs(mean) / se, df) if se > 0 else (0.0 if mean else 1.0)
    return PairedEffect(mean, mean - half, mean + half, detectable_effect(sd, n, df), n, sd, pooled, p)


def half_width(sd: float, n: int, alpha: float = ALPHA) -> float:
    """Half-width of the two-sided ``1 - alpha`` t interval of a mean of ``n`` paired differences."""
    return sps.t.ppf(1 - alpha / 2, n - 1) * sd / math.sqrt(n) if n >= 2 else math.nan


def seeds_needed(sd: float, effect: float, alpha: float = ALPHA, power: float = POWER, most: int = 1000) -> int | None:
    """Fewest pairs whose paired t-test (spread ``sd``) detects a true difference ``effect`` with
    ``power`` at two-sided ``alpha``: the power calculation the book states before it runs seeds."""
    if not (math.isfinite(sd) and sd > 0 and effect):
        return None
    for n in range(2, most + 1):
        if detectable_effect(sd, n) <= abs(effect):
            return n
    return None


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm's step-down adjustment of a family of p-values (NaN stays NaN and is not counted): the
    claims table's correction for judging many effects at once."""
    finite = sorted((p, i) for i, p in enumerate(pvalues) if math.isfinite(p))
    out, running, m = [math.nan] * len(pvalues), 0.0, len(finite)
    for rank, (p, i) in enumerate(finite):
        running = max(running, min(1.0, (m - rank) * p))
        out[i] = running
    return out


def pool_sd(groups: Sequence[Sequence[float]]) -> tuple[float | None, int]:
    """Pooled standard deviation of per-seed differences over several comparisons, with its
    degrees of freedom (sum of n - 1): the spread a one-seed comparison borrows."""
    ss, df = 0.0, 0
    for d in groups:
        if len(d) >= 2:
            m = sum(d) / len(d)
            ss += sum((x - m) ** 2 for x in d)
            df += len(d) - 1
    return (math.sqrt(ss / df), df) if df else (None, 0)


def difference_noise(sd_a: float, n_a, sd_b: float, n_b, z: float = 2.0) -> float:
    """``z`` sd of the difference of two means of ``n_a`` and ``n_b`` seeds, each with spread ``sd_a``
    / ``sd_b`` (each mean's own, or one pooled sd twice): ``z * sqrt(sd_a**2 / n_a + sd_b**2 / n_b)``.
    NaN without seeds or without a spread (a mean's own spread needs 2 seeds): the book's and the
    calibration gates' one noise formula."""
    if not n_a or not n_b or math.isnan(sd_a) or math.isnan(sd_b):
        return math.nan
    return z * math.sqrt(sd_a**2 / n_a + sd_b**2 / n_b)


def verdict(effect: PairedEffect | None, paper: float | None, collapsed: bool = False) -> str:
    """The paper's direction and its magnitude, from the paired 95 % interval (:data:`VERDICT_RULES`):
    contradicted (excludes 0 on the other side), smaller / larger than the paper's (excludes the
    paper's effect below / above it), reproduced (excludes 0 on the paper's side and holds the
    paper's effect), inconclusive (holds both); exploratory with fewer than MIN_PAIRS pairs;
    collapsed (a run behind it collapsed, counted apart); not run."""
    if collapsed:
        return COLLAPSED
    if effect is None:
        return NOT_RUN
    if effect.pairs < MIN_PAIRS:
        return EXPLORATORY
    if not math.isfinite(effect.low) or paper is None or paper == 0:
        return INCONCLUSIVE
    sign = 1.0 if paper > 0 else -1.0  # judged on the paper's side: effects as gains in its direction
    low, high = sorted((sign * effect.low, sign * effect.high))
    if high < 0:
        return CONTRADICTED
    if high < abs(paper):
        return SMALLER
    if low > abs(paper):
        return LARGER
    return REPRODUCED if low > 0 else INCONCLUSIVE


def collapse_rule() -> str:
    """:func:`is_collapsed` in words, from the same thresholds, so the book's keys cannot drift from
    the rule the claims table applies ("a run collapses when it ...")."""
    share = f"{COLLAPSE_TOP_SHARE:g} %"
    fraction = {0.5: "half"}.get(COLLAPSE_OF_SUPERVISED, f"{COLLAPSE_OF_SUPERVISED:g} times the mIoU")
    return (
        f"predicts one class on more than {share} of its pixels, names more than {share} of the object "
        f"pixels it finds one class (it finds the objects but calls them all the same), or scores below "
        f"{fraction} of supervised training at the same split and length"
    )


def is_collapsed(
    miou: float, top_share: float | None, supervised_miou: float | None, naming_share: float | None = None
) -> bool:
    """One class on more than COLLAPSE_TOP_SHARE % of the pixels, or of the object pixels the run
    finds (``naming_share``: every object named one class), or below half of supervised."""
    if top_share is not None and top_share > COLLAPSE_TOP_SHARE:
        return True
    if naming_share is not None and naming_share > COLLAPSE_TOP_SHARE:
        return True
    return supervised_miou is not None and miou < COLLAPSE_OF_SUPERVISED * supervised_miou
