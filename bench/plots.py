"""The cost-breakdown figure, drawn from a ``bench.step_cost`` JSON record (for the book)."""

from __future__ import annotations

import json
from pathlib import Path

PART_LABELS = {
    "student_forward_backward": "students: forward + backward",
    "teacher_forward": "teachers: forward",
    "optimizer_step": "optimiser step",
    "ema_update": "EMA update",
    "feature_statistics": "feature statistics",
    "feature_augmentation": "feature augmentation",
    "pseudo_labels": "pseudo labels",
    "cutmix": "CutMix",
}
from mkdlib.registry import METHOD_INFO  # noqa: E402
from mkdlib.report.figures.palette import METHOD_COLOURS, OTHER_COLOURS  # noqa: E402

METHOD_LABELS = {m: info.label if m != "supervised" else "supervised" for m, info in METHOD_INFO.items()}


RESULTS_DIR = Path(__file__).resolve().parent / "results"


def latest_record(folder: str | Path = RESULTS_DIR) -> Path:
    """The newest full (not --tiny) step_cost record in ``folder``."""
    found = sorted(p for p in Path(folder).glob("step_cost-*.json") if not p.name.startswith("step_cost-tiny"))
    if not found:
        raise FileNotFoundError(f"no step_cost records in {folder}; run `python -m bench.step_cost` first")
    return max(found, key=lambda p: json.loads(p.read_text()).get("created", ""))


def load_record(record: dict | str | Path | None = None) -> dict:
    """A record as a dict, from a dict, a JSON path, or (None) the newest one in bench/results."""
    if record is None:
        record = latest_record()
    if isinstance(record, dict):
        return record
    path = Path(record)
    if not path.is_file():
        raise FileNotFoundError(f"bench record {path} does not exist; run `python -m bench.step_cost` first")
    rec = json.loads(path.read_text())
    if rec.get("benchmark") != "step_cost":
        raise ValueError(f"{path} is not a bench.step_cost record (benchmark={rec.get('benchmark')!r})")
    return rec


def plot_cost_breakdown(record: dict | str | Path | None = None, clock: str = "cpu", ax=None, target: float = 1.25):
    """Step time per method (bars) with MKD's bar split into its parts; a line at ``target`` x CPS.

    ``record``: a record, its path, or None for the newest in bench/results.
    ``clock``: "cpu" (process CPU time: steadier on a shared machine) or "wall". The part of MKD's
    step not covered by the timed parts is drawn as "other (losses, glue)". Returns the Figure.
    """
    import matplotlib.pyplot as plt

    rec = load_record(record)
    if clock not in ("cpu", "wall"):
        raise ValueError(f"clock must be 'cpu' or 'wall', got {clock!r}")
    field = "cpu_median_s" if clock == "cpu" else "median_s"
    methods = [m for m in METHOD_LABELS if m in rec["methods"]]
    if not methods:
        raise ValueError("the record has no timed methods")
    if ax is None:
        fig, ax = plt.subplots(figsize=(6.6, 4.4))
    else:
        fig = ax.figure
    ms = {m: rec["methods"][m][field] * 1e3 for m in methods}
    # the book's palette: a whole step in its method's colour, MKD's parts in colours no method has
    colors = list(OTHER_COLOURS)
    for i, m in enumerate(methods):
        if m == "mkd" and "parts" in rec:
            bottom = 0.0
            for j, (part, label) in enumerate(PART_LABELS.items()):
                if part not in rec["parts"]:
                    continue
                v = rec["parts"][part][field] * 1e3
                ax.bar(i, v, bottom=bottom, color=colors[j % len(colors)], label=label, width=0.6)
                bottom += v
            rest = ms[m] - bottom
            ax.bar(i, max(rest, 0.0), bottom=bottom, color="0.85", hatch="//", label="other (losses, glue)", width=0.6)
        else:
            ax.bar(i, ms[m], color=METHOD_COLOURS[m], width=0.6, label=f"{METHOD_LABELS[m]}: whole step")
        ax.text(i, ms[m], f"{ms[m]:.0f} ms", ha="center", va="bottom", fontsize=9)
    if "cps" in ms:
        ax.axhline(target * ms["cps"], color="k", ls="--", lw=1)
        ax.text(len(methods) - 0.5, target * ms["cps"], f"{target:g} x CPS", va="bottom", ha="right", fontsize=9)
    ax.set_xticks(range(len(methods)), [METHOD_LABELS[m] for m in methods])
    ax.set_ylabel(f"one training step, {'CPU' if clock == 'cpu' else 'wall'} ms (median)")
    mach = rec["machine"]
    cfg = rec["config"]
    ax.set_title(
        f"{cfg['encoder']} @ {cfg['crop_size']} px, batch {cfg['batch_size']}+{cfg['unlabeled_batch_size']}; "
        f"{mach['device_name']}, {mach['torch_threads']} thread(s)",
        fontsize=9,
    )
    ax.legend(fontsize=9, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=2, frameon=False)
    ax.set_ylim(0, max([*ms.values(), target * ms.get("cps", 0.0)]) * 1.12)
    fig.tight_layout()
    return fig
