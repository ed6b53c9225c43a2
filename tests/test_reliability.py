"""Faults injected for real: nothing is lost, and every failure explains itself.

- a write interrupted by an exception and by SIGKILL leaves the previous checkpoint loadable;
- a run SIGKILLed at a random iteration resumes and ends bit-identical to an uninterrupted run;
  SIGTERM saves before exiting, and the resumed run is bit-identical too;
- non-finite losses and gradients are skipped, counted, rolled back, and a streak stops the run;
- concurrent writers to one results store, and two trainings of one run folder;
- an unwritable output folder and a full disk;
- a DDP worker SIGKILLed under ``torchrun --max-restarts``: the group restarts and resumes;
- issue 21: ``force`` clears a run only after the checks pass, a run the results store could not
  take is published by the same command, and a diverging run saves no non-finite checkpoint.
"""

from __future__ import annotations

import errno
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from mkdlib import make_config
from mkdlib.io import atomic_torch_save, read_jsonl
from mkdlib.trainer import TrainingError, _RunLock, load_checkpoint, train

REPO = Path(__file__).resolve().parents[1]
#: one config for the kill/resume tests; checkpoint_interval is runtime-only, so all share one key
RESUME = dict(
    crop_size=32,
    batch_size=2,
    unlabeled_batch_size=2,
    iters=6,
    eval_interval=3,
    checkpoint_interval=2,
    log_interval=1,
    progress=False,
    threads=1,
    warmup_iters=1,
)


def child_env(tmp: Path) -> dict:
    return {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "OMP_NUM_THREADS": "1",
        "MKD_RESULTS_DIR": str(tmp / "results"),
        "MKD_RUNS_DIR": str(tmp / "runs"),
        "PYTHONPATH": str(REPO),
    }


def cli_flags(values: dict) -> list[str]:
    return [a for k, v in values.items() for a in (f"--{k.replace('_', '-')}", str(v))]


def logged_iteration(run_dir: Path) -> int:
    path = run_dir / "metrics.jsonl"
    return max((m["iter"] for m in read_jsonl(path) if "loss" in m), default=0) if path.exists() else 0


def signal_at(cmd: list[str], run_dir: Path, iteration: int, sig: int, env: dict, timeout: float = 240):
    """Start ``cmd``, send ``sig`` once ``iteration`` steps are logged; returns (returncode, stderr)."""
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + timeout
    while proc.poll() is None and logged_iteration(run_dir) < iteration and time.monotonic() < deadline:
        time.sleep(0.02)
    if proc.poll() is None:
        proc.send_signal(sig)
    _, err = proc.communicate(timeout=timeout)
    return proc.returncode, err


def method_state(run_dir: Path) -> dict:
    return load_checkpoint(run_dir / "last.pt")["method"]


def curves(run_dir: Path) -> list[tuple]:
    """Every logged loss and mIoU, without the wall-clock times."""
    return [
        tuple(sorted((k, v) for k, v in m.items() if k not in ("wall_s",)))
        for m in read_jsonl(run_dir / "metrics.jsonl")
    ]


def assert_same_state(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert not different, f"{len(different)} tensors differ, e.g. {different[:3]}"


@pytest.fixture(scope="module")
def reference(tiny_data_root, tmp_path_factory):
    """The uninterrupted run every resumed run must reproduce exactly."""
    tmp = tmp_path_factory.mktemp("reference")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MKD_RESULTS_DIR", str(tmp / "results"))
        cfg = make_config(**RESUME, data_root=str(tiny_data_root), run_dir=str(tmp / "run"))
        train(cfg)
    return tmp / "run"


# --------------------------------------------------------------------------- atomic writes
class _FailsWhilePickled:
    def __reduce__(self):
        raise RuntimeError("simulated crash in the middle of writing")


def test_failed_write_keeps_previous_checkpoint(tmp_path):
    path = tmp_path / "last.pt"
    atomic_torch_save({"w": torch.ones(3)}, path)
    with pytest.raises(RuntimeError, match="middle of writing"):
        atomic_torch_save({"w": torch.zeros(100_000), "boom": _FailsWhilePickled()}, path)
    assert torch.equal(torch.load(path)["w"], torch.ones(3))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]  # no temporary file left


WRITER = """
import sys, torch
from mkdlib.io import atomic_torch_save
path, i = sys.argv[1], 0
while True:
    i += 1
    atomic_torch_save({"version": i, "w": torch.full((4_000_000,), float(i))}, path)
"""


def test_sigkill_during_writes_keeps_a_loadable_checkpoint(tmp_path):
    """Kill a process that rewrites a 16 MB checkpoint in a loop (so it is almost always mid-write)."""
    interrupted, rng = 0, random.Random()
    for attempt in range(10):
        path = tmp_path / str(attempt) / "last.pt"
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], cwd=REPO, env=child_env(tmp_path))
        while not path.exists() and proc.poll() is None:
            time.sleep(0.01)
        time.sleep(rng.uniform(0.05, 0.4))
        proc.kill()
        proc.wait()
        ckpt = torch.load(path)  # never torn: either the old or the new version, complete
        assert ckpt["version"] >= 1 and bool((ckpt["w"] == ckpt["version"]).all())
        interrupted += bool(list(path.parent.glob(".last.pt.*.tmp")))  # the write it was killed in
        if interrupted:
            break
    assert interrupted, "no kill landed in the middle of a write in 10 tries"


# --------------------------------------------------------------------------- kill and resume
@pytest.mark.slow
@pytest.mark.parametrize("fixed_kill_at", [None, 1])  # None: random; 1: before the first checkpoint
def test_sigkill_at_random_iteration_then_resume_equals_uninterrupted(
    reference, tiny_data_root, tmp_path, fixed_kill_at
):
    seed = int.from_bytes(os.urandom(4), "little")
    kill_at = fixed_kill_at or random.Random(seed).randint(1, RESUME["iters"] - 1)
    cfg = make_config(**RESUME, data_root=str(tiny_data_root), run_dir=str(tmp_path / "run"))
    cmd = [
        sys.executable,
        "-m",
        "mkdlib",
        "train",
        *cli_flags({**RESUME, "data_root": tiny_data_root, "run_dir": tmp_path / "run"}),
    ]
    rc, err = signal_at(cmd, tmp_path / "run", kill_at, signal.SIGKILL, child_env(tmp_path))
    assert rc == -signal.SIGKILL, f"(seed {seed}, kill at {kill_at}) the run was not killed: {err[-2000:]}"
    saved = load_checkpoint(tmp_path / "run" / "last.pt")["iteration"] if (tmp_path / "run" / "last.pt").exists() else 0
    assert saved < RESUME["iters"]
    result = train(cfg)  # resumes from last.pt
    assert result.final["miou"] == json.loads((reference / "result.json").read_text())["final"]["miou"]
    assert_same_state(method_state(tmp_path / "run"), method_state(reference))
    assert curves(tmp_path / "run") == curves(reference), f"seed {seed}, killed at {kill_at}, resumed at {saved}"


@pytest.mark.slow
def test_sigterm_saves_then_resume_equals_uninterrupted(reference, tiny_data_root, tmp_path):
    values = {**RESUME, "checkpoint_interval": 100, "data_root": tiny_data_root, "run_dir": tmp_path / "run"}
    cmd = [sys.executable, "-m", "mkdlib", "train", *cli_flags(values)]
    rc, err = signal_at(cmd, tmp_path / "run", 3, signal.SIGTERM, child_env(tmp_path))
    assert rc == 1 and "stopped by signal 15 after iteration" in err, err[-2000:]
    stopped_at = int(err.split("after iteration ")[1].split(";")[0])
    # checkpoint_interval 100 > iters: this checkpoint exists only because SIGTERM saved it
    assert load_checkpoint(tmp_path / "run" / "last.pt")["iteration"] == stopped_at < RESUME["iters"]
    train(make_config(**values))
    assert_same_state(method_state(tmp_path / "run"), method_state(reference))
    assert curves(tmp_path / "run") == curves(reference)


# --------------------------------------------------------------------------- non-finite steps
class _InfGradient(torch.autograd.Function):
    """Adds 0 to the loss but an infinite gradient to ``p``: a finite loss with a poisoned backward."""

    @staticmethod
    def forward(ctx, p):
        ctx.shape = p.shape
        return p.sum() * 0

    @staticmethod
    def backward(ctx, grad):
        return torch.full(ctx.shape, float("inf"))


def inject_nonfinite(monkeypatch, nan_images=(), inf_grads=()) -> dict:
    """NaN input images (-> NaN BatchNorm/feature statistics and loss) or inf gradients at given steps.

    Returns a record of the first student weight seen at the start of every step."""
    from mkdlib.methods import Method

    original, seen = Method.forward, {}

    def step(self, batch, progress, rng):
        it = round(progress * self.cfg.iters)
        seen[it] = next(self.students[0].parameters()).detach().clone()
        if it in nan_images:
            batch = {**batch, "image": batch["image"] * float("nan")}
        out = original(self, batch, progress, rng)
        if it in inf_grads:
            out["loss"] = out["loss"] + _InfGradient.apply(next(self.students[0].parameters()))
        return out

    monkeypatch.setattr(Method, "forward", step)
    return seen


def all_finite(state: dict) -> bool:
    return all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point())


def test_nonfinite_steps_are_skipped_counted_and_rolled_back(monkeypatch, tiny_config):
    seen = inject_nonfinite(monkeypatch, nan_images={1, 3}, inf_grads={4})
    cfg = tiny_config(iters=7, eval_interval=7, checkpoint_interval=7)
    result = train(cfg)
    run_dir = Path(cfg.run_dir)
    assert json.loads((run_dir / "result.json").read_text())["nonfinite_skipped"] == 3
    flagged = [m["iter"] for m in read_jsonl(run_dir / "metrics.jsonl") if m.get("nonfinite_loss")]
    assert flagged == [2, 4, 5]  # 1-based: the steps that ran at it = 1, 3, 4
    for it in (1, 3, 4):  # a skipped step leaves the weights exactly as they were
        assert torch.equal(seen[it], seen[it + 1])
    assert not torch.equal(seen[0], seen[1])  # while a good step changes them
    assert all_finite(method_state(run_dir)) and all_finite(load_checkpoint(run_dir / "best.pt")["method"])
    assert result.miou == result.miou  # not NaN


def test_nonfinite_streak_stops_naming_iteration_and_checkpoint(monkeypatch, tiny_config):
    inject_nonfinite(monkeypatch, nan_images=set(range(3, 100)))
    cfg = tiny_config(method="supervised", iters=12, max_nonfinite=3, eval_interval=100, checkpoint_interval=2)
    with pytest.raises(TrainingError) as info:
        train(cfg)
    last = Path(cfg.run_dir) / "last.pt"
    message = str(info.value)
    assert "3 consecutive steps (last at iteration 6)" in message and f"{last} (iteration 4)" in message
    ckpt = load_checkpoint(last)  # saved during the streak, and still good
    assert ckpt["iteration"] == 4 and ckpt["nonfinite_skipped"] == 1 and all_finite(ckpt["method"])
    assert not (Path(cfg.run_dir) / "result.json").exists()


def poison_buffer_at(monkeypatch, iteration: int) -> None:
    """A BatchNorm running variance of the first student turns infinite during step ``iteration``
    (0-based) while its loss stays finite: what a learning rate far too high does."""
    from mkdlib.methods import Method

    original = Method.forward

    def step(self, batch, progress, rng):
        if round(progress * self.cfg.iters) == iteration:  # before the forward pass, which saves it for backward
            with torch.no_grad():
                next(b for n, b in self.students[0].named_buffers() if n.endswith("running_var"))[0] = float("inf")
        return original(self, batch, progress, rng)

    monkeypatch.setattr(Method, "forward", step)


def test_checkpoints_are_written_only_from_finite_states(monkeypatch, tiny_config):
    poison_buffer_at(monkeypatch, 2)  # the third step; checkpoints after steps 2 and 4
    cfg = tiny_config(method="supervised", iters=6, eval_interval=100, checkpoint_interval=2)
    with pytest.raises(TrainingError) as info:
        train(cfg)
    last = Path(cfg.run_dir) / "last.pt"
    message = str(info.value)
    assert "not finite at iteration 4" in message and "running_var" in message, message
    assert f"Last good checkpoint: {last} (iteration 2)" in message
    ckpt = load_checkpoint(last)  # the state of iteration 4 was not saved over it
    assert ckpt["iteration"] == 2 and all_finite(ckpt["method"]) and not (Path(cfg.run_dir) / "result.json").exists()


def test_diverging_run_names_the_newest_finite_checkpoint_or_none(tiny_config):
    """The user's case: lr 1e6, no warmup. It stops; every checkpoint left is finite and named."""
    from mkdlib.runs import nonfinite_tensors

    cfg = tiny_config(method="supervised", lr=1e6, warmup_iters=0, iters=40, eval_interval=100, checkpoint_interval=1)
    with pytest.raises(TrainingError, match="Last good checkpoint: ") as info:
        train(cfg)
    last = Path(cfg.run_dir) / "last.pt"
    for path in Path(cfg.run_dir).glob("*.pt"):
        ckpt = load_checkpoint(path)
        assert not nonfinite_tensors({"method": ckpt["method"], "optimizer": ckpt["optimizer"]}), path
    named = f"{last} (iteration {load_checkpoint(last)['iteration']})" if last.exists() else "none"
    assert f"Last good checkpoint: {named}" in str(info.value), str(info.value)


def test_resume_refuses_a_nonfinite_checkpoint(tiny_config):
    """A ``last.pt`` written with NaN (e.g. by an older version) is refused by name, not resumed."""
    cfg = tiny_config(method="supervised", iters=4)
    train(cfg, stop_after=2)
    last = Path(cfg.run_dir) / "last.pt"
    ckpt = load_checkpoint(last)
    name = next(k for k in ckpt["method"] if k.endswith("weight"))
    ckpt["method"][name][0] = float("nan")
    atomic_torch_save(ckpt, last)
    with pytest.raises(
        TrainingError, match=f"{re.escape(str(last))} \\(iteration 2\\) holds NaN .*{name}.*cannot be resumed"
    ):
        train(cfg)


# --------------------------------------------------------------------------- force, publication
def test_force_clears_a_run_only_after_the_checks_pass(tiny_data_root, tiny_config, tmp_path):
    from mkdlib.data import DatasetError
    from mkdlib.models import ModelError

    data = shutil.copytree(tiny_data_root, tmp_path / "data")
    cfg = tiny_config(method="supervised", data_root=str(data))
    train(cfg)
    run_dir = Path(cfg.run_dir)
    names = ("result.json", "last.pt", "best.pt", "metrics.jsonl")
    kept = {n: (run_dir / n).read_bytes() for n in names}
    with pytest.raises(ModelError, match="resnet_nope"):  # a config the model check rejects, same folder
        train(tiny_config(method="supervised", data_root=str(data), encoder="resnet_nope"), force=True)
    sid = (data / "ImageSets" / "Segmentation" / "val.txt").read_text().split()[0]
    (data / "JPEGImages" / f"{sid}.jpg").unlink()  # data the check rejects
    with pytest.raises(DatasetError, match=f"{sid}.jpg"):
        train(cfg, force=True)
    assert {n: (run_dir / n).read_bytes() for n in names} == kept  # nothing lost
    shutil.copy(tiny_data_root / "JPEGImages" / f"{sid}.jpg", data / "JPEGImages")
    train(cfg, force=True)  # checks pass: cleared, trained again from the start
    assert [m["iter"] for m in read_jsonl(run_dir / "metrics.jsonl") if "loss" in m] == [1, 2, 3, 4]


def test_a_run_the_store_could_not_take_is_published_by_the_same_command(monkeypatch, tiny_config, tmp_path, capsys):
    from mkdlib.results import is_done

    blocked = tmp_path / "store-is-a-file"
    blocked.write_text("")
    monkeypatch.setenv("MKD_RESULTS_DIR", str(blocked))
    cfg = tiny_config(method="supervised")
    with pytest.raises(TrainingError, match="finished .* could not be published .*run the same command again"):
        train(cfg)
    run_dir = Path(cfg.run_dir)
    curves_before = (run_dir / "metrics.jsonl").read_text()
    store = tmp_path / "store"
    monkeypatch.setenv("MKD_RESULTS_DIR", str(store))
    capsys.readouterr()
    result = train(cfg)
    key = result.config.key()
    assert is_done(key, store) and (store / key / "predictions.npz").is_file()
    assert json.loads((store / key / "result.json").read_text()) == json.loads((run_dir / "result.json").read_text())
    assert (run_dir / "metrics.jsonl").read_text() == curves_before  # published, not trained again
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "returned without training; published it to" in err, err


# --------------------------------------------------------------------------- concurrent writers
PUBLISHER = """
import json, sys
from pathlib import Path
from mkdlib.io import atomic_write_json
from mkdlib.results import publish
run, store, name = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
for i in range(15):
    for key in ("shared", name):
        (run / "metrics.jsonl").write_text(json.dumps({"iter": i, "writer": name}) * 50 + "\\n")
        atomic_write_json(run / "result.json", {"key": key, "writer": name, "i": i, "config": {"seed": i},
                          "final": {"miou": i / 100}, "best_miou": i / 100, "wall_time_s": 1.0})
        publish(run, root=store)
"""


def test_two_writers_and_a_reader_share_one_results_store(tmp_path):
    from mkdlib.results import load_results

    store = tmp_path / "store"
    procs = []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        procs.append(
            subprocess.Popen(
                [sys.executable, "-c", PUBLISHER, str(tmp_path / name), str(store), name],
                cwd=REPO,
                env=child_env(tmp_path),
            )
        )
    reads = 0
    while any(p.poll() is None for p in procs):  # a reader (the book) never sees a torn entry
        for path in store.glob("*/result.json"):
            json.loads(path.read_text())
        if store.exists():
            load_results(store)
            reads += 1
        time.sleep(0.005)
    assert [p.returncode for p in procs] == [0, 0] and reads > 0
    table = load_results(store)
    assert sorted(table["key"]) == ["a", "b", "shared"]
    assert table.set_index("key").loc["shared", "seed"] == 14  # the last complete write of either writer
    assert not list(store.rglob("*.tmp"))


def test_second_training_of_one_run_folder_is_refused(tiny_config):
    cfg = tiny_config()
    run_dir = Path(cfg.run_dir)
    run_dir.mkdir()
    with _RunLock(run_dir, enabled=True):  # e.g. another notebook training the same config
        with pytest.raises(TrainingError, match="in use by another training process"):
            train(cfg)
    assert not (run_dir / "metrics.jsonl").exists()
    with _RunLock(run_dir, enabled=True):  # free again once the other run ends
        pass


def test_run_folder_without_lock_support_still_trains_with_a_warning(monkeypatch, tmp_path):
    """Some network filesystems lack flock: the run goes on unlocked, and says so."""
    from filelock import FileLock

    def no_flock(self, *args, **kwargs):
        raise NotImplementedError("FileSystem does not appear to support flock")

    monkeypatch.setattr(FileLock, "acquire", no_flock)
    with pytest.warns(RuntimeWarning, match="cannot be locked .*support flock"):
        with _RunLock(tmp_path, enabled=True) as lock:
            assert lock.lock is None


# --------------------------------------------------------------------------- unwritable / full disk
def test_unwritable_output_folder_fails_at_start(tiny_config, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(TrainingError, match=re.escape(f"run folder {blocker / 'run'} is not writable")):
        train(tiny_config(run_dir=str(blocker / "run")))
    if os.geteuid() != 0:  # root ignores permission bits
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        with pytest.raises(TrainingError, match="is not writable"):
            train(tiny_config(run_dir=str(locked / "run")))


def test_disk_full_at_save_is_caught_and_previous_checkpoint_kept(monkeypatch, tiny_config):
    import mkdlib.checkpoint as checkpoint  # where checkpoints are written

    writes = []

    def full_after_first(obj, path):
        if Path(path).name == "last.pt":
            writes.append(obj["iteration"])
            if len(writes) > 1:
                raise OSError(errno.ENOSPC, "No space left on device")
        atomic_torch_save(obj, path)

    monkeypatch.setattr(checkpoint, "atomic_torch_save", full_after_first)
    cfg = tiny_config(iters=6, checkpoint_interval=2)
    with pytest.raises(TrainingError, match="could not write checkpoint .*last.pt at iteration 4.*No space left") as e:
        train(cfg)
    assert "previous checkpoint in that folder is intact" in str(e.value)
    assert load_checkpoint(Path(cfg.run_dir) / "last.pt")["iteration"] == 2


def test_disk_full_while_logging_is_caught(monkeypatch, tiny_config):
    import mkdlib.trainer as trainer

    append = trainer.append_jsonl

    def full_at_iteration_3(path, record):
        if record.get("iter") == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        append(path, record)

    monkeypatch.setattr(trainer, "append_jsonl", full_at_iteration_3)
    cfg = tiny_config(method="supervised", iters=4, eval_interval=4, checkpoint_interval=2)
    with pytest.raises(TrainingError, match="I/O error while training in .*No space left on device.*last.pt"):
        train(cfg)
    assert load_checkpoint(Path(cfg.run_dir) / "last.pt")["iteration"] == 2


def test_really_full_disk(tiny_config, tmp_path):
    """A 1 MB tmpfs: the run starts (small files fit), the first checkpoint does not."""
    mnt = tmp_path / "small-disk"
    mnt.mkdir()
    if (
        os.geteuid() != 0
        or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)], capture_output=True).returncode
        != 0
    ):
        pytest.skip("needs permission to mount a tmpfs")
    try:
        with pytest.raises(TrainingError, match="could not write checkpoint .*No space left on device"):
            train(tiny_config(run_dir=str(mnt / "run")))
        assert not list((mnt / "run").glob(".*.tmp"))  # the half-written checkpoint was removed
    finally:
        subprocess.run(["umount", str(mnt)], check=False)


# --------------------------------------------------------------------------- DDP worker dies
@pytest.mark.slow
def test_torchrun_restarts_group_after_a_worker_is_killed(tiny_data_root, tmp_path):
    psutil = pytest.importorskip("psutil")
    torchrun = Path(sys.executable).with_name("torchrun")
    values = {**RESUME, "eval_interval": 6, "data_root": tiny_data_root, "run_dir": tmp_path / "run"}
    cmd = [
        str(torchrun),
        "--standalone",
        "--nproc_per_node",
        "2",
        "--max-restarts",
        "1",
        "-m",
        "mkdlib",
        "train",
        *cli_flags(values),
    ]
    # PYTHONFAULTHANDLER: a hung worker dumps its stack on SIGABRT. TORCH_DISABLE_SHARE_RDZV_TCP_STORE: with the
    # agent's store shared (torch's default), a restarted rank may read the dead group's gloo addresses and fail
    # with "connection refused" (pytorch/pytorch#135712); docs/reliability.md recommends the same setting.
    env = {**child_env(tmp_path), "PYTHONFAULTHANDLER": "1", "TORCH_DISABLE_SHARE_RDZV_TCP_STORE": "1"}
    proc = subprocess.Popen(
        cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    deadline, killed = time.monotonic() + 420, None  # ~70 s on an idle 2-core machine; the rest is for contention
    try:
        while proc.poll() is None and killed is None and time.monotonic() < deadline:
            if logged_iteration(tmp_path / "run") >= 3:  # past the checkpoint at 2
                for child in psutil.Process(proc.pid).children(recursive=True):
                    try:
                        env = child.environ()
                    except psutil.Error:
                        continue
                    if env.get("RANK") == "1" and env.get("TORCHELASTIC_RESTART_COUNT") == "0":
                        child.kill()
                        killed = child.pid
            time.sleep(0.02)
        _, err = proc.communicate(timeout=max(deadline - time.monotonic(), 1))
    except subprocess.TimeoutExpired:
        for child in psutil.Process(proc.pid).children(recursive=True):
            child.send_signal(signal.SIGABRT)
        time.sleep(2)
        os.killpg(proc.pid, signal.SIGKILL)
        _, err = proc.communicate()
        pytest.fail(f"torchrun did not finish (rank 1 killed: {killed}); stacks:\n{err[-6000:]}")
    assert killed, f"rank 1 was never found to kill: {err[-3000:]}"
    assert proc.returncode == 0, err[-3000:]
    resumed = [int(line.split("at iteration ")[1].split("/")[0]) for line in err.splitlines() if "resuming" in line]
    assert resumed and resumed[0] >= 2, err[-3000:]  # from the last checkpoint, not from scratch
    assert load_checkpoint(tmp_path / "run" / "last.pt")["iteration"] == values["iters"]
    assert json.loads((tmp_path / "run" / "result.json").read_text())["config"]["iters"] == values["iters"]
