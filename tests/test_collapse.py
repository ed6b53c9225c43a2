"""The collapse traces (mkdlib.report.collapse): what they score, and that scoring on batch
statistics never touches a network's running statistics."""

from __future__ import annotations

import json

import pandas as pd
import torch

from mkdlib import resolve
from mkdlib.report import collapse


def test_batch_statistics_scoring_leaves_running_statistics_alone():
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 1), torch.nn.BatchNorm2d(4))
    before = {k: v.clone() for k, v in net.state_dict().items()}
    copy = collapse.with_batch_statistics(net)
    copy(torch.randn(4, 3, 8, 8) * 5 + 3)
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    stats = ("1.running_mean", "1.running_var")  # momentum 0: the copy's statistics stay too
    assert all(torch.equal(before[k], copy.state_dict()[k]) for k in stats)
    bn = copy[1]
    assert bn.training and not copy[0].training


def test_trace_scores_student_and_teacher_on_three_subsets_in_both_modes(tiny_config, tmp_path, monkeypatch):
    cfg = resolve(tiny_config(method="mkd", strong_aug=False, feature_aug=False, iters=6))
    df = collapse.trace(cfg, at=(2, 4), run_dir=tmp_path / "trace")
    assert len(df) == 2 * 2 * 2 * 3
    assert set(df["network"]) == {"student 1", "teacher 1"} and set(df["bn"]) == {"eval", "batch"}
    assert set(df["subset"]) == set(collapse.SUBSETS) and set(df["iteration"]) == {2, 4}
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
    assert f"**{label}** (1 seed(s), iteration 500): collapsed" in collapse.notice_collapse(
        summary, pd.DataFrame({"row": []})
    )
    monkeypatch.setattr(collapse, "supervised_curve", lambda root=None: pd.Series({500: 20.0}))
    assert "iteration 500): no collapse" in collapse.notice_collapse(summary, pd.DataFrame({"row": []}))


def test_collapse_figure_without_traces_says_so():
    import matplotlib.pyplot as plt

    from mkdlib.report.collapse import NO_TRACE, plot_collapse

    fig = plot_collapse({})
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert texts == [NO_TRACE] and not any(ax.lines for ax in fig.axes)
    plt.close(fig)
