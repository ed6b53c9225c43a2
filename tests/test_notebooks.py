"""The book: every notebook executes (papermill, tiny parameters), the HTML has every chapter and
table, and its figures are real images. Plus the helpers the notebooks call (mkdlib.paper, viz)."""

from __future__ import annotations

import dataclasses
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
from conftest import store_result

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
from conftest import TINY_OVERRIDES  # noqa: E402  (the built_book fixture is in conftest.py)

TABLE_HEADINGS = [f"Table {i} analogue" for i in range(1, 6)]


def _chapter_title(name: str) -> str:
    import nbformat

    nb = nbformat.read(REPO / "notebooks" / f"{name}.ipynb", as_version=4)
    first = next(c for c in nb.cells if c.cell_type == "markdown")
    return first.source.splitlines()[0].lstrip("# ").strip()


@pytest.mark.slow
def test_every_chapter_is_in_the_html(built_book):
    from booktools.build import NOTEBOOKS

    html = built_book["html"]
    assert "chapters/intro.html" in (html / "index.html").read_text()  # the book opens on the intro
    index = (html / "chapters" / "intro.html").read_text()
    for name in NOTEBOOKS:
        page = html / "chapters" / f"{name}.html"
        assert page.is_file(), f"chapter {name} missing from the HTML"
        title = _chapter_title(name)
        assert title.split(":")[0] in page.read_text(), f"{name}: title {title!r} not rendered"
        if name != "intro":
            assert f"{name}.html" in index, f"intro does not link chapter {name}"
    for page in ("reproduce-on-gpus", "paper-vs-code", "status"):
        assert (html / f"{page}.html").is_file()


@pytest.mark.slow
def test_each_table_is_rendered_with_paper_numbers(built_book):
    """Each paper table has its own page (the tables chapter's sections), titled by the table, with
    an HTML table and the paper's numbers beside ours."""
    from mkdlib.report import paper

    pages = {}
    for i, heading in enumerate(TABLE_HEADINGS, 1):
        text = _article(built_book["html"] / "chapters" / f"04_table{i}.html")
        assert re.search(rf"<h1[^>]*>{heading}", text), f"04_table{i}: no title {heading!r}"
        assert "<table" in text, f"04_table{i}: no HTML table"
        assert "built-in" in text
        pages[i] = text
    ablation = paper.paper_table("table3_ablation")
    assert f"{ablation['miou'].iloc[-1]:.2f}" in pages[3]  # the paper's figures appear beside ours
    assert "not yet run" in "".join(pages.values())  # our grid configs are not in this private store
    overview = _article(built_book["html"] / "chapters" / "04_tables.html")
    for i in range(1, 6):  # the chapter's first page links every table's page
        assert f"04_table{i}.html" in overview


@pytest.mark.slow
def test_figures_are_real_image_files(built_book):
    from PIL import Image

    html = built_book["html"]
    with_figures = (
        "00_data",
        "01_components",
        "03_train",
        "04_tables",
        "04_table1",
        "04_table3",
        "04_questions",
        "05_qualitative",
    )  # PNG figures
    for name in with_figures:
        page = (html / "chapters" / f"{name}.html").read_text()
        srcs = set(re.findall(r'<img[^>]+src="([^"]+\.png)"', page))
        assert srcs, f"chapter {name} has no figure"
        for src in srcs:
            path = (html / "chapters" / src).resolve()
            with Image.open(path) as im:
                im.verify()
            with Image.open(path) as im:
                assert im.width >= 200 and im.height >= 100, f"{path} is {im.size}"


@pytest.mark.slow
def test_train_notebook_stores_its_run_and_then_reuses_it(built_book):
    import nbformat

    from booktools.build import execute_notebook
    from mkdlib.results import is_done, load_result

    key, tmp = built_book["mkd_key"], built_book["tmp"]
    assert is_done(key, tmp / "results")
    assert load_result(key, tmp / "results")["config"]["iters"] == 4

    def printed(path):
        nb = nbformat.read(path, as_version=4)
        return "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))

    first = printed(built_book["chapters"] / "03_train.ipynb")
    assert f"training {key}" in first
    # the prediction section ran the run's checkpoint on new images, naming files but no machine path
    assert "predicted 4 new images" in first and "new3_128px_mask.png" in first and str(tmp) not in first
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MKD_RESULTS_DIR", str(tmp / "results"))
        mp.setenv("MKD_RUNS_DIR", str(tmp / "runs-second"))  # no checkpoint to fall back on
        again = execute_notebook(
            "03_train",
            tmp / "again.ipynb",
            {**built_book["params"]["03_train"], "data_root": built_book["data_root"]},
            progress=False,
        )
    assert f"stored result found for {key}" in printed(again)
    assert f"No checkpoint of {key}" in printed(again)  # the store keeps no weights: said, not failed
    assert not (tmp / "runs-second").exists()


# --------------------------------------------------------------------------- helpers, fast
def test_paper_numbers_are_the_shared_transcription():
    from mkdlib.report.paper import load_paper

    src = SHARED / "paper" / "paper-results.yaml"
    if not src.is_file():
        pytest.skip("../shared/paper is not present")
    import yaml

    assert load_paper() == yaml.safe_load(src.read_text())


def test_split_sizes_are_read_from_the_paper_headers():
    from mkdlib.report.paper import split_sizes

    sizes = split_sizes()
    assert sizes.loc["1/16", "VOC 2012 classic (1,464)"] == 92
    assert sizes.loc["full", "VOC 2012 classic (1,464)"] == 1464
    assert sizes.loc["1/2", "Cityscapes (2,975)"] == 1488
    # every fraction is about n/d of the pool
    assert abs(sizes.loc["1/8", "VOCAug blended (10,582)"] - 10582 / 8) < 1


def test_grid_runs_match_stored_runs_of_any_seed(tmp_path):
    """A stored run of a sweep config with another seed counts towards that config's seed spread."""
    from mkdlib.experiments import grid
    from mkdlib.report.paper import grid_runs, table_sweep

    root = tmp_path / "store"
    target = grid("gamma")[2]
    for seed, miou in ((0, 0.5), (7, 0.6)):
        cfg = dataclasses.replace(target, seed=seed)
        _store(root, cfg, miou)
    runs = grid_runs("gamma", root)
    mine = runs[runs["gamma"] == target.gamma]
    assert sorted(mine["seed"]) == [0, 7]
    assert runs[runs["gamma"] != target.gamma]["miou"].isna().all()
    t = table_sweep("gamma", root)
    row = t.loc[target.gamma]
    assert row["ours (built-in) mIoU"] == pytest.approx(55.0)
    assert row["ours (built-in) seeds"] == 2
    assert row["ours (built-in) sd"] == pytest.approx(np.std([50.0, 60.0], ddof=1))


def _store(root, cfg, miou, confusion=None):
    store_result(root, cfg, miou, confusion, wall_time_s=1.0)


def test_effect_directions_judge_each_gain_by_its_paired_interval(tmp_path):
    """Each gain is the mean of per-seed differences with its 95 % interval (one pair: the spread
    pooled over the claims table's comparisons, the claims table's rule); it is compared with the
    paper's only when the interval excludes 0, and a gain with a collapsed run behind it is
    counted apart."""
    from scipy import stats as sps

    from mkdlib.experiments import grid
    from mkdlib.report.evidence.claims import pooled_spread
    from mkdlib.report.paper import OURS, PAPER, effect_directions, effects_view, notice_effects, paper_table

    root = tmp_path / "store"
    co_seeds = [c for c in grid("ablation") if sum(c.switches().values()) == 1]  # Table 3's reference row
    assert len(co_seeds) == 3
    for cfg, miou in zip(co_seeds, (0.50, 0.52, 0.48)):
        _store(root, cfg, miou)  # co-training: 50 +- 2 points
    headline = {"supervised": (0.40, 0.40, 0.40), "mean_teacher": (0.50, 0.51, 0.52), "cps_cutmix": (0.50, 0.50, 0.50)}
    for method, mious in headline.items():  # paired baselines: differences 0, 1, 2 (twice) and 0, 0, 0
        for cfg, miou in zip([c for c in grid("headline_6seeds") if c.method == method and c.split == "1/16"], mious):
            _store(root, cfg, miou)
    sd, dof = pooled_spread(root)
    assert dof == 6 and sd == pytest.approx(math.sqrt((2 + 2 + 0) / 6))

    def row(switch):  # the ablation row "co-training + <switch>"
        return next(
            c for c in grid("ablation") if c.co_training and getattr(c, switch) and sum(c.switches().values()) == 2
        )

    _store(root, row("strong_aug"), 0.60)  # +10: beyond the noise, same sign as the paper's +3.70
    _store(root, row("feature_aug"), 0.49)  # -1: within the noise
    _store(root, row("mutual_mean_teacher"), 0.30)  # -20: beyond the noise, against the paper's +1.37
    _store(root, row("own_teacher"), 0.15)  # below half of supervised (40): collapsed
    eff = effect_directions(root).loc["Table 3"]
    half = sps.t.ppf(0.975, dof) * sd  # one pair: each row's seed-0 run against co-training's seed 0
    strong = eff.loc["+ SDA"]  # Table 3's rows in the paper's abbreviations
    assert strong[f"{OURS} gain"] == pytest.approx(10.0)
    assert strong[f"{OURS} gain, 95% low"] == pytest.approx(10.0 - half)
    assert strong[f"{OURS} gain, 95% high"] == pytest.approx(10.0 + half)
    assert strong[f"{OURS} detectable effect"] == pytest.approx((sps.t.ppf(0.975, dof) + sps.t.ppf(0.8, dof)) * sd)
    paper3 = paper_table("table3_ablation")
    assert strong[f"{PAPER} gain"] == pytest.approx(paper3["miou"][3] - paper3["miou"][0])
    assert strong["verdict"] == "exploratory" and strong["reference"] == "co-training"  # one pair: no verdict
    shown = effects_view(effect_directions(root)).loc["Table 3"].loc["+ SDA"]  # the page's narrow view
    assert shown[f"{OURS} gain [95 % interval]"] == f"+10.0 [{10.0 - half:+.1f}, {10.0 + half:+.1f}]"
    assert shown[f"{OURS} verdict"] == "exploratory" and "reference" not in shown.index
    assert eff.loc["+ FDA", "verdict"] == "exploratory"
    assert eff.loc["+ mutual MT", "verdict"] == "exploratory"
    collapsed = eff.loc["+ MT"]  # 1 of the 2 runs behind it (the row's, co-training's seed 0)
    assert collapsed["verdict"] == "collapsed" and collapsed["collapsed runs"] == "1/2"
    assert eff.loc["+ mutual MT + SDA", "verdict"] == "not yet run"
    assert (effect_directions(root).loc["Table 4", "verdict"] == "not yet run").all()
    text = notice_effects(effect_directions(root))
    # Table 3's three (one pair each: exploratory), and Table 2's mean teacher against CPS + CutMix
    # (differences 0, 1, 2: +1 [-1.5, +3.5], which excludes the paper's -5.21: smaller than the paper's)
    assert "1 is smaller than the paper's" in text and "3 are exploratory" in text
    assert "and 1 rests on a collapsed run (counted apart)" in text


def test_diagnosis_table_labels_each_change_and_measures_it_against_mkd_and_cps_cutmix(tmp_path):
    from mkdlib.config import resolve
    from mkdlib.experiments import DIAGNOSIS, OTHER_FORWARD, grid, legacy
    from mkdlib.report.paper import OURS, diagnosis_runs, notice_diagnosis, seed_curves, table_diagnosis

    root = tmp_path / "store"
    for cfg in grid("headline_6seeds"):
        if cfg.split == "1/16" and cfg.method in ("cps", "cps_cutmix", "mkd") and cfg.seed < 2:
            step = 0.02 if cfg.method == "mkd" else 0.01  # MKD - CPS + CutMix: -4, -3 (sd 0.71)
            _store(root, cfg, {"cps": 0.10, "cps_cutmix": 0.28, "mkd": 0.24}[cfg.method] + step * cfg.seed)
    alpha = next(c for c in grid("diagnosis") if c.alpha != 1.5 and c.threshold == 0)
    _store(root, alpha, 0.295)  # seed 0
    t = table_diagnosis(root)
    assert t.loc["MKD (paper's settings)", f"{OURS} seeds"] == 2
    assert t.loc["MKD (paper's settings)", f"{OURS} mIoU"] == pytest.approx(25.0)
    row = t.loc[f"MKD, alpha 1.5 -> {alpha.alpha:g}"]
    # paired by seed: against the references' runs at seed 0 (24, 28), not their two-seed means (25, 28.5)
    assert row[f"{OURS} gain vs MKD"] == pytest.approx(5.5) and row[f"{OURS} pairs vs MKD"] == 1
    assert row[f"{OURS} gain vs CPS + CutMix"] == pytest.approx(1.5)
    assert "CPS (paper's settings)" not in t.index  # plain CPS is no reference for an MKD with CutMix
    assert t[f"{OURS} mIoU"].isna().sum() == len(DIAGNOSIS) - 1  # the others: not yet run
    for s in (0, 1):  # a change run on several seeds (the student forwards) is one row with its seeds
        forward = resolve(legacy(method="mkd", split="1/16", seed=s, **OTHER_FORWARD))  # as the grid stored it
        _store(root, forward, 0.5)
        (root / forward.key() / "metrics.jsonl").write_text('{"iter": 200, "miou": 0.5}\n')
    forwards = table_diagnosis(root).filter(like="student_forward", axis=0)
    assert len(forwards) == 1 and forwards[f"{OURS} seeds"].item() == 2
    # one pair borrows the claims' pooled spread: MKD - CPS + CutMix (-4, -3) and MKD - CPS (14, 15),
    # sd 0.707 with 2 dof; +1.5 +- t(0.975, 2) * 0.707 = +-3.04
    notice = notice_diagnosis(t, root)
    assert "1 of 1 changes run so far put MKD above CPS + CutMix" in notice
    assert "95 % interval [-1.5, +4.5] over 1 pair, pooled sd" in notice
    assert notice.endswith("so it is inconclusive.")
    (root / alpha.key() / "metrics.jsonl").write_text('{"iter": 200, "miou": 0.3}\n')
    for cfg in grid("headline_6seeds"):
        if (root / cfg.key()).is_dir():
            (root / cfg.key() / "metrics.jsonl").write_text('{"iter": 200, "miou": 0.2}\n')
    curves = seed_curves(diagnosis_runs(root), "setting", seed=0, root=root)
    assert list(curves) == [
        "MKD (paper's settings)",
        "CPS + CutMix (paper's settings)",
        f"MKD, student_forward {'joint' if OTHER_FORWARD['student_forward'] == 'separate' else 'separate'} -> "
        f"{OTHER_FORWARD['student_forward']}",
        f"MKD, alpha 1.5 -> {alpha.alpha:g}",
    ]
    assert curves[f"MKD, alpha 1.5 -> {alpha.alpha:g}"] == [{"iter": 200, "miou": 0.3}]


def test_error_breakdown_averages_object_scores_over_seeds(tmp_path):
    from mkdlib.evaluate import object_scores
    from mkdlib.experiments import grid
    from mkdlib.report.paper import OURS, error_breakdown, for_display, grid_runs

    root = tmp_path / "store"
    confs = [[[8, 2, 0], [1, 3, 1], [1, 0, 4]], [[9, 1, 0], [2, 2, 2], [0, 2, 2]]]
    for cfg, conf in zip([c for c in grid("headline_6seeds") if c.method == "cps"], confs):
        _store(root, cfg, 0.3, conf)
    runs = grid_runs("headline_6seeds", root)
    t = error_breakdown(runs[runs["split"] == "1/16"], root=root)
    row = t.loc["co-training"]
    assert row[f"{OURS} seeds"] == 2
    expected = np.mean([object_scores(np.array(c))["class_accuracy"] for c in confs])
    assert row[f"{OURS} class accuracy"] == pytest.approx(100 * expected)
    assert for_display(t).loc["supervised only", f"{OURS} object IoU"] == "not yet run"


def test_for_display_labels_missing_ours_and_missing_paper_differently():
    import pandas as pd

    from mkdlib.report.paper import OURS, for_display

    df = pd.DataFrame(
        {
            f"{OURS} mIoU": [np.nan, 61.234],
            f"{OURS} sd": [np.nan, np.nan],
            "paper R50": [70.0, np.nan],
            "paper gain vs x": [1.5, -0.25],
        },
        index=["a", "b"],
    )
    out = for_display(df)
    assert out.loc["a", f"{OURS} mIoU"] == "not yet run"
    assert out.loc["b", f"{OURS} mIoU"] == "61.23"
    assert out.loc["b", f"{OURS} sd"] == "—"
    assert out.loc["b", "paper R50"] == "—"
    assert out.loc["a", "paper gain vs x"] == "+1.50" and out.loc["b", "paper gain vs x"] == "-0.25"


def test_overlay_keeps_background_and_tints_objects():
    from mkdlib.data import voc_palette
    from mkdlib.report.figures.viz import overlay

    image = np.full((4, 4, 3), 100, np.uint8)
    mask = np.zeros((4, 4), np.uint8)
    mask[1, 2] = 1
    out = overlay(image, mask, alpha=0.5)
    assert (out[0, 0] == 100).all()
    expected = (0.5 * 100 + 0.5 * voc_palette()[1].astype(float)).astype(np.uint8)
    assert (out[1, 2] == expected).all()
    with pytest.raises(ValueError, match="differ in size"):
        overlay(image, np.zeros((3, 4), np.uint8))


def test_most_improved_ranks_by_per_image_gain():
    from mkdlib.report.figures.viz import most_improved, per_image_miou

    truth = np.zeros((4, 4), np.uint8)
    truth[:2] = 1
    wrong = np.zeros_like(truth)
    half = truth.copy()
    half[0] = 0
    assert per_image_miou(truth, truth, 2) == 1.0
    # image 0: wrong -> perfect; image 1: wrong -> half right; image 2: perfect -> perfect
    ranked = most_improved([wrong, wrong, truth], [truth, half, truth], [truth, truth, truth], 2, k=3)
    assert [i for i, _, _ in ranked] == [0, 1, 2]
    assert ranked[0][2] == 1.0


def test_predictions_by_id_reads_both_layouts():
    from mkdlib.report.figures.viz import predictions_by_id

    a, b = np.zeros((2, 2), np.uint8), np.ones((3, 3), np.uint8)
    stacked = predictions_by_id({"ids": np.array(["x", "y"]), "pred": np.stack([a, a + 2])})
    assert (stacked["y"] == 2).all()
    ragged = predictions_by_id({"ids": np.array(["x", "y"]), "pred_x": a, "pred_y": b})
    assert ragged["y"].shape == (3, 3)


def test_train_parameters_reproduce_the_config_key():
    """What 04_tables passes to 03_train (run_missing) resolves to the same results key."""
    from booktools.build import train_parameters
    from mkdlib.experiments import grid, train_config

    for cfg in (grid("ablation")[3], grid("beta")[0], grid("headline_6seeds")[-1], *grid("diagnosis")):
        params = json.loads(json.dumps(train_parameters(cfg)))  # as papermill passes them
        assert train_config(**params).key() == cfg.key()


def _widgets(root) -> dict:
    """Every widget under ``root`` by its description."""
    found, stack = {}, [root]
    while stack:
        w = stack.pop()
        if getattr(w, "description", ""):
            found[w.description] = w
        stack.extend(getattr(w, "children", ()))
    return found


def _by_class(root, cls: str):
    """The widget under ``root`` with the DOM class ``cls`` (the explorer marks its status line and outputs)."""
    stack = [root]
    while stack:
        w = stack.pop()
        if cls in getattr(w, "_dom_classes", ()):
            return w
        stack.extend(getattr(w, "children", ()))
    raise LookupError(cls)


def test_explorer_launches_a_run_then_finds_and_compares_it(tiny_data_root, tmp_path, monkeypatch):
    """The widget's buttons without a browser (tests/test_lab.py presses them in JupyterLab): a
    short run goes to the user's store, not the book's, is listed by what sets it apart and
    compared under that label; an empty match says so and clears the old output."""
    import IPython.display

    from mkdlib.explorer import ablation_explorer
    from mkdlib.results import is_done, load_result

    shown = []  # what the widget displays (outside a kernel its output area captures nothing)
    monkeypatch.setattr(IPython.display, "display", lambda *objs, **kw: shown.extend(objs))
    mine = tmp_path / "mine"
    root = ablation_explorer(base={"data_root": str(tiny_data_root), **TINY_OVERRIDES}, user_dir=mine)
    w, status = _widgets(root), _by_class(root, "mkd-status")
    w["method"].value = "cps"
    w["iterations"].value = 2
    w["find matching"].click()
    assert w["stored runs"].options == ()  # an empty store
    assert "no stored run of cps at 1/16 (its preset)" in status.value
    w["train short run"].click()
    assert "done" in status.value and "your store" in status.value, status.value
    labels = [label for label, _ in w["stored runs"].options]
    keys = [k for _, k in w["stored runs"].options]
    assert len(keys) == 1 and is_done(keys[0], mine / "results") and not is_done(keys[0])  # not the book's store
    assert labels[0].startswith("seed 0, 2 it, ") and "(yours)" in labels[0], labels
    assert not any(w[b].disabled for b in ("compare", "train short run", "find matching"))
    stored = load_result(keys[0], mine / "results")["config"]
    assert (stored["method"], stored["iters"], stored["co_training"], stored["strong_aug"]) == ("cps", 2, True, False)
    w["compare"].click()  # the table and the curves, each row and trace under the run's label
    table, fig = shown[-2:]
    run_label = labels[0].rsplit(": mIoU", 1)[0]
    assert list(table.df.index) == [run_label]
    assert {t.name for t in fig.fig.data} == {run_label} and "text/html" not in fig._repr_mimebundle_()
    w["strong aug"].value = "on"  # CPS + strong aug is another config: nothing stored for it
    w["find matching"].click()
    assert w["stored runs"].options == () and w["stored runs"].value == ()
    assert "no stored run of cps at 1/16 with strong aug on" in status.value
    w["method"].value = "supervised"  # supervised with a semi-supervised switch cannot run
    w["find matching"].click()
    assert w["stored runs"].options == () and "cannot run" in status.value


# --------------------------------------------------------------------------- the book a researcher meets
def _article(path: Path) -> str:
    text = path.read_text()
    body = re.search(r'<article class="bd-article".*</article>', text, re.S)
    return body.group(0) if body else text


@pytest.mark.slow
def test_intro_leads_with_the_verdict_then_figure_1(built_book):
    page = _article(built_book["html"] / "chapters" / "intro.html")
    caveats, verdict = page.find("How far this analogue is from the paper"), page.find("The verdict")
    table, figure = page.find("<table", verdict), page.find("Figure 1: the framework")
    claims = page.find("<table", page.find("claims, one by one"))
    assert 0 <= caveats < verdict < table < claims < figure, (
        "the intro must open with the caveats, the verdict and its table, the claims table, then Figure 1"
    )
    # the private store holds no grid run: the verdict says so instead of failing
    assert "No stored runs yet" in page
    from mkdlib.report import paper

    t = paper.table_methods()
    assert f"{t.loc['MKD', 'paper VOCAug R50 1/16']:.2f}" in page  # the paper's numbers beside ours
    assert re.search(r'<img[^>]+src="[^"]+\.svg"', page[figure:]), "Figure 1 is not shown as an SVG"


@pytest.mark.slow
def test_equations_are_rendered_maths_next_to_the_functions_that_compute_them(built_book):
    page = _article(built_book["html"] / "chapters" / "01_components.html")
    for label, function in (
        ("eq-cutmix", "def mix("),
        ("eq-ema", "def ema_update("),
        ("eq-isda", "def isda_offsets("),
        ("eq-lst", "def teacher_loss_from_log_probs("),
        ("eq-lsup", "def loss_terms("),
        ("eq-loss", "def total_loss("),
    ):
        at = page.find(f'id="equation-{label}"')
        assert at >= 0, f"equation {label} is not rendered maths with a label"
        src = re.sub(r"<[^>]+>", "", page[at:])  # the highlighted source, as text
        assert function in src, f"{function} is not shown after {label}"
    assert "L = L_s + alpha L_st + beta L_ss" not in page  # no ASCII maths left
    assert "Figure 1" in page and re.search(r'<img[^>]+src="[^"]+\.svg"', page)


@pytest.mark.slow
def test_no_progress_widgets_or_machine_paths_in_the_book(built_book):
    import nbformat

    from booktools.build import NOTEBOOKS, WIDGET_VIEW

    for name in NOTEBOOKS:
        nb = nbformat.read(built_book["chapters"] / f"{name}.ipynb", as_version=4)
        assert "widgets" not in nb.metadata, f"{name}: widget state saved (the HTML would load a widget manager)"
        for cell in nb.cells:
            for out in cell.get("outputs", []):
                assert WIDGET_VIEW not in out.get("data", {}), f"{name}: a widget output (e.g. a tqdm bar)"
        html = (built_book["html"] / "chapters" / f"{name}.html").read_text()
        for path in (str(REPO), built_book["data_root"], str(built_book["tmp"])):
            assert path not in re.sub(r"<[^>]+>", "", html), f"{name} prints the machine path {path}"


@pytest.mark.slow
def test_every_results_page_ends_with_what_to_notice(built_book):
    from booktools.build import NOTEBOOKS

    for name in (n for n in NOTEBOOKS if n not in ("intro", "00_data", "01_components")):  # the pages of results
        text = re.sub(r"<[^>]+>", " ", _article(built_book["html"] / "chapters" / f"{name}.html"))
        text = re.sub(r"\s+", " ", text)
        last = text.rfind("What to notice")
        assert last >= 0, f"{name} has no 'what to notice'"
        assert len(text) - last < 1500, f"{name}: 'what to notice' is not at the end of the page"


@pytest.mark.slow
def test_explorer_page_has_offline_plotly_figures_with_dropdowns(built_book):
    page = (built_book["html"] / "chapters" / "explorer.html").read_text()
    assert page.count('class="plotly-graph-div"') == 2
    assert "Plotly.newPlot" in page and "updatemenus" in page
    from mkdlib.explorer import VIEWS

    for view in VIEWS:
        assert f'"label":"{view}"' in page.replace(" ", ""), f"no dropdown entry {view}"
    assert not re.search(r'<script[^>]+src="https?://[^"]*plot', page), "plotly.js from a CDN"
    assert "plotly.js v" in page or "plotly.min.js" in page  # the library itself is in the page


@pytest.mark.slow
def test_experiment_index_lists_every_config_with_its_command(built_book):
    from booktools.experiment_index import grid_command
    from mkdlib.experiments import GRIDS, grid

    page = (built_book["html"] / "chapters" / "experiments.html").read_text()
    for path in sorted((REPO / "configs" / "paper").glob("*.yaml")):
        assert f"--config configs/paper/{path.name}" in page, f"{path.name} missing from the index"
    for name in GRIDS:
        for cfg in grid(name):
            assert grid_command(cfg) in page
    assert "(est.)" in page


def test_class_overlay_colours_classes_over_the_image_in_grey():
    """Figure 2's overlays (issue 23): a scene's own colours never pass for a class colour; every
    coloured pixel is a class (nearest palette colour: its own), background and ignore stay grey."""
    from mkdlib.data import voc_palette
    from mkdlib.report.figures.viz import class_overlay, error_map

    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)  # a colourful scene
    mask = np.zeros((8, 8), np.uint8)
    mask[:2], mask[2:4], mask[4:6], mask[6, :4], mask[7, :4] = 1, 2, 3, 4, 255
    out = class_overlay(image, mask).astype(int)
    grey = (mask == 0) | (mask == 255)
    assert (out[grey][:, 0] == out[grey][:, 1]).all() and (out[grey][:, 1] == out[grey][:, 2]).all()
    pal = voc_palette()[:5].astype(int)
    for y, x in zip(*np.nonzero(~grey)):
        spread = out[y, x] - out[y, x].mean()  # the pixel's hue, without its brightness
        nearest = np.argmin([np.abs(spread - (p - p.mean())).sum() for p in pal[1:]]) + 1
        assert nearest == mask[y, x], (y, x, out[y, x])
    err = error_map(image, np.where(mask == 1, 2, mask), mask)
    assert (err[:2] == (230, 30, 30)).all() and (err[2:6, :, 0] == err[2:6, :, 1]).all()  # errors red, rest grey
    with pytest.raises(ValueError, match="differ in size"):
        class_overlay(image, mask[:4])


def test_source_listings_are_folded_under_a_summary_naming_them():
    """The chapters' source listings (issue 23: code walls): a closed <details> whose summary names
    the function and its length; opened, the highlighted source; as text, the source (for nbval)."""
    import inspect
    import re

    from mkdlib.data.transforms import mix
    from mkdlib.report.figures.viz import SourceListing

    listing = SourceListing(mix)
    html = listing._repr_html_()
    n = inspect.getsource(mix).rstrip("\n").count("\n") + 1
    assert html.startswith('<details class="mkd-source"><summary>') and " open" not in html.split(">")[0]
    assert f"Source: mkdlib.data.transforms.mix ({n} lines)" in html
    shown = re.sub(r"<[^>]+>", "", html.split("</summary>", 1)[1])
    import html as html_lib

    assert html_lib.unescape(shown).strip() == inspect.getsource(mix).strip()  # all of it, nothing re-typed
    assert 'class="highlight"' in html and '<span class="k">def</span>' in html
    assert repr(listing).splitlines()[1:] == inspect.getsource(mix).rstrip("\n").splitlines()
