"""The departures of ``mkd`` from its sources (booktools.departures): the screen's
decision rule, and a departure that its screen removed staying listed, with its measurement, once
the preset follows the source (its screened version kept as a legacy preset, the keys unchanged)."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest
from test_claims import _store

from booktools import departures
from mkdlib import experiments, registry
from mkdlib.config import resolve
from mkdlib.report.evidence import stats
from mkdlib.report.evidence.claims import config_at


def test_decision_keeps_only_a_failing_literal_setting():
    fails = stats.paired_effect([60.0, 61.0, 59.0], [66.0, 66.5, 65.0])  # all 5-6 below: interval below 0
    level = stats.paired_effect([64.0, 61.0, 66.0], [63.0, 64.0, 64.0])  # +1, -3, +2: holds 0
    assert fails.high < 0 < level.high and level.low < 0
    assert departures.decision(fails, []) == departures.KEPT
    assert departures.decision(level, []) == departures.FOLLOWS
    assert departures.decision(level, ["a-collapsed-run"]) == departures.KEPT  # a collapse is a failure
    two = stats.paired_effect([64.0, 61.0], [63.0, 64.0])
    assert departures.decision(two, []) == departures.PENDING  # fewer than 3 pairs decide nothing
    assert departures.decision(None, []) == departures.PENDING
    # a setting every method trains with stays for mkd too: changing it alone would confound the comparisons
    assert departures.decision(level, [], scope="benchmark") == departures.BENCHMARK
    assert departures.decision(fails, [], scope="benchmark") == departures.KEPT


def _screen_store(root):
    """MKD and its no-ramp-up screen at the screen seeds, as the grids stored them (level: no failure)."""
    for s, (mkd, screen) in zip(experiments.SCREEN_SEEDS, [(64.0, 65.0), (63.0, 61.0), (66.0, 66.5)]):
        _store(root, config_at(dict(method="mkd"), s), mkd)
        _store(root, config_at(dict(method="mkd", unsup_rampup=0.0), s), screen)
    for s in experiments.SCREEN_SEEDS:
        _store(root, config_at(dict(method="supervised"), s), 45.0)


def _row(table, field):
    rows = table[table["field"] == field]
    assert len(rows) == 1, f"{field}: {len(rows)} rows"
    return rows.iloc[0]


def test_a_removed_departure_stays_listed_with_its_screen_once_the_preset_follows_the_source(
    tmp_path, monkeypatch, screened_mkd
):
    _screen_store(tmp_path)
    screened_keys = {config_at(dict(method="mkd", **d), s).key() for d in ({}, {"unsup_rampup": 0.0}) for s in (1, 2)}
    before = departures.departures_table(tmp_path)
    row = _row(before, "unsup_rampup")
    assert row["decision"] == departures.FOLLOWS and row["mkd"] == row["mkd now"] == 0.1
    assert "3 pairs" in row["screen vs mkd"]
    assert "to follow the source (unsup_rampup)" in departures.departures_sentence(tmp_path)

    # the preset is set once the screens decide: the screened one is kept as the legacy preset
    info = registry.METHOD_INFO["mkd"]
    settings = tuple((k, 0.0 if k == "unsup_rampup" else v) for k, v in info.settings)
    monkeypatch.setitem(registry.METHOD_INFO, "mkd", dataclasses.replace(info, settings=settings))
    monkeypatch.setitem(experiments.LEGACY_PRESETS, "mkd", dict(unsup_rampup=0.1))
    assert {config_at(dict(method="mkd", **d), s).key() for d in ({}, {"unsup_rampup": 0.0}) for s in (1, 2)} == (
        screened_keys  # the screens' runs keep their keys
    )
    assert resolve(experiments.headline_config("mkd", 0)).unsup_rampup == pytest.approx(0.0)  # the new runs
    after = departures.departures_table(tmp_path)
    row = _row(after, "unsup_rampup")
    assert (row["mkd"], row["mkd now"], row["decision"]) == (0.1, 0.0, departures.FOLLOWS)
    assert row["screen vs mkd"] == _row(before, "unsup_rampup")["screen vs mkd"]  # the same measurement
    assert list(after["field"]) == list(before["field"])  # no departure drops out of the table
    assert "| `unsup_rampup` | `0.1`, now `0.0` |" in departures.departures_markdown(tmp_path)
    sentence = departures.departures_sentence(tmp_path)
    assert "1 removed, the preset now follows the source (unsup_rampup)" in sentence
    assert "to follow the source" not in sentence
    # labels say what an old-preset run held: the ramp-up, not the field that now agrees
    assert experiments.legacy_note(config_at(dict(method="mkd"), 1)) == (
        "preset before the headline's change (unsup_rampup=0.1)"
    )
    assert experiments.legacy_note(config_at(dict(method="mkd", unsup_rampup=0.0), 1)) == ""
    assert experiments.legacy_note(resolve(experiments.headline_config("mkd", 1))) == ""


def test_the_mkd_preset_is_set_once_every_screen_has_decided(monkeypatch):
    """On the repository's store: while a screen that can change the preset is pending the preset
    stays as screened; once none is, every removed departure's field holds the source's value and
    every kept one its screened value (the preset set once, its screened version in LEGACY_PRESETS).
    A benchmark setting's screen (every method's optimiser) keeps the field whatever it says, so it
    may still be pending."""
    from mkdlib.registry import SOURCE_BY_FIELD

    monkeypatch.delenv("MKD_RESULTS_DIR")
    t = departures.departures_table()
    undecided = t["decision"].isin([departures.PENDING, "not screened"])
    benchmark = t["field"].map(lambda f: SOURCE_BY_FIELD[f].scope == "benchmark")
    pending = t[undecided & ~benchmark]
    if len(pending):
        assert (t["mkd now"] == t["mkd"]).all(), "the preset changed before its screens decided"
        pytest.skip(f"{len(pending)} screens pending ({', '.join(dict.fromkeys(pending['field']))})")
    for field, rows in t.groupby("field", sort=False):
        kept = rows["decision"].isin([departures.KEPT, departures.BENCHMARK]).any() or benchmark[rows.index].all()
        want = rows["mkd"].iloc[0] if kept else SOURCE_BY_FIELD[field].literal
        assert rows["mkd now"].iloc[0] == want, (
            f"{field}: the preset holds {rows['mkd now'].iloc[0]}, its screens say {want}"
        )


def test_screens_frame_and_figure_show_each_seeds_difference_and_the_decision(tmp_path):
    from mkdlib.report.figures import viz

    _screen_store(tmp_path)
    f = departures.screens_frame(tmp_path)
    ramp = f[f["screen"] == "unsup_rampup=0.0"]
    assert list(ramp["seed"]) == list(experiments.SCREEN_SEEDS)
    assert list(ramp["difference"]) == pytest.approx([1.0, -2.0, 0.5])  # screen minus mkd, by seed
    assert set(ramp["decision"]) == {departures.FOLLOWS}
    gamma = f[f["screen"] == "gamma=0.6"]
    assert len(gamma) == 1 and gamma["seed"].isna().all() and set(gamma["decision"]) == {departures.PENDING}
    shared = f[f["fields"].str.contains("teacher_bn_buffers")]
    assert set(shared["fields"]) == {"teacher_bn_train, teacher_bn_buffers"}  # one screen, two fields
    fig = departures.plot_screens(f)
    ax = fig.axes[0]
    assert len(ax.get_yticks()) == f["screen"].nunique()
    assert not viz.legends_over_data(fig)


def test_screens_note_counts_the_screens_and_the_chance_of_a_departure_kept_by_chance():
    f = pd.DataFrame({"screen": ["a=1", "a=1", "b=2", "c=3"]})
    note = departures.screens_note(f)
    assert note.startswith("3 screens") and f"{100 * (1 - 0.975**3):.0f} %" in note


def test_the_preset_check_pairs_todays_preset_with_the_screened_one_once_it_changed(
    tmp_path, monkeypatch, screened_mkd
):
    """Grid ``preset_check``: the same runs as mkd's own while the preset is as screened (nothing to
    run, no row); once it is set, today's preset at the screens' seeds against mkd as screened."""
    _screen_store(tmp_path)
    assert departures.preset_check_pairs(tmp_path) is None
    assert {c.key() for c in experiments.grid("preset_check")} == {
        config_at(dict(method="mkd"), s).key() for s in (0, *experiments.SCREEN_SEEDS)
    }
    info = registry.METHOD_INFO["mkd"]
    flip = {"unsup_rampup": 0.0, "aspp_dropout": 0.0, "pseudo_loss_norm": "labeled"}  # no single screen's runs
    settings = tuple({**dict(info.settings), **flip}.items())
    monkeypatch.setitem(registry.METHOD_INFO, "mkd", dataclasses.replace(info, settings=settings))
    old = dict(unsup_rampup=0.1, aspp_dropout=0.5, pseudo_loss_norm="all")
    monkeypatch.setitem(experiments.LEGACY_PRESETS, "mkd", old)
    today = experiments.grid("preset_check")
    assert all((c.unsup_rampup, c.aspp_dropout) == (0.0, 0.0) for c in today)
    assert [c.seed for c in today] == [0, *experiments.SCREEN_SEEDS]  # the default run, then the pairs
    # a screen run before the change reads as its one change on the old preset, not two off today's
    ramp = config_at(dict(method="mkd", unsup_rampup=0.0), 1)
    assert experiments.setting_label(ramp) == "unsup_rampup=0.0"
    assert (
        experiments.legacy_note(ramp) == "preset before the headline's change (aspp_dropout=0.5, pseudo_loss_norm=all)"
    )
    assert departures.preset_check_pairs(tmp_path) == []  # not run yet
    _store(tmp_path, config_at(dict(method="mkd"), 0), 61.0)  # seed 0's reference (2 threads): no pair
    for cfg, miou in zip(today, (70.0, 62.0, 60.0)):  # the default run and two of three screen seeds stored
        _store(tmp_path, cfg, miou)
    got = departures.preset_check_pairs(tmp_path)
    assert [(p["seed"], p["difference"]) for p in got] == [(1, pytest.approx(-2.0)), (2, pytest.approx(-3.0))]
    f = departures.screens_frame(tmp_path)
    check = f[f["screen"] == departures.PRESET_CHECK]
    assert list(check["difference"]) == pytest.approx([-2.0, -3.0]) and set(check["decision"]) == {departures.CHECK}
    assert departures.plot_screens(f).axes[0].get_legend() is not None


def test_a_field_with_two_screens_stays_where_either_fails(tmp_path):
    """gamma is screened at both readings of Eq. 1: the release's 0.6 fails here, the printed 0.4
    does not; the field stays, and the 0.4 row says the other screen keeps it (not "removed")."""
    for s, (mkd, g6, g4) in zip(experiments.SCREEN_SEEDS, [(66.0, 61.0, 67.0), (64.0, 60.0, 61.0), (65.0, 61.5, 65.5)]):
        _store(tmp_path, config_at(dict(method="mkd"), s), mkd)
        _store(tmp_path, config_at(dict(method="mkd", gamma=0.6), s), g6)
        _store(tmp_path, config_at(dict(method="mkd", gamma=0.4), s), g4)
    t = departures.departures_table(tmp_path)
    gamma = dict(zip(t.loc[t["field"] == "gamma", "screened"], t.loc[t["field"] == "gamma", "decision"]))
    assert gamma == {"gamma=0.6": departures.KEPT, "gamma=0.4": departures.OUTVOTED}
    assert "kept by measurement (gamma)" in departures.departures_sentence(tmp_path)
    f = departures.screens_frame(tmp_path)
    assert set(f.loc[f["screen"] == "gamma=0.4", "decision"]) == {departures.OUTVOTED}
