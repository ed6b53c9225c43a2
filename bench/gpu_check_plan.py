"""The GPU check's plans: what each mode (a GPU lease, the CPU dry run) runs, with which limits.

Part of :mod:`bench.gpu_check` (the entry point); the paths every part shares live here too.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS_DIR = REPO / "bench" / "results"
BASE_CONFIG = REPO / "configs" / "synthetic" / "mkd.yaml"


class CheckError(RuntimeError):
    """The check cannot run here; the message says what to change."""


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
