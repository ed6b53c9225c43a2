"""The book's index of every experiment (the experiments page; it reads ``configs/paper/`` of the
checkout, so it lives with the book, not in the installed library): each config of ``configs/paper/`` and each config of the built-in
grids (:mod:`mkdlib.experiments`), with where its number goes, the exact command that runs it, and
the GPU time it would take.

GPU time is an **estimate** until a GPU run measures it: the FLOPs of one training step (counted by
``torch.utils.flop_counter.FlopCounterMode`` on the config's DeepLabV3+ at a small crop, then scaled
by pixel count), times the iterations and processes, divided by a stated share
(:data:`GPU`) of a stated GPU's peak. Counted: the students' forward and backward (3x a forward),
the teachers' forwards. Not counted: evaluation, data loading, the EMA and optimiser updates. A
stored result of the config that ran on CUDA replaces the estimate by the measured GPU-hours.
"""

from __future__ import annotations

import html
import importlib.util
import math
from functools import cache
from pathlib import Path

import pandas as pd

from mkdlib.config import Config, base_config, make_config, resolve
from mkdlib.data.registry import dataset_info
from mkdlib.io import REPO_ROOT as REPO
from mkdlib.results import estimate_cpu_seconds

PAPER_CONFIGS = REPO / "configs" / "paper"
#: The GPU the estimate assumes (the paper trained on four A100s) and the share of its peak a
#: DeepLabV3+ training step sustains (bf16, channels_last; a stated assumption, not a measurement).
GPU = {"name": "NVIDIA A100", "peak_tflops": 312.0, "precision": "bf16 dense", "utilisation": 0.35}
PROBE_CROP = 64
#: the class count of a dataset that reads it from its data (folder): VOC's
FALLBACK_CLASSES = 21
#: processes a paper config is launched on (its header: torchrun --nproc_per_node 4)
PAPER_GPUS = 4
BUILT_IN_COMMAND = "python -m mkdlib train --config configs/synthetic/mkd.yaml"


def _generator():
    spec = importlib.util.spec_from_file_location("paper_generate", PAPER_CONFIGS / "generate.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    return gen


@cache
def forward_flops(
    encoder: str,
    output_stride: int,
    decoder_channels: int,
    atrous_rates: tuple[int, ...],
    num_classes: int,
    crop: int = PROBE_CROP,
) -> float:
    """FLOPs of one DeepLabV3+ forward of one ``crop`` x ``crop`` image (cached per architecture)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from mkdlib.models import ModelSpec, build_model

    model = build_model(
        ModelSpec(
            encoder=encoder,
            num_classes=num_classes,
            encoder_weights=None,
            output_stride=output_stride,
            decoder_channels=decoder_channels,
            atrous_rates=tuple(atrous_rates),
        ),
        seed=0,
    ).eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(torch.zeros(1, 3, crop, crop))
    return float(counter.get_total_flops())


def step_flops(cfg: Config) -> float:
    """FLOPs of one training step of one process: students forward + backward on the labeled and
    (semi-supervised methods) unlabeled batch, teachers forward on the unlabeled batch."""
    f = (
        forward_flops(
            cfg.encoder,
            cfg.output_stride,
            cfg.decoder_channels,
            tuple(cfg.atrous_rates),
            dataset_info(cfg.dataset).num_classes or FALLBACK_CLASSES,
        )
        * (cfg.crop_size / PROBE_CROP) ** 2
    )
    from mkdlib.registry import METHOD_INFO

    info = METHOD_INFO[cfg.method]
    students = info.students
    images = cfg.batch_size + (cfg.unlabeled_batch_size if info.uses_unlabeled else 0)
    teachers = students if (cfg.own_teacher or cfg.mutual_mean_teacher) else 0
    return students * 3 * f * images + teachers * f * cfg.unlabeled_batch_size


def gpu_hours(cfg: Config, processes: int) -> float:
    """Estimated GPU-hours of a whole run (all processes) at :data:`GPU`'s stated utilisation."""
    total = step_flops(cfg) * cfg.iters * processes
    return total / (GPU["peak_tflops"] * 1e12 * GPU["utilisation"]) / 3600


def measured_gpu_hours(cfg: Config, root: str | Path | None = None) -> float | None:
    """GPU-hours of a stored run of ``cfg`` that ran on CUDA (wall time x processes), else None."""
    from mkdlib.report.evidence.store import stored_key, stored_result

    key = stored_key(cfg, root)
    if key is None:
        return None
    r = stored_result(key, root)
    env = r.get("env", {})
    if "cuda" not in str(env.get("device", "")):
        return None
    return r["wall_time_s"] * int(env.get("world_size", 1) or 1) / 3600


def _flag(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def grid_command(cfg: Config) -> str:
    """The exact ``python -m mkdlib train`` command that trains ``cfg`` (same results key): the CPU
    default config, the method, split and seed, then every field that differs from that."""
    head = dict(method=cfg.method, split=cfg.split, seed=cfg.seed)
    ref = resolve(base_config(**head)).to_dict()
    fields = {k: v for k, v in cfg.to_dict().items() if k not in Config.RUNTIME_ONLY and v != ref[k]}
    # a field that equals the preset's here only because another field makes it inert there (a
    # legacy teacher_dropout beside teacher_bn_train) is named too, until the command gives cfg's key
    rebuilt = resolve(base_config(**head, **fields)).to_dict()
    fields.update({k: v for k, v in cfg.to_dict().items() if k not in Config.RUNTIME_ONLY and v != rebuilt[k]})
    extra = [f"--{k.replace('_', '-')} {_flag(v)}" for k, v in fields.items()]
    return " ".join([BUILT_IN_COMMAND, f"--method {cfg.method}", f"--split {cfg.split}", f"--seed {cfg.seed}", *extra])


def paper_index(root: str | Path | None = None) -> pd.DataFrame:
    """One row per config of ``configs/paper/``: table, row, column, config, command, estimated
    (or measured) GPU-hours on :data:`PAPER_GPUS` GPUs. Two entries of the paper can be one run
    (Table 4's gamma = 0.4 is Table 5's beta = 1.0): ``same run as`` names the first config."""
    gen = _generator()
    rows, first = [], {}
    for stem, (table, row, column) in gen.placement().items():
        path = PAPER_CONFIGS / f"{stem}.yaml"
        cfg = resolve(make_config(path))
        measured = measured_gpu_hours(cfg, root)
        twin = first.setdefault(cfg.key(), stem)
        rows.append(
            {
                "table": table,
                "row": row,
                "column": column,
                "config": f"configs/paper/{stem}.yaml",
                "key": cfg.key(),
                "same run as": "" if twin == stem else twin,
                "command": f"torchrun --nproc_per_node {PAPER_GPUS} -m mkdlib train --config configs/paper/{stem}.yaml",
                "iterations": cfg.iters,
                "TFLOP per step": PAPER_GPUS * step_flops(cfg) / 1e12,
                "GPU-hours": measured if measured is not None else gpu_hours(cfg, PAPER_GPUS),
                "measured": measured is not None,
            }
        )
    return pd.DataFrame(rows)


def grid_index(root: str | Path | None = None) -> pd.DataFrame:
    """One row per config of the built-in grids (a config in several grids: listed under the
    first): grid, what it is, command, GPU-hours (estimate, or measured) and the CPU wall time of
    its stored run, if any; "CPU minutes (estimate)": that, or for a config not yet stored
    :func:`mkdlib.results.estimate_cpu_seconds` (NaN: no CPU run stored at all); "stored key": the
    key of its stored run (None: not stored), whose provenance
    :func:`mkdlib.report.evidence.provenance.run_provenance` reads."""
    from mkdlib.experiments import GRIDS, grid
    from mkdlib.report.evidence.store import seed_free_key, snapshot, switch_label

    snap = snapshot(root)  # every stored run, read once: the wall times and the CPU rate come from it
    stored_keys = {(r.seed_free_key, int(r.seed)): r.key for r in snap.runs.itertuples()}
    wall = {k: snap.results[key]["wall_time_s"] for k, key in stored_keys.items()}
    rates = snap.cpu_rates()
    rows, seen = [], set()
    for name in GRIDS:
        for cfg in grid(name):
            if cfg.key() in seen:
                continue
            seen.add(cfg.key())
            measured = measured_gpu_hours(cfg, root)
            match = (seed_free_key(cfg), cfg.seed)
            stored = wall.get(match)
            estimate = (stored if stored is not None else estimate_cpu_seconds(cfg.method, cfg.iters, rates)) / 60
            what = f"{cfg.method} at {cfg.split}, seed {cfg.seed}: {switch_label(cfg)}"
            rows.append(
                {
                    "grid": name,
                    "experiment": what,
                    "command": grid_command(cfg),
                    "iterations": cfg.iters,
                    "GPU-hours": measured if measured is not None else gpu_hours(cfg, 1),
                    "measured": measured is not None,
                    "CPU minutes (stored run)": stored / 60 if stored is not None else math.nan,
                    "CPU minutes (estimate)": estimate,
                    "stored key": stored_keys.get(match),
                }
            )
    return pd.DataFrame(rows)


def provenance_view(rows: pd.DataFrame, root: str | Path | None = None):
    """The stored runs of ``rows`` (:func:`grid_index`'s) as a compact table that fits the page:
    experiment, date, CPU model, threads, commit (:func:`mkdlib.report.evidence.provenance.run_provenance`)."""
    from mkdlib.report.evidence.provenance import run_provenance
    from mkdlib.report.tables.display import compact_table

    done = rows[rows["stored key"].notna()]
    t = run_provenance(done["stored key"], root).set_index("key").reindex(done["stored key"])
    t.insert(0, "experiment", list(done["experiment"]))
    return compact_table(t.reset_index(drop=True), wrap={"experiment": "16em", "CPU model": "7em"}, index=False)


def _duration(hours: float, measured: bool) -> str:
    text = (
        f"{hours:,.0f} h"
        if hours >= 10
        else f"{hours:.1f} h"
        if hours >= 1
        else f"{60 * hours:.1f} min"
        if hours * 60 >= 1
        else f"{3600 * hours:.0f} s"
        if hours * 3600 >= 1
        else "< 1 s"
    )
    return text + ("" if measured else " (est.)")


def html_table(df: pd.DataFrame, columns: dict[str, str]) -> str:
    """``df`` as a compact HTML table for the book (a pandas Styler): ``columns`` maps header -> a
    format of the row (``{column}`` fields; commands are set as code that may wrap)."""

    def cell(r: dict, fmt: str) -> str:
        if fmt == "command":
            return f"<code>{html.escape(r['command'])}</code>"
        if fmt == "duration":
            twin = r.get("same run as")
            note = f"<br>(the same run as <code>{html.escape(twin)}</code>)" if twin else ""
            return html.escape(_duration(r["GPU-hours"], r["measured"])) + note
        text = fmt.format(**r)
        return html.escape("—" if text == "nan" else text)

    shown = pd.DataFrame([[cell(r, f) for f in columns.values()] for r in df.to_dict("records")], columns=list(columns))
    commands = pd.DataFrame({h: "mkd-command" if f == "command" else "" for h, f in columns.items()}, shown.index)
    return shown.style.hide(axis="index").set_td_classes(commands).set_table_attributes('class="mkd-index"').to_html()


def totals(paper: pd.DataFrame) -> pd.DataFrame:
    """GPU-hours per paper table (all its configs); "all" counts a run shared by two tables once."""
    t = paper.groupby("table", sort=False).agg(
        configs=("config", "count"), runs=("key", "nunique"), gpu_hours=("GPU-hours", "sum")
    )
    unique = paper.drop_duplicates("key")
    t.loc["all"] = [len(paper), len(unique), unique["GPU-hours"].sum()]
    t["GPU-hours (est.)"] = t.pop("gpu_hours").round(0).astype(int)
    t["days on 4 GPUs"] = (t["GPU-hours (est.)"] / PAPER_GPUS / 24).round(1)
    return t


def index_numbers(paper: pd.DataFrame, grids: pd.DataFrame) -> dict:
    """The numbers the index's note quotes (the experiments notebook glues them into its text): the
    paper's experiments in GPU-hours and days, the most expensive table, the estimates a GPU run
    replaced, the built-in grids' stored runs and CPU time, and a full recompute's CPU-hours."""
    t = totals(paper)
    per = t.drop(index="all")
    top = per["GPU-hours (est.)"].idxmax()
    stored, estimate = grids["CPU minutes (stored run)"], grids["CPU minutes (estimate)"]
    return {
        "paper_configs": int(t.loc["all", "configs"]),
        "paper_gpu_hours": int(t.loc["all", "GPU-hours (est.)"]),
        "paper_days": float(t.loc["all", "days on 4 GPUs"]),
        "top_table": top,
        "top_hours": int(per.loc[top, "GPU-hours (est.)"]),
        "measured": int(paper["measured"].sum() + grids["measured"].sum()),
        "grid_stored": int(stored.notna().sum()),
        "grid_configs": len(grids),
        "cpu_minutes": float(stored.sum()),
        "recompute_hours": float(estimate.sum(min_count=1) / 60),  # NaN: no stored run to size with
        "todo": int(stored.isna().sum()),
        "todo_hours": float(estimate[stored.isna()].sum() / 60),
    }
