"""How far the built-in analogue is from the paper's regime, generated from the default config,
the committed encoder's provenance and the results store: the box on the book's first screen."""

from __future__ import annotations

import html
import json
import statistics
from pathlib import Path

from ..config import DEFAULT_CONFIG, base_config, committed_weights, provenance_path, resolve
from ..data.synthetic import SyntheticSpec
from .store import evaluation_curves


def late_change(root: str | Path | None = None, methods=("supervised", "mean_teacher", "cps_cutmix", "mkd")) -> dict:
    """Mean change of validation mIoU (points) over the last evaluation interval of the default
    config's stored 1/16 runs, per method: how far from converged the last evaluation is."""
    out = {}
    for m in methods:
        deltas = [100 * (ev[-1]["miou"] - ev[-2]["miou"]) for ev in evaluation_curves(m, root) if len(ev) >= 2]
        if deltas:
            out[m] = statistics.fmean(deltas)
    return out


def regime_caveats(root: str | Path | None = None) -> list[tuple[str, str]]:
    """(topic, text) pairs: what differs from the paper's regime, and what that leaves the numbers able to say."""
    cfg = resolve(base_config())
    spec = SyntheticSpec()
    prov_path = provenance_path(committed_weights(cfg.encoder))
    prov = json.loads(prov_path.read_text()) if prov_path.is_file() else {}
    source = prov.get("source_val_miou")
    n_labeled = round(spec.num_train / 16)
    late = late_change(root)
    late_text = (
        ", ".join(f"{m.replace('_', ' ')} {d:+.1f}" for m, d in late.items()) + " points"
        if late
        else "no stored run of the default config yet"
    )
    return [
        (
            "data",
            f"a generated dataset: {spec.num_train} training images (1/16: {n_labeled} labeled) and "
            f"{spec.num_val} validation images of {spec.size} px, 4 object classes; the paper: PASCAL VOC "
            "(512 px crops, 1,449 validation images, 21 classes) and Cityscapes.",
        ),
        (
            "encoder",
            f"{cfg.encoder} pretrained on a built-in source task with disjoint classes, the stand-in for "
            "ImageNet weights: "
            + (f"{100 * source:.0f} % source mIoU (the aim was 80 %)" if source is not None else "no provenance")
            + "; the paper: ImageNet ResNet-50 / 101.",
        ),
        (
            "optimisation",
            f"{cfg.optimizer} + {cfg.schedule} schedule, lr {cfg.lr:g}, {cfg.iters:,} iterations, "
            f"{cfg.batch_size} labeled + {cfg.unlabeled_batch_size} unlabeled images a step, 1 CPU thread; "
            "the paper: SGD + poly, lr 0.0025 (VOC), batch 16, about 30k iterations on GPUs.",
        ),
        (
            "convergence",
            f"change of mIoU over the last {cfg.eval_interval} iterations of the stored default runs: {late_text} "
            "(a positive change: still rising when training stops).",
        ),
        (
            "what the numbers can say",
            "the direction and size of each effect on this benchmark, as a mean of per-seed differences "
            "with a 95 % interval and the smallest effect the seeds could detect (the claims table); "
            "not the paper's absolute mIoU, and not whether MKD works on PASCAL VOC or Cityscapes.",
        ),
    ]


def caveats_html(root: str | Path | None = None) -> str:
    """The caveats as a theme-styled admonition (HTML, so it renders from a notebook output)."""
    items = "".join(f"<li><b>{html.escape(t)}</b>: {html.escape(x)}</li>" for t, x in regime_caveats(root))
    return (
        '<div class="admonition important"><p class="admonition-title">'
        "How far this analogue is from the paper (read before any number)</p>"
        f"<ul>{items}</ul><p>Config: <code>{html.escape(DEFAULT_CONFIG.name)}</code>; every number in this "
        "book is a built-in dataset number.</p></div>"
    )
