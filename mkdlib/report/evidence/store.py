"""The results store read once, and the queries every table of the book makes on it.

:func:`snapshot` loads every finished run of a store folder (:mod:`mkdlib.results`) once per process
and keeps it while the store is unchanged: a snapshot is valid while the folder's listing and each
``result.json``'s (modification time, size, inode) are, so checking costs one listing and a stat
per run, and a run that finishes while the book builds (or a test's fake store in a tmp dir) is seen
at the next query. When the store changes, only the new or rewritten ``result.json`` files are read
again. The queries (:func:`grid_runs`, :func:`grid_status`, ...) are memoised on the snapshot too.

One rule matches a grid config to its stored runs: equal **seed-free keys** (:func:`seed_free_key`:
the key recomputed from the stored config with the seed set to 0), any seed; :func:`stored_key` adds
the seed. Per-evaluation curves (``metrics.jsonl``) are read on demand (:func:`seed_curves`).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Hashable
from pathlib import Path

import pandas as pd

from ... import results
from ...config import SWITCHES, Config, ConfigError, make_config, resolve
from ...experiments import grid, stored_config
from ...registry import SWITCH_LABELS

#: the columns of :func:`stored_runs`
RUN_COLUMNS = ["key", "seed_free_key", "seed", "miou", "best_miou", "test_miou"]
#: store folders whose snapshot is kept (tests write many small stores into tmp dirs)
MAX_SNAPSHOTS = 8


def seed_free_key(cfg: Config | dict) -> str:
    """The run key with the seed set to 0: runs sharing it differ only by their seed."""
    return make_config(cfg, seed=0).key()


def switch_label(cfg: Config) -> str:
    """``"co-training + strong aug"``: the Table 3 row a resolved config belongs to."""
    on = [SWITCH_LABELS[s] for s in SWITCHES if getattr(cfg, s)]
    return " + ".join(on) if on else "supervised only"


# --------------------------------------------------------------------------- the snapshot
def _signature(folder: Path) -> tuple:
    """(run folder, mtime_ns, size, inode) of every ``*/result.json``: what a snapshot is valid for."""
    sig = []
    for path in sorted(folder.glob("*/result.json")):
        try:
            st = path.stat()
        except FileNotFoundError:  # removed since the listing
            continue
        sig.append((path.parent.name, st.st_mtime_ns, st.st_size, st.st_ino))
    return tuple(sig)


class StoreSnapshot:
    """Every finished run of one store folder as read once: ``results`` (key -> result dict, its
    config carrying every setting added since: :func:`mkdlib.results.load_result`), ``frame`` (one
    row per run: config fields, key, seed-free key, final, best and held-out test mIoU as fractions;
    test NaN for a run scored on no test set) and memoised queries. Treat what it holds as read-only:
    the query functions below hand out copies."""

    def __init__(self, folder: Path, signature: tuple, previous: StoreSnapshot | None = None):
        self.folder, self.signature = folder, signature
        read = previous._entries if previous is not None else {}  # unchanged files are not read again
        # signature entry -> (result, seed-free key), None for a file that is not a stored result
        self._entries: dict[tuple, tuple[dict, str] | None] = {}
        for entry in signature:
            if entry in read:
                self._entries[entry] = read[entry]
                continue
            try:
                r = results.load_result(entry[0], folder)
                self._entries[entry] = (r, seed_free_key(r["config"]))
            except FileNotFoundError:  # removed since the listing
                continue
            except (results.StoreError, ConfigError) as e:  # torn or foreign: one line, never the book's end
                results.skip_warning(e if isinstance(e, results.StoreError) else f"{folder / entry[0]}: {e}")
                self._entries[entry] = None  # said once: not read again while unchanged
        good = [e for e in self._entries.values() if e is not None]
        self.results = {r["key"]: r for r, _ in good}
        self.frame = pd.DataFrame(
            [
                {
                    **r["config"],
                    "key": r["key"],
                    "seed_free_key": sfk,
                    "miou": r["final"]["miou"],
                    "best_miou": r["best_miou"],
                    "test_miou": (r.get("test") or {}).get("miou", math.nan),
                    "wall_time_s": r["wall_time_s"],
                    "sec_per_iter": r.get("sec_per_iter"),
                    "per_class_iou": r["final"].get("per_class_iou"),
                }
                for r, sfk in good
            ]
        )
        if self.frame.empty:
            self.runs = pd.DataFrame(columns=RUN_COLUMNS)
        else:
            df = self.frame
            self.runs = pd.DataFrame(
                {
                    "key": df["key"],
                    "seed_free_key": df["seed_free_key"],
                    "seed": df["seed"].astype(int),
                    "miou": 100 * df["miou"].astype(float),
                    "best_miou": 100 * df["best_miou"].astype(float),
                    "test_miou": 100 * df["test_miou"].astype(float),
                }
            ).reset_index(drop=True)
        self.by_seed_free_key: dict[str, list[dict]] = {}
        for r in self.runs.itertuples():
            self.by_seed_free_key.setdefault(r.seed_free_key, []).append(
                {"seed": r.seed, "miou": r.miou, "best_miou": r.best_miou, "test_miou": r.test_miou, "key": r.key}
            )
        self._memo: dict[Hashable, object] = {}

    def memo(self, key: Hashable, compute: Callable[[], object]):
        """``compute()``, once per snapshot: the queries' cache."""
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]

    def cpu_rates(self) -> dict[str, float]:
        """CPU-seconds per iteration of each method over the stored CPU runs
        (:func:`mkdlib.results.cpu_seconds_per_iter`): what estimates of runs not yet stored use."""
        return self.memo("cpu_rates", lambda: results.cpu_seconds_per_iter(stored=self.results.values()))

    def grid(self, name: str) -> list[tuple[Config, str, str]]:
        """(config, seed-free key, key) of each config of the grid ``name``, computed once."""
        return self.memo(("grid", name), lambda: [(c, seed_free_key(c), c.key()) for c in grid(name)])


_SNAPSHOTS: dict[Path, StoreSnapshot] = {}


def snapshot(root: str | Path | None = None) -> StoreSnapshot:
    """The store at ``root`` (default: :func:`mkdlib.results.results_dir`), read once and cached
    while its listing and its ``result.json`` files are unchanged."""
    folder = Path(root or results.results_dir())
    where = folder.absolute()
    sig = _signature(folder)
    snap = _SNAPSHOTS.get(where)
    if snap is None or snap.signature != sig:
        snap = StoreSnapshot(folder, sig, snap)
        _SNAPSHOTS.pop(where, None)
        _SNAPSHOTS[where] = snap
        while len(_SNAPSHOTS) > MAX_SNAPSHOTS:
            _SNAPSHOTS.pop(next(iter(_SNAPSHOTS)))
    return snap


def clear_cache() -> None:
    """Forget every snapshot (the next query reads the store again)."""
    _SNAPSHOTS.clear()


# --------------------------------------------------------------------------- queries
def stored_runs(root: str | Path | None = None) -> pd.DataFrame:
    """Every finished run in the store: key, seed-free key, seed, mIoU (%), best mIoU (%)."""
    return snapshot(root).runs.copy()


def stored_result(key: str, root: str | Path | None = None) -> dict:
    """A stored run's result (a copy of the snapshot's; :func:`mkdlib.results.load_result` for a
    key the snapshot does not hold)."""
    snap = snapshot(root)
    if key in snap.results:
        return copy.deepcopy(snap.results[key])
    return results.load_result(key, root)


def stored_key(cfg: Config, root: str | Path | None = None, runs: pd.DataFrame | None = None) -> str | None:
    """The results key of the stored run of ``cfg`` (same config and seed), matched as the tables
    match runs (by the key recomputed from each stored config), or None when it is not stored."""
    if runs is not None:
        hit = runs[(runs["seed_free_key"] == seed_free_key(cfg)) & (runs["seed"] == cfg.seed)]
        return None if hit.empty else str(hit["key"].iloc[0])
    hits = [r for r in snapshot(root).by_seed_free_key.get(seed_free_key(cfg), []) if r["seed"] == cfg.seed]
    return str(hits[0]["key"]) if hits else None


NOT_RUN_ROW = {"seed": math.nan, "miou": math.nan, "best_miou": math.nan, "test_miou": math.nan, "key": None}


def _stored_rows(cfg: Config, runs: pd.DataFrame | StoreSnapshot, sfk: str | None = None) -> list[dict]:
    """seed, miou, best_miou, test_miou, key of each stored run of ``cfg`` with any seed (``runs``: a snapshot,
    or a table from :func:`stored_runs`), or one row of NaNs ("not yet run") when there is none."""
    sfk = seed_free_key(cfg) if sfk is None else sfk
    if isinstance(runs, StoreSnapshot):
        return [dict(r) for r in runs.by_seed_free_key.get(sfk, [])] or [dict(NOT_RUN_ROW)]
    match = runs[runs["seed_free_key"] == sfk]
    if match.empty:
        return [dict(NOT_RUN_ROW)]
    return [
        {
            "seed": r.seed,
            "miou": r.miou,
            "best_miou": r.best_miou,
            "test_miou": getattr(r, "test_miou", math.nan),
            "key": r.key,
        }
        for r in match.itertuples()
    ]


def grid_runs(names: str | list[str], root: str | Path | None = None) -> pd.DataFrame:
    """One row per (grid config, stored run of it with *any* seed), plus one ``miou=NaN`` row for
    each grid config with no stored run yet ("not yet run").

    Matching ignores the seed, so extra seeds of a sweep config (e.g. from the headline grid)
    count towards its seed spread. Columns: grid, method, split, label (Table 3 row), setting (what
    differs from the method's default: :func:`mkdlib.experiments.setting_label`), gamma, beta, the
    five switches, seed, miou (%, validation), test_miou (%, the held-out test set; NaN for a run
    scored on none), key.
    """
    names = (names,) if isinstance(names, str) else tuple(names)
    snap = snapshot(root)
    return snap.memo(("grid_runs", names), lambda: _grid_runs(names, snap)).copy()


def _grid_runs(names: tuple[str, ...], snap: StoreSnapshot) -> pd.DataFrame:
    from ...experiments import setting_label

    rows, seen = [], set()
    for name in names:
        for cfg, sfk, key in snap.grid(name):
            if sfk in seen:
                continue
            seen.add(sfk)
            base = {
                "grid": name,
                "method": cfg.method,
                "split": cfg.split,
                "label": switch_label(cfg),
                "setting": setting_label(cfg),
                "gamma": cfg.gamma,
                "beta": cfg.beta,
                **cfg.switches(),
                "grid_key": key,
            }
            rows += [{**base, **r} for r in _stored_rows(cfg, snap, sfk)]
    return pd.DataFrame(rows)


def grid_status(root: str | Path | None = None) -> pd.DataFrame:
    """How many configs of each experiment grid have a stored result (matched as the tables match
    them: by seed-free key and seed)."""
    from ...experiments import GRIDS

    snap, rows = snapshot(root), []
    for name in GRIDS:
        done, planned = _stored_of(snap, name)
        rows.append({"grid": name, "configs": planned, "stored": done, "missing": planned - done})
    return pd.DataFrame(rows)


def _stored_of(snap: StoreSnapshot, name: str) -> tuple[int, int]:
    """(stored, planned) configs of grid ``name``, matched by seed-free key and seed."""
    stored = snap.memo("stored_seeds", lambda: set(zip(snap.runs["seed_free_key"], snap.runs["seed"].astype(int))))
    cfgs = snap.grid(name)
    return sum((sfk, c.seed) in stored for c, sfk, _ in cfgs), len(cfgs)


def headline_progress(root: str | Path | None = None) -> tuple[int, int]:
    """(stored, planned) runs of the decisive headline (grid ``headline``: 12 paired seeds, each its
    own labeled split, scored on the held-out test set). Until it is complete the book's headline
    reads the superseded one (grid ``headline_6seeds``, validation set)."""
    return _stored_of(snapshot(root), "headline")


def headline_complete(root: str | Path | None = None) -> bool:
    """Whether every run of the decisive headline is stored (:func:`headline_progress`)."""
    done, planned = headline_progress(root)
    return done == planned


def seed_summary(runs: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """mean, sd and number of seeds of ``miou`` per group (NaN rows count as 0 runs)."""
    g = runs.groupby(by, sort=False, dropna=False)["miou"]
    return pd.DataFrame({"mean": g.mean(), "sd": g.std(ddof=1), "n": g.count()})


def seed_curves(runs: pd.DataFrame, label: str, seed: int = 0, root: str | Path | None = None) -> dict:
    """``{row label: metrics.jsonl records}`` of the stored runs with ``seed`` in a runs table
    (:func:`grid_runs`, :func:`mkdlib.report.tables.tables.diagnosis_runs`), for
    :func:`mkdlib.report.figures.viz.plot_miou_curves`."""
    done = runs[(runs["seed"] == seed) & runs["key"].notna()]
    return {getattr(r, label): results.load_curves(r.key, root) for r in done.itertuples()}


def config_at(fields: dict, seed: int, split: str = "1/16") -> Config:
    """``fields`` at ``seed`` under the validation protocol, on the presets the grids are read with
    (:func:`mkdlib.experiments.stored_config`; :func:`mkdlib.experiments.as_stored` pins fields to
    the presets as set before the headline's change)."""
    return resolve(stored_config(**{"split": split, **fields}, seed=seed))


def evaluation_curves(method: str, root: str | Path | None = None, seeds=range(10)) -> list[list[dict]]:
    """The validation evaluations (``iter``, ``miou``) of the default config's stored 1/16 runs of
    ``method`` (as the grids stored them: :func:`config_at`), one list per stored
    seed, matched by the one rule (:func:`stored_key`)."""
    out = []
    for seed in seeds:
        key = stored_key(config_at(dict(method=method), seed), root)
        if key is not None:
            out.append([r for r in results.load_curves(key, root) if "miou" in r])
    return out
