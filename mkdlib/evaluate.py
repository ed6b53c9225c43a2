"""mIoU from a confusion matrix; whole-image, center-crop and sliding-window evaluation."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .data.palette import IGNORE_INDEX


def confusion_matrix(pred: torch.Tensor, target: torch.Tensor, num_classes: int) -> torch.Tensor:
    """(C, C) int64 counts, rows = ground truth, columns = prediction; 255 pixels skipped."""
    valid = target != IGNORE_INDEX
    idx = target[valid].long() * num_classes + pred[valid].long()
    return torch.bincount(idx, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def iou_from_confusion(conf: torch.Tensor | np.ndarray) -> np.ndarray:
    """Per-class IoU = TP / (TP + FP + FN); NaN for a class absent from both truth and prediction."""
    conf = np.asarray(conf, dtype=np.float64)
    tp = np.diag(conf)
    denom = conf.sum(0) + conf.sum(1) - tp
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom > 0, tp / denom, np.nan)


def mean_iou(conf) -> float:
    return float(np.nanmean(iou_from_confusion(conf)))


def object_scores(conf, background: int = 0) -> dict[str, float]:
    """Split a confusion matrix into *finding* objects and *naming* them (fractions, 0-1).

    Class-agnostic object vs background: ``object_iou``, ``object_precision``, ``object_recall``.
    On truly-object pixels predicted as some object: ``class_accuracy`` (the right class) and
    ``dominant_class_share`` (the share of the most predicted class: near 1 = one class for all).
    """
    conf = np.asarray(conf, dtype=np.float64)
    obj = [c for c in range(len(conf)) if c != background]
    found = conf[np.ix_(obj, obj)]  # truth object, predicted object
    tp, fp, fn = found.sum(), conf[background, obj].sum(), conf[obj, background].sum()

    def ratio(a: float, b: float) -> float:
        return float(a / b) if b > 0 else float("nan")

    return {
        "object_iou": ratio(tp, tp + fp + fn),
        "object_precision": ratio(tp, tp + fp),
        "object_recall": ratio(tp, tp + fn),
        "class_accuracy": ratio(np.trace(found), tp),
        "dominant_class_share": ratio(found.sum(0).max(), tp),
    }


def _sliding_logits(model: nn.Module, image: torch.Tensor, num_classes: int, window: int) -> torch.Tensor:
    """Average logits over overlapping windows (stride 2/3 window), padding small images."""
    _, _, h, w = image.shape
    ph, pw = max(window - h, 0), max(window - w, 0)
    x = F.pad(image, (0, pw, 0, ph))
    H, W = x.shape[-2:]
    stride = max(1, window * 2 // 3)
    logits = torch.zeros(image.shape[0], num_classes, H, W, device=image.device)
    count = torch.zeros(1, 1, H, W, device=image.device)
    ys = list(range(0, max(H - window, 0) + 1, stride))
    xs = list(range(0, max(W - window, 0) + 1, stride))
    if ys[-1] + window < H:
        ys.append(H - window)
    if xs[-1] + window < W:
        xs.append(W - window)
    for y in ys:
        for x0 in xs:
            logits[..., y : y + window, x0 : x0 + window] += model(
                x[..., y : y + window, x0 : x0 + window]
            ).logits.float()
            count[..., y : y + window, x0 : x0 + window] += 1
    return (logits / count)[..., :h, :w]


def _pad_to_multiple(image: torch.Tensor, multiple: int) -> tuple[torch.Tensor, int, int]:
    h, w = image.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    return F.pad(image, (0, pw, 0, ph)), h, w


@torch.no_grad()
def predict_logits(
    model: nn.Module,
    image: torch.Tensor,
    num_classes: int,
    mode: str = "whole",
    crop: int | None = None,
    multiple: int = 32,
) -> torch.Tensor:
    """Logits for a batch of whole images: whole (padded to a multiple of the stride) or sliding."""
    if mode == "sliding":
        return _sliding_logits(model, image, num_classes, crop or image.shape[-1])
    padded, h, w = _pad_to_multiple(image, multiple)
    return model(padded).logits[..., :h, :w].float()


@torch.no_grad()
def evaluate(
    model: nn.Module,
    loader,
    num_classes: int,
    device: torch.device | str = "cpu",
    mode: str = "whole",
    crop: int | None = None,
    amp_dtype: torch.dtype | None = None,
    progress: bool = False,
) -> dict:
    """Confusion matrix, mIoU and per-class IoU of ``model`` over ``loader`` (all ranks summed)."""
    from tqdm.auto import tqdm

    was_training = model.training
    model.eval()
    conf = torch.zeros(num_classes, num_classes, dtype=torch.int64, device=device)
    for batch in tqdm(loader, desc="eval", leave=False, disable=not progress):
        image, mask = batch["image"].to(device), batch["mask"].to(device)
        if mode == "center_crop" and crop:
            h, w = image.shape[-2:]
            y0, x0 = max((h - crop) // 2, 0), max((w - crop) // 2, 0)
            image, mask = image[..., y0 : y0 + crop, x0 : x0 + crop], mask[..., y0 : y0 + crop, x0 : x0 + crop]
        with torch.autocast(
            device_type=torch.device(device).type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None
        ):
            logits = predict_logits(model, image, num_classes, mode, crop)
        conf += confusion_matrix(logits.argmax(1), mask, num_classes)
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.all_reduce(conf)
    model.train(was_training)
    iou = iou_from_confusion(conf.cpu().numpy())
    return {
        "miou": float(np.nanmean(iou)),
        "per_class_iou": [None if np.isnan(v) else float(v) for v in iou],
        "confusion": conf.cpu().numpy().tolist(),
    }
