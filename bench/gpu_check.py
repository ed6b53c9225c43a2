"""The GPU check: one command for a short GPU lease (<= 8 minutes on one H200, no network).

    bash bench/gpu_check.sh                    # on the GPU machine: record -> bench/results/
    bash bench/gpu_check.sh --out DIR          # the record elsewhere (then copy it to bench/results/)
    python -m bench.gpu_check --dry-run        # CPU, gloo, tiny sizes (~30-60 s): what the tests run
    python -m bench.gpu_check --reindex        # rewrite bench/results/gpu_checks.md from the records there

Parts, in order, each with a time limit inside a total budget (default 480 s). A part that runs over
its limit is stopped and noted (the subprocess parts: training and step cost; the two short
in-process parts are only timed); once the budget is spent the remaining parts are skipped with a
note. The JSON record is rewritten after every part, so an interrupted check still leaves one.

1. ``environment``: device, driver, torch / CUDA / cuDNN / NCCL versions, the bf16 peak from the
   table in ``bench.step_cost`` and a bf16 8192^3 matrix product's measured TFLOP/s.
2. ``data``: the built-in generator's own images rendered at 512 px (``SyntheticSpec(size=512)``,
   128 train + 32 val, in parallel): the same scenes and classes as the 64 px CPU dataset at 8x
   the side, not upscaled copies. Their mIoU means nothing; they give a realistic input size.
3. ``training``: MKD with a ResNet-50 DeepLabV3+ (encoder_weights none), 512 px crops, batch 8 + 8,
   bf16 autocast, channels_last, launched by ``torchrun --standalone --nproc_per_node 1`` with
   ``MKD_FORCE_DDP=1``: NCCL process group, DistributedDataParallel, SyncBatchNorm conversion and
   every collective of the trainer (with one process SyncBatchNorm computes plain BatchNorm; its
   cross-GPU reduction needs two GPUs). Two runs of the same config share the GPU: an
   uninterrupted reference, and a run SIGKILLed (trainer, data workers and launcher) mid-run and
   then resumed by the same command. Checks: every logged loss is finite and no step was skipped;
   the resumed run ends as the reference does (bitwise on CPU; on CUDA see ``resume_check``).
4. ``step_cost``: ``python -m bench.step_cost --preset cuda-r50`` eager (step time, images/s,
   achieved TFLOP/s against the bf16 peak, peak memory per method, MKD/CPS), then
5. ``step_cost_compile``: the same with torch.compile.

Exit status: 0 every part ran and passed; 1 a check failed; 2 bad usage or the environment cannot
run it (missing package, no CUDA); 3 nothing failed but a part was skipped or ran over its limit.
"""

import argparse
import datetime
import os
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from bench.gpu_check_parts import part_data, part_environment, part_step_cost, summarize_step_cost
from bench.gpu_check_plan import BASE_CONFIG, REPO, RESULTS_DIR, CheckError, Plan, dry_plan, gpu_plan
from bench.gpu_check_processes import Proc, child_env
from bench.gpu_check_record import INDEX_NAME, SCHEMA_VERSION, format_summary, index_markdown, record_stem, write_index
from bench.gpu_check_training import CUDA_NOT_BITWISE, finite_check, logged_iteration, part_training, resume_check

os.environ.setdefault("HF_HUB_OFFLINE", "1")

#: the names of the parts' modules, as they were when this was one file (tests and users import them from here)
__all__ = [
    "BASE_CONFIG",
    "CUDA_NOT_BITWISE",
    "INDEX_NAME",
    "REPO",
    "RESULTS_DIR",
    "SCHEMA_VERSION",
    "CheckError",
    "Plan",
    "Proc",
    "child_env",
    "dry_plan",
    "finite_check",
    "format_summary",
    "gpu_plan",
    "index_markdown",
    "logged_iteration",
    "main",
    "parser",
    "part_data",
    "part_environment",
    "part_step_cost",
    "part_training",
    "preflight",
    "record_stem",
    "resume_check",
    "run_check",
    "summarize_step_cost",
    "write_index",
]

RESERVE_S = 10.0  # of the total budget, kept for writing the record at the end

#: what a run imports, by import name -> distribution (torch with CUDA comes with the GPU machine)
REQUIRED = {
    "torch": "torch",
    "torchvision": "torchvision",
    "segmentation_models_pytorch": "segmentation-models-pytorch",
    "timm": "timm",
    "albumentations": "albumentations",
    "cv2": "opencv-python-headless",
    "PIL": "pillow",
    "skimage": "scikit-image",
    "scipy": "scipy",
    "yaml": "pyyaml",
    "filelock": "filelock",
    "tqdm": "tqdm",
    "numpy": "numpy",
}


def preflight() -> list[str]:
    """Packages that cannot be imported here (each with its error)."""
    import importlib

    missing = []
    for module, dist in REQUIRED.items():
        try:
            importlib.import_module(module)
        except Exception as e:  # noqa: BLE001 - any import failure is the same problem here
            missing.append(f"{dist} (import {module}: {type(e).__name__}: {e})")
    return missing


def run_check(
    plan: Plan,
    out_dir: Path,
    work: Path,
    peak: float | None = None,
    skip: tuple[str, ...] = (),
    say: Callable = print,
    argv: list[str] | None = None,
) -> dict:
    """Run the parts of ``plan`` within its budget; the record is (re)written to ``out_dir`` after each."""
    from mkdlib.io import atomic_write_json, atomic_write_text

    t0 = time.monotonic()
    created = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    rec: dict = {
        "schema": SCHEMA_VERSION,
        "benchmark": "gpu_check",
        "mode": plan.mode,
        "created": created,
        "command": "python -m bench.gpu_check " + " ".join(argv or []),
        "budget_s": plan.budget,
        "plan": {
            "device": plan.device,
            "data": plan.data,
            "limits_s": plan.limits,
            "kill_after": plan.kill_after,
            "step_cost": plan.step_cost,
            "step_cost_compile": plan.step_cost_compile,
        },
        "parts": {},
        "notes": [],
        "ok": False,
        "failed": False,
    }
    paths: dict[str, Path] = {}

    def save() -> None:
        rec["wall_s"] = time.monotonic() - t0
        if not paths:
            stem = record_stem(rec)
            paths.update(json=out_dir / f"{stem}.json", txt=out_dir / f"{stem}.txt")
        atomic_write_json(paths["json"], rec)
        atomic_write_text(paths["txt"], format_summary(rec) + "\n")

    def part(name: str, fn: Callable[[float], tuple[str, dict]]) -> dict | None:
        left = plan.budget - (time.monotonic() - t0) - RESERVE_S
        if name in skip:
            rec["parts"][name] = {"status": "skipped", "note": "--skip"}
            save()
            return None
        if left < plan.minimum.get(name, 0) or left <= 0:
            rec["parts"][name] = {
                "status": "skipped",
                "note": f"budget: {max(left, 0):.0f} s left, needs {plan.minimum.get(name, 0):.0f} s",
            }
            rec["notes"].append(f"{name} skipped: over the total budget of {plan.budget:.0f} s")
            save()
            return None
        limit = min(plan.limits[name], left)
        say(f"[gpu_check] {name} (limit {limit:.0f} s) ...")
        start = time.monotonic()
        try:
            status, data = fn(limit)
        except Exception as e:  # noqa: BLE001 - one part's failure is recorded; the others still run
            status, data = (
                "failed",
                {"error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc().splitlines()[-12:]},
            )
        entry = {"status": status, "wall_s": time.monotonic() - start, "limit_s": limit}
        for k in ("note", "error"):
            if data.get(k):
                entry[k] = data[k]
        rec["parts"][name] = entry
        rec[name] = data
        save()
        say(f"[gpu_check] {name}: {status} in {entry['wall_s']:.0f} s")
        return data if status == "ok" else None

    env = part("environment", lambda limit: part_environment(plan, work, limit, peak))
    if env is None:
        rec["failed"] = True
        save()
        return rec
    data = part("data", lambda limit: part_data(plan, work, limit))
    part("training", lambda limit: part_training(plan, work, limit, data, say))
    part("step_cost", lambda limit: part_step_cost(plan, work, limit, plan.step_cost, "step_cost", peak))
    if plan.step_cost_compile is None:
        rec["parts"]["step_cost_compile"] = {
            "status": "skipped",
            "note": "dry run: torch.compile skipped (inductor's C++ build of every network takes minutes on a CPU)",
        }
        rec["notes"].append("torch.compile not run (dry run)")
    else:
        part(
            "step_cost_compile",
            lambda limit: part_step_cost(plan, work, limit, plan.step_cost_compile, "step_cost_compile", peak),
        )
    eager = (rec.get("step_cost") or {}).get("summary", {}).get("methods", {})
    comp = (rec.get("step_cost_compile") or {}).get("summary", {}).get("methods", {})
    speedup = {k: eager[k]["step_ms"] / comp[f"{k}+compile"]["step_ms"] for k in eager if f"{k}+compile" in comp}
    if speedup:  # eager step time / compiled step time, per method (two processes, not interleaved)
        rec["compile_speedup"] = speedup
    expected_skips = {"step_cost_compile"} if plan.step_cost_compile is None else set()
    statuses = {n: p["status"] for n, p in rec["parts"].items() if n not in expected_skips}
    rec["failed"] = "failed" in statuses.values()
    rec["ok"] = all(s == "ok" for s in statuses.values())
    save()
    logs = [
        f"===== {log.name} (last 80 lines) =====\n" + "\n".join(Proc.tail_of(log, 80))
        for log in sorted(work.glob("*.log"))
    ]
    if logs:
        atomic_write_text(paths["json"].with_name(paths["json"].stem + "-logs.txt"), "\n\n".join(logs) + "\n")
    write_index(out_dir)
    rec["paths"] = {k: str(v) for k, v in paths.items()}
    return rec


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench.gpu_check", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--dry-run", action="store_true", help="CPU, gloo, tiny sizes, no compile: checks the check")
    p.add_argument("--out", help="folder for the record (default: bench/results/; a dry run: a new temporary folder)")
    p.add_argument("--budget", type=float, help="total seconds (default 480 on a GPU, 300 for a dry run)")
    p.add_argument("--iters", type=int, default=300, help="training iterations per run on the GPU (default 300)")
    p.add_argument("--peak-tflops", type=float, help="the device's dense bf16 peak, if not in the table")
    p.add_argument("--skip", default="", help="comma list of parts to skip: training, step_cost, step_cost_compile")
    p.add_argument("--work", help="scratch folder for data, runs and logs (default: a temporary one, removed)")
    p.add_argument("--keep-work", action="store_true", help="keep the scratch folder (logs, checkpoints)")
    p.add_argument("--reindex", action="store_true", help=f"only rewrite {INDEX_NAME} in the records folder")
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser().parse_args(argv)
    if args.reindex:
        folder = Path(args.out) if args.out else RESULTS_DIR
        print(f"index: {write_index(folder)}")
        return 0
    missing = preflight()
    if missing:
        print(
            "error: these packages cannot be imported, and the check installs nothing:\n  "
            + "\n  ".join(missing)
            + "\nInstall the project (pip install -e .), or on a machine without a registry carry wheels: see "
            "docs/performance.md, 'The GPU check'.",
            file=sys.stderr,
        )
        return 2
    skip = tuple(s for s in args.skip.split(",") if s)
    unknown = set(skip) - {"training", "step_cost", "step_cost_compile"}
    if unknown:
        print(
            f"error: --skip: unknown part(s) {sorted(unknown)}; parts: training, step_cost, step_cost_compile",
            file=sys.stderr,
        )
        return 2
    if args.dry_run:
        plan = dry_plan(args.budget or 300.0)
        out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="gpu_check-dry-run-"))
        if out.resolve() == RESULTS_DIR.resolve() or RESULTS_DIR.resolve() in out.resolve().parents:
            print(f"error: a dry run never writes into {RESULTS_DIR}; pass another --out (or none)", file=sys.stderr)
            return 2
    else:
        import torch

        if not torch.cuda.is_available():
            print(
                f"error: torch {torch.__version__} sees no CUDA device; on a machine without a GPU run "
                "`python -m bench.gpu_check --dry-run`",
                file=sys.stderr,
            )
            return 2
        plan = gpu_plan(args.iters, args.budget or 480.0)
        out = Path(args.out) if args.out else RESULTS_DIR
    out.mkdir(parents=True, exist_ok=True)
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="gpu_check-work-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        rec = run_check(plan, out, work, args.peak_tflops, skip, argv=argv)
    finally:
        if not (args.keep_work or args.work):
            shutil.rmtree(work, ignore_errors=True)
    print(format_summary(rec))
    print(f"record: {rec.get('paths', {}).get('json')}")
    if rec["failed"]:
        return 1
    return 0 if rec["ok"] else 3


if __name__ == "__main__":
    sys.exit(main())
