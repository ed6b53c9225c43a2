"""The paper's published numbers (Tables 1-5) and the tables that set our stored runs beside them.

``paper_results.yaml`` is a verbatim copy of the figures transcribed from the paper (mIoU %,
PASCAL VOC / Cityscapes). Our numbers come from the results store (:mod:`mkdlib.results`) and are
**built-in dataset** results: a different dataset, model size and schedule. Absolute mIoUs are
therefore never subtracted from the paper's; each comparison table instead shows the *gain over a
reference row* (e.g. co-training for Table 3) for both, and the difference of those gains.

Every table is built as **cells on one long frame** (``source, table, row, metric, value``;
:func:`results_frame` holds them all) and only then laid out wide (:func:`wide`) and formatted as
text (:func:`for_display`, :func:`table_view`) for the book. The wide frame keeps its cells (as records) in
``attrs["cells"]`` and each column's (source, metric) in ``attrs["columns"]``, so formatting reads
what a number is from those fields, not from its display text.
"""

from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path

import pandas as pd
import yaml

from ..config import SWITCHES, Config, make_config
from ..experiments import grid

PAPER_RESULTS_PATH = Path(__file__).with_name("paper_results.yaml")
#: Column prefix of every number measured here; the book labels it "built-in dataset".
OURS = "ours (built-in)"
PAPER = "paper"
#: the long frame's sources and how the wide layout labels them ("ours - paper": a difference of gains)
SOURCES = {"ours": OURS, "paper": PAPER, "ours - paper": ""}
LONG_COLUMNS = ["source", "table", "row", "metric", "value"]
FRACTIONS = ("1/16", "1/8", "1/4", "1/2", "full")
from ..registry import SWITCH_LABELS  # noqa: E402  (re-exported for the notebooks)


@lru_cache(maxsize=1)
def load_paper() -> dict:
    """All transcribed tables, keyed as in the YAML (``table1_voc_classic`` ... ``table5_beta``)."""
    return yaml.safe_load(PAPER_RESULTS_PATH.read_text())


def paper_table(name: str) -> pd.DataFrame:
    """One of the paper's tables as a DataFrame (mIoU %; NaN where the paper has no entry)."""
    tables = load_paper()
    if name not in tables:
        raise KeyError(f"paper table {name!r} is not in {PAPER_RESULTS_PATH.name}; tables: {', '.join(tables)}")
    t = tables[name]
    rows = t["rows"]
    if isinstance(rows, dict):
        return pd.DataFrame.from_dict(rows, orient="index", columns=t["columns"]).astype(float)
    return pd.DataFrame(rows, columns=t["columns"])


def split_sizes() -> pd.DataFrame:
    """Labeled images per fraction in the paper's protocols, read from its column headers
    (``"1/16 (92)"``): VOC 2012 classic (1,464), VOCAug (10,582) and Cityscapes (2,975)."""
    import re

    def sizes(table: str, prefix: str = "") -> dict:
        out = {}
        for col in paper_table(table).columns:
            m = re.fullmatch(rf"{prefix}(\S+) \((\d+)\)", col)
            if m:
                out[m.group(1).lower()] = int(m.group(2))
        return out

    df = pd.DataFrame(
        {
            "VOC 2012 classic (1,464)": sizes("table1_voc_classic"),
            "VOCAug blended (10,582)": sizes("table2_vocaug", "R50 "),
            "Cityscapes (2,975)": sizes("table2_cityscapes", "R50 "),
        }
    )
    return df.reindex(list(FRACTIONS)).astype("Int64")


# --------------------------------------------------------------------------- our stored runs
def seed_free_key(cfg: Config | dict) -> str:
    """The run key with the seed set to 0: runs sharing it differ only by their seed."""
    return make_config(cfg, seed=0).key()


def switch_label(cfg: Config) -> str:
    """``"co-training + strong aug"``: the Table 3 row a resolved config belongs to."""
    on = [SWITCH_LABELS[s] for s in SWITCHES if getattr(cfg, s)]
    return " + ".join(on) if on else "supervised only"


#: the paper's Table 3 abbreviations (MT: mean teacher, SDA / FDA: strong / feature augmentation)
SHORT = (
    ("co-training + ", "+ "),
    ("mutual mean teacher", "mutual MT"),
    ("mean teacher", "MT"),
    ("strong aug", "SDA"),
    ("feature aug", "FDA"),
)


def short_label(label: str) -> str:
    """A Table 3 row label in the paper's abbreviations: "co-training + strong aug" -> "+ SDA"."""
    if not isinstance(label, str) or not label.startswith("co-training"):
        return label
    for old, new in SHORT:
        label = label.replace(old, new)
    return label


def stored_runs(root: str | Path | None = None) -> pd.DataFrame:
    """Every finished run in the store: key, seed-free key, seed, mIoU (%), best mIoU (%)."""
    from ..results import load_result, load_results

    df = load_results(root)
    if df.empty:
        return pd.DataFrame(columns=["key", "seed_free_key", "seed", "miou", "best_miou"])
    out = pd.DataFrame(
        {
            "key": df["key"],
            "seed_free_key": [seed_free_key(load_result(k, root)["config"]) for k in df["key"]],
            "seed": df["seed"].astype(int),
            "miou": 100 * df["miou"].astype(float),
            "best_miou": 100 * df["best_miou"].astype(float),
        }
    )
    return out.reset_index(drop=True)


def grid_runs(names: str | list[str], root: str | Path | None = None) -> pd.DataFrame:
    """One row per (grid config, stored run of it with *any* seed), plus one ``miou=NaN`` row for
    each grid config with no stored run yet ("not yet run").

    Matching ignores the seed, so extra seeds of a sweep config (e.g. from the headline grid)
    count towards its seed spread. Columns: grid, method, split, label (Table 3 row), setting (what
    differs from the method's default: :func:`mkdlib.experiments.setting_label`), gamma, beta, the
    five switches, seed, miou (%), key.
    """
    from ..experiments import setting_label

    names = [names] if isinstance(names, str) else list(names)
    runs = stored_runs(root)
    rows, seen = [], set()
    for name in names:
        for cfg in grid(name):
            sfk = seed_free_key(cfg)
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
                "grid_key": cfg.key(),
            }
            rows += [{**base, **r} for r in _stored_rows(cfg, runs)]
    return pd.DataFrame(rows)


def stored_key(cfg: Config, root: str | Path | None = None, runs: pd.DataFrame | None = None) -> str | None:
    """The results key of the stored run of ``cfg`` (same config and seed), matched as the tables
    match runs (by the key recomputed from each stored config), or None when it is not stored."""
    runs = stored_runs(root) if runs is None else runs
    hit = runs[(runs["seed_free_key"] == seed_free_key(cfg)) & (runs["seed"] == cfg.seed)]
    return None if hit.empty else str(hit["key"].iloc[0])


def _stored_rows(cfg: Config, runs: pd.DataFrame) -> list[dict]:
    """seed, miou, best_miou, key of each stored run of ``cfg`` with any seed (``runs``: from
    :func:`stored_runs`), or one row of NaNs ("not yet run") when there is none."""
    match = runs[runs["seed_free_key"] == seed_free_key(cfg)]
    if match.empty:
        return [{"seed": math.nan, "miou": math.nan, "best_miou": math.nan, "key": None}]
    return [{"seed": r.seed, "miou": r.miou, "best_miou": r.best_miou, "key": r.key} for r in match.itertuples()]


def grid_status(root: str | Path | None = None) -> pd.DataFrame:
    """How many configs of each experiment grid have a stored result (matched as the tables match
    them: by seed-free key and seed)."""
    from ..experiments import GRIDS

    runs = stored_runs(root)
    stored = set(zip(runs["seed_free_key"], runs["seed"].astype(int)))
    rows = []
    for name in GRIDS:
        cfgs = grid(name)
        done = sum((seed_free_key(c), c.seed) in stored for c in cfgs)
        rows.append({"grid": name, "configs": len(cfgs), "stored": done, "missing": len(cfgs) - done})
    return pd.DataFrame(rows)


def seed_summary(runs: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """mean, sd and number of seeds of ``miou`` per group (NaN rows count as 0 runs)."""
    g = runs.groupby(by, sort=False, dropna=False)["miou"]
    return pd.DataFrame({"mean": g.mean(), "sd": g.std(ddof=1), "n": g.count()})


class Cells:
    """One table's numbers as long records (source, table, row, metric, value), in insertion order."""

    def __init__(self, table: str):
        self.table, self.records = table, []

    def add(self, source: str, row, metric: str, value) -> None:
        self.records.append(
            {"source": source, "table": self.table, "row": row, "metric": metric, "value": float(value)}
        )

    def ours(self, summary: pd.DataFrame, rows) -> None:
        """mIoU, sd and seeds (from :func:`seed_summary`) of each row; NaN = not yet run."""
        for row in rows:
            for metric, col in (("mIoU", "mean"), ("sd", "sd"), ("seeds", "n")):
                self.add("ours", row, metric, summary[col].get(row, math.nan))

    def series(self, source: str, metric: str) -> pd.Series:
        return pd.Series(
            {r["row"]: r["value"] for r in self.records if r["source"] == source and r["metric"] == metric},
            dtype=float,
        )

    def gains(self, reference, paper_metric: str, what: str) -> None:
        """Gain over the ``reference`` row, ours (mIoU) and the paper's (``paper_metric``), and their
        difference."""
        ours, theirs = self.series("ours", "mIoU"), self.series("paper", paper_metric)
        for row in list(dict.fromkeys(r["row"] for r in self.records)):
            o = ours.get(row, math.nan) - ours.get(reference, math.nan)
            t = theirs.get(row, math.nan) - theirs.get(reference, math.nan)
            self.add("ours", row, f"gain vs {what}", o)
            self.add("paper", row, f"gain vs {what}", t)
            self.add("ours - paper", row, "difference of gains (ours - paper)", o - t)

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.records, columns=LONG_COLUMNS)


def _label(source: str, text) -> str:
    return f"{SOURCES[source]} {text}" if SOURCES[source] else str(text)


def wide(cells: pd.DataFrame, index_name: str | None = None, by: str = "row") -> pd.DataFrame:
    """The display layout of one table's long cells. ``by="row"``: a row per ``row``, a column per
    (source, metric) labelled "<source> <metric>"; ``by="metric"`` (Table 1): a row per (source,
    row) labelled "<source>: <row>", a column per metric (the label fractions)."""
    if by == "row":
        rows = list(dict.fromkeys(cells["row"]))
        cols = [_label(s, m) for s, m in zip(cells["source"], cells["metric"])]
        kinds, attr = dict(zip(cols, zip(cells["source"], cells["metric"]))), "columns"
        pairs = zip(cells["row"], cols)
    elif by == "metric":
        labels = [f"{SOURCES[s]}: {r}" if SOURCES[s] else str(r) for s, r in zip(cells["source"], cells["row"])]
        rows, cols = list(dict.fromkeys(labels)), list(cells["metric"])
        kinds, attr = dict(zip(labels, zip(cells["source"], cells["row"]))), "rows"
        pairs = zip(labels, cols)
    else:
        raise ValueError(f"by must be 'row' or 'metric', got {by!r}")
    df = pd.DataFrame(math.nan, index=rows, columns=list(dict.fromkeys(cols)), dtype=float)
    for (r, c), v in zip(pairs, cells["value"]):
        df.at[r, c] = v
    df.index.name = index_name
    df.attrs = {"cells": cells.to_dict("records"), attr: kinds}  # plain records: attrs are copied and compared
    return df


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


# --------------------------------------------------------------------------- Tables 1-5 analogues
#: the Table 1 analogue's methods, in its row order
TABLE1_METHODS = ("supervised", "cps", "cps_cutmix", "mkd")
#: its like-for-like row: our MKD gain over MKD's matching baseline minus the paper's over CPS-R101
DIFFERENCE_ROW = "difference of MKD gains (ours vs CPS + CutMix - paper vs CPS-R101)"


def label_fraction_runs(root: str | Path | None = None) -> pd.DataFrame:
    """The Table 1 analogue's runs: the headline and fractions grids without the mean teacher (a
    Table 2 row). Both CPS rows stay: the paper does not say whether its CPS-R101 used CutMix, and
    CPS + CutMix is MKD's matching baseline (MKD trains with CutMix)."""
    runs = grid_runs(["headline", "fractions"], root)
    return runs[runs["method"].isin(TABLE1_METHODS)].reset_index(drop=True)


def table_label_fractions(root: str | Path | None = None) -> pd.DataFrame:
    """Table 1 analogue: mIoU per label fraction. Rows: quantities; columns: fractions.

    Ours: supervised / CPS / CPS + CutMix / MKD on the built-in dataset; the gain of MKD over
    supervised training, over plain CPS and over CPS + CutMix (MKD's matching baseline). Paper:
    Table 1 (VOC 2012 classic, 1,464 images), CPS-R101 and MKD-R50/R101, and MKD-R101's gain over
    CPS-R101 (the paper's co-training baseline; it does not say whether with CutMix).
    """
    runs = label_fraction_runs(root)
    s = seed_summary(runs, ["method", "split"])["mean"]
    ours = {m: pd.Series({f: s.get((m, f), math.nan) for f in FRACTIONS}) for m in TABLE1_METHODS}
    p = paper_table("table1_voc_classic")
    p.columns = list(FRACTIONS)  # the paper's columns are the same fractions, with their sizes
    paper_gain_cps = p.loc["MKD-R101"] - p.loc["CPS-R101"]
    ours_gain_fair = ours["mkd"] - ours["cps_cutmix"]
    rows = (
        ("ours", "supervised", ours["supervised"]),
        ("ours", "CPS", ours["cps"]),
        ("ours", FAIR_REFERENCE, ours["cps_cutmix"]),
        ("ours", "MKD", ours["mkd"]),
        ("ours", "MKD gain vs supervised", ours["mkd"] - ours["supervised"]),
        ("ours", "MKD gain vs CPS", ours["mkd"] - ours["cps"]),
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
    planned = {(c.method, c.split) for g in ("headline", "fractions") for c in grid(g)}
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
    from ..registry import METHOD_INFO

    return METHOD_INFO[method].label if method in METHOD_INFO else method


def table_methods(root: str | Path | None = None) -> pd.DataFrame:
    """Table 2 analogue at 1/16: supervised, mean teacher, CPS, CPS + CutMix, MKD (mean, sd over seeds).

    Paper: Table 2, VOCAug 1/16 (662 labels) and Cityscapes 1/16 (186 labels), ResNet-50. Gains
    are over **CPS + CutMix**, MKD's matching baseline (MKD uses CutMix; ours: CPS with the
    ``cps_cutmix`` preset, co-training + strong augmentation: one photometric op + CutMix, the
    nearest to the paper's CPS w/ CutMix).
    """
    runs = grid_runs(["headline", "methods"], root)
    runs = runs[runs["split"] == "1/16"]
    runs = runs.assign(row=[method_label(m) for m in runs["method"]])
    voc, city = paper_table("table2_vocaug"), paper_table("table2_cityscapes")
    cells = Cells("Table 2")
    cells.ours(seed_summary(runs, ["row"]), METHOD_ROWS)
    for row, paper_row in METHOD_ROWS.items():
        cells.add("paper", row, "VOCAug R50 1/16", voc.loc[paper_row, "R50 1/16 (662)"] if paper_row else math.nan)
        cells.add("paper", row, "Cityscapes R50 1/16", city.loc[paper_row, "R50 1/16 (186)"] if paper_row else math.nan)
    cells.gains(FAIR_REFERENCE, "VOCAug R50 1/16", FAIR_REFERENCE)
    return wide(cells.frame())


def paper_mkd_gains() -> pd.DataFrame:
    """The paper's MKD gain in every column of Table 2 (VOCAug with CPS's splits, Cityscapes; R50,
    R101; 1/16 ... 1/2), over CPS and over CPS w/ CutMix, the fair reference for an MKD that
    trains with CutMix. Long format: one row per (dataset, backbone, labels)."""
    import re

    rows = []
    for dataset, name in (("VOCAug", "table2_vocaug"), ("Cityscapes", "table2_cityscapes")):
        t = paper_table(name)
        for col in t.columns:
            backbone, labels = re.fullmatch(r"(R\d+) (.+)", col).groups()
            mkd, cps, cut = (t.loc[r, col] for r in ("MKD", "CPS", "CPS-with-CutMix"))
            rows.append(
                {
                    "dataset": dataset,
                    "backbone": backbone,
                    "labels": labels,
                    "MKD": mkd,
                    "CPS": cps,
                    "CPS w/ CutMix": cut,
                    "MKD gain vs CPS w/ CutMix (fair)": mkd - cut,
                    "MKD gain vs CPS (no CutMix)": mkd - cps,
                }
            )
    return pd.DataFrame(rows).set_index(["dataset", "backbone", "labels"])


def table_ablation(root: str | Path | None = None) -> pd.DataFrame:
    """Table 3 analogue: co-training plus switches, at 1/16. Paper: VOCAug 1/16, ResNet-50."""
    runs = grid_runs("ablation", root)
    s = seed_summary(runs, ["label"])
    from ..registry import RENAMED_FIELDS

    paper = paper_table("table3_ablation").rename(columns=RENAMED_FIELDS)  # the transcription says mean_teacher
    paper_label = {
        switch_label(make_config(**{k: bool(r[k]) for k in SWITCHES})): r["miou"] for _, r in paper.iterrows()
    }
    labels = list(dict.fromkeys(runs["label"]))
    cells = Cells("Table 3")
    cells.ours(s, labels)
    for label in labels:
        cells.add("paper", label, "mIoU (VOCAug R50)", paper_label.get(label, math.nan))
    cells.gains("co-training", "mIoU (VOCAug R50)", "co-training")
    return wide(cells.frame(), "switches on")


def table_sweep(param: str, root: str | Path | None = None, method: str = "mkd") -> pd.DataFrame:
    """Table 4 (``param="gamma"``, the EMA weight of Eq. 1) or Table 5 (``"beta"``, the weight of
    L_ss in Eq. 4, alpha = 1.5) analogue for ``method``'s runs of the grid; gains are over the
    smallest value (0: no EMA memory / no student-student term). Paper: VOCAug 1/16, ResNet-50 and
    ResNet-101."""
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
    for v in values:
        for backbone in ("R50", "R101"):
            cells.add("paper", v, backbone, paper[backbone].get(v, math.nan))
    cells.gains(values[0], "R50", f"{param}={values[0]:g}")
    return wide(cells.frame(), param)


def reference_setting(what: str) -> str:
    """The diagnosis table's row of a reference method (``method_label``) run with the paper's settings."""
    return f"{what} (paper's settings)"


def diagnosis_runs(root: str | Path | None = None) -> pd.DataFrame:
    """Stored runs of the diagnosis grid and of its references (MKD and CPS + CutMix, its matching
    baseline, with the paper's settings; headline grid, all seeds): setting, seed, miou, best_miou
    (%), key; one ``miou=NaN`` row per setting not yet run."""
    from ..config import base_config, resolve

    default = resolve(base_config(method="mkd"))
    runs = stored_runs(root)

    def value(v) -> str:
        if isinstance(v, str):
            return v
        return ("on" if v else "off") if isinstance(v, bool) else f"{v:g}"

    def label(cfg: Config) -> str:
        changed = [
            f"{k} {value(getattr(default, k))} -> {value(getattr(cfg, k))}"
            for k in ("cps_targets", "cutmix", "alpha", "threshold", "fa_lambda")
            if getattr(cfg, k) != getattr(default, k)
        ]
        return "MKD, " + ", ".join(changed)

    references = sorted(
        (c for c in grid("headline") if c.split == "1/16" and c.seed == 0 and c.method in ("mkd", "cps_cutmix")),
        key=lambda c: c.method != "mkd",
    )  # MKD, then CPS + CutMix
    rows = []
    for cfg in references:
        rows += [{"setting": reference_setting(method_label(cfg.method)), **r} for r in _stored_rows(cfg, runs)]
    for cfg in grid("diagnosis"):
        rows += [{"setting": label(cfg), **r} for r in _stored_rows(cfg, runs)]
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
    mean = cells.series("ours", "mIoU")
    for what in ("MKD", FAIR_REFERENCE):
        ref = reference_setting(what)
        for setting in settings:
            cells.add("ours", setting, f"gain vs {what}", mean[setting] - mean.get(ref, math.nan))
    return wide(cells.frame(), "setting")


def seed_curves(runs: pd.DataFrame, label: str, seed: int = 0, root: str | Path | None = None) -> dict:
    """``{row label: metrics.jsonl records}`` of the stored runs with ``seed`` in a runs table
    (:func:`grid_runs`, :func:`diagnosis_runs`), for :func:`mkdlib.viz.plot_miou_curves`."""
    from ..results import load_curves

    done = runs[(runs["seed"] == seed) & runs["key"].notna()]
    return {getattr(r, label): load_curves(r.key, root) for r in done.itertuples()}


def error_breakdown(runs: pd.DataFrame, label: str = "label", root: str | Path | None = None) -> pd.DataFrame:
    """Does a method fail to *find* objects or to *name* them? Per row label of a runs table
    (:func:`grid_runs`, :func:`diagnosis_runs`): mIoU and :func:`mkdlib.evaluate.object_scores`
    of each stored run's final confusion matrix (%), averaged over its seeds."""
    from ..evaluate import object_scores
    from ..results import load_result

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
            scores = object_scores(load_result(r.key, root)["final"]["confusion"])
        rows.append({"row": getattr(r, label), "mIoU": r.miou, **{names[k]: 100 * v for k, v in scores.items()}})
    means = pd.DataFrame(rows).groupby("row", sort=False).mean()
    seeds = runs.groupby(label, sort=False)["miou"].count()
    cells = Cells("error breakdown")
    for row in means.index:
        cells.add("ours", row, "seeds", seeds[row])
        for metric in means.columns:
            cells.add("ours", row, metric, means.at[row, metric])
    return wide(cells.frame())


def for_display(df: pd.DataFrame, digits: int = 2) -> pd.DataFrame:
    """Numbers as text: our missing runs read "not yet run"; the paper's gaps, one-seed standard
    deviations and cells no experiment grid plans (``df.attrs["not_in_grid"]``) read "—"; gains and
    differences carry a sign; text cells are kept."""
    out = df.copy().astype(object)
    not_in_grid = set(df.attrs.get("not_in_grid", ()))
    for idx in df.index:
        for col in df.columns:
            v = df.at[idx, col]
            if isinstance(v, str):  # a label (e.g. a verdict) stays as it is
                continue
            source, quantity = cell_kind(df, idx, col)
            if (idx, col) in not_in_grid:
                out.at[idx, col] = "—"
            elif isinstance(v, float) and math.isnan(v):
                out.at[idx, col] = "not yet run" if source == "ours" and quantity != "sd" else "—"
            elif quantity == "seeds":
                out.at[idx, col] = f"{int(v)}"
            elif source == "ours - paper" or quantity.startswith("gain") or " gain vs " in quantity:
                out.at[idx, col] = f"{v:+.{digits}f}"
            else:
                out.at[idx, col] = f"{v:.{digits}f}"
    return out


def cell_kind(df: pd.DataFrame, idx, col) -> tuple[str, str]:
    """(source, quantity) of a cell of a wide table: from the layout's ``attrs`` (:func:`wide`);
    for a frame built by hand, from a column label "<source> <quantity>" ("ours (built-in) gain")."""
    if col in df.attrs.get("columns", {}):
        return df.attrs["columns"][col]
    if idx in df.attrs.get("rows", {}):
        return df.attrs["rows"][idx]
    text = str(col)
    for source, shown in SOURCES.items():
        if shown and text.startswith(shown + " "):
            return source, text[len(shown) + 1 :]
    return ("ours - paper" if text.startswith("difference") else ""), text


# --------------------------------------------------------------------------- do the effects reproduce?
def seed_noise_sd(root: str | Path | None = None) -> float:
    """Pooled standard deviation (mIoU points) between seeds of the same config, from the headline
    grid's repeated seeds: the yardstick for whether a one-seed sweep difference means anything."""
    runs = grid_runs("headline", root).dropna(subset=["miou"])
    groups = [g["miou"] for _, g in runs.groupby("grid_key") if len(g) >= 2]
    dof = sum(len(g) - 1 for g in groups)
    return math.sqrt(sum((len(g) - 1) * g.var(ddof=1) for g in groups) / dof) if dof else math.nan


def effect_directions(root: str | Path | None = None, z: float = 2.0) -> pd.DataFrame:
    """Each effect the paper reports in Tables 2-5, measured here: our gain over the table's
    reference row beside the paper's, and whether it reproduces. Table 2's reference is CPS +
    CutMix, the matching baseline of an MKD that trains with CutMix.

    ``noise`` is ``z`` standard deviations of a difference of two means,
    ``z * sd * sqrt(1/n_row + 1/n_ref)`` with ``sd`` = :func:`seed_noise_sd`. Verdict (:func:`_judge`):
    "same direction" / "opposite direction" when our gain is larger than the noise (or, where the
    paper's gain is 0, "beyond seed noise (paper: no change)"), "within seed noise" otherwise, "not
    yet run" when either run is missing. Table 1 has no like-for-like gain beyond
    1/16 (no CPS at other fractions here, no supervised row in the paper), so it is left out.
    """
    sd = seed_noise_sd(root)
    specs = [
        ("Table 2", table_methods(root), FAIR_REFERENCE, FAIR_REFERENCE),
        ("Table 3", table_ablation(root), "co-training", "co-training"),
        ("Table 4", table_sweep("gamma", root), None, "gamma=0"),
        ("Table 5", table_sweep("beta", root), None, "beta=0"),
    ]
    rows = []
    for name, t, ref, what in specs:
        ref = t.index[0] if ref is None else ref
        ours, theirs, seeds = t[f"{OURS} gain vs {what}"], t[f"{PAPER} gain vs {what}"], t[f"{OURS} seeds"]

        def label(i) -> str:
            return f"{t.index.name} = {i:g}" if isinstance(i, float) else str(i)

        for idx in t.index:
            if idx == ref or math.isnan(theirs[idx]):
                continue
            n_row, n_ref = seeds[idx], seeds[ref]
            noise, gain = _noise(sd, n_row, n_ref, z), ours[idx]
            rows.append(
                {
                    "table": name,
                    "effect": label(idx),
                    "reference": label(ref),
                    f"{OURS} gain": gain,
                    f"{PAPER} gain": theirs[idx],
                    "noise (±)": noise,
                    "verdict": _judge(gain, noise, theirs[idx]),
                }
            )
    return pd.DataFrame(rows).set_index(["table", "effect"])


# --------------------------------------------------------------------------- the verdict and what to notice
NO_RUNS = "no stored runs yet"
NO_CHANGE_IN_PAPER = "beyond seed noise (paper: no change)"


def _noise(sd: float, n_a, n_b, z: float = 2.0) -> float:
    """``z`` standard deviations of a difference of two means of ``n_a`` and ``n_b`` seeds."""
    if not n_a or not n_b or (isinstance(sd, float) and math.isnan(sd)):
        return math.nan
    return z * sd * math.sqrt(1 / n_a + 1 / n_b)


def _judge(gain: float, noise: float, paper_gain: float | None = None) -> str:
    """ "not yet run" / "within seed noise" / "same direction" / "opposite direction" (as the
    paper's gain; without one: "beyond seed noise"; where the paper's gain is 0, it has no
    direction: "beyond seed noise (paper: no change)")."""
    if gain is None or math.isnan(gain):
        return "not yet run"
    if math.isnan(noise) or abs(gain) < noise:
        return "within seed noise"
    if paper_gain is None or math.isnan(paper_gain):
        return "beyond seed noise"
    if paper_gain == 0:
        return NO_CHANGE_IN_PAPER
    return "same direction" if math.copysign(1, gain) == math.copysign(1, paper_gain) else "opposite direction"


def _mean_sd(mean: float, sd: float, n) -> str:
    if math.isnan(mean):
        return "not yet run"
    return f"{mean:.1f} ± {sd:.1f}" if n and n >= 2 and not math.isnan(sd) else f"{mean:.1f} (one seed)"


def headline_summary(root: str | Path | None = None) -> pd.DataFrame:
    """The intro's table: each headline method at 1/16 of the labels (and supervised training with
    all labels), ours as mean ± sd over its stored seeds, beside the paper's Table 2 (ResNet-50,
    1/16). Columns under two header rows: ("ours (built-in)", "mIoU" / "seeds"), ("paper, R50",
    "VOCAug" / "Cityscapes")."""
    t = table_methods(root)
    full = (
        seed_summary(grid_runs("headline", root).query("split == 'full'"), ["method"]).reindex(["supervised"]).iloc[0]
    )
    ours, paper_voc, paper_city = (OURS, "mIoU ± sd"), (f"{PAPER}, R50", "VOCAug"), (f"{PAPER}, R50", "Cityscapes")
    rows = {
        label: {
            ours: _mean_sd(r[f"{OURS} mIoU"], r[f"{OURS} sd"], r[f"{OURS} seeds"]),
            (OURS, "seeds"): int(r[f"{OURS} seeds"]),
            paper_voc: r[f"{PAPER} VOCAug R50 1/16"],
            paper_city: r[f"{PAPER} Cityscapes R50 1/16"],
        }
        for label, r in t.iterrows()
    }
    rows["supervised only, all labels"] = {
        ours: _mean_sd(full["mean"], full["sd"], full["n"]),
        (OURS, "seeds"): int(full["n"]),
        paper_voc: math.nan,
        paper_city: math.nan,
    }
    df = pd.DataFrame.from_dict(rows, orient="index")
    df.columns = pd.MultiIndex.from_tuples(df.columns)
    for col in (paper_voc, paper_city):
        df[col] = [f"{v:.2f}" if not math.isnan(v) else "—" for v in df[col]]
    df.index.name = "method (1/16 of the labels)"
    return df


def verdict(root: str | Path | None = None, z: float = 2.0) -> str:
    """Three sentences, generated from the stored runs and the paper's Table 2: which method is
    best here, whether MKD's gain over its matching baseline exceeds ``z`` sd of the seed noise,
    and whether the paper's gain (over CPS w/ CutMix) reproduces in direction."""
    t = table_methods(root)
    mean, sd_, n = t[f"{OURS} mIoU"], t[f"{OURS} sd"], t[f"{OURS} seeds"]
    p_voc = t.loc["MKD", f"{PAPER} VOCAug R50 1/16"] - t.loc[FAIR_REFERENCE, f"{PAPER} VOCAug R50 1/16"]
    p_city = t.loc["MKD", f"{PAPER} Cityscapes R50 1/16"] - t.loc[FAIR_REFERENCE, f"{PAPER} Cityscapes R50 1/16"]
    paper_sentence = (
        f"The paper reports MKD {p_voc:+.2f} points above CPS with CutMix on VOCAug and "
        f"{p_city:+.2f} on Cityscapes (ResNet-50, 1/16 of the labels)"
    )
    if mean.notna().sum() == 0:
        return (
            f"**{NO_RUNS.capitalize()}**: the results store holds none of the headline runs, so this "
            "book cannot yet say which method is best on the built-in dataset "
            "(`python -m mkdlib.experiments headline` trains them). "
            f"{paper_sentence}; whether that gain reproduces here is open until those runs exist."
        )
    best = mean.idxmax()
    first = (
        f"On the built-in dataset with 1/16 of the labels, **{best}** scores highest: "
        f"{_mean_sd(mean[best], sd_[best], n[best])} mIoU ({int(n[best])} seed{'s' if n[best] != 1 else ''})"
    )
    if best != "MKD":
        first += f"; MKD scores {_mean_sd(mean['MKD'], sd_['MKD'], n['MKD'])}"
    first += "."
    gain = mean["MKD"] - mean[FAIR_REFERENCE]
    noise = _noise(seed_noise_sd(root), n["MKD"], n[FAIR_REFERENCE], z)
    judged = _judge(gain, noise, p_voc)
    if judged == "not yet run":
        second = (
            f"MKD's gain over {FAIR_REFERENCE}, its matching baseline (both train with CutMix), cannot "
            "be measured yet: one of the two is not yet run."
        )
    elif math.isnan(noise):
        second = (
            f"MKD's gain over {FAIR_REFERENCE}, its matching baseline (both train with CutMix), is "
            f"{gain:+.1f} points, but without repeated seeds there is no seed noise to judge it against."
        )
    else:
        second = (
            f"MKD's gain over {FAIR_REFERENCE}, its matching baseline (both train with CutMix), is "
            f"{gain:+.1f} points, {'more' if abs(gain) >= noise else 'less'} than {z:g} sd of the seed "
            f"noise (±{noise:.1f}): {'a real difference at this scale' if abs(gain) >= noise else 'the two cannot be told apart'}."
        )
    outcome = {
        "same direction": "here that gain reproduces in direction",
        "opposite direction": "here MKD falls behind instead",
        "within seed noise": "here the difference is within the seed noise",
        NO_CHANGE_IN_PAPER: "here the two differ beyond the seed noise",
        "not yet run": "here it is not yet measured",
    }[judged]
    return f"{first} {second} {paper_sentence}; {outcome}."


def what_to_notice(text: str) -> str:
    return f"**What to notice.** {text}"


def format_gain(v: float) -> str:
    return "not yet run" if math.isnan(v) else f"{v:+.1f}"


def notice_label_fractions(t1: pd.DataFrame) -> str:
    """What to notice in the Table 1 analogue, from its numbers."""
    sup, mkd = t1.loc[f"{OURS}: supervised"], t1.loc[f"{OURS}: MKD"]
    pg = t1.loc[f"{PAPER}: MKD-R101 gain vs CPS-R101"]
    paper = (
        f"The paper's MKD-R101 gains over CPS-R101 from {pg['1/16']:+.2f} points at 1/16 to "
        f"{pg['1/2']:+.2f} at 1/2: unlabeled images help most when labels are scarce."
    )
    if sup.notna().sum() == 0 and mkd.notna().sum() == 0:
        return what_to_notice(f"{NO_RUNS.capitalize()} for the label-fraction grid. {paper}")
    parts = []
    if sup.notna().sum() >= 2:
        lo, hi = sup.first_valid_index(), sup.last_valid_index()
        parts.append(f"Labels help supervised training by {sup[hi] - sup[lo]:+.1f} points from {lo} to {hi}.")
    both = [f for f in t1.columns if not math.isnan(sup[f]) and not math.isnan(mkd[f])]
    if both:
        above = [f for f in both if mkd[f] > sup[f]]
        gaps = {f: mkd[f] - sup[f] for f in both}
        worst = min(gaps, key=gaps.get)
        parts.append(
            f"MKD is above supervised training at {len(above)} of {len(both)} fractions where both ran "
            f"(gap from {min(gaps.values()):+.1f} at {worst} to {max(gaps.values()):+.1f}; one seed "
            "except at 1/16)."
        )
    fair, plain = t1.loc[f"{OURS}: MKD gain vs {FAIR_REFERENCE}", "1/16"], t1.loc[f"{OURS}: MKD gain vs CPS", "1/16"]
    if not math.isnan(fair):
        parts.append(
            f"At 1/16 MKD is {fair:+.1f} points against {FAIR_REFERENCE}, its matching baseline (both train "
            f"with CutMix), and {format_gain(plain)} against plain CPS."
        )
    return what_to_notice(" ".join(parts + [paper]))


def notice_methods(t2: pd.DataFrame, root: str | Path | None = None, z: float = 2.0) -> str:
    """What to notice in the Table 2 analogue: the best method, MKD against its matching baseline
    (CPS + CutMix) and the paper's fair and unfair MKD gains."""
    mean, n = t2[f"{OURS} mIoU"], t2[f"{OURS} seeds"]
    voc = t2[f"{PAPER} VOCAug R50 1/16"]
    paper = (
        f"In the paper MKD leads CPS w/ CutMix by {voc['MKD'] - voc[FAIR_REFERENCE]:+.2f} points on VOCAug "
        f"(the fair reference: both use CutMix); against CPS without CutMix the same table gives "
        f"{voc['MKD'] - voc['CPS (co-training)']:+.2f}, a gain that is mostly CutMix's."
    )
    if mean.notna().sum() == 0:
        return what_to_notice(f"{NO_RUNS.capitalize()} for the method comparison. {paper}")
    best = mean.idxmax()
    gain = mean["MKD"] - mean[FAIR_REFERENCE]
    noise = _noise(seed_noise_sd(root), n["MKD"], n[FAIR_REFERENCE], z)
    judged = _judge(gain, noise, voc["MKD"] - voc[FAIR_REFERENCE])
    ours = f"Here {best} scores highest ({mean[best]:.1f}). MKD against CPS + CutMix: {format_gain(gain)} points"
    ours += (
        ""
        if judged == "not yet run"
        else (
            f" ({judged}; noise ±{noise:.1f})."
            if not math.isnan(noise)
            else " (one seed: no seed noise to judge it by)."
        )
    )
    return what_to_notice(f"{ours} {paper}")


def notice_gains_vs_reference(t: pd.DataFrame, what: str, root: str | Path | None = None, z: float = 2.0) -> str:
    """What to notice in a table with gains over a reference row (Tables 3-5): which of our gains
    exceed the seed noise, and in which direction compared with the paper's."""
    ours, paper, n = t[f"{OURS} gain vs {what}"], t[f"{PAPER} gain vs {what}"], t[f"{OURS} seeds"]
    ref = t.index[(t[f"{OURS} gain vs {what}"].fillna(1) == 0) | (t[f"{PAPER} gain vs {what}"].fillna(1) == 0)]
    ref = ref[0] if len(ref) else t.index[0]
    sd = seed_noise_sd(root)
    verdicts = {}
    for idx in t.index:
        if idx == ref or math.isnan(paper[idx]):
            continue
        verdicts[idx] = _judge(ours[idx], _noise(sd, n[idx], n[ref], z), paper[idx])
    p_best = t[f"{PAPER} gain vs {what}"].idxmax()
    label = (lambda i: f"{t.index.name} = {i:g}") if t.index.dtype.kind == "f" else str
    paper_text = (
        f"The paper's best row is {label(p_best)} ({paper[p_best]:+.2f} over {label(ref)}); its gains "
        f"span {paper.drop(ref).min():+.2f} to {paper.drop(ref).max():+.2f} points."
    )
    done = {k: v for k, v in verdicts.items() if v != "not yet run"}
    if not done:
        return what_to_notice(
            f"{NO_RUNS.capitalize()} beyond the reference row, so no effect can be judged yet. {paper_text}"
        )
    phrase = {
        "same direction": "in the paper's direction",
        "opposite direction": "against the paper's direction",
        "within seed noise": "within the seed noise",
        NO_CHANGE_IN_PAPER: "beyond the noise where the paper's row changes nothing",
    }
    counts = pd.Series(done).value_counts()
    summary = ", ".join(f"{c} {phrase[v]}" for v, c in counts.items())
    o_best = ours.drop(ref).idxmax() if ours.drop(ref).notna().any() else None
    best = (
        ""
        if o_best is None
        else f" Our best row is {label(o_best)} ({ours[o_best]:+.1f} over {label(ref)})."
        if ours[o_best] > 0
        else f" No row run here beats {label(ref)}; the closest is {label(o_best)} ({ours[o_best]:+.1f})."
    )
    return what_to_notice(
        f"Of {len(done)} rows run here, judged against {z:g} sd of the seed noise: {summary}.{best} {paper_text}"
    )


def notice_effects(effects: pd.DataFrame) -> str:
    """What to notice in the summary of effects."""
    v = effects["verdict"].value_counts()
    done = int(v.drop("not yet run", errors="ignore").sum())
    if not done:
        return what_to_notice(f"{NO_RUNS.capitalize()}: no effect of Tables 2-5 can be judged yet.")
    same, opposite = int(v.get("same direction", 0)), int(v.get("opposite direction", 0))
    flat = int(v.get(NO_CHANGE_IN_PAPER, 0))
    flat_text = f", {flat} change beyond the noise where the paper shows no change" if flat else ""
    return what_to_notice(
        f"Of {done} effects measured here, {same} reproduce the paper's direction beyond the seed "
        f"noise, {opposite} go the opposite way{flat_text}, and {int(v.get('within seed noise', 0))} are "
        "within the noise. The absolute scale differs too much for this to say anything about VOC: it says "
        "whether this built-in dataset, at this budget, is a regime where MKD's parts help."
    )


def notice_breakdown(df: pd.DataFrame, chance: float | None = None) -> str:
    """What to notice in an error breakdown (:func:`error_breakdown`): finding vs naming."""
    rec, acc = f"{OURS} object recall", f"{OURS} class accuracy"
    done = df.dropna(subset=[rec])
    if done.empty:
        return what_to_notice(f"{NO_RUNS.capitalize()}: no confusion matrix to split yet.")
    lo, hi = done[rec].idxmin(), done[rec].idxmax()
    best_acc = done[acc].idxmax()
    text = (
        f"*Finding*: object recall ranges from {done.loc[lo, rec]:.0f} % ({lo}) to {done.loc[hi, rec]:.0f} % "
        f"({hi}). *Naming*: class accuracy on the objects found is highest for {best_acc} "
        f"({done.loc[best_acc, acc]:.0f} %)"
    )
    text += f", against {100 * chance:.0f} % by chance." if chance else "."
    return what_to_notice(text)


def notice_diagnosis(t: pd.DataFrame, root: str | Path | None = None, z: float = 2.0) -> str:
    """What to notice in the diagnosis table: does any single change make MKD beat its matching
    baseline, CPS + CutMix, here, beyond the seed noise of a one-seed row against the reference?"""
    col, ref = f"{OURS} gain vs {FAIR_REFERENCE}", reference_setting(FAIR_REFERENCE)
    changes = t.drop(index=[reference_setting("MKD"), ref], errors="ignore")
    done = changes[col].dropna()
    if done.empty or ref not in t.index or math.isnan(t.loc[ref, f"{OURS} mIoU"]):
        return what_to_notice(f"{NO_RUNS.capitalize()} for the diagnosis grid or its {FAIR_REFERENCE} reference.")
    best = done.idxmax()
    beat = int((done > 0).sum())
    seeds = t[f"{OURS} seeds"]
    noise = _noise(seed_noise_sd(root), seeds[best], seeds[ref], z)
    yardstick = (
        "No config has two seeds yet, so there is no seed noise to judge it by."
        if math.isnan(noise)
        else f"One seed per change: against {FAIR_REFERENCE}'s {seeds[ref]:g} seed(s), {z:g} sd of seed "
        f"noise is ±{noise:.1f} points, so the best change is {_judge(done[best], noise)}."
    )
    return what_to_notice(
        f"{beat} of {len(done)} changes put MKD above {FAIR_REFERENCE}; the best is {best} "
        f"({done[best]:+.1f} against {FAIR_REFERENCE}, {changes.loc[best, f'{OURS} gain vs MKD']:+.1f} "
        f"against MKD with the paper's settings). {yardstick}"
    )


def notice_ranking(mious: dict[str, float], what: str = "here") -> str:
    """What to notice in a side-by-side of stored runs (label -> mIoU %, NaN = not stored): the
    best run and where MKD stands."""
    done = {k: v for k, v in mious.items() if v is not None and not math.isnan(v)}
    if not done:
        return what_to_notice(f"{NO_RUNS.capitalize()} {what}: the curves and bars appear once the runs are stored.")
    ranked = sorted(done, key=done.get, reverse=True)
    text = f"{ranked[0]} scores highest {what} ({done[ranked[0]]:.1f} mIoU)"
    mkd = next((k for k in ranked if k.startswith("MKD")), None)
    if mkd and mkd != ranked[0]:
        text += f"; MKD ranks {ranked.index(mkd) + 1} of {len(ranked)}, {done[ranked[0]] - done[mkd]:.1f} points behind"
    elif mkd:
        text += f", {done[mkd] - done[ranked[1]]:+.1f} points ahead of {ranked[1]}" if len(ranked) > 1 else ""
    missing = [k for k, v in mious.items() if k not in done]
    text = text[0].upper() + text[1:] + "." + (f" Not yet run: {', '.join(missing)}." if missing else "")
    return what_to_notice(
        text + " One seed per row: a difference smaller than the seed spread of the tables chapter says nothing."
    )


def notice_run(result: dict, curves: list[dict]) -> str:
    """What to notice in one training run: final against best evaluation, and its weakest class."""
    final, best = 100 * result["final"]["miou"], 100 * result["best_miou"]
    ev = [c for c in curves if c.get("miou") is not None]
    at = max(ev, key=lambda c: c["miou"])["iter"] if ev else None
    text = f"The final mIoU is {final:.1f}; the best evaluation during training was {best:.1f}"
    text += f" (iteration {at})" if at is not None else ""
    text += (
        f": the run peaked and then lost {best - final:.1f} points."
        if best - final >= 1.0
        else ": the run ended near its best."
    )
    ious = result["final"].get("per_class_iou") or []
    names = result.get("class_names") or [str(i) for i in range(len(ious))]
    scored = [(n, v) for n, v in zip(names, ious) if v is not None]
    if scored:
        (lo_n, lo_v), (hi_n, hi_v) = min(scored, key=lambda t: t[1]), max(scored, key=lambda t: t[1])
        text += f" Per class, IoU ranges from {100 * lo_v:.1f} ({lo_n}) to {100 * hi_v:.1f} ({hi_n})."
    return what_to_notice(text)


def notice_qualitative(scores: pd.DataFrame, baseline: str = "CPS", method: str = "MKD") -> str:
    """What to notice in the qualitative figures: on how many images ``method`` beats ``baseline``."""
    if scores is None or scores.empty:
        return what_to_notice(
            f"{NO_RUNS.capitalize()} for this comparison: the overlays appear once both runs are stored."
        )
    better, worse = int((scores[method] > scores[baseline]).sum()), int((scores[method] < scores[baseline]).sum())
    mean_gain = 100 * (scores[method] - scores[baseline]).mean()
    return what_to_notice(
        f"{method} is better than {baseline} on {better} of {len(scores)} validation images and worse on "
        f"{worse} (mean per-image mIoU change {mean_gain:+.1f} points, built-in dataset). The chosen "
        "and most-improved rows flatter whichever method they are picked for; the most-worsened rows "
        "are the counterweight."
    )


def flat_index(df: pd.DataFrame) -> pd.DataFrame:
    """One row label per row ("VOCAug R50 1/16 (662)") instead of a sparse multi-level index."""
    out = df.copy()
    if isinstance(out.index, pd.MultiIndex):
        out.index = [" ".join(str(v) for v in t) for t in out.index]
    return out


def compact(shown: pd.DataFrame) -> pd.DataFrame:
    """Our mean and sd in one column, "24.22 ± 0.79" (``shown``: :func:`for_display` output; a
    one-seed sd "—" leaves the mean alone)."""
    mean, sd = f"{OURS} mIoU", f"{OURS} sd"
    if mean not in shown.columns or sd not in shown.columns:
        return shown
    out = shown.copy()
    out[mean] = [m if s_ in ("—", "") or m == "not yet run" else f"{m} ± {s_}" for m, s_ in zip(out[mean], out[sd])]
    out = out.drop(columns=sd).rename(columns={mean: f"{OURS} mIoU ± sd"})
    out.attrs = {
        **shown.attrs,
        "columns": {**shown.attrs.get("columns", {}), f"{OURS} mIoU ± sd": ("ours", "mIoU ± sd")},
    }
    return out


def table_view(df: pd.DataFrame, digits: int = 2) -> pd.DataFrame:
    """A results table as the book shows it: :func:`for_display`, then :func:`compact`, then
    :func:`tidy` (two short header rows instead of one long one)."""
    return tidy(compact(for_display(df, digits)))


def tidy(df: pd.DataFrame) -> pd.DataFrame:
    """Columns grouped under two header rows ("ours (built-in)", "paper", ...) so that each header
    cell is short: "ours (built-in) mIoU" becomes ("ours (built-in)", "mIoU")."""

    def split(col) -> tuple[str, str]:
        source, quantity = cell_kind(df, None, col)
        if source in ("ours", "paper"):
            return SOURCES[source], quantity.replace(" R50 1/16", "")
        return "", str(col)

    out = df.copy()
    if not isinstance(out.columns, pd.MultiIndex):
        groups = [split(c) for c in out.columns]
        order = sorted(range(len(groups)), key=lambda i: {OURS: 0, PAPER: 1}.get(groups[i][0], 2))  # stable
        out = out.iloc[:, order]
        out.columns = pd.MultiIndex.from_tuples([groups[i] for i in order])
    return out
