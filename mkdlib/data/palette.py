"""The PASCAL VOC colour palette and palette-PNG mask I/O (255 = ignore)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

IGNORE_INDEX = 255


def voc_palette(n: int = 256) -> np.ndarray:
    """VOC's bit-interleaved palette, (n, 3) uint8; index 255 is (224, 224, 192)."""
    pal = np.zeros((n, 3), np.uint8)
    for i in range(n):
        c, r, g, b = i, 0, 0, 0
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        pal[i] = (r, g, b)
    return pal


def save_mask(mask: np.ndarray, path: str | Path) -> None:
    img = Image.fromarray(mask.astype(np.uint8), mode="P")
    img.putpalette(voc_palette().reshape(-1).tolist())
    img.save(path, format="PNG")  # a path or an open file (atomic writes)


def colorize(mask: np.ndarray) -> np.ndarray:
    """(H, W) class ids to (H, W, 3) RGB with the VOC palette."""
    return voc_palette()[mask.astype(np.int64) % 256]


def overlay(image: np.ndarray, mask: np.ndarray, alpha: float = 0.55) -> np.ndarray:
    """Blend a class map (H, W) in palette colours over an RGB image (H, W, 3); background (0)
    stays the plain image so objects stand out."""
    if image.shape[:2] != mask.shape:
        raise ValueError(f"overlay: image {image.shape[:2]} and mask {mask.shape} differ in size")
    colour = colorize(mask).astype(np.float32)
    out = image.astype(np.float32)
    fg = (mask != 0)[..., None]
    out = np.where(fg, (1 - alpha) * out + alpha * colour, out)
    return out.clip(0, 255).astype(np.uint8)
