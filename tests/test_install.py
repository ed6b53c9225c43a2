"""An installed mkdlib behaves like a library: ``pip install .`` without ``-e`` into a fresh
location, then a short ``mkdlib train`` from another folder writes its runs, results and data to
that folder (or the ``MKD_*_DIR`` variables), the grids are built from the default config shipped
in the package, an encoder without committed weights is pretrained into the user's cache
(``MKD_CACHE_DIR``), and the install location is left as it was."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DIR_VARIABLES = ("MKD_DATA_DIR", "MKD_RUNS_DIR", "MKD_RESULTS_DIR", "MKD_CACHE_DIR")


def test_the_library_writes_to_the_current_folder_or_its_variables(tmp_path, monkeypatch):
    from mkdlib import make_config
    from mkdlib.data import data_dir
    from mkdlib.results import results_dir
    from mkdlib.trainer import default_run_dir

    cfg = make_config(method="supervised")
    monkeypatch.chdir(tmp_path)
    for v in DIR_VARIABLES:
        monkeypatch.delenv(v, raising=False)
    assert (data_dir(), results_dir()) == (tmp_path / "data", tmp_path / "results")
    assert default_run_dir(cfg) == tmp_path / "runs" / cfg.key()
    monkeypatch.setenv("MKD_RESULTS_DIR", str(tmp_path / "store"))
    monkeypatch.setenv("MKD_RUNS_DIR", str(tmp_path / "r"))
    monkeypatch.setenv("MKD_DATA_DIR", str(tmp_path / "d"))
    assert (data_dir(), results_dir()) == (tmp_path / "d", tmp_path / "store")
    assert default_run_dir(cfg) == tmp_path / "r" / cfg.key()


def listing(root: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``root`` (Python's own ``__pycache__`` left out) with its size and mtime."""
    return {
        str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    } | {str(p.relative_to(root)) + "/": (0, 0) for p in root.rglob("*") if p.is_dir() and p.name != "__pycache__"}


def install(tmp_path: Path) -> Path:
    """mkdlib installed (no ``-e``, no dependencies, offline) into a fresh folder; skips when pip
    cannot build it here."""
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    shutil.copytree(REPO / "mkdlib", src / "mkdlib", ignore=shutil.ignore_patterns("__pycache__"))
    site = tmp_path / "site"
    cmd = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--no-index"]
    res = subprocess.run([*cmd, "--target", str(site), str(src)], capture_output=True, text=True, timeout=300)
    if res.returncode != 0 or not (site / "mkdlib" / "__init__.py").is_file():
        pytest.skip(f"pip cannot install mkdlib offline here: {(res.stderr or res.stdout).strip()[-500:]}")
    return site


def test_an_installed_mkdlib_trains_from_another_folder_and_leaves_the_install_alone(tmp_path, tiny_data_root):
    site = install(tmp_path)
    assert not (site / "booktools").exists() and (site / "mkdlib" / "weights").is_dir()  # the library alone
    before = listing(site)
    work = tmp_path / "work"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in DIR_VARIABLES and k != "PYTHONPATH"}
    env.update(PYTHONPATH=str(site), HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1", PYTHONDONTWRITEBYTECODE="1")
    env.update(MKD_CACHE_DIR=str(tmp_path / "cache"))

    def python(*args: str) -> str:
        res = subprocess.run([sys.executable, *args], cwd=work, env=env, capture_output=True, text=True, timeout=600)
        assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-3000:]
        return res.stdout

    where = python(
        "-c",
        "import mkdlib, mkdlib.data, mkdlib.results; "
        "print(mkdlib.__file__); print(mkdlib.data.data_dir()); print(mkdlib.results.results_dir())",
    ).split()
    assert where == [str(site / "mkdlib" / "__init__.py"), str(work / "data"), str(work / "results")]
    args = ["--data-root", str(tiny_data_root), "--method", "supervised", "--split", "1/4", "--iters", "2"]
    args += ["--crop-size", "32", "--batch-size", "4", "--unlabeled-batch-size", "4", "--eval-interval", "2"]
    args += ["--checkpoint-interval", "2", "--log-interval", "1", "--warmup-iters", "1", "--threads", "1"]
    python("-m", "mkdlib", "train", *args, "--progress", "false")

    assert listing(site) == before, "training wrote into the install location"
    runs = [p.name for p in (work / "runs").iterdir()]
    assert len(runs) == 1 and (work / "runs" / runs[0] / "last.pt").is_file()
    assert (work / "results" / runs[0] / "result.json").is_file()

    # the default config ships with the package: the grids, the training chapter's config and a
    # short run's config are built from it, as in a checkout (the same run keys)
    from mkdlib.config import DEFAULT_CONFIG, base_config
    from mkdlib.experiments import grid

    keys = python(
        "-c",
        "from mkdlib.config import DEFAULT_CONFIG, base_config; from mkdlib.experiments import grid, train_config; "
        "print(DEFAULT_CONFIG); print(base_config().key()); print(train_config().key()); "
        "print(' '.join(c.key() for c in grid('headline')))",
    ).split("\n")
    assert keys[0] == str(site / "mkdlib" / "configs" / "synthetic" / "mkd.yaml")
    assert keys[1] == base_config().key() and keys[3].split() == [c.key() for c in grid("headline")]
    assert DEFAULT_CONFIG.read_text() == (REPO / "configs" / "synthetic" / "mkd.yaml").read_text()

    # an encoder without committed weights is pretrained into the user's cache, where
    # encoder_weights=synthetic-source finds it; the default encoder still reads the committed file
    found = python(
        "-c",
        "import dataclasses, mkdlib.pretrain as p; from mkdlib.config import base_config, resolve, "
        "resolve_encoder_weights as weights; "
        "p.SOURCE_SPEC = dataclasses.replace(p.SOURCE_SPEC, num_train=16, num_val=4, size=32); "
        "print(p.pretrain('resnet18', iters=2, threads=1, progress=False)); "
        "print(weights(resolve(base_config(encoder='resnet18')))); print(weights(resolve(base_config())))",
    ).split()
    cached = tmp_path / "cache" / "weights" / "synthetic-source-resnet18.pt"
    assert found == [str(cached), str(cached), str(site / "mkdlib" / "weights" / "synthetic-source-tu-regnetx_002.pt")]
    assert cached.with_suffix(".json").is_file() and (work / "data").is_dir()
    assert listing(site) == before, "pretraining wrote into the install location"
