"""Losses: supervised CE (L_sup), pseudo-label CE, CPS cross supervision (L_ss) and the teachers'
distillation (L_st). Feature augmentation (Eq. 3) is :mod:`mkdlib.feature_aug`.

Every loss ignores label 255 (VOC's "void" and the padding of crops).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from .data.palette import IGNORE_INDEX


def supervised_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Pixel-wise cross entropy against ground truth (255 ignored)."""
    return F.cross_entropy(logits, target, ignore_index=IGNORE_INDEX)


@torch.no_grad()
def pseudo_label(logits: torch.Tensor, threshold: float = 0.0, ignore: torch.Tensor | None = None) -> torch.Tensor:
    """Hard (argmax) pseudo labels; pixels below the confidence ``threshold`` or in ``ignore`` -> 255.

    Without a threshold the softmax is skipped (it is monotone: same argmax); masks are applied
    with ``masked_fill`` (boolean-index assignment would cost a host sync on CUDA).
    """
    logits = logits.detach()
    if threshold > 0:
        conf, label = logits.float().softmax(dim=1).max(dim=1)
        label = label.masked_fill_(conf < threshold, IGNORE_INDEX)
    else:
        label = logits.max(dim=1).indices  # argmax(dim=1) is ~10x slower on CPU (torch 2.x)
    if ignore is not None:
        label = label.masked_fill_(ignore, IGNORE_INDEX)
    return label


def pseudo_label_loss(logits: torch.Tensor, target: torch.Tensor, norm: str = "all") -> torch.Tensor:
    """CE against pseudo labels. ``norm="all"``: averaged over *all* pixels, so a strict threshold
    shrinks the loss; ``"labeled"``: over the pixels that carry a pseudo label, so the few confident
    pixels keep full weight (as FixMatch does)."""
    return pseudo_label_loss_from_log_probs(F.log_softmax(logits, dim=1), target, norm)


def pseudo_label_loss_from_log_probs(log_probs: torch.Tensor, target: torch.Tensor, norm: str = "all") -> torch.Tensor:
    """:func:`pseudo_label_loss` given ``log_softmax(logits)``, so one log-softmax can serve
    several targets (MKD's L_ss and L_st both supervise the same student logits)."""
    loss = F.nll_loss(log_probs, target, ignore_index=IGNORE_INDEX, reduction="none")
    count = (target != IGNORE_INDEX).sum().clamp_min(1) if norm == "labeled" else max(target.numel(), 1)
    return loss.sum() / count


def sigmoid_rampup(progress: float, length: float) -> float:
    """exp(-5 (1 - t)^2) for t = progress / length, then 1 (Laine & Aila's ramp of unlabeled weights)."""
    if length <= 0 or progress >= length:
        return 1.0
    t = max(progress, 0.0) / length
    return math.exp(-5.0 * (1.0 - t) ** 2)


def cross_pseudo_loss_from_log_probs(
    log_probs: Sequence[torch.Tensor], own_labels: Sequence[torch.Tensor], norm: str = "all"
) -> torch.Tensor:
    """CPS (L_ss, what MKD computes): student i learns student j's pseudo labels, j != i."""
    return sum(pseudo_label_loss_from_log_probs(lp, own_labels[1 - i], norm) for i, lp in enumerate(log_probs))


def cross_pseudo_loss(
    logits_a: torch.Tensor, logits_b: torch.Tensor, ignore: torch.Tensor | None = None
) -> torch.Tensor:
    """CPS (L_ss) from two networks' logits: each learns the other's argmax; targets carry no gradient."""
    logits = (logits_a, logits_b)
    return cross_pseudo_loss_from_log_probs(
        [F.log_softmax(l, dim=1) for l in logits], [pseudo_label(l, ignore=ignore) for l in logits]
    )


def teacher_loss_from_log_probs(
    log_probs: Sequence[torch.Tensor], teacher_labels: Sequence[torch.Tensor], mutual: bool, norm: str = "all"
) -> torch.Tensor:
    """L_st: teacher j's pseudo labels supervise student i; j != i when ``mutual`` (MKD's mutual mean
    teacher), j = i otherwise (each student its own mean teacher)."""
    return sum(
        pseudo_label_loss_from_log_probs(lp, teacher_labels[1 - i if mutual else i], norm)
        for i, lp in enumerate(log_probs)
    )
