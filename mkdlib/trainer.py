"""The one training loop every method shares.

A run lives in a folder: ``config.yaml`` (resolved), ``env.json`` (versions, git commit, device),
``metrics.jsonl`` (losses and evaluations), ``last.pt`` / ``best.pt`` (atomic checkpoints) and
``result.json`` once finished. Calling :func:`train` again on the same folder resumes from
``last.pt`` (models, teachers, feature statistics, optimiser, LR schedule, RNG states, iteration),
and a finished run is returned without retraining.

Distributed: launched by ``torchrun``, each process trains on its shard of both loaders
(SyncBatchNorm on CUDA), evaluation confusion matrices are all-reduced, rank 0 logs and saves.
AMP (bf16 / fp16) and channels_last apply on CUDA only; on CPU, autocast is 10-20x slower.
"""
from __future__ import annotations

import json
import os
import platform
import random
import signal
import subprocess
import sys
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader

from .config import Config, ConfigError, resolve, save_config
from .data import (DataBundle, EvalDataset, LabeledDataset, SeededInfiniteSampler, UnlabeledDataset,
                   prepare_data)
from .evaluate import evaluate
from .io import append_jsonl, atomic_torch_save, atomic_write_json, read_jsonl
from .methods import Method, build_method


class TrainingError(RuntimeError):
    """Training had to stop; the message says where and what is saved."""


@dataclass
class RunResult:
    run_dir: Path
    config: Config
    final: dict
    best_miou: float
    wall_time_s: float
    metrics: list[dict] = field(default_factory=list)

    @property
    def miou(self) -> float:
        return self.final["miou"]


def repo_root() -> Path:
    return Path(__file__).resolve().parents[1]


def default_run_dir(cfg: Config) -> Path:
    return Path(os.environ.get("MKD_RUNS_DIR", repo_root() / "runs")) / cfg.key()


# --------------------------------------------------------------------------- runtime
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
        raise ConfigError("MKD_FORCE_DDP=1 needs a torchrun launch (it sets RANK, WORLD_SIZE, MASTER_ADDR): "
                          "torchrun --standalone --nproc_per_node 1 -m mkdlib train ...; or unset MKD_FORCE_DDP")
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


def environment_record(rt: Runtime) -> dict:
    import albumentations
    import segmentation_models_pytorch as smp

    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo_root(), capture_output=True,
                                text=True, timeout=5).stdout.strip() or None
    except Exception:
        commit = None
    return {"python": platform.python_version(), "platform": platform.platform(), "torch": torch.__version__,
            "segmentation_models_pytorch": smp.__version__, "albumentations": albumentations.__version__,
            "git_commit": commit, "device": str(rt.device),
            "device_name": torch.cuda.get_device_name(rt.device) if rt.device.type == "cuda" else platform.processor() or "cpu",
            "torch_threads": torch.get_num_threads(), "world_size": rt.world_size, "ddp": rt.distributed,
            "amp": str(rt.amp_dtype) if rt.amp_dtype else "off"}


# --------------------------------------------------------------------------- pieces
def build_optimizer(cfg: Config, params) -> torch.optim.Optimizer:
    params = [p for p in params if p.requires_grad]
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


def build_scheduler(cfg: Config, optimizer) -> torch.optim.lr_scheduler.LRScheduler:
    """poly (power 0.9, the paper's) or linear warmup + cosine decay (better from scratch on CPU)."""
    from torch.optim import lr_scheduler as S

    if cfg.schedule == "poly":
        return S.PolynomialLR(optimizer, total_iters=cfg.iters, power=cfg.poly_power)
    warm = min(cfg.warmup_iters, cfg.iters - 1)
    cosine = S.CosineAnnealingLR(optimizer, T_max=max(cfg.iters - warm, 1), eta_min=cfg.lr * 1e-3)
    if warm <= 0:
        return cosine
    return S.SequentialLR(optimizer, [S.LinearLR(optimizer, start_factor=0.01, total_iters=warm), cosine],
                          milestones=[warm])


def _loader(ds, batch_size: int, sampler, cfg: Config, rt: Runtime) -> DataLoader:
    return DataLoader(ds, batch_size=batch_size, sampler=sampler, num_workers=cfg.num_workers,
                      drop_last=True, pin_memory=rt.device.type == "cuda",
                      persistent_workers=cfg.num_workers > 0)


def build_loaders(cfg: Config, data: DataBundle, rt: Runtime, start_iter: int):
    """Endless labeled (and unlabeled) loaders positioned at ``start_iter``, plus the val loader."""
    lab = LabeledDataset(data.folder, list(data.split.labeled), cfg.crop_size, cfg.scale_range)
    lab_loader = _loader(lab, cfg.batch_size, SeededInfiniteSampler(
        len(lab), cfg.seed * 2, start_iter * cfg.batch_size, rt.rank, rt.world_size), cfg, rt)
    unl_loader = None
    if cfg.method != "supervised":
        if not data.split.unlabeled:
            raise ConfigError(f"split {cfg.split!r} leaves no unlabeled images; semi-supervised method "
                              f"{cfg.method!r} needs some (use method=supervised for 'full')")
        unl = UnlabeledDataset(data.folder, list(data.split.unlabeled), cfg.crop_size, cfg.scale_range)
        unl_loader = _loader(unl, cfg.unlabeled_batch_size, SeededInfiniteSampler(
            len(unl), cfg.seed * 2 + 1, start_iter * cfg.unlabeled_batch_size, rt.rank, rt.world_size), cfg, rt)
    val = EvalDataset(data.folder, data.val_ids[rt.rank::rt.world_size])
    same_size = cfg.dataset == "synthetic"
    val_loader = DataLoader(val, batch_size=32 if same_size else 1, num_workers=cfg.num_workers)
    return lab_loader, unl_loader, val_loader


def _capture_rng() -> dict:
    state = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _restore_rng(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _gather_rng(rt: Runtime) -> dict | list[dict]:
    """Every rank's RNG state (a list in distributed runs), so each rank resumes its own stream."""
    state = _capture_rng()
    if not rt.distributed:
        return state
    states = [None] * rt.world_size
    dist.all_gather_object(states, state)
    return states


def _rank_rng(saved: dict | list[dict], rt: Runtime) -> dict:
    if isinstance(saved, list):
        return saved[rt.rank] if len(saved) == rt.world_size else saved[0]
    return saved


def _student_buffers(method: Method) -> list[torch.Tensor]:
    """BatchNorm and feature statistics a forward pass updates (teachers' follow by EMA)."""
    return [b for n, b in method.named_buffers() if not n.startswith("teachers.")]


def _grads_finite(optimizer) -> bool:
    grads = [p.grad for g in optimizer.param_groups for p in g["params"] if p.grad is not None]
    return not grads or bool(torch.isfinite(torch.nn.utils.get_total_norm(grads)))


def _unwrap(model) -> Method:
    return model.module if isinstance(model, torch.nn.parallel.DistributedDataParallel) else model


def _sync_buffers(model, rt: Runtime) -> None:
    """Give every rank rank 0's buffers before evaluating. DDP broadcasts them at the start of each
    forward, so after a step each rank holds BatchNorm statistics of its own batch (without
    SyncBatchNorm, i.e. on CPU); evaluation then mixes models. Rank 0's are the ones checkpointed."""
    if rt.distributed:
        for b in _unwrap(model).buffers():
            dist.broadcast(b, 0)


def save_checkpoint(path: Path, model, optimizer, scheduler, scaler, iteration: int, cfg: Config,
                    best_miou: float, skipped: int, rng: dict | list[dict] | None = None) -> None:
    try:
        atomic_torch_save({"method": _unwrap(model).state_dict(), "optimizer": optimizer.state_dict(),
                           "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict(),
                           "iteration": iteration, "config": cfg.to_dict(), "best_miou": best_miou,
                           "nonfinite_skipped": skipped, "rng": _capture_rng() if rng is None else rng}, path)
    except OSError as e:
        raise TrainingError(f"could not write checkpoint {path} at iteration {iteration}: {e}. "
                            "The previous checkpoint in that folder is intact; free disk space or "
                            "choose another run_dir and resume.") from None


def load_checkpoint(path: str | Path) -> dict:
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:
        raise TrainingError(f"checkpoint {path} cannot be loaded ({e}); delete it to start over") from None


def load_method(run_dir: str | Path, which: str = "best") -> tuple[Method, Config]:
    """Rebuild a trained method from a run folder's ``best.pt`` or ``last.pt`` (on CPU)."""
    from .config import make_config

    ckpt = load_checkpoint(Path(run_dir) / f"{which}.pt")
    cfg = resolve(make_config(ckpt["config"]))
    num_classes = ckpt["method"][next(k for k in ckpt["method"] if k.endswith("classifier.weight"))].shape[0]
    method = build_method(cfg, num_classes)
    method.load_state_dict(ckpt["method"])
    return method.eval(), cfg


def _check_writable(run_dir: Path) -> None:
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        probe = run_dir / ".write-test"
        probe.write_bytes(b"0" * 1024)
        probe.unlink()
    except OSError as e:
        raise TrainingError(f"run folder {run_dir} is not writable ({e}); pass run_dir=<a writable folder>") from None


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


class _StopRequest:
    """SIGTERM/SIGINT -> finish the current step, save, exit (schedulers send SIGTERM first)."""

    def __init__(self):
        self.signal = None
        self._old = {}

    def __enter__(self):
        import threading

        if threading.current_thread() is threading.main_thread():
            for s in (signal.SIGTERM,):
                self._old[s] = signal.signal(s, self._handle)
        return self

    def _handle(self, signum, frame):
        self.signal = signum

    def __exit__(self, *exc):
        for s, h in self._old.items():
            signal.signal(s, h)


class _RunLock:
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
                raise TrainingError(f"run folder {self.run_dir} is in use by another training process; wait "
                                    "for it, or pass another run_dir") from None
            except (NotImplementedError, OSError) as e:  # e.g. a network filesystem without flock
                import warnings

                warnings.warn(f"run folder {self.run_dir} cannot be locked ({e}); make sure no other process "
                              "trains into it", RuntimeWarning, stacklevel=3)
                self.lock = None
                return self
            for stale in self.run_dir.glob(".*.tmp"):  # half-written files of a killed process
                stale.unlink(missing_ok=True)
        return self

    def __exit__(self, *exc):
        if self.lock is not None:
            self.lock.release()


# --------------------------------------------------------------------------- train
def train(cfg: Config, run_dir: str | Path | None = None, force: bool = False,
          stop_after: int | None = None, publish_result: bool = True) -> RunResult:
    """Train (or resume, or return the finished) run of ``cfg``.

    ``publish_result``: copy the finished run into the results store (mkdlib.results).
    ``stop_after``: stop after that many iterations in this call (checkpointing), for tests and
    for splitting a long run over sessions; calling again resumes.
    """
    cfg = resolve(cfg)
    run_dir = Path(run_dir or cfg.run_dir or default_run_dir(cfg))
    is_main = int(os.environ.get("RANK", "0")) == 0
    if is_main:
        _check_writable(run_dir)
    with _RunLock(run_dir, enabled=is_main):
        try:
            return _train(cfg, run_dir, force, stop_after, publish_result)
        except OSError as e:  # e.g. the disk filled up while logging: say what survived
            raise TrainingError(f"I/O error while training in {run_dir}: {e}. Checkpoints are written atomically, "
                                f"so {run_dir / 'last.pt'} (if present) is intact; fix the cause and run again to "
                                "resume.") from e


def _train(cfg: Config, run_dir: Path, force: bool, stop_after: int | None,
           publish_result: bool = True) -> RunResult:
    rt = setup_runtime(cfg)
    result_path = run_dir / "result.json"
    if result_path.exists() and not force:
        saved = json.loads(result_path.read_text())
        if saved.get("key") == cfg.key():
            return RunResult(run_dir, cfg, saved["final"], saved["best_miou"], saved["wall_time_s"],
                             read_jsonl(run_dir / "metrics.jsonl"))
    if force and rt.is_main:
        for name in ("result.json", "last.pt", "best.pt", "metrics.jsonl"):
            (run_dir / name).unlink(missing_ok=True)

    torch.manual_seed(cfg.seed + rt.rank)
    data = prepare_data(cfg) if rt.is_main else None
    if rt.is_main:  # bad data stops here, every problem listed, not hours into the run
        from .validate import check_data

        check_data(cfg, data, cfg.validate_samples).raise_for_problems()
    if rt.distributed:  # rank 0 generates / checks the data first, the others then read it
        dist.barrier()
        data = data or prepare_data(cfg)
    method = build_method(cfg, data.num_classes).to(rt.device)
    if rt.device.type == "cuda" and cfg.channels_last:
        method = method.to(memory_format=torch.channels_last)
    optimizer = build_optimizer(cfg, (p for s in method.students for p in s.parameters()))
    scheduler = build_scheduler(cfg, optimizer)
    scaler = torch.amp.GradScaler("cuda", enabled=rt.amp_dtype == torch.float16)

    start, best_miou, skipped, wall_before, rng_state = 0, -1.0, 0, 0.0, None
    last = run_dir / "last.pt"
    if last.exists():
        ckpt = load_checkpoint(last)
        if make_key(ckpt["config"]) != cfg.key():
            raise TrainingError(f"{last} belongs to a different config (key {make_key(ckpt['config'])}, "
                                f"this run {cfg.key()}); use another run_dir or force=True")
        method.load_state_dict(ckpt["method"])
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
        scaler.load_state_dict(ckpt["scaler"])
        start, best_miou, skipped = ckpt["iteration"], ckpt["best_miou"], ckpt["nonfinite_skipped"]
        rng_state = _rank_rng(ckpt["rng"], rt)
        if rt.is_main:
            print(f"resuming {run_dir} from {last.name} at iteration {start}/{cfg.iters}", file=sys.stderr)
    if rt.is_main and (run_dir / "metrics.jsonl").exists():
        # drop lines logged after the checkpoint (all of them when a run died before its first one)
        kept = [m for m in read_jsonl(run_dir / "metrics.jsonl") if m.get("iter", 0) <= start]
        wall_before = max((m.get("wall_s", 0.0) for m in kept), default=0.0)
        from .io import atomic_write_text

        atomic_write_text(run_dir / "metrics.jsonl", "".join(json.dumps(m) + "\n" for m in kept))
    if rt.is_main:
        save_config(cfg, run_dir / "config.yaml")
        atomic_write_json(run_dir / "env.json", environment_record(rt))

    if rt.device.type == "cuda" and rt.distributed:
        method = torch.nn.SyncBatchNorm.convert_sync_batchnorm(method)
    model = method
    if rt.distributed:
        model = torch.nn.parallel.DistributedDataParallel(
            method, device_ids=[rt.local_rank] if rt.device.type == "cuda" else None)
    lab_loader, unl_loader, val_loader = build_loaders(cfg, data, rt, start)
    lab_iter = iter(lab_loader)
    unl_iter = iter(unl_loader) if unl_loader is not None else None
    if rng_state is not None:  # after iter(): creating a loader iterator draws from the global RNG
        _restore_rng(rng_state)

    from tqdm.auto import tqdm

    end = cfg.iters if stop_after is None else min(cfg.iters, start + stop_after)
    bar = tqdm(total=cfg.iters, initial=start, desc=f"{cfg.method} {cfg.split}", dynamic_ncols=True,
               disable=not (cfg.progress and rt.is_main))
    autocast = (torch.autocast("cuda", dtype=rt.amp_dtype) if rt.amp_dtype is not None else nullcontext())
    metrics_path = run_dir / "metrics.jsonl"
    t0, last_eval, it, consecutive = time.perf_counter() - wall_before, None, start, 0
    buffers = _student_buffers(method)
    model.train()
    with _StopRequest() as stop:
        for it in range(start, end):
            batch = next(lab_iter)
            if unl_iter is not None:
                batch.update(next(unl_iter))
            batch = batch_to_device(batch, rt.device, cfg.channels_last and rt.device.type == "cuda")
            rng = torch.Generator().manual_seed(cfg.seed * 1_000_003 + it)
            saved_buffers = [b.detach().clone() for b in buffers]
            with autocast:
                out = model(batch, it / cfg.iters, rng)
            loss = out["loss"]
            # one collective decision per step: any rank's loss not finite, any rank asked to stop
            flags = torch.stack([(~torch.isfinite(loss.detach())).float(),
                                 torch.tensor(1.0 if stop.signal else 0.0, device=loss.device)])
            if rt.distributed:
                dist.all_reduce(flags, op=dist.ReduceOp.MAX)
            nonfinite, stop_now = (bool(f) for f in flags.tolist())
            optimizer.zero_grad(set_to_none=True)
            if not nonfinite:
                scaler.scale(loss).backward()
                # fp16: GradScaler skips inf gradients itself; otherwise an inf gradient would poison AdamW
                nonfinite = not (scaler.is_enabled() or _grads_finite(optimizer))
            if nonfinite:  # skip: no update, forward-pass statistics rolled back
                with torch.no_grad():
                    for b, s in zip(buffers, saved_buffers):
                        b.copy_(s)
                skipped += 1
                consecutive += 1
                if rt.is_main:
                    append_jsonl(metrics_path, {"iter": it + 1, "nonfinite_loss": True, "skipped_total": skipped})
                if consecutive >= cfg.max_nonfinite:
                    raise TrainingError(
                        f"loss or gradients were not finite at {consecutive} consecutive steps (last at iteration "
                        f"{it + 1}); training stopped. Last good checkpoint: "
                        f"{last if last.exists() else 'none yet'} (skipped steps never change the weights). "
                        "Lower lr, or check the data for corrupt masks.")
            else:
                consecutive = 0
                scaler.step(optimizer)
                scaler.update()
            scheduler.step()
            done = it + 1
            if rt.is_main and (done % cfg.log_interval == 0 or done == end):
                rec = {"iter": done, "lr": optimizer.param_groups[0]["lr"], "wall_s": time.perf_counter() - t0,
                       **{k: float(v.detach()) for k, v in out.items()}}
                append_jsonl(metrics_path, rec)
                bar.set_postfix(loss=f"{rec['loss']:.3f}", miou="-" if last_eval is None else f"{last_eval:.3f}")
            bar.update(1)
            if done % cfg.eval_interval == 0 or done == cfg.iters:
                _sync_buffers(model, rt)
                ev = evaluate(_unwrap(model).eval_model(), val_loader, data.num_classes, rt.device,
                              cfg.eval_mode, cfg.eval_crop, rt.amp_dtype)
                last_eval = ev["miou"]
                if rt.is_main:
                    append_jsonl(metrics_path, {"iter": done, "wall_s": time.perf_counter() - t0, "miou": ev["miou"],
                                                "per_class_iou": ev["per_class_iou"]})
                    bar.set_postfix(loss=f"{float(loss.detach()):.3f}", miou=f"{ev['miou']:.3f}")
                    if ev["miou"] > best_miou:
                        best_miou = ev["miou"]
                        save_checkpoint(run_dir / "best.pt", model, optimizer, scheduler, scaler, done, cfg,
                                        best_miou, skipped)
            if done % cfg.checkpoint_interval == 0 or done == end or stop_now:
                rng_states = _gather_rng(rt)  # collective: every rank's stream
                if rt.is_main:
                    save_checkpoint(last, model, optimizer, scheduler, scaler, done, cfg, best_miou, skipped,
                                    rng_states)
            if stop_now:
                bar.close()
                if rt.distributed:
                    dist.barrier()
                raise SystemExit(f"stopped by signal {stop.signal or 'on another rank'} after iteration {done}; "
                                 f"checkpoint saved to {last}. Run the same command again to resume.")
    bar.close()
    if rt.distributed:
        dist.barrier()
    wall = time.perf_counter() - t0
    if end < cfg.iters:  # paused: resumable, not finished
        return RunResult(run_dir, cfg, {"miou": last_eval}, best_miou, wall, [])
    _sync_buffers(model, rt)
    final = evaluate(_unwrap(model).eval_model(), val_loader, data.num_classes, rt.device,
                     cfg.eval_mode, cfg.eval_crop, rt.amp_dtype)
    metrics = read_jsonl(metrics_path) if rt.is_main else []
    if rt.is_main:
        atomic_write_json(result_path, {
            "key": cfg.key(), "config": cfg.to_dict(), "final": final, "best_miou": best_miou,
            "wall_time_s": wall, "sec_per_iter": wall / cfg.iters, "nonfinite_skipped": skipped,
            "class_names": list(data.class_names), "env": environment_record(rt)})
        if publish_result:
            from .results import publish

            publish(run_dir, sample_predictions(_unwrap(model).eval_model(), data, rt))
    return RunResult(run_dir, cfg, final, best_miou, wall, metrics)


@torch.no_grad()
def sample_predictions(model, data: DataBundle, rt: Runtime, limit: int = 128) -> dict:
    """Validation predictions (uint8 class maps) of up to ``limit`` images, for qualitative figures."""
    from .evaluate import predict_logits

    model.eval()
    ids = data.val_ids[:limit]
    ds = EvalDataset(data.folder, ids)
    preds = [predict_logits(model, ds[i]["image"][None].to(rt.device), data.num_classes)[0].argmax(0)
             .to(torch.uint8).cpu().numpy() for i in range(len(ds))]
    if len({p.shape for p in preds}) == 1:
        return {"ids": np.array(ids), "pred": np.stack(preds)}
    return {"ids": np.array(ids), **{f"pred_{i}": p for i, p in zip(ids, preds)}}


def make_key(d: dict) -> str:
    from .config import make_config

    return make_config({k: v for k, v in d.items()}).key()


def evaluate_run(run_dir: str | Path, which: str = "best") -> dict:
    """Evaluate a run folder's checkpoint single-process (what the distributed run reported)."""
    method, cfg = load_method(run_dir, which)
    cfg.progress = False
    rt = setup_runtime(cfg)
    data = prepare_data(cfg)
    val = DataLoader(EvalDataset(data.folder, data.val_ids), batch_size=32 if cfg.dataset == "synthetic" else 1)
    ev = evaluate(method.to(rt.device).eval_model(), val, data.num_classes, rt.device, cfg.eval_mode, cfg.eval_crop)
    return {"miou": ev["miou"], "per_class_iou": ev["per_class_iou"]}


def republish(run_dir: str | Path) -> Path:
    """Publish a finished run folder to the results store again (e.g. after the store was cleared),
    recomputing its prediction sample from ``last.pt``."""
    from .results import publish

    method, cfg = load_method(run_dir, "last")
    cfg.progress = False
    rt = setup_runtime(cfg)
    data = prepare_data(cfg)
    return publish(run_dir, sample_predictions(method.to(rt.device).eval_model(), data, rt))
