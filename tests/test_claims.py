"""The claims table's statistics (paired effects, intervals, detectable effects, collapse flags)
against hand computations, and the table itself on a small fake results store."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from mkdlib.report.evidence import stats
from mkdlib.report.evidence.claims import FINDINGS, claims, claims_table, config_at, findings_summary, findings_table


def test_detectable_effect_is_the_paired_t_formula():
    # (t_.975,5 + t_.80,5) * sd / sqrt(6) = (2.5706 + 0.9195) * 2.55 / 2.4495
    assert stats.detectable_effect(2.55, 6) == pytest.approx((2.5706 + 0.9195) * 2.55 / math.sqrt(6), rel=1e-3)
    assert stats.detectable_effect(2.55, 12) < stats.detectable_effect(2.55, 6)  # more pairs see less
    assert math.isnan(stats.detectable_effect(2.55, 1))


def test_paired_effect_by_hand():
    a, b = [60.0, 62.0, 65.0], [58.0, 61.0, 61.0]  # differences 2, 1, 4: mean 7/3, sd sqrt(7/3)
    e = stats.paired_effect(a, b)
    sd = math.sqrt(((2 - 7 / 3) ** 2 + (1 - 7 / 3) ** 2 + (4 - 7 / 3) ** 2) / 2)
    half = 4.3027 * sd / math.sqrt(3)  # t_.975 with 2 degrees of freedom
    assert (e.mean, e.sd, e.pairs) == (pytest.approx(7 / 3), pytest.approx(sd), 3)
    assert (e.low, e.high) == (pytest.approx(7 / 3 - half, rel=1e-4), pytest.approx(7 / 3 + half, rel=1e-4))
    assert not e.pooled
    one = stats.paired_effect([60.0], [58.0], pooled_sd=1.5, pooled_df=10)
    assert one.pooled and one.low == pytest.approx(2 - 2.2281 * 1.5, rel=1e-4)
    assert math.isnan(stats.paired_effect([60.0], [58.0]).low)  # no spread to borrow: no interval
    assert stats.paired_effect([], []) is None


def test_pooled_sd_weights_by_degrees_of_freedom():
    sd, df = stats.pool_sd([[1.0, 3.0], [0.0, 0.0, 6.0], [5.0]])  # ss 2 + 24, df 1 + 2
    assert df == 3 and sd == pytest.approx(math.sqrt(26 / 3))


@pytest.mark.parametrize(
    "low, high, paper, collapsed, expected",
    [
        (0.5, 3.0, 2.0, False, stats.REPRODUCED),
        (-3.0, -0.5, 2.0, False, stats.CONTRADICTED),
        (-1.0, 3.0, 2.0, False, stats.INCONCLUSIVE),
        (0.5, 3.0, -2.0, False, stats.CONTRADICTED),
        (0.5, 3.0, 2.0, True, stats.COLLAPSED),
        # the paper's magnitude: MKD vs the mean teacher, -1.7 [-6.0, +2.5] against the paper's +7.25
        (-6.0, 2.5, 7.25, False, stats.SMALLER),
        (0.3, 1.5, 2.04, False, stats.SMALLER),  # excludes 0 and the paper's effect: smaller
        (27.2, 37.2, 5.0, False, stats.LARGER),  # Table 3's +32.2 against a paper gain of about 5
        (-3.0, -0.5, -2.0, False, stats.REPRODUCED),  # a paper effect below 0, reproduced
        (-1.0, -0.2, -2.0, False, stats.SMALLER),
        (-4.0, 2.1, 2.04, False, stats.INCONCLUSIVE),  # holds 0 and +2.04 (at its edge)
    ],
)
def test_verdicts(low, high, paper, collapsed, expected):
    e = stats.PairedEffect((low + high) / 2, low, high, 1.0, 3, 1.0, False)
    assert stats.verdict(e, paper, collapsed) == expected
    assert stats.verdict(None, paper) == stats.NOT_RUN


def test_fewer_than_three_pairs_give_no_verdict():
    """One or two pairs are exploratory, whatever their (pooled) interval says."""
    for pairs in (1, 2):
        e = stats.PairedEffect(12.6, 5.0, 20.0, 10.6, pairs, 5.0, pairs == 1)
        assert stats.verdict(e, 0.27) == stats.EXPLORATORY
    assert stats.verdict(stats.PairedEffect(12.6, 5.0, 20.0, 10.6, 3, 5.0, False), 0.27) == stats.LARGER


def test_paired_p_value_and_holm_adjustment():
    e = stats.paired_effect([3.0, 4.0, 5.0, 2.0], [1.0, 1.0, 1.0, 1.0])
    d = [2.0, 3.0, 4.0, 1.0]
    from scipy import stats as sps

    assert e.p == pytest.approx(sps.ttest_1samp(d, 0.0).pvalue)
    # Holm: sorted p times (m - rank), running maximum, capped at 1; NaN left out of the family
    assert stats.holm([0.01, 0.04, math.nan, 0.03]) == pytest.approx([0.03, 0.06, math.nan, 0.06], nan_ok=True)
    assert stats.holm([0.5, 0.6]) == pytest.approx([1.0, 1.0])


def test_seeds_needed_is_the_smallest_n_whose_detectable_effect_reaches_the_target():
    n = stats.seeds_needed(3.7, 2.04)
    assert stats.detectable_effect(3.7, n) <= 2.04 < stats.detectable_effect(3.7, n - 1)
    assert stats.seeds_needed(float("nan"), 2.0) is None


def test_collapse_rule():
    assert stats.is_collapsed(40.0, 95.0, 45.0)  # one class on 95 % of the pixels
    assert stats.is_collapsed(20.0, 50.0, 45.0)  # below half of supervised
    assert not stats.is_collapsed(40.0, 60.0, 45.0)  # below supervised, not collapsed: an effect
    assert stats.is_collapsed(40.0, 60.0, 45.0, naming_share=100.0)  # every object found named one class
    assert not stats.is_collapsed(40.0, 60.0, 45.0, naming_share=50.0)


def test_collapse_rule_in_words_follows_the_thresholds(monkeypatch):
    """The book's keys print stats.collapse_rule(): it must name the thresholds is_collapsed uses."""
    words = stats.collapse_rule()
    assert "more than 90 % of its pixels" in words and "more than 90 % of the object pixels" in words
    assert "below half of supervised" in words
    monkeypatch.setattr(stats, "COLLAPSE_TOP_SHARE", 80.0)
    monkeypatch.setattr(stats, "COLLAPSE_OF_SUPERVISED", 0.6)
    words = stats.collapse_rule()
    assert "more than 80 % of its pixels" in words and "0.6 times the mIoU of supervised" in words
    assert stats.is_collapsed(40.0, 85.0, 45.0) and stats.is_collapsed(26.0, 50.0, 45.0)


def _store(root, cfg, miou: float, one_class: bool = False, val: float | None = None) -> None:
    """A stored run scoring ``miou``: on the test set for a headline config (its validation score
    then ``val``, by default 30 points off, which no test-set claim may read), else on validation."""
    folder = root / cfg.key()
    folder.mkdir(parents=True)
    pred = np.zeros((4, 8, 8), np.uint8) if one_class else np.arange(256, dtype=np.uint8).reshape(4, 8, 8) % 5
    np.savez_compressed(folder / "predictions.npz", ids=np.arange(4), pred=pred)
    result = {"key": cfg.key(), "config": cfg.to_dict(), "final": {"miou": miou / 100}, "best_miou": miou / 100}
    if cfg.test_images:
        result["test"] = {"miou": miou / 100, "images": cfg.test_images}
        result["final"] = {"miou": (miou - 30 if val is None else val) / 100}
    (folder / "result.json").write_text(json.dumps({**result, "wall_time_s": 1.0}))


def test_claims_table_pairs_by_seed_and_flags_collapse(tmp_path):
    by_name = {c.claim: c for c in claims()}
    vs_cutmix = by_name["MKD beats CPS with CutMix"]
    vs_cps = by_name["MKD beats CPS"]
    assert vs_cutmix.protocol == "test" and vs_cps.protocol == "validation"
    for s, (mkd, cut) in enumerate([(66.0, 64.0), (63.0, 62.0), (67.0, 63.0)]):
        _store(tmp_path, vs_cutmix.config("a", s), mkd, val=40.0)  # validation says the opposite
        _store(tmp_path, vs_cutmix.config("b", s), cut, val=60.0)
        assert vs_cutmix.config("a", s).labeled_split_seed == s  # each seed its own labeled split
    _store(tmp_path, vs_cutmix.config("a", 3), 70.0)  # no partner at seed 3: left out
    _store(tmp_path, config_at(vs_cutmix.a, 4), 90.0)  # the validation protocol's run: not this claim's
    _store(tmp_path, config_at(vs_cutmix.b, 4), 10.0)
    _store(tmp_path, config_at(vs_cps.b, 0), 20.0)  # plain CPS below half of supervised
    _store(tmp_path, config_at(vs_cps.a, 0), 60.0)
    for s in range(2):
        _store(tmp_path, config_at(dict(method="supervised"), s), 45.0)
    t = claims_table(tmp_path).set_index("claim")
    row = t.loc["MKD beats CPS with CutMix"]
    assert row["scored on"] == "test set"
    assert row["pairs"] == 3 and row["ours"] == pytest.approx(round(7 / 3, 1))  # the test scores
    assert row["verdict"] == stats.INCONCLUSIVE  # [-1.8, +6.5]: holds 0 and the paper's +2.04
    assert row["detectable effect"] == pytest.approx(round(stats.detectable_effect(math.sqrt(7 / 3), 3), 1))
    assert vs_cutmix.config("a", 3).key() not in row["runs"]
    assert config_at(vs_cutmix.a, 4).key() not in row["runs"]
    cps = t.loc["MKD beats CPS"]
    assert cps["verdict"] == stats.COLLAPSED and config_at(vs_cps.b, 0).key() in cps["collapsed runs"]
    assert t.loc["MKD beats the mean teacher", "verdict"] == stats.NOT_RUN


def test_findings_count_each_sides_collapses_and_judge_by_the_interval(tmp_path):
    forwards = FINDINGS[0]
    assert forwards.a["student_forward"] == "joint" and forwards.b["student_forward"] == "separate"
    for s, (joint, separate) in enumerate([(58.0, 26.0), (60.0, 50.0), (61.0, 52.0)]):
        _store(tmp_path, config_at(forwards.a, s), joint)
        _store(tmp_path, config_at(forwards.b, s), separate, one_class=(s == 0))
    for s in range(2):
        _store(tmp_path, config_at(dict(method="supervised"), s), 45.0)
    t = findings_table(tmp_path).set_index("question")
    row = t.loc[forwards.claim]
    assert (row["collapsed A"], row["collapsed B"], row["pairs"]) == ("0/3", "1/3", 3)
    assert row["verdict"] == stats.COLLAPSED  # a collapsed run behind it: counted apart
    assert "paper effect" not in t.columns
    assert "collapsed runs 0/3 (A) and 1/3 (B): collapsed" in findings_summary(t.reset_index())
    for s, separate in enumerate([57.0, 58.9, 59.8]):  # no collapse, differences 1, 1.1, 1.2: A better
        folder = tmp_path / config_at(forwards.b, s).key()
        for f in folder.iterdir():
            f.unlink()
        folder.rmdir()
        _store(tmp_path, config_at(forwards.b, s), separate)
    row = findings_table(tmp_path).set_index("question").loc[forwards.claim]
    assert row["verdict"] == "A better" and row["collapsed B"] == "0/3"
    assert t.loc[FINDINGS[1].claim, "verdict"] == stats.NOT_RUN


def test_tidy_runs_has_a_row_per_evaluation(tmp_path):
    from mkdlib.results import tidy_runs

    cfg = config_at(dict(method="mkd"), 0)
    _store(tmp_path, cfg, 60.0)
    (tmp_path / cfg.key() / "metrics.jsonl").write_text(
        '{"iter": 500, "miou": 0.4}\n{"iter": 10, "loss": 1.0}\n{"iter": 4000, "miou": 0.6}\n'
    )
    t = tidy_runs(tmp_path)
    assert list(t["iteration"]) == [500, 4000] and list(t["final"]) == [False, True]
    assert (t["key"] == cfg.key()).all() and (t["method"] == "mkd").all() and "student_forward" in t


def test_book_config_is_stamped_and_launch_buttons_follow_the_remote(tmp_path, monkeypatch):
    import yaml

    from booktools import build as book

    (tmp_path / "_config.yml").write_text("title: t\nhtml:\n  use_repository_button: false\n")
    monkeypatch.setattr(book, "git", lambda *a: None)  # no remote, no commit
    monkeypatch.setattr(book, "git_commit", lambda short=False: None)
    cfg = yaml.safe_load(book.stamped_config(tmp_path).read_text())
    assert "Built from commit unknown commit" in cfg["html"]["extra_footer"] and "torch" in cfg["html"]["extra_footer"]
    assert "launch_buttons" not in cfg and "repository" not in cfg
    monkeypatch.setattr(book, "git", lambda *a: "git@github.com:someone/mkd-book.git" if "remote" in a else None)
    cfg = yaml.safe_load(book.stamped_config(tmp_path).read_text())
    assert cfg["repository"]["url"] == "https://github.com/someone/mkd-book"
    assert cfg["launch_buttons"]["binderhub_url"] and cfg["html"]["use_repository_button"] is True


def test_figure2_draws_the_median_seed_and_counts_images_over_every_pair(tmp_path):
    from mkdlib.config import resolve
    from mkdlib.experiments import headline_config
    from mkdlib.report.evidence.qualitative import better_worse, figure2_runs

    def headline(fields: dict, seed: int):
        return resolve(headline_config(seed=seed, **fields))

    sides = {"MKD": dict(method="mkd"), "CPS + CutMix": dict(method="cps_cutmix"), "MT": dict(method="mean_teacher")}
    # the validation protocol (the superseded headline): differences +5, -1, +2 at seeds 0-2 -> median +2: seed 2
    for s, (a, b) in enumerate([(65.0, 60.0), (60.0, 61.0), (64.0, 62.0)]):
        _store(tmp_path, config_at(sides["MKD"], s), a)
        _store(tmp_path, config_at(sides["CPS + CutMix"], s), b)
    _store(tmp_path, config_at(sides["MT"], 2), 50.0)
    runs = figure2_runs(sides, "MKD", "CPS + CutMix", tmp_path)
    assert runs.protocol == "validation" and runs.seed == 2 and runs.median == pytest.approx(2.0)
    assert set(runs.keys) == {"MKD", "CPS + CutMix", "MT"} and runs.keys["MT"] == config_at(sides["MT"], 2).key()
    assert [s for s, _, _ in runs.pair_keys] == [0, 1, 2]
    asked = figure2_runs(sides, "MKD", "CPS + CutMix", tmp_path, seed=0)  # a seed asked for: every side there
    assert asked.seed == 0 and asked.keys["MKD"] == config_at(sides["MKD"], 0).key() and "MT" not in asked.keys
    # _store writes the same 4 predictions for every run: against a truth equal to them, no image differs
    truths = {str(i): p for i, p in enumerate(np.arange(256, dtype=np.uint8).reshape(4, 8, 8) % 5)}
    assert better_worse(runs, truths, 5, tmp_path) == (0, 0, 12)  # 4 images x 3 pairs, each counted once
    # two headline (test-set) pairs are not enough: the figure stays on the superseded headline's runs
    for s in range(2):
        _store(tmp_path, headline(sides["MKD"], s), 70.0)
        _store(tmp_path, headline(sides["CPS + CutMix"], s), 60.0)
    assert figure2_runs(sides, "MKD", "CPS + CutMix", tmp_path).protocol == "validation"
    _store(tmp_path, headline(sides["MKD"], 2), 71.0)
    _store(tmp_path, headline(sides["CPS + CutMix"], 2), 60.0)
    decisive = figure2_runs(sides, "MKD", "CPS + CutMix", tmp_path)
    assert decisive.protocol == "test" and decisive.seed == 0  # +10, +10, +11: median 10, the lower seed
