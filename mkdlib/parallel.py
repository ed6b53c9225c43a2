"""Several runs of the experiment grids at once, each in its own process: grids that share one GPU.

    python -m mkdlib.experiments headline --device cuda --parallel 4
    python -m mkdlib.experiments gamma --parallel 2 --set iters=300 --set crop_size=32
    python -m mkdlib.experiments fractions --only supervised --parallel 2 --shard 0/2

Each run is ``python -m mkdlib train --config <its resolved config>`` in a child process; up to
``parallel`` run at a time. Resumable like the sequential grid: a config whose key is already in the
results store is not started, and an interrupted run resumes from its run folder (``runs/<key>/``,
or ``$MKD_RUNS_DIR``). Each child's output goes to ``<run folder>/grid.log``. At the end a summary
lists the finished and the failed runs (with the last lines of a failed run's log); the exit
status is 1 if any run failed.

What the runs share is made once, in this process, before any starts (in parallel they would
write the same files at once): the built-in dataset, the split lists and the cached pretrained
source encoder (``encoder_weights: synthetic-source``).

``--set FIELD=VALUE`` overrides a field in every config of the grid (after the method presets are
filled in), and so changes the run keys of fields that are part of the key (``iters``,
``crop_size``, ...): the overridden runs are other experiments and are stored under their own keys.
Runtime-only fields (``data_root``, ``device``, ``threads``, ``num_workers``, ...) leave keys alone.

Threads: each child gets ``--threads`` if given, else ``max(1, usable cores // parallel)`` torch
threads (and as many OpenMP threads), so N runs do not oversubscribe the CPU; on CUDA the same
default applies to the CPU work (data loading, the host side).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

from .config import Config, ConfigError, make_config, save_config
from .io import REPO_ROOT as REPO
from .results import is_done

#: lines of a failed run's log shown in the summary
ERROR_TAIL_LINES = 12
#: environment variables of a torchrun launch that must not leak into the children
_LAUNCHER_VARS = (
    "RANK",
    "WORLD_SIZE",
    "LOCAL_RANK",
    "LOCAL_WORLD_SIZE",
    "GROUP_RANK",
    "MASTER_ADDR",
    "MASTER_PORT",
    "TORCHELASTIC_RUN_ID",
    "MKD_FORCE_DDP",
)


@dataclass
class Outcome:
    """How one run of a parallel grid ended."""

    key: str
    status: str  # "finished" | "failed"
    returncode: int | None
    log: Path
    started: float
    ended: float
    error_tail: list[str] = field(default_factory=list)

    @property
    def wall_s(self) -> float:
        return self.ended - self.started


def usable_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def parse_overrides(pairs: Iterable[str]) -> dict[str, str]:
    """``["iters=4", "crop_size=32"]`` -> ``{"iters": "4", "crop_size": "32"}``, fields checked."""
    out: dict[str, str] = {}
    for text in pairs:
        if "=" not in text:
            raise ConfigError(f"--set expects FIELD=VALUE, got {text!r}")
        k, v = text.split("=", 1)
        out[k.strip()] = v.strip()
    if out:
        make_config(**out)  # unknown fields and bad values fail here, with the field's name
    return out


def prepare_shared(configs: list[Config], threads: int | None = None, say: Callable[[str], None] = print) -> None:
    """Generate / check the data and splits, and pretrain the source encoders the runs need that are
    not committed (mkdlib/weights/), once each, before the runs start."""
    from .config import SOURCE_WEIGHTS, source_weights
    from .data import prepare_data

    done_data, done_encoders = {}, set()
    for cfg in configs:
        data_key = (cfg.dataset, cfg.data_root, cfg.split, cfg.split_source, cfg.labeled_split_seed)
        if data_key not in done_data:
            done_data[data_key] = prepare_data(replace(cfg, progress=False))
        if cfg.encoder_weights == SOURCE_WEIGHTS and cfg.encoder not in done_encoders:
            if not source_weights(cfg.encoder).is_file():
                from .pretrain import pretrain

                say(f"pretraining the source encoder for {cfg.encoder} once, before the runs start ...")
                pretrain(cfg.encoder, threads=threads, progress=False)
            done_encoders.add(cfg.encoder)


def _child_env(threads: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _LAUNCHER_VARS}
    env.update(
        OMP_NUM_THREADS=str(threads),
        MKL_NUM_THREADS=str(threads),
        HF_HUB_OFFLINE=env.get("HF_HUB_OFFLINE", "1"),
        PYTHONPATH=os.pathsep.join([str(REPO), *filter(None, [env.get("PYTHONPATH")])]),
    )
    return env


def _tail(path: Path, start: int, lines: int = ERROR_TAIL_LINES) -> list[str]:
    """The last ``lines`` non-empty lines written to ``path`` after byte ``start`` (progress bars dropped)."""
    try:
        with open(path, "rb") as f:
            f.seek(start)
            text = f.read().decode(errors="replace")
    except OSError:
        return []
    rows = [r.rstrip() for r in text.replace("\r", "\n").splitlines() if r.strip()]
    return rows[-lines:]


def run_parallel(
    configs: list[Config],
    parallel: int,
    threads: int | None = None,
    device: str | None = None,
    say: Callable[[str], None] = print,
    poll_s: float = 0.2,
) -> list[Outcome]:
    """Train ``configs`` in child processes, ``parallel`` at a time; one Outcome per run started.

    On SIGINT / SIGTERM no more runs start and the running ones get SIGTERM (each saves a
    checkpoint and exits; they are reported as failed and resume on the next call)."""
    from .trainer import default_run_dir

    if parallel < 1:
        raise ConfigError(f"--parallel must be >= 1, got {parallel}")
    per_run = threads or max(1, usable_cores() // parallel)
    extra = {"device": device} if device else {}
    queue = [replace(c, threads=per_run, progress=False, **extra) for c in configs]
    running: dict[subprocess.Popen, tuple[Config, Path, Path, int, float, object]] = {}
    outcomes: list[Outcome] = []
    stop: dict = {"signal": None, "sent": False}

    def request_stop(signum, frame):
        stop["signal"] = signum

    old = {s: signal.signal(s, request_stop) for s in (signal.SIGINT, signal.SIGTERM)}
    total = len(queue)
    try:
        with tempfile.TemporaryDirectory(prefix="mkd-grid-") as tmp:
            while queue or running:
                if stop["signal"] is not None and not stop["sent"]:
                    say(
                        f"signal {stop['signal']}: no new runs; stopping {len(running)} running run(s), "
                        "each saves a checkpoint ..."
                    )
                    for proc in running:
                        if proc.poll() is None:
                            os.killpg(proc.pid, signal.SIGTERM)
                    stop["sent"], queue = True, []
                while queue and len(running) < parallel:
                    cfg = queue.pop(0)
                    run_dir = Path(cfg.run_dir or default_run_dir(cfg))
                    run_dir.mkdir(parents=True, exist_ok=True)
                    log = run_dir / "grid.log"
                    config_path = Path(tmp) / f"{cfg.key()}.yaml"
                    save_config(cfg, config_path)
                    logf = open(log, "ab")
                    cmd = [sys.executable, "-m", "mkdlib", "train", "--config", str(config_path)]
                    proc = subprocess.Popen(
                        cmd,
                        env=_child_env(per_run),
                        stdout=logf,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                    running[proc] = (cfg, run_dir, log, logf.tell(), time.time(), logf)
                    say(
                        f"[{len(outcomes) + len(running)}/{total}] started {cfg.key()} (pid {proc.pid}, "
                        f"{per_run} thread{'s' if per_run > 1 else ''}, log {log})"
                    )
                for proc in [p for p in running if p.poll() is not None]:
                    o = _finish(proc, *running.pop(proc))
                    outcomes.append(o)
                    say(
                        f"[{len(outcomes)}/{total}] {o.status} {o.key} in {o.wall_s:.0f} s"
                        + ("" if o.status == "finished" else f" (exit {o.returncode}; log {o.log})")
                    )
                time.sleep(poll_s)
    finally:
        for s, h in old.items():
            signal.signal(s, h)
    return outcomes


def _finish(proc: subprocess.Popen, cfg: Config, run_dir: Path, log: Path, start: int, t0: float, logf) -> Outcome:
    logf.close()
    rc = proc.returncode
    status, tail = ("finished", []) if rc == 0 else ("failed", _tail(log, start))
    if rc == 0 and not is_done(cfg.key()):  # finished earlier, but the store lost it: publish again
        try:
            from .runs import republish

            republish(run_dir)
        except Exception as e:  # noqa: BLE001 - reported in the summary, the grid goes on
            status, tail = "failed", [f"finished, but publishing to the results store failed: {e}"]
    return Outcome(cfg.key(), status, rc, log, t0, time.time(), tail)


def format_summary(outcomes: list[Outcome], skipped: int = 0, not_started: int = 0) -> str:
    """Which runs finished and which failed (with their last log lines)."""
    done = [o for o in outcomes if o.status == "finished"]
    failed = [o for o in outcomes if o.status != "finished"]
    lines = [
        f"grid summary: {len(done)} finished, {len(failed)} failed"
        + (f", {not_started} not started (stopped)" if not_started else "")
        + (f", {skipped} already in the results store (not run)" if skipped else "")
    ]
    for o in done:
        lines.append(f"  finished  {o.key}  ({o.wall_s:.0f} s)")
    for o in failed:
        lines.append(f"  FAILED    {o.key}  (exit {o.returncode}, {o.wall_s:.0f} s; full log: {o.log})")
        lines += [f"      | {row}" for row in o.error_tail]
    if failed:
        lines.append(
            "Run the same command again to retry the failed runs (interrupted ones resume from their last checkpoint)."
        )
    return "\n".join(lines)
