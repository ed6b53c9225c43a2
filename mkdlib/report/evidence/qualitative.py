"""Which runs Figure 2 draws: a claim's two sides at its representative seed (the median of their
paired differences, not seed 0), the other methods at that seed, and every seed both sides share
for the per-image count, so that one picked seed cannot flatter either side."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ...results import load_predictions
from . import stats
from .claims import TEST, VALIDATION, Claim, Store, pairs


@dataclass
class Figure2Runs:
    protocol: str  # whose runs: the decisive headline's (test) or the superseded one's (validation)
    differences: dict[int, float]  # seed -> a's score minus b's (mIoU points, the protocol's score)
    seed: int | None  # the representative seed (None: no pair stored)
    keys: dict[str, str] = field(default_factory=dict)  # label -> stored key at ``seed``
    pair_keys: list[tuple[int, str, str]] = field(default_factory=list)  # (seed, a's key, b's key) per pair

    @property
    def median(self) -> float:
        return float(np.median(list(self.differences.values()))) if self.differences else math.nan


def figure2_runs(
    sides: dict[str, dict],
    a: str,
    b: str,
    root: str | Path | None = None,
    seed: int | None = None,
) -> Figure2Runs:
    """``sides``: label -> config fields (e.g. ``{"MKD": {"method": "mkd"}, ...}``); ``a`` and ``b`` the
    two labels compared. The decisive headline's runs once it has :data:`stats.MIN_PAIRS` pairs of
    ``a`` and ``b``, else the superseded headline's; the representative seed is the one whose
    difference is nearest the median (the lower seed on a tie), or ``seed`` where one is asked for."""
    store = Store(root)
    for protocol in (TEST, VALIDATION):
        got = pairs(store, sides[a], sides[b], protocol)
        if len(got) >= stats.MIN_PAIRS:
            break
    diffs = {ra["seed"]: ra["score"] - rb["score"] for ra, rb in got}
    out = Figure2Runs(protocol, diffs, None, pair_keys=[(ra["seed"], ra["key"], rb["key"]) for ra, rb in got])
    if not diffs:
        return out
    out.seed = seed if seed is not None else min(diffs, key=lambda s: (abs(diffs[s] - out.median), s))
    for label, fields in sides.items():
        if (run := store.run(Claim("", "", math.nan, fields, {}, protocol).config("a", out.seed))) is not None:
            out.keys[label] = run["key"]
    return out


def per_image_miou(pred: np.ndarray, target: np.ndarray, num_classes: int) -> float:
    """mIoU of one image over the classes present in its truth or prediction (255 ignored)."""
    import torch

    from ...evaluate import confusion_matrix, mean_iou

    conf = confusion_matrix(torch.as_tensor(pred).long(), torch.as_tensor(target).long(), num_classes)
    return mean_iou(conf)


def better_worse(runs: Figure2Runs, truths: dict[str, np.ndarray], num_classes: int, root=None) -> tuple[int, int, int]:
    """(better, worse, images) of side a against side b, per image, summed over every stored pair:
    each image of each seed counts once."""
    better = worse = total = 0
    for _, key_a, key_b in runs.pair_keys:
        pa, pb = (predictions_by_id(load_predictions(k, root)) for k in (key_a, key_b))
        for i in sorted(set(pa) & set(pb) & set(truths)):
            ma, mb = (per_image_miou(p[i], truths[i], num_classes) for p in (pa, pb))
            better, worse, total = better + (ma > mb), worse + (ma < mb), total + 1
    return better, worse, total


def predictions_by_id(stored) -> dict[str, np.ndarray]:
    """``predictions.npz`` contents (``ids`` + stacked ``pred``, or ``pred_<id>`` per image) as
    id -> (H, W) class map."""
    ids = [str(i) for i in stored["ids"]]
    return dict(zip(ids, stored["pred"])) if "pred" in stored else {i: stored[f"pred_{i}"] for i in ids}
