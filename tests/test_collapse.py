"""The collapse traces: what they score and store (mkdlib.traces, beside the experiment grids),
that scoring on batch statistics never touches a network's running statistics, and what the
report reads from them (mkdlib.report.figures.collapse)."""

from __future__ import annotations

import json

import pandas as pd
import torch

from mkdlib import resolve, traces
from mkdlib.report.figures import collapse


def test_batch_statistics_scoring_leaves_running_statistics_alone():
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 1), torch.nn.BatchNorm2d(4))
    before = {k: v.clone() for k, v in net.state_dict().items()}
    copy = traces.with_batch_statistics(net)
    copy(torch.randn(4, 3, 8, 8) * 5 + 3)
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    stats = ("1.running_mean", "1.running_var")  # momentum 0: the copy's statistics stay too
    assert all(torch.equal(before[k], copy.state_dict()[k]) for k in stats)
    bn = copy[1]
    assert bn.training and not copy[0].training


def test_trace_scores_student_and_teacher_on_three_subsets_in_both_modes(tiny_config, tmp_path, monkeypatch):
    cfg = resolve(tiny_config(method="mkd", strong_aug=False, feature_aug=False, iters=6))
    df = traces.trace(cfg, at=(2, 4), run_dir=tmp_path / "trace")
    assert len(df) == 2 * 2 * 2 * 3
    assert set(df["network"]) == {"student 1", "teacher 1"} and set(df["bn"]) == {"eval", "batch"}
    assert set(df["subset"]) == set(traces.SUBSETS) and set(df["iteration"]) == {2, 4}
    assert df["miou"].between(0, 100).all() and df["top_share"].between(0, 100).all()
    assert not (tmp_path / "results").exists() or not any((tmp_path / "results").glob("*/result.json"))


def test_stored_traces_and_summary_read_the_trace_files(tmp_path, monkeypatch):
    monkeypatch.setenv("MKD_RESULTS_DIR", str(tmp_path))
    label, start = next(iter(collapse.TRACED_STARTS.items()))
    rows = [
        {"iteration": 500, "network": n, "bn": b, "subset": s, "miou": 30.0, "top_class": 0, "top_share": 95.0}
        for n in ("student 1", "teacher 1")
        for b in collapse.BN_MODES
        for s in collapse.SUBSETS
    ]
    path = collapse.trace_path(collapse.traced_config(start))
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"rows": rows}))
    assert list(collapse.stored_traces()) == [label]
    summary = collapse.trace_summary(at=(500,))
    assert summary.loc[(label, 500), "teacher's top class share"] == 95.0
    assert "collapsed" in collapse.notice_collapse(summary, collapse.teacher_start_table())
    # one class on 60 % only, but the student at 12 on validation against supervised's 44: collapsed
    rows = [{**r, "top_share": 60.0, "miou": 12.0} for r in rows]
    path.write_text(json.dumps({"rows": rows}))
    summary = collapse.trace_summary(at=(500,))
    monkeypatch.setattr(collapse, "supervised_curve", lambda root=None: pd.Series({500: 44.0}))
    assert f"**{label}**, 1 seed at iteration 500: collapsed" in collapse.notice_collapse(
        summary, pd.DataFrame({"row": []})
    )
    monkeypatch.setattr(collapse, "supervised_curve", lambda root=None: pd.Series({500: 20.0}))
    assert "iteration 500: no collapse" in collapse.notice_collapse(summary, pd.DataFrame({"row": []}))


def test_collapse_figure_without_traces_says_so():
    import matplotlib.pyplot as plt

    from mkdlib.report.figures.collapse import NO_TRACE, plot_collapse

    fig = plot_collapse({})
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert texts == [NO_TRACE] and not any(ax.lines for ax in fig.axes)
    plt.close(fig)


def test_full_length_weak_view_rows_on_the_preset_start_are_counted_and_judged(tmp_path, monkeypatch):
    """The rows that collapsed before the fix, read from the ablation grid's runs: collapsed seeds
    counted by the claims' rule (below half of supervised), the rest judged against supervised."""
    from conftest import store_result

    from mkdlib.config import base_config
    from mkdlib.experiments import HEADLINE_SEEDS, legacy, table3_row

    monkeypatch.setenv("MKD_RESULTS_DIR", str(tmp_path))
    for s in HEADLINE_SEEDS:
        store_result(tmp_path, resolve(base_config(method="supervised", split="1/16", seed=s)), 0.45)
    for s, miou in zip(HEADLINE_SEEDS, (0.40, 0.36, 0.10)):  # seed 2 below half of supervised: collapsed
        cfg = resolve(legacy(**table3_row(dict(own_teacher=True)), split="1/16", seed=s))  # as the grid stored it
        store_result(tmp_path, cfg, miou)
    table = collapse.teacher_start_table(tmp_path)
    preset = table[table["teacher start"].str.endswith("(preset)")].set_index("row")
    assert list(preset.index) == list(collapse.FULL_LENGTH_ROWS)
    mt = preset.loc["co-training + MT, weak views"]
    assert (mt["mIoU per seed"], mt["seeds"], mt["collapsed seeds"]) == ("40.0, 36.0, 10.0", 3, 1)
    assert preset.loc["co-training + mutual MT, weak views", "seeds"] == 0
    text = collapse.notice_collapse(pd.DataFrame(), table)  # no traces: the figure's notice says so
    assert text == collapse.NO_TRACE
    monkeypatch.setattr(collapse, "supervised_curve", lambda root=None: pd.Series({500: 44.0}))
    text = collapse.notice_collapse(healthy_trace_summary(seeds=3), table)
    assert "**co-training + MT, weak views** 40.0, 36.0, 10.0 (mean 28.7), collapsed 1 of 3 seeds" in text
    assert "semi-supervision that hurts" in text and "mutual MT, weak views**" not in text


def test_full_length_rows_without_a_supervised_run_say_so(tmp_path, monkeypatch):
    from conftest import store_result

    from mkdlib.experiments import legacy, table3_row

    monkeypatch.setenv("MKD_RESULTS_DIR", str(tmp_path))
    store_result(tmp_path, resolve(legacy(**table3_row(dict(own_teacher=True)), split="1/16", seed=0)), 0.4)
    table = collapse.teacher_start_table(tmp_path)
    monkeypatch.setattr(collapse, "supervised_curve", lambda root=None: pd.Series(dtype=float))
    text = collapse.notice_collapse(healthy_trace_summary(seeds=1), table)
    assert "**co-training + MT, weak views** 40.0 (mean 40.0), collapsed 0 of 1 seed; no supervised run" in text
    assert "nan" not in text


def healthy_trace_summary(seeds: int) -> pd.DataFrame:
    """A trace summary of the first traced start at iteration 500 that did not collapse."""
    label, _ = next(iter(collapse.TRACED_STARTS.items()))
    row = {"teacher, validation": 40.0, "teacher's top class share": 50.0, "student, labeled": 80.0}
    row |= {"student, unlabeled": 40.0, "student, validation": 40.0, "seeds": seeds}
    index = pd.MultiIndex.from_tuples([(label, 500)], names=["teacher start", "iteration"])
    return pd.DataFrame([row], index=index)
