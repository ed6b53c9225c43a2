"""The GPU check's child processes: a whole torchrun tree with its log, killed at once as a lost
machine would be, and the environment every child runs in. Part of :mod:`bench.gpu_check`."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from bench.gpu_check_plan import REPO, Plan


def _children(pid: int) -> list[int]:
    """Every descendant of ``pid`` (from /proc; torchrun starts its workers in sessions of their own,
    so killing the launcher's process group would leave the trainer running)."""
    parent: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
            parent[int(stat.parent.name)] = int(text.rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        kids = [c for c, pp in parent.items() if pp == p]
        out += kids
        todo += kids
    return out


def _running(pid: int) -> bool:
    """The process exists and is not a zombie (a killed grandchild may wait for a reaper)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


class Proc:
    """A child process (a whole torchrun tree) with its output in a log file."""

    def __init__(self, name: str, cmd: list[str], env: dict, log: Path):
        self.name, self.cmd, self.log = name, cmd, log
        self._f = open(log, "wb")
        self.popen = subprocess.Popen(
            cmd, cwd=REPO, env=env, stdout=self._f, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.t0, self.wall_s, self.killed = time.monotonic(), None, None
        self.killed_pids: list[int] = []
        self.survivors: list[int] = []

    def poll(self) -> int | None:
        rc = self.popen.poll()
        if rc is not None and self.wall_s is None:
            self.wall_s = time.monotonic() - self.t0
            self._f.close()
        return rc

    def kill(self, why: str) -> None:
        """SIGKILL the process and every descendant at once (as a lost machine would); ``survivors``
        lists any of them still running afterwards."""
        pids = [self.popen.pid, *_children(self.popen.pid)] if self.popen.poll() is None else []
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.popen.wait()
        self.killed, self.killed_pids = why, pids
        deadline = time.monotonic() + 5
        while (alive := [p for p in pids[1:] if _running(p)]) and time.monotonic() < deadline:
            time.sleep(0.05)
        self.survivors = alive
        self.poll()

    def tail(self, lines: int = 25) -> list[str]:
        return self.tail_of(self.log, lines)

    @staticmethod
    def tail_of(log: Path, lines: int = 25) -> list[str]:
        """The last non-empty lines of a log (progress-bar redraws split into lines)."""
        try:
            text = log.read_text(errors="replace")
        except OSError:
            return []
        return [r.rstrip() for r in text.replace("\r", "\n").splitlines() if r.strip()][-lines:]


def child_env(plan: Plan, work: Path, **extra: str) -> dict[str, str]:
    drop = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", "MKD_FORCE_DDP")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(
        HF_HUB_OFFLINE="1",
        PYTHONUNBUFFERED="1",
        MKD_RESULTS_DIR=str(work / "results"),
        MKD_RUNS_DIR=str(work / "runs"),
        MKD_DATA_DIR=str(work / "data"),
        PYTHONPATH=os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]),
    )
    env.update(plan.env)
    env.update(extra)
    return env
