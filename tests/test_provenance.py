"""Provenance and reproducibility: where and when each stored run ran ("not recorded" where its
env.json is silent, never a guess), a set of runs in one line, the downloads' columns, and the
command that makes a claim's runs again (it parses, and selects exactly the claim's runs)."""

from __future__ import annotations

import os
import shlex
from pathlib import Path

import pandas as pd
from conftest import store_result

from mkdlib import experiments
from mkdlib.report.evidence.claims import claims, claims_table, config_at
from mkdlib.report.evidence.provenance import provenance_summary, run_keys, run_provenance, run_time
from mkdlib.report.evidence.rerun import claim_commands, rerun_command
from mkdlib.results import NOT_RECORDED, provenance, tidy_runs


def _env(commit: str, threads: int, date: str | None = None, cpu: str | None = None) -> dict:
    env = {"git_commit": commit, "torch_threads": threads, "device": "cpu"}
    return {**env, **({"date": date} if date else {}), **({"cpu_model": cpu} if cpu else {})}


def _tiny_store(root: Path) -> list[str]:
    """Four gamma runs: two commits, thread counts 1 and 2, one run with no env at all, two with a
    date and CPU model (the newer record) and one without."""
    cfgs = experiments.grid("gamma")[:4]
    envs = [
        _env("a" * 40, 1, "2026-12-01T10:00:00+00:00", "AMD EPYC"),
        _env("a" * 40, 1, "2026-12-07T09:00:00+00:00", "AMD EPYC"),
        _env("b" * 40, 2),  # an older record: no date, no CPU model
        None,  # no environment record at all
    ]
    for cfg, env in zip(cfgs, envs):
        store_result(root, cfg, 0.5, env=env)
    return [c.key() for c in cfgs]


def test_a_runs_provenance_is_what_its_record_says_else_not_recorded():
    full = {"env": _env("c" * 40, 2, "2026-12-07T09:00:00+00:00", "AMD EPYC")}
    assert provenance(full) == {
        "date": "2026-12-07T09:00:00+00:00",
        "cpu_model": "AMD EPYC",
        "torch_threads": 2,
        "commit": "c" * 40,
    }
    old = provenance({"env": _env("c" * 40, 1)})
    assert old["date"] == old["cpu_model"] == NOT_RECORDED and old["torch_threads"] == 1
    assert set(provenance({}).values()) == {NOT_RECORDED}
    assert set(provenance({"env": {"git_commit": None}}).values()) == {NOT_RECORDED}  # outside a checkout


def test_runs_csv_has_provenance_columns_with_not_recorded(tmp_path):
    keys = _tiny_store(tmp_path)
    t = tidy_runs(tmp_path).set_index("key")
    for col in ("date", "cpu_model", "torch_threads", "commit"):
        assert col in t.columns
    assert t.loc[keys[0], "cpu_model"] == "AMD EPYC" and t.loc[keys[0], "commit"] == "a" * 40
    assert t.loc[keys[2], "torch_threads"] == 2 and t.loc[keys[2], "date"] == NOT_RECORDED
    assert (t.loc[keys[3], ["date", "cpu_model", "torch_threads", "commit"]] == NOT_RECORDED).all()


def test_run_provenance_shows_day_short_commit_and_not_recorded(tmp_path):
    keys = _tiny_store(tmp_path)
    t = run_provenance(keys + ["synthetic-not-stored-s0-0000000000"], tmp_path).set_index("key")
    assert list(t.index) == keys  # a key not in the store is left out
    assert t.loc[keys[0]].to_dict() == {
        "date": "2026-12-01",
        "CPU model": "AMD EPYC",
        "threads": 1,
        "commit": "aaaaaaa",
    }
    assert t.loc[keys[3]].tolist() == [NOT_RECORDED] * 4


def test_run_keys_read_keys_tables_and_a_claims_rows_runs():
    frame = pd.DataFrame({"key": ["k1", None, "k2", "k1"]})  # a grid_runs table: a not-yet-run row
    assert run_keys(frame) == ["k1", "k2"]
    assert run_keys("k1, k2") == ["k1", "k2"] == run_keys(pd.Series(["k1, k2", "k2", ""]))
    assert run_keys(pd.DataFrame({"claim": ["a", "b"], "runs": ["k1, k2", ""]})) == ["k1", "k2"]  # a claims table


def test_provenance_summary_says_when_runs_span_commits_and_thread_counts(tmp_path):
    keys = _tiny_store(tmp_path)
    assert provenance_summary(keys, tmp_path) == (
        "Runs of this table: 4 runs on 2 commits, not recorded for 1 run; thread counts 1 (2 runs) and 2 "
        "(1 run), not recorded for 1 run; dates 2026-12-01 to 2026-12-07, not recorded for 2 runs; "
        "CPU models AMD EPYC (2 runs), not recorded for 2 runs."
    )
    assert provenance_summary(keys[:2], tmp_path, what="gamma") == (
        "gamma: 2 runs on one commit (aaaaaaa); thread count 1 for every run; dates 2026-12-01 to 2026-12-07; "
        "CPU models AMD EPYC (2 runs)."
    )
    assert provenance_summary(keys[3:], tmp_path) == (
        "Runs of this table: 1 run, commits not recorded; thread counts not recorded; dates not recorded; "
        "CPU models not recorded."
    )
    assert provenance_summary([], tmp_path) == "Runs of this table: none stored yet."


def _parse(command: str, check: bool = False) -> tuple[list[str], list[str]]:
    """(grids, --only texts) of a command; ``check``: through mkdlib.experiments' own argument parser."""
    words = shlex.split(command)
    assert words[:3] == ["python", "-m", "mkdlib.experiments"]
    assert not check or experiments.main([*words[3:], "--list"]) == 0  # its parser accepts every argument
    grids = [w for i, w in enumerate(words[3:], 3) if not w.startswith("--") and words[i - 1] != "--only"]
    only = [words[i + 1] for i, w in enumerate(words) if w == "--only"]
    return grids, only


def test_a_claims_command_selects_exactly_its_runs_and_makes_nothing_twice(tmp_path, monkeypatch, capsys):
    root = tmp_path / "results"
    monkeypatch.setenv("MKD_RESULTS_DIR", str(root))
    claim = next(c for c in claims() if c.claim == "co-training + MT beats co-training alone")
    for s, (a, b) in enumerate([(0.60, 0.50), (0.62, 0.51), (0.61, 0.49)]):  # the ablation grid's 3 seeds
        store_result(root, config_at(claim.a, s), a, env=_env("d" * 40, 1))
        store_result(root, config_at(claim.b, s), b, env=_env("e" * 40, 2))
    row = claims_table(root).set_index("claim").loc[claim.claim]
    command = claim_commands(root)[[c.claim for c in claims()].index(claim.claim)]
    grids, only = _parse(command, check=True)
    assert grids == ["ablation"] and len(only) == 6
    assert {c.key() for c in experiments.grid_configs(grids, only=only)} == set(run_keys(row["runs"]))
    assert experiments.run_grids(grids, only=only, say=print) == 0  # every run of it is stored: nothing to train
    assert "nothing to run: 6 config(s) selected, 6 already in the results store" in capsys.readouterr().out
    assert provenance_summary(row["runs"], root).startswith(
        "Runs of this table: 6 runs on 2 commits; thread counts 1 (3 runs) and 2 (3 runs)"
    )


def test_every_claim_has_a_command_and_it_parses(tmp_path):
    commands = claim_commands(tmp_path)  # an empty store: the commands come from the grids alone
    assert len(commands) == len(claims()) and all(commands)
    for command in commands:
        grids, only = _parse(command)
        assert len(experiments.grid_configs(grids, only=only)) == len(only)  # each --only is one run
    assert rerun_command([config_at(dict(method="mkd"), 99)], tmp_path) == ""  # a seed no grid holds


def test_the_downloads_carry_provenance_and_commands(tmp_path, monkeypatch):
    from booktools.build import write_downloads

    root = Path(os.environ["MKD_RESULTS_DIR"])
    _tiny_store(root)
    runs_csv, claims_csv = write_downloads(tmp_path / "book")
    runs = pd.read_csv(runs_csv)
    assert {"date", "cpu_model", "torch_threads", "commit"} <= set(runs.columns)
    assert (runs["cpu_model"] == NOT_RECORDED).sum() == 2
    table = pd.read_csv(claims_csv)
    assert len(table) == len(claims()) and table["command"].str.startswith("python -m mkdlib.experiments ").all()


def test_a_runs_time_is_read_from_the_store_or_said_to_be_an_estimate(tmp_path):
    cfg, other = experiments.grid("gamma")[:2]
    assert run_time(cfg, tmp_path) == "not stored yet, and no stored run to estimate its time from"
    store_result(tmp_path, cfg, 0.5, wall_time_s=993.5, env=_env("a" * 40, 2))
    assert run_time(cfg, tmp_path) == "its stored run took 16.6 minutes on 2 threads"
    # not stored: its iterations at the stored run's CPU-seconds per iteration (993.5 s x 2 threads)
    assert run_time(other, tmp_path) == (
        "not stored yet: about 33 CPU-minutes, an estimate from the stored runs' cost per iteration"
    )


def test_the_chapter_can_show_the_claims_commands_folded(tmp_path):
    import html

    from mkdlib.report import paper

    view = paper.claim_commands_view(tmp_path)
    page = view._repr_html_()
    assert page.startswith('<details class="mkd-fold">') and f"({len(claims())} claims)" in repr(view)
    for c, command in zip(claims(), claim_commands(tmp_path)):
        assert c.claim in html.unescape(page) and command in html.unescape(page)
