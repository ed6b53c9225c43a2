"""Atomic file writes (a crash mid-write leaves the previous file intact, never a torn one); where
the library writes (:func:`work_dir`: the current folder or a ``MKD_*_DIR`` variable, and
:func:`cache_dir`, never the install location); what it reads from its package (``PACKAGE_DIR``:
the default config, the committed weights); where its source is (``REPO_ROOT``, read only) and the
one git call."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path

import torch

#: the folder mkdlib is imported from: a checkout's root, or site-packages for an installed copy.
#: Read only (the configs of a checkout, its commit); nothing is ever written under it.
REPO_ROOT = Path(__file__).resolve().parents[1]
#: the package itself: what the library reads at run time ships in it (package data, read only)
PACKAGE_DIR = Path(__file__).resolve().parent
#: the CPU default on the built-in dataset (``configs/synthetic/mkd.yaml`` of a checkout links to it)
DEFAULT_CONFIG = PACKAGE_DIR / "configs" / "synthetic" / "mkd.yaml"


def repo_root() -> Path:
    return REPO_ROOT


def work_dir(variable: str, name: str) -> Path:
    """A folder the library writes to: ``$<variable>`` when set, else ``<name>`` in the current
    folder (``MKD_DATA_DIR`` / ``data``, ``MKD_RUNS_DIR`` / ``runs``, ``MKD_RESULTS_DIR`` /
    ``results``). Never derived from where mkdlib is installed: the book names its own store."""
    value = os.environ.get(variable)
    return Path(value) if value else Path.cwd() / name


def cache_dir() -> Path:
    """Where the library keeps what it makes once for the user (source-pretrained encoders of
    :mod:`mkdlib.pretrain`): ``$MKD_CACHE_DIR``, else ``mkdlib`` in ``$XDG_CACHE_HOME`` (``~/.cache``)."""
    if os.environ.get("MKD_CACHE_DIR"):
        return Path(os.environ["MKD_CACHE_DIR"]).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "mkdlib"


def git(*args: str) -> str | None:
    """``git <args>`` in the repository: its output, or None (no git, not a checkout, an error)."""
    try:
        res = subprocess.run(["git", "-C", str(REPO_ROOT), *args], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return res.stdout.strip() if res.returncode == 0 and res.stdout.strip() else None


def git_commit(short: bool = False) -> str | None:
    """The checked-out commit (None outside a git checkout)."""
    return git("rev-parse", *(["--short"] if short else []), "HEAD")


def _current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


#: mode of written files: what open() would give (mkstemp's temporary files are private, 0600)
FILE_MODE = 0o666 & ~_current_umask()


def _atomic(path: str | Path, write) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
            os.fchmod(f.fileno(), FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    _atomic(path, lambda f: f.write(text.encode()))


def atomic_write_json(path: str | Path, obj) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def atomic_torch_save(obj, path: str | Path) -> None:
    """torch.save to a temporary file in the same folder, fsync, then rename over ``path``."""
    try:
        _atomic(path, lambda f: torch.save(obj, f))
    except RuntimeError as e:  # torch's zip writer hides a failed write (disk full) behind a RuntimeError
        cause = e.__context__ or e.__cause__
        if isinstance(cause, OSError):
            raise cause from None
        raise


def append_jsonl(path: str | Path, record: dict) -> None:
    """Append one JSON line (one write call; a torn last line is skipped by :func:`read_jsonl`)."""
    with open(path, "a") as f:
        f.write(json.dumps(record) + "\n")


def read_jsonl(path: str | Path) -> list[dict]:
    out = []
    for line in Path(path).read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out
