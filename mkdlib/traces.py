"""The collapse traces: a run's first iterations, its student and teacher scored on the labeled
images, on unlabeled images and on validation, each with BatchNorm in eval mode (running
statistics, what a teacher uses to label) and on batch statistics. Computed here, next to the
experiment grids (they train, through the trainer); stored as plain JSON under
``<results store>/traces/``; the book reads them (:mod:`mkdlib.report.figures.collapse`).

    python -m mkdlib.traces              # the stored set (TRACED_STARTS): computes what is missing
    python -m mkdlib.traces --only "copied" --seeds 0 --until 500
"""

from __future__ import annotations

import argparse
import copy
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import torch
from torch import nn

from .config import Config, resolve
from .data import EvalDataset, prepare_data
from .evaluate import confusion_matrix, mean_iou
from .experiments import TEACHER_STARTS
from .io import atomic_write_json
from .results import results_dir

#: iterations at which a trace scores the networks (the collapse is decided by iteration 500)
TRACE_ITERS = (10, 25, 50, 100, 200, 350, 500, 750, 1000)
#: seeds traced per teacher start (the figure shows the first)
TRACE_SEEDS = (0, 1, 2)
#: images per subset (labeled: all of them when fewer); batch statistics over batches of this many
SUBSET_LIMIT, BATCH = 64, 8
SUBSETS = ("labeled", "unlabeled", "validation")
BN_MODES = ("eval", "batch")


def traces_dir(root: str | Path | None = None) -> Path:
    """Where traces are stored: ``<results store>/traces`` (default store: :func:`mkdlib.results.results_dir`)."""
    return Path(root or results_dir()) / "traces"


def with_batch_statistics(net: nn.Module) -> nn.Module:
    """A copy of ``net`` whose BatchNorm layers normalise with each batch's own statistics (and
    never touch the running ones); everything else (dropout) in eval mode."""
    net = copy.deepcopy(net).eval()
    for m in net.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.train()
            m.momentum = 0.0  # running = (1 - 0) * running: the stored statistics stay as they are
    return net


@torch.no_grad()
def score(net: nn.Module, dataset: EvalDataset, num_classes: int, bn: str = "eval") -> dict:
    """mIoU (%) of ``net`` on ``dataset`` (whole images, in batches of BATCH) and the share of
    pixels it gives its most predicted class (near 100: one class everywhere)."""
    model = with_batch_statistics(net) if bn == "batch" else copy.deepcopy(net).eval()
    conf = torch.zeros(num_classes, num_classes, dtype=torch.int64)
    counts = torch.zeros(num_classes, dtype=torch.int64)
    items = [dataset[i] for i in range(len(dataset))]
    for start in range(0, len(items), BATCH):
        chunk = items[start : start + BATCH]
        pred = model(torch.stack([x["image"] for x in chunk])).logits.argmax(1)
        target = torch.stack([x["mask"] for x in chunk])
        conf += confusion_matrix(pred, target, num_classes)
        counts += torch.bincount(pred.flatten(), minlength=num_classes)
    top = int(counts.argmax())
    return {"miou": 100 * mean_iou(conf), "top_class": top, "top_share": 100 * float(counts[top] / counts.sum())}


def trace(cfg: Config, at: Sequence[int] = TRACE_ITERS, run_dir: str | Path | None = None) -> pd.DataFrame:
    """Train ``cfg`` up to each iteration of ``at`` (one resumable run, nothing published) and
    score student 1 and teacher 1 there: one row per (iteration, network, bn mode, subset)."""
    from .runs import load_method
    from .trainer import train

    cfg = resolve(cfg)
    data = prepare_data(cfg)
    labeled = list(data.split.labeled)[:SUBSET_LIMIT]
    unlabeled = list(data.split.unlabeled)[:SUBSET_LIMIT]
    sets = dict(zip(SUBSETS, (labeled, unlabeled, list(data.val_ids)[:SUBSET_LIMIT])))
    sets = {k: EvalDataset(data.folder, ids) for k, ids in sets.items()}
    rows, done = [], 0
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(run_dir or tmp)
        for it in sorted(at):
            train(cfg, run_dir=run_dir, stop_after=it - done, publish_result=False)
            done = it
            method, _ = load_method(run_dir, "last")
            nets = {"student 1": method.students[0]}
            if len(method.teachers):
                nets["teacher 1"] = method.teachers[0].module
            for name, net in nets.items():
                for bn in BN_MODES:
                    for subset, ds in sets.items():
                        rows.append(
                            {
                                "iteration": it,
                                "network": name,
                                "bn": bn,
                                "subset": subset,
                                **score(net, ds, data.num_classes, bn),
                            }
                        )
    return pd.DataFrame(rows)


#: the starts traced: every candidate of the teachers grid (mkdlib.experiments.TEACHER_STARTS), on
#: co-training + mutual mean teacher with weak views (Table 3 row 3), at the default length
TRACED_STARTS = TEACHER_STARTS


def traced_config(start: dict, seed: int = 0) -> Config:
    """The weak-view co-training + mutual mean teacher row with one teacher start, at the default
    length (a trace covers its first TRACE_ITERS iterations), on the preset as the traces were stored
    (mkdlib.experiments.legacy: a preset set since keeps them)."""
    from .experiments import legacy, table3_row

    return resolve(legacy(**table3_row(dict(mutual_mean_teacher=True)), split="1/16", seed=seed, **start))


def trace_path(cfg: Config, root: str | Path | None = None) -> Path:
    """The stored trace of ``cfg`` (a JSON file named by its run key)."""
    return traces_dir(root) / f"{cfg.key()}.json"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m mkdlib.traces", description=__doc__)
    p.add_argument("--only", default=None, help="the starts whose label contains this text")
    p.add_argument("--seeds", type=int, nargs="+", default=list(TRACE_SEEDS))
    p.add_argument("--until", type=int, default=max(TRACE_ITERS), help="trace up to this iteration")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    todo = {k: v for k, v in TRACED_STARTS.items() if not args.only or args.only in k}
    if not todo:
        print(f"error: --only {args.only!r} matches none of: {', '.join(TRACED_STARTS)}", file=sys.stderr)
        return 2
    for seed, (label, start) in ((s, item) for s in args.seeds for item in todo.items()):
        cfg = traced_config(start, seed)
        path = trace_path(cfg)
        if path.is_file():
            print(f"{label}, seed {seed}: stored ({path.name})")
            continue
        print(f"{label}, seed {seed}: tracing {cfg.key()} up to iteration {args.until}", flush=True)
        cfg.threads, cfg.progress = args.threads, False
        df = trace(cfg, [i for i in TRACE_ITERS if i <= args.until])
        atomic_write_json(path, {"key": cfg.key(), "label": label, "rows": df.to_dict("records")})
        last = df[(df.iteration == df.iteration.max()) & (df.bn == "eval")]
        print(last.pivot_table(index="network", columns="subset", values="miou").round(1).to_string(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
