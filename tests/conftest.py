"""Shared fixtures. Tests run offline (HF_HUB_OFFLINE=1) on a tiny built-in dataset."""

from __future__ import annotations

import dataclasses
import os
import shutil

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import sys
from pathlib import Path

import pytest
import torch

# booktools/ (the book's build, publishing, README blocks) and bench/ live beside mkdlib, not in it
if str(Path(__file__).resolve().parents[1]) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

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
        base = dict(
            data_root=str(tiny_data_root),
            crop_size=32,
            batch_size=4,
            unlabeled_batch_size=4,
            iters=4,
            eval_interval=2,
            checkpoint_interval=2,
            log_interval=1,
            progress=False,
            threads=1,
            run_dir=str(tmp_path / "run"),
            warmup_iters=1,
        )
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


#: Config fields of the book's tiny runs (the built_book fixture, the explorer test)
TINY_OVERRIDES = dict(
    crop_size=32,
    batch_size=4,
    unlabeled_batch_size=4,
    eval_interval=2,
    checkpoint_interval=2,
    log_interval=1,
    warmup_iters=1,
)
REPO = Path(__file__).resolve().parents[1]


def _tiny_cfg(data_root, **kw):
    from mkdlib import make_config, resolve
    from mkdlib.config import DEFAULT_CONFIG

    return resolve(
        make_config(
            DEFAULT_CONFIG,
            data_root=str(data_root),
            split="1/16",
            seed=0,
            iters=4,
            threads=1,
            progress=False,
            **TINY_OVERRIDES,
            **kw,
        )
    )


@pytest.fixture(scope="session")
def built_book(tiny_data_root, tmp_path_factory):
    """Execute every notebook on the tiny dataset with a private results store, build the HTML
    (shared by the notebook tests and the browser check)."""
    from booktools import build as book
    from mkdlib import train

    tmp = tmp_path_factory.mktemp("book")
    with pytest.MonkeyPatch.context() as mp:  # the kernels inherit these
        mp.setenv("MKD_RESULTS_DIR", str(tmp / "results"))
        mp.setenv("MKD_RUNS_DIR", str(tmp / "runs"))
        mp.setenv("HF_HUB_OFFLINE", "1")
        baseline = _tiny_cfg(tiny_data_root, method="cps")
        train(baseline)  # the Figure 2 baseline; MKD is trained by 03_train below
        # one stored run of a sweep (not of the headline: the verdict still has nothing to judge), so
        # the explorer's figures have data to draw (the browser check fails a figure with none)
        from mkdlib.experiments import grid

        curves = [{"iter": 2000, "miou": 0.4}, {"iter": 4000, "miou": 0.5}]
        store_result(tmp / "results", grid("gamma")[0], 0.5, curves=curves)
        mkd = _tiny_cfg(tiny_data_root, method="mkd")
        book_dir = tmp / "book"
        shutil.copytree(REPO / "book", book_dir, ignore=shutil.ignore_patterns("_build", "chapters"))
        params = {
            "01_components": {"crop_size": 32},
            "03_train": {"method": "mkd", "iters": 4, "config_overrides": TINY_OVERRIDES},
            "05_qualitative": {"baseline_key": baseline.key(), "mkd_key": mkd.key(), "n_improved": 2},
        }
        html = book.build(book_dir, parameters=params, common={"data_root": str(tiny_data_root), "threads": 1})
        yield {
            "html": html,
            "chapters": book_dir / "chapters",
            "mkd_key": mkd.key(),
            "tmp": tmp,
            "params": params,
            "data_root": str(tiny_data_root),
        }


def store_result(root, cfg, miou, confusion=None, curves=None, wall_time_s: float = 60.0, env: dict | None = None):
    """A minimal finished run of ``cfg`` in the results store at ``root`` (its result.json, and its
    metrics.jsonl when ``curves`` are given; ``env``: where it ran): what the reporting tests read."""
    import json

    from mkdlib.io import atomic_write_json

    final = {"miou": miou, "per_class_iou": [], **({"confusion": confusion} if confusion else {})}
    atomic_write_json(
        root / cfg.key() / "result.json",
        {
            "key": cfg.key(),
            "config": cfg.to_dict(),
            "final": final,
            "best_miou": miou,
            "wall_time_s": wall_time_s,
            **({"env": env} if env else {}),
        },
    )
    if curves:
        (root / cfg.key() / "metrics.jsonl").write_text("".join(json.dumps(c) + "\n" for c in curves))


@pytest.fixture
def cost_chart():
    """bench.plots' cost chart drawn from the committed bench record (the test skips without one)."""
    import sys

    import matplotlib

    matplotlib.use("Agg")
    sys.path.insert(0, str(REPO))
    from bench.plots import plot_cost_breakdown

    try:
        return plot_cost_breakdown()
    except FileNotFoundError:
        pytest.skip("no bench record in bench/results")


@pytest.fixture
def screened_mkd(monkeypatch):
    """``mkd``'s preset as its departures were screened, whether or not it has since been set from the
    screens (its screened values back in the registry, no legacy preset): the state the tests of that
    change start from."""
    from mkdlib import experiments, registry
    from mkdlib.report.evidence.store import clear_cache

    info = registry.METHOD_INFO["mkd"]
    screened = {**dict(info.settings), **experiments.LEGACY_PRESETS.get("mkd", {})}
    monkeypatch.setitem(registry.METHOD_INFO, "mkd", dataclasses.replace(info, settings=tuple(screened.items())))
    monkeypatch.delitem(experiments.LEGACY_PRESETS, "mkd", raising=False)
    clear_cache()
    yield
    clear_cache()  # no snapshot made under the patched preset outlives the test
