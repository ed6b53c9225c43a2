"""Two CPU processes (gloo) through ``torchrun -m``-style launch of the CLI, on the tiny built-in data.

Checks what DDP promises and the trainer adds: both ranks end with identical students (weights and
BatchNorm statistics), and the mIoU the run reports (validation sharded over the ranks, confusion
matrices all-reduced) equals a single-process evaluation of the saved checkpoint.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

REPO = Path(__file__).resolve().parents[1]
TORCHRUN = Path(sys.executable).with_name("torchrun")

#: runs the CLI exactly as ``torchrun -m mkdlib train`` does, and keeps each rank's students
LAUNCHER = """
import os, sys, torch
import mkdlib.trainer as trainer
from mkdlib import cli

held = {}
build = trainer.build_method
def keep(cfg, num_classes, *weights):
    held["method"] = build(cfg, num_classes, *weights)
    return held["method"]
trainer.build_method = keep
code = cli.main(["train", "--config", sys.argv[1]])
torch.save(held["method"].students.state_dict(), os.path.join(sys.argv[2], f"rank{os.environ['RANK']}.pt"))
sys.exit(code)
"""


@pytest.mark.slow  # two fresh interpreters importing torch: 30-60 s on 2 busy cores
@pytest.mark.skipif(not TORCHRUN.is_file(), reason="torchrun is not installed next to this python")
def test_two_process_gloo_run_matches_single_process_evaluation(tiny_data_root, tmp_path):
    from mkdlib import make_config
    from mkdlib.config import resolve
    from mkdlib.methods import build_method
    from mkdlib.trainer import evaluate_run

    run_dir, out = tmp_path / "run", tmp_path / "ranks"
    out.mkdir()
    cfg = dict(
        dataset="synthetic",
        data_root=str(tiny_data_root),
        split="1/4",
        method="mkd",
        crop_size=32,
        batch_size=2,
        unlabeled_batch_size=2,
        iters=4,
        eval_interval=2,
        checkpoint_interval=2,
        log_interval=1,
        warmup_iters=1,
        decoder_channels=32,
        threads=1,
        progress=False,
        run_dir=str(run_dir),
        device="cpu",
    )
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    (tmp_path / "launch.py").write_text(LAUNCHER)
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "HF_HUB_OFFLINE": "1",
        "MKD_RUNS_DIR": str(tmp_path / "runs"),
        "MKD_RESULTS_DIR": str(tmp_path / "results"),
    }
    proc = subprocess.run(
        [
            str(TORCHRUN),
            "--standalone",
            "--nproc_per_node",
            "2",
            str(tmp_path / "launch.py"),
            str(tmp_path / "cfg.yaml"),
            str(out),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]

    # both ranks print the CLI's result line; both report the all-reduced evaluation
    reports = [json.loads(l) for l in proc.stdout.splitlines() if l.startswith("{") and '"miou"' in l]
    assert len(reports) == 2, proc.stdout
    assert reports[0]["miou"] == reports[1]["miou"]

    rank0, rank1 = (torch.load(out / f"rank{r}.pt") for r in (0, 1))
    assert rank0.keys() == rank1.keys()
    for k in rank0:
        assert torch.equal(rank0[k], rank1[k]), f"{k} differs between ranks"
    fresh = build_method(resolve(make_config(**cfg)), 5).students.state_dict()
    trained = [k for k in rank0 if rank0[k].is_floating_point() and not torch.equal(rank0[k], fresh[k])]
    assert len(trained) > len(rank0) // 2  # the students did train (the check above is not vacuous)

    last = torch.load(run_dir / "last.pt", weights_only=False)
    assert last["iteration"] == 4
    assert isinstance(last["rng"], list) and len(last["rng"]) == 2  # every rank's RNG stream, for resume
    saved = {k.removeprefix("students."): v for k, v in last["method"].items() if k.startswith("students.")}
    assert all(torch.equal(saved[k], rank0[k]) for k in rank0)

    single = evaluate_run(run_dir, "last")
    assert single["miou"] == pytest.approx(reports[0]["miou"], abs=1e-12)
    result = json.loads((run_dir / "result.json").read_text())
    assert result["final"]["miou"] == pytest.approx(single["miou"], abs=1e-12)
    assert result["env"]["world_size"] == 2
