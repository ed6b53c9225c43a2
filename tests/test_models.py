"""encoder_weights: local torchvision / timm ResNet state dicts load; 'imagenet' offline fails fast."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from mkdlib.models import ModelError, ModelSpec, build_model

REPO = Path(__file__).resolve().parents[1]


def _random_state(module: torch.nn.Module, seed: int) -> dict:
    """The module's state dict with every float tensor redrawn, so a load is visible."""
    g = torch.Generator().manual_seed(seed)
    return {
        k: torch.randn(v.shape, generator=g) if v.is_floating_point() else v for k, v in module.state_dict().items()
    }


def _spec(encoder: str, weights) -> ModelSpec:
    return ModelSpec(encoder=encoder, num_classes=3, encoder_weights=weights, decoder_channels=16)


def _assert_loaded(encoder_state: dict, saved: dict, prefix: str = "") -> None:
    for k, v in saved.items():
        if k.startswith("fc."):
            continue
        assert torch.equal(encoder_state[prefix + k], v), k


@pytest.fixture(scope="module")
def torchvision_resnet18(tmp_path_factory) -> tuple[Path, dict]:
    import torchvision

    state = _random_state(torchvision.models.resnet18(), seed=1)
    path = tmp_path_factory.mktemp("weights") / "resnet18-torchvision.pth"
    torch.save(state, path)
    return path, state


@pytest.fixture(scope="module")
def timm_resnet18_checkpoint(tmp_path_factory) -> tuple[Path, dict]:
    """A timm model wrapped like a training checkpoint: {'state_dict': {'module.<key>': ...}}."""
    import timm

    state = _random_state(timm.create_model("resnet18", pretrained=False), seed=2)
    path = tmp_path_factory.mktemp("weights") / "resnet18-timm.pth.tar"
    torch.save({"epoch": 90, "state_dict": {f"module.{k}": v for k, v in state.items()}}, path)
    return path, state


def test_torchvision_state_dict_loads_into_smp_resnet(torchvision_resnet18):
    path, saved = torchvision_resnet18
    model = build_model(_spec("resnet18", str(path)))
    _assert_loaded(model.encoder.state_dict(), saved)


def test_timm_checkpoint_loads_into_smp_resnet(timm_resnet18_checkpoint):
    path, saved = timm_resnet18_checkpoint
    model = build_model(_spec("resnet18", str(path)))
    _assert_loaded(model.encoder.state_dict(), saved)


def test_torchvision_state_dict_loads_into_timm_universal_encoder(torchvision_resnet18):
    path, saved = torchvision_resnet18
    model = build_model(_spec("tu-resnet18", str(path)))
    _assert_loaded(model.encoder.state_dict(), saved, prefix="model.")


def test_local_weights_are_shared_by_students_but_decoders_differ(torchvision_resnet18):
    path, _ = torchvision_resnet18
    a, b = build_model(_spec("resnet18", str(path)), seed=1), build_model(_spec("resnet18", str(path)), seed=2)
    assert torch.equal(a.encoder.conv1.weight, b.encoder.conv1.weight)
    assert not torch.equal(a.classifier.weight, b.classifier.weight)


def test_wrong_backbone_weights_name_the_mismatch(torchvision_resnet18):
    path, _ = torchvision_resnet18
    with pytest.raises(ModelError, match=r"do not fit this encoder .*resnet50 weights for encoder resnet50"):
        build_model(_spec("resnet34", str(path)))  # resnet34 has more blocks: missing keys


def test_not_a_state_dict(tmp_path):
    bad = tmp_path / "weights.pth"
    bad.write_text("not a checkpoint")
    with pytest.raises(ModelError, match="cannot be read as a torch state dict"):
        build_model(_spec("resnet18", str(bad)))
    with pytest.raises(ModelError, match="no such file"):
        build_model(_spec("resnet18", str(tmp_path / "absent.pth")))


def test_imagenet_offline_fails_fast_with_the_fix(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr("mkdlib.models._imagenet_cached", lambda encoder: False)
    t0 = time.perf_counter()
    with pytest.raises(ModelError) as e:
        build_model(_spec("resnet50", "imagenet"))
    assert time.perf_counter() - t0 < 5
    msg = str(e.value)
    assert "\n" not in msg and "encoder_weights=<path" in msg and "resnet50" in msg


@pytest.mark.slow  # a fresh interpreter importing torch: 10-30 s on 2 busy cores
def test_imagenet_offline_from_the_cli_is_one_line(tmp_path, tiny_data_root):
    """The user's view: one 'error:' line on stderr, exit code 2, no traceback."""
    env = {
        "HF_HUB_OFFLINE": "1",
        "HF_HOME": str(tmp_path / "hf"),
        "OMP_NUM_THREADS": "1",
        "MKD_RUNS_DIR": str(tmp_path / "runs"),
        "PATH": "/usr/bin:/bin",
    }
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "mkdlib",
            "train",
            "--dataset",
            "synthetic",
            "--encoder",
            "resnet50",
            "--encoder-weights",
            "imagenet",
            "--iters",
            "1",
            "--run-dir",
            str(tmp_path / "run"),
            "--data-root",
            str(tiny_data_root),
            "--crop-size",
            "32",
            "--progress",
            "false",
            "--threads",
            "1",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = [l for l in proc.stderr.splitlines() if l.strip()]
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "encoder_weights" in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr
