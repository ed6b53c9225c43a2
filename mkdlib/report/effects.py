"""Do the paper's effects reproduce here? The seed-noise rule, each effect's verdict, the intro's
headline table and the book's three-sentence verdict, generated from the stored runs.

A gain, paired by seed, is judged against ``z`` standard deviations of the difference of two means
over its pairs (:func:`mkdlib.report.stats.paired_noise`, with the pooled seed spread of the headline
grid: :func:`mkdlib.report.store.seed_noise_sd`).
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from .cells import OURS, PAPER
from .stats import paired_noise
from .store import grid_runs, seed_noise_sd, seed_summary
from .tables import FAIR_REFERENCE, table_ablation, table_methods, table_sweep

NO_RUNS = "no stored runs yet"
NO_CHANGE_IN_PAPER = "beyond seed noise (paper: no change)"


def _judge(gain: float, noise: float, paper_gain: float | None = None) -> str:
    """ "not yet run" / "within seed noise" / "same direction" / "opposite direction" (as the
    paper's gain; without one: "beyond seed noise"; where the paper's gain is 0, it has no
    direction: "beyond seed noise (paper: no change)")."""
    if gain is None or math.isnan(gain):
        return "not yet run"
    if math.isnan(noise) or abs(gain) < noise:
        return "within seed noise"
    if paper_gain is None or math.isnan(paper_gain):
        return "beyond seed noise"
    if paper_gain == 0:
        return NO_CHANGE_IN_PAPER
    return "same direction" if math.copysign(1, gain) == math.copysign(1, paper_gain) else "opposite direction"


def _mean_sd(mean: float, sd: float, n) -> str:
    if math.isnan(mean):
        return "not yet run"
    return f"{mean:.1f} ± {sd:.1f}" if n and n >= 2 and not math.isnan(sd) else f"{mean:.1f} (one seed)"


def effect_directions(root: str | Path | None = None, z: float = 2.0) -> pd.DataFrame:
    """Each effect the paper reports in Tables 2-5, measured here: our gain over the table's
    reference row beside the paper's, and whether it reproduces. Table 2's reference is CPS +
    CutMix, the matching baseline of an MKD that trains with CutMix.

    Our gain is paired by seed (the tables' "pairs vs" columns count the seeds both rows have), and
    ``noise`` is ``z`` standard deviations of a difference of two means over those ``n`` pairs,
    ``z * sd * sqrt(2 / n)`` with ``sd`` = :func:`seed_noise_sd`
    (:func:`mkdlib.report.stats.paired_noise`). Verdict (:func:`_judge`):
    "same direction" / "opposite direction" when our gain is larger than the noise (or, where the
    paper's gain is 0, "beyond seed noise (paper: no change)"), "within seed noise" otherwise, "not
    yet run" when either run is missing. Table 1 has no like-for-like gain beyond
    1/16 (no CPS at other fractions here, no supervised row in the paper), so it is left out.
    """
    sd = seed_noise_sd(root)
    specs = [
        ("Table 2", table_methods(root), FAIR_REFERENCE, FAIR_REFERENCE),
        ("Table 3", table_ablation(root), "co-training", "co-training"),
        ("Table 4", table_sweep("gamma", root), None, "gamma=0"),
        ("Table 5", table_sweep("beta", root), None, "beta=0"),
    ]
    rows = []
    for name, t, ref, what in specs:
        ref = t.index[0] if ref is None else ref
        ours, theirs, pairs = t[f"{OURS} gain vs {what}"], t[f"{PAPER} gain vs {what}"], t[f"{OURS} pairs vs {what}"]

        def label(i) -> str:
            return f"{t.index.name} = {i:g}" if isinstance(i, float) else str(i)

        for idx in t.index:
            if idx == ref or math.isnan(theirs[idx]):
                continue
            noise, gain = paired_noise(sd, pairs[idx], z), ours[idx]
            rows.append(
                {
                    "table": name,
                    "effect": label(idx),
                    "reference": label(ref),
                    f"{OURS} gain": gain,
                    f"{PAPER} gain": theirs[idx],
                    "noise (±)": noise,
                    "verdict": _judge(gain, noise, theirs[idx]),
                }
            )
    return pd.DataFrame(rows).set_index(["table", "effect"])


def headline_summary(root: str | Path | None = None) -> pd.DataFrame:
    """The intro's table: each headline method at 1/16 of the labels (and supervised training with
    all labels), ours as mean ± sd over its stored seeds, beside the paper's Table 2 (ResNet-50,
    1/16). Columns under two header rows: ("ours (built-in)", "mIoU" / "seeds"), ("paper, R50",
    "VOCAug" / "Cityscapes")."""
    t = table_methods(root)
    full = (
        seed_summary(grid_runs("headline", root).query("split == 'full'"), ["method"]).reindex(["supervised"]).iloc[0]
    )
    ours, paper_voc, paper_city = (OURS, "mIoU ± sd"), (f"{PAPER}, R50", "VOCAug"), (f"{PAPER}, R50", "Cityscapes")
    rows = {
        label: {
            ours: _mean_sd(r[f"{OURS} mIoU"], r[f"{OURS} sd"], r[f"{OURS} seeds"]),
            (OURS, "seeds"): int(r[f"{OURS} seeds"]),
            paper_voc: r[f"{PAPER} VOCAug R50 1/16"],
            paper_city: r[f"{PAPER} Cityscapes R50 1/16"],
        }
        for label, r in t.iterrows()
    }
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


def verdict(root: str | Path | None = None, z: float = 2.0) -> str:
    """Three sentences, generated from the stored runs and the paper's Table 2: which method is
    best here, whether MKD's gain over its matching baseline exceeds ``z`` sd of the seed noise,
    and whether the paper's gain (over CPS w/ CutMix) reproduces in direction."""
    t = table_methods(root)
    mean, sd_, n = t[f"{OURS} mIoU"], t[f"{OURS} sd"], t[f"{OURS} seeds"]
    p_voc = t.loc["MKD", f"{PAPER} VOCAug R50 1/16"] - t.loc[FAIR_REFERENCE, f"{PAPER} VOCAug R50 1/16"]
    p_city = t.loc["MKD", f"{PAPER} Cityscapes R50 1/16"] - t.loc[FAIR_REFERENCE, f"{PAPER} Cityscapes R50 1/16"]
    paper_sentence = (
        f"The paper reports MKD {p_voc:+.2f} points above CPS with CutMix on VOCAug and "
        f"{p_city:+.2f} on Cityscapes (ResNet-50, 1/16 of the labels)"
    )
    if mean.notna().sum() == 0:
        return (
            f"**{NO_RUNS.capitalize()}**: the results store holds none of the headline runs, so this "
            "book cannot yet say which method is best on the built-in dataset "
            "(`python -m mkdlib.experiments headline` trains them). "
            f"{paper_sentence}; whether that gain reproduces here is open until those runs exist."
        )
    best = mean.idxmax()
    first = (
        f"On the built-in dataset with 1/16 of the labels, **{best}** scores highest: "
        f"{_mean_sd(mean[best], sd_[best], n[best])} mIoU ({int(n[best])} seed{'s' if n[best] != 1 else ''})"
    )
    if best != "MKD":
        first += f"; MKD scores {_mean_sd(mean['MKD'], sd_['MKD'], n['MKD'])}"
    first += "."
    gain, pairs = t.loc["MKD", f"{OURS} gain vs {FAIR_REFERENCE}"], t.loc["MKD", f"{OURS} pairs vs {FAIR_REFERENCE}"]
    sd = seed_noise_sd(root)
    noise = paired_noise(sd, pairs, z)
    judged = _judge(gain, noise, p_voc)
    if judged == "not yet run":
        second = (
            f"MKD's gain over {FAIR_REFERENCE}, its matching baseline (both train with CutMix), cannot "
            "be measured yet: one of the two is not yet run."
        )
    elif math.isnan(noise):
        second = (
            f"MKD's gain over {FAIR_REFERENCE}, its matching baseline (both train with CutMix), is "
            f"{gain:+.1f} points, but without repeated seeds there is no seed noise to judge it against."
        )
    else:
        second = (
            f"MKD's gain over {FAIR_REFERENCE}, its matching baseline (both train with CutMix), is "
            f"{gain:+.1f} points, {'more' if abs(gain) >= noise else 'less'} than {z:g} sd of the seed "
            f"noise (±{noise:.1f}): {'a real difference at this scale' if abs(gain) >= noise else 'the two cannot be told apart'}."
        )
    outcome = {
        "same direction": "here that gain reproduces in direction",
        "opposite direction": "here MKD falls behind instead",
        "within seed noise": "here the difference is within the seed noise",
        NO_CHANGE_IN_PAPER: "here the two differ beyond the seed noise",
        "not yet run": "here it is not yet measured",
    }[judged]
    return f"{first} {second} {paper_sentence}; {outcome}."
