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

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]
RESULTS_DIR = REPO / "bench" / "results"
INDEX_NAME = "gpu_checks.md"
SCHEMA_VERSION = 1
RESERVE_S = 10.0  # of the total budget, kept for writing the record at the end
BASE_CONFIG = REPO / "configs" / "synthetic" / "mkd.yaml"

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

#: why a CUDA resume is not expected to be bitwise equal to the uninterrupted run
CUDA_NOT_BITWISE = (
    "On CUDA two runs of the same config are not bitwise equal even without an interruption: the "
    "backward of bilinear upsampling (DeepLabV3+'s decoder and output) and other reductions accumulate "
    "with atomic adds whose order varies from run to run, and torch.use_deterministic_algorithms(True) "
    "refuses that op. So the check compares the resumed run with the reference against the drift of two "
    "uninterrupted runs: before the kill both runs are uninterrupted, and the loss difference there is "
    "the non-determinism alone; a correct resume shows a difference of the same size just after it."
)


class CheckError(RuntimeError):
    """The check cannot run here; the message says what to change."""


# --------------------------------------------------------------------------- the plans
@dataclass
class Plan:
    """What one mode runs: data, training config (on configs/synthetic/mkd.yaml), step_cost flags, limits."""

    mode: str  # "gpu" | "dry-run"
    device: str
    data: dict
    data_workers: int
    train: dict
    step_cost: list[str]
    step_cost_compile: list[str] | None
    limits: dict[str, float]  # seconds per part
    minimum: dict[str, float]  # a part starts only with this much of the budget left
    budget: float
    env: dict[str, str] = field(default_factory=dict)

    @property
    def kill_after(self) -> int:
        """SIGKILL once this many iterations are logged: one log interval past the checkpoint at
        (about) half the run, so that checkpoint is on disk and the resume has work left."""
        t = self.train
        ckpt = t["checkpoint_interval"]
        half = max(ckpt, (t["iters"] // 2) // ckpt * ckpt)
        return half + t["log_interval"]


def gpu_plan(iters: int = 300, budget: float = 480.0) -> Plan:
    cores = os.cpu_count() or 2
    train = dict(
        method="mkd",
        split="1/4",
        encoder="resnet50",
        encoder_weights=None,
        crop_size=512,
        decoder_channels=256,
        atrous_rates=(12, 24, 36),
        output_stride=16,
        batch_size=8,
        unlabeled_batch_size=8,
        amp="bf16",
        channels_last=True,
        device="cuda",
        iters=iters,
        eval_interval=iters,
        checkpoint_interval=50,
        log_interval=10,
        warmup_iters=20,
        num_workers=max(1, min(6, cores // 2 - 2)),
        threads=max(1, min(4, cores // 4)),
        validate_samples=32,
        progress=False,
    )
    return Plan(
        "gpu",
        "cuda",
        dict(num_train=128, num_val=32, size=512),
        max(1, min(cores, 16)),
        train,
        step_cost=["--preset", "cuda-r50", "--compile", "off", "--steps", "10", "--warmup", "3", "--eval-images", "16"],
        step_cost_compile=[
            "--preset",
            "cuda-r50",
            "--compile",
            "on",
            "--steps",
            "10",
            "--warmup",
            "2",
            "--no-parts",
            "--no-eval",
        ],
        limits=dict(environment=30, data=45, training=240, step_cost=75, step_cost_compile=150),
        minimum=dict(environment=0, data=10, training=90, step_cost=30, step_cost_compile=60),
        budget=budget,
    )


def dry_plan(budget: float = 300.0) -> Plan:
    train = dict(
        method="mkd",
        split="1/4",
        encoder="tu-regnetx_002",
        encoder_weights=None,
        crop_size=32,
        decoder_channels=32,
        batch_size=2,
        unlabeled_batch_size=2,
        device="cpu",
        iters=8,
        eval_interval=8,
        checkpoint_interval=2,
        log_interval=1,
        warmup_iters=1,
        threads=1,
        num_workers=0,
        validate_samples=8,
        progress=False,
    )
    return Plan(
        "dry-run",
        "cpu",
        dict(num_train=48, num_val=16, size=32),
        1,
        train,
        step_cost=[
            "--preset",
            "cuda-r50",
            "--device",
            "cpu",
            "--tiny",
            "--threads",
            "1",
            "--compile",
            "off",
            "--set",
            "encoder=tu-regnetx_002",
            "--set",
            "decoder_channels=32",
            "--set",
            "atrous_rates=2,4,6",
            "--no-parts",
            "--no-eval",
        ],
        step_cost_compile=None,
        limits=dict(environment=30, data=60, training=180, step_cost=120, step_cost_compile=0),
        minimum={},
        budget=budget,
        env={"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"},
    )


# --------------------------------------------------------------------------- processes
def _children(pid: int) -> list[int]:
    """Every descendant of ``pid`` (from /proc; torchrun starts its workers in sessions of their own,
    so killing the launcher's process group would leave the trainer running)."""
    parent: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
            parent[int(stat.parent.name)] = int(text.rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        kids = [c for c, pp in parent.items() if pp == p]
        out += kids
        todo += kids
    return out


def _running(pid: int) -> bool:
    """The process exists and is not a zombie (a killed grandchild may wait for a reaper)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


class Proc:
    """A child process (a whole torchrun tree) with its output in a log file."""

    def __init__(self, name: str, cmd: list[str], env: dict, log: Path):
        self.name, self.cmd, self.log = name, cmd, log
        self._f = open(log, "wb")
        self.popen = subprocess.Popen(
            cmd, cwd=REPO, env=env, stdout=self._f, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.t0, self.wall_s, self.killed = time.monotonic(), None, None
        self.killed_pids: list[int] = []
        self.survivors: list[int] = []

    def poll(self) -> int | None:
        rc = self.popen.poll()
        if rc is not None and self.wall_s is None:
            self.wall_s = time.monotonic() - self.t0
            self._f.close()
        return rc

    def kill(self, why: str) -> None:
        """SIGKILL the process and every descendant at once (as a lost machine would); ``survivors``
        lists any of them still running afterwards."""
        pids = [self.popen.pid, *_children(self.popen.pid)] if self.popen.poll() is None else []
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.popen.wait()
        self.killed, self.killed_pids = why, pids
        deadline = time.monotonic() + 5
        while (alive := [p for p in pids[1:] if _running(p)]) and time.monotonic() < deadline:
            time.sleep(0.05)
        self.survivors = alive
        self.poll()

    def tail(self, lines: int = 25) -> list[str]:
        return self.tail_of(self.log, lines)

    @staticmethod
    def tail_of(log: Path, lines: int = 25) -> list[str]:
        """The last non-empty lines of a log (progress-bar redraws split into lines)."""
        try:
            text = log.read_text(errors="replace")
        except OSError:
            return []
        return [r.rstrip() for r in text.replace("\r", "\n").splitlines() if r.strip()][-lines:]


def _child_env(plan: Plan, work: Path, **extra: str) -> dict[str, str]:
    drop = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", "MKD_FORCE_DDP")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(
        HF_HUB_OFFLINE="1",
        PYTHONUNBUFFERED="1",
        MKD_RESULTS_DIR=str(work / "results"),
        MKD_RUNS_DIR=str(work / "runs"),
        MKD_DATA_DIR=str(work / "data"),
        PYTHONPATH=os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]),
    )
    env.update(plan.env)
    env.update(extra)
    return env


# --------------------------------------------------------------------------- parts
def part_environment(plan: Plan, work: Path, limit: float, peak_override: float | None) -> tuple[str, dict]:
    import torch

    from bench.step_cost import bf16_peak_tflops

    rec: dict = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "hostname": platform.node(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "cuda_runtime": torch.version.cuda,
        "git_commit": _git_commit(),
    }
    if plan.device == "cuda":
        if not torch.cuda.is_available():
            raise CheckError(
                f"torch {torch.__version__} sees no CUDA device (CUDA runtime "
                f"{torch.version.cuda}); on a machine without a GPU run --dry-run"
            )
        p = torch.cuda.get_device_properties(0)
        rec.update(
            device="cuda:0",
            device_name=torch.cuda.get_device_name(0),
            capability=f"{p.major}.{p.minor}",
            sm_count=p.multi_processor_count,
            memory_gib=round(p.total_memory / 2**30, 1),
            cudnn=torch.backends.cudnn.version(),
            device_count=torch.cuda.device_count(),
        )
        try:
            rec["nccl"] = ".".join(map(str, torch.cuda.nccl.version()))
        except Exception as e:  # noqa: BLE001
            rec["nccl"] = f"unknown ({e})"
        rec["driver"] = _nvidia_smi("driver_version")
        try:  # the CUDA driver API version (e.g. 13000), known even without nvidia-smi
            rec["cuda_driver_api"] = torch._C._cuda_getDriverVersion()
        except Exception:  # noqa: BLE001 - a private call; absent in some builds
            rec["cuda_driver_api"] = None
        rec["matmul_bf16_tflops"] = _matmul_tflops(torch)
    else:
        rec.update(
            device="cpu",
            device_name=_cpu_name(),
            driver=None,
            cudnn=None,
            nccl=None,
            matmul_bf16_tflops=None,
            note="dry run: CPU only, no driver or CUDA libraries involved",
        )
    peak, source = bf16_peak_tflops(rec["device_name"] if plan.device == "cuda" else "cpu", peak_override)
    rec.update(bf16_peak_tflops=peak, bf16_peak_source=source)
    return "ok", rec


def _git_commit() -> str | None:
    from mkdlib.io import git_commit

    return git_commit(short=True)


def _cpu_name() -> str:
    try:
        return next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or "cpu"


def _nvidia_smi(field_name: str) -> str | None:
    try:
        out = subprocess.run(
            ["nvidia-smi", f"--query-gpu={field_name}", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=20,
        )
        return out.stdout.strip().splitlines()[0] if out.returncode == 0 and out.stdout.strip() else None
    except (OSError, subprocess.TimeoutExpired):
        return None


def _matmul_tflops(torch, n: int = 8192, reps: int = 10) -> float:
    """bf16 n^3 matrix products on random data: the ceiling a conv network's TFLOP/s compares with."""
    a = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    for _ in range(3):
        a @ b
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(reps):
        a @ b
    end.record()
    torch.cuda.synchronize()
    seconds = start.elapsed_time(end) / 1e3
    del a, b
    torch.cuda.empty_cache()
    return 2 * n**3 * reps / seconds / 1e12


def part_data(plan: Plan, work: Path, limit: float) -> tuple[str, dict]:
    from mkdlib.data import SyntheticSpec, generate, prepare_synthetic

    spec = SyntheticSpec(**plan.data)
    root = work / "data" / spec.name
    generate(root, spec, progress=False, workers=plan.data_workers)
    # the split and class caches too, once, before two runs start at the same time
    bundle = prepare_synthetic(root, plan.train["split"], 0, progress=False)
    return "ok", {
        "root": str(root),
        "spec": plan.data,
        "name": spec.name,
        "labeled": len(bundle.split.labeled),
        "unlabeled": len(bundle.split.unlabeled),
        "val": len(bundle.val_ids),
        "workers": plan.data_workers,
        "note": (
            f"the built-in generator's images rendered at {spec.size} px (not upscaled): "
            "a realistic input size; the mIoU on them means nothing"
            if plan.mode == "gpu"
            else f"tiny {spec.size} px built-in images for the dry run"
        ),
    }


def logged_iteration(run_dir: Path) -> int:
    from mkdlib.io import read_jsonl

    path = run_dir / "metrics.jsonl"
    return max((m["iter"] for m in read_jsonl(path) if "loss" in m), default=0) if path.exists() else 0


def _torchrun(config: Path, run_dir: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "1",
        "-m",
        "mkdlib",
        "train",
        "--config",
        str(config),
        "--run-dir",
        str(run_dir),
    ]


def part_training(plan: Plan, work: Path, limit: float, data: dict | None, say: Callable) -> tuple[str, dict]:
    from mkdlib.config import make_config, resolve, save_config

    if not data:
        raise CheckError("no data: the data part did not finish")
    deadline = time.monotonic() + limit
    cfg = resolve(make_config(BASE_CONFIG, **plan.train, data_root=data["root"]))
    config_path = work / "train.yaml"
    save_config(cfg, config_path)
    ref_dir, res_dir = work / "runs" / "reference", work / "runs" / "resumed"
    env = _child_env(plan, work, MKD_FORCE_DDP="1")
    kill_after = plan.kill_after
    if kill_after >= cfg.iters:
        raise CheckError(f"iters {cfg.iters} is too few to kill a run after {kill_after} logged iterations")
    rec: dict = {
        "config": {k: v for k, v in cfg.to_dict().items() if k not in ("data_root", "run_dir")},
        "key": cfg.key(),
        "launch": "torchrun --standalone --nproc_per_node 1 (MKD_FORCE_DDP=1)",
        "backend": "nccl" if plan.device == "cuda" else "gloo",
        "sync_batchnorm": "converted; computes plain BatchNorm with one process"
        if plan.device == "cuda"
        else "off (CPU)",
        "kill_after_logged_iteration": kill_after,
        "concurrent_runs_on_device": 2,
    }
    say(f"training: reference and to-be-killed run at once ({cfg.iters} iterations each, kill after {kill_after})")
    ref = Proc("reference", _torchrun(config_path, ref_dir), env, work / "reference.log")
    victim = Proc("killed", _torchrun(config_path, res_dir), env, work / "killed.log")
    over = False
    while ref.poll() is None or (victim.poll() is None and victim.killed is None):
        if ref.poll() not in (None, 0):  # the reference failed: no point in waiting for the other
            victim.kill("the reference run failed")
            break
        if (
            victim.poll() is None
            and victim.killed is None
            and logged_iteration(res_dir) >= kill_after
            and (res_dir / "last.pt").exists()
        ):
            at = logged_iteration(res_dir)
            victim.kill(f"SIGKILL after {at} logged iterations")
            rec["killed_at_logged_iteration"] = at
            say(f"training: killed the second run after {at} logged iterations")
        if time.monotonic() > deadline:
            over = True
            break
        time.sleep(0.05)
    rec["reference"] = _run_summary(ref, ref_dir)
    if ref.popen.returncode not in (None, 0):
        return "failed", {**rec, "error": f"the reference run failed (exit {ref.popen.returncode}); see its log_tail"}
    if over:
        for p in (ref, victim):
            p.kill("over the part's time limit")
        rec["reference"] = _run_summary(ref, ref_dir)
        rec["note"] = (
            f"over the {limit:.0f} s limit: the reference reached {logged_iteration(ref_dir)} of {cfg.iters} iterations"
        )
        return "over_budget", rec
    if victim.killed is None:
        rec["killed"] = _run_summary(victim, res_dir)
        raise CheckError(
            f"the second run ended (exit {victim.popen.returncode}) before it logged {kill_after} "
            f"iterations, so it was never killed; log: {victim.tail(15)}"
        )
    rec["killed"] = {
        "log_tail": victim.tail(8),
        "wall_s": victim.wall_s,
        "signal": "SIGKILL",
        "processes_killed": len(victim.killed_pids),
        "survivors": victim.survivors,
    }
    if victim.survivors:
        raise CheckError(f"processes {victim.survivors} of the killed run survived SIGKILL")

    say("training: resuming the killed run")
    resume = Proc("resume", _torchrun(config_path, res_dir), env, work / "resume.log")
    while resume.poll() is None:
        if time.monotonic() > deadline:
            resume.kill("over the part's time limit")
            rec["resumed"] = _run_summary(resume, res_dir)
            rec["note"] = f"over the {limit:.0f} s limit while resuming"
            return "over_budget", rec
        time.sleep(0.05)
    rec["resumed"] = _run_summary(resume, res_dir)
    found = re.search(r"at iteration (\d+)/(\d+)", resume.log.read_text(errors="replace"))
    rec["resumed_from_iteration"] = int(found.group(1)) if found else None
    if resume.popen.returncode != 0:
        return "failed", {**rec, "error": f"the resumed run failed (exit {resume.popen.returncode})"}
    rec["finite"] = finite_check(ref_dir, res_dir)
    rec["resume_check"] = resume_check(ref_dir, res_dir, rec["resumed_from_iteration"] or 0, plan.device)
    ok = rec["finite"]["ok"] and rec["resume_check"]["ok"] and bool(rec["resumed_from_iteration"])
    if not rec["resumed_from_iteration"]:
        rec["error"] = "the second launch did not resume from a checkpoint (no 'resuming ... at iteration' line)"
    return ("ok" if ok else "failed"), rec


def _run_summary(proc: Proc, run_dir: Path) -> dict:
    out = {
        "exit": proc.popen.returncode,
        "wall_s": proc.wall_s,
        "killed": proc.killed,
        "logged_iterations": logged_iteration(run_dir),
    }
    result = run_dir / "result.json"
    if result.exists():
        r = json.loads(result.read_text())
        out.update(
            final_miou=r["final"]["miou"],
            best_miou=r["best_miou"],
            wall_time_s=r["wall_time_s"],
            sec_per_iter=r["sec_per_iter"],
            nonfinite_skipped=r["nonfinite_skipped"],
            env={k: r["env"].get(k) for k in ("device", "device_name", "world_size", "ddp", "amp", "torch")},
        )
    if proc.popen.returncode not in (0, None) or proc.killed:
        out["log_tail"] = proc.tail()
    return out


def _loss_lines(run_dir: Path) -> dict[int, dict]:
    from mkdlib.io import read_jsonl

    return {
        m["iter"]: {k: v for k, v in m.items() if k != "wall_s"}
        for m in read_jsonl(run_dir / "metrics.jsonl")
        if "loss" in m
    }


def finite_check(*run_dirs: Path) -> dict:
    """Every logged loss term finite, no skipped (non-finite) step, a finite final mIoU."""
    from mkdlib.io import read_jsonl

    bad, skipped, lines = [], 0, 0
    for d in run_dirs:
        for m in read_jsonl(d / "metrics.jsonl"):
            if m.get("nonfinite_loss"):
                skipped += 1
            for k, v in m.items():
                if isinstance(v, float) and not math.isfinite(v):
                    bad.append(f"{d.name}: {k} = {v} at iteration {m.get('iter')}")
            lines += "loss" in m
        result = json.loads((d / "result.json").read_text())
        skipped += result["nonfinite_skipped"]
        if not math.isfinite(result["final"]["miou"]):
            bad.append(f"{d.name}: final mIoU {result['final']['miou']}")
    return {
        "ok": not bad and skipped == 0 and lines > 0,
        "loss_lines_checked": lines,
        "nonfinite": bad[:10],
        "skipped_steps": skipped,
    }


def resume_check(ref_dir: Path, res_dir: Path, resumed_from: int, device: str, window: int = 5) -> dict:
    """Compare the resumed run with the uninterrupted reference: weights, logged losses, final mIoU."""
    import torch

    def state(d: Path) -> dict:
        return torch.load(d / "last.pt", map_location="cpu", weights_only=False, mmap=True)["method"]

    a, b = state(ref_dir), state(res_dir)
    if a.keys() != b.keys():
        return {"ok": False, "verdict": "differs", "error": "the two checkpoints hold different tensors"}
    equal, max_abs, max_rel, worst = 0, 0.0, 0.0, None
    for k in a:
        x, y = a[k], b[k]
        if torch.equal(x, y):
            equal += 1
            continue
        d = (x.double() - y.double()).abs().max().item()
        rel = d / max(x.double().abs().max().item(), 1e-30)
        if d > max_abs:
            max_abs, worst = d, k
        max_rel = max(max_rel, rel)
    la, lb = _loss_lines(ref_dir), _loss_lines(res_dir)
    common = sorted(set(la) & set(lb))
    diff = {i: abs(la[i]["loss"] - lb[i]["loss"]) for i in common}
    before = [i for i in common if i <= resumed_from]
    after = [i for i in common if i > resumed_from]
    pre = max((diff[i] for i in before[-window:]), default=0.0)
    post = max((diff[i] for i in after[:window]), default=0.0)
    ra, rb = (json.loads((d / "result.json").read_text())["final"]["miou"] for d in (ref_dir, res_dir))
    curves_equal = la == lb
    bitwise = equal == len(a) and curves_equal and ra == rb
    scale = sum(abs(la[i]["loss"]) for i in common) / max(len(common), 1)
    tolerance = 3 * pre + 1e-3 * scale
    out = {
        "bitwise_equal": bitwise,
        "tensors": len(a),
        "tensors_equal": equal,
        "weights_max_abs_diff": max_abs,
        "weights_max_rel_diff": max_rel,
        "worst_tensor": worst,
        "curves_equal": curves_equal,
        "logged_iterations_compared": len(common),
        "loss_max_abs_diff_before_kill": max((diff[i] for i in before), default=0.0),
        "loss_max_abs_diff_after_resume": max((diff[i] for i in after), default=0.0),
        "loss_diff_last_logs_before_kill": pre,
        "loss_diff_first_logs_after_resume": post,
        "final_miou_reference": ra,
        "final_miou_resumed": rb,
        "final_miou_abs_diff": abs(ra - rb),
    }
    if bitwise:
        out.update(verdict="bitwise", ok=True)
    elif device == "cuda" and resumed_from > 0 and after:
        within = post <= tolerance
        out.update(
            verdict="within_nondeterminism" if within else "differs",
            ok=within,
            criterion=(
                f"largest loss difference in the first {window} logs after the resume "
                f"({post:.3g}) <= 3 x that in the last {window} logs before the kill ({pre:.3g}) "
                f"+ 1e-3 x mean loss = {tolerance:.3g}"
            ),
            why_not_bitwise=CUDA_NOT_BITWISE,
        )
    else:
        out.update(
            verdict="differs",
            ok=False,
            why=(
                "on CPU the resumed run must be bitwise equal to the uninterrupted one (the "
                "trainer restores every RNG stream and the data position)"
                if device == "cpu"
                else "nothing was compared after the resume"
            ),
        )
    return out


def part_step_cost(
    plan: Plan, work: Path, limit: float, flags: list[str], name: str, peak: float | None
) -> tuple[str, dict]:
    out = work / f"{name}.json"
    cmd = [sys.executable, "-m", "bench.step_cost", *flags, "--out", str(out), "--quiet"]
    if peak is not None:
        cmd += ["--peak-tflops", str(peak)]
    proc = Proc(name, cmd, _child_env(plan, work), work / f"{name}.log")
    deadline = time.monotonic() + limit
    while proc.poll() is None:
        if time.monotonic() > deadline:
            proc.kill("over the part's time limit")
            return "over_budget", {
                "command": _shown(cmd),
                "note": f"stopped at the {limit:.0f} s limit",
                "log_tail": proc.tail(),
            }
        time.sleep(0.1)
    if proc.popen.returncode != 0 or not out.exists():
        return "failed", {"command": _shown(cmd), "exit": proc.popen.returncode, "log_tail": proc.tail()}
    record = json.loads(out.read_text())
    return "ok", {"command": _shown(cmd), "summary": summarize_step_cost(record), "record": record}


def _shown(cmd: list[str]) -> str:
    return " ".join(["python" if c == sys.executable else c for c in cmd])


def summarize_step_cost(rec: dict) -> dict:
    """Per method: step ms, images/s, TFLOP/s, fraction of the bf16 peak, peak memory; MKD/CPS."""
    methods = {}
    for k, m in rec["methods"].items():
        methods[k] = {
            "step_ms": m["median_s"] * 1e3,
            "images_per_s": m["images_per_s"],
            "flops_per_step": m.get("flops_per_step"),
            "achieved_tflops": m.get("achieved_tflops"),
            "fraction_of_bf16_peak": m.get("fraction_of_bf16_peak"),
            "peak_memory_gib": (m["peak_memory_bytes"] / 2**30 if m.get("peak_memory_bytes") else None),
            "memory_kind": m.get("memory_kind"),
        }
    r = rec.get("ratios", {})
    mkd_cps = r.get("compiled_mkd_over_cps") if "mkd" not in methods else r.get("mkd_over_cps")
    return {
        "methods": methods,
        "mkd_over_cps": mkd_cps,
        "device": rec["machine"]["device"],
        "device_name": rec["machine"]["device_name"],
        "bf16_peak_tflops": rec["machine"].get("bf16_peak_tflops"),
        "config": {
            **{
                k: rec["config"].get(k)
                for k in ("encoder", "crop_size", "batch_size", "unlabeled_batch_size", "output_stride")
            },
            "amp": rec["machine"].get("amp"),
            "channels_last": rec["settings"].get("channels_last"),
        },
    }


# --------------------------------------------------------------------------- the record
def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "device"


def record_stem(rec: dict) -> str:
    stamp = rec["created"].replace(":", "").replace("-", "")[:13]  # 20261126T2101
    dev = rec.get("environment", {}).get("device_name") or rec["plan"]["device"]
    return f"gpu_check-{'dry-run-' if rec['mode'] == 'dry-run' else ''}{stamp}-{_slug(dev)}"


def format_summary(rec: dict) -> str:
    """The short text summary written next to the JSON record."""
    env = rec.get("environment", {})
    fmt = lambda v, f="{:.3g}": "-" if v is None else f.format(v)  # noqa: E731
    lines = [
        f"GPU check ({rec['mode']}), {rec['created']}, commit {env.get('git_commit')}",
        f"device: {env.get('device_name')} ({env.get('device')}), driver {env.get('driver')}, "
        f"torch {env.get('torch')}, CUDA {env.get('cuda_runtime')}, cuDNN {env.get('cudnn')}, NCCL {env.get('nccl')}",
        f"bf16 peak {fmt(env.get('bf16_peak_tflops'), '{:.0f}')} TFLOP/s ({env.get('bf16_peak_source')}); "
        f"measured bf16 matmul {fmt(env.get('matmul_bf16_tflops'), '{:.0f}')} TFLOP/s",
        f"total {rec.get('wall_s', 0):.0f} s of a {rec['budget_s']:.0f} s budget; parts:",
    ]
    for name, p in rec["parts"].items():
        lines.append(
            f"  {name:18s} {p['status']:12s} {fmt(p.get('wall_s'), '{:.0f}')} s"
            + (f"  ({p['note']})" if p.get("note") else "")
            + (f"  ERROR {p['error']}" if p.get("error") else "")
        )
    t = rec.get("training")
    if t and "reference" in t:
        ref = t["reference"]
        lines.append(
            f"training: {t['config']['encoder']} @ {t['config']['crop_size']} px, "
            f"{t['config']['batch_size']}+{t['config']['unlabeled_batch_size']}, {t['backend']}, "
            f"{fmt(1 / ref['sec_per_iter'] if ref.get('sec_per_iter') else None)} it/s with 2 runs sharing "
            f"the device; reference: {ref.get('logged_iterations')} iterations, mIoU {fmt(ref.get('final_miou'))}"
        )
        if "finite" in t:
            lines.append(
                f"  finite losses: {t['finite']['ok']} ({t['finite']['loss_lines_checked']} logged lines, "
                f"{t['finite']['skipped_steps']} skipped steps)"
            )
        if "resume_check" in t:
            c = t["resume_check"]
            lines.append(
                f"  resume from iteration {t.get('resumed_from_iteration')}: {c['verdict']} "
                f"(weights max abs diff {fmt(c.get('weights_max_abs_diff'))}, {c.get('tensors_equal')}/"
                f"{c.get('tensors')} tensors equal; loss diff before kill "
                f"{fmt(c.get('loss_max_abs_diff_before_kill'))}, after resume "
                f"{fmt(c.get('loss_max_abs_diff_after_resume'))}; mIoU {fmt(c.get('final_miou_reference'))} "
                f"vs {fmt(c.get('final_miou_resumed'))})"
            )
    for part in ("step_cost", "step_cost_compile"):
        s = (rec.get(part) or {}).get("summary")
        if not s:
            continue
        lines.append(
            f"{part}: {s['config']['encoder']} @ {s['config']['crop_size']} px, "
            f"{s['config']['batch_size']}+{s['config']['unlabeled_batch_size']}, amp {s['config']['amp']}; "
            f"MKD/CPS {fmt(s['mkd_over_cps'])}"
        )
        for k, m in s["methods"].items():
            lines.append(
                f"  {k:22s} {m['step_ms']:9.1f} ms  {m['images_per_s']:8.1f} img/s  "
                f"{fmt(m['achieved_tflops'], '{:.1f}')} TFLOP/s ({fmt(m['fraction_of_bf16_peak'], '{:.1%}')} "
                f"of peak)  peak mem {fmt(m['peak_memory_gib'], '{:.2f}')} GiB"
            )
    for n in rec.get("notes", []):
        lines.append(f"note: {n}")
    lines.append(f"result: {'PASS' if rec.get('ok') else 'FAIL' if rec.get('failed') else 'INCOMPLETE'}")
    return "\n".join(lines)


def index_markdown(folder: Path) -> str:
    """``gpu_checks.md``: one row per GPU check record in ``folder`` (the book includes it)."""
    rows = []
    for path in sorted(folder.glob("gpu_check-*.json")):
        try:
            rec = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if rec.get("benchmark") != "gpu_check":
            continue
        env, t = rec.get("environment", {}), rec.get("training", {})
        eager = (rec.get("step_cost") or {}).get("summary", {}).get("methods", {}).get("mkd", {})
        comp = (rec.get("step_cost_compile") or {}).get("summary", {}).get("methods", {}).get("mkd+compile", {})
        fmt = lambda v, f="{:.3g}": "-" if v is None else f.format(v)  # noqa: E731
        rows.append(
            f"| {rec['created'][:10]} | {env.get('device_name', '-')} | {env.get('torch', '-')} / "
            f"{env.get('cuda_runtime') or '-'} | {rec['mode']} | "
            f"{'yes' if t.get('finite', {}).get('ok') else 'no' if 'finite' in t else '-'} | "
            f"{t.get('resume_check', {}).get('verdict', '-')} | {fmt(eager.get('step_ms'), '{:.0f}')} / "
            f"{fmt(comp.get('step_ms'), '{:.0f}')} | {fmt(eager.get('achieved_tflops'), '{:.0f}')} "
            f"({fmt(eager.get('fraction_of_bf16_peak'), '{:.0%}')}) | "
            f"{fmt((rec.get('step_cost') or {}).get('summary', {}).get('mkd_over_cps'), '{:.2f}')} | "
            f"{fmt(eager.get('peak_memory_gib'), '{:.1f}')} | {'PASS' if rec.get('ok') else 'not passed'} | "
            f"`{path.name}` |"
        )
    if not rows:
        return (
            "**No GPU check record exists yet**: no GPU has been lent to this project so far, so NCCL, "
            "SyncBatchNorm, bf16 autocast, channels_last and torch.compile have never run. "
            "`bash bench/gpu_check.sh` on one GPU (<= 8 minutes) writes the first record to "
            "`bench/results/`.\n"
        )
    head = (
        "| date | device | torch / CUDA | mode | finite losses | resume | MKD step ms, eager / compiled | "
        "MKD TFLOP/s (of bf16 peak) | MKD/CPS | MKD peak GiB | result | record |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|\n"
    )
    return head + "\n".join(rows) + "\n"


def write_index(folder: Path) -> Path:
    from mkdlib.io import atomic_write_text

    path = folder / INDEX_NAME
    atomic_write_text(
        path, "<!-- written by `python -m bench.gpu_check` (--reindex); do not edit -->\n" + index_markdown(folder)
    )
    return path


# --------------------------------------------------------------------------- driver
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
