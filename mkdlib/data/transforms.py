"""Weak / strong augmentation (albumentations) and CutMix box masks.

weak   = random rescale (0.5-2.0) + pad + random crop + horizontal flip: teachers and labeled images.
strong = weak + ONE photometric op drawn at random (colour jitter, blur, grayscale, equalize,
         solarize), as in the paper and its released code: the students' unlabeled view.
CutMix (part of the paper's strong augmentation) mixes two unlabeled images in the batch; it
lives in :func:`cutmix_boxes` / :func:`mix` because it needs the batch, and because the same
mask must also mix the teachers' logits.
"""

from __future__ import annotations

import albumentations as A
import cv2
import numpy as np
import torch
from albumentations.pytorch import ToTensorV2

from .palette import IGNORE_INDEX

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def weak_augmentation(crop_size: int, scale_range: tuple[float, float] = (0.5, 2.0)) -> A.Compose:
    """Geometric augmentation; padding gets image 0 and mask 255 (ignored by every loss)."""
    lo, hi = scale_range
    return A.Compose(
        [
            A.RandomScale(scale_limit=(lo - 1.0, hi - 1.0), p=1.0),
            A.PadIfNeeded(crop_size, crop_size, border_mode=cv2.BORDER_CONSTANT, fill=0, fill_mask=IGNORE_INDEX),
            A.RandomCrop(crop_size, crop_size),
            A.HorizontalFlip(p=0.5),
        ]
    )


#: the release's probability for each photometric op once drawn (``photometric_probs: release``)
RELEASE_PHOTOMETRIC_P = {"color_jitter": 0.3, "blur": 0.5, "gray": 0.5, "equalize": 0.1, "solarize": 0.1}


def strong_photometric(crop_size: int, probs: str = "always") -> A.Compose:
    """ONE photometric op drawn at random per image, as the released code does (blur scaled to the
    crop). ``probs="always"``: the drawn op always applies; ``"release"``: it applies with the
    release's own probability for it (RELEASE_PHOTOMETRIC_P), so some images get none."""
    if probs not in ("always", "release"):
        raise ValueError(f"probs must be 'always' or 'release', got {probs!r}")
    blur_hi = 7 if crop_size >= 256 else 3
    ops = {
        "color_jitter": lambda p: A.ColorJitter(brightness=0.5, contrast=0.5, saturation=0.5, hue=0.25, p=p),
        "blur": lambda p: A.GaussianBlur(blur_limit=(3, blur_hi), p=p),
        "gray": lambda p: A.ToGray(p=p),
        "equalize": lambda p: A.Equalize(p=p),
        "solarize": lambda p: A.Solarize(threshold_range=(0.5, 0.5), p=p),
    }
    if probs == "always":
        choices = [make(1.0) for make in ops.values()]
    else:  # OneOf draws by weight p and forces its pick: draw uniformly, then the op's own p decides
        choices = [A.Sequential([make(RELEASE_PHOTOMETRIC_P[name])], p=1.0) for name, make in ops.items()]
    return A.Compose([A.OneOf(choices, p=1.0)])


def photometric_distortion() -> A.Compose:
    """The release's weak-view colour jitter (mmseg's PhotoMetricDistortion, which its labeled and
    teachers' pipelines apply and its strong view does not): brightness +-32, contrast 0.5-1.5,
    saturation 0.5-1.5 and hue +-18 (OpenCV units), each on with probability 0.5."""
    return A.Compose(
        [
            A.RandomBrightnessContrast(brightness_limit=32 / 255, contrast_limit=0.0, p=0.5),
            A.RandomBrightnessContrast(brightness_limit=0.0, contrast_limit=0.5, p=0.5),
            A.ColorJitter(brightness=0.0, contrast=0.0, saturation=0.5, hue=0.0, p=0.5),
            A.HueSaturationValue(hue_shift_limit=18, sat_shift_limit=0, val_shift_limit=0, p=0.5),
        ]
    )


def to_tensor() -> A.Compose:
    """ImageNet normalisation (what pretrained encoders expect) and HWC uint8 -> CHW float."""
    return A.Compose([A.Normalize(mean=IMAGENET_MEAN, std=IMAGENET_STD), ToTensorV2()])


def denormalize(image: torch.Tensor) -> np.ndarray:
    """(3, H, W) normalised tensor -> (H, W, 3) uint8, for display."""
    mean = torch.tensor(IMAGENET_MEAN, device=image.device).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=image.device).view(3, 1, 1)
    img = (image.float() * std + mean).clamp(0, 1).mul(255).byte()
    return img.permute(1, 2, 0).cpu().numpy()


def cutmix_boxes(
    batch: int,
    height: int,
    width: int,
    n_boxes: int = 3,
    area: tuple[float, float] = (0.25, 0.5),
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """(B, H, W) float masks, 1 inside random boxes (the released code: 3 boxes, each 25-50% of area).

    Where the mask is 1 the mixed image takes the *partner* image (the batch rolled by one).
    """
    mask = torch.zeros(batch, height, width)
    for b in range(batch):
        for _ in range(n_boxes):
            share = torch.empty(1).uniform_(*area, generator=generator).item()
            ratio = torch.empty(1).uniform_(0.3, 1 / 0.3, generator=generator).item()
            h = min(height, max(1, int(round((share * height * width / ratio) ** 0.5))))
            w = min(width, max(1, int(round((share * height * width * ratio) ** 0.5))))
            y = int(torch.randint(0, height - h + 1, (1,), generator=generator))
            x = int(torch.randint(0, width - w + 1, (1,), generator=generator))
            mask[b, y : y + h, x : x + w] = 1
    return mask.to(device)


def mix(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """CutMix x with its batch rolled by one: ``(1 - m) * x_i + m * x_{i+1}``.

    Works for images (B, C, H, W), logits/features (B, C, h, w; the mask is resized with nearest)
    and label maps (B, H, W).
    """
    partner = x.roll(1, dims=0)
    m = mask
    if m.shape[-2:] != x.shape[-2:]:
        m = torch.nn.functional.interpolate(m[:, None], size=x.shape[-2:], mode="nearest")[:, 0]
    if x.dim() == 4:
        m = m[:, None]
    m = m.to(x.dtype) if x.is_floating_point() else m.bool()
    if x.is_floating_point():
        return (1 - m) * x + m * partner
    return torch.where(m, partner, x)
