"""The built-in stand-in for ImageNet weights: an encoder pretrained on a disjoint *source* task.

The paper initialises both students from an ImageNet-pretrained ResNet. ImageNet cannot be
downloaded here, and a DeepLabV3+ trained from scratch on a CPU budget is starved of iterations,
not of labels. So a DeepLabV3+ is trained once, fully supervised and for long, on a generated
source set whose eight classes are shapes that never occur in the target task
(:data:`mkdlib.data.synthetic.SOURCE_CLASSES`), each drawn with one of two of eight textures (the
target's four among them: the stand-in shares low-level statistics with the target, not classes).
Its encoder is committed (``mkdlib/weights/``, fp16, shipped with the package) with a provenance
file; ``encoder_weights: synthetic-source`` loads it, and nothing pretrains at run time unless the
encoder is one without committed weights: ``python -m mkdlib pretrain --encoder NAME`` makes them
once, into the user's cache (:func:`mkdlib.config.cached_weights`: ``$MKD_CACHE_DIR``, else
``~/.cache/mkdlib``), never into the package. ``make pretrain`` reproduces the committed file
(``--out`` names it).

The trainer turns the name into the file (:func:`mkdlib.config.resolve_encoder_weights`) before any
model is built; nothing below this module ever trains an encoder.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from pathlib import Path

import torch

from .config import SOURCE_WEIGHTS, Config, ConfigError, base_config, cached_weights, committed_weights, provenance_path
from .data import data_dir
from .data.synthetic import GENERATOR_VERSION, SyntheticSpec, generate
from .io import atomic_torch_save, atomic_write_json
from .runtime import git_commit

SOURCE_NAME = SOURCE_WEIGHTS
SOURCE_SPEC = SyntheticSpec(
    num_train=4096,
    num_val=256,
    seed=1000,
    family="source",
    min_objects=1,
    max_objects=3,
    min_radius=0.16,
    max_radius=0.34,
)
#: The pretraining recipe (everything else is the built-in default config).
PRETRAIN = dict(
    method="supervised",
    split="full",
    iters=8000,
    batch_size=16,
    lr=3e-3,
    warmup_iters=200,
    eval_interval=1000,
    checkpoint_interval=500,
    crop_size=64,
    encoder_weights="none",
)


def sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def pretrain_config(
    encoder: str, iters: int | None = None, threads: int | None = None, progress: bool = True, root: Path | None = None
) -> Config:
    """The Config that pretrains ``encoder`` on the source set (generated under ``root``)."""
    root = root or data_dir() / SOURCE_SPEC.name
    return base_config(
        **{**PRETRAIN, "iters": iters or PRETRAIN["iters"]},
        encoder=encoder,
        data_root=str(root),
        threads=threads,
        progress=progress,
    )


def pretrain(
    encoder: str = "tu-regnetx_002",
    out: str | Path | None = None,
    iters: int | None = None,
    threads: int | None = None,
    progress: bool = True,
    run_dir: str | Path | None = None,
) -> Path:
    """Pretrain ``encoder`` on the source task; write its weights (fp16) and provenance to ``out``
    (default: the user's cache, :func:`mkdlib.config.cached_weights`). Resumable."""
    from .trainer import train  # above this module in the layers: imported where it is used

    out = Path(out) if out else cached_weights(encoder)
    root = generate(data_dir() / SOURCE_SPEC.name, SOURCE_SPEC, progress=progress)
    cfg = pretrain_config(encoder, iters, threads, progress, root)
    run_dir = Path(run_dir) if run_dir else data_dir() / "pretrained" / f"run-{cfg.key()}"
    t0 = time.time()
    result = train(cfg, run_dir=run_dir, publish_result=False)
    state = torch.load(result.run_dir / "last.pt", map_location="cpu", weights_only=False)["method"]
    prefix = "students.0.encoder."
    encoder_state = {
        k[len(prefix) :]: (v.half() if v.is_floating_point() else v) for k, v in state.items() if k.startswith(prefix)
    }
    atomic_torch_save(encoder_state, out)
    commit = git_commit()
    atomic_write_json(
        provenance_path(out),
        {
            "what": "encoder of a DeepLabV3+ trained supervised on the built-in source task (classes disjoint "
            "from the target task): this project's stand-in for ImageNet weights",
            "command": f"python -m mkdlib pretrain --encoder {encoder}" + (f" --iters {iters}" if iters else ""),
            "encoder": encoder,
            "source_dataset": SOURCE_SPEC.name,
            "source_spec": dataclasses.asdict(SOURCE_SPEC),
            "source_classes": list(SOURCE_SPEC.classes),
            "generator_version": GENERATOR_VERSION,
            "config": {k: v for k, v in cfg.to_dict().items() if k not in Config.RUNTIME_ONLY},
            "source_val_miou": result.miou,
            "source_val_per_class_iou": result.final.get("per_class_iou"),
            "train_wall_time_s": result.wall_time_s,
            "call_wall_time_s": time.time() - t0,
            "torch_threads": torch.get_num_threads(),
            "commit": commit,
            "dtype": "float16",
            "sha256": sha256(out),
            "bytes": out.stat().st_size,
        },
    )
    return out


def check_committed(encoder: str = "tu-regnetx_002") -> dict:
    """The provenance of the committed weights, after checking the file against its SHA-256."""
    path = committed_weights(encoder)
    prov = provenance_path(path)
    if not path.is_file() or not prov.is_file():
        raise ConfigError(
            f"no committed {SOURCE_NAME} weights for {encoder!r} at {path}; run "
            f"`python -m mkdlib pretrain --encoder {encoder}`"
        )
    record = json.loads(prov.read_text())
    if sha256(path) != record["sha256"]:
        raise ConfigError(
            f"{path} does not match the SHA-256 in {prov}: the file is damaged or was replaced; "
            "restore it with git or run `make pretrain`"
        )
    return record
