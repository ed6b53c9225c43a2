"""The results store: one folder per finished run, keyed by its resolved config.

``results/<key>/`` holds ``result.json`` (config, final and best mIoU, per-class IoU, wall time,
environment), ``metrics.jsonl`` (loss and mIoU curves), ``config.yaml`` and ``predictions.npz``
(validation predictions of a sample of images, for the qualitative figures). Plain files, written
atomically, one folder per run: two runs writing at once never touch the same file, so no lock
is needed. Tables and figures read the store and never retrain.
"""

from __future__ import annotations

import json
import math
import shutil
import statistics
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from .io import _atomic, atomic_write_json, work_dir
from .registry import METHOD_INFO, with_legacy_settings


def results_dir() -> Path:
    """``$MKD_RESULTS_DIR``, else ``results/`` in the current folder (the book's store, the
    repository's ``results/``, is named by the book: ``book/_config.yml``)."""
    return work_dir("MKD_RESULTS_DIR", "results")


def publish(
    run_dir: str | Path, predictions: dict[str, np.ndarray] | None = None, root: str | Path | None = None
) -> Path:
    """Copy a finished run's small files (no checkpoints) into the store; returns its folder."""
    run_dir = Path(run_dir)
    result = json.loads((run_dir / "result.json").read_text())
    dest = Path(root or results_dir()) / result["key"]
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("metrics.jsonl", "config.yaml", "env.json"):
        if (run_dir / name).exists():
            _atomic(dest / name, lambda f, n=name: f.write((run_dir / n).read_bytes()))
    if predictions:
        _atomic(dest / "predictions.npz", lambda f: np.savez_compressed(f, **predictions))
    atomic_write_json(dest / "result.json", result)  # last: its presence marks a complete entry
    return dest


def is_done(key: str, root: str | Path | None = None) -> bool:
    return (Path(root or results_dir()) / key / "result.json").is_file()


def load_result(key: str, root: str | Path | None = None) -> dict:
    """A stored result; its config carries every setting added since at the value it was trained with."""
    result = json.loads((Path(root or results_dir()) / key / "result.json").read_text())
    result["config"] = with_legacy_settings(result["config"])
    return result


def load_curves(key: str, root: str | Path | None = None) -> list[dict]:
    from .io import read_jsonl

    return read_jsonl(Path(root or results_dir()) / key / "metrics.jsonl")


def load_predictions(key: str, root: str | Path | None = None) -> dict[str, np.ndarray]:
    with np.load(Path(root or results_dir()) / key / "predictions.npz") as z:
        return {k: z[k] for k in z.files}


def cpu_seconds_per_iter(root: str | Path | None = None, stored: Iterable[dict] | None = None) -> dict[str, float]:
    """Median CPU-seconds per iteration of the stored CPU runs, by method (wall time per iteration
    times torch threads): the one rate the work left is sized with (``experiments --list``, the
    book's experiment index). ``stored``: the results already read (the book's store snapshot),
    else they are read from ``root``."""
    if stored is None:
        stored = (json.loads(p.read_text()) for p in Path(root or results_dir()).glob("*/result.json"))
    by_method: dict[str, list[float]] = {}
    for result in stored:
        env = result.get("env", {})
        if env.get("device", "cpu") == "cpu":
            cost = result["wall_time_s"] / result["config"]["iters"] * env.get("torch_threads", 1)
            by_method.setdefault(result["config"]["method"], []).append(cost)
    return {m: statistics.median(v) for m, v in by_method.items()}


def estimate_cpu_seconds(method: str, iters: int, rates: dict[str, float]) -> float:
    """CPU-seconds of a run: its method's stored rate, else the stored methods' median rate per
    unit of METHOD_INFO's relative step cost, scaled by its own (NaN when nothing is stored)."""
    if method in rates:
        return iters * rates[method]
    units = [rates[m] / METHOD_INFO[m].step_cost for m in rates if m in METHOD_INFO]
    return iters * statistics.median(units) * METHOD_INFO[method].step_cost if units else math.nan


def load_results(root: str | Path | None = None):
    """All finished runs as a pandas DataFrame: one row per run, config fields as columns."""
    import pandas as pd

    rows = []
    for path in sorted(Path(root or results_dir()).glob("*/result.json")):
        r = json.loads(path.read_text())
        r["config"] = with_legacy_settings(r["config"])
        rows.append(
            {
                **r["config"],
                "key": r["key"],
                "miou": r["final"]["miou"],
                "best_miou": r["best_miou"],
                "wall_time_s": r["wall_time_s"],
                "sec_per_iter": r.get("sec_per_iter"),
                "per_class_iou": r["final"].get("per_class_iou"),
            }
        )
    return pd.DataFrame(rows)


def remove(key: str, root: str | Path | None = None) -> None:
    shutil.rmtree(Path(root or results_dir()) / key, ignore_errors=True)


def tidy_runs(root: str | Path | None = None):
    """Every stored run as a tidy table: one row per (run, evaluation), with the run's key, its
    config fields, the iteration, the validation mIoU there and whether it is the final one."""
    import pandas as pd

    root = Path(root or results_dir())
    rows = []
    for path in sorted(root.glob("*/result.json")):
        r = load_result(path.parent.name, root)
        cfg = r["config"]
        has_curves = (path.parent / "metrics.jsonl").is_file()
        evals = [e for e in load_curves(r["key"], root) if "miou" in e] if has_curves else []
        final = {"iter": cfg.get("iters"), "miou": r["final"]["miou"]}
        for e in evals or [final]:
            rows.append(
                {
                    "key": r["key"],
                    **{k: (str(v) if isinstance(v, list) else v) for k, v in cfg.items()},
                    "iteration": e["iter"],
                    "miou": e["miou"],
                    "final": e["iter"] == final["iter"],
                }
            )
    return pd.DataFrame(rows)
