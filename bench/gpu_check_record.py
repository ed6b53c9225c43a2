"""The GPU check's record: its file names, the text summary beside the JSON, and the index of
records that the book shows (``gpu_checks.md``). Part of :mod:`bench.gpu_check`."""

from __future__ import annotations

import json
import re
from pathlib import Path

INDEX_NAME = "gpu_checks.md"
SCHEMA_VERSION = 1


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "device"


def record_stem(rec: dict) -> str:
    stamp = rec["created"].replace(":", "").replace("-", "")[:13]  # 20261126T2101
    dev = rec.get("environment", {}).get("device_name") or rec["plan"]["device"]
    return f"gpu_check-{'dry-run-' if rec['mode'] == 'dry-run' else ''}{stamp}-{_slug(dev)}"


def format_summary(rec: dict) -> str:
    """The short text summary written next to the JSON record."""
    env = rec.get("environment", {})
    fmt = lambda v, f="{:.3g}": "-" if v is None else f.format(v)  # noqa: E731
    lines = [
        f"GPU check ({rec['mode']}), {rec['created']}, commit {env.get('git_commit')}",
        f"device: {env.get('device_name')} ({env.get('device')}), driver {env.get('driver')}, "
        f"torch {env.get('torch')}, CUDA {env.get('cuda_runtime')}, cuDNN {env.get('cudnn')}, NCCL {env.get('nccl')}",
        f"bf16 peak {fmt(env.get('bf16_peak_tflops'), '{:.0f}')} TFLOP/s ({env.get('bf16_peak_source')}); "
        f"measured bf16 matmul {fmt(env.get('matmul_bf16_tflops'), '{:.0f}')} TFLOP/s",
        f"total {rec.get('wall_s', 0):.0f} s of a {rec['budget_s']:.0f} s budget; parts:",
    ]
    for name, p in rec["parts"].items():
        lines.append(
            f"  {name:18s} {p['status']:12s} {fmt(p.get('wall_s'), '{:.0f}')} s"
            + (f"  ({p['note']})" if p.get("note") else "")
            + (f"  ERROR {p['error']}" if p.get("error") else "")
        )
    t = rec.get("training")
    if t and "reference" in t:
        ref = t["reference"]
        lines.append(
            f"training: {t['config']['encoder']} @ {t['config']['crop_size']} px, "
            f"{t['config']['batch_size']}+{t['config']['unlabeled_batch_size']}, {t['backend']}, "
            f"{fmt(1 / ref['sec_per_iter'] if ref.get('sec_per_iter') else None)} it/s with 2 runs sharing "
            f"the device; reference: {ref.get('logged_iterations')} iterations, mIoU {fmt(ref.get('final_miou'))}"
        )
        if "finite" in t:
            lines.append(
                f"  finite losses: {t['finite']['ok']} ({t['finite']['loss_lines_checked']} logged lines, "
                f"{t['finite']['skipped_steps']} skipped steps)"
            )
        if "resume_check" in t:
            c = t["resume_check"]
            lines.append(
                f"  resume from iteration {t.get('resumed_from_iteration')}: {c['verdict']} "
                f"(weights max abs diff {fmt(c.get('weights_max_abs_diff'))}, {c.get('tensors_equal')}/"
                f"{c.get('tensors')} tensors equal; loss diff before kill "
                f"{fmt(c.get('loss_max_abs_diff_before_kill'))}, after resume "
                f"{fmt(c.get('loss_max_abs_diff_after_resume'))}; mIoU {fmt(c.get('final_miou_reference'))} "
                f"vs {fmt(c.get('final_miou_resumed'))})"
            )
    for part in ("step_cost", "step_cost_compile"):
        s = (rec.get(part) or {}).get("summary")
        if not s:
            continue
        lines.append(
            f"{part}: {s['config']['encoder']} @ {s['config']['crop_size']} px, "
            f"{s['config']['batch_size']}+{s['config']['unlabeled_batch_size']}, amp {s['config']['amp']}; "
            f"MKD/CPS {fmt(s['mkd_over_cps'])}"
        )
        for k, m in s["methods"].items():
            lines.append(
                f"  {k:22s} {m['step_ms']:9.1f} ms  {m['images_per_s']:8.1f} img/s  "
                f"{fmt(m['achieved_tflops'], '{:.1f}')} TFLOP/s ({fmt(m['fraction_of_bf16_peak'], '{:.1%}')} "
                f"of peak)  peak mem {fmt(m['peak_memory_gib'], '{:.2f}')} GiB"
            )
    for n in rec.get("notes", []):
        lines.append(f"note: {n}")
    lines.append(f"result: {'PASS' if rec.get('ok') else 'FAIL' if rec.get('failed') else 'INCOMPLETE'}")
    return "\n".join(lines)


def index_markdown(folder: Path) -> str:
    """``gpu_checks.md``: one row per GPU check record in ``folder`` (the book includes it)."""
    rows = []
    for path in sorted(folder.glob("gpu_check-*.json")):
        try:
            rec = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if rec.get("benchmark") != "gpu_check":
            continue
        env, t = rec.get("environment", {}), rec.get("training", {})
        eager = (rec.get("step_cost") or {}).get("summary", {}).get("methods", {}).get("mkd", {})
        comp = (rec.get("step_cost_compile") or {}).get("summary", {}).get("methods", {}).get("mkd+compile", {})
        fmt = lambda v, f="{:.3g}": "-" if v is None else f.format(v)  # noqa: E731
        rows.append(
            f"| {rec['created'][:10]} | {env.get('device_name', '-')} | {env.get('torch', '-')} / "
            f"{env.get('cuda_runtime') or '-'} | {rec['mode']} | "
            f"{'yes' if t.get('finite', {}).get('ok') else 'no' if 'finite' in t else '-'} | "
            f"{t.get('resume_check', {}).get('verdict', '-')} | {fmt(eager.get('step_ms'), '{:.0f}')} / "
            f"{fmt(comp.get('step_ms'), '{:.0f}')} | {fmt(eager.get('achieved_tflops'), '{:.0f}')} "
            f"({fmt(eager.get('fraction_of_bf16_peak'), '{:.0%}')}) | "
            f"{fmt((rec.get('step_cost') or {}).get('summary', {}).get('mkd_over_cps'), '{:.2f}')} | "
            f"{fmt(eager.get('peak_memory_gib'), '{:.1f}')} | {'PASS' if rec.get('ok') else 'not passed'} | "
            f"`{path.name}` |"
        )
    if not rows:
        return (
            "**No GPU check record exists yet**: no GPU has been lent to this project so far, so NCCL, "
            "SyncBatchNorm, bf16 autocast, channels_last and torch.compile have never run. "
            "`bash bench/gpu_check.sh` on one GPU (<= 8 minutes) writes the first record to "
            "`bench/results/`.\n"
        )
    head = (
        "| date | device | torch / CUDA | mode | finite losses | resume | MKD step ms, eager / compiled | "
        "MKD TFLOP/s (of bf16 peak) | MKD/CPS | MKD peak GiB | result | record |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|\n"
    )
    return head + "\n".join(rows) + "\n"


def write_index(folder: Path) -> Path:
    from mkdlib.io import atomic_write_text

    path = folder / INDEX_NAME
    atomic_write_text(
        path, "<!-- written by `python -m bench.gpu_check` (--reindex); do not edit -->\n" + index_markdown(folder)
    )
    return path
