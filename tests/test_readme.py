"""The README's results are the store's: its generated block equals the summary of results/."""

from __future__ import annotations

from conftest import store_result

from booktools import readme
from mkdlib import experiments


def test_readme_results_block_matches_the_results_store(monkeypatch):
    monkeypatch.delenv("MKD_RESULTS_DIR")  # the repository's own store, not the test's empty one
    assert readme.readme_block("calibration") == readme.summary_markdown("calibration"), (
        "README.md's results block is stale: run python -m booktools.readme calibration --update"
    )


def test_every_readme_results_block_matches_the_results_store(monkeypatch):
    import re

    monkeypatch.delenv("MKD_RESULTS_DIR")
    names = re.findall(r"<!-- results:(\w+) -->", readme.README.read_text())
    assert "calibration" in names and "headline" in names
    for name in names:
        assert readme.readme_block(name) == readme.summary_markdown(name), (
            f"README.md's {name} block is stale: run python -m booktools.readme {name} --update"
        )


def test_summary_pools_seeds_and_says_what_is_missing(tmp_path, monkeypatch):
    monkeypatch.setenv("MKD_RESULTS_DIR", str(tmp_path))  # an empty store
    rows = readme.summary_rows("calibration")
    assert rows and all(r["seeds"] == 0 and r["miou_mean"] is None for r in rows)
    assert sum(r["planned"] for r in rows) == len(experiments.grid("calibration"))
    assert "not run yet" in readme.summary_markdown("calibration")


def test_summary_means_and_sds_are_over_the_stored_seeds(tmp_path, monkeypatch):
    monkeypatch.setenv("MKD_RESULTS_DIR", str(tmp_path))
    full = [c for c in experiments.grid("calibration") if c.method == "supervised" and c.split == "full"]
    for cfg, miou in zip(full[:2], (0.70, 0.74)):  # two of three seeds stored
        store_result(tmp_path, cfg, miou, wall_time_s=600.0)
    row = next(r for r in readme.summary_rows("calibration") if r["run"] == "supervised" and r["labels"] == "full")
    assert row["seeds"] == 2 and row["planned"] == 3
    assert abs(row["miou_mean"] - 72.0) < 1e-9 and abs(row["miou_sd"] - 2 * 2**0.5) < 1e-9
    assert row["minutes"] == 10.0
    assert "| supervised | full | default | 72.0 ± 2.8 | 2/3 | 10.0 |" in readme.summary_markdown("calibration")


def test_the_cost_block_is_read_from_the_store_in_every_file_that_carries_it(tmp_path, monkeypatch):
    """The README's and docs/benchmark.md's cost paragraph: stored wall times and thread counts, never
    typed; a run not stored is an estimate, said as one."""
    assert readme.block_files("cost") == (readme.README, readme.BENCHMARK)
    monkeypatch.setenv("MKD_RESULTS_DIR", str(tmp_path))
    assert "no one-thread MKD run is stored yet" in readme.summary_markdown("cost", tmp_path)
    mkd = [c for c in experiments.grid("headline_6seeds") if c.method == "mkd" and c.split == "1/16"]
    env = {"device": "cpu", "git_commit": "a" * 40}
    for cfg, minutes in zip(mkd, (22.0, 24.0, 30.0)):
        store_result(tmp_path, cfg, 0.6, wall_time_s=60 * minutes, env={**env, "torch_threads": 1})
    store_result(tmp_path, mkd[3], 0.6, wall_time_s=60 * 10.0, env={**env, "torch_threads": 2})  # not one thread
    text = readme.summary_markdown("cost", tmp_path)
    assert (
        "a one-thread MKD run took 24.0 minutes (median of 3 stored `mkd` runs, 22.0 to 30.0; the aim of <= 20 is missed)"
        in text
    )
    assert "(grid `short_schedule`): not stored yet: about" in text and "an estimate" in text
    for path in readme.block_files("cost"):
        assert "<!-- results:cost -->" in path.read_text()


def test_the_cost_blocks_match_the_results_store(monkeypatch):
    monkeypatch.delenv("MKD_RESULTS_DIR")
    for path in readme.block_files("cost"):
        assert readme.readme_block("cost", path=path) == readme.summary_markdown("cost"), (
            f"{path.name}'s cost block is stale: run python -m booktools.readme cost --update"
        )
