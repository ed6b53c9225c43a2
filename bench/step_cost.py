"""What one training step of each method costs, and where MKD's time goes.

    python -m bench.step_cost                       # CPU default config (configs/synthetic/mkd.yaml)
    python -m bench.step_cost --threads 2 --steps 30
    python -m bench.step_cost --preset cuda-r50     # DeepLabV3+ R50, 512 px crops, 8+8, bf16, channels_last,
                                                    # eager and torch.compile, random batches
    python -m bench.step_cost --set crop_size=96 --set encoder=resnet18

One process, one config, one thread count: every method (supervised, mean teacher, CPS, MKD with
every switch on) is built once and their steps are timed *interleaved* (round r times each method
once), so load from other processes hits all of them alike; medians are taken after warm-up. A
step is exactly the trainer's: autocast forward, backward, optimiser step, the finite-loss check.
Batches are prepared beforehand (data loading is measured separately). Wall and CPU (process)
time are both recorded: on a shared machine the CPU-time ratios are the steadier ones.

Then MKD's parts are timed the same way (teacher forwards, student forward+backward, EMA,
feature statistics, feature augmentation, pseudo labels, CutMix, optimiser step, and the data
augmentation a step needs), the data pipeline's images/s with the configured workers against the
images/s the MKD step consumes, and evaluation images/s (whole image and sliding window).
FLOPs per step are counted once per method with torch's FlopCounterMode (convolutions and matrix
multiplications, forward and backward), giving achieved TFLOP/s and, on a GPU whose name is in
``BF16_PEAK_TFLOPS``, the fraction of its dense bf16 peak.
The JSON record (``bench/results/``) holds all of it; ``bench.plots`` draws it.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, replace
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402

from mkdlib.config import Config, ConfigError, make_config, resolve  # noqa: E402
from mkdlib.data.registry import dataset_info  # noqa: E402
from mkdlib.data.transforms import mix  # noqa: E402
from mkdlib.io import atomic_write_json  # noqa: E402
from mkdlib.losses import pseudo_label  # noqa: E402
from mkdlib.methods import build_method  # noqa: E402
from mkdlib.registry import METHOD_INFO, SWITCHES  # noqa: E402
from mkdlib.trainer import batch_to_device, build_optimizer, setup_runtime  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
RESULTS_DIR = REPO / "bench" / "results"
SCHEMA_VERSION = 1
SWITCH_FIELDS = SWITCHES
#: the methods timed: the four of the paper's comparison (cps_cutmix costs what CPS + CutMix does)
METHODS = ("supervised", "mean_teacher", "cps", "mkd")
assert set(METHODS) <= set(METHOD_INFO)

#: named setups; ``--set`` overrides apply on top
PRESETS: dict[str, dict] = {
    "cpu-default": dict(config="configs/synthetic/mkd.yaml", overrides={}, random_batches=False, compile=("off",)),
    "cuda-r50": dict(
        config="configs/synthetic/mkd.yaml",
        random_batches=True,
        num_classes=21,
        compile=("off", "on"),
        overrides=dict(
            encoder="resnet50",
            crop_size=512,
            decoder_channels=256,
            atrous_rates=(12, 24, 36),
            batch_size=8,
            unlabeled_batch_size=8,
            amp="bf16",
            channels_last=True,
            device="cuda",
        ),
    ),
}
#: dense (no sparsity) bf16 tensor-core peak in TFLOP/s by device name, from the vendors' datasheets;
#: the first entry whose text is in the device's name wins, so more specific names come first
BF16_PEAK_TFLOPS: tuple[tuple[str, float], ...] = (
    ("H200 NVL", 835.0),
    ("H200", 989.0),
    ("H100 NVL", 835.0),
    ("H100 PCIe", 756.0),
    ("H100", 989.0),
    ("B200", 2250.0),
    ("A100", 312.0),
    ("L40S", 362.0),
    ("L4", 121.0),
    ("A10", 125.0),
    ("RTX 4090", 165.0),
    ("A6000", 155.0),
)


def bf16_peak_tflops(device_name: str, override: float | None = None) -> tuple[float | None, str]:
    """(peak TFLOP/s, where it comes from) for ``device_name``; ``override`` (--peak-tflops) wins.
    Unknown devices (and CPUs) give (None, why), so achieved/peak is left out rather than guessed."""
    if override is not None:
        return override, "--peak-tflops"
    for name, peak in BF16_PEAK_TFLOPS:
        if name.lower() in device_name.lower():
            return peak, f"datasheet, dense bf16 ({name})"
    return None, (
        f"no bf16 peak known for {device_name!r}: add it to bench.step_cost.BF16_PEAK_TFLOPS or pass --peak-tflops"
    )


#: --tiny: a couple of steps at 32 px, for tests of the record's format (timings meaningless)
TINY = dict(
    steps=2,
    warmup=1,
    part_reps=2,
    data_batches=2,
    eval_images=4,
    overrides=dict(crop_size=32, batch_size=2, unlabeled_batch_size=2),
)


class BenchError(RuntimeError):
    """The benchmark cannot run as asked; the message says what to change."""


# --------------------------------------------------------------------------- measuring
@dataclass
class Timing:
    wall_s: list[float]
    cpu_s: list[float]

    def summary(self) -> dict:
        return {
            "median_s": statistics.median(self.wall_s),
            "cpu_median_s": statistics.median(self.cpu_s),
            "min_s": min(self.wall_s),
            "times_s": [round(t, 6) for t in self.wall_s],
            "cpu_times_s": [round(t, 6) for t in self.cpu_s],
        }


class Clock:
    """Wall and process CPU time of a call; synchronises CUDA around it."""

    def __init__(self, device: torch.device):
        self.cuda = device.type == "cuda"

    def __call__(self, fn: Callable[[], object]) -> tuple[float, float]:
        if self.cuda:
            torch.cuda.synchronize()
        w, c = time.perf_counter(), time.process_time()
        fn()
        if self.cuda:
            torch.cuda.synchronize()
        return time.perf_counter() - w, time.process_time() - c


def _rss_bytes() -> int | None:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


class PeakMemory:
    """Peak memory inside a ``with`` block: CUDA ``max_memory_allocated``, or on CPU the process RSS
    sampled every ``interval`` s by a thread (``peak`` absolute, ``delta`` above the RSS at entry)."""

    def __init__(self, device: torch.device, interval: float = 0.002):
        self.device, self.interval = device, interval
        self.peak = self.delta = None

    def __enter__(self):
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats(self.device)
            self._base = torch.cuda.memory_allocated(self.device)
            return self
        self._base = _rss_bytes()
        self._max, self._stop = self._base, threading.Event()
        if self._base is not None:
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def _sample(self):
        while not self._stop.wait(self.interval):
            self._max = max(self._max, _rss_bytes() or 0)

    def __exit__(self, *exc):
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            self.peak = torch.cuda.max_memory_allocated(self.device)
        elif self._base is not None:
            self._stop.set()
            self._thread.join()
            self._max = max(self._max, _rss_bytes() or 0)
            self.peak = self._max
        if self.peak is not None and self._base is not None:
            self.delta = self.peak - self._base
        return False


# --------------------------------------------------------------------------- setup
def _method_config(base: Config, method: str) -> Config:
    """``base`` with ``method`` and that method's own switch preset (base's switches dropped)."""
    return resolve(make_config(base, method=method, **{k: None for k in SWITCH_FIELDS}))


def random_batches(cfg: Config, num_classes: int, count: int, seed: int = 0) -> list[dict]:
    """Batches of the right shapes without a dataset (GPU presets: the content does not change the cost)."""
    g = torch.Generator().manual_seed(seed)
    s, bl, bu = cfg.crop_size, cfg.batch_size, cfg.unlabeled_batch_size
    out = []
    for _ in range(count):
        mask = torch.randint(0, num_classes, (bl, s, s), generator=g)
        mask[:, : s // 16] = 255  # a padded strip, as random crops have
        ignore = torch.zeros(bu, s, s, dtype=torch.bool)
        ignore[:, : s // 16] = True
        out.append(
            {
                "image": torch.randn(bl, 3, s, s, generator=g),
                "mask": mask,
                "image_weak": torch.randn(bu, 3, s, s, generator=g),
                "image_strong": torch.randn(bu, 3, s, s, generator=g),
                "ignore": ignore,
            }
        )
    return out


def loader_batches(cfg: Config, data, rt, count: int) -> list[dict]:
    """The first ``count`` (labeled + unlabeled) batches of the trainer's own loaders."""
    from mkdlib.trainer import build_loaders

    lab, unl, _ = build_loaders(replace(cfg, num_workers=0), data, rt, 0)
    it_l, it_u = iter(lab), iter(unl)
    return [{**next(it_l), **next(it_u)} for _ in range(count)]


class MethodStep:
    """One method built like the trainer builds it, and its training step."""

    def __init__(self, cfg: Config, num_classes: int, rt, compiled: bool):
        self.cfg, self.rt = cfg, rt
        torch.manual_seed(cfg.seed)
        method = build_method(cfg, num_classes).to(rt.device)
        if rt.device.type == "cuda" and cfg.channels_last:
            method = method.to(memory_format=torch.channels_last)
        if compiled:
            for i, s in enumerate(method.students):
                method.students[i] = torch.compile(s)
            for t in method.teachers:
                t.module = torch.compile(t.module)
        self.method = method.train()
        self.optimizer = build_optimizer(cfg, method.students)
        self.scaler = torch.amp.GradScaler("cuda", enabled=rt.amp_dtype == torch.float16)
        self.autocast = torch.autocast("cuda", dtype=rt.amp_dtype) if rt.amp_dtype is not None else nullcontext()

    def step(self, batch: dict, it: int, progress: float = 0.5) -> None:
        """The trainer's step (progress 0.5: feature augmentation's lambda is on)."""
        rng = torch.Generator().manual_seed(self.cfg.seed * 1_000_003 + it)
        with self.autocast:
            out = self.method(batch, progress, rng)
        loss = out["loss"]
        finite = torch.isfinite(loss.detach()).float()
        self.optimizer.zero_grad(set_to_none=True)
        if finite.item() < 1:
            raise BenchError(f"{self.cfg.method}: non-finite loss at benchmark step {it}")
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()


def step_flops(step: MethodStep, batch: dict) -> int:
    """FLOPs of one training step (forward, backward, teachers), as torch's FlopCounterMode counts
    them (matrix multiplications and convolutions; the elementwise rest is not counted)."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        step.step(batch, 10**6 + 1)
    return int(counter.get_total_flops())


# --------------------------------------------------------------------------- the measurements
def time_interleaved(jobs: dict[str, Callable[[int], object]], clock: Clock, warmup: int, reps: int) -> dict[str, dict]:
    """Round-robin timing: round r runs every job once. Medians over the rounds after ``warmup``."""
    times = {k: Timing([], []) for k in jobs}
    for r in range(warmup + reps):
        for name, job in jobs.items():
            w, c = clock(lambda: job(r))
            if r >= warmup:
                times[name].wall_s.append(w)
                times[name].cpu_s.append(c)
    return {name: t.summary() for name, t in times.items()}


def autograd_saved_bytes(fn: Callable[[], object]) -> int:
    """Bytes of the distinct tensors autograd saves for backward while ``fn`` runs (activations
    kept alive until backward: the step's autograd memory, deterministic unlike RSS)."""
    seen: dict[tuple, int] = {}

    def pack(t: torch.Tensor):
        try:
            storage = t.untyped_storage()
            seen[(storage.data_ptr(), t.device.type)] = storage.nbytes()
        except (RuntimeError, NotImplementedError):
            pass
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn()
    return sum(seen.values())


def memory_of_steps(steps: dict[str, MethodStep], batch: dict, device: torch.device) -> dict[str, dict]:
    """Per method, in extra untimed steps: peak memory (CUDA max_memory_allocated / CPU RSS) and the
    bytes autograd saves in the forward. Kept out of the timed rounds (the RSS sampler would add noise)."""
    out = {}
    for name, step in steps.items():
        with PeakMemory(device) as pm:
            step.step(batch, 10**6)
        rec = {
            "peak_memory_bytes": pm.peak,
            "step_memory_bytes": pm.delta,
            "memory_kind": "cuda_max_memory_allocated" if device.type == "cuda" else "process_rss",
        }
        with step.autocast:
            outs = {}
            rec["autograd_saved_bytes"] = autograd_saved_bytes(
                lambda: outs.update(step.method(batch, 0.5, torch.Generator().manual_seed(0)))
            )
        step.optimizer.zero_grad(set_to_none=True)
        outs.clear()  # free the step's outputs before the next method
        out[name] = rec
    return out


def mkd_parts(step: MethodStep, batch: dict, augment: Callable[[], object] | None) -> dict[str, Callable]:
    """MKD's step cut into the parts it is made of (mkdlib.methods.mkd.MKD), each timed alone on the
    same model and batch: the bench calls the method's own parts, it defines no copy of them."""
    m = step.method
    rng = torch.Generator().manual_seed(0)
    views = m.views(batch, rng)
    with torch.no_grad(), step.autocast:
        outs = m.student_outputs(views)
    with step.autocast:
        t_logits = [t.clone() for t in m.teacher_logits(views)]
    own = m.own_labels(outs, views)
    fresh_stats = torch.nn.ModuleList(
        type(s)(s.mean.shape[0], s.mean.shape[1], s.covariance).to(s.mean.device) for s in m.feature_stats
    )

    def teachers():
        with step.autocast:
            return m.teacher_logits(views)

    def students():  # forward, the loss terms on the plain logits, backward
        step.optimizer.zero_grad(set_to_none=True)
        with step.autocast:
            o = m.student_outputs(views)
            terms = m.loss_terms([x.logits for x in o], own, t_logits, views)
            loss = m.total_loss(terms, 0.5)
        step.scaler.scale(loss).backward()

    def ema():
        m.update_teachers()

    def statistics_update():  # into fresh statistics: the method's own stay as the step left them
        kept, m.feature_stats = m.feature_stats, fresh_stats
        try:
            m.update_feature_statistics(outs, own, views)
        finally:
            m.feature_stats = kept

    def augment_features():
        with torch.no_grad():
            m.feature_augmented_logits(outs, own, views, 0.5)

    def pseudo_labels():
        m.own_labels(outs, views)
        [pseudo_label(t, m.cfg.threshold, views.ignore) for t in t_logits]

    def cutmix():
        m.views(batch, torch.Generator().manual_seed(0))
        if views.cut is not None:
            [mix(t, views.cut) for t in t_logits]

    def optimizer_step():
        step.scaler.step(step.optimizer)
        step.scaler.update()

    parts = {
        "teacher_forward": teachers,
        "student_forward_backward": students,
        "ema_update": ema,
        "feature_statistics": statistics_update,
        "feature_augmentation": augment_features,
        "pseudo_labels": pseudo_labels,
        "cutmix": cutmix,
        "optimizer_step": optimizer_step,
    }
    if augment is not None:
        parts["data_augmentation"] = augment
    return parts


def augmentation_job(cfg: Config, data) -> Callable[[], object]:
    """The CPU work of one step's samples in-process: labeled weak + unlabeled weak/strong, collated."""
    from torch.utils.data import default_collate

    from mkdlib.data import LabeledDataset, UnlabeledDataset

    lab = LabeledDataset(data.folder, list(data.split.labeled), cfg.crop_size, cfg.scale_range)
    unl = UnlabeledDataset(data.folder, list(data.split.unlabeled), cfg.crop_size, cfg.scale_range)
    counter = iter(range(10**9))

    def job():
        k = next(counter)
        default_collate([lab[((k * cfg.batch_size + i) % len(lab), k * 97 + i)] for i in range(cfg.batch_size)])
        default_collate(
            [unl[((k * cfg.unlabeled_batch_size + i) % len(unl), k * 89 + i)] for i in range(cfg.unlabeled_batch_size)]
        )

    return job


def data_pipeline(cfg: Config, data, rt, workers: list[int], batches: int) -> list[dict]:
    """Images/s of the trainer's loaders (labeled weak; unlabeled weak+strong), worker start-up excluded."""
    from mkdlib.trainer import build_loaders

    out = []
    for w in workers:
        lab, unl, _ = build_loaders(replace(cfg, num_workers=w), data, rt, 0)
        it_l, it_u = iter(lab), iter(unl)
        next(it_l), next(it_u)  # workers started, first batch ready
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(batches):
            next(it_l), next(it_u)
        dt, dc = time.perf_counter() - t0, time.process_time() - c0
        del it_l, it_u
        images = batches * (cfg.batch_size + cfg.unlabeled_batch_size)
        rec = {"num_workers": w, "batches": batches, "seconds": dt, "images_per_s": images / dt}
        if w == 0:  # in-process: CPU time is all of the work (workers' CPU time is not visible here)
            rec.update(cpu_seconds=dc, cpu_images_per_s=images / dc if dc > 0 else None)
        out.append(rec)
    return out


def eval_throughput(
    model: torch.nn.Module, images: list[dict], num_classes: int, rt, window: int, batch_size: int
) -> list[dict]:
    """Images/s of mkdlib.evaluate.evaluate in whole-image and sliding-window mode."""
    from torch.utils.data import DataLoader

    from mkdlib.evaluate import evaluate

    loader = DataLoader(images, batch_size=batch_size)
    out = []
    clock = Clock(rt.device)
    for mode, crop in (("whole", None), ("sliding", window)):
        evaluate(
            model,
            DataLoader(images[:batch_size], batch_size=batch_size),
            num_classes,
            rt.device,
            mode,
            crop,
            rt.amp_dtype,
        )  # warm-up
        wall, cpu = clock(lambda: evaluate(model, loader, num_classes, rt.device, mode, crop, rt.amp_dtype))
        out.append(
            {
                "mode": mode,
                "window": crop,
                "images": len(images),
                "seconds": wall,
                "images_per_s": len(images) / wall,
                "cpu_seconds": cpu,
                "cpu_images_per_s": len(images) / cpu if cpu > 0 else None,
            }
        )
    return out


# --------------------------------------------------------------------------- the record
def machine_record(rt) -> dict:
    cpu = platform.processor() or ""
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    try:
        commit = (
            subprocess.run(
                ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, timeout=5
            ).stdout.strip()
            or None
        )
    except Exception:
        commit = None
    rec = {
        "hostname": platform.node(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "device": str(rt.device),
        "device_name": torch.cuda.get_device_name(rt.device) if rt.device.type == "cuda" else cpu,
        "amp": str(rt.amp_dtype).replace("torch.", "") if rt.amp_dtype else "off",
        "git_commit": commit,
    }
    if hasattr(os, "getloadavg"):
        rec["load_average_start"] = list(os.getloadavg())
    return rec


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a and b else None


def run(args: argparse.Namespace) -> dict:
    methods = args.methods.split(",") if args.methods else list(METHODS)
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise BenchError(f"--methods: unknown {unknown}; choose from {', '.join(METHODS)}")
    preset = PRESETS[args.preset]
    tiny = TINY if args.tiny else {}
    # initial weights do not change the cost; random ones avoid pretraining a source encoder first
    overrides = {"encoder_weights": None, **preset["overrides"], **tiny.get("overrides", {}), **dict(args.set or [])}
    if args.threads is not None:
        overrides["threads"] = args.threads
    if args.device is not None:
        overrides["device"] = args.device
    config_path = args.config or (REPO / preset["config"])
    base = make_config(config_path, **{**overrides, "progress": False})
    steps = args.steps or tiny.get("steps", 20)
    warmup = args.warmup if args.warmup is not None else tiny.get("warmup", 3)
    part_reps = tiny.get("part_reps", max(steps, 5))
    compile_modes = tuple(args.compile.split(",")) if args.compile else preset["compile"]
    if not set(compile_modes) <= {"off", "on"}:
        raise BenchError(f"--compile: expected off, on or off,on; got {args.compile!r}")
    rand = args.random_batches or preset["random_batches"]

    cfg_mkd = _method_config(base, "mkd")
    rt = setup_runtime(cfg_mkd)
    if rt.device.type == "cpu" and base.threads is None:
        torch.set_num_threads(1)
    data = None
    if rand:
        num_classes = preset.get("num_classes", 21)
        batches = random_batches(cfg_mkd, num_classes, 2)
    else:
        from mkdlib.data import prepare_data

        data = prepare_data(cfg_mkd)
        num_classes = data.num_classes
        batches = loader_batches(cfg_mkd, data, rt, 2)
    channels_last = rt.device.type == "cuda" and cfg_mkd.channels_last
    batches = [batch_to_device(b, rt.device, channels_last) for b in batches]
    record: dict = {
        "schema": SCHEMA_VERSION,
        "benchmark": "step_cost",
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": "python -m bench.step_cost " + " ".join(args.argv),
        "preset": args.preset,
        "tiny": bool(args.tiny),
        "machine": machine_record(rt),
        "config": {k: v for k, v in cfg_mkd.to_dict().items() if k not in Config.RUNTIME_ONLY},
        "settings": {
            "steps": steps,
            "warmup": warmup,
            "part_reps": part_reps,
            "random_batches": rand,
            "compile": list(compile_modes),
            "channels_last": channels_last,
            "interleaved": True,
            "images_per_step": cfg_mkd.batch_size + cfg_mkd.unlabeled_batch_size,
        },
    }
    clock = Clock(rt.device)
    say = (lambda *a: None) if args.quiet else (lambda *a: print(*a, flush=True))
    say(
        f"device {rt.device} ({record['machine']['device_name']}), threads {torch.get_num_threads()}, "
        f"amp {record['machine']['amp']}, {cfg_mkd.encoder} @ {cfg_mkd.crop_size}px, "
        f"batch {cfg_mkd.batch_size}+{cfg_mkd.unlabeled_batch_size}"
    )

    # ---- 1. whole steps, interleaved
    steps_by_name: dict[str, MethodStep] = {}
    for mode in compile_modes:
        for name in methods:
            key = name if mode == "off" else f"{name}+compile"
            steps_by_name[key] = MethodStep(_method_config(base, name), num_classes, rt, compiled=mode == "on")
    jobs = {k: (lambda r, s=s: s.step(batches[r % len(batches)], r)) for k, s in steps_by_name.items()}
    say(f"timing {', '.join(jobs)}: {warmup} warm-up + {steps} interleaved rounds ...")
    results = time_interleaved(jobs, clock, warmup, steps)
    memory = memory_of_steps(steps_by_name, batches[0], rt.device)
    # FLOPs per step, counted on an eager step (a compiled step does the same maths)
    peak, peak_source = bf16_peak_tflops(
        record["machine"]["device_name"] if rt.device.type == "cuda" else "cpu", args.peak_tflops
    )
    record["machine"].update(bf16_peak_tflops=peak, bf16_peak_source=peak_source)
    flops: dict[str, int] = {}
    for name in methods:
        counted = steps_by_name.get(name) or MethodStep(_method_config(base, name), num_classes, rt, compiled=False)
        flops[name] = step_flops(counted, batches[0])
        del counted
    for k, rec in results.items():
        rec["images_per_s"] = record["settings"]["images_per_step"] / rec["median_s"]
        rec.update(memory[k])
        rec["flops_per_step"] = flops[k.removesuffix("+compile")]
        rec["achieved_tflops"] = rec["flops_per_step"] / rec["median_s"] / 1e12
        rec["fraction_of_bf16_peak"] = rec["achieved_tflops"] / peak if peak else None
    record["methods"] = results

    def ratio(a, b, field="median_s"):
        return _ratio(results.get(a, {}).get(field), results.get(b, {}).get(field))

    record["ratios"] = {
        "mkd_over_cps": ratio("mkd", "cps"),
        "mkd_over_supervised": ratio("mkd", "supervised"),
        "cps_over_supervised": ratio("cps", "supervised"),
        "mean_teacher_over_supervised": ratio("mean_teacher", "supervised"),
        "cpu_mkd_over_cps": ratio("mkd", "cps", "cpu_median_s"),
        "cpu_mkd_over_supervised": ratio("mkd", "supervised", "cpu_median_s"),
    }
    if "mkd+compile" in results:
        record["ratios"]["compiled_mkd_over_cps"] = ratio("mkd+compile", "cps+compile")

    # ---- 2. MKD's parts, interleaved, on the same model and batch
    if not args.no_parts and "mkd" in steps_by_name:
        augment = augmentation_job(cfg_mkd, data) if data is not None else None
        parts = mkd_parts(steps_by_name["mkd"], batches[0], augment)
        say(f"timing MKD's parts: {', '.join(parts)} ...")
        part_times = time_interleaved({k: (lambda r, f=f: f()) for k, f in parts.items()}, clock, warmup, part_reps)
        in_step = [k for k in part_times if k != "data_augmentation"]
        total = sum(part_times[k]["median_s"] for k in in_step)
        mkd_t = results["mkd"]["median_s"]
        record["parts"] = part_times
        record["parts_summary"] = {
            "sum_of_parts_in_step_s": total,
            "mkd_step_s": mkd_t,
            "unaccounted_s": mkd_t - total,
            "cps_step_s": results.get("cps", {}).get("median_s"),
            # what the arithmetic says MKD should cost: CPS plus the two teachers' forwards
            "arithmetic_mkd_over_cps": _ratio(
                (results["cps"]["median_s"] + part_times["teacher_forward"]["median_s"]), results["cps"]["median_s"]
            )
            if "cps" in results
            else None,
            "cpu_sum_of_parts_in_step_s": sum(part_times[k]["cpu_median_s"] for k in in_step),
            "cpu_mkd_step_s": results["mkd"]["cpu_median_s"],
            "cpu_arithmetic_mkd_over_cps": _ratio(
                results["cps"]["cpu_median_s"] + part_times["teacher_forward"]["cpu_median_s"],
                results["cps"]["cpu_median_s"],
            )
            if "cps" in results
            else None,
        }
        teacher_out = parts["teacher_forward"]()
        record["teachers"] = {
            "outputs_require_grad": any(t.requires_grad for t in teacher_out),
            "outputs_are_inference_tensors": all(t.is_inference() for t in teacher_out),
            "autograd_saved_bytes": autograd_saved_bytes(parts["teacher_forward"]),
        }

    # ---- 3. data pipeline against what the MKD step consumes
    if data is not None and not args.no_data:
        workers = sorted({cfg_mkd.num_workers, *[int(w) for w in (args.workers.split(",") if args.workers else [])]})
        n = tiny.get("data_batches", args.data_batches)
        say(f"data pipeline with num_workers {workers} ({n} batches each) ...")
        pipe = data_pipeline(cfg_mkd, data, rt, workers, n)
        consumed = record["settings"]["images_per_step"] / results["mkd"]["median_s"] if "mkd" in results else None
        default = next(p for p in pipe if p["num_workers"] == cfg_mkd.num_workers)
        cpu_consumed = (
            record["settings"]["images_per_step"] / results["mkd"]["cpu_median_s"] if "mkd" in results else None
        )
        record["data"] = {
            "loaders": pipe,
            "default_num_workers": cfg_mkd.num_workers,
            "mkd_step_consumes_images_per_s": consumed,
            "loader_over_consumption": _ratio(default["images_per_s"], consumed),
            # the same on CPU time (steady on a shared machine; in-process loading only)
            "cpu_loader_over_consumption": _ratio(default.get("cpu_images_per_s"), cpu_consumed),
        }

    # ---- 4. evaluation throughput
    if not args.no_eval:
        n_eval = tiny.get("eval_images", args.eval_images)
        model = steps_by_name[next(iter(steps_by_name))].method.students[0]
        if data is not None:
            from mkdlib.data import EvalDataset

            ds = EvalDataset(data.folder, data.val_ids[:n_eval])
            images = [{"image": ds[i]["image"], "mask": ds[i]["mask"]} for i in range(len(ds))]
            bs = dataset_info(cfg_mkd.dataset).val_batch_size  # as runs.val_loader
        else:  # whole images 1.5x the crop, as VOC images are to 512 crops
            side = (cfg_mkd.crop_size * 3 // 2) // 32 * 32
            g = torch.Generator().manual_seed(1)
            images = [
                {
                    "image": torch.randn(3, side, side, generator=g),
                    "mask": torch.randint(0, num_classes, (side, side), generator=g),
                }
                for _ in range(n_eval)
            ]
            bs = 1
        side = images[0]["image"].shape[-1]
        window = cfg_mkd.eval_crop or max(32, (side // 2) // 32 * 32)
        say(f"evaluation throughput on {len(images)} images ({side}px), sliding window {window} ...")
        record["eval"] = eval_throughput(model, images, num_classes, rt, window, bs)

    if hasattr(os, "getloadavg"):
        record["machine"]["load_average_end"] = list(os.getloadavg())
    return record


def format_report(rec: dict) -> str:
    lines = [
        f"machine: {rec['machine']['device_name']} ({rec['machine']['device']}, "
        f"{rec['machine']['torch_threads']} threads, torch {rec['machine']['torch']}); "
        f"load avg {rec['machine'].get('load_average_start')}"
    ]
    lines.append(
        f"{'method':22s} {'wall ms':>9s} {'cpu ms':>9s} {'img/s':>8s} {'TFLOP/s':>8s} {'peak MiB':>9s} "
        f"{'saved MiB':>9s}"
    )
    for k, m in rec["methods"].items():
        mib = lambda b: f"{b / 2**20:9.1f}" if b is not None else f"{'-':>9s}"  # noqa: E731
        tflops = f"{m['achieved_tflops']:8.2f}" if m.get("achieved_tflops") is not None else f"{'-':>8s}"
        lines.append(
            f"{k:22s} {m['median_s'] * 1e3:9.1f} {m['cpu_median_s'] * 1e3:9.1f} {m['images_per_s']:8.1f} "
            f"{tflops} {mib(m.get('peak_memory_bytes'))} {mib(m.get('autograd_saved_bytes'))}"
        )
    lines.append("(peak: CUDA max_memory_allocated, or process RSS on CPU; saved: tensors autograd keeps for backward)")
    peak = rec["machine"].get("bf16_peak_tflops")
    lines.append(
        f"TFLOP/s: FlopCounterMode FLOPs per step / median wall time; bf16 peak "
        f"{f'{peak:.0f} TFLOP/s' if peak else '-'} ({rec['machine'].get('bf16_peak_source', '-')})"
    )
    r = rec["ratios"]
    fmt = lambda v: "-" if v is None else f"{v:.3f}"  # noqa: E731
    lines.append(
        f"MKD/CPS {fmt(r['mkd_over_cps'])} (cpu {fmt(r['cpu_mkd_over_cps'])}),  "
        f"MKD/supervised {fmt(r['mkd_over_supervised'])} (cpu {fmt(r['cpu_mkd_over_supervised'])})"
        + (f",  compiled MKD/CPS {fmt(r['compiled_mkd_over_cps'])}" if "compiled_mkd_over_cps" in r else "")
    )
    if "parts" in rec:
        lines.append("MKD parts (median ms, wall / cpu):")
        for k, p in rec["parts"].items():
            lines.append(f"  {k:26s} {p['median_s'] * 1e3:9.2f} {p['cpu_median_s'] * 1e3:9.2f}")
        s = rec["parts_summary"]
        lines.append(
            f"  sum in step {s['sum_of_parts_in_step_s'] * 1e3:.1f} ms of MKD step {s['mkd_step_s'] * 1e3:.1f} "
            f"ms; arithmetic MKD/CPS (CPS + teacher forwards) {fmt(s['arithmetic_mkd_over_cps'])} "
            f"(cpu {fmt(s.get('cpu_arithmetic_mkd_over_cps'))})"
        )
    if "data" in rec:
        d = rec["data"]
        for p in d["loaders"]:
            lines.append(f"data: num_workers={p['num_workers']}: {p['images_per_s']:.0f} images/s")
        lines.append(
            f"data: MKD step consumes {fmt(d['mkd_step_consumes_images_per_s'])} images/s; "
            f"loader/consumption {fmt(d['loader_over_consumption'])} (default workers; "
            f"on CPU time {fmt(d.get('cpu_loader_over_consumption'))})"
        )
    for e in rec.get("eval", []):
        lines.append(
            f"eval {e['mode']:8s}: {e['images_per_s']:.1f} images/s (CPU time: "
            f"{fmt(e.get('cpu_images_per_s'))} images/s)"
        )
    return "\n".join(lines)


def default_output(rec: dict) -> Path:
    stamp = rec["created"].replace(":", "").replace("-", "")[:15]
    dev = rec["machine"]["device"].split(":")[0]
    tag = "tiny-" if rec["tiny"] else ""
    return RESULTS_DIR / f"step_cost-{tag}{rec['preset']}-{dev}-{rec['machine']['torch_threads']}t-{stamp}.json"


def _key_value(text: str) -> tuple[str, str]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"--set expects field=value, got {text!r}")
    k, v = text.split("=", 1)
    return k.strip(), v.strip()


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench.step_cost", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--preset", choices=sorted(PRESETS), default="cpu-default")
    p.add_argument("--config", help="YAML config (default: the preset's)")
    p.add_argument(
        "--set",
        type=_key_value,
        action="append",
        metavar="FIELD=VALUE",
        help="override a Config field (repeatable), e.g. --set crop_size=96",
    )
    p.add_argument("--threads", type=int, help="torch CPU threads (default: the config's, else 1)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"))
    p.add_argument("--methods", help=f"comma list of {', '.join(METHODS)} (default: all)")
    p.add_argument("--steps", type=int, help="timed interleaved rounds (default 20)")
    p.add_argument("--warmup", type=int, help="untimed rounds first (default 3)")
    p.add_argument("--compile", help="off | on | off,on: torch.compile the networks (default: the preset's)")
    p.add_argument("--random-batches", action="store_true", help="random tensors instead of the dataset")
    p.add_argument("--workers", help="extra num_workers values for the data-pipeline measurement, e.g. 1,2")
    p.add_argument("--data-batches", type=int, default=30, help="batches per data-pipeline measurement")
    p.add_argument("--eval-images", type=int, default=64, help="images per evaluation measurement")
    p.add_argument("--no-parts", action="store_true")
    p.add_argument("--no-data", action="store_true")
    p.add_argument("--no-eval", action="store_true")
    p.add_argument("--tiny", action="store_true", help="a couple of steps at 32 px: checks the record, not speed")
    p.add_argument("--out", help="JSON record path (default: bench/results/step_cost-<preset>-<device>-...json)")
    p.add_argument("--peak-tflops", type=float, help="the device's dense bf16 peak (default: BF16_PEAK_TFLOPS by name)")
    p.add_argument("--quiet", action="store_true")
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser().parse_args(argv)
    args.argv = argv
    try:
        rec = run(args)
    except (BenchError, ConfigError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    out = Path(args.out) if args.out else default_output(rec)
    atomic_write_json(out, rec)
    if not args.quiet:
        print(format_report(rec))
    print(f"record: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
