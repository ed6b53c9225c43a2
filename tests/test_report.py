"""The book's reporting helpers that the pages rely on: the verdict and fair references, Figure 1,
readable figures, the experiment index, the explorer figures, publishing, the Sphinx fixes."""

from __future__ import annotations

import dataclasses
import math
import os
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from conftest import store_result
from scipy import stats as sps

REPO = Path(__file__).resolve().parents[1]


def _store(root, cfg, miou, curves=None):
    store_result(root, cfg, miou, curves=curves)


def _headline(method):
    from mkdlib.experiments import grid

    return [c for c in grid("headline_6seeds") if c.method == method and c.split == "1/16"]


# --------------------------------------------------------------------------- verdict and fair references
def test_verdict_says_plainly_when_nothing_is_stored(tmp_path):
    from mkdlib.report.paper import headline_summary, verdict

    text = verdict(tmp_path / "empty")
    assert text.startswith("**No stored runs yet**")
    assert "+2.04" in text and "+1.00" in text  # the paper's fair gains, VOCAug and Cityscapes
    assert (headline_summary(tmp_path / "empty").iloc[:, 0] == "not yet run").all()


def test_verdict_is_generated_from_the_stored_runs(tmp_path):
    from mkdlib.report.paper import headline_summary, verdict

    root = tmp_path / "store"
    for cfg, miou in zip(_headline("mkd"), (0.30, 0.31, 0.32)):
        _store(root, cfg, miou)
    for cfg, miou in zip(_headline("cps_cutmix"), (0.20, 0.22, 0.21)):
        _store(root, cfg, miou)
    text = verdict(root)
    assert "**MKD** scores highest: 31.0 ± 1.0 mIoU (3 seeds)" in text
    # per-seed differences 10, 9, 11: sd 1, 95 % half-width t(0.975, 2) / sqrt(3) = 2.48, detectable
    # (t(0.975, 2) + t(0.8, 2)) / sqrt(3) = 3.10: the claims table's rule
    assert "is +10.0 points (95 % interval [+7.5, +12.5] over 3 pairs): a real difference" in text
    # +10 [+7.5, +12.5] against the paper's +2.04: the same direction, beyond the paper's size
    assert "here the gain is larger than the paper's (these 3 pairs detect 3.1 points or more at 80 % power)." in text
    assert "0 of 60 runs stored; until it is complete, what follows is the superseded one" in text
    assert len([s for s in text.split(". ") if s]) >= 3
    summary = headline_summary(root)
    assert summary.loc["MKD", ("ours (built-in)", "mIoU ± sd")] == "31.0 ± 1.0"
    assert summary.loc["CPS + CutMix", ("paper, R50", "VOCAug")] == "71.98"
    assert summary.loc["supervised only, all labels", ("ours (built-in)", "seeds")] == 0


def test_table_2_measures_mkd_against_cps_with_cutmix(tmp_path):
    from mkdlib.report.paper import FAIR_REFERENCE, OURS, PAPER, paper_table, table_methods

    root = tmp_path / "store"
    _store(root, _headline("mkd")[0], 0.40)
    _store(root, _headline("cps")[0], 0.50)
    _store(root, _headline("cps_cutmix")[0], 0.35)
    t = table_methods(root)
    voc = paper_table("table2_vocaug")
    assert t.loc["MKD", f"{OURS} gain vs {FAIR_REFERENCE}"] == pytest.approx(5.0)
    assert t.loc["MKD", f"{PAPER} gain vs {FAIR_REFERENCE}"] == pytest.approx(
        voc.loc["MKD", "R50 1/16 (662)"] - voc.loc["CPS-with-CutMix", "R50 1/16 (662)"]
    )
    assert t.loc["CPS (co-training)", f"{OURS} mIoU"] == pytest.approx(50.0)  # plain CPS stays its own row


def test_tables_are_cells_on_one_long_frame(tmp_path):
    """Every table is its long cells (source, table, row, metric, value) laid out wide: the long
    frame holds the same numbers, and display formatting reads what a number is from its metric."""
    from mkdlib.report.evidence.cells import LONG_COLUMNS
    from mkdlib.report.paper import for_display, results_frame, table_methods, wide

    root = tmp_path / "store"
    for cfg, miou in zip(_headline("mkd"), (0.30, 0.32)):
        _store(root, cfg, miou)
    _store(root, _headline("cps_cutmix")[0], 0.25)
    long = results_frame(root)
    assert list(long.columns) == LONG_COLUMNS
    assert set(long["source"]) == {"ours", "paper", "ours - paper"}
    assert {"Table 1", "Table 2", "Table 3", "Table 4", "Table 5", "diagnosis"} <= set(long["table"])
    cell = long.query("table == 'Table 2' and source == 'ours' and row == 'MKD'").set_index("metric")["value"]
    assert cell["mIoU"] == pytest.approx(31.0) and cell["seeds"] == 2 and cell["sd"] == pytest.approx(math.sqrt(2))
    # paired by seed: MKD's seed-0 run (30) against CPS + CutMix's only run (seed 0, 25), one pair
    assert cell["gain vs CPS + CutMix"] == pytest.approx(5.0) and cell["pairs vs CPS + CutMix"] == 1
    t2 = table_methods(root)
    cells = long[long["table"] == "Table 2"].reset_index(drop=True)
    rebuilt = wide(cells)
    assert rebuilt.equals(t2) and list(rebuilt.columns) == list(t2.columns)
    # formatting follows the metric, whatever the column is called for display
    renamed = t2.rename(columns={"ours (built-in) gain vs CPS + CutMix": "MKD's lead"})
    renamed.attrs["columns"]["MKD's lead"] = ("ours", "gain vs CPS + CutMix")
    shown = for_display(renamed)
    assert shown.loc["MKD", "MKD's lead"] == "+5.00" and shown.loc["MKD", "ours (built-in) seeds"] == "2"
    assert shown.loc["MKD", "ours (built-in) pairs vs CPS + CutMix"] == "1"
    assert shown.loc["mean teacher", "ours (built-in) mIoU"] == "not yet run"
    assert shown.loc["supervised only", "paper VOCAug R50 1/16"] == "—"


def test_paper_mkd_gains_cover_cityscapes_against_both_references():
    from mkdlib.report.paper import paper_mkd_gains, paper_table

    g = paper_mkd_gains()
    city = paper_table("table2_cityscapes")
    assert len(g) == 16
    row = g.loc[("Cityscapes", "R101", "1/16 (186)")]
    assert row["MKD gain vs CPS w/ CutMix (fair)"] == pytest.approx(
        city.loc["MKD", "R101 1/16 (186)"] - city.loc["CPS-with-CutMix", "R101 1/16 (186)"]
    )
    assert row["MKD gain vs CPS (no CutMix)"] == pytest.approx(77.19 - 70.50)
    assert g.loc[("VOCAug", "R50", "1/16 (662)"), "MKD gain vs CPS w/ CutMix (fair)"] == pytest.approx(2.04)


def test_table_1_keeps_plain_cps_and_cps_cutmix_apart_and_judges_mkd_against_cps_cutmix(tmp_path):
    from mkdlib.report.paper import DIFFERENCE_ROW, OURS, notice_label_fractions, table_label_fractions

    root = tmp_path / "store"
    _store(root, _headline("cps")[0], 0.30)
    _store(root, _headline("cps_cutmix")[0], 0.60)
    _store(root, _headline("mkd")[0], 0.55)
    _store(root, _headline("mean_teacher")[0], 0.90)  # a Table 2 row: not in Table 1
    t1 = table_label_fractions(root)
    assert t1.loc[f"{OURS}: CPS", "1/16"] == pytest.approx(30.0)
    assert t1.loc[f"{OURS}: CPS + CutMix", "1/16"] == pytest.approx(60.0)
    assert t1.loc[f"{OURS}: MKD gain vs CPS", "1/16"] == pytest.approx(25.0)
    assert t1.loc[f"{OURS}: MKD gain vs CPS + CutMix", "1/16"] == pytest.approx(-5.0)
    paper_gain = t1.loc["paper: MKD-R101 gain vs CPS-R101", "1/16"]
    assert t1.loc[DIFFERENCE_ROW, "1/16"] == pytest.approx(-5.0 - paper_gain)
    assert "-5.0 points against CPS + CutMix" in notice_label_fractions(t1)
    assert "+25.0 against plain CPS" in notice_label_fractions(t1)


def test_notices_are_written_from_the_numbers(tmp_path):
    from mkdlib.experiments import grid
    from mkdlib.report import paper

    empty = tmp_path / "empty"
    for text in (
        paper.notice_label_fractions(paper.table_label_fractions(empty)),
        paper.notice_methods(paper.table_methods(empty), empty),
        paper.notice_gains_vs_reference(paper.table_sweep("beta", empty), "beta=0", empty),
        paper.notice_effects(paper.effect_directions(empty)),
        paper.notice_diagnosis(paper.table_diagnosis(empty)),
    ):
        assert text.startswith("**What to notice.**") and "No stored runs yet" in text
    root = tmp_path / "store"
    for cfg, miou in zip(_headline("mkd"), (0.20, 0.22, 0.24)):
        _store(root, cfg, miou)
    for method, mious in (("mean_teacher", (0.30, 0.31, 0.32)), ("cps_cutmix", (0.30, 0.30, 0.30))):
        for cfg, miou in zip(_headline(method), mious):  # paired baselines: a spread to borrow
            _store(root, cfg, miou)
    beta = grid("beta")
    _store(root, beta[0], 0.20)
    _store(root, beta[1], 0.30)  # beta = 0.5: +10 over beta = 0, the paper's direction (+0.28)
    text = paper.notice_gains_vs_reference(paper.table_sweep("beta", root), "beta=0", root)
    # beta = 1 is the headline MKD (20, 22, 24 at seeds 0-2): paired with beta = 0 at seed 0, +0, within the noise
    assert "Of 2 rows run here that the paper also reports" in text
    assert "2 exploratory (fewer than 3 pairs: no verdict)" in text  # one pair each: no verdict
    from mkdlib.report.evidence.claims import pooled_spread

    sd, dof = pooled_spread(root)  # the claims' comparisons and baselines above
    assert f"could detect is {(sps.t.ppf(0.975, dof) + sps.t.ppf(0.8, dof)) * sd:.1f} points" in text
    assert "beta = 0.5 (+10.0 over beta = 0)" in text
    release = paper.notice_gains_vs_reference(
        paper.table_sweep("beta", root, method="mkd_release"), "beta=0", root, subject="On release: "
    )
    assert release.startswith("**What to notice.** On release: No stored runs yet")  # its sweep: none stored
    _store(root, beta[0], 0.40)  # now the reference beats every row: no row is called "best"
    text = paper.notice_gains_vs_reference(paper.table_sweep("beta", root), "beta=0", root)
    assert "No row run here beats beta = 0; the closest is beta = 0.5 (-10.0)" in text


# --------------------------------------------------------------------------- figures
def test_figure_1_is_an_svg_whose_text_is_at_least_9_px():
    from booktools import figure1
    from mkdlib.report.figures.viz import COLUMN_PX

    svg = figure1.svg_text()
    root = ET.fromstring(svg)
    assert root.tag.endswith("svg") and len(root.findall(".//{http://www.w3.org/2000/svg}path")) > 50
    fig = figure1.draw()
    scale = min(1.0, COLUMN_PX / (figure1.WIDTH_IN * 72))  # SVG user units: 72 per inch
    assert figure1.min_font_size(fig) * scale >= 9
    from matplotlib.text import Text

    texts = " ".join(t.get_text() for t in fig.findobj(Text))
    for part in (
        "student 1",
        "student 2",
        "teacher 1",
        "teacher 2",
        "weak aug",
        "CutMix",
        "feature aug",
        "L}_{st}",
        "L}_{ss}",
        "L}_{sup}",
        "EMA",
    ):
        assert part in texts, f"Figure 1 lacks {part!r}"


def test_book_figures_have_text_of_at_least_9_px_in_the_column():
    import matplotlib

    matplotlib.use("Agg")
    from mkdlib.report import paper
    from mkdlib.report.figures import viz

    rng = np.random.default_rng(0)
    names = ("background", "a", "b", "c", "d")
    imgs = [rng.integers(0, 255, (16, 16, 3), dtype=np.uint8) for _ in range(12)]
    masks = [rng.integers(0, 5, (16, 16)).astype(np.uint8) for _ in range(12)]
    curves = [{"iter": i, "loss": 1 / i, "sup": 0.5 / i} for i in range(1, 50)] + [{"iter": 25, "miou": 0.3}]
    figs = [
        viz.sample_gallery(imgs, masks, names, titles=[f"id_{i}" for i in range(6)], ncols=6),
        viz.overlay_figure(imgs[:3], masks[:3], {"CPS": masks[3:6], "MKD": masks[6:9]}, names, errors_of="MKD"),
        viz.plot_curves({"a": curves, "b": curves}),
        viz.plot_miou_curves({"a long run label": curves}),
        viz.plot_per_class_iou({"x": [0.1] * 5, "y": [0.2] * 5, "z": [0.3] * 5}, names),
        viz.plot_label_fractions(paper.label_fraction_runs(), paper.paper_table("table1_voc_classic")),
        viz.plot_sweep(paper.grid_runs("gamma"), paper.table_sweep("gamma"), "gamma"),
        viz.plot_effect_directions(paper.effect_directions()),
    ]
    for fig in figs:
        assert viz.rendered_text_px(fig) >= 9, fig.axes[0].get_title()
    big = matplotlib.pyplot.figure(figsize=(14, 3))
    big.gca().set_title("tiny", fontsize=6)
    assert viz.rendered_text_px(viz.readable(big)) >= 9  # readable() raises what is too small


def test_cost_chart_legend_matches_its_bars(cost_chart):
    ax = cost_chart.axes[0]
    legend = {
        tuple(np.round(h.get_facecolor(), 3)): t.get_text()
        for h, t in zip(ax.get_legend().legend_handles, ax.get_legend().get_texts())
    }
    assert len(legend) == len(ax.get_legend().get_texts()), "two legend entries share a colour"
    for bar in ax.patches:
        assert tuple(np.round(bar.get_facecolor(), 3)) in legend, "a bar whose colour the legend does not explain"


# --------------------------------------------------------------------------- explorer
def test_explorer_figures_have_a_view_per_dropdown_entry(tmp_path):
    from mkdlib import explorer
    from mkdlib.experiments import grid

    root = tmp_path / "store"
    gamma = grid("gamma")
    _store(root, gamma[1], 0.25, curves=[{"iter": 2, "miou": 0.2}, {"iter": 4, "miou": 0.25}])
    fig = explorer.final_miou_figure(root)
    buttons = fig.layout.updatemenus[0].buttons
    assert [b.label for b in buttons] == list(explorer.VIEWS)
    for b in buttons:
        assert len(b.args[0]["visible"]) == len(fig.data)
    gamma_bars = [t for t, on in zip(fig.data, buttons[2].args[0]["visible"]) if on and t.type == "bar"]
    assert list(gamma_bars[0].x) == [f"{c.gamma:g}" for c in gamma]
    assert gamma_bars[0].y[1] == pytest.approx(25.0) and math.isnan(gamma_bars[0].y[0])
    curves = explorer.curves_figure(root)
    assert [list(t.y) for t in curves.data] == [[20.0, 25.0]]
    split_series = set(explorer.explorer_runs(root).query("view == 'split'")["series"])
    assert {"CPS + CutMix", "mean teacher", "MKD", "supervised only"} <= split_series  # every method run at a fraction
    assert "No stored runs yet" in explorer.notice(tmp_path / "empty")
    empty = explorer.final_miou_figure(tmp_path / "empty")
    assert any("no stored runs yet" in a.text for a in empty.layout.annotations)


def test_explorer_curves_legend_has_one_entry_per_setting_under_the_axis_title(tmp_path):
    """A reader's report: 36 entries (one per run) sat on the x-axis title. One entry per setting
    (its seeds shown and hidden together, the seed in the hover), in rows under the axes, the
    figure's bottom margin holding the axis title and the widest view's rows."""
    from mkdlib import explorer
    from mkdlib.explorer.figures import legend_rows

    root = tmp_path / "store"
    curve = [{"iter": 2, "miou": 0.2}, {"iter": 4, "miou": 0.25}]
    for method in ("mkd", "supervised"):
        for cfg in _headline(method)[:3]:
            _store(root, cfg, 0.3, curves=curve)
    fig = explorer.curves_figure(root)
    shown = [t for t in fig.data if t.visible]
    assert len(shown) == 6
    assert [t.name for t in shown if t.showlegend is not False] == ["supervised only, 3 seeds", "MKD, 3 seeds"]
    assert {t.legendgroup for t in shown} == {"method:supervised only", "method:MKD"}
    assert "seed 2" in shown[2].hovertemplate
    legend = fig.layout.legend
    assert legend.orientation == "h" and legend.yref == "container" and legend.y == 0
    assert fig.layout.margin.b >= 70 + 22 and fig.layout.height >= 470 + 22
    assert legend_rows(["a"] * 3) == 1 and legend_rows(["x" * 80] * 5) == 5


def test_explorer_notice_leaves_out_collapsed_runs_and_other_label_fractions(tmp_path):
    """A reader's report: "widest spread 52.1 points" compared full supervision with the collapsed
    plain CPS. The spread is between settings at 1/16, collapsed runs (the report's rule) left out."""
    from mkdlib import explorer
    from mkdlib.experiments import grid

    root = tmp_path / "store"
    for method, miou in (("supervised", 0.45), ("cps", 0.15), ("mkd", 0.55)):
        for cfg in _headline(method)[:3]:
            _store(root, cfg, miou)
    for cfg in [c for c in grid("headline_6seeds") if c.split == "full"]:
        _store(root, cfg, 0.80)
    text = explorer.notice(root)
    assert "3 collapsed run(s) left out" in text
    assert "*method* view: 10.0 points between MKD and supervised only" in text
    assert "full" not in text and "65.0" not in text


def test_explorer_table_fits_the_text_column(tmp_path):
    """Stored runs side by side: mIoU and wall time first, the rest short, the headers and the
    switches allowed to wrap (a compact Styler table: no horizontal scrollbar in a 770 px column)."""
    from mkdlib import explorer

    root = tmp_path / "store"
    cfgs = _headline("mkd")[:2]
    for cfg in cfgs:
        store_result(root, cfg, 0.5, wall_time_s=600)
    table = explorer.run_summary({f"seed {c.seed}": c.key() for c in cfgs}, root)
    assert list(table.df.columns)[:2] == ["mIoU (%)", "wall time (min)"] and len(table.df.columns) <= 7
    assert list(table.df.index) == ["seed 0", "seed 1"] and table.df.iloc[0, :2].tolist() == [50.0, 10.0]
    html = table._repr_html_()
    assert "mkd-compact" in html and "white-space: normal" in html


def test_plotly_output_embeds_plotly_js_once(monkeypatch):
    from mkdlib import explorer

    monkeypatch.setattr(explorer.figures, "_PLOTLYJS_SENT", False)
    import plotly.graph_objects as go

    first = explorer.plotly_output(go.Figure(go.Bar(y=[1])))._repr_mimebundle_()
    second = explorer.plotly_output(go.Figure(go.Bar(y=[2])))._repr_mimebundle_()
    assert len(first["text/html"]) > 1_000_000 > len(second["text/html"])  # the library, then only the figure
    assert "cdn" not in first["text/html"][:2000].lower()
    assert second["application/vnd.plotly.v1+json"]["data"][0]["y"] == [2]


# --------------------------------------------------------------------------- experiment index
def test_grid_commands_reproduce_each_config_key():
    import argparse
    import shlex

    from booktools.experiment_index import grid_command
    from mkdlib.cli import _add_config_flags, _config_from
    from mkdlib.config import resolve
    from mkdlib.experiments import GRIDS, grid

    for name in GRIDS:
        for cfg in grid(name):
            argv = shlex.split(grid_command(cfg))
            assert argv[:4] == ["python", "-m", "mkdlib", "train"]
            p = argparse.ArgumentParser()
            _add_config_flags(p)
            assert resolve(_config_from(p.parse_args(argv[4:]))).key() == cfg.key(), grid_command(cfg)


def test_step_flops_follow_the_method_and_the_crop(monkeypatch):
    from booktools import experiment_index as ei
    from mkdlib.config import base_config, make_config, resolve

    monkeypatch.setattr(ei, "forward_flops", lambda *a, **k: 1.0e9)  # 1 GFLOP per image at the probe crop
    sup, cps, mkd = (resolve(base_config(method=m)) for m in ("supervised", "cps", "mkd"))
    b, u = sup.batch_size, sup.unlabeled_batch_size
    assert ei.step_flops(sup) == pytest.approx(3e9 * b * (sup.crop_size / ei.PROBE_CROP) ** 2)
    scale = (mkd.crop_size / ei.PROBE_CROP) ** 2
    assert ei.step_flops(cps) == pytest.approx(2 * 3e9 * (b + u) * scale)
    assert ei.step_flops(mkd) == pytest.approx(2 * 3e9 * (b + u) * scale + 2 * 1e9 * u * scale)
    big = dataclasses.replace(mkd, crop_size=2 * mkd.crop_size)
    assert ei.step_flops(big) == pytest.approx(4 * ei.step_flops(mkd))
    paper = resolve(make_config(REPO / "configs" / "paper" / "t3_row7_mkd.yaml"))
    hours = ei.gpu_hours(paper, 4)
    assert hours == pytest.approx(
        ei.step_flops(paper) * paper.iters * 4 / (ei.GPU["peak_tflops"] * 1e12 * ei.GPU["utilisation"]) / 3600
    )


def test_paper_index_places_every_config_and_a_cuda_run_replaces_the_estimate(tmp_path, monkeypatch):
    import pandas as pd

    from booktools import experiment_index as ei
    from mkdlib.config import make_config, resolve

    monkeypatch.setattr(ei, "forward_flops", lambda *a, **k: 1.0e11)
    cfg = resolve(make_config(REPO / "configs" / "paper" / "t4_gamma0.4_r50.yaml"))
    store_result(tmp_path, cfg, 0.7, wall_time_s=7200.0, env={"device": "cuda:0", "world_size": 4})
    idx = ei.paper_index(tmp_path)
    assert len(idx) == len(list((REPO / "configs" / "paper").glob("*.yaml")))
    row = idx[idx["config"] == "configs/paper/t4_gamma0.4_r50.yaml"].iloc[0]
    assert (row["table"], row["row"], row["column"]) == ("Table 4", "gamma = 0.4", "ResNet-50")
    assert row["measured"] and row["GPU-hours"] == pytest.approx(8.0)
    assert row["command"] == "torchrun --nproc_per_node 4 -m mkdlib train --config configs/paper/t4_gamma0.4_r50.yaml"
    # Table 3's row 6 and Table 5's beta = 1.0 R50 entry are the same run (same key, as the paper
    # notes): measured too, and the index says which config runs it first
    assert set(idx[idx["measured"]]["config"]) == {
        row["config"],
        "configs/paper/t5_beta1.0_r50.yaml",
        "configs/paper/t3_row6_cotraining_mutualmt_sda.yaml",
    }
    assert row["same run as"] == "t3_row6_cotraining_mutualmt_sda"
    assert idx[idx["config"] == "configs/paper/t3_row7_mkd.yaml"].iloc[0]["same run as"] == "t2_vocaug_cps_r50_1-16_mkd"
    t = ei.totals(idx)
    assert t.loc["all", "configs"] == len(idx) and t.loc["all", "runs"] == idx["key"].nunique()
    html = ei.html_table(idx.head(3), {"row": "{row}", "command": "command", "GPU time": "duration"})
    assert html.count("<tr>") == 4 and "(est.)" in html
    assert html.count('class="data row0 col1 mkd-command" ><code>torchrun') == 1  # commands: code that may wrap
    grids = pd.DataFrame(
        {"measured": [False, True], "CPU minutes (stored run)": [3.0, math.nan], "CPU minutes (estimate)": [3.0, 9.0]}
    )
    n = ei.index_numbers(idx, grids)  # what the experiments notebook glues into its note
    assert n["paper_configs"] == len(idx) and n["measured"] == 3 + 1 and (n["grid_stored"], n["todo"]) == (1, 1)
    assert n["recompute_hours"] == pytest.approx(0.2) and n["todo_hours"] == pytest.approx(0.15)
    assert n["top_hours"] == t.drop(index="all")["GPU-hours (est.)"].max() and n["top_table"] in set(idx["table"])


def test_forward_flops_are_counted_on_the_real_model():
    from booktools.experiment_index import forward_flops

    small = forward_flops("tu-regnetx_002", 16, 64, (2, 4, 6), 5, crop=32)
    large = forward_flops("tu-regnetx_002", 16, 64, (2, 4, 6), 5, crop=64)
    assert small > 1e6 and large == pytest.approx(4 * small, rel=0.1)  # FLOPs scale with pixels


# --------------------------------------------------------------------------- publishing
def _git(*args, cwd=None):
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.org",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.org",
    }
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True, env=env).stdout


def test_publish_pushes_every_page_to_gh_pages_of_a_bare_repository(tmp_path, monkeypatch):
    from booktools import publish
    from booktools.build import NOTEBOOKS

    for k, v in {
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.org",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.org",
    }.items():
        monkeypatch.setenv(k, v)
    remote, work, html = tmp_path / "remote.git", tmp_path / "work", tmp_path / "html"
    _git("init", "-q", "--bare", str(remote))
    _git("init", "-q", str(work))
    _git("commit", "-q", "--allow-empty", "-m", "init", cwd=work)
    _git("remote", "add", "origin", str(remote), cwd=work)
    pages = [
        "index.html",
        *(f"chapters/{n}.html" for n in NOTEBOOKS),
        "reproduce-on-gpus.html",
        "paper-vs-code.html",
        "status.html",
        "_static/mkd.css",
    ]
    for page in pages:
        (html / page).parent.mkdir(parents=True, exist_ok=True)
        (html / page).write_text(f"<html>{page}</html>")
    assert publish.main(["--html", str(html), "--repo", str(work)]) == 0
    tree = set(_git("ls-tree", "-r", "--name-only", "gh-pages", cwd=remote).split())
    assert set(pages) | {".nojekyll"} == tree
    assert _git("show", "gh-pages:chapters/intro.html", cwd=remote) == "<html>chapters/intro.html</html>"
    (html / "chapters" / "intro.html").write_text("<html>v2</html>")  # publishing again adds a commit
    assert publish.main(["--html", str(html), "--repo", str(work)]) == 0
    assert len(_git("log", "--oneline", "gh-pages", cwd=remote).split("\n")) == 3  # 2 commits + final newline
    assert _git("show", "gh-pages:chapters/intro.html", cwd=remote) == "<html>v2</html>"


def test_publish_refuses_a_book_that_is_not_built(tmp_path, capsys):
    from booktools import publish

    assert publish.main(["--html", str(tmp_path / "nothing"), "--repo", str(REPO), "--no-push"]) == 1
    assert "build the book first" in capsys.readouterr().err


def test_make_publish_and_the_workflow_run_the_publish_and_build_steps():
    makefile = (REPO / "Makefile").read_text()
    assert "publish:" in makefile and "-m booktools.publish" in makefile
    workflow = (REPO / ".github" / "workflows" / "book.yml").read_text()
    assert "branches: [main]" in workflow and "make book" in workflow and "deploy-pages" in workflow
    assert "ghp-import" in (REPO / "pyproject.toml").read_text() and "plotly" in (REPO / "pyproject.toml").read_text()


# --------------------------------------------------------------------------- book build details
def test_strip_widgets_removes_widget_outputs_and_state(tmp_path):
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook, new_output

    from booktools.build import WIDGET_VIEW, strip_widgets

    nb = new_notebook(
        cells=[
            new_code_cell(
                "w",
                outputs=[
                    new_output("display_data", data={WIDGET_VIEW: {"model_id": "x"}, "text/plain": "VBox()"}),
                    new_output("stream", name="stdout", text="kept\n"),
                ],
            )
        ]
    )
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, str(path))
    assert strip_widgets(path) == 1
    again = nbformat.read(str(path), as_version=4)
    assert "widgets" not in again.metadata and [o["text"] for o in again.cells[0].outputs] == ["kept\n"]


def test_injected_parameters_are_hidden_from_the_book(tmp_path):
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    from booktools.build import hide_injected_parameters

    cell = new_code_cell('data_root = "/some/machine/path"')
    cell.metadata["tags"] = ["injected-parameters"]
    path = tmp_path / "nb.ipynb"
    nbformat.write(new_notebook(cells=[new_code_cell("x = 1"), cell]), str(path))
    assert hide_injected_parameters(path)
    cells = nbformat.read(str(path), as_version=4).cells
    assert cells[1].metadata["tags"] == ["injected-parameters", "remove-cell"] and "tags" not in cells[0].metadata


def test_sphinx_extension_keeps_each_script_once_in_place():
    from sphinx.builders.html._assets import _JavaScript

    from booktools.sphinx_ext import _page_context

    scripts = [_JavaScript(None, body="const A = 1"), _JavaScript("x.js"), _JavaScript("", body="const A = 1")]
    ctx = {"script_files": scripts}
    _page_context(None, "p", "page.html", ctx, None)
    assert ctx["script_files"] is scripts and len(scripts) == 2  # later handlers (MathJax) add to this list
    assert ctx["default_mode"] == "light"


def test_display_path_never_shows_the_machine_path(tmp_path, monkeypatch):
    from mkdlib.report.figures.viz import display_path

    assert display_path(REPO / "data" / "synthetic") == "data/synthetic"
    monkeypatch.setenv("MKD_DATA_DIR", str(REPO / "data"))  # the book's build names the repository's folders
    assert display_path(REPO / "data" / "synthetic") == "data/synthetic"
    monkeypatch.setenv("MKD_DATA_DIR", str(tmp_path))
    assert display_path(tmp_path / "synthetic") == "$MKD_DATA_DIR/synthetic"
    monkeypatch.delenv("MKD_DATA_DIR")
    assert str(tmp_path) not in display_path(tmp_path / "x")


def test_calibration_gates_are_measured_from_the_store(tmp_path):
    """G1 and G2 (docs/benchmark.md) judged from stored runs: thresholds, seeds and seed noise."""
    from booktools.calibration import calibration_gates, notice_calibration, table_calibration
    from mkdlib.experiments import grid

    def runs(method, split):
        return [c for c in grid("calibration") if c.method == method and c.split == split and c.seed in (0, 1, 2)]

    root = tmp_path / "store"
    assert (calibration_gates(root)["verdict"] == "not yet run").all()
    for (method, split), mious in {
        ("supervised", "full"): (0.78, 0.79, 0.80),
        ("supervised", "1/16"): (0.45, 0.46, 0.47),
        ("cps_cutmix", "1/16"): (0.55, 0.56, 0.57),
        ("cps", "1/16"): (0.40, 0.60, 0.50),
    }.items():
        default = [
            c
            for c in runs(method, split)
            if c.cps_targets == ("weak_view" if method == "cps_cutmix" else "student_view")
        ]
        for cfg, miou in zip(default, mious):
            _store(root, cfg, miou)
    gates = calibration_gates(root)
    assert gates.loc["G1: supervised, all labels", "measured"] == pytest.approx(79.0)
    assert gates.loc["G1: all labels - 1/16 (headroom)", "measured"] == pytest.approx(33.0)
    assert gates.iloc[:2]["verdict"].tolist() == ["met", "met"]
    g2 = gates.loc["G2: CPS + CutMix - supervised, 1/16"]
    assert g2["measured"] == pytest.approx(10.0) and g2["noise (±)"] == pytest.approx(2 * math.sqrt(2 / 3))
    assert g2["verdict"] == "met"
    # plain CPS: +4 points on average, but its seeds spread by 10: missed
    cps = gates.loc["beside G2: CPS (co-training) - supervised, 1/16"]
    assert cps["measured"] == pytest.approx(4.0) and cps["verdict"] == "missed"
    assert gates.loc["beside G2: mean teacher - supervised, 1/16", "verdict"] == "not yet run"
    assert "G2 is met: CPS + CutMix is +10.0 points" in notice_calibration(gates)
    t = table_calibration(root)
    assert t.loc["CPS + CutMix, 1/16", "ours (built-in) seeds"] == 3
    assert math.isnan(t.loc["CPS + CutMix, 1/16 (cps_targets=student_view)", "ours (built-in) mIoU"])


def test_gain_by_iteration_reads_every_evaluation_of_the_headline_runs(tmp_path):
    """The cost question's measurement: G2's gain and noise at each stored evaluation, and the
    first iteration from which the gate holds at every later one."""
    from booktools.calibration import g2_from_iteration, gain_by_iteration
    from mkdlib.report.paper import table_view

    root = tmp_path / "store"
    assert gain_by_iteration(root).empty
    empty = g2_from_iteration(gain_by_iteration(root))  # the book's table of an empty store
    assert empty.empty and "G2 holds from iteration" in table_view(empty).columns.get_level_values(1)
    # supervised flat at 45 (+-1 over seeds); CPS + CutMix climbs: +1, +4 (below the gate), +8, +12
    for cfg, off in zip(_headline("supervised"), (-1, 0, 1)):
        _store(root, cfg, 0.45, curves=[{"iter": i, "miou": (45 + off) / 100} for i in (500, 1000, 1500, 2000)])
    for cfg, off in zip(_headline("cps_cutmix"), (-1, 0, 1)):
        curve = [{"iter": i, "miou": (45 + g + off) / 100} for i, g in ((500, 1), (1000, 4), (1500, 8), (2000, 12))]
        curve.insert(1, {"iter": 510, "loss": 0.5})  # training records are not evaluations
        _store(root, cfg, 0.57, curves=curve)
    _store(root, _headline("mkd")[0], 0.60, curves=[{"iter": i, "miou": 0.6} for i in (500, 1000, 1500, 2000)])
    gains = gain_by_iteration(root)
    cps = gains[gains["method"] == "cps_cutmix"].set_index("iter")
    assert cps["gain"].tolist() == pytest.approx([1, 4, 8, 12])
    assert cps["noise"].tolist() == pytest.approx([2 * math.sqrt(2 / 3)] * 4)
    assert cps["g2"].tolist() == [False, False, True, True]
    mkd = gains[gains["method"] == "mkd"]
    assert mkd["seeds"].tolist() == [1] * 4 and not mkd["g2"].any()  # one seed: no noise, no verdict
    table = g2_from_iteration(gains)
    assert table.loc["CPS + CutMix", "G2 holds from iteration"] == "1,500"
    assert table.loc["MKD", "G2 holds from iteration"] == "never"
    assert table.loc["CPS + CutMix", "gain there"] == pytest.approx(12)


def test_short_schedule_gates_are_the_calibration_gates_of_its_own_runs(tmp_path):
    from booktools.calibration import calibration_gates, notice_calibration
    from mkdlib.experiments import SHORT_SCHEDULE_ITERS, grid

    cfgs = grid("short_schedule")
    assert {c.iters for c in cfgs} == {SHORT_SCHEDULE_ITERS}
    root = tmp_path / "store"
    gates = calibration_gates(root, grid="short_schedule")
    assert list(gates.index) == [
        "G1: supervised, all labels",
        "G1: all labels - 1/16 (headroom)",
        "G2: CPS + CutMix - supervised, 1/16",
    ]
    assert "short_schedule grid" in notice_calibration(gates, grid="short_schedule")
    for c in cfgs:
        _store(root, c, {"supervised": 0.4 if c.split == "1/16" else 0.75, "cps_cutmix": 0.5, "mkd": 0.5}[c.method])
    for c in grid("calibration"):  # the 4,000-iteration runs do not count for the short schedule
        if c.method == "supervised" and c.split == "1/16":
            _store(root, c, 0.9)
    gates = calibration_gates(root, grid="short_schedule")
    assert gates.loc["G1: all labels - 1/16 (headroom)", "measured"] == pytest.approx(35.0)
    assert gates.loc["G2: CPS + CutMix - supervised, 1/16", "measured"] == pytest.approx(10.0)


def test_grid_index_estimates_what_a_recompute_costs_from_the_stored_runs(tmp_path):
    from booktools import experiment_index as ei
    from mkdlib.experiments import grid
    from mkdlib.registry import METHOD_INFO

    sup = next(c for c in grid("calibration") if c.method == "supervised" and c.split == "1/16")
    store_result(tmp_path, sup, 0.45, wall_time_s=600.0)  # 4,000 iterations in 10 minutes
    idx = ei.grid_index(tmp_path)
    row = idx[idx["command"] == ei.grid_command(sup)].iloc[0]
    assert row["CPU minutes (stored run)"] == pytest.approx(10.0) and row["CPU minutes (estimate)"] == 10.0
    short = idx[(idx["grid"] == "short_schedule") & idx["experiment"].str.startswith("supervised")]
    assert short["CPU minutes (estimate)"].tolist() == pytest.approx([5.0] * 6)  # half the iterations
    # a method with no stored run: the supervised rate (0.15 s per iteration) times its step cost
    mkd = idx[idx["command"] == ei.grid_command(grid("headline_6seeds")[3])].iloc[0]
    assert mkd["CPU minutes (estimate)"] == pytest.approx(0.15 * METHOD_INFO["mkd"].step_cost * 4000 / 60)
    n = ei.index_numbers(ei.paper_index(tmp_path), idx)  # the note's numbers, glued by the experiments notebook
    assert n["recompute_hours"] == pytest.approx(idx["CPU minutes (estimate)"].sum() / 60)
    assert (n["grid_stored"], n["grid_configs"], n["cpu_minutes"]) == (1, len(idx), pytest.approx(10.0))
    (tmp_path / "empty").mkdir()
    empty = ei.index_numbers(ei.paper_index(tmp_path / "empty"), ei.grid_index(tmp_path / "empty"))
    assert empty["grid_stored"] == 0 and math.isnan(empty["recompute_hours"])  # no rate to size with


def test_gain_by_iteration_notice_reads_the_table(tmp_path):
    from booktools.calibration import g2_from_iteration, gain_by_iteration, notice_gain_by_iteration

    assert "No stored runs" in notice_gain_by_iteration(g2_from_iteration(gain_by_iteration(tmp_path)))
    root = tmp_path / "store"
    for method, gain in (("supervised", 0), ("cps_cutmix", 9)):
        for cfg, off in zip(_headline(method), (-1, 0, 1)):
            _store(root, cfg, 0.5, curves=[{"iter": 500, "miou": (40 + gain + off) / 100}])
    text = notice_gain_by_iteration(g2_from_iteration(gain_by_iteration(root)))
    assert "CPS + CutMix passes it from iteration 500 on (+9.0 at 500, 3 seeds)" in text


def test_a_paper_gain_of_zero_has_no_direction_to_reproduce():
    from mkdlib.report.evidence.stats import PairedEffect
    from mkdlib.report.tables.effects import NO_CHANGE_IN_PAPER, _judge

    def gain(mean: float, half: float) -> PairedEffect:
        return PairedEffect(mean, mean - half, mean + half, 2 * half, 3, half, False)

    assert _judge(gain(-10.0, 4.0), 0.0) == NO_CHANGE_IN_PAPER
    assert _judge(gain(-10.0, 4.0), 0.03) == "contradicted"  # the claims table's words
    assert _judge(gain(2.0, 4.0), 0.0) == "inconclusive"  # the interval holds 0
    assert _judge(gain(6.0, 4.0), 1.0) == "larger than the paper's"  # [+2, +10] against +1
    assert _judge(gain(3.0, 4.0), 1.0) == "inconclusive"  # holds 0 and the paper's +1
    assert _judge(gain(2.0, 1.5), 1.0) == "reproduced"  # [+0.5, +3.5]: excludes 0, holds +1
    assert _judge(gain(6.0, 4.0), 1.0, collapsed=True) == "collapsed"  # counted apart from effects
    assert _judge(gain(6.0, math.nan), 1.0) == "inconclusive"  # no spread: no interval
    assert _judge(None, 1.0) == "not yet run"


def test_gains_pair_a_one_seed_row_with_its_references_run_at_that_seed(tmp_path):
    """Same seed, same initialisation and data order: a sweep's one-seed row is set against its
    reference at that seed, and a row with more seeds (the default value: the headline's) is set
    against the reference over the seeds both have, never against the mean of other seeds."""
    from mkdlib.experiments import grid
    from mkdlib.report import paper

    root = tmp_path / "store"
    for cfg, miou in zip(_headline("mkd"), (0.20, 0.30, 0.40)):  # the default gamma: 3 seeds, mean 30
        _store(root, cfg, miou)
    gamma = grid("gamma")
    _store(root, gamma[0], 0.15)  # gamma = 0, seed 0
    _store(root, gamma[2], 0.25)  # gamma = 0.4, seed 0
    t = paper.table_sweep("gamma", root)
    gain, pairs = f"{paper.OURS} gain vs gamma=0", f"{paper.OURS} pairs vs gamma=0"
    assert t.loc[0.99, f"{paper.OURS} mIoU"] == pytest.approx(30.0) and t.loc[0.99, f"{paper.OURS} seeds"] == 3
    assert t.loc[0.99, gain] == pytest.approx(5.0) and t.loc[0.99, pairs] == 1  # 20 - 15, not 30 - 15
    assert t.loc[0.99, f"{paper.OURS} mIoU at seed 0"] == pytest.approx(20.0)  # the run it is paired with
    assert t.loc[0.4, gain] == pytest.approx(10.0) and t.loc[0.4, pairs] == 1
    assert math.isnan(t.loc[0.2, gain]) and t.loc[0.2, pairs] == 0  # not run: no pair
    eff = paper.effect_directions(root).loc["Table 4"]
    assert eff.loc["gamma = 0.4", "verdict"] == "exploratory"  # one pair: no verdict
    assert math.isnan(eff.loc["gamma = 0.4", f"{paper.OURS} gain, 95% low"])
    # MKD against CPS + CutMix over 3 seeds (differences 2, 0, 0): the spread a one-pair row borrows
    for cfg, miou in zip(_headline("cps_cutmix"), (0.18, 0.30, 0.40)):
        _store(root, cfg, miou)
    from mkdlib.report.evidence.claims import claims_table, pooled_spread

    sd = float(np.std([2.0, 0.0, 0.0], ddof=1))
    assert pooled_spread(root) == (pytest.approx(sd), 2)
    eff = paper.effect_directions(root).loc["Table 4"]
    half = sps.t.ppf(0.975, 2) * sd  # one pair, the claims table's pooled spread
    row = eff.loc["gamma = 0.4"]
    assert row[f"{paper.OURS} gain, 95% low"] == pytest.approx(10.0 - half)
    assert row[f"{paper.OURS} gain, 95% high"] == pytest.approx(10.0 + half)
    assert row[f"{paper.OURS} pairs vs reference"] == 1 and row["verdict"] == "exploratory"  # one pair
    claim = claims_table(root).set_index("claim").loc["gamma 0.4 beats gamma 0 (0.4 best)"]
    assert claim["95% interval"] == f"[{10.0 - half:+.1f}, {10.0 + half:+.1f}] (pooled sd)"  # one rule
    assert claim["detectable effect"] == pytest.approx(row[f"{paper.OURS} detectable effect"], abs=0.05)
