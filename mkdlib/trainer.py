"""The one training loop every method shares.

A run lives in a folder: ``config.yaml`` (resolved), ``env.json`` (versions, git commit, device),
``metrics.jsonl`` (losses and evaluations), ``last.pt`` / ``best.pt`` (atomic checkpoints) and
``result.json`` once finished. Calling :func:`train` again on the same folder resumes from
``last.pt`` (models, teachers, feature statistics, optimiser, LR schedule, RNG states, iteration),
and a finished run is returned without retraining.

:func:`train` is the loop; :class:`_Run` holds its named pieces (set-up and resume, one step,
logging, evaluation, checkpoint, finish). Where the run executes is :mod:`mkdlib.runtime`, its
state on disk :mod:`mkdlib.checkpoint`, finished runs :mod:`mkdlib.runs`.

Distributed: launched by ``torchrun``, each process trains on its shard of both loaders
(SyncBatchNorm on CUDA), evaluation confusion matrices are all-reduced, rank 0 logs and saves.
AMP (bf16 / fp16) and channels_last apply on CUDA only; on CPU, autocast is 10-20x slower.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.distributed as dist
from torch.utils.data import DataLoader

from .checkpoint import (
    RunLock,
    TrainingError,
    check_writable,
    gather_rng,
    load_checkpoint,
    restore_rng,
    resume,
    save_checkpoint,
    unwrap,
)
from .config import Config, ConfigError, resolve, resolve_encoder_weights, save_config
from .data import DataBundle, LabeledDataset, SeededInfiniteSampler, UnlabeledDataset, prepare_data
from .evaluate import evaluate
from .io import append_jsonl, atomic_write_json, atomic_write_text, read_jsonl, work_dir
from .methods import Method, build_method
from .registry import METHOD_INFO
from .runs import (
    evaluate_run,
    load_method,
    method_from_checkpoint,
    nonfinite_tensors,
    republish,
    sample_predictions,
    val_loader,
)
from .runtime import Runtime, StopRequest, batch_to_device, environment_record, setup_runtime

# re-exported: the public names and the ones tests and bench use
__all__ = [
    "RunResult",
    "TrainingError",
    "train",
    "load_method",
    "evaluate_run",
    "republish",
    "build_loaders",
    "build_optimizer",
    "build_scheduler",
    "setup_runtime",
    "batch_to_device",
    "Runtime",
    "load_checkpoint",
    "RunLock",
    "method_from_checkpoint",
]
_RunLock = RunLock


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


def default_run_dir(cfg: Config) -> Path:
    """``$MKD_RUNS_DIR/<key>``, else ``runs/<key>`` in the current folder."""
    return work_dir("MKD_RUNS_DIR", "runs") / cfg.key()


# --------------------------------------------------------------------------- pieces
def build_optimizer(cfg: Config, students) -> torch.optim.Optimizer:
    """SGD or AdamW over the students; their encoders at ``lr * encoder_lr_scale`` (a pretrained
    encoder needs smaller steps than a fresh decoder)."""
    encoder = [p for s in students for p in s.encoder.parameters() if p.requires_grad]
    ids = {id(p) for p in encoder}
    rest = [p for s in students for p in s.parameters() if p.requires_grad and id(p) not in ids]
    groups = [{"params": rest, "lr": cfg.lr}, {"params": encoder, "lr": cfg.lr * cfg.encoder_lr_scale}]
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    return torch.optim.AdamW(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)


def build_scheduler(cfg: Config, optimizer) -> torch.optim.lr_scheduler.LRScheduler:
    """poly (power 0.9, the paper's) or linear warmup + cosine decay (better from scratch on CPU)."""
    from torch.optim import lr_scheduler as S

    if cfg.schedule == "poly":
        return S.PolynomialLR(optimizer, total_iters=cfg.iters, power=cfg.poly_power)
    warm = min(cfg.warmup_iters, cfg.iters - 1)
    cosine = S.CosineAnnealingLR(optimizer, T_max=max(cfg.iters - warm, 1), eta_min=cfg.lr * 1e-3)
    if warm <= 0:
        return cosine
    return S.SequentialLR(
        optimizer, [S.LinearLR(optimizer, start_factor=0.01, total_iters=warm), cosine], milestones=[warm]
    )


def _loader(ds, batch_size: int, sampler, cfg: Config, rt: Runtime) -> DataLoader:
    return DataLoader(
        ds,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=cfg.num_workers,
        drop_last=True,
        pin_memory=rt.device.type == "cuda",
        persistent_workers=cfg.num_workers > 0,
    )


def build_loaders(cfg: Config, data: DataBundle, rt: Runtime, start_iter: int):
    """Endless labeled (and unlabeled) loaders positioned at ``start_iter``, plus the val loader."""
    lab = LabeledDataset(
        data.folder, list(data.split.labeled), cfg.crop_size, cfg.scale_range, data.num_classes, cfg.weak_photometric
    )
    lab_loader = _loader(
        lab,
        cfg.batch_size,
        SeededInfiniteSampler(len(lab), cfg.seed * 2, start_iter * cfg.batch_size, rt.rank, rt.world_size),
        cfg,
        rt,
    )
    unl_loader = None
    if METHOD_INFO[cfg.method].uses_unlabeled:
        if not data.split.unlabeled:
            raise ConfigError(
                f"split {cfg.split!r} leaves no unlabeled images; semi-supervised method "
                f"{cfg.method!r} needs some (use method=supervised for 'full')"
            )
        unl = UnlabeledDataset(
            data.folder,
            list(data.split.unlabeled),
            cfg.crop_size,
            cfg.scale_range,
            cfg.photometric_probs,
            cfg.weak_photometric,
        )
        unl_loader = _loader(
            unl,
            cfg.unlabeled_batch_size,
            SeededInfiniteSampler(
                len(unl), cfg.seed * 2 + 1, start_iter * cfg.unlabeled_batch_size, rt.rank, rt.world_size
            ),
            cfg,
            rt,
        )
    return lab_loader, unl_loader, val_loader(cfg, data, rt)


def _student_buffers(method: Method) -> list[torch.Tensor]:
    """BatchNorm and feature statistics a forward pass updates (teachers' follow by EMA)."""
    return [b for n, b in method.named_buffers() if not n.startswith("teachers.")]


def _grads_finite(optimizer) -> bool:
    grads = [p.grad for g in optimizer.param_groups for p in g["params"] if p.grad is not None]
    return not grads or bool(torch.isfinite(torch.nn.utils.get_total_norm(grads)))


def _sync_buffers(model, rt: Runtime) -> None:
    """Give every rank rank 0's buffers before evaluating. DDP broadcasts them at the start of each
    forward, so after a step each rank holds BatchNorm statistics of its own batch (without
    SyncBatchNorm, i.e. on CPU); evaluation then mixes models. Rank 0's are the ones checkpointed."""
    if rt.distributed:
        for b in unwrap(model).buffers():
            dist.broadcast(b, 0)


# --------------------------------------------------------------------------- train
def train(
    cfg: Config,
    run_dir: str | Path | None = None,
    force: bool = False,
    stop_after: int | None = None,
    publish_result: bool = True,
) -> RunResult:
    """Train (or resume, or return the finished) run of ``cfg``.

    ``publish_result``: copy the finished run into the results store (mkdlib.results).
    ``stop_after``: stop after that many iterations in this call (checkpointing), for tests and
    for splitting a long run over sessions; calling again resumes.
    """
    cfg = resolve(cfg)
    run_dir = Path(run_dir or cfg.run_dir or default_run_dir(cfg))
    is_main = int(os.environ.get("RANK", "0")) == 0
    if is_main:
        check_writable(run_dir)
    with RunLock(run_dir, enabled=is_main):
        try:
            return _train(cfg, run_dir, force, stop_after, publish_result)
        except OSError as e:  # e.g. the disk filled up while logging: say what survived
            raise TrainingError(
                f"I/O error while training in {run_dir}: {e}. Checkpoints are written atomically, "
                f"so {run_dir / 'last.pt'} (if present) is intact; fix the cause and run again to "
                "resume."
            ) from e


def _train(cfg: Config, run_dir: Path, force: bool, stop_after: int | None, publish_result: bool) -> RunResult:
    rt = setup_runtime(cfg)
    finished = None if force else _finished(cfg, run_dir, rt, publish_result)
    if finished is not None:
        return finished
    run = _Run(cfg, run_dir, rt, force)
    end = cfg.iters if stop_after is None else min(cfg.iters, run.start + stop_after)
    with StopRequest() as stop:
        for it in range(run.start, end):
            out, stop_now = run.step(it, stop)
            done = it + 1
            run.log(done, end, out)
            if done % cfg.eval_interval == 0 or done == cfg.iters:
                run.evaluate(done)
            if done % cfg.checkpoint_interval == 0 or done == end or stop_now:
                run.checkpoint(done)
            if stop_now:
                run.stop(done, stop.signal)
    return run.finish(end, publish_result)


def _finished(cfg: Config, run_dir: Path, rt: Runtime, publish_result: bool) -> RunResult | None:
    """The stored result of a finished run of this config (None: train), said in one line; a finished
    run missing from the results store (e.g. the store was not writable) is published now."""
    result_path = run_dir / "result.json"
    if not result_path.exists():
        return None
    saved = _read_result(result_path)
    if saved.get("key") != cfg.key():
        return None
    published = ""
    if rt.is_main and publish_result:
        from .results import is_done

        if not is_done(saved["key"]):
            published = f"; published it to {_publish(run_dir, lambda: republish(run_dir))}"
    if rt.is_main:
        miou = saved["final"].get("miou")
        print(
            f"{run_dir} already holds the finished run of this config (key {saved['key']}"
            + (f", final mIoU {miou:.4f}" if isinstance(miou, float) else "")
            + f"): returned without training{published} (force=True / --force trains it again)",
            file=sys.stderr,
        )
    return RunResult(
        run_dir,
        cfg,
        saved["final"],
        saved["best_miou"],
        saved["wall_time_s"],
        read_jsonl(run_dir / "metrics.jsonl"),
    )


def _read_result(path: Path) -> dict:
    """A run folder's ``result.json``; a torn, edited or foreign one is one TrainingError naming it
    (never overwritten: it may be the only record of a finished run)."""
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
        keys = saved if isinstance(saved, dict) else {}
        missing = [k for k in ("key", "final", "best_miou", "wall_time_s") if k not in keys]
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        reason = f"it cannot be read ({e})"
    else:
        if not missing:
            return saved
        reason = f"it lacks {', '.join(missing)}"
    raise TrainingError(
        f"{path}: {reason}; expected the result.json a finished run writes. Move it away (the run then "
        "finishes again from last.pt, without training), or train with --force / force=True to start over"
    )


def _publish(run_dir: Path, publish) -> Path:
    """``publish()`` (into the results store); a store that cannot be written is one clear error that
    says the run is kept and will be published by the same command."""
    from .results import results_dir

    try:
        return publish()
    except OSError as e:
        raise TrainingError(
            f"the run in {run_dir} finished (its result.json is written) but could not be published to the "
            f"results store {results_dir()}: {e}. Make the store writable (or set MKD_RESULTS_DIR) and run the "
            "same command again: it publishes the finished run without training it again."
        ) from None


class _Run:
    """One training run's state and its named pieces, in the order the loop calls them."""

    def __init__(self, cfg: Config, run_dir: Path, rt: Runtime, force: bool = False):
        self.cfg, self.run_dir, self.rt = cfg, run_dir, rt
        self.last, self.metrics_path = run_dir / "last.pt", run_dir / "metrics.jsonl"
        torch.manual_seed(cfg.seed + rt.rank)
        self.data = self._data()
        method = self._method()
        self.optimizer = build_optimizer(cfg, method.students)
        self.scheduler = build_scheduler(cfg, self.optimizer)
        self.scaler = torch.amp.GradScaler("cuda", enabled=rt.amp_dtype == torch.float16)
        # force: nothing of the old run is read, and it is cleared only once the loaders exist (below)
        state = None if force else resume(self.last, cfg, method, self.optimizer, self.scheduler, self.scaler, rt)
        self.start, self.best_miou, self.skipped = (
            (state["start"], state["best_miou"], state["skipped"]) if state else (0, -1.0, 0)
        )
        #: checkpoints written from finite states: path -> iteration (the newest is the "last good" one)
        self.good: dict[Path, int] = {}
        if state:
            bad = nonfinite_tensors({"method": method.state_dict(), "optimizer": self.optimizer.state_dict()})
            if bad:
                raise TrainingError(
                    f"{self.last} (iteration {self.start}) holds NaN or infinite values in {len(bad)} tensor(s) "
                    f"(e.g. {', '.join(bad[:3])}); it cannot be resumed. Delete it, or train with force=True / "
                    "--force, to start over (with a lower lr if the run diverged)."
                )
            self.good[self.last] = self.start
        self.method, self.model = method, self._wrap(method)
        lab_loader, unl_loader, self.val_loader = build_loaders(cfg, self.data, rt, self.start)
        self.lab_iter = iter(lab_loader)  # worker processes start here: a bad loader setting stops here
        self.unl_iter = iter(unl_loader) if unl_loader is not None else None
        if force:  # only now: the config, the data, the model, the device and the loaders have passed
            self._clear()
        if state and rt.is_main:
            print(f"resuming {run_dir} from {self.last.name} at iteration {self.start}/{cfg.iters}", file=sys.stderr)
        wall_before = self._trim_metrics() if rt.is_main else 0.0
        if rt.is_main:
            save_config(cfg, run_dir / "config.yaml")
            atomic_write_json(run_dir / "env.json", environment_record(rt))
        if state is not None:  # after iter(): creating a loader iterator draws from the global RNG
            restore_rng(state["rng"])
        from tqdm.auto import tqdm

        self.bar = tqdm(
            total=cfg.iters,
            initial=self.start,
            desc=f"{cfg.run_name()} {cfg.split}",
            dynamic_ncols=True,
            disable=not (cfg.progress and rt.is_main),
        )
        self.autocast = torch.autocast("cuda", dtype=rt.amp_dtype) if rt.amp_dtype is not None else nullcontext()
        self.t0, self.last_eval, self.consecutive = time.perf_counter() - wall_before, None, 0
        self.buffers = _student_buffers(method)
        self.model.train()

    # ---- set-up
    def _clear(self) -> None:
        """``force``: the folder's finished or partial run goes (rank 0; the others wait for it)."""
        if self.rt.is_main:
            for name in ("result.json", "last.pt", "best.pt", "metrics.jsonl"):
                (self.run_dir / name).unlink(missing_ok=True)
        if self.rt.distributed:
            dist.barrier()

    def _data(self) -> DataBundle:
        cfg, rt = self.cfg, self.rt
        data = prepare_data(cfg) if rt.is_main else None
        if rt.is_main:  # bad data stops here, every problem listed, not hours into the run
            from .validate import check_data

            check_data(cfg, data, cfg.validate_samples).raise_for_problems()
        if rt.distributed:  # rank 0 generates / checks the data first, the others then read it
            dist.barrier()
            data = data or prepare_data(cfg)
        return data

    def _method(self) -> Method:
        cfg, rt = self.cfg, self.rt
        method = build_method(cfg, self.data.num_classes, resolve_encoder_weights(cfg)).to(rt.device)
        method.class_names = tuple(self.data.class_names)
        if rt.device.type == "cuda" and cfg.channels_last:
            method = method.to(memory_format=torch.channels_last)
        return method

    def _trim_metrics(self) -> float:
        """Drop metric lines logged after the checkpoint (all of them when a run died before its first
        one); the wall time already spent."""
        if not self.metrics_path.exists():
            return 0.0
        kept = [m for m in read_jsonl(self.metrics_path) if m.get("iter", 0) <= self.start]
        atomic_write_text(self.metrics_path, "".join(json.dumps(m) + "\n" for m in kept))
        return max((m.get("wall_s", 0.0) for m in kept), default=0.0)

    def _wrap(self, method: Method):
        rt = self.rt
        if rt.device.type == "cuda" and rt.distributed:
            method = torch.nn.SyncBatchNorm.convert_sync_batchnorm(method)
        if rt.distributed:
            return torch.nn.parallel.DistributedDataParallel(
                method, device_ids=[rt.local_rank] if rt.device.type == "cuda" else None
            )
        return method

    # ---- the loop's pieces
    def step(self, it: int, stop: StopRequest) -> tuple[dict, bool]:
        """One optimiser step; a non-finite loss or gradient skips it (weights and statistics unchanged)."""
        cfg, rt = self.cfg, self.rt
        batch = next(self.lab_iter)
        if self.unl_iter is not None:
            batch.update(next(self.unl_iter))
        batch = batch_to_device(batch, rt.device, cfg.channels_last and rt.device.type == "cuda")
        rng = torch.Generator().manual_seed(cfg.seed * 1_000_003 + it)
        saved_buffers = [b.detach().clone() for b in self.buffers]
        with self.autocast:
            out = self.model(batch, it / cfg.iters, rng)
        loss = out["loss"]
        # one collective decision per step: any rank's loss not finite, any rank asked to stop
        flags = torch.stack(
            [(~torch.isfinite(loss.detach())).float(), torch.tensor(1.0 if stop.signal else 0.0, device=loss.device)]
        )
        if rt.distributed:
            dist.all_reduce(flags, op=dist.ReduceOp.MAX)
        nonfinite, stop_now = (bool(f) for f in flags.tolist())
        self.optimizer.zero_grad(set_to_none=True)
        if not nonfinite:
            self.scaler.scale(loss).backward()
            # fp16: GradScaler skips inf gradients itself; otherwise an inf gradient would poison AdamW
            nonfinite = not (self.scaler.is_enabled() or _grads_finite(self.optimizer))
        if nonfinite:
            self._skip(it, saved_buffers)
        else:
            self.consecutive = 0
            self.scaler.step(self.optimizer)
            self.scaler.update()
        self.scheduler.step()
        return out, stop_now

    def _skip(self, it: int, saved_buffers: list[torch.Tensor]) -> None:
        with torch.no_grad():  # no update, forward-pass statistics rolled back
            for b, s in zip(self.buffers, saved_buffers):
                b.copy_(s)
        self.skipped += 1
        self.consecutive += 1
        if self.rt.is_main:
            append_jsonl(self.metrics_path, {"iter": it + 1, "nonfinite_loss": True, "skipped_total": self.skipped})
        if self.consecutive >= self.cfg.max_nonfinite:
            raise TrainingError(
                f"loss or gradients were not finite at {self.consecutive} consecutive steps (last at iteration "
                f"{it + 1}); training stopped. Last good checkpoint: {self._last_good()} (skipped steps never "
                "change the weights, and only finite states are saved). Lower lr, or check the data for "
                "corrupt masks."
            )

    def log(self, done: int, end: int, out: dict) -> None:
        if self.rt.is_main and (done % self.cfg.log_interval == 0 or done == end):
            rec = {
                "iter": done,
                "lr": self.optimizer.param_groups[0]["lr"],
                "wall_s": time.perf_counter() - self.t0,
                **{k: float(v.detach()) for k, v in out.items()},
            }
            append_jsonl(self.metrics_path, rec)
            self.bar.set_postfix(
                loss=f"{rec['loss']:.3f}", miou="-" if self.last_eval is None else f"{self.last_eval:.3f}"
            )
        self.bar.update(1)

    def _evaluate(self, loader: DataLoader | None = None) -> dict:
        _sync_buffers(self.model, self.rt)
        return evaluate(
            unwrap(self.model).eval_model(),
            self.val_loader if loader is None else loader,
            self.data.num_classes,
            self.rt.device,
            self.cfg.eval_mode,
            self.cfg.eval_crop,
            self.rt.amp_dtype,
        )

    def _last_good(self) -> str:
        """The newest checkpoint written from a finite state, with its iteration, or 'none'."""
        if not self.good:
            return "none (no finite training state was saved in this run folder)"
        path = max(self.good, key=lambda p: (self.good[p], p == self.last))
        return f"{path} (iteration {self.good[path]})"

    def _require_finite(self, done: int) -> None:
        """Stop, saving nothing, when any weight, buffer (BatchNorm, feature statistics, teachers) or
        optimiser state is NaN or infinite on any rank: no checkpoint is written from such a state."""
        bad = nonfinite_tensors({"method": unwrap(self.model).state_dict(), "optimizer": self.optimizer.state_dict()})
        flag = torch.tensor([1.0 if bad else 0.0], device=self.rt.device)
        if self.rt.distributed:
            dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        if flag.item():
            where = f"{len(bad)} tensor(s), e.g. {', '.join(bad[:3])}" if bad else "on another rank"
            raise TrainingError(
                f"the training state is not finite at iteration {done} (NaN or inf in {where}): the run diverged "
                f"and stopped without saving it. Last good checkpoint: {self._last_good()}. Lower lr (or raise "
                "warmup_iters) and train again."
            )

    def evaluate(self, done: int) -> None:
        """Validation mIoU now; ``best.pt`` when it is the best so far."""
        self._require_finite(done)
        ev = self._evaluate()
        self.last_eval = ev["miou"]
        if self.rt.is_main:
            append_jsonl(
                self.metrics_path,
                {
                    "iter": done,
                    "wall_s": time.perf_counter() - self.t0,
                    "miou": ev["miou"],
                    "per_class_iou": ev["per_class_iou"],
                },
            )
            self.bar.set_postfix(miou=f"{ev['miou']:.3f}")
            if ev["miou"] > self.best_miou:
                self.best_miou = ev["miou"]
                self._save(self.run_dir / "best.pt", done)

    def checkpoint(self, done: int) -> None:
        self._require_finite(done)
        rng_states = gather_rng(self.rt)  # collective: every rank's stream
        if self.rt.is_main:
            self._save(self.last, done, rng_states)

    def _save(self, path: Path, done: int, rng=None) -> None:
        save_checkpoint(
            path,
            self.model,
            self.optimizer,
            self.scheduler,
            self.scaler,
            done,
            self.cfg,
            self.best_miou,
            self.skipped,
            rng,
        )
        self.good[path] = done

    def stop(self, done: int, signum) -> None:
        """Saved; now exit: SystemExit for SIGTERM, KeyboardInterrupt for Ctrl-C (the CLI says it in
        one line and exits 130; a notebook shows an interrupted cell)."""
        self.bar.close()
        if self.rt.distributed:
            dist.barrier()
        who = "Ctrl-C" if signum == signal.SIGINT else f"signal {signum or 'on another rank'}"
        message = (
            f"stopped by {who} after iteration {done}; checkpoint saved to {self.last}. "
            "Run the same command again to resume."
        )
        if signum == signal.SIGINT:
            raise KeyboardInterrupt(message)
        raise SystemExit(message)

    def finish(self, end: int, publish_result: bool) -> RunResult:
        """Final evaluation, ``result.json`` and publication; a paused run (end < iters) just returns."""
        cfg, rt = self.cfg, self.rt
        self.bar.close()
        if rt.distributed:
            dist.barrier()
        wall = time.perf_counter() - self.t0
        if end < cfg.iters:  # paused: resumable, not finished
            return RunResult(self.run_dir, cfg, {"miou": self.last_eval}, self.best_miou, wall, [])
        final = self._evaluate()
        # the held-out test set: the final model, scored once, here and nowhere else (nothing is chosen on it)
        test = self._evaluate(val_loader(cfg, self.data, rt, self.data.test_ids)) if self.data.test_ids else None
        metrics = read_jsonl(self.metrics_path) if rt.is_main else []
        if rt.is_main:
            atomic_write_json(
                self.run_dir / "result.json",
                {
                    "key": cfg.key(),
                    "config": cfg.to_dict(),
                    "final": final,
                    **({"test": {**test, "images": len(self.data.test_ids)}} if test is not None else {}),
                    "best_miou": self.best_miou,
                    "wall_time_s": wall,
                    "sec_per_iter": wall / cfg.iters,
                    "nonfinite_skipped": self.skipped,
                    "class_names": list(self.data.class_names),
                    "env": environment_record(rt),
                },
            )
            if publish_result:
                from .results import publish

                predictions = sample_predictions(unwrap(self.model).eval_model(), self.data, rt)
                _publish(self.run_dir, lambda: publish(self.run_dir, predictions))
        return RunResult(self.run_dir, cfg, final, self.best_miou, wall, metrics)
