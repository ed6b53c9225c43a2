"""Masks for new images from a trained run: ``python -m mkdlib predict CHECKPOINT IMAGES --out DIR``.

For each image, :func:`predict_folder` writes ``<stem>_mask.png`` (a palette PNG of class ids at
the image's own size, the format of VOC's masks) and ``<stem>_overlay.png`` (the classes in palette
colours over the image, background left plain), and one ``index.html`` contact sheet beside them
(relative links: image, overlay and mask side by side, the class legend with its colours).

The class names come from the checkpoint (training stores them), or, for checkpoints without
them, from the dataset the config names. Images larger than ``max_whole_side`` (or every image,
when the run was evaluated with ``eval_mode: sliding``) go through the sliding window of
:mod:`mkdlib.evaluate`; the others are predicted whole. An image that cannot be read is reported
by name and skipped; the result (and the command's exit status) says some failed.
"""

from __future__ import annotations

import glob
import html
import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import numpy as np
import torch
from PIL import Image
from torch import nn

from .checkpoint import TrainingError, load_checkpoint
from .config import Config
from .data.datasets import DatasetError, read_image
from .data.palette import IGNORE_INDEX, overlay, save_mask, voc_palette
from .data.registry import dataset_info
from .data.transforms import to_tensor
from .evaluate import predict_logits
from .io import _atomic, atomic_write_json
from .runs import method_from_checkpoint

MODELS = ("student1", "student2", "teacher1", "teacher2")
#: the list of files predict wrote into an output folder: only those may be overwritten, and none is read as input
MANIFEST = ".mkdlib-predict.json"
#: files an output folder may hold besides predict's own (the desktop's, not the user's)
_SYSTEM_FILES = {".ds_store", "thumbs.db", "desktop.ini", ".write-test", MANIFEST.lower()}
#: file suffixes taken from a folder of images (a glob or a file name is taken as given)
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
CHECKPOINT_HELP = "expected a run folder of `python -m mkdlib train` (holding best.pt or last.pt) or a .pt file"


class PredictError(ValueError):
    """Prediction cannot start (no such checkpoint, model or images); the message says what was expected."""


@dataclass(frozen=True)
class Prediction:
    """One image's outputs: the files written and what the mask holds."""

    image: Path
    mask: Path
    overlay: Path
    size: tuple[int, int]  # (width, height), the image's and the mask's
    sliding: bool  # predicted through the sliding window
    class_shares: dict[int, float]  # class id -> share of the image's pixels


@dataclass
class PredictResult:
    """What :func:`predict_folder` wrote, and the images it had to skip with the reason."""

    out_dir: Path
    index: Path
    model: str
    class_names: tuple[str, ...]
    predictions: list[Prediction] = field(default_factory=list)
    failures: list[tuple[Path, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every image was predicted."""
        return not self.failures

    @property
    def written(self) -> list[Path]:
        """Every file written: each mask and overlay, then ``index.html``."""
        return [p for pred in self.predictions for p in (pred.mask, pred.overlay)] + [self.index]


# --------------------------------------------------------------------------- inputs
def own_outputs(folder: Path) -> set[str]:
    """Names of the files predict wrote into ``folder`` (its manifest; empty without one)."""
    try:
        written = json.loads((folder / MANIFEST).read_text(encoding="utf-8")).get("written", [])
    except (OSError, ValueError, AttributeError):
        return set()
    return {n for n in written if isinstance(n, str)}


def find_images(images: str | Path | Sequence[str | Path]) -> list[Path]:
    """Image files from a folder (its JPEG/PNG/... files, not recursive), a glob, a file, or a list of these."""
    items = [images] if isinstance(images, (str, Path)) else list(images)
    if not items:
        raise PredictError("no images given; expected a folder, an image file or a glob like 'photos/*.jpg'")
    found: list[Path] = []
    for item in items:
        text = os.path.expanduser(str(item))
        path = Path(text)
        if path.is_dir():
            files = sorted(
                p
                for p in path.iterdir()
                if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")
            )
            if not files:
                raise PredictError(
                    f"folder {path} holds no images; expected files ending in {', '.join(IMAGE_SUFFIXES)}"
                )
        elif path.is_file():
            files = [path]
        elif any(c in text for c in "*?["):
            files = sorted(Path(p) for p in glob.glob(text, recursive=True) if Path(p).is_file())
            if not files:
                raise PredictError(f"{text!r} matches no file; expected a glob like 'photos/*.jpg'")
        else:
            raise PredictError(f"{path} does not exist; expected a folder of images, an image file or a glob")
        owned = {d: own_outputs(d) for d in {f.parent for f in files}}
        own = {f for f in files if f.name in owned[f.parent]}  # its masks and overlays are never inputs
        if own and len(own) == len(files):
            raise PredictError(
                f"{text!r} holds only predict's own outputs ({len(own)} masks, overlays); expected the images to predict"
            )
        found.extend(f for f in files if f not in found and f not in own)
    return found


def checkpoint_path(checkpoint: str | Path, which: str = "best") -> Path:
    """The ``.pt`` file of a run folder (``which``, else the other of best/last) or the file itself."""
    path = Path(checkpoint).expanduser()
    if path.is_file():
        return path
    if not path.exists():
        raise PredictError(f"checkpoint {path} does not exist; {CHECKPOINT_HELP}")
    for name in dict.fromkeys((which, "best", "last")):
        if (path / f"{name}.pt").is_file():
            return path / f"{name}.pt"
    raise PredictError(f"{path} holds no best.pt or last.pt; {CHECKPOINT_HELP}")


def class_names_for(cfg: Config, num_classes: int, stored: Sequence[str] | None = None) -> tuple[str, ...]:
    """The names of the classes: stored in the checkpoint, else the dataset's, else ``class <k>``."""
    names: Sequence[str] | None = stored
    if not names or len(names) != num_classes:
        names = None
        try:
            names = dataset_info(cfg.dataset).class_names(cfg)
        except (ImportError, DatasetError, OSError):
            names = None
    if not names or len(names) != num_classes:
        names = [f"class {i}" for i in range(num_classes)]
    return tuple(names)


def load_predictor(
    checkpoint: str | Path, model: str | None = None, which: str = "best"
) -> tuple[nn.Module, Config, tuple[str, ...], str, Path]:
    """``(network, config, class names, model name, checkpoint file)`` of a trained run.

    ``model``: student1 / student2 / teacher1 / teacher2 (None: the network the run evaluated,
    ``eval_model``); a clear PredictError when the checkpoint's method has no such network.
    """
    if model is not None and model not in MODELS:
        raise PredictError(f"model {model!r} is not one of {', '.join(MODELS)}")
    path = checkpoint_path(checkpoint, which)
    try:
        method, cfg = method_from_checkpoint(load_checkpoint(path, hint=CHECKPOINT_HELP), path)
    except TrainingError as e:
        raise PredictError(str(e)) from None
    model = model or cfg.eval_model
    nets = {f"student{i + 1}": s for i, s in enumerate(method.students)}
    nets.update({f"teacher{i + 1}": t.module for i, t in enumerate(method.teachers)})
    if model not in nets:
        raise PredictError(f"checkpoint {path} (method {cfg.method}) has no {model}; it has {', '.join(nets)}")
    names = class_names_for(cfg, method.num_classes, method.class_names)
    return nets[model].eval(), cfg, names, model, path


# --------------------------------------------------------------------------- predicting
def _window(cfg: Config, window: int | None) -> int:
    size = window or cfg.eval_crop or max(cfg.crop_size, 512)
    return -(-int(size) // 32) * 32  # the network needs multiples of its stride


@torch.no_grad()
def predict_mask(
    net: nn.Module,
    image: np.ndarray,
    num_classes: int,
    sliding: bool = False,
    window: int = 512,
    device: torch.device | str = "cpu",
) -> np.ndarray:
    """(H, W) uint8 class ids for an (H, W, 3) uint8 RGB image, at the image's own size."""
    x = to_tensor()(image=image)["image"][None].to(device)
    logits = predict_logits(net, x, num_classes, "sliding" if sliding else "whole", window)
    return logits[0].argmax(0).to(torch.uint8).cpu().numpy()


def _unique_names(paths: list[Path]) -> list[str]:
    """Output stems: the image's stem, made unique (``a.jpg`` and ``a.png`` -> ``a``, ``a_png``)."""
    used: set[str] = set()
    out = []
    for p in paths:
        name = p.stem
        if name in used:
            name = f"{p.stem}_{p.suffix.lstrip('.').lower()}"
        k = 2
        base = name
        while name in used:
            name, k = f"{base}_{k}", k + 1
        used.add(name)
        out.append(name)
    return out


def predict_folder(
    checkpoint: str | Path,
    images: str | Path | Sequence[str | Path],
    out_dir: str | Path,
    model: str | None = None,
    which: str = "best",
    mode: str = "auto",
    window: int | None = None,
    max_whole_side: int = 1024,
    device: str = "auto",
    progress: bool = True,
) -> PredictResult:
    """Predict every image of ``images`` with a trained checkpoint; write masks, overlays and ``index.html``.

    ``checkpoint``: a run folder (its ``best.pt``, else ``last.pt``; ``which`` picks) or a ``.pt`` file.
    ``images``: a folder, an image file, a glob (``"photos/*.jpg"``) or a list of these.
    ``model``: student1 (default where the run evaluated it), student2, teacher1, teacher2.
    ``mode``: ``auto`` (sliding window for images whose longer side exceeds ``max_whole_side``,
    or for runs evaluated with ``eval_mode: sliding``), ``whole`` or ``sliding``; ``window``: the
    sliding window's side (default: the run's ``eval_crop``, else max(crop_size, 512)).
    Unreadable images are skipped and listed in ``PredictResult.failures``.
    """
    from tqdm.auto import tqdm

    if mode not in ("auto", "whole", "sliding"):
        raise PredictError(f"mode {mode!r} is not one of auto, whole, sliding")
    files = find_images(images)
    net, cfg, names, model, ckpt = load_predictor(checkpoint, model, which)
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    net = net.to(device)
    out = Path(out_dir).expanduser()
    check_out_dir(out)
    jobs = list(zip(files, _unique_names(files)))
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write-test"
        probe.write_bytes(b"")
        probe.unlink()
        # the names it will write, before writing them: a run stopped half-way still owns its files
        planned = [f"{name}{kind}" for _, name in jobs for kind in ("_mask.png", "_overlay.png")]
        atomic_write_json(out / MANIFEST, {"written": sorted(own_outputs(out) | {*planned, "index.html"})})
    except OSError as e:
        raise PredictError(
            f"output folder {out} cannot be written ({e.strerror or e}); pass --out <a writable folder>"
        ) from None
    side = _window(cfg, window)
    result = PredictResult(out, out / "index.html", model, names)
    for path, name in tqdm(jobs, desc="predict", disable=not progress):
        try:
            image = read_image(path)
        except Exception as e:  # DatasetError, or e.g. PIL's DecompressionBombError for a gigapixel file
            reason = str(e) if isinstance(e, DatasetError) else f"image {path} cannot be read ({e})"
            result.failures.append((path, reason.replace(str(path), path.name)))
            continue
        h, w = image.shape[:2]
        sliding = mode == "sliding" or (mode == "auto" and (cfg.eval_mode == "sliding" or max(h, w) > max_whole_side))
        try:
            mask = predict_mask(net, image, len(names), sliding, side, device)
        except RuntimeError as e:  # e.g. out of memory on one huge image: say so, go on with the rest
            result.failures.append(
                (path, f"image {path.name} ({w}x{h}) could not be predicted: {str(e).splitlines()[0]}")
            )
            continue
        mask_path, overlay_path = out / f"{name}_mask.png", out / f"{name}_overlay.png"
        _write(mask_path, lambda f: save_mask(mask, f))  # atomic: a full disk or a kill leaves no torn file
        _write(overlay_path, lambda f: Image.fromarray(overlay(image, mask)).save(f, format="PNG"))
        ids, counts = np.unique(mask, return_counts=True)
        result.predictions.append(
            Prediction(
                path,
                mask_path,
                overlay_path,
                (w, h),
                sliding,
                {int(i): float(c) / mask.size for i, c in zip(ids, counts)},
            )
        )
    write_index(result, f"{ckpt.parent.name}/{ckpt.name}", cfg)
    return result


def check_out_dir(out: Path) -> None:
    """An output folder must be new, empty, or hold only what predict wrote there before: nothing of
    the user's (``photo_mask.png`` beside ``photo.jpg``) is ever overwritten."""
    if not out.exists():
        return
    if not out.is_dir():
        raise PredictError(f"--out {out} is a file; expected a folder for the masks, overlays and index.html")
    own = own_outputs(out)
    try:
        names = [p.name for p in out.iterdir()]
        for name in list(names):  # temporary files of a predict killed mid-write (SIGKILL): its own, removed
            m = re.fullmatch(r"\.(.+)\.[^.]+\.tmp", name)
            if m and (m[1] in own or m[1] == MANIFEST):
                (out / name).unlink(missing_ok=True)
                names.remove(name)
        foreign = sorted(n for n in names if n not in own and n.lower() not in _SYSTEM_FILES)
    except OSError as e:
        raise PredictError(
            f"output folder {out} cannot be read ({e.strerror or e}); pass --out <a new folder>"
        ) from None
    if foreign:
        raise PredictError(
            f"output folder {out} holds {len(foreign)} file(s) predict did not write (e.g. {', '.join(foreign[:3])}); "
            "so that none of yours is overwritten, pass --out <a new or empty folder> (it may be the same folder "
            "again on later calls)"
        )


def _write(path: Path, write) -> None:
    """``write(file)`` atomically into ``path``; an OSError (disk full, permissions) is one line naming it."""
    try:
        _atomic(path, write)
    except OSError as e:
        raise PredictError(
            f"could not write {path}: {e.strerror or e}; nothing is half-written (the files before it are complete). "
            "Free some space or pass --out <another folder>, and run the same command again"
        ) from None


# --------------------------------------------------------------------------- the contact sheet
def _link(target: Path, base: Path) -> str:
    try:
        rel = Path(os.path.relpath(Path(target).resolve(), base.resolve())).as_posix()
    except ValueError:  # another drive (Windows): no relative path exists
        return Path(target).resolve().as_uri()
    return quote(rel)


def _hex(rgb) -> str:
    return "#{:02x}{:02x}{:02x}".format(*(int(v) for v in rgb))


def write_index(result: PredictResult, checkpoint_name: str, cfg: Config) -> Path:
    """``index.html`` in ``result.out_dir``: legend, then image | overlay | mask per image, then failures."""
    pal, base, e = voc_palette(), result.out_dir, html.escape
    legend = "".join(
        f'<li><span class="sw" style="background:{_hex(pal[i])}"></span>{i}: {e(n)}</li>'
        for i, n in enumerate(result.class_names)
    )
    rows = []
    for p in result.predictions:
        shares = ", ".join(
            f"{e(result.class_names[c]) if c < len(result.class_names) else c} {100 * s:.0f}%"
            for c, s in sorted(p.class_shares.items(), key=lambda t: -t[1])
            if c != IGNORE_INDEX
        )
        cells = [
            (_link(p.image, base), e(p.image.name)),
            (_link(p.overlay, base), e(p.overlay.name)),
            (_link(p.mask, base), e(p.mask.name)),
        ]
        tds = "".join(
            f'<td><a href="{href}"><img src="{href}" alt="{label}"></a><br>{label}</td>' for href, label in cells
        )
        how = "sliding window" if p.sliding else "whole image"
        rows.append(f"<tr>{tds}<td>{p.size[0]}&times;{p.size[1]}, {how}<br>{shares}</td></tr>")
    failed = "".join(f"<li>{e(path.name)}: {e(reason)}</li>" for path, reason in result.failures)
    text = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Predictions: {len(result.predictions)} images</title>
<style>
body {{ font-family: sans-serif; margin: 1.5em; }}
table {{ border-collapse: collapse; }}
td, th {{ border: 1px solid #ccc; padding: 4px; vertical-align: top; font-size: small; }}
td img {{ max-width: 256px; max-height: 256px; min-width: 96px; image-rendering: pixelated; }}
.legend {{ list-style: none; padding: 0; display: flex; flex-wrap: wrap; gap: 0.4em 1.2em; }}
.sw {{ display: inline-block; width: 1em; height: 1em; border: 1px solid #333; margin-right: 0.3em;
       vertical-align: middle; }}
</style></head><body>
<h1>Predictions</h1>
<p>{len(result.predictions)} image(s) predicted by {e(result.model)} of {e(checkpoint_name)}
(method {e(cfg.method)}, trained on {e(cfg.dataset)}){f", {len(result.failures)} skipped" if result.failures else ""}.
Masks are palette PNGs of class ids at each image's size; overlays leave class 0 plain.</p>
<h2>Classes</h2><ul class="legend">{legend}</ul>
<table><tr><th>image</th><th>overlay</th><th>mask</th><th>size, classes predicted</th></tr>
{chr(10).join(rows)}
</table>
{f"<h2>Skipped</h2><ul>{failed}</ul>" if failed else ""}
</body></html>
"""
    _write(result.index, lambda f: f.write(text.encode("utf-8")))
    return result.index
