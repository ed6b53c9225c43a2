"""DeepLabV3+ from segmentation-models-pytorch, returning logits *and* the decoder feature.

The decoder feature (input of the final 1x1 classifier) is what feature augmentation (Eq. 3)
perturbs and what its per-class statistics describe; exposing it avoids a hook.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn


class ModelError(ValueError):
    """A model that cannot be built as asked; the message says what to change."""


class SegOutput(NamedTuple):
    logits: torch.Tensor  # (B, C, H, W) at input resolution
    features: torch.Tensor  # (B, D, H/4, W/4): decoder output, input of the classifier


class SegmentationNet(nn.Module):
    """smp's DeepLabV3+ split into encoder / decoder / 1x1 classifier; returns logits and features."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.encoder, self.decoder = net.encoder, net.decoder
        self.classifier: nn.Conv2d = net.segmentation_head[0]
        self._net_check = net.check_input_shape

    def forward(self, x: torch.Tensor) -> SegOutput:
        self._net_check(x)
        features = self.decoder(self.encoder(x))
        logits = self.classifier(features)
        logits = F.interpolate(logits, size=x.shape[-2:], mode="bilinear", align_corners=False)
        return SegOutput(logits, features)


@dataclass(frozen=True)
class ModelSpec:
    """A network by names and numbers: the one list of model fields. mkdlib.config.Config takes its
    model fields and their defaults (the CPU default) from here; Config.model_spec builds one."""

    encoder: str = "tu-regnetx_002"
    num_classes: int = 21
    encoder_weights: str | None = None  # None | 'imagenet' | a local state-dict file
    output_stride: int = 16
    decoder_channels: int = 64
    atrous_rates: tuple[int, ...] = (2, 4, 6)
    aspp_dropout: float = 0.5


#: the ModelSpec fields a Config sets (num_classes comes from the data, encoder_weights is resolved)
ARCHITECTURE_FIELDS = ("encoder", "output_stride", "decoder_channels", "atrous_rates", "aspp_dropout")


def _load_local_encoder_weights(encoder: nn.Module, path: Path) -> None:
    """Load a torchvision/timm ResNet state dict (or a checkpoint holding one) into an smp encoder.

    torchvision and timm name ResNet weights alike (``conv1.weight``, ``layer1.0.bn1.weight``...);
    smp's own encoders use those names, ``tu-`` encoders keep the timm model under ``.model``.
    The classifier (``fc.*``) is dropped; every other encoder weight must be present, with its shape.
    """
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise ModelError(f"encoder_weights {path} cannot be read as a torch state dict ({e})") from None
    for key in ("state_dict", "model", "encoder"):
        if isinstance(state, dict) and key in state and isinstance(state[key], dict):
            state = state[key]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelError(f"encoder_weights {path}: expected a state dict of tensors (torchvision/timm ResNet)")
    state = {k.removeprefix("module.").removeprefix("encoder.").removeprefix("model."): v for k, v in state.items()}
    state = {k: v for k, v in state.items() if not k.startswith(("fc.", "classifier.", "head."))}
    target = encoder.model if hasattr(encoder, "model") and isinstance(encoder.model, nn.Module) else encoder
    own = target.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    if missing or unexpected or wrong:
        detail = "; ".join(
            f"{what}: {len(keys)} (e.g. {keys[:2]})"
            for what, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong))
            if keys
        )
        raise ModelError(
            f"encoder_weights {path} do not fit this encoder ({detail}); expected a torchvision or "
            "timm state dict of the same backbone (e.g. resnet50 weights for encoder resnet50)"
        )
    target.load_state_dict(state, strict=True)


def _imagenet_cached(encoder: str) -> bool:
    """Whether smp's ImageNet weights of ``encoder`` are already in the Hugging Face cache."""
    try:
        import segmentation_models_pytorch as smp
        from huggingface_hub import try_to_load_from_cache

        if encoder.startswith("tu-"):
            import timm

            cfg = timm.models.get_pretrained_cfg(encoder[3:])
            repo, revision = (getattr(cfg, "hf_hub_id", None) if cfg else None), None
            filename = "model.safetensors"
        else:
            settings = smp.encoders.encoders[encoder]["pretrained_settings"]["imagenet"]
            repo, revision, filename = settings["repo_id"], settings.get("revision"), "model.safetensors"
        if not repo:
            return False
        return isinstance(try_to_load_from_cache(repo, filename, revision=revision), str)
    except Exception:
        return False


def build_model(spec: ModelSpec, seed: int | None = None) -> SegmentationNet:
    """A DeepLabV3+ by encoder name. ``seed`` fixes the random initialisation (students differ by it)."""
    import segmentation_models_pytorch as smp

    weights = spec.encoder_weights
    local = None
    if weights == "synthetic-source":  # a name, not a file: entry points resolve it (no training in here)
        raise ModelError(
            "encoder_weights 'synthetic-source' names the built-in pretrained encoder; resolve it "
            "to its file first with mkdlib.config.resolve_encoder_weights(cfg)"
        )
    if weights not in (None, "", "none", "imagenet"):
        local = Path(weights)
        if not local.is_file():
            raise ModelError(
                f"encoder_weights {weights!r}: no such file; give 'imagenet', a local state-dict path, or none"
            )
        weights = None
    if (
        weights == "imagenet"
        and not _imagenet_cached(spec.encoder)
        and (os.environ.get("HF_HUB_OFFLINE") == "1" or not _hub_reachable())
    ):
        raise ModelError(
            f"encoder_weights='imagenet' for {spec.encoder} needs a download from the Hugging Face hub, which is "
            "offline here (and nothing is cached). Fix: on a connected machine save torchvision's weights, "
            f"e.g. torch.save(torchvision.models.{spec.encoder.removeprefix('tu-')}(weights='IMAGENET1K_V1')"
            ".state_dict(), 'r.pth'), and pass encoder_weights=<path to r.pth>; or encoder_weights=none."
        )
    if weights == "imagenet" and spec.encoder.startswith("tu-"):
        weights = True  # smp's switch for timm's own pretrained weights
    if weights in ("none", ""):
        weights = None
    if seed is not None:
        torch.manual_seed(seed)
    try:
        net = smp.DeepLabV3Plus(
            encoder_name=spec.encoder,
            encoder_weights=weights,
            encoder_output_stride=spec.output_stride,
            decoder_channels=spec.decoder_channels,
            decoder_atrous_rates=tuple(spec.atrous_rates),
            decoder_aspp_dropout=spec.aspp_dropout,
            classes=spec.num_classes,
        )
    except KeyError:
        raise ModelError(
            f"unknown encoder {spec.encoder!r}; see "
            "segmentation_models_pytorch.encoders.get_encoder_names(), or a timm "
            "name prefixed with 'tu-'"
        ) from None
    except (ValueError, RuntimeError) as e:
        if "not found" in str(e).lower() or "unknown" in str(e).lower():
            raise ModelError(f"unknown encoder {spec.encoder!r}: {e}") from None
        raise
    if local is not None:
        _load_local_encoder_weights(net.encoder, local)
    return SegmentationNet(net)


def _hub_reachable(timeout: float = 2.0) -> bool:
    import socket

    try:
        socket.create_connection(("huggingface.co", 443), timeout=timeout).close()
        return True
    except OSError:
        return False
