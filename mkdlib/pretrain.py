"""Encoder pretraining on the built-in *source* set: this project's stand-in for ImageNet weights.

The paper initialises both students from an ImageNet-pretrained ResNet; ImageNet cannot be
downloaded here, and training from scratch for a CPU budget of ~1,000 steps is iteration-starved
rather than label-starved (the model has not yet learned to see textures and shapes, so labels are
not what limits it). So, once, a DeepLabV3+ is trained fully supervised on a separate generated set
whose classes (shapes and textures) are *disjoint* from the target classes, and its encoder is
cached. Runs with ``encoder_weights: synthetic-source`` start from it; the students then share the
pretrained encoder and differ in their randomly initialised decoders, as in CPS and MKD.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch

from .data import data_dir
from .data.synthetic import GENERATOR_VERSION, SyntheticSpec, generate
from .io import atomic_torch_save

SOURCE_NAME = "synthetic-source"
SOURCE_SPEC = SyntheticSpec(num_train=1024, num_val=128, seed=1000, family="source")
PRETRAIN_ITERS = 1000


def _settings(spec) -> dict:
    return {"encoder": spec.encoder, "output_stride": spec.output_stride, "decoder_channels": spec.decoder_channels,
            "atrous_rates": list(spec.atrous_rates), "aspp_dropout": spec.aspp_dropout,
            "source": SOURCE_SPEC.name, "generator": GENERATOR_VERSION, "iters": PRETRAIN_ITERS}


def source_encoder_path(spec) -> Path:
    """Where the pretrained encoder for this architecture (a ModelSpec) is cached."""
    digest = hashlib.sha1(json.dumps(_settings(spec), sort_keys=True).encode()).hexdigest()[:10]
    return data_dir() / "pretrained" / f"{spec.encoder}-{digest}" / "encoder.pt"


def ensure_source_encoder(spec, progress: bool = True, threads: int | None = None) -> Path:
    """The cached encoder for ``spec``'s architecture, pretraining it first if needed (minutes, once)."""
    path = source_encoder_path(spec)
    if path.is_file():
        return path
    from .experiments import base_config
    from .trainer import train

    root = generate(data_dir() / SOURCE_SPEC.name, SOURCE_SPEC, progress=progress)
    cfg = base_config(
        method="supervised", split="full", data_root=str(root), iters=PRETRAIN_ITERS, eval_interval=500,
        checkpoint_interval=250, encoder=spec.encoder, encoder_weights=None, output_stride=spec.output_stride,
        decoder_channels=spec.decoder_channels, atrous_rates=tuple(spec.atrous_rates),
        aspp_dropout=spec.aspp_dropout, run_dir=str(path.parent / "run"), progress=progress, threads=threads)
    result = train(cfg, publish_result=False)
    state = torch.load(result.run_dir / "last.pt", map_location="cpu", weights_only=False)["method"]
    prefix = "students.0.encoder."
    encoder = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    atomic_torch_save(encoder, path)
    (path.parent / "pretrain.json").write_text(json.dumps(
        {**_settings(spec), "source_val_miou": result.miou, "wall_time_s": result.wall_time_s}, indent=2))
    return path
