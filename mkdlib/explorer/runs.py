"""The explorer's runs: the stored runs of each view (:func:`explorer_runs`), a run labelled by what
sets it apart (:class:`StoredRun`), the runs of a selection (:func:`matching_runs`), runs side by
side (:func:`run_summary`), what to notice (:func:`notice`) and the user's own store of short runs
(:func:`user_store`)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

#: stands for the grid of the 1/16 references (:func:`mkdlib.experiments.reference_grid`, which moves
#: with the presets the book reads)
REFERENCES = "references"
#: view -> (grids, label column, x-axis title, figure title)
VIEWS = {
    "method": ((REFERENCES, "methods"), "row", "method", "Methods at 1/16 of the labels (Table 2 analogue)"),
    "switches": (("ablation",), "label", "switches on", "Table 3 switches on top of co-training, 1/16"),
    "gamma": (("gamma",), "gamma", "gamma (EMA weight of the old teacher, Eq. 1)", "EMA gamma, MKD at 1/16 (Table 4)"),
    "beta": (("beta",), "beta", "beta (weight of L_ss, Eq. 4)", "beta, MKD at 1/16 (Table 5)"),
    "split": ((REFERENCES, "fractions"), "split", "labeled fraction", "Labeled fraction (Table 1 analogue)"),
}
#: the view of the user's own short runs (:func:`user_store`), shown once there are any
YOURS = "your runs"
YOURS_VIEW = ("", "run", "your short run", "Your short runs (your store, not the book's)")
#: appended to the label of a run of the user's store
YOURS_SUFFIX = " (yours)"
#: the views whose runs all have 1/16 of the labels (the split view compares label fractions)
ONE_FRACTION_VIEWS = ("method", "switches", "gamma", "beta")


def explorer_runs(root: str | Path | None = None, user_root: str | Path | None = None) -> pd.DataFrame:
    """One row per (view, grid config, stored run of it), plus a NaN row per config not yet run;
    with ``user_root``, one row per run of that store too (view :data:`YOURS`).
    Columns: view, x (category label), series (trace name), seed, miou, best_miou, key, root (the
    store holding the run: None for ``root``)."""
    from ..experiments import reference_grid
    from ..report.paper import FRACTIONS, METHOD_ROWS, grid_runs, method_label

    frames = []
    for view, (grids, col, _, _) in VIEWS.items():
        runs = grid_runs([reference_grid() if g == REFERENCES else g for g in grids], root).assign(
            series="built-in dataset"
        )
        if view == "method":
            runs = runs[runs["split"] == "1/16"].assign(row=lambda d: d["method"].map(method_label))
            runs = runs.sort_values("row", key=lambda s: s.map(list(METHOD_ROWS).index), kind="stable")
        if view == "split":  # one series per method, at the fractions it is run at
            runs = runs.assign(series=runs["method"].map(method_label))
            runs = runs.sort_values("split", key=lambda s: s.map(FRACTIONS.index), kind="stable")
        x = runs[col].map(lambda v: f"{v:g}" if isinstance(v, float) else str(v))
        frames.append(runs[["series", "seed", "miou", "best_miou", "key"]].assign(view=view, x=x, root=None))
    if user_root is not None and (yours := store_runs(user_root, yours=True)):
        frames.append(
            pd.DataFrame(
                {
                    "view": YOURS,
                    "x": [r.label.removesuffix(YOURS_SUFFIX) for r in yours],
                    "series": "your runs",
                    "seed": [r.seed for r in yours],
                    "miou": [r.miou for r in yours],
                    "best_miou": [r.best_miou for r in yours],
                    "key": [r.key for r in yours],
                    "root": str(user_root),
                }
            )
        )
    columns = ["view", "x", "series", "seed", "miou", "best_miou", "key", "root"]
    return pd.concat([f[columns] for f in frames], ignore_index=True)


def views(runs: pd.DataFrame) -> dict[str, tuple]:
    """The views of a figure over ``runs`` (:func:`explorer_runs`): :data:`VIEWS`, and
    :data:`YOURS` when the user's store holds runs."""
    return {**VIEWS, **({YOURS: YOURS_VIEW} if (runs["view"] == YOURS).any() else {})}


def user_store() -> Path:
    """The user's own store of the explorer's short runs (``runs/``, ``results/``): ``$MKD_EXPLORER_DIR``,
    else ``mkdlib/explorer`` in ``$XDG_DATA_HOME`` (``~/.local/share``). Never the book's store: a
    short run is not a result of the book."""
    if os.environ.get("MKD_EXPLORER_DIR"):
        return Path(os.environ["MKD_EXPLORER_DIR"]).expanduser()
    data_home = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(data_home) / "mkdlib" / "explorer"


# --------------------------------------------------------------------------- stored runs, labelled
@dataclass(frozen=True)
class StoredRun:
    """A stored run as the explorer lists it: ``label`` says what sets it apart (seed, iterations,
    the fields that differ from its method's current preset, superseded or not, yours or not)."""

    key: str
    root: str | None  # the store holding it (None: the book's)
    label: str
    method: str
    split: str
    seed: int
    iters: int
    setting: str  # the fields that differ from the method's current preset ("" for none)
    superseded: bool  # trained with a preset's old settings (mkdlib.experiments.LEGACY_PRESETS)
    miou: float  # final, %
    best_miou: float  # %
    switches: tuple[bool, ...]

    @property
    def order(self) -> tuple:
        """Current preset versions first, then the variants, the superseded last; seeds in order."""
        return (self.superseded, self.setting != "", self.setting, self.root is None, -self.iters, self.seed)


def describe_run(config: Mapping, key: str, root: str | None, miou: float, best_miou: float) -> StoredRun:
    """A stored run's :class:`StoredRun` (its label from what differs: :func:`mkdlib.experiments.setting_label`;
    "superseded preset" when it holds its method's old preset where that differs from today's
    (:func:`mkdlib.experiments.uses_legacy_preset`); the old preset's fields it holds when some)."""
    from ..config import SWITCHES, make_config
    from ..experiments import legacy_note, old_preset_changes, setting_label, uses_legacy_preset

    cfg = make_config(dict(config))
    old = tuple(old_preset_changes(cfg)) if uses_legacy_preset(cfg) else ()
    setting = ", ".join(f for f in setting_label(cfg).split(", ") if f and f.split("=")[0] not in ("iters", *old))
    label = f"seed {cfg.seed}, {cfg.iters} it, " + (setting or "preset")
    note = "superseded preset" if old else legacy_note(cfg)
    label += (f" ({note})" if note else "") + (YOURS_SUFFIX if root is not None else "")
    return StoredRun(
        key=key,
        root=root,
        label=label,
        method=cfg.method,
        split=cfg.split,
        seed=int(cfg.seed),
        iters=int(cfg.iters),
        setting=setting,
        superseded=bool(old),
        miou=100 * float(miou) if miou is not None else float("nan"),
        best_miou=100 * float(best_miou) if best_miou is not None else float("nan"),
        switches=tuple(bool(getattr(cfg, s)) for s in SWITCHES),
    )


def _described(key: str, root: str | Path | None) -> StoredRun:
    from ..report.evidence.store import stored_result

    r = stored_result(key, root)
    where = str(root) if root is not None else None
    return describe_run(r["config"], key, where, r["final"]["miou"], r.get("best_miou"))


def store_runs(root: str | Path | None = None, yours: bool = False) -> list[StoredRun]:
    """Every finished run of a store (``yours``: the user's store, its runs marked so), in
    :attr:`StoredRun.order`."""
    from ..report.evidence.store import snapshot

    where = str(root) if yours else None
    runs = [
        describe_run(r["config"], key, where, r["final"]["miou"], r.get("best_miou"))
        for key, r in snapshot(root).results.items()
    ]
    return sorted(runs, key=lambda r: r.order)


def matching_runs(
    selection: Mapping, root: str | Path | None = None, user_root: str | Path | None = None
) -> list[StoredRun]:
    """The stored runs (the book's store ``root`` and the user's ``user_root``) whose method, split
    and switches are those of ``selection`` (Config fields; switches left out: the method's
    preset), current preset versions first. Raises ValueError for a selection that cannot run."""
    from ..config import SWITCHES, make_config, resolve

    want = resolve(make_config(**selection))
    switches = tuple(bool(getattr(want, s)) for s in SWITCHES)
    runs = store_runs(root) + (store_runs(user_root, yours=True) if user_root and Path(user_root).is_dir() else [])
    hits = [r for r in runs if (r.method, r.split, r.switches) == (want.method, want.split, switches)]
    return sorted(hits, key=lambda r: r.order)


def run_summary(runs: Sequence[StoredRun | str] | Mapping[str, str], root: str | Path | None = None):
    """Stored runs side by side, narrow enough for the book's text column (about 770 px; a pandas
    Styler, :func:`mkdlib.report.tables.display.compact_table`: its ``df`` is the frame): one row per
    run, labelled by what sets it apart (:func:`describe_run`) or by the mapping's labels (label ->
    key); its final mIoU and wall time first, then method, split, the Table 3 switches on (the
    paper's abbreviations), gamma, beta. ``runs``: :class:`StoredRun` s, or keys of the store ``root``."""
    from ..config import SWITCHES, make_config
    from ..report.evidence.store import stored_result
    from ..report.paper import short_label, switch_label
    from ..report.tables.display import compact_table

    pairs = runs.items() if isinstance(runs, Mapping) else [(None, r) for r in runs]
    rows = []
    for label, run in pairs:
        run = run if isinstance(run, StoredRun) else _described(run, root)
        r = stored_result(run.key, run.root)
        c = r["config"]
        switches = make_config(**{f: c[f] for f in ("method", *SWITCHES) if f in c})
        rows.append(
            {
                "run": label or run.label,
                "mIoU (%)": round(100 * r["final"]["miou"], 2),
                "wall time (min)": round(r["wall_time_s"] / 60, 1),
                "method": c["method"],
                "split": c["split"],
                "switches on": short_label(switch_label(switches)),
                "gamma": c["gamma"],
                "beta": c["beta"],
            }
        )
    df = pd.DataFrame(rows).set_index("run") if rows else pd.DataFrame()
    return compact_table(df, wrap={"switches on": "5em"} if rows else ())


def notice(root: str | Path | None = None) -> str:
    """What to notice in the explorer, from the stored runs: the widest spread of mean final mIoU
    between the settings of one view at 1/16 of the labels, collapsed runs left out (the report's
    collapse rule, :func:`mkdlib.report.evidence.claims.collapsed_runs`)."""
    from ..report.evidence.claims import collapsed_runs

    done = explorer_runs(root).dropna(subset=["miou"])
    if done.empty:
        return (
            "**What to notice.** No stored runs yet: the figures show the grids' settings without "
            "results; `python -m mkdlib.experiments headline` (and the other grids) fill them."
        )
    text = f"**What to notice.** {done['key'].nunique()} stored runs appear here."
    at_one_fraction = done[done["view"].isin(ONE_FRACTION_VIEWS)]
    collapsed = set(collapsed_runs(sorted(set(at_one_fraction["key"])), root))
    spread = {}
    for view, v in at_one_fraction[~at_one_fraction["key"].isin(collapsed)].groupby("view", sort=False):
        means = v.groupby("x", sort=False)["miou"].mean()
        if len(means) >= 2:
            spread[view] = (means.max() - means.min(), means.idxmax(), means.idxmin())
    if spread:
        view = max(spread, key=lambda k: spread[k][0])
        width, hi, lo = spread[view]
        left_out = f"{len(collapsed)} collapsed run(s) left out" if collapsed else "no run collapsed"
        text += (
            f" Between settings at 1/16 of the labels ({left_out}: the report's collapse rule), the widest "
            f"spread of mean final mIoU is in the *{view}* view: {width:.1f} points between {hi} and {lo}."
            f" The *split* view compares label fractions, not settings. Compare a "
            "difference with the seed spread (the dots of one setting) before reading anything into it."
        )
    return text
