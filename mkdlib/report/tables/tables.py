"""The tables of the book: Tables 1-5 of the paper, each set beside its analogue measured here, the
diagnosis grid and the error breakdown, all as queries on the results store (:mod:`.store`).

Our numbers are **built-in dataset** results: a different dataset, model size and schedule than the
paper's (:mod:`.transcribed`). Absolute mIoUs are therefore never subtracted from the paper's; each
comparison table instead shows the *gain over a reference row* (e.g. co-training for Table 3) for
both, and the difference of those gains; our gain is the mean of per-seed differences over the
seeds both rows have (same seed: same initialisation and data order), so a one-seed row is set
against its reference's run at that seed, not against the mean of all its seeds. Each table is
built as long cells (:class:`.cells.Cells`) and laid out wide (:func:`.cells.wide`);
:func:`results_frame` holds every cell of them all.
"""

from __future__ import annotations

import math
import statistics
from pathlib import Path

import pandas as pd

from ... import results
from ...config import SWITCHES, Config, make_config, resolve
from ...experiments import reference_grid
from ...registry import METHOD_INFO, RENAMED_FIELDS
from ..evidence.cells import LONG_COLUMNS, OURS, Cells, runs_by_seed, seed_differences, wide
from ..evidence.store import (
    StoreSnapshot,
    _stored_rows,
    grid_runs,
    headline_complete,
    seed_summary,
    snapshot,
    stored_result,
    switch_label,
)
from ..evidence.transcribed import FRACTIONS, paper_table

#: the Table 1 analogue's methods, in its row order
TABLE1_METHODS = ("supervised", "cps", "cps_cutmix", "mkd")
#: its like-for-like row: our MKD gain over MKD's matching baseline minus the paper's over CPS-R101
DIFFERENCE_ROW = "difference of MKD gains (ours vs CPS + CutMix - paper vs CPS-R101)"


#: Table 2 rows: our method label -> the paper's row name (VOCAug and Cityscapes tables)
METHOD_ROWS = {
    "supervised only": None,
    "mean teacher": "MT",
    "CPS (co-training)": "CPS",
    "CPS + CutMix": "CPS-with-CutMix",
    "MKD": "MKD",
    "MKD (release)": "MKD",
}
#: MKD's matching baseline: MKD trains with CutMix, so its gain is measured against CPS trained with
#: CutMix (the paper's Table 2 lists "CPS w/ CutMix" beside plain CPS)
FAIR_REFERENCE = "CPS + CutMix"


def method_label(method: str) -> str:
    """The Table 2 row of a method: ``cps_cutmix`` (CPS w/ CutMix, co-training + strong aug) is
    "CPS + CutMix", MKD's matching baseline; ``cps`` is plain co-training."""
    return METHOD_INFO[method].label if method in METHOD_INFO else method


def results_frame(root: str | Path | None = None) -> pd.DataFrame:
    """Every number of Tables 1-5 and the diagnosis, ours and the paper's, on one long frame
    (source, table, row, metric, value): filter and pivot it as you like."""
    tables = [
        table_label_fractions(root),
        table_methods(root),
        table_ablation(root),
        table_sweep("gamma", root),
        table_sweep("beta", root),
        table_diagnosis(root),
    ]
    return pd.DataFrame([cell for t in tables for cell in t.attrs["cells"]], columns=LONG_COLUMNS)


def label_fraction_runs(root: str | Path | None = None) -> pd.DataFrame:
    """The Table 1 analogue's runs: the 1/16 references (:func:`~mkdlib.experiments.reference_grid`)
    and the fractions grid without the mean teacher (a Table 2 row). Both CPS rows stay: the paper
    does not say whether its CPS-R101 used CutMix, and CPS + CutMix is MKD's matching baseline (MKD
    trains with CutMix)."""
    runs = grid_runs([reference_grid(), "fractions"], root)
    return runs[runs["method"].isin(TABLE1_METHODS)].reset_index(drop=True)


def table_label_fractions(root: str | Path | None = None) -> pd.DataFrame:
    """Table 1 analogue: mIoU per label fraction. Rows: quantities; columns: fractions.

    Ours: supervised / CPS / CPS + CutMix / MKD on the built-in dataset; the gain of MKD over
    supervised training, over plain CPS and over CPS + CutMix (MKD's matching baseline), paired by
    seed (the mean of per-seed differences over the seeds both have). Paper:
    Table 1 (VOC 2012 classic, 1,464 images), CPS-R101 and MKD-R50/R101, and MKD-R101's gain over
    CPS-R101 (the paper's co-training baseline; it does not say whether with CutMix).
    """
    runs = label_fraction_runs(root)
    s = seed_summary(runs, ["method", "split"])["mean"]
    ours = {m: pd.Series({f: s.get((m, f), math.nan) for f in FRACTIONS}) for m in TABLE1_METHODS}
    p = paper_table("table1_voc_classic")
    p.columns = list(FRACTIONS)  # the paper's columns are the same fractions, with their sizes
    paper_gain_cps = p.loc["MKD-R101"] - p.loc["CPS-R101"]
    by_seed = runs_by_seed(runs, ["method", "split"])

    def gain(a: str, b: str) -> pd.Series:  # paired by seed, as every gain of the book
        return pd.Series({f: seed_differences(by_seed, (a, f), (b, f)).mean() for f in FRACTIONS})

    ours_gain_fair = gain("mkd", "cps_cutmix")
    rows = (
        ("ours", "supervised", ours["supervised"]),
        ("ours", "CPS", ours["cps"]),
        ("ours", FAIR_REFERENCE, ours["cps_cutmix"]),
        ("ours", "MKD", ours["mkd"]),
        ("ours", "MKD gain vs supervised", gain("mkd", "supervised")),
        ("ours", "MKD gain vs CPS", gain("mkd", "cps")),
        ("ours", f"MKD gain vs {FAIR_REFERENCE}", ours_gain_fair),
        ("paper", "CPS-R101 (VOC)", p.loc["CPS-R101"]),
        ("paper", "MKD-R50 (VOC)", p.loc["MKD-R50"]),
        ("paper", "MKD-R101 (VOC)", p.loc["MKD-R101"]),
        ("paper", "MKD-R101 gain vs CPS-R101", paper_gain_cps),
        ("ours - paper", DIFFERENCE_ROW, ours_gain_fair - paper_gain_cps),
    )
    cells = Cells("Table 1")
    for source, row, values in rows:
        for f in FRACTIONS:
            cells.add(source, row, f, values[f])
    df = wide(cells.frame(), by="metric")
    df.columns.name = "label fraction"
    snap = snapshot(root)
    planned = {(c.method, c.split) for g in (reference_grid(), "fractions") for c, _, _ in snap.grid(g)}
    needs = {
        f"{OURS}: supervised": ("supervised",),
        f"{OURS}: CPS": ("cps",),
        f"{OURS}: {FAIR_REFERENCE}": ("cps_cutmix",),
        f"{OURS}: MKD": ("mkd",),
        f"{OURS}: MKD gain vs supervised": ("mkd", "supervised"),
        f"{OURS}: MKD gain vs CPS": ("mkd", "cps"),
        f"{OURS}: MKD gain vs {FAIR_REFERENCE}": ("mkd", "cps_cutmix"),
        DIFFERENCE_ROW: ("mkd", "cps_cutmix"),
    }
    df.attrs["not_in_grid"] = [
        (row, f) for row, methods in needs.items() for f in FRACTIONS if any((m, f) not in planned for m in methods)
    ]
    return df


def methods_runs(root: str | Path | None = None) -> pd.DataFrame:
    """Table 2's runs, with their Table 2 row (``row``): the decisive headline once it is complete
    (12 paired seeds, each its own labeled split; ``miou`` is then each run's **test** mIoU, the
    validation score kept as ``validation_miou``), else the superseded headline at 1/16 (6 seeds, one
    split, validation) with the ``methods`` grid. ``attrs["protocol"]`` says which ("test" /
    "validation"), ``attrs["rows"]`` the rows it plans."""
    if headline_complete(root):
        runs = grid_runs("headline", root)
        runs = runs.assign(validation_miou=runs["miou"], miou=runs["test_miou"])
        protocol = "test"
    else:
        runs = grid_runs(["headline_6seeds", "methods"], root)
        runs = runs[runs["split"] == "1/16"]
        protocol = "validation"
    runs = runs.assign(row=[method_label(m) for m in runs["method"]]).reset_index(drop=True)
    planned = set(runs["row"])
    rows = [r for r in METHOD_ROWS if protocol == "validation" or r in planned]
    runs.attrs = {"protocol": protocol, "rows": rows}
    return runs


def table_methods(root: str | Path | None = None) -> pd.DataFrame:
    """Table 2 analogue at 1/16: supervised, mean teacher, CPS, CPS + CutMix, MKD (mean, sd over seeds),
    from :func:`methods_runs`: on the decisive headline's test set once it is complete (then without
    plain CPS, which it does not run), else the superseded headline's validation set.
    ``attrs["protocol"]`` says which.

    Paper: Table 2, VOCAug 1/16 (662 labels) and Cityscapes 1/16 (186 labels), ResNet-50. Gains
    are over **CPS + CutMix**, MKD's matching baseline (MKD uses CutMix; ours: CPS with the
    ``cps_cutmix`` preset, co-training + strong augmentation: one photometric op + CutMix, the
    nearest to the paper's CPS w/ CutMix).
    """
    runs = methods_runs(root)
    rows = {r: METHOD_ROWS[r] for r in runs.attrs["rows"]}
    voc, city = paper_table("table2_vocaug"), paper_table("table2_cityscapes")
    cells = Cells("Table 2")
    cells.ours(seed_summary(runs, ["row"]), rows)
    for row, paper_row in rows.items():
        cells.add("paper", row, "VOCAug R50 1/16", voc.loc[paper_row, "R50 1/16 (662)"] if paper_row else math.nan)
        cells.add("paper", row, "Cityscapes R50 1/16", city.loc[paper_row, "R50 1/16 (186)"] if paper_row else math.nan)
    cells.gains(FAIR_REFERENCE, "VOCAug R50 1/16", FAIR_REFERENCE, runs, "row")
    t = wide(cells.frame())
    t.attrs["protocol"] = runs.attrs["protocol"]
    return t


def _table3_seed_runs(method: str, root: str | Path | None = None) -> pd.DataFrame:
    """``method``'s runs at 1/16 on Table 3's seeds, from the 1/16 references (one labeled split,
    validation; :func:`~mkdlib.experiments.reference_grid`): the runs Table 3's rows are set beside."""
    from ...experiments import HEADLINE_SEEDS

    runs = grid_runs(reference_grid(), root)
    return runs[(runs["method"] == method) & (runs["split"] == "1/16") & runs["seed"].isin(HEADLINE_SEEDS)]


def ablation_runs(root: str | Path | None = None) -> pd.DataFrame:
    """Table 3's runs and, first, supervised training at 1/16 on the same seeds (the headline's
    references: one labeled split, validation): the floor every row's reference is read against."""
    return pd.concat([_table3_seed_runs("supervised", root), grid_runs("ablation", root)], ignore_index=True)


def table_ablation(root: str | Path | None = None) -> pd.DataFrame:
    """Table 3 analogue: co-training plus switches, at 1/16, under a supervised line (the paper's
    Table 3 has none). Paper: VOCAug 1/16, ResNet-50."""
    runs = ablation_runs(root)
    s = seed_summary(runs, ["label"])
    paper = paper_table("table3_ablation").rename(columns=RENAMED_FIELDS)  # the transcription says mean_teacher
    paper_label = {
        switch_label(make_config(**{k: bool(r[k]) for k in SWITCHES})): r["miou"] for _, r in paper.iterrows()
    }
    labels = list(dict.fromkeys(runs["label"]))
    cells = Cells("Table 3")
    cells.ours(s, labels)
    for label in labels:
        cells.add("paper", label, "mIoU (VOCAug R50)", paper_label.get(label, math.nan))
    cells.gains("co-training", "mIoU (VOCAug R50)", "co-training", runs, "label")
    return wide(cells.frame(), "switches on")


def table_sweep(param: str, root: str | Path | None = None, method: str = "mkd") -> pd.DataFrame:
    """Table 4 (``param="gamma"``, the EMA weight of Eq. 1) or Table 5 (``"beta"``, the weight of
    L_ss in Eq. 4, alpha = 1.5) analogue for ``method``'s runs of the grid; gains are over the
    smallest value (0: no EMA memory / no student-student term), paired by seed; "mIoU at seed 0"
    is the sweep seed's run of each value, the one its gain is paired with (the default value's
    mean is over all its seeds). Paper: VOCAug 1/16, ResNet-50 and ResNet-101."""
    from ...experiments import SWEEP_SEED

    tables = {"gamma": "table4_gamma", "beta": "table5_beta"}
    if param not in tables:
        raise KeyError(f"sweep {param!r} is unknown; sweeps: {', '.join(tables)}")
    runs = grid_runs(param, root)
    runs = runs[runs["method"] == method]
    s = seed_summary(runs, [param])
    paper = paper_table(tables[param]).set_index(param)
    values = sorted(set(s.index) | set(paper.index))
    cells = Cells({"gamma": "Table 4", "beta": "Table 5"}[param])
    cells.ours(s, values)
    at_seed = runs[runs["seed"] == SWEEP_SEED].dropna(subset=["miou"]).groupby(param)["miou"].mean()
    for v in values:  # the run every gain is paired with (the default's mean is over all its seeds)
        cells.add("ours", v, f"mIoU at seed {SWEEP_SEED}", at_seed.get(v, math.nan))
    for v in values:
        for backbone in ("R50", "R101"):
            cells.add("paper", v, backbone, paper[backbone].get(v, math.nan))
    cells.gains(values[0], "R50", f"{param}={values[0]:g}", runs, param)
    return wide(cells.frame(), param)


def reference_setting(what: str) -> str:
    """The diagnosis table's row of a reference method (``method_label``) run with the paper's settings."""
    return f"{what} (paper's settings)"


def diagnosis_runs(root: str | Path | None = None) -> pd.DataFrame:
    """Stored runs of the diagnosis grid and of its references (MKD and CPS + CutMix, its matching
    baseline, with the paper's settings; the 1/16 references, all seeds): setting, seed, miou, best_miou
    (%), key; one ``miou=NaN`` row per setting not yet run."""
    snap = snapshot(root)
    return snap.memo("diagnosis_runs", lambda: _diagnosis_runs(snap)).copy()


def _diagnosis_runs(snap: StoreSnapshot) -> pd.DataFrame:
    from ...experiments import DIAGNOSIS, stored_config

    default = resolve(stored_config("mkd"))  # the preset the diagnosis grid is read on

    def value(v) -> str:
        if isinstance(v, str):
            return v
        return ("on" if v else "off") if isinstance(v, bool) else f"{v:g}"

    def label(cfg: Config) -> str:
        changed = [
            f"{k} {value(getattr(default, k))} -> {value(getattr(cfg, k))}"
            for k in dict.fromkeys(k for change in DIAGNOSIS for k in change)
            if getattr(cfg, k) != getattr(default, k)
        ]
        return "MKD, " + ", ".join(changed)

    references = sorted(
        (
            (c, sfk)
            for c, sfk, _ in snap.grid(reference_grid())
            if c.split == "1/16" and c.seed == 0 and c.method in ("mkd", "cps_cutmix")
        ),
        key=lambda c_sfk: c_sfk[0].method != "mkd",
    )  # MKD, then CPS + CutMix
    rows = []
    for cfg, sfk in references:
        rows += [{"setting": reference_setting(method_label(cfg.method)), **r} for r in _stored_rows(cfg, snap, sfk)]
    seen = set()
    for cfg, sfk, _ in snap.grid("diagnosis"):
        if sfk in seen:  # a change run on several seeds: one row per stored seed, read once
            continue
        seen.add(sfk)
        rows += [{"setting": label(cfg), **r} for r in _stored_rows(cfg, snap, sfk)]
    return pd.DataFrame(rows)


def table_diagnosis(root: str | Path | None = None) -> pd.DataFrame:
    """Beyond the paper: MKD with one setting changed at a time (``experiments.DIAGNOSIS``), beside
    MKD and CPS + CutMix (its matching baseline) with the paper's settings. Best = the best of the
    periodic evaluations during training, final = the last one."""
    runs = diagnosis_runs(root)
    settings = list(dict.fromkeys(runs["setting"]))
    best = runs.groupby("setting", sort=False)["best_miou"].mean()
    cells = Cells("diagnosis")
    cells.ours(seed_summary(runs, ["setting"]), settings)
    for setting in settings:
        cells.add("ours", setting, "best mIoU during training", best.get(setting, math.nan))
    for what in ("MKD", FAIR_REFERENCE):
        cells.gains(reference_setting(what), None, what, runs, "setting")
    return wide(cells.frame(), "setting")


def breakdown_runs(root: str | Path | None = None) -> pd.DataFrame:
    """The stored runs at 1/16 of the references (:func:`~mkdlib.experiments.reference_grid`), methods
    and ablation grids, each row labelled by its full config (``row``): a method's default config by
    its Table 2 name, any other ablation config by its Table 3 row. So runs of different configs never share a row (CPS + CutMix is not the
    ablation's co-training + strong aug: its L_ss targets differ)."""
    runs = grid_runs(["ablation", "methods", reference_grid()], root)
    runs = runs[runs["split"] == "1/16"]
    default = (runs["grid"] != "ablation") | (runs["setting"].fillna("") == "")
    return runs.assign(row=[method_label(m) if d else lab for m, d, lab in zip(runs["method"], default, runs["label"])])


def error_breakdown(runs: pd.DataFrame, label: str = "label", root: str | Path | None = None) -> pd.DataFrame:
    """Does a method fail to *find* objects or to *name* them? Per row label of a runs table
    (:func:`grid_runs`, :func:`diagnosis_runs`): mIoU and :func:`mkdlib.evaluate.object_scores`
    of each stored run's final confusion matrix (%), averaged over its seeds."""
    from ...evaluate import object_scores

    names = {
        "object_iou": "object IoU",
        "object_precision": "object precision",
        "object_recall": "object recall",
        "class_accuracy": "class accuracy",
        "dominant_class_share": "top class share",
    }
    rows = []
    for r in runs.itertuples():
        scores = dict.fromkeys(names, math.nan)
        if isinstance(r.key, str):
            scores = object_scores(stored_result(r.key, root)["final"]["confusion"])
        rows.append({"row": getattr(r, label), "mIoU": r.miou, **{names[k]: 100 * v for k, v in scores.items()}})
    means = pd.DataFrame(rows).groupby("row", sort=False).mean()
    seeds = runs.groupby(label, sort=False)["miou"].count()
    cells = Cells("error breakdown")
    for row in means.index:
        cells.add("ours", row, "seeds", seeds[row])
        for metric in means.columns:
            cells.add("ours", row, metric, means.at[row, metric])
    return wide(cells.frame())


def co_training_decline(root: str | Path | None = None) -> pd.DataFrame:
    """Why co-training alone ends below supervised training here, from the stored runs at 1/16 (same
    seeds, one labeled split): validation mIoU at its first evaluation and at the end, and whether the
    final model fails to find objects or to name them (:func:`error_breakdown`), for supervised
    training, co-training with the unlabeled ramp-up (Table 3's reference) and without it (plain CPS)."""
    runs, cps = ablation_runs(root), _table3_seed_runs("cps", root)
    names = {"supervised only": "supervised", "co-training": "co-training (ramp-up)"}
    picked = pd.concat([runs[runs["label"].isin(names)], cps.assign(label="co-training, no ramp-up (plain CPS)")])
    picked = picked.assign(label=picked["label"].replace(names))
    first, at = {}, set()
    for r in picked.dropna(subset=["key"]).itertuples():
        evals = [c for c in results.load_curves(r.key, root) if "miou" in c]
        if evals:
            first.setdefault(r.label, []).append(100 * evals[0]["miou"])
            at.add(evals[0]["iter"])
    t = error_breakdown(picked, root=root)
    col = f"{OURS} mIoU at iteration {at.pop()}" if len(at) == 1 else f"{OURS} mIoU at the first evaluation"
    t.insert(0, col, [statistics.fmean(first[i]) if i in first else math.nan for i in t.index])
    return t
