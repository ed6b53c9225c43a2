"""Where a run executes: device, process group (from torchrun's environment), AMP policy, threads,
and the record of the environment that is stored beside every run."""

from __future__ import annotations

import datetime
import os
import platform
import signal
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist

from .config import Config, ConfigError
from .io import git_commit, repo_root  # noqa: F401  (repo_root: part of this module's API)


@dataclass
class Runtime:
    device: torch.device
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    amp_dtype: torch.dtype | None = None
    force_ddp: bool = False  # MKD_FORCE_DDP=1 under torchrun: the distributed code path at world size 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1 or self.force_ddp


def setup_runtime(cfg: Config) -> Runtime:
    """Device, process group (from torchrun's environment) and AMP policy.

    ``MKD_FORCE_DDP=1`` (under torchrun) takes the distributed path even with one process: process
    group (NCCL / gloo), DistributedDataParallel, SyncBatchNorm conversion and every collective, so
    one GPU exercises them (``bench/gpu_check.py``). At world size 1 torch's SyncBatchNorm computes
    plain BatchNorm; its cross-GPU reduction needs two GPUs."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    force_ddp = os.environ.get("MKD_FORCE_DDP", "") == "1"
    if force_ddp and "MASTER_ADDR" not in os.environ:
        raise ConfigError(
            "MKD_FORCE_DDP=1 needs a torchrun launch (it sets RANK, WORLD_SIZE, MASTER_ADDR): "
            "torchrun --standalone --nproc_per_node 1 -m mkdlib train ...; or unset MKD_FORCE_DDP"
        )
    rank, local_rank = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    if cfg.device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device 'cuda' was asked for but torch sees no CUDA device; use device=auto or cpu")
    use_cuda = cfg.device == "cuda" or (cfg.device == "auto" and torch.cuda.is_available())
    device = torch.device("cuda", local_rank) if use_cuda else torch.device("cpu")
    if use_cuda:
        torch.cuda.set_device(device)
    if (world > 1 or force_ddp) and not dist.is_initialized():
        dist.init_process_group("nccl" if use_cuda else "gloo")
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    amp = {"auto": "bf16" if use_cuda else "off"}.get(cfg.amp, cfg.amp)
    if amp != "off" and not use_cuda:
        amp = "off"  # bf16 autocast on CPU is far slower than fp32: AMP is CUDA-only
    dtype = {"off": None, "bf16": torch.bfloat16, "fp16": torch.float16}[amp]
    return Runtime(device, rank, world, local_rank, dtype, force_ddp)


def cpu_model() -> str:
    """The processor's model name (/proc/cpuinfo on Linux; platform's word elsewhere): runs on
    different CPUs differ in float order, so a run records where it ran."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def environment_record(rt: Runtime) -> dict:
    import albumentations
    import segmentation_models_pytorch as smp

    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch": torch.__version__,
        "segmentation_models_pytorch": smp.__version__,
        "albumentations": albumentations.__version__,
        "git_commit": git_commit(),
        "device": str(rt.device),
        "device_name": torch.cuda.get_device_name(rt.device)
        if rt.device.type == "cuda"
        else platform.processor() or "cpu",
        "cpu_model": cpu_model(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "torch_threads": torch.get_num_threads(),
        "world_size": rt.world_size,
        "ddp": rt.distributed,
        "amp": str(rt.amp_dtype) if rt.amp_dtype else "off",
    }


def batch_to_device(batch: dict, device: torch.device, channels_last: bool = False) -> dict:
    """Move a batch's tensors to ``device`` (images channels_last when asked)."""
    out = {}
    for k, v in batch.items():
        if isinstance(v, torch.Tensor):
            v = v.to(device, non_blocking=True)
            if channels_last and v.dim() == 4:
                v = v.contiguous(memory_format=torch.channels_last)
        out[k] = v
    return out


class StopRequest:
    """SIGTERM or Ctrl-C (SIGINT) -> finish the current step, save, exit (schedulers send SIGTERM
    first). A second Ctrl-C stops at once (KeyboardInterrupt; the last checkpoint is intact)."""

    def __init__(self):
        self.signal = None
        self._old = {}

    def __enter__(self):
        import threading

        if threading.current_thread() is threading.main_thread():
            for s in (signal.SIGTERM, signal.SIGINT):
                self._old[s] = signal.signal(s, self._handle)
        return self

    def _handle(self, signum, frame):
        if signum == signal.SIGINT and self.signal == signal.SIGINT:
            raise KeyboardInterrupt
        self.signal = signum

    def __exit__(self, *exc):
        for s, h in self._old.items():
            signal.signal(s, h)
