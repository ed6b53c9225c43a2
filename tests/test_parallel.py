"""Grids that share one machine: ``python -m mkdlib.experiments GRID --parallel N`` on CPU.

Real child processes (``python -m mkdlib train``) on the tiny built-in dataset, with ``--set``
overrides that make every config of the grid tiny (and give it its own run key).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from mkdlib import experiments, parallel
from mkdlib.results import is_done

#: every config of a grid made tiny; split=full makes the fractions grid two runs: supervised
#: (trains) and MKD (fails at start: nothing is left unlabeled)
TINY_SET = dict(
    iters=3,
    crop_size=32,
    batch_size=2,
    unlabeled_batch_size=2,
    encoder_weights="none",
    decoder_channels=32,
    eval_interval=3,
    checkpoint_interval=1,
    log_interval=1,
    warmup_iters=1,
    validate_samples=8,
)


def set_flags(values: dict) -> list[str]:
    return [a for k, v in values.items() for a in ("--set", f"{k}={v}")]


def test_parallel_grid_runs_two_at_once_resumes_reports_failures_and_skips_stored(tiny_data_root, capsys):
    from mkdlib.trainer import train

    values = {**TINY_SET, "data_root": tiny_data_root, "split": "full"}
    configs = experiments.grid_configs(["fractions"], parallel.parse_overrides(set_flags(values)[1::2]))
    assert [c.method for c in configs] == ["supervised", "mkd"]  # 6 configs, 2 distinct after split=full
    plain = {c.key() for c in experiments.grid("fractions")}
    assert not plain & {c.key() for c in configs}  # overridden iters/crop/split are other experiments
    sup, mkd = configs
    train(sup, stop_after=1)  # an interrupted run: runs/<key>/last.pt at iteration 1
    capsys.readouterr()

    rc = experiments.main(["fractions", "--parallel", "2", *set_flags(values)])
    out = capsys.readouterr().out
    assert rc == 1, out
    events = [line for line in out.splitlines() if line.startswith("[")]
    first_end = next(i for i, line in enumerate(events) if " started " not in line)
    assert {sup.key(), mkd.key()} <= {line.split(" started ")[1].split()[0] for line in events[:first_end]}, out

    assert is_done(sup.key()) and not is_done(mkd.key())
    run_dir = Path(os.environ["MKD_RUNS_DIR"]) / sup.key()
    assert "at iteration 1/3" in (run_dir / "grid.log").read_text()  # resumed, not restarted
    env = json.loads((run_dir / "env.json").read_text())
    assert env["torch_threads"] == max(1, parallel.usable_cores() // 2)
    summary = out[out.index("grid summary") :]
    assert "1 finished, 1 failed" in summary and f"finished  {sup.key()}" in summary
    assert f"FAILED    {mkd.key()}  (exit 2" in summary
    assert "leaves no unlabeled images" in summary  # the failed run's last log lines

    # again: the stored run is not started; with --only selecting it there is nothing to do
    assert experiments.main(["fractions", "--only", "supervised", "--parallel", "2", *set_flags(values)]) == 0
    assert "nothing to run: 1 config(s) selected, 1 already in the results store" in capsys.readouterr().out


def test_shards_of_a_grid_split_its_runs(tmp_path):
    overrides = parallel.parse_overrides(["iters=4", "crop_size=32"])
    every = {c.key() for c in experiments.grid_configs(["headline"], overrides)}
    parts = [
        {c.key() for c in experiments.shard(experiments.grid_configs(["headline"], overrides), i, 3)} for i in range(3)
    ]
    assert set().union(*parts) == every and sum(map(len, parts)) == len(every) == len(experiments.grid("headline"))
    assert all(parts)


def test_bad_grid_options_are_clear_errors(capsys):
    assert experiments.main(["fractions", "--set", "crop_sise=32"]) == 2
    assert "crop_sise" in capsys.readouterr().err
    assert experiments.main(["fractoins", "--parallel", "2"]) == 2
    assert "unknown grid 'fractoins'" in capsys.readouterr().err
    assert experiments.main(["fractions", "--parallel", "2", "--shard", "2/2"]) == 2
    assert "--shard expects i/n" in capsys.readouterr().err
    import torch

    if not torch.cuda.is_available():
        assert experiments.main(["fractions", "--device", "cuda"]) == 2
        assert "sees no CUDA device" in capsys.readouterr().err


def test_list_sizes_the_work_left_from_stored_cpu_runs(tmp_path, monkeypatch, capsys):
    """``--list`` estimates CPU-hours left: a method's own stored seconds per iteration times its
    threads; a method never stored gets the stored methods' rate scaled by its relative step cost."""
    from conftest import store_result

    from mkdlib.config import base_config, resolve
    from mkdlib.registry import METHOD_INFO
    from mkdlib.results import cpu_seconds_per_iter, estimate_cpu_seconds

    def store(method: str, seed: int, sec_per_iter: float, threads: int, device: str = "cpu") -> None:
        cfg = resolve(base_config(method=method, split="1/16", seed=seed))
        env = {"device": device, "torch_threads": threads}
        store_result(tmp_path, cfg, 0.5, wall_time_s=sec_per_iter * cfg.iters, env=env)

    store("supervised", 0, 0.1, 1)
    store("supervised", 1, 0.05, 4)  # 0.2 CPU-s: the median of 0.1 and 0.2 is 0.15
    store("supervised", 2, 9.0, 1, device="cuda")  # GPU runs do not size CPU work
    rates = cpu_seconds_per_iter(tmp_path)
    assert rates.keys() == {"supervised"} and abs(rates["supervised"] - 0.15) < 1e-9
    assert abs(estimate_cpu_seconds("supervised", 4000, rates) - 600) < 1e-6
    mkd = estimate_cpu_seconds("mkd", 4000, rates)
    assert abs(mkd - 600 * METHOD_INFO["mkd"].step_cost) < 1e-6

    monkeypatch.setenv("MKD_RESULTS_DIR", str(tmp_path))
    assert experiments.main(["--list"]) == 0
    out = capsys.readouterr().out
    assert "CPU-h left" in out and "estimated from the stored CPU runs" in out


def test_list_counts_started_runs_and_only_what_they_have_left(tmp_path, monkeypatch, capsys):
    """A grid's run that a background job started (its log in ``$MKD_RUNS_DIR``, no result yet) is
    listed with the iteration it reached, and the CPU-hours left count only its remaining share."""
    from conftest import store_result

    from mkdlib.trainer import default_run_dir

    monkeypatch.setenv("MKD_RESULTS_DIR", str(tmp_path / "results"))
    monkeypatch.setenv("MKD_RUNS_DIR", str(tmp_path / "runs"))
    first = next(c for c in experiments.grid("fractions") if c.method == "mkd")  # the costly one: visible
    store_result(tmp_path / "results", experiments.grid("methods")[0], 0.5, wall_time_s=0.1 * first.iters)

    def hours_left() -> tuple[str, float]:
        assert experiments.main(["--list"]) == 0
        line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("fractions "))
        return line, float(line.split("~")[1].split(" CPU-h")[0])

    line, before = hours_left()
    assert "started" not in line
    log = default_run_dir(first) / "metrics.jsonl"
    log.parent.mkdir(parents=True)
    half = first.iters // 2
    log.write_text(f'{{"iter": 10, "loss": 1.0}}\n{{"iter": {half}, "loss": 0.5}}\n{{"iter": 99')  # torn last line
    assert experiments.started_at(first) == half
    line, after = hours_left()
    assert f"1 started (iteration {half:,}/{first.iters:,})" in line
    assert after < before
