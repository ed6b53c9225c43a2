"""The GPU check's training part: a reference run and a run SIGKILLed mid-run and resumed, both
through torchrun and DDP, then judged: finite losses, and a resume that ends as the reference does.
Part of :mod:`bench.gpu_check`."""

from __future__ import annotations

import json
import math
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path

from bench.gpu_check_plan import BASE_CONFIG, CheckError, Plan
from bench.gpu_check_processes import Proc, child_env

#: why a CUDA resume is not expected to be bitwise equal to the uninterrupted run
CUDA_NOT_BITWISE = (
    "On CUDA two runs of the same config are not bitwise equal even without an interruption: the "
    "backward of bilinear upsampling (DeepLabV3+'s decoder and output) and other reductions accumulate "
    "with atomic adds whose order varies from run to run, and torch.use_deterministic_algorithms(True) "
    "refuses that op. So the check compares the resumed run with the reference against the drift of two "
    "uninterrupted runs: before the kill both runs are uninterrupted, and the loss difference there is "
    "the non-determinism alone; a correct resume shows a difference of the same size just after it."
)


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
    env = child_env(plan, work, MKD_FORCE_DDP="1")
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
