"""Feature augmentation (Eq. 3): ISDA-style augmented logits from running per-class statistics of
the decoder feature. Cross entropy of the augmented logits bounds the expected CE under Gaussian
feature perturbations with each class's covariance, without sampling any perturbation.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .data.palette import IGNORE_INDEX


def _resize_labels(labels: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Nearest-neighbour resize of a (B, H, W) label map; an integer factor is a strided slice
    (exactly what F.interpolate's 'nearest' picks then, without a float round trip)."""
    (H, W), (h, w) = labels.shape[-2:], tuple(size)
    if (H, W) == (h, w):
        return labels
    if H % h == 0 and W % w == 0:
        return labels[..., :: H // h, :: W // w]
    return F.interpolate(labels[:, None].float(), size=(h, w), mode="nearest")[:, 0].long()


def _check_class_ids(y: torch.Tensor, num_classes: int) -> None:
    valid = y != IGNORE_INDEX
    kept = y.masked_fill(~valid, 0)
    if y.numel() and (int(kept.min()) < 0 or int(kept.max()) >= num_classes):
        raise ValueError(
            f"ClassFeatureStats.update: labels must be class ids in [0, {num_classes}) or "
            f"{IGNORE_INDEX} (ignore), got values {sorted(set(y[valid].tolist()))[:10]}"
        )


class ClassFeatureStats(nn.Module):
    """Running per-class mean and (co)variance of the decoder feature, estimated online.

    Each update merges a batch's per-class count, mean and scatter into the running ones with
    weight n / (n + N) (Chan et al.'s parallel update), i.e. a running average over all of
    training as in the released code. Vectorised over pixels and classes: one one-hot matmul.
    """

    def __init__(self, num_classes: int, dim: int, covariance: str = "diagonal"):
        super().__init__()
        if covariance not in ("diagonal", "full"):
            raise ValueError(f"covariance must be 'diagonal' or 'full', got {covariance!r}")
        self.covariance = covariance
        self.register_buffer("count", torch.zeros(num_classes, dtype=torch.float64))
        self.register_buffer("mean", torch.zeros(num_classes, dim, dtype=torch.float64))
        shape = (num_classes, dim) if covariance == "diagonal" else (num_classes, dim, dim)
        self.register_buffer("m2", torch.zeros(shape, dtype=torch.float64))  # sum of squared deviations

    @torch.no_grad()
    def update(self, features: torch.Tensor, labels: torch.Tensor) -> None:
        """features (B, D, h, w); labels (B, H, W) (resized with nearest to h x w; 255 skipped).

        The batch's per-class sums and scatter are batched matmuls with a one-hot map in the
        features' precision (at least float32: a (pixels x D) float64 copy doubles the memory
        traffic and is ~0.5 GB at VOC scale), two-pass (batch mean first, then deviations); the
        running merge is float64. No transpose copy, no boolean indexing (no host sync on CUDA).
        """
        c, d = self.mean.shape
        labels = _resize_labels(labels, features.shape[-2:])
        dtype = torch.promote_types(features.dtype, torch.float32)
        batch = features.shape[0]
        f = features.detach().reshape(batch, d, -1).to(dtype)  # (B, D, P): a view, no transpose copy
        y = labels.reshape(batch, -1)  # (B, P)
        if y.device.type == "cpu":  # on CUDA this check would cost a host sync per step
            _check_class_ids(y, c)
        # (B, P, C) one-hot; ignored pixels (255) match no class, so they drop out of every sum
        onehot = (y[..., None] == torch.arange(c, device=y.device)).to(dtype)
        # the step runs under autocast on CUDA: keep these float32 sums out of bf16/fp16 matmuls
        with torch.autocast(device_type=features.device.type, enabled=False):
            n_b = onehot.sum((0, 1))  # (C,)
            sum_b = (f @ onehot).sum(0).T  # (C, D)
            if torch.distributed.is_available() and torch.distributed.is_initialized():
                torch.distributed.all_reduce(n_b)
                torch.distributed.all_reduce(sum_b)
            mean_b = sum_b / n_b.clamp(min=1)[:, None]
            dev = f - mean_b.T @ onehot.transpose(1, 2)  # (B, D, P): deviation from the own class's mean
            if self.covariance == "diagonal":
                m2_b = ((dev * dev) @ onehot).sum(0).T  # (C, D)
            else:
                m2_b = torch.einsum("bpc,bdp,bep->cde", onehot, dev, dev)
            if torch.distributed.is_available() and torch.distributed.is_initialized():
                # per-rank deviations are about the global batch mean, so the scatter just sums
                torch.distributed.all_reduce(m2_b)
        n_b, mean_b, m2_b = n_b.double(), mean_b.double(), m2_b.double()
        n_a, total = self.count, self.count + n_b
        delta = mean_b - self.mean
        w = (n_b / total.clamp(min=1))[:, None]
        self.mean += delta * w
        cross = n_a * n_b / total.clamp(min=1)
        if self.covariance == "diagonal":
            self.m2 += m2_b + delta * delta * cross[:, None]
        else:
            self.m2 += m2_b + torch.einsum("cd,ce->cde", delta, delta) * cross[:, None, None]
        self.count.copy_(total)

    @property
    def variance(self) -> torch.Tensor:
        """(C, D) diagonal or (C, D, D) full covariance (zero for classes never seen)."""
        denom = self.count.clamp(min=1)
        return self.m2 / (denom[:, None] if self.covariance == "diagonal" else denom[:, None, None])


def isda_offsets(weight: torch.Tensor, variance: torch.Tensor) -> torch.Tensor:
    """Q[y, j] = 1/2 (w_j - w_y)^T Sigma_y (w_j - w_y): the Eq. 3 term, per (true class y, class j).

    weight: (C, D) classifier weights (detached, as in the released code);
    variance: (C, D) diagonal or (C, D, D) full covariance. Q[y, y] = 0.
    """
    w = weight.double()
    v = w[None, :, :] - w[:, None, :]  # v[y, j] = w_j - w_y, (C, C, D)
    if variance.dim() == 2:
        return 0.5 * torch.einsum("yjd,yd->yj", v * v, variance.double())
    return 0.5 * torch.einsum("yjd,yde,yje->yj", v, variance.double(), v)


def feature_augment(logits: torch.Tensor, labels: torch.Tensor, offsets: torch.Tensor, strength: float) -> torch.Tensor:
    """Eq. 3 as augmented logits: p_j + lambda * Q[y, j] for each pixel of class y (255: unchanged).

    Cross entropy of these logits is the ISDA upper bound of the expected CE under Gaussian
    feature perturbations with the class covariance.
    """
    if strength == 0:
        return logits
    c = offsets.shape[0]
    # one gather from a table whose extra last row (zeros) serves the ignored pixels
    table = torch.cat([offsets.to(logits.dtype), offsets.new_zeros(1, offsets.shape[1], dtype=logits.dtype)])
    rows = torch.where(labels == IGNORE_INDEX, c, labels.clamp(max=c - 1))
    q = F.embedding(rows, table)  # (B, H, W, C); ~4x faster than table[rows] on CPU
    return torch.add(logits, q.permute(0, 3, 1, 2), alpha=strength)


def ramp_cosine(progress: float, final: float) -> float:
    """Cosine ramp from 0 to ``final`` as ``progress`` goes 0 -> 1 (lambda of Eq. 3)."""
    p = min(max(progress, 0.0), 1.0)
    return final * 0.5 * (1 - math.cos(math.pi * p))
