"""The claims table: every claim of the paper that has an analogue here, the paper's effect, ours
(paired by seed, with a 95 % interval and the minimum detectable effect) and a verdict, generated
from the results store, never typed. Each side of a claim is a full config (its key, less the
seed), so a row never pools runs of different configs; a collapsed run is counted apart.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ...config import Config, resolve
from ...experiments import as_stored
from ...results import load_predictions
from . import stats
from .cells import count
from .store import config_at

SEEDS = tuple(range(12))
#: how a claim's runs are made and scored: ``test``, the decisive headline (each seed its own labeled
#: split, the final model scored once on the held-out test set: mkdlib.experiments.headline_config);
#: ``validation``, the grids' protocol (one labeled split, the validation set)
TEST, VALIDATION = "test", "validation"


@dataclass(frozen=True)
class Claim:
    claim: str  # the paper's claim, in words
    source: str  # where the paper makes it
    paper: float  # the paper's effect (points of mIoU)
    a: dict  # config fields of the better side (by the paper)
    b: dict  # ... and of the side it is compared with
    protocol: str = VALIDATION

    def config(self, side: str, seed: int) -> Config:
        """Side ``a`` or ``b`` at ``seed``, under the claim's protocol."""
        fields = getattr(self, side)
        if self.protocol == TEST:
            from ...experiments import headline_config

            return resolve(headline_config(seed=seed, **fields))
        return config_at(fields, seed)


def _paper_values() -> dict:
    from .transcribed import load_paper

    p = load_paper()
    t2 = p["table2_vocaug"]["rows"]
    t1 = p["table1_voc_classic"]["rows"]
    t3 = {tuple(r[:5]): r[5] for r in p["table3_ablation"]["rows"]}
    t4 = {r[0]: r[1] for r in p["table4_gamma"]["rows"]}
    t5 = {r[0]: r[1] for r in p["table5_beta"]["rows"]}
    return {"t1": t1, "t2": t2, "t3": t3, "t4": t4, "t5": t5}


def claims() -> list[Claim]:
    """The paper's claims with an analogue on the built-in dataset, at 1/16 labels."""
    from ...experiments import TABLE3_ROWS, table3_row

    p, cut = _paper_values(), "CPS-with-CutMix"
    heads = (  # claim, the paper's table, its better and its other row, our two methods
        ("MKD beats CPS with CutMix", "t2", "MKD", cut, "mkd", "cps_cutmix"),
        ("MKD (the release's step) beats CPS with CutMix", "t2", "MKD", cut, "mkd_release", "cps_cutmix"),
        ("MKD beats the mean teacher", "t2", "MKD", "MT", "mkd", "mean_teacher"),
        ("MKD beats CPS", "t1", "MKD-R101", "CPS-R101", "mkd", "cps"),
    )
    source = {"t2": "Table 2, VOCAug R50 1/16", "t1": "Table 1, VOC R101 1/16"}
    out = [  # Table 2's on the decisive headline (test set), Table 1's on the grids' protocol
        Claim(c, source[t], p[t][a][0] - p[t][b][0], dict(method=x), dict(method=y), TEST if t == "t2" else VALIDATION)
        for c, t, a, b, x, y in heads
    ]
    t3 = p["t3"]
    names = ("own_teacher", "mutual_mean_teacher", "strong_aug", "feature_aug")
    labels = {"own_teacher": "MT", "mutual_mean_teacher": "mutual MT", "strong_aug": "SDA", "feature_aug": "FDA"}

    def paper_row(on: dict) -> float:
        return t3[(True, *(bool(on.get(n, False)) for n in names))]

    base, src3 = TABLE3_ROWS[0], "Table 3, VOCAug R50 1/16"
    for on in TABLE3_ROWS[1:]:
        what = " + ".join(labels[n] for n in names if on.get(n))
        gain = paper_row(on) - paper_row(base)
        out.append(Claim(f"co-training + {what} beats co-training alone", src3, gain, table3_row(on), table3_row(base)))
    mmt_sda, mkd_row = TABLE3_ROWS[5], TABLE3_ROWS[6]
    gain = paper_row(mkd_row) - paper_row(mmt_sda)
    out.append(Claim("FDA adds to co-training + mutual MT + SDA", src3, gain, table3_row(mkd_row), table3_row(mmt_sda)))
    for claim, t, param, a, b in (  # the sweeps (Tables 4 and 5, R50): the better value, the other
        ("gamma 0.4 beats gamma 0 (0.4 best)", "t4", "gamma", 0.4, 0.0),
        ("beta 1.0 beats beta 0 (1.0-1.5 best)", "t5", "beta", 1.0, 0.0),
        ("beta 1.0 beats beta 2.0 (1.0-1.5 best)", "t5", "beta", 1.0, 2.0),
    ):
        sides = ({"method": "mkd", param: a}, {"method": "mkd", param: b})
        out.append(Claim(claim, f"Table {t[1]}, R50", p[t][a] - p[t][b], *sides))
    return out


class Store:
    """The claims' view of the results store: a config's stored run (matched by the book's one
    rule, :func:`mkdlib.report.evidence.store.stored_key`, on the store read once) with its mIoU (%) and the
    share (%) of its most predicted class on the stored validation predictions."""

    def __init__(self, root: str | Path | None = None):
        self.root, self._cache = root, {}

    def run(self, cfg: Config) -> dict | None:
        from .store import stored_key

        key = stored_key(cfg, self.root)
        return None if key is None else self.by_key(key)

    def by_key(self, key: str) -> dict:
        """The stored run ``key`` (its mIoU and shares, as :meth:`run` returns it)."""
        if key not in self._cache:
            self._cache[key] = self._load(key)
        return self._cache[key]

    def _load(self, key: str) -> dict:
        from .store import stored_result

        r = stored_result(key, self.root)
        share = None
        try:
            pred = load_predictions(key, self.root)
            arrays = [v for k, v in pred.items() if k == "pred" or k.startswith("pred_")]
            counts = np.bincount(np.concatenate([a.ravel() for a in arrays]).astype(np.int64))
            share = 100 * counts.max() / counts.sum()
        except (OSError, KeyError, ValueError):
            pass
        naming = None
        if r["final"].get("confusion") is not None:  # the share of found objects given one class
            from ...evaluate import object_scores

            dominant = object_scores(np.asarray(r["final"]["confusion"]))["dominant_class_share"]
            naming = None if dominant != dominant else 100 * dominant
        test = r.get("test", {}).get("miou")
        return {
            "key": key,
            "threads": (r.get("env") or {}).get("torch_threads"),
            "miou": 100 * r["final"]["miou"],
            "test_miou": None if test is None else 100 * test,
            "top_share": share,
            "naming_share": naming,
        }


def run_collapsed(run: dict, supervised_miou: float | None) -> bool:
    """:func:`mkdlib.report.evidence.stats.is_collapsed` on a run as :class:`Store` (or :func:`pairs`) returns
    it, its score against supervised training's under the same protocol."""
    return stats.is_collapsed(run.get("score", run["miou"]), run["top_share"], supervised_miou, run["naming_share"])


def supervised_reference(
    store: Store, split: str = "1/16", iters: int | None = None, protocol: str = VALIDATION
) -> float | None:
    """Mean mIoU of supervised training at ``split`` (the collapse rule's yardstick), under ``protocol``
    (its test mIoU for the decisive headline's runs)."""
    vals = []
    ref = Claim("", "", math.nan, dict(method="supervised", **({"iters": iters} if iters else {})), {}, protocol)
    for s in SEEDS:
        cfg = ref.config("a", s) if protocol == TEST else config_at(ref.a, s, split)
        if (r := store.run(cfg)) is not None and (v := score(r, protocol)) is not None:
            vals.append(v)
    return sum(vals) / len(vals) if vals else None


def score(run: dict, protocol: str = VALIDATION) -> float | None:
    """The mIoU (%) a claim reads from a stored run: its test score under the test protocol."""
    return run["test_miou"] if protocol == TEST else run["miou"]


def pairs(store: Store, a: dict, b: dict, protocol: str = VALIDATION, seeds=SEEDS) -> list[tuple[dict, dict]]:
    """The stored runs of both sides (config fields, under ``protocol``) that share a seed of ``seeds``;
    each run carries the score the claim compares as ``score`` and its seed as ``seed``."""
    claim, out = Claim("", "", math.nan, a, b, protocol), []
    for s in seeds:
        ra, rb = store.run(claim.config("a", s)), store.run(claim.config("b", s))
        if ra is not None and rb is not None and None not in (score(ra, protocol), score(rb, protocol)):
            out.append(tuple({**r, "score": score(r, protocol), "seed": s} for r in (ra, rb)))
    return out


#: method pairs whose per-seed differences measure the seed noise of a difference between methods
BASELINE_PAIRS = (
    (dict(method="mean_teacher"), dict(method="supervised")),
    (dict(method="cps_cutmix"), dict(method="supervised")),
    (dict(method="mean_teacher"), dict(method="cps_cutmix")),
)


def claims_table(root: str | Path | None = None) -> pd.DataFrame:
    """One row per claim: the paper's effect, ours (mean of per-seed differences, 95 % interval),
    pairs, the minimum detectable effect, a verdict and the runs behind it."""
    return _compare(claims(), Store(root), stats.verdict)


#: the book's own questions, no claim of the paper: the same paired comparison, A against B
FINDINGS = (
    Claim(
        "MKD with one student forward (labeled + unlabeled) instead of Algorithm 1's two",
        "Algorithm 1, lines 11-12",
        math.nan,
        dict(method="mkd", student_forward="joint"),
        dict(method="mkd", student_forward="separate"),
    ),
    Claim(
        "MKD (the `mkd` preset: Algorithm 1 with one student forward) against the release's step",
        "book/paper-vs-code.md",
        math.nan,
        dict(method="mkd"),
        dict(method="mkd_release"),
        TEST,
    ),
)


def findings_table(root: str | Path | None = None) -> pd.DataFrame:
    """:data:`FINDINGS` compared as the claims are; a side's collapsed runs are listed per side
    (``collapsed A`` / ``collapsed B``): there a collapse is the finding, not a reason to stop."""
    store = Store(root)
    t = _compare(FINDINGS, store, _finding_verdict).rename(columns={"claim": "question"}).drop(columns=["paper effect"])
    sup = supervised_reference(store)
    for side, col in (("a", "collapsed A"), ("b", "collapsed B")):
        counts = []
        for f in FINDINGS:
            runs = [r for s in SEEDS if (r := store.run(f.config(side, s))) is not None]
            ref = sup if f.protocol == VALIDATION else supervised_reference(store, protocol=TEST)
            runs = [{**r, "score": score(r, f.protocol)} for r in runs if score(r, f.protocol) is not None]
            bad = sum(run_collapsed(r, ref) for r in runs)
            counts.append(f"{bad}/{len(runs)}")
        t[col] = counts
    return t


def superseded_table(root: str | Path | None = None) -> pd.DataFrame:
    """The headline claims as the superseded 6-seed headline measured them (one labeled split, the
    validation set that also chose the presets; grid ``headline_6seeds``, with the presets' old
    settings), judged by today's rule: kept beside the decisive headline until it is complete."""
    return _compare(superseded_claims(), _store(root), stats.verdict).drop(columns=["scored on"])


def superseded_claims() -> list[Claim]:
    """The headline's claims as the superseded 6-seed headline measured them: on the validation set,
    with the presets as set before the headline's change (:func:`mkdlib.experiments.as_stored`)."""
    old = [c for c in claims() if c.protocol == TEST]
    return [Claim(c.claim, c.source, c.paper, as_stored(c.a), as_stored(c.b), VALIDATION) for c in old]


def _finding_verdict(effect: stats.PairedEffect | None, paper: float | None, collapsed: bool) -> str:
    """A finding has no paper side: A better / B better when the interval excludes 0, else within
    noise; collapsed and not run as for a claim (:func:`mkdlib.report.evidence.stats.verdict`)."""
    judged = stats.verdict(effect, paper, collapsed)
    if judged in (stats.COLLAPSED, stats.NOT_RUN) or not math.isfinite(effect.low):
        return judged
    return "A better" if effect.low > 0 else "B better" if effect.high < 0 else "within noise"


def _found(items, store: Store) -> list[tuple[Claim, list, list[str]]]:
    """(claim, its stored pairs, keys of its collapsed runs) for each of ``items``."""
    sup = {p: supervised_reference(store, protocol=p) for p in (TEST, VALIDATION)}
    found = []
    for c in items:
        ps = pairs(store, c.a, c.b, c.protocol)
        found.append((c, ps, [r["key"] for pair in ps for r in pair if run_collapsed(r, sup[c.protocol])]))
    return found


def _pooled(found: list, store: Store) -> tuple[float | None, int]:
    """The spread a one-pair comparison borrows: per-seed differences of the comparisons with 2 or
    more pairs and no collapsed run, and of the paired baselines (supervised, mean teacher, CPS +
    CutMix: they carry it while the claims have too few pairs)."""
    groups = [
        [a["score"] - b["score"] for a, b in ps]
        for c, ps, col in found
        if not col and len(ps) >= 2 and c.protocol == VALIDATION  # one-pair rows are validation's
    ]
    groups += [  # the superseded headline's comparisons: validation's paired spread while they stand
        [a["score"] - b["score"] for a, b in pairs(store, c.a, c.b)] for c in superseded_claims()
    ]
    groups += [[a["score"] - b["score"] for a, b in pairs(store, x, y)] for x, y in BASELINE_PAIRS]
    return stats.pool_sd([g for g in groups if len(g) >= 2])


def _store(root: str | Path | None) -> Store:
    """One :class:`Store` per state of the results store, so its runs are read once."""
    from .store import snapshot

    return snapshot(root).memo("claims_store", lambda: Store(root))


def pooled_spread(root: str | Path | None = None) -> tuple[float | None, int]:
    """(sd, degrees of freedom) of per-seed differences pooled over the claims table's comparisons
    (:func:`_pooled`): the spread every one-pair verdict of the book borrows, so the tables' verdicts
    and the claims table judge by one rule. Computed once per state of the store."""
    from .store import snapshot

    store = _store(root)
    return snapshot(root).memo("pooled_spread", lambda: _pooled(_found(claims(), store), store))


def collapsed_runs(keys: list[str], root: str | Path | None = None) -> list[str]:
    """Those of the stored runs ``keys`` (at 1/16 of the labels) that collapsed (:func:`run_collapsed`):
    what a verdict counts apart from effects. A run with a test score (the decisive headline's) is
    judged on the test set against supervised training's there, any other on validation."""
    from .store import snapshot

    store, snap, out = _store(root), snapshot(root), []
    for k in keys:
        r = store.by_key(k)
        p = VALIDATION if r["test_miou"] is None else TEST
        sup = snap.memo(("sup_reference", p), lambda: supervised_reference(store, protocol=p))  # noqa: B023
        out += [k] if run_collapsed({**r, "score": score(r, p)}, sup) else []
    return out


def _compare(
    items: list[Claim] | tuple[Claim, ...],
    store: Store,
    judge: Callable[[stats.PairedEffect | None, float | None, bool], str],
) -> pd.DataFrame:
    """One row per claim of ``items``, paired by seed; ``judge(effect, paper effect, collapsed)`` gives
    its verdict. Also: a reference that scores below supervised training (a gain over it may only
    undo what it lost), the thread counts behind the row (they move a run by about 2 points), and
    Holm's p over the rows judged (3+ pairs, none collapsed): whether "excludes 0" holds table-wide."""
    found = _found(items, store)
    pooled_sd, pooled_df = _pooled(found, store)
    sup = {p: supervised_reference(store, protocol=p) for p in (TEST, VALIDATION)}
    rows = []
    for c, ps, collapsed in found:
        ref, floor = (sum(b["score"] for _, b in ps) / len(ps) if ps else None), sup[c.protocol]
        below = None not in (ref, floor) and c.b.get("method") != "supervised" and ref < floor
        effect = stats.paired_effect([a["score"] for a, _ in ps], [b["score"] for _, b in ps], pooled_sd, pooled_df)
        rows.append(
            {
                "claim": c.claim,
                "paper source": c.source,
                "scored on": "test set" if c.protocol == TEST else "validation set",
                "paper effect": round(c.paper, 2),
                "ours": None if effect is None else round(effect.mean, 1),
                "95% interval": _interval(effect),
                "pairs": 0 if effect is None else effect.pairs,
                "detectable effect": None if effect is None or math.isnan(effect.mde) else round(effect.mde, 1),
                "verdict": judge(effect, None if math.isnan(c.paper) else c.paper, bool(collapsed)),
                "collapsed runs": ", ".join(collapsed),
                "reference below supervised": f"{ref:.1f} < {floor:.1f}" if below else "",
                "threads": ", ".join(str(t) for t in sorted({r["threads"] for p in ps for r in p if r["threads"]})),
                "runs": ", ".join(r["key"] for pair in ps for r in pair),
                "p": None if effect is None else effect.p,
            }
        )
    t = pd.DataFrame(rows)
    judged = [r["pairs"] >= stats.MIN_PAIRS and not r["collapsed runs"] and r["p"] is not None for _, r in t.iterrows()]
    adjusted = stats.holm([p if ok else math.nan for p, ok in zip(t["p"] if len(t) else [], judged)])
    t["p (Holm)"] = [round(p, 3) if math.isfinite(p) else None for p in adjusted]
    return t.drop(columns=["p"]) if len(t) else t


#: appended to an interval from the pooled seed spread (one pair); a page short of room swaps it for a mark
POOLED_SD_TAG = " (pooled sd)"


def _interval(effect: stats.PairedEffect | None) -> str:
    if effect is None or not math.isfinite(effect.low):
        return ""
    tag = POOLED_SD_TAG if effect.pooled else ""
    return f"[{effect.low:+.1f}, {effect.high:+.1f}]{tag}"


def claims_summary(table: pd.DataFrame) -> str:
    """One paragraph: how many claims fall under each verdict, and the headline claim in numbers."""
    counts = table["verdict"].value_counts()
    parts = [f"{n} {v}" for v, n in counts.items()]
    text = f"Of {len(table)} claims: {', '.join(parts)}."
    head = table.iloc[0]
    if head["pairs"]:
        mde = head["detectable effect"]
        text += (
            f" {head['claim']}: ours {head['ours']:+.1f} points {head['95% interval']} over "
            f"{count(head['pairs'], 'paired seed')}, the paper's {head['paper effect']:+.2f}"
            + (f"; these seeds detect {mde:.1f} points or more." if mde == mde and mde is not None else ".")
        )
    else:
        where = "the decisive headline (test set)" if head.get("scored on") == "test set" else "the corrected MKD step"
        text += f" {head['claim']}: not run yet on {where}."
    return text


def findings_summary(table: pd.DataFrame) -> str:
    """One sentence per finding (:func:`findings_table`): A minus B with its interval, each side's
    collapsed runs, and the verdict."""
    out = []
    for _, r in table.iterrows():
        if not r["pairs"]:
            out.append(f"{r['question']}: not run yet.")
            continue
        out.append(
            f"{r['question']}: {r['ours']:+.1f} points {r['95% interval']} over {count(r['pairs'], 'paired seed')}; "
            f"collapsed runs {r['collapsed A']} (A) and {r['collapsed B']} (B): {r['verdict']}."
        )
    return " ".join(out)


def power_table(root: str | Path | None = None, seeds: int = 12) -> pd.DataFrame:
    """The decisive headline's power calculation, written before its runs: for each of its claims,
    the spread of per-seed differences the superseded headline measured (one labeled split; the
    decisive one adds the split's variance, so its spread will be at least this), the smallest
    effect ``seeds`` pairs detect at 80 % power, and the pairs needed to tell the paper's effect from
    0 and from half of it."""
    store, rows = _store(root), []
    for c in superseded_claims():
        d = [x["score"] - y["score"] for x, y in pairs(store, c.a, c.b)]
        sd = float(np.std(d, ddof=1)) if len(d) >= 2 else math.nan
        rows.append(
            {
                "comparison": c.claim,
                "paper effect": round(c.paper, 2),
                "pairs measured": len(d),
                "sd of paired differences": round(sd, 2) if math.isfinite(sd) else None,
                f"detectable with {seeds} pairs": round(stats.detectable_effect(sd, seeds), 1)
                if math.isfinite(sd)
                else None,
                f"interval half-width with {seeds} pairs": round(stats.half_width(sd, seeds), 1)
                if math.isfinite(sd)
                else None,
                "pairs to tell it from 0": stats.seeds_needed(sd, c.paper),
                "pairs to tell it from half of it": stats.seeds_needed(sd, c.paper / 2),
            }
        )
    t = pd.DataFrame(rows)
    for col in ("pairs to tell it from 0", "pairs to tell it from half of it"):  # counts, blank when unknown
        if col in t:
            t[col] = t[col].astype("Int64")
    return t
