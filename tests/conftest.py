"""Shared fixtures. Tests run offline (HF_HUB_OFFLINE=1) on a tiny built-in dataset."""
from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from pathlib import Path

import pytest
import torch

torch.set_num_threads(min(2, torch.get_num_threads()))

SHARED = Path(__file__).resolve().parents[1].parent / "shared"

#: tiny but complete: 32 px crops, every class present, seconds to generate
TINY = dict(num_train=48, num_val=16, size=32)


@pytest.fixture(scope="session")
def tiny_data_root(tmp_path_factory) -> Path:
    from mkdlib.data import SyntheticSpec, generate

    root = tmp_path_factory.mktemp("data") / "tiny"
    generate(root, SyntheticSpec(**TINY), progress=False)
    return root


@pytest.fixture
def tiny_config(tiny_data_root, tmp_path):
    """A factory of Configs that train in seconds on the tiny dataset."""
    from mkdlib import make_config

    def make(**overrides):
        base = dict(data_root=str(tiny_data_root), crop_size=32, batch_size=4, unlabeled_batch_size=4,
                    iters=4, eval_interval=2, checkpoint_interval=2, log_interval=1, progress=False,
                    threads=1, run_dir=str(tmp_path / "run"), warmup_iters=1)
        base.update(overrides)
        return make_config(**base)

    return make


@pytest.fixture(autouse=True)
def _isolated_dirs(tmp_path, monkeypatch):
    monkeypatch.setenv("MKD_RUNS_DIR", str(tmp_path / "runs"))
    yield


@pytest.fixture(autouse=True)
def _isolated_results(tmp_path, monkeypatch):
    monkeypatch.setenv("MKD_RESULTS_DIR", str(tmp_path / "results"))
    yield
