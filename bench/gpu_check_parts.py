"""The GPU check's short parts: the environment (versions, the bf16 peak and a measured matmul),
the data (the built-in generator at the plan's size) and the step cost (``bench.step_cost`` in a
child process), with the step cost's summary. Part of :mod:`bench.gpu_check`; the training part is
:mod:`bench.gpu_check_training`."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from bench.gpu_check_plan import CheckError, Plan
from bench.gpu_check_processes import Proc, child_env


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


def part_step_cost(
    plan: Plan, work: Path, limit: float, flags: list[str], name: str, peak: float | None
) -> tuple[str, dict]:
    out = work / f"{name}.json"
    cmd = [sys.executable, "-m", "bench.step_cost", *flags, "--out", str(out), "--quiet"]
    if peak is not None:
        cmd += ["--peak-tflops", str(peak)]
    proc = Proc(name, cmd, child_env(plan, work), work / f"{name}.log")
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
