"""The results store is read once (mkdlib.report.evidence.store): building every table of the tables chapter
reads each stored run's result.json at most once, and a run stored since is seen at the next query."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from conftest import store_result

CONFUSION = [[8, 2, 0], [1, 3, 1], [1, 0, 4]]


def _count_reads(monkeypatch) -> Counter:
    """result.json reads by run folder, however they happen (load_result, load_results, a direct read)."""
    reads: Counter = Counter()
    read_text = Path.read_text

    def counting(self, *a, **k):
        if self.name == "result.json":
            reads[self.parent.name] += 1
        return read_text(self, *a, **k)

    monkeypatch.setattr(Path, "read_text", counting)
    return reads


def _build_tables_chapter(root) -> dict:
    """What notebooks/04_tables.ipynb builds from the store (and the intro's verdict)."""
    from booktools import calibration
    from mkdlib.report import paper
    from mkdlib.report.evidence import claims

    out = {"status": paper.grid_status(root)}
    cal = calibration.calibration_runs(root)
    out["calibration"] = paper.table_view(calibration.table_calibration(root))
    out["gates"] = calibration.calibration_gates(root)
    out["short gates"] = calibration.calibration_gates(root, grid="short_schedule")
    out["cal curves"] = paper.seed_curves(cal, "run", root=root)
    out["gain by iteration"] = calibration.g2_from_iteration(calibration.gain_by_iteration(root))
    t1 = paper.table_label_fractions(root)
    out["t1"] = (paper.table_view(t1), paper.notice_label_fractions(t1), paper.label_fraction_runs(root))
    t2 = paper.table_methods(root)
    out["t2"] = (paper.table_view(t2), paper.notice_methods(t2, root))
    t3 = paper.table_ablation(root)
    out["t3"] = (paper.table_view(t3), paper.notice_gains_vs_reference(t3, "co-training", root))
    out["t3 curves"] = paper.seed_curves(paper.grid_runs("ablation", root), "label", root=root)
    for param in ("gamma", "beta"):
        t = paper.table_sweep(param, root)
        out[param] = (paper.table_view(t), paper.notice_gains_vs_reference(t, f"{param}=0", root))
    out["release"] = paper.table_sweep("beta", root, method="mkd_release")
    effects = paper.effect_directions(root)
    out["effects"] = (
        paper.table_view(paper.effects_view(effects)),
        paper.notice_effects(effects),
        claims.pooled_spread(root),
    )
    runs = paper.grid_runs(["ablation", "methods", "headline_6seeds"], root)
    breakdown = paper.error_breakdown(runs[runs["split"] == "1/16"], root=root)
    out["breakdown"] = (paper.table_view(breakdown), paper.notice_breakdown(breakdown, chance=1 / 4))
    out["long"] = paper.results_frame(root)
    td = paper.table_diagnosis(root)
    diagnosis = paper.diagnosis_runs(root)
    out["diagnosis"] = (paper.table_view(td), paper.notice_diagnosis(td, root))
    out["diagnosis breakdown"] = paper.error_breakdown(diagnosis, "setting", root)
    out["headline"] = (paper.headline_summary(root), paper.verdict(root))
    return out


def _fake_store(root) -> list:
    """A run of a few configs of every grid the tables read, with confusion matrices and curves."""
    from mkdlib.experiments import grid

    cfgs = [c for c in grid("headline_6seeds") if c.split == "1/16" and c.method in ("supervised", "cps_cutmix", "mkd")]
    for name in ("ablation", "beta", "gamma", "diagnosis", "calibration", "fractions"):
        cfgs += grid(name)[:2]
    stored = {}
    for i, cfg in enumerate(cfgs):
        if cfg.key() not in stored:
            miou = 0.30 + 0.01 * (i % 7)
            store_result(root, cfg, miou, CONFUSION, curves=[{"iter": 2, "miou": miou}])
            stored[cfg.key()] = cfg
    return list(stored.values())


def test_building_the_tables_chapter_reads_each_stored_run_once(tmp_path, monkeypatch):
    from mkdlib.report import paper
    from mkdlib.report.evidence import store

    root = tmp_path / "store"
    stored = _fake_store(root)
    store.clear_cache()
    reads = _count_reads(monkeypatch)
    first = _build_tables_chapter(root)
    assert set(reads) == {c.key() for c in stored}  # every stored run was read ...
    assert max(reads.values()) == 1, reads.most_common(3)  # ... and none twice
    assert not first["long"]["value"].isna().all()  # the tables do hold stored numbers

    _build_tables_chapter(root)  # again, on an unchanged store: nothing is read
    assert max(reads.values()) == 1

    # a run stored since is seen at the next query, and only its result.json is read
    from mkdlib.experiments import grid

    new = next(c for c in grid("headline_6seeds") if c.method == "cps" and c.split == "1/16")
    assert paper.stored_key(new, root) is None
    store_result(root, new, 0.5, CONFUSION)
    assert paper.stored_key(new, root) == new.key()
    assert reads[new.key()] == 1 and max(reads.values()) == 1


def test_a_rewritten_run_replaces_the_cached_one(tmp_path):
    from mkdlib.experiments import grid
    from mkdlib.report import paper

    root = tmp_path / "store"
    cfg = next(c for c in grid("headline_6seeds") if c.method == "mkd" and c.split == "1/16")
    store_result(root, cfg, 0.20)
    assert paper.stored_runs(root)["miou"].tolist() == pytest.approx([20.0])
    store_result(root, cfg, 0.25, wall_time_s=61.0)  # the same run, stored again
    assert paper.stored_runs(root)["miou"].tolist() == pytest.approx([25.0])
    assert paper.stored_runs(tmp_path / "empty").empty  # another folder, its own snapshot
