"""The committed stand-in for ImageNet weights (mkdlib/weights/): it loads, matches its recorded
SHA-256, says how it was made with a command that exists, and its source task is disjoint from
the target task and deterministic."""

from __future__ import annotations

import json
import shlex

import numpy as np
import pytest
import torch

from mkdlib.config import (
    SOURCE_WEIGHTS,
    ConfigError,
    base_config,
    committed_weights,
    provenance_path,
    resolve,
    resolve_encoder_weights,
)
from mkdlib.data.synthetic import CLASSES, SOURCE_CLASSES, SyntheticSpec, render_sample
from mkdlib.models import build_model
from mkdlib.pretrain import SOURCE_SPEC, check_committed, sha256

ENCODER = base_config().encoder


def test_committed_weights_match_their_recorded_sha256_and_load():
    record = check_committed(ENCODER)
    path = committed_weights(ENCODER)
    assert sha256(path) == record["sha256"] and path.stat().st_size == record["bytes"]
    assert path.stat().st_size <= 20 * 2**20  # small enough to commit
    cfg = resolve(base_config())
    assert cfg.encoder_weights == SOURCE_WEIGHTS and resolve_encoder_weights(cfg) == str(path)
    net = build_model(cfg.model_spec(len(CLASSES), resolve_encoder_weights(cfg)))
    saved = torch.load(path, map_location="cpu", weights_only=True)
    own = net.encoder.state_dict()
    assert set(saved) == set(own)
    for k, v in saved.items():  # every committed weight is in the built encoder (fp16 -> fp32)
        assert torch.equal(own[k].to(v.dtype), v), k


def test_provenance_names_a_command_that_exists_and_the_source_score():
    record = json.loads(provenance_path(committed_weights(ENCODER)).read_text())
    argv = shlex.split(record["command"])
    assert argv[:4] == ["python", "-m", "mkdlib", "pretrain"]
    from mkdlib import cli

    with pytest.raises(SystemExit) as e:  # the subcommand and its flags parse (--help exits 0)
        cli.main(argv[3:] + ["--help"])
    assert e.value.code == 0
    assert 0.0 < record["source_val_miou"] <= 1.0 and record["commit"]
    assert record["source_classes"] == list(SOURCE_CLASSES)


def test_source_and_target_classes_are_disjoint():
    assert not set(SOURCE_CLASSES[1:]) & set(CLASSES[1:])
    assert SOURCE_SPEC.family == "source" and SOURCE_SPEC.seed != SyntheticSpec().seed


def test_source_generator_is_deterministic():
    spec = SyntheticSpec(num_train=4, num_val=0, size=32, seed=7, family="source")
    for i in range(4):
        (a, ma), (b, mb) = render_sample(i, spec), render_sample(i, spec)
        assert np.array_equal(a, b) and np.array_equal(ma, mb)
        assert set(np.unique(ma)) <= set(range(len(SOURCE_CLASSES)))


def test_a_run_key_names_the_committed_file(monkeypatch):
    """Re-made weights change every key that uses them: a stored result never outlives its encoder."""
    import mkdlib.config as config

    cfg = resolve(base_config())
    before = cfg.key()
    monkeypatch.setattr(config, "source_weights_sha256", lambda encoder: "0" * 64)
    assert cfg.key() != before
    other = resolve(base_config(encoder_weights="none"))
    assert other.key() == resolve(base_config(encoder_weights="none")).key()  # no file: the key ignores it


def test_an_encoder_without_weights_says_how_to_make_them():
    cfg = resolve(base_config(encoder="resnet18"))
    with pytest.raises(ConfigError, match="python -m mkdlib pretrain --encoder resnet18"):
        resolve_encoder_weights(cfg)


def test_weights_of_another_encoder_are_found_in_the_users_cache(monkeypatch, tmp_path):
    """``python -m mkdlib pretrain --encoder NAME`` writes to the user's cache, never the package;
    ``synthetic-source`` reads the committed file first, then the cache (tests/test_install.py
    pretrains into it from an installed copy)."""
    from mkdlib.config import cached_weights, source_weights
    from mkdlib.io import PACKAGE_DIR

    monkeypatch.setenv("MKD_CACHE_DIR", str(tmp_path / "cache"))
    assert cached_weights("resnet18") == tmp_path / "cache" / "weights" / "synthetic-source-resnet18.pt"
    assert source_weights(ENCODER) == committed_weights(ENCODER) and PACKAGE_DIR in committed_weights(ENCODER).parents
    cfg = resolve(base_config(encoder="resnet18"))
    with pytest.raises(ConfigError, match=str(tmp_path / "cache")):
        resolve_encoder_weights(cfg)
    cached_weights("resnet18").parent.mkdir(parents=True)
    cached_weights("resnet18").write_bytes(b"")
    assert resolve_encoder_weights(cfg) == str(cached_weights("resnet18"))
    monkeypatch.delenv("MKD_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cached_weights("resnet18").parent == tmp_path / "xdg" / "mkdlib" / "weights"
