"""The built-in dataset's experiment grids: the analogues of the paper's Tables 1-5.

Each grid is a list of Configs; a run is skipped when its key is already in the results store,
so the grids are resumable and the book renders from stored results. Seeds are sized for what a
verdict needs (stated in the book): the headline comparison 6 paired seeds, Table 3's rows and the
teachers' start 3, the sweeps one (three at their default value), the diagnosis one per change.

    python -m mkdlib.experiments headline        # run what is missing, in order
    python -m mkdlib.experiments --list          # what each grid holds, what is done, how far started runs are
    python -m mkdlib.experiments headline --device cuda --parallel 4   # 4 runs at once on one GPU
    python -m mkdlib.experiments gamma --parallel 2 --set iters=300    # overrides: other keys, honestly
    python -m booktools.readme headline --update                       # the README's results block

With --parallel, --set, --only or --device, each run is its own process (mkdlib.parallel) and the
command ends with a summary of finished and failed runs (exit status 1 if any failed).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from .config import Config, ConfigError, base_config, make_config, resolve
from .registry import METHOD_INFO, SWITCHES, preset_setting
from .results import cpu_seconds_per_iter, estimate_cpu_seconds, is_done

HEADLINE_SEEDS = (0, 1, 2)
#: the superseded headline comparison at 1/16 (6 seeds paired by seed: same initialisation and data
#: order; one labeled split, scored on the validation set; ``headline_6seeds``)
PAIRED_SEEDS = (0, 1, 2, 3, 4, 5)
PAIRED_METHODS = ("supervised", "mean_teacher", "cps_cutmix", "mkd", "mkd_release")
SWEEP_SEED = 0
#: the decisive headline: 12 paired seeds, each with its own labeled split (split_seed = seed), each
#: run's final model scored once on the held-out test set; one thread per run (thread count moves
#: a run by about 2 points: every run of the table the same)
TEST_SEEDS = tuple(range(12))
TEST_IMAGES = 512
HEADLINE_THREADS = 1
#: how the presets that the headline's change touched were set before it: grids whose runs were
#: stored then keep them (and say so in their setting labels) instead of silently changing meaning
LEGACY_PRESETS = {
    "mkd_release": dict(teacher_dropout=True, aspp_dropout=0.5, weak_photometric=False),
    "cps_cutmix": dict(cps_target_bn="eval"),
    # as its departures were screened; set from the screens (booktools.departures) once they decided
    "mkd": dict(unsup_rampup=0.1, pseudo_loss_norm="all", aspp_dropout=0.5),
}


def headline_config(method: str, seed: int, **fields) -> Config:
    """A run of the decisive headline: ``method`` at 1/16, its own labeled split, the test set."""
    return base_config(method=method, split="1/16", seed=seed, split_seed=None, test_images=TEST_IMAGES, **fields)


def legacy(method: str, **fields) -> Config:
    """A config as it was stored before the headline's preset changes (:data:`LEGACY_PRESETS`)."""
    return base_config(method=method, **{**LEGACY_PRESETS.get(method, {}), **fields})


#: the versions of the grids stored before the headline's change: ``legacy``, on the presets as they
#: were set then, and ``today``, on the presets as set now (``--presets`` lists and runs either: the
#: re-run the headline's issue asks for)
PRESET_VERSIONS = ("legacy", "today")
#: the version the book reads and the grids run by default: ``legacy`` until every grid is stored on
#: today's presets (``--list --presets today``); then this one setting moves the book, so no table
#: mixes preset versions (the superseded headline and the departures' screens stay as stored:
#: :data:`ALWAYS_LEGACY`, :func:`as_stored`). The tables that set the methods' defaults at 1/16 beside
#: their rows read them from :func:`reference_grid`, which moves with this setting too
STORED_GRIDS_PRESETS = "legacy"
#: grids that stay on the old presets in either version: the departures' screens are each paired
#: with `mkd` as it was screened, and the superseded headline is the record of what it was
ALWAYS_LEGACY = ("departures", "headline_6seeds")


def reference_grid() -> str:
    """The grid whose default runs (each method at 1/16, supervised training at all labels; the grids'
    protocol: validation, one labeled split) the grids' tables set beside their rows (Table 1's 1/16
    column, Table 3's supervised line, the diagnosis references, the error breakdown, the gain by
    iteration): the superseded headline on the old presets (6 seeds), ``references`` on today's
    (Table 3's 3 seeds: its re-run costs 3 runs beyond the calibration's), so no table mixes versions."""
    return "headline_6seeds" if STORED_GRIDS_PRESETS == "legacy" else "references"


def _builder(name: str, presets: str | None) -> Callable[..., Config]:
    """How grid ``name`` builds its configs: :func:`legacy` or today's :func:`base_config`."""
    presets = presets or STORED_GRIDS_PRESETS
    if presets not in PRESET_VERSIONS:
        raise ConfigError(f"presets must be one of {', '.join(PRESET_VERSIONS)}, got {presets!r}")
    if presets == "legacy" or name in ALWAYS_LEGACY:
        return legacy
    return lambda method, **fields: base_config(method=method, **fields)


def stored_config(method: str, **fields) -> Config:
    """A config of the grids' protocol (validation, one labeled split) on the presets the book reads
    (:data:`STORED_GRIDS_PRESETS`)."""
    return _builder("", None)(method, **fields)


def as_stored(fields: dict) -> dict:
    """``fields`` (with a method) pinned to its method's preset as set before the headline's change
    (:data:`LEGACY_PRESETS`): what the superseded headline and the departures' screens ran, whichever
    presets the book reads."""
    return {**LEGACY_PRESETS.get(fields.get("method", ""), {}), **fields}


def grid(name: str, presets: str | None = None) -> list[Config]:
    """Configs of one named grid (all resolved). ``presets`` (:data:`PRESET_VERSIONS`): ``legacy``
    (the presets as set before the headline's change) or ``today``; by default
    :data:`STORED_GRIDS_PRESETS`. The headline and the preset check are on today's presets in either
    version, the grids of :data:`ALWAYS_LEGACY` on the old ones."""
    b = _builder(name, presets)
    if name == "calibration":  # the benchmark's gates (docs/benchmark.md), cheapest answers first: every
        # method at seed 0, G1's other seeds (supervised only), the switches, then G2's other seeds
        first = [b(method=m, split=sp, seed=SWEEP_SEED) for m, sp in CALIBRATION_RUNS]
        g1 = [b(method="supervised", split=sp, seed=s) for s in HEADLINE_SEEDS[1:] for sp in ("full", "1/16")]
        switches = [b(method="mean_teacher", split="1/16", seed=SWEEP_SEED, **v) for v in CALIBRATION_SWITCHES]
        switches.append(b(method="cps_cutmix", split="1/16", seed=SWEEP_SEED, cps_targets="student_view"))
        g2 = [  # the mean teacher first (the cheapest), then CPS + CutMix (G2's CPS), plain CPS last
            b(method=m, split="1/16", seed=s) for m in ("mean_teacher", "cps_cutmix", "cps") for s in HEADLINE_SEEDS[1:]
        ]
        cfgs = first + g1 + switches + g2
    elif name == "short_schedule":  # the cost question: the gates' runs (and MKD's cost) at half the iterations
        g2 = [b(method=m, split="1/16", seed=s) for m in ("supervised", "cps_cutmix") for s in HEADLINE_SEEDS]
        rest = [b(method="mkd", split="1/16", seed=SWEEP_SEED)]
        rest += [b(method="supervised", split="full", seed=s) for s in HEADLINE_SEEDS]
        cfgs = [make_config(c, iters=SHORT_SCHEDULE_ITERS) for c in g2 + rest]
    elif name == "headline":  # the decisive comparison: every method of Table 2's analogue at 1/16 on
        # 12 paired seeds, each its own labeled split, scored on the test set; seed by seed (pairs first)
        cfgs = [headline_config(m, s) for s in TEST_SEEDS for m in PAIRED_METHODS]
    elif name == "departures":  # each departure of `mkd` from its sources, screened on the validation
        # set (never the test set) at 3 seeds paired with MKD's stored runs there (1 thread each)
        cfgs = [b(method="mkd", split="1/16", seed=s, **d) for d in DEPARTURE_SCREENS for s in SCREEN_SEEDS]
    elif name == "preset_check":  # `mkd`'s preset as its departures' screens set it, on the validation
        # set: at the screens' seeds, all its removals together against `mkd` as screened (the same
        # runs until the preset changes); first its default run (`make main`, seed 0), which the
        # training chapter shows and predicts with
        cfgs = [base_config(method="mkd", split="1/16", seed=s) for s in (SWEEP_SEED, *SCREEN_SEEDS)]
    elif name == "headline_6seeds":  # superseded by `headline` (kept until it is complete): Table 1/2
        # analogue at 1/16 on one labeled split, 6 paired seeds, and the headroom to all labels
        paired = [b(method=m, split="1/16", seed=s) for s in PAIRED_SEEDS for m in PAIRED_METHODS]
        rest = [
            b(method=m, split=sp, seed=s)
            for s in HEADLINE_SEEDS
            for m, sp in CALIBRATION_RUNS
            if not (sp == "1/16" and m in PAIRED_METHODS)
        ]
        cfgs = paired + rest
    elif name == "references":  # the methods' defaults the grids' tables set beside their rows
        # (reference_grid) on Table 3's seeds: on the old presets, the superseded headline's runs there
        methods = (*PAIRED_METHODS, "cps")
        cfgs = [b(method=m, split="1/16", seed=s) for s in HEADLINE_SEEDS for m in methods]
        cfgs += [b(method="supervised", split="full", seed=s) for s in HEADLINE_SEEDS]
    elif name == "teachers":  # how the teachers start: each candidate on the two rows it must serve
        cfgs = teacher_start_grid(presets)
    elif name == "fractions":  # Table 1 analogue: label fractions
        cfgs = [b(method=m, split=f, seed=SWEEP_SEED) for f in ("1/8", "1/4", "1/2") for m in ("supervised", "mkd")]
    elif name == "methods":  # the baselines the paper compares against, at 1/16
        cfgs = [b(method="mean_teacher", split="1/16", seed=SWEEP_SEED)]
    elif name == "ablation":  # Table 3: co-training plus one or more switches, on MKD's settings
        cfgs = [b(**table3_row(r), split="1/16", seed=s) for s in HEADLINE_SEEDS for r in TABLE3_ROWS]
    elif name == "gamma":  # Table 4
        cfgs = [b(method="mkd", split="1/16", seed=SWEEP_SEED, gamma=g) for g in (0.0, 0.2, 0.4, 0.6, 0.8, 0.99)]
    elif name == "beta":  # Table 5 (alpha = 1.5); also on the release's step, whose L_ss averages over
        # labeled + unlabeled images (consistency_pixels: all): its beta weighs about half as much per
        # unlabeled pixel as mkd's, so the two sweeps bracket the paper's weights
        cfgs = [
            b(method=m, split="1/16", seed=SWEEP_SEED, beta=x)
            for m in ("mkd", "mkd_release")
            for x in (0.0, 0.5, 1.0, 1.5, 2.0)
        ]
    elif name == "diagnosis":  # beyond the paper: can MKD beat CPS + CutMix here (one change each, then all);
        # the student forwards on the headline seeds (with MKD's own runs there: paired by seed)
        # the ramp-up row changes the version's own ramp-up: none on a preset that has one, else the old one
        ramp_change = NO_RAMPUP if resolve(b(method="mkd")).unsup_rampup else OLD_RAMPUP
        changes = [ramp_change if d == NO_RAMPUP else d for d in DIAGNOSIS]
        cfgs = [
            b(method="mkd", split="1/16", seed=s, **d)
            for d in changes
            for s in (HEADLINE_SEEDS if d == OTHER_FORWARD else (SWEEP_SEED,))
        ]
    else:
        raise KeyError(f"unknown grid {name!r}; grids: {', '.join(GRIDS)}")
    return [resolve(c) for c in cfgs]


#: Table 3's rows: the switches on besides co-training (the last row is MKD)
TABLE3_ROWS = (
    dict(),
    dict(own_teacher=True),
    dict(mutual_mean_teacher=True),
    dict(strong_aug=True),
    dict(feature_aug=True),
    dict(mutual_mean_teacher=True, strong_aug=True),
    dict(mutual_mean_teacher=True, strong_aug=True, feature_aug=True),
)


def table3_row(on: dict) -> dict:
    """A Table 3 row as config fields: co-training plus the switches ``on``, every other MKD
    setting (forwards, FD, targets, teachers) as the ``mkd`` preset has it, so rows differ only
    by their switches."""
    switches = {s: False for s in ("own_teacher", "mutual_mean_teacher", "strong_aug", "feature_aug")}
    return dict(method="mkd", co_training=True, **{**switches, **on})


#: candidate teacher starts, by the label the book gives them (book/paper-vs-code.md): the legacy
#: one (BatchNorm buffers averaged, eval mode, unlabeled weight from step 1), the student's buffers
#: copied, the release's batch-statistic teachers (parameters-only EMA), and a short ramp-up of the
#: unlabeled weight; the grid and the traces (mkdlib.report.figures.collapse) both read this
TEACHER_STARTS = {
    "buffers averaged (legacy)": dict(teacher_bn_buffers="ema", teacher_bn_train=False, unsup_rampup=0.0),
    "buffers copied": dict(teacher_bn_buffers="copy", teacher_bn_train=False, unsup_rampup=0.0),
    # = the release's parameters-only EMA: batch statistics ignore the buffers
    # (stored with the teachers' dropout on: Module.train() on the whole teacher, as before teacher_dropout)
    "batch statistics": dict(teacher_bn_buffers="ema", teacher_bn_train=True, teacher_dropout=True, unsup_rampup=0.0),
    "unlabeled ramp-up 0.1": dict(teacher_bn_buffers="ema", teacher_bn_train=False, unsup_rampup=0.1),
}
#: a 1,000-iteration schedule (seed 0, each start): the weak-view row does not collapse there as
#: it does at the default length, so the collapse question is answered by traces of the default
#: length's first 1,000 iterations, 3 seeds (mkdlib.report.figures.collapse), not by this screen
TEACHER_SCREEN_ITERS = 1000


def teacher_start_grid(presets: str | None = None) -> list[Config]:
    """Each teacher start on the mean teacher (strong views, full length: where the release's
    batch-statistic teachers cost accuracy), 3 seeds, and on co-training + mutual mean teacher with
    weak views (Table 3 row 3) at TEACHER_SCREEN_ITERS, seed 0, with supervised runs of that length;
    cheapest answers first. The weak-view row at full length is the ablation grid's."""
    b, short = _builder("teachers", presets), TEACHER_SCREEN_ITERS
    weak = dict(**table3_row(dict(mutual_mean_teacher=True)), split="1/16", iters=short)
    co = [b(**weak, **t, seed=SWEEP_SEED) for t in TEACHER_STARTS.values()]
    sup = [b(method="supervised", split="1/16", iters=short, seed=s) for s in HEADLINE_SEEDS]
    mt = [
        [b(method="mean_teacher", split="1/16", **t, seed=s) for t in TEACHER_STARTS.values()] for s in HEADLINE_SEEDS
    ]
    # the ramp-up first (the copied buffers collapse the weak-view row: mkdlib.report.figures.collapse)
    ramp, copied = [m[3] for m in mt], [m[1] for m in mt]
    return co + ramp[:1] + sup + ramp[1:] + [mt[1][2], mt[2][2]] + copied + [m[0] for m in mt] + [mt[0][2]]


#: the screens of `mkd`'s departures run at these seeds: MKD's stored default runs there used one
#: thread (its seed-0 run used two), so each screen run pairs with a reference of its thread count
SCREEN_SEEDS = (1, 2, 3)
#: each setting of `mkd` that departs from Algorithm 1 (or, where it is silent, from the release),
#: at the sources' value: kept only where this screen shows the literal setting failing
#: (booktools.departures); gamma first (the paper keeps 0.4 or 0.6 of the old teacher by the
#: reading of Eq. 1, the release 0.6)
DEPARTURE_SCREENS = (
    dict(gamma=0.6),
    dict(unsup_rampup=0.0),
    dict(teacher_bn_train=True, teacher_bn_buffers="own"),
    dict(pseudo_loss_norm="labeled"),
    dict(optimizer="sgd", schedule="poly", lr=0.0025, weight_decay=5e-4),
    dict(aspp_dropout=0.0),
    dict(gamma=0.4),
)

GRIDS = (
    "calibration",
    "teachers",
    "headline",
    "departures",
    "headline_6seeds",
    "references",
    "fractions",
    "methods",
    "ablation",
    "gamma",
    "beta",
    "diagnosis",
    "short_schedule",
    "preset_check",  # last: until mkd's preset changes its runs are headline_6seeds' (listed there)
)
#: the short_schedule grid's length: the headline curves put G2 within reach by 1,500 of the default's
#: 4,000 iterations (booktools.calibration.gain_by_iteration); a cosine schedule over 2,000
#: is its own experiment, so it is measured, not read off those curves
SHORT_SCHEDULE_ITERS = 2000
#: G1 (all labels vs 1/16: the headroom) and G2 (does semi-supervision pay at 1/16), 3 seeds each
CALIBRATION_RUNS = (
    ("supervised", "full"),
    ("supervised", "1/16"),
    ("cps", "1/16"),
    ("mean_teacher", "1/16"),
    ("cps_cutmix", "1/16"),
)
#: settings the sources disagree on, measured on the mean teacher (one seed) to pick the defaults:
#: the teacher's BatchNorm in train mode (the released code) and the pseudo-label loss averaged over
#: the pixels that carry a pseudo label (FixMatch / UniMatch) instead of over all pixels
CALIBRATION_SWITCHES = (dict(teacher_bn_train=True, teacher_dropout=True), dict(pseudo_loss_norm="labeled"))
# and, on CPS + CutMix, L_ss's targets as the released MKD code takes them (the partner's argmax on
# the strong mixed view) against CPS's own code (its no-grad prediction on the weak images, mixed).
#: the student forwards that the ``mkd`` preset does not use (the diagnosis grid runs it on 3 seeds)
OTHER_FORWARD = dict(student_forward="joint" if preset_setting("mkd", "student_forward") == "separate" else "separate")
NO_RAMPUP = dict(unsup_rampup=0.0)
#: the diagnosis' ramp-up change on a preset without one (today's ``mkd``): the ramp-up it had as screened
OLD_RAMPUP = dict(unsup_rampup=LEGACY_PRESETS["mkd"]["unsup_rampup"])
#: The diagnosis grid's changes to MKD: no ramp-up of the unlabeled weight (the teachers' start
#: chosen for the weak-view rows, mkdlib.report.figures.collapse), L_ss's targets from the partner's weak-view prediction (as
#: CPS's code; the calibration found it decides whether CPS + CutMix pays), strong augmentation
#: without CutMix, a weaker teacher term, confident teacher pseudo labels only (the paper's Table 1 *
#: variant), a milder feature augmentation, and the last three together.
DIAGNOSIS = (
    # L_ss targets from the partner's plain logits: the corrected MKD (targets from feature-augmented
    # logits, Algorithm 1 line 14) names every object one class at seed 0 once lambda passes ~0.5
    dict(pseudo_from_augmented=False),
    # the student forwards MKD's preset does not use (Algorithm 1: two, BatchNorm statistics per
    # subset; one for labeled + unlabeled images): at seed 0 the corrected MKD named every object one
    # class with two forwards (25.8) and not with one (58.7); 3 seeds, paired with MKD's own runs
    OTHER_FORWARD,
    NO_RAMPUP,  # the teachers' start without the ramp-up (with it, OLD_RAMPUP): what it costs or gives MKD
    dict(cps_targets="weak_view"),
    dict(cutmix=False),
    dict(alpha=0.5),
    dict(threshold=0.95),
    dict(fa_lambda=0.5),
    dict(alpha=0.5, threshold=0.95, fa_lambda=0.5),
)


def _filters(only: str | Sequence[str] | None) -> tuple[str, ...]:
    return (only,) if isinstance(only, str) else tuple(only or ())


def grid_configs(
    names: list[str],
    overrides: dict | None = None,
    only: str | Sequence[str] | None = None,
    presets: str | None = None,
) -> list[Config]:
    """The configs of the named grids, in order, each with ``overrides`` applied and resolved again;
    duplicates (across grids, or made equal by an override) once; ``only``: keys containing it (or
    any of them: several filters pick the runs to do first without a new grid); ``presets``: as
    :func:`grid`."""
    seen, out, filters = set(), [], _filters(only)
    for name in names:
        for cfg in grid(name, presets):
            if overrides:
                cfg = resolve(make_config(cfg, **overrides))
            key = cfg.key()
            if key in seen or (filters and not any(f in key for f in filters)):
                continue
            seen.add(key)
            out.append(cfg)
    return out


def shard(configs: list[Config], index: int, count: int) -> list[Config]:
    """Greedy split of ``configs`` over ``count`` processes by estimated cost; keeps the order."""
    loads, owner = [0.0] * count, []
    for c in configs:
        k = min(range(count), key=lambda i: loads[i])
        loads[k] += METHOD_INFO[c.method].step_cost * c.iters
        owner.append(k)
    return [c for c, k in zip(configs, owner) if k == index]


def _parse_shard(shard_spec: str) -> tuple[int, int]:
    try:
        index, count = (int(x) for x in shard_spec.split("/"))
        assert 0 <= index < count
    except (ValueError, AssertionError):
        raise ConfigError(f"--shard expects i/n with 0 <= i < n, got {shard_spec!r}") from None
    return index, count


def run_grids(
    names: list[str],
    threads: int | None = None,
    parallel: int | None = None,
    device: str | None = None,
    overrides: dict | None = None,
    only: str | Sequence[str] | None = None,
    shard_spec: str = "0/1",
    progress: bool = True,
    say: Callable[[str], None] = print,
    presets: str | None = None,
) -> int:
    """The one grid runner: train every config of the named grids not yet in the results store
    (resumable). In this process one after the other, or with ``parallel`` (or ``device``) N at a
    time, each in its own process (mkdlib.parallel). Returns the exit status (1: a run failed)."""
    index, count = _parse_shard(shard_spec)
    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise ConfigError("--device cuda: torch sees no CUDA device here; use --device cpu (or auto)")
    configs = grid_configs(names, overrides, only, presets)
    if _filters(only) and not configs:  # a filter that selects nothing is a mistake, not a finished grid
        keys = [c.key() for c in grid_configs(names, overrides, presets=presets)]
        raise ConfigError(
            f"--only {' / '.join(map(repr, _filters(only)))} matches none of the {len(keys)} run key(s) of {', '.join(names)}; keys look like "
            f"{keys[0] if keys else '<dataset>-<run>-<split>-s<seed>-<hash>'} (see --list)"
        )
    missing = [c for c in configs if not is_done(c.key())]
    todo, skipped = shard(missing, index, count), len(configs) - len(missing)
    if not todo:
        say(
            f"nothing to run: {len(configs)} config(s) selected, {skipped} already in the results store"
            + (f" (shard {shard_spec} holds none of the other {len(missing)})" if missing else "")
        )
        return 0
    if parallel is None and device is None:
        from .trainer import train

        for i, cfg in enumerate(todo, 1):
            say(f"[{i}/{len(todo)}] {cfg.key()}")
            cfg.threads, cfg.progress = threads, progress
            result = train(cfg)
            if not is_done(cfg.key()):  # finished earlier, but the store lost it: publish again
                from .runs import republish

                republish(result.run_dir)
        return 0
    from .parallel import format_summary, prepare_shared, run_parallel

    parallel = parallel or 1
    say(f"{len(todo)} run(s) to do ({skipped} already stored), {parallel} at a time")
    prepare_shared(todo, threads, say)
    outcomes = run_parallel(todo, parallel, threads, device, say)
    say(format_summary(outcomes, skipped, len(todo) - len(outcomes)))
    return 1 if any(o.status != "finished" for o in outcomes) or len(outcomes) < len(todo) else 0


def old_preset_changes(cfg: Config) -> dict:
    """The fields of ``cfg``'s method's old preset (:data:`LEGACY_PRESETS`) that differ from today's
    at ``cfg``'s switches."""
    pinned = LEGACY_PRESETS.get(cfg.method, {})
    if not pinned:
        return {}
    now = resolve(base_config(method=cfg.method, **cfg.switches()))
    return {k: v for k, v in pinned.items() if getattr(now, k) != v}


def uses_legacy_preset(cfg: Config) -> bool:
    """Whether ``cfg`` was made with its method's preset as set before the headline's change
    (:data:`LEGACY_PRESETS`): a run of a grid stored then, superseded where the preset changed."""
    changed = old_preset_changes(cfg)
    return bool(changed) and all(getattr(cfg, k) == v for k, v in changed.items())


def legacy_note(cfg: Config) -> str:
    """What a run held of its method's preset as set before the headline's change, for labels:
    "preset before the headline's change (unsup_rampup=0.1)"; "" for a run labelled against today's
    preset (:func:`setting_label`)."""
    held = _labelled(cfg)[1]
    return f"preset before the headline's change ({', '.join(f'{k}={v}' for k, v in held.items())})" if held else ""


def setting_label(cfg: Config) -> str:
    """The fields of a grid config that differ from its method's default config at its split
    ("teacher_bn_train=True"; "" for the default): how summaries tell a grid's variants apart. A
    config run on its method's preset as set before the headline's change is compared with that
    preset (:func:`legacy_note` says which of its fields it held)."""
    return ", ".join(_labelled(cfg)[0])


def _labelled(cfg: Config) -> tuple[list[str], dict]:
    """(``cfg``'s differences, the old preset's fields it held) against whichever of today's preset
    and the old one it reads shorter against; the old one only where ``cfg`` holds some of its
    changed fields (a screen of one field run before the change: "unsup_rampup=0.0" on the old
    preset, not two fields off today's)."""
    today = _differences(cfg, {})
    held = {k: v for k, v in old_preset_changes(cfg).items() if getattr(cfg, k) == v}
    if held:
        old = _differences(cfg, LEGACY_PRESETS[cfg.method])
        if len(old) < len(today):
            return old, held
    return today, {}


def _differences(cfg: Config, preset_fields: dict) -> list[str]:
    """ "field=value" for each field of ``cfg`` that differs from its method's default at its split
    with ``preset_fields`` (a preset's old settings) applied."""
    ref = dict(method=cfg.method, split=cfg.split, seed=cfg.seed, **preset_fields)
    base = resolve(base_config(**ref)).to_dict()
    # settings that cannot act with cfg's switches (resolve() gives them their legacy value, e.g.
    # fa_on_sup without feature aug) are compared with the default at those switches: not labelled
    same_switches = resolve(base_config(**ref, **cfg.switches())).to_dict()
    return [
        f"{k}={v}"
        for k, v in cfg.to_dict().items()
        if k not in Config.RUNTIME_ONLY and v != base[k] and (k in SWITCHES or v != same_switches[k])
    ]


def short_run(
    iters: int = 60,
    data_root: str | None = None,
    base: dict | None = None,
    store: str | Path | None = None,
    progress: bool = False,
    **selection,
):
    """Train a short run of a selection (``method``, ``split``, switches) on the built-in default
    config: what the explorer's "train short run" button launches. ``base``: extra Config fields.
    ``store``: a folder for the run (``runs/<key>``) and its result (``results/<key>``) instead of
    the ``MKD_*_DIR`` folders (the explorer keeps short runs out of the book's store);
    ``progress``: the trainer's progress bar (a notebook bar in a kernel).
    Returns the trainer's result (published to the results store like any run)."""
    from .trainer import train

    cfg = base_config(
        **{
            **(base or {}),
            **selection,
            "iters": iters,
            "eval_interval": max(1, iters // 4),
            "threads": 1,
            "progress": progress,
            **({"data_root": data_root} if data_root else {}),
        }
    )
    if store is None:
        return train(cfg)
    from .results import publish

    result = train(cfg, run_dir=Path(store) / "runs" / cfg.key(), publish_result=False)
    publish(result.run_dir, root=Path(store) / "results")
    return result


def started_at(cfg: Config) -> int | None:
    """The last logged iteration of ``cfg``'s unfinished run in the runs folder (``$MKD_RUNS_DIR``:
    a background grid's, which resumes there from ``last.pt``), None when it has not started."""
    from .trainer import default_run_dir

    log = default_run_dir(cfg) / "metrics.jsonl"
    if not log.is_file():
        return None
    with open(log, "rb") as f:  # the last line: a long run's log is read from its end
        f.seek(max(0, f.seek(0, 2) - 4096))
        lines = f.read().decode(errors="replace").splitlines()
    for line in reversed(lines):
        try:
            return int(json.loads(line)["iter"])
        except (ValueError, KeyError, TypeError):
            continue
    return None


def train_config(
    dataset: str = "synthetic", config: str | Path | None = None, config_overrides: dict | None = None, **fields
) -> Config:
    """The resolved Config that the training chapter (``03_train``) runs: the config file (by
    default the dataset's ``default_config``, for the built-in dataset ``configs/synthetic/mkd.yaml``),
    then the named fields that are not None, then ``config_overrides``. A relative config path may
    be given from the source tree's root (read only)."""
    from .data.registry import DATASET_INFO
    from .io import REPO_ROOT

    entry = DATASET_INFO.get(dataset)  # None: resolve names the datasets there are
    source = config or (entry.default_config if entry else None)
    if source is not None and not Path(source).exists() and (REPO_ROOT / source).exists():
        source = REPO_ROOT / source
    values = {"dataset": dataset, **{k: v for k, v in fields.items() if v is not None}, **dict(config_overrides or {})}
    return resolve(make_config(source, **values))


def run_missing(grids: list[str] | None = None, threads: int = 1, progress: bool = True) -> list[str]:
    """Train every config of ``grids`` (default: all) not yet in the results store, through the one
    grid runner (:func:`run_grids`); returns the keys now stored (the tables chapter's ``run_missing``)."""
    names = list(grids or GRIDS)
    before = {c.key() for c in grid_configs(names) if is_done(c.key())}
    run_grids(names, threads, progress=progress, say=lambda m: print(f"[run_missing] {m}", flush=True))
    return [c.key() for c in grid_configs(names) if is_done(c.key()) and c.key() not in before]


def _progress_line(cfgs: list[Config], rates: dict) -> str:
    """ "12/21 done, 1 started (iteration 800/4,000), ~3.5 CPU-h left" for a grid's configs."""
    left = [c for c in cfgs if not is_done(c.key())]
    line = f"{len(cfgs) - len(left)}/{len(cfgs)} done"
    at = {c.key(): (i, c.iters) for c in left if (i := started_at(c)) is not None}
    share = {k: 1 - i / n for k, (i, n) in at.items()}  # what a started run has left
    hours = sum(estimate_cpu_seconds(c.method, c.iters, rates) * share.get(c.key(), 1) for c in left) / 3600
    if at:
        line += f", {len(at)} started (iteration {', '.join(f'{i:,}/{n:,}' for i, n in at.values())})"
    if left and not math.isnan(hours):
        line += f", ~{hours:.1f} CPU-h left"
    return line


_VERSION_WORDS = {"legacy": "the presets as stored (legacy)", "today": "today's presets"}


def _print_list(presets: str | None) -> None:
    """Each grid's progress (``--list``); a grid whose configs differ on the other presets version
    says how far that version is too, and a last line how far those grids are on it together (runs
    that grids share counted once): the re-run the book waits for before it reads today's presets."""
    rates = cpu_seconds_per_iter()
    shown = presets or STORED_GRIDS_PRESETS
    other = next(v for v in PRESET_VERSIONS if v != shown)
    differ = []
    for g in GRIDS:
        cfgs = grid(g, shown)
        line = f"{g:{max(map(len, GRIDS))}s} {_progress_line(cfgs, rates)}"
        alt = grid(g, other)
        if [c.key() for c in alt] != [c.key() for c in cfgs]:
            line += f"  [on {_VERSION_WORDS[other]}: {_progress_line(alt, rates)}]"
            differ.append(g)
        print(line)
    if differ:
        together = _progress_line(grid_configs(differ, presets=other), rates)
        print(f"(the {len(differ)} grids above in brackets, on {_VERSION_WORDS[other]}: {together}; runs shared once)")
    if STORED_GRIDS_PRESETS == "legacy":
        print("(the book reads the presets as stored until every grid is stored on today's presets too)")
    if rates:
        print("(CPU-hours estimated from the stored CPU runs' seconds per iteration times threads)")
    print(f"(grids on {_VERSION_WORDS[shown]}; --presets {other} lists and runs them on {_VERSION_WORDS[other]})")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m mkdlib.experiments", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("grids", nargs="*", default=[])
    p.add_argument("--list", action="store_true")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--shard", default="0/1", help="i/n: run the i-th of n cost-balanced parts (parallel processes)")
    p.add_argument("--parallel", type=int, default=None, metavar="N", help="N runs at once, each its own process")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default=None, help="device of every run")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="override a field in every config (repeatable; key fields give other run keys)",
    )
    p.add_argument(
        "--only",
        action="append",
        default=None,
        metavar="TEXT",
        help="only the configs whose run key contains TEXT (repeatable: any of them)",
    )
    p.add_argument(
        "--presets",
        choices=PRESET_VERSIONS,
        default=None,
        help="the presets of the grids stored before the headline's change: as they were stored "
        f"(legacy) or as set today (their re-run); default {STORED_GRIDS_PRESETS}, what the book reads",
    )
    args = p.parse_args(argv)
    if args.list or not args.grids:
        _print_list(args.presets)
        return 0
    from .parallel import parse_overrides

    try:
        overrides = parse_overrides(args.set)
        parallel = args.parallel if (args.parallel is not None or overrides or args.only or args.device) else None
        if parallel is None and (overrides or args.only or args.device):
            parallel = 1
        return run_grids(
            args.grids, args.threads, parallel, args.device, overrides, args.only, args.shard, presets=args.presets
        )
    except (ConfigError, KeyError) as e:
        print(f"error: {e.args[0] if isinstance(e, KeyError) else e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
