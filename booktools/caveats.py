"""The intro's first box (the book's, so it lives with the book): how far the built-in analogue is
from the paper's regime, generated from the default config, the committed encoder's provenance and
the results store."""

from __future__ import annotations

import html
import json
import statistics
from pathlib import Path

from mkdlib.config import DEFAULT_CONFIG, base_config, committed_weights, provenance_path, resolve
from mkdlib.data.synthetic import SyntheticSpec
from mkdlib.report.evidence.store import evaluation_curves


def late_change(root: str | Path | None = None, methods=("supervised", "mean_teacher", "cps_cutmix", "mkd")) -> dict:
    """Mean change of validation mIoU (points) over the last evaluation interval of the default
    config's stored 1/16 runs, per method: how far from converged the last evaluation is."""
    out = {}
    for m in methods:
        deltas = [100 * (ev[-1]["miou"] - ev[-2]["miou"]) for ev in evaluation_curves(m, root) if len(ev) >= 2]
        if deltas:
            out[m] = statistics.fmean(deltas)
    return out


def regime_caveats(root: str | Path | None = None) -> list[tuple[str, str, str]]:
    """(topic, here, the paper) triples: what differs from the paper's regime, and what that leaves
    the numbers able to say (``the paper`` empty where the topic is ours alone)."""
    from mkdlib.registry import METHOD_INFO

    cfg = resolve(base_config())
    spec = SyntheticSpec()
    prov_path = provenance_path(committed_weights(cfg.encoder))
    prov = json.loads(prov_path.read_text()) if prov_path.is_file() else {}
    source = prov.get("source_val_miou")
    n_labeled = round(spec.num_train / 16)
    late = late_change(root)
    late_text = (
        ", ".join(f"{METHOD_INFO[m].label if m in METHOD_INFO else m} {d:+.1f}" for m, d in late.items()) + " points"
        if late
        else "no stored run of the default config yet"
    )
    return [
        (
            "data",
            f"generated: {spec.num_train} training images ({n_labeled} labeled at 1/16), {spec.num_val} validation "
            f"images, {spec.size} px, 4 classes",
            "PASCAL VOC (512 px crops, 1,449 validation images, 21 classes), Cityscapes",
        ),
        (
            "encoder",
            f"{cfg.encoder} pretrained on a built-in task with other classes: "
            + (f"{100 * source:.0f} % mIoU there (the aim was 80 %)" if source is not None else "no provenance"),
            "ImageNet ResNet-50 / 101",
        ),
        (
            "training",
            f"{DEFAULT_CONFIG.name}: {cfg.optimizer} + {cfg.schedule}, lr {cfg.lr:g}, {cfg.iters:,} iterations, batch "
            f"{cfg.batch_size} labeled + {cfg.unlabeled_batch_size} unlabeled, 1 CPU thread",
            "SGD + poly, lr 0.0025 (VOC), batch 16, about 30k iterations",
        ),
        (
            "convergence",
            f"mIoU change over the last {cfg.eval_interval} iterations (stored default runs): {late_text} "
            "(positive: still rising at the end)",
            "",
        ),
        ("departures", departures_text(root), "Algorithm 1 (the release where it is silent)"),
        (
            "what it can say",
            "the direction and size of each effect on this benchmark (per-seed differences, 95 % interval, the "
            "smallest effect the seeds could detect: the claims table); not the paper's absolute mIoU, nor whether "
            "MKD works on PASCAL VOC or Cityscapes",
            "",
        ),
    ]


def departures_text(root: str | Path | None = None) -> str:
    """``mkd``'s departures from its sources, counted from the generated table (booktools.departures)."""
    from booktools.departures import departures_sentence

    text = departures_sentence(root).replace("`", "").replace(" from Algorithm 1 (the release where it is silent)", "")
    return text.rstrip(".") + "; each with its screen on the paper-vs-code page."


def caveats_html(root: str | Path | None = None) -> str:
    """The caveats as a theme-styled admonition (HTML, so it renders from a notebook output): a
    compact table, ours beside the paper's regime, so that the box, the verdict and the claims
    table fit the intro's first two screens (1,280 x 900 px)."""
    cell = "padding:1px 6px;vertical-align:top;border:none;white-space:normal;"
    rows = []
    for topic, here, theirs in regime_caveats(root):  # every "here" is a built-in dataset fact
        head = f'<th style="{cell}text-align:left;min-width:0;width:6.5em;">{html.escape(topic)}</th>'
        if theirs:
            body = f'<td style="{cell}">{html.escape(here)}</td><td style="{cell}">{html.escape(theirs)}</td>'
        else:
            body = f'<td style="{cell}" colspan="2">{html.escape(here)}</td>'
        rows.append(f"<tr>{head}{body}</tr>")
    top = f'<th style="{cell}"></th>' + "".join(
        f'<th style="{cell}text-align:left;min-width:0;">{t}</th>' for t in ("here (built-in analogue)", "the paper")
    )
    return (
        '<div class="admonition important" data-mkd-within-screens="2"><p class="admonition-title">'
        "How far this analogue is from the paper (read before any number)</p>"
        f'<table class="mkd-caveats" style="font-size:0.82em;line-height:1.25;margin:0;width:100%;">'
        f"<thead><tr>{top}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
    )
