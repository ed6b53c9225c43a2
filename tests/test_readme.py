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
