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
import warnings
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


class StoreError(ValueError):
    """A file in the results store that is not a stored result (torn, edited, foreign); names it."""


#: what every stored result.json holds (mkdlib.trainer writes them)
RESULT_FIELDS = ("key", "config", "final", "best_miou", "wall_time_s")


def read_result(path: str | Path) -> dict:
    """A ``result.json`` as stored (its config as written); StoreError naming the file when it is
    not one (FileNotFoundError passes: the entry was removed)."""
    path = Path(path)
    try:
        r = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise StoreError(f"{path} cannot be read ({e}); expected the result.json of a finished run") from None
    missing = [k for k in RESULT_FIELDS if k not in r] if isinstance(r, dict) else list(RESULT_FIELDS)
    if missing or not isinstance(r["config"], dict) or not isinstance(r["final"], dict) or "miou" not in r["final"]:
        raise StoreError(
            f"{path} is not a stored result (missing or malformed: {', '.join(missing) or 'config/final'}); "
            f"expected a JSON object with {', '.join(RESULT_FIELDS)}"
        )
    return r


def skip_warning(error: Exception | str) -> None:
    """One line for a store entry that is left out (the book and ``--list`` go on without it)."""
    warnings.warn(f"skipped: {error}", RuntimeWarning, stacklevel=3)


def stored_entries(root: str | Path | None = None) -> list[tuple[Path, dict]]:
    """(folder, result as stored) of every readable ``*/result.json`` of the store; each bad one is
    skipped with a one-line warning naming it, so one torn file never takes the book down."""
    out = []
    for path in sorted(Path(root or results_dir()).glob("*/result.json")):
        try:
            out.append((path.parent, read_result(path)))
        except FileNotFoundError:
            continue
        except StoreError as e:
            skip_warning(e)
    return out


def stored_results(root: str | Path | None = None) -> list[dict]:
    """Every readable stored result (:func:`stored_entries`)."""
    return [r for _, r in stored_entries(root)]


def is_done(key: str, root: str | Path | None = None) -> bool:
    """Whether ``key`` is stored as a readable result (a torn or foreign file is not done: the run
    is published again over it)."""
    try:
        return read_result(Path(root or results_dir()) / key / "result.json")["key"] == key
    except (FileNotFoundError, StoreError):
        return False


def load_result(key: str, root: str | Path | None = None) -> dict:
    """A stored result; its config carries every setting added since at the value it was trained with.
    StoreError (one line naming the file) when it is not readable."""
    result = read_result(Path(root or results_dir()) / key / "result.json")
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
        stored = stored_results(root)
    by_method: dict[str, list[float]] = {}
    for result in stored:
        env = result.get("env") or {}
        if env.get("device", "cpu") == "cpu":
            try:
                cost = result["wall_time_s"] / result["config"]["iters"] * env.get("torch_threads", 1)
                method = result["config"]["method"]
            except (KeyError, TypeError, ZeroDivisionError) as e:  # a foreign entry: left out, said once
                skip_warning(StoreError(f"result {result.get('key')!r} has no usable wall time or iters ({e!r})"))
                continue
            by_method.setdefault(method, []).append(cost)
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
    for r in stored_results(root):
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


#: what a provenance field of a run says when its env.json does not hold it (a run stored before it was
#: recorded): never a guess
NOT_RECORDED = "not recorded"
#: the provenance of a run (:func:`provenance`): column -> the field of its environment record
PROVENANCE_FIELDS = {"date": "date", "cpu_model": "cpu_model", "torch_threads": "torch_threads", "commit": "git_commit"}


def provenance(result: dict) -> dict:
    """Where and when a stored run ran, as its environment record (``env``) says: ``date`` (ISO, UTC),
    ``cpu_model``, ``torch_threads``, ``commit`` (full); :data:`NOT_RECORDED` for each it does not hold."""
    env = result.get("env") if isinstance(result.get("env"), dict) else {}
    out = {col: env.get(field) for col, field in PROVENANCE_FIELDS.items()}
    return {col: NOT_RECORDED if v in (None, "") else v for col, v in out.items()}


def tidy_runs(root: str | Path | None = None):
    """Every stored run as a tidy table: one row per (run, evaluation), with the run's key, its
    config fields, where and when it ran (:func:`provenance`: date, cpu_model, torch_threads, commit;
    "not recorded" where its env.json does not say), the iteration, the validation mIoU there and
    whether it is the final one."""
    import pandas as pd

    root = Path(root or results_dir())
    rows = []
    for folder, r in stored_entries(root):
        r["config"] = cfg = with_legacy_settings(r["config"])
        has_curves = (folder / "metrics.jsonl").is_file()
        evals = [e for e in load_curves(folder.name, root) if "miou" in e] if has_curves else []
        final = {"iter": cfg.get("iters"), "miou": r["final"]["miou"]}
        for e in evals or [final]:
            rows.append(
                {
                    "key": r["key"],
                    **{k: (str(v) if isinstance(v, list) else v) for k, v in cfg.items()},
                    **provenance(r),
                    "iteration": e["iter"],
                    "miou": e["miou"],
                    "final": e["iter"] == final["iter"],
                }
            )
    return pd.DataFrame(rows)
