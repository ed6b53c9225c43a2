"""Where, when and from what commit the stored runs ran, and how long a run took.

A run's provenance is what its ``env.json`` recorded (:func:`mkdlib.results.provenance`): date, CPU
model, thread count, commit; a run stored before a field was recorded says "not recorded", never a
guess. :func:`provenance_summary` says in one line whether a set of runs (a table's, a grid's) spans
several commits or thread counts; :func:`run_time` says how long a config's run took, read from the
store (an estimate, said as one, for a run not stored).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pandas as pd

from ...config import Config
from ...results import NOT_RECORDED, estimate_cpu_seconds, provenance
from .cells import count
from .store import snapshot, stored_key

#: the columns of :func:`run_provenance`, as the book shows them
PROVENANCE_COLUMNS = ["key", "date", "CPU model", "threads", "commit"]
SHORT_COMMIT = 7


def run_keys(runs) -> list[str]:
    """The run keys of ``runs``: keys, a table with a ``key`` column (:func:`~.store.stored_runs`,
    :func:`~.store.grid_runs`: its not-yet-run rows left out) or comma-separated keys (a claims row's
    ``runs``, or the claims table itself: its ``runs`` column); each once, in order."""
    if isinstance(runs, pd.DataFrame):
        runs = runs["key"] if "key" in runs else runs["runs"]
    if isinstance(runs, str):
        runs = [runs]
    keys: list[str] = []
    for item in runs:
        if isinstance(item, str):
            keys += [k.strip() for k in item.split(",") if k.strip()]
    return list(dict.fromkeys(keys))


def run_provenance(runs, root: str | Path | None = None) -> pd.DataFrame:
    """One row per stored run of ``runs`` (:func:`run_keys`; a key not in the store is left out):
    key, date (day, UTC), CPU model, threads, commit (short); "not recorded" where its record is silent."""
    results = snapshot(root).results
    rows = []
    for key in run_keys(runs):
        if key not in results:
            continue
        p = provenance(results[key])
        date, commit = p["date"], p["commit"]
        rows.append(
            {
                "key": key,
                "date": date if date == NOT_RECORDED else str(date)[:10],
                "CPU model": p["cpu_model"],
                "threads": p["torch_threads"],
                "commit": commit if commit == NOT_RECORDED else str(commit)[:SHORT_COMMIT],
            }
        )
    return pd.DataFrame(rows, columns=PROVENANCE_COLUMNS)


def _listed(counted) -> str:
    """``[(value, runs), ...]`` as "1 (30 runs) and 2 (6 runs)"; "" for none."""
    parts = [f"{value} ({count(k, 'run')})" for value, k in counted]
    return "" if not parts else parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def _part(label: str, text: str, values: pd.Series) -> str:
    """``label text``, and how many runs do not record it (``label not recorded``: none does)."""
    if not text:
        return f"{label} not recorded"
    n = int((values == NOT_RECORDED).sum())
    return f"{label} {text}" + (f", not recorded for {count(n, 'run')}" if n else "")


def provenance_summary(runs, root: str | Path | None = None, what: str = "Runs of this table") -> str:
    """One line on the stored runs of ``runs`` (:func:`run_provenance`): how many, on how many commits,
    which thread counts (runs each), the dates they span and the CPU models, each with the runs that
    do not record it, e.g. "Runs of this table: 36 runs on 12 commits; thread counts 1 (30 runs) and 2
    (6 runs); dates 2026-11-30 to 2026-12-07, not recorded for 30 runs; CPU models AMD EPYC (6 runs),
    not recorded for 30 runs.\""""
    t = run_provenance(runs, root)
    if t.empty:
        return f"{what}: none stored yet."
    runs_n = count(len(t), "run")
    commits = sorted({c for c in t["commit"] if c != NOT_RECORDED})
    if not commits:
        parts = [f"{runs_n}, commits not recorded"]
    else:
        on = f"one commit ({commits[0]})" if len(commits) == 1 else f"{len(commits)} commits"
        parts = [_part(f"{runs_n} on", on, t["commit"])]
    threads = Counter(int(x) for x in t["threads"] if x != NOT_RECORDED)
    if len(threads) == 1 and sum(threads.values()) == len(t):
        parts.append(f"thread count {next(iter(threads))} for every run")
    else:
        parts.append(_part("thread counts", _listed(sorted(threads.items())), t["threads"]))
    dates = sorted(d for d in t["date"] if d != NOT_RECORDED)
    span = "" if not dates else dates[0] if dates[0] == dates[-1] else f"{dates[0]} to {dates[-1]}"
    parts.append(_part("dates", span, t["date"]))
    cpus = Counter(c for c in t["CPU model"] if c != NOT_RECORDED)
    parts.append(_part("CPU models", _listed(cpus.most_common()), t["CPU model"]))
    return f"{what}: " + "; ".join(parts) + "."


def run_time(cfg: Config, root: str | Path | None = None) -> str:
    """How long ``cfg``'s run takes, as the store says: its stored run's wall time and threads, else
    an estimate from the stored runs' CPU-seconds per iteration (:func:`mkdlib.results.estimate_cpu_seconds`),
    said as one. A phrase for a sentence: "its stored run took 16.6 minutes on 2 threads"."""
    snap = snapshot(root)
    key = stored_key(cfg, root)
    if key is not None and key in snap.results:
        r = snap.results[key]
        threads = provenance(r)["torch_threads"]
        on = "" if threads == NOT_RECORDED else f" on {count(int(threads), 'thread')}"
        return f"its stored run took {r['wall_time_s'] / 60:.1f} minutes{on}"
    seconds = estimate_cpu_seconds(cfg.method, cfg.iters, snap.cpu_rates())
    if seconds != seconds:  # NaN: nothing stored to size it with
        return "not stored yet, and no stored run to estimate its time from"
    minutes = f"{seconds / 60:.0f}" if seconds >= 600 else f"{seconds / 60:.1f}"
    return f"not stored yet: about {minutes} CPU-minutes, an estimate from the stored runs' cost per iteration"
