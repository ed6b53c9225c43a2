"""The built-in dataset's experiment grids: the analogues of the paper's Tables 1-5.

Each grid is a list of Configs; a run is skipped when its key is already in the results store,
so the grids are resumable and the book renders from stored results. The grids are sized for
a 2-core CPU: the headline comparison has three seeds, the sweeps one (stated in the book).

    python -m mkdlib.experiments headline        # run what is missing, in order
    python -m mkdlib.experiments --list          # what each grid holds and what is done
"""
from __future__ import annotations

import argparse
import sys

from .config import Config, base_config, resolve
from .results import is_done

HEADLINE_SEEDS = (0, 1, 2)
SWEEP_SEED = 0


def grid(name: str) -> list[Config]:
    """Configs of one named grid (all resolved)."""
    b = base_config
    if name == "headline":  # Table 1/2 analogue at 1/16: supervised vs CPS vs MKD, and the headroom
        cfgs = [c for s in HEADLINE_SEEDS for c in
                [b(method=m, split="1/16", seed=s) for m in ("mkd", "cps", "supervised")]
                + [b(method="supervised", split="full", seed=s)]]
        # MKD's matching baseline: CPS with strong augmentation + CutMix (the paper's "CPS w/ CutMix"
        # row of Table 2), last so that the plain-CPS comparison is complete first
        cfgs += [b(method="cps", split="1/16", seed=s, strong_aug=True) for s in HEADLINE_SEEDS]
    elif name == "fractions":  # Table 1 analogue: label fractions
        cfgs = [b(method=m, split=f, seed=SWEEP_SEED) for f in ("1/8", "1/4", "1/2") for m in ("supervised", "mkd")]
    elif name == "methods":  # the baselines the paper compares against, at 1/16
        cfgs = [b(method="mean_teacher", split="1/16", seed=SWEEP_SEED)]
    elif name == "ablation":  # Table 3: co-training plus one or more switches
        rows = [dict(), dict(mean_teacher=True), dict(mutual_mean_teacher=True), dict(strong_aug=True),
                dict(feature_aug=True), dict(mutual_mean_teacher=True, strong_aug=True)]
        cfgs = [b(method="cps", split="1/16", seed=SWEEP_SEED, **r) for r in rows]
        cfgs.append(b(method="mkd", split="1/16", seed=SWEEP_SEED))
    elif name == "gamma":  # Table 4
        cfgs = [b(method="mkd", split="1/16", seed=SWEEP_SEED, gamma=g) for g in (0.0, 0.2, 0.4, 0.6, 0.8, 0.99)]
    elif name == "beta":  # Table 5 (alpha = 1.5)
        cfgs = [b(method="mkd", split="1/16", seed=SWEEP_SEED, beta=x) for x in (0.0, 0.5, 1.0, 1.5, 2.0)]
    elif name == "diagnosis":  # beyond the paper: why MKD trails CPS at 64 px (one change each, then all)
        cfgs = [b(method="mkd", split="1/16", seed=SWEEP_SEED, **d) for d in DIAGNOSIS]
    else:
        raise KeyError(f"unknown grid {name!r}; grids: {', '.join(GRIDS)}")
    return [resolve(c) for c in cfgs]


GRIDS = ("headline", "fractions", "methods", "ablation", "gamma", "beta", "diagnosis")
#: The diagnosis grid's changes to MKD: strong augmentation without CutMix, a weaker teacher term,
#: confident teacher pseudo labels only (the paper's Table 1 * variant), a milder feature
#: augmentation, and the last three together.
DIAGNOSIS = (dict(cutmix=False), dict(alpha=0.5), dict(threshold=0.95), dict(fa_lambda=0.5),
             dict(alpha=0.5, threshold=0.95, fa_lambda=0.5))


def pending(name: str) -> list[Config]:
    """Configs of a grid not yet in the results store (duplicates across grids run once)."""
    seen, out = set(), []
    for c in grid(name):
        if c.key() not in seen and not is_done(c.key()):
            seen.add(c.key())
            out.append(c)
    return out


#: relative cost of one step (1 = a supervised step), for splitting a grid over processes
STEP_COST = {"supervised": 1.0, "mean_teacher": 2.0, "cps": 3.0, "mkd": 4.0}


def shard(configs: list[Config], index: int, count: int) -> list[Config]:
    """Greedy split of ``configs`` over ``count`` processes by estimated cost; keeps the order."""
    loads, owner = [0.0] * count, []
    for c in configs:
        k = min(range(count), key=lambda i: loads[i])
        loads[k] += STEP_COST.get(c.method, 4.0) * c.iters
        owner.append(k)
    return [c for c, k in zip(configs, owner) if k == index]


def run_grid(name: str, threads: int | None = None, progress: bool = True, shard_spec: str = "0/1") -> None:
    from .trainer import train

    index, count = (int(x) for x in shard_spec.split("/"))
    todo = shard(pending(name), index, count)
    for i, cfg in enumerate(todo, 1):
        print(f"[{name} {i}/{len(todo)}] {cfg.key()}", flush=True)
        cfg.threads, cfg.progress = threads, progress
        result = train(cfg)
        if not is_done(cfg.key()):  # finished earlier, but the store lost it: publish again
            from .trainer import republish

            republish(result.run_dir)


def short_run(iters: int = 60, data_root: str | None = None, base: dict | None = None, **selection):
    """Train a short run of a selection (``method``, ``split``, switches) on the built-in default
    config: what the explorer's "train short run" button launches. ``base``: extra Config fields.
    Returns the trainer's result (published to the results store like any run)."""
    from .trainer import train

    cfg = base_config(**{**(base or {}), **selection, "iters": iters, "eval_interval": max(1, iters // 4),
                         "threads": 1, "progress": False, **({"data_root": data_root} if data_root else {})})
    return train(cfg)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m mkdlib.experiments", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("grids", nargs="*", default=[])
    p.add_argument("--list", action="store_true")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--shard", default="0/1", help="i/n: run the i-th of n cost-balanced parts (parallel processes)")
    args = p.parse_args(argv)
    if args.list or not args.grids:
        for g in GRIDS:
            cfgs = grid(g)
            done = sum(is_done(c.key()) for c in cfgs)
            print(f"{g:10s} {done}/{len(cfgs)} done")
        return 0
    for g in args.grids:
        run_grid(g, args.threads, shard_spec=args.shard)
    return 0


if __name__ == "__main__":
    sys.exit(main())
