"""A run's training state on disk: atomic checkpoints (models, teachers, optimiser, schedule, every
rank's RNG streams, iteration), the lock that keeps one process per run folder, and resuming."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from .io import atomic_torch_save
from .runtime import Runtime


class TrainingError(RuntimeError):
    """Training had to stop; the message says where and what is saved."""


def unwrap(model):
    return model.module if isinstance(model, torch.nn.parallel.DistributedDataParallel) else model


def capture_rng() -> dict:
    state = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def gather_rng(rt: Runtime) -> dict | list[dict]:
    """Every rank's RNG state (a list in distributed runs), so each rank resumes its own stream."""
    state = capture_rng()
    if not rt.distributed:
        return state
    states = [None] * rt.world_size
    dist.all_gather_object(states, state)
    return states


def rank_rng(saved: dict | list[dict], rt: Runtime) -> dict:
    if isinstance(saved, list):
        return saved[rt.rank] if len(saved) == rt.world_size else saved[0]
    return saved


def save_checkpoint(
    path: Path,
    model,
    optimizer,
    scheduler,
    scaler,
    iteration: int,
    cfg,
    best_miou: float,
    skipped: int,
    rng: dict | list[dict] | None = None,
) -> None:
    try:
        atomic_torch_save(
            {
                "method": unwrap(model).state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "scaler": scaler.state_dict(),
                "iteration": iteration,
                "config": cfg.to_dict(),
                "best_miou": best_miou,
                "nonfinite_skipped": skipped,
                "rng": capture_rng() if rng is None else rng,
                "class_names": unwrap(model).class_names,
            },
            path,
        )
    except OSError as e:
        raise TrainingError(
            f"could not write checkpoint {path} at iteration {iteration}: {e}. "
            "The previous checkpoint in that folder is intact; free disk space or "
            "choose another run_dir and resume."
        ) from None


def load_checkpoint(path: str | Path, hint: str = "delete it to start over") -> dict:
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:
        raise TrainingError(f"checkpoint {path} cannot be loaded ({e}); {hint}") from None


def check_writable(run_dir: Path) -> None:
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        probe = run_dir / ".write-test"
        probe.write_bytes(b"0" * 1024)
        probe.unlink()
    except OSError as e:
        raise TrainingError(f"run folder {run_dir} is not writable ({e}); pass run_dir=<a writable folder>") from None


class RunLock:
    """One process per run folder: a second run of the same folder (e.g. two notebooks with the
    same config) fails at start instead of interleaving checkpoints. Released when the process dies."""

    def __init__(self, run_dir: Path, enabled: bool):
        from filelock import FileLock

        self.lock = FileLock(run_dir / ".lock") if enabled else None
        self.run_dir = run_dir

    def __enter__(self):
        from filelock import Timeout

        if self.lock is not None:
            try:
                self.lock.acquire(timeout=0)
            except Timeout:
                raise TrainingError(
                    f"run folder {self.run_dir} is in use by another training process; wait "
                    "for it, or pass another run_dir"
                ) from None
            except (NotImplementedError, OSError) as e:  # e.g. a network filesystem without flock
                import warnings

                warnings.warn(
                    f"run folder {self.run_dir} cannot be locked ({e}); make sure no other process trains into it",
                    RuntimeWarning,
                    stacklevel=3,
                )
                self.lock = None
                return self
            for stale in self.run_dir.glob(".*.tmp"):  # half-written files of a killed process
                stale.unlink(missing_ok=True)
        return self

    def __exit__(self, *exc):
        if self.lock is not None:
            self.lock.release()


def resume(last: Path, cfg, method, optimizer, scheduler, scaler, rt: Runtime) -> dict | None:
    """Load ``last.pt`` into the training state if it exists; what the loop needs to go on, or None."""
    if not last.exists():
        return None
    ckpt = load_checkpoint(last)
    saved_key = config_key(ckpt["config"])
    if saved_key != cfg.key():
        raise TrainingError(
            f"{last} belongs to a different config (key {saved_key}, this run {cfg.key()}); "
            "use another run_dir or force=True"
        )
    method.load_state_dict(ckpt["method"])
    optimizer.load_state_dict(ckpt["optimizer"])
    scheduler.load_state_dict(ckpt["scheduler"])
    scaler.load_state_dict(ckpt["scaler"])
    return {
        "start": ckpt["iteration"],
        "best_miou": ckpt["best_miou"],
        "skipped": ckpt["nonfinite_skipped"],
        "rng": rank_rng(ckpt["rng"], rt),
    }


def config_key(d: dict) -> str:
    """The run key of a stored config dict."""
    from .config import make_config
    from .registry import with_legacy_settings

    return make_config(with_legacy_settings(dict(d))).key()
