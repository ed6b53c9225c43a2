"""The decisive headline's protocol: the release's teachers deterministic, the held-out test set,
CPS's partner targets in train-mode BatchNorm, the release's weak-view distortion, old keys kept."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from mkdlib import resolve
from mkdlib.config import base_config
from mkdlib.methods import build_method


def _batch(cfg, n=2, size=32):
    g = torch.Generator().manual_seed(0)
    img = lambda: torch.randn(n, 3, size, size, generator=g)  # noqa: E731
    return {
        "image": img(),
        "mask": torch.randint(0, 4, (n, size, size), generator=g),
        "image_weak": img(),
        "image_strong": img(),
        "ignore": torch.zeros(n, size, size, dtype=torch.bool),
    }


def test_release_teacher_in_training_mode_gives_the_same_argmax_twice():
    cfg = resolve(base_config(method="mkd_release", encoder_weights=None, crop_size=32))
    assert cfg.teacher_bn_train and cfg.aspp_dropout == 0.0 and not cfg.teacher_dropout
    m = build_method(cfg, 4)
    m.train()
    for s, t in zip(m.students, m.teachers):
        t.module.load_state_dict(s.state_dict())
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        a, b = (m.teachers[0](x).logits.argmax(1) for _ in range(2))
    assert torch.equal(a, b)
    bn = [mod for mod in m.teachers[0].modules() if isinstance(mod, torch.nn.modules.batchnorm._BatchNorm)]
    assert bn and all(mod.training for mod in bn)  # batch statistics, as the release
    drop = [mod for mod in m.teachers[0].modules() if isinstance(mod, torch.nn.Dropout)]
    assert all(not mod.training for mod in drop)


def test_batch_statistic_teachers_keep_dropout_off_unless_a_stored_legacy_config_asks():
    """teacher_bn_train on a head with dropout: BatchNorm alone trains; the legacy value
    (teacher_dropout: true, how runs were stored before) puts the whole teacher in train mode."""
    for legacy, expect in ((False, False), (True, True)):
        cfg = resolve(
            base_config(method="mkd", encoder_weights=None, teacher_bn_train=True, teacher_dropout=legacy, crop_size=32)
        )
        m = build_method(cfg, 4)
        m.train()
        drops = [mod.training for mod in m.teachers[0].modules() if isinstance(mod, torch.nn.Dropout)]
        assert drops and all(d == expect for d in drops)
    # eval-mode teachers: the setting cannot act, so it takes its legacy value (one key)
    a = resolve(base_config(method="mkd", teacher_dropout=False))
    assert a.key() == resolve(base_config(method="mkd")).key()


def test_cps_partner_targets_use_batch_statistics_without_dropout_and_restore_modes():
    cfg = resolve(base_config(method="cps_cutmix", encoder_weights=None, crop_size=32))
    assert cfg.cps_targets == "weak_view" and cfg.cps_target_bn == "train"
    m = build_method(cfg, 4)
    m.train()
    before = [mod.training for mod in m.modules()]
    views = m.views(_batch(cfg), torch.Generator().manual_seed(1))
    bn = m.students[0].decoder  # any BatchNorm's running mean moves only with batch statistics
    means = [mod.running_mean.clone() for mod in bn.modules() if isinstance(mod, torch.nn.BatchNorm2d)]
    t1 = m.partner_weak_targets(views)
    t2 = m.partner_weak_targets(views)
    assert all(torch.equal(a, b) for a, b in zip(t1, t2))  # no dropout draw in the targets
    after = [mod.running_mean for mod in bn.modules() if isinstance(mod, torch.nn.BatchNorm2d)]
    assert any(not torch.equal(a, b) for a, b in zip(means, after))
    assert [mod.training for mod in m.modules()] == before


def test_weak_photometric_distorts_the_weak_and_labeled_views_only(tiny_data_root):
    from mkdlib.data import LabeledDataset, SegmentationFolder, UnlabeledDataset

    folder = SegmentationFolder(tiny_data_root)
    ids = [p.stem for p in sorted((tiny_data_root / "JPEGImages").glob("*.jpg"))][:4]
    plain = UnlabeledDataset(folder, ids, 32)
    jitter = UnlabeledDataset(folder, ids, 32, weak_photometric=True)
    changed = 0
    for i in range(4):
        a, b = plain[(i, 7 + i)], jitter[(i, 7 + i)]
        assert torch.equal(a["image_strong"], b["image_strong"])  # the students' view is untouched
        assert torch.equal(a["ignore"], b["ignore"])  # and the crop is the same
        changed += not torch.equal(a["image_weak"], b["image_weak"])
    assert changed >= 1
    lab_plain, lab_jit = LabeledDataset(folder, ids, 32), LabeledDataset(folder, ids, 32, weak_photometric=True)
    diffs = [not torch.equal(lab_plain[(i, 3 + i)]["image"], lab_jit[(i, 3 + i)]["image"]) for i in range(4)]
    assert any(diffs)
    assert all(torch.equal(lab_plain[(i, 3 + i)]["mask"], lab_jit[(i, 3 + i)]["mask"]) for i in range(4))


def test_a_run_scores_its_final_model_once_on_the_held_out_test_set(tiny_config):
    from mkdlib.data.synthetic import TEST_INDEX_OFFSET, test_id
    from mkdlib.trainer import train

    cfg = tiny_config(method="supervised", test_images=6)
    res = train(cfg)
    stored = json.loads((res.run_dir / "result.json").read_text())
    assert stored["test"]["images"] == 6 and 0.0 <= stored["test"]["miou"] <= 1.0
    root = type(res.run_dir)(cfg.data_root)
    listed = (root / "ImageSets" / "Segmentation" / "test.txt").read_text().split()
    assert listed == [test_id(i) for i in range(6)]
    val = set((root / "ImageSets" / "Segmentation" / "val.txt").read_text().split())
    train_ids = set((root / "ImageSets" / "Segmentation" / "train.txt").read_text().split())
    assert not (set(listed) & (val | train_ids)) and TEST_INDEX_OFFSET > len(val | train_ids)
    metrics = [json.loads(x) for x in (res.run_dir / "metrics.jsonl").read_text().splitlines()]
    assert all("test" not in m for m in metrics)  # nothing during training looks at it
    # the key tells a run with a test score from one without; 0 keeps every earlier key
    assert resolve(cfg).key() != resolve(tiny_config(method="supervised")).key()


def test_test_set_is_refused_for_datasets_without_one():
    import pytest

    from mkdlib.config import ConfigError

    with pytest.raises(ConfigError, match="test_images"):
        resolve(base_config(dataset="voc", test_images=10))


def test_headline_grid_is_twelve_paired_seeds_each_with_its_own_split_and_the_test_set():
    from mkdlib.experiments import PAIRED_METHODS, grid

    cfgs = grid("headline")
    assert len(cfgs) == 12 * len(PAIRED_METHODS)
    assert all(c.labeled_split_seed == c.seed and c.test_images >= 500 and c.split == "1/16" for c in cfgs)
    from mkdlib.report.evidence.store import seed_free_key

    assert len({seed_free_key(c) for c in cfgs}) == len(PAIRED_METHODS)  # a method's 12 runs: one config
    assert len({c.key() for c in cfgs}) == len(cfgs)
    old = {c.key() for c in grid("headline_6seeds")}
    assert not old & {c.key() for c in cfgs}  # the superseded headline stays in the store beside it


def _store_headline(root, cfg, test: float, val: float) -> None:
    """A stored decisive-headline run: ``test`` on the held-out test set, ``val`` on validation."""
    folder = root / cfg.key()
    folder.mkdir(parents=True)
    result = {
        "key": cfg.key(),
        "config": cfg.to_dict(),
        "final": {"miou": val / 100},
        "best_miou": val / 100,
        "test": {"miou": test / 100, "images": cfg.test_images},
        "wall_time_s": 60.0,
    }
    (folder / "result.json").write_text(json.dumps(result))


def test_table2_the_intro_and_the_readme_read_the_test_set_once_the_headline_is_complete(tmp_path):
    from booktools import readme
    from mkdlib.experiments import grid
    from mkdlib.report import paper
    from mkdlib.report.evidence.store import headline_progress

    # test mIoU by method and seed; validation says otherwise (MKD far below supervised there: judged
    # on validation, every MKD run would collapse), so a number read from the wrong set shows
    test = {"supervised": 45.0, "mean_teacher": 60.0, "cps_cutmix": 62.0, "mkd": 66.0, "mkd_release": 64.0}
    val = {"supervised": 50.0, "mean_teacher": 55.0, "cps_cutmix": 70.0, "mkd": 20.0, "mkd_release": 58.0}
    cfgs = [resolve(c) for c in grid("headline")]
    for c in cfgs[:-1]:
        _store_headline(tmp_path, c, test[c.method] + (c.seed % 3), val[c.method])
    assert headline_progress(tmp_path) == (len(cfgs) - 1, len(cfgs))
    before = paper.table_methods(tmp_path)
    assert before.attrs["protocol"] == "validation" and "CPS (co-training)" in before.index
    assert "until it is complete" in paper.verdict(tmp_path)

    last = cfgs[-1]
    _store_headline(tmp_path, last, test[last.method] + (last.seed % 3), val[last.method])
    t = paper.table_methods(tmp_path)
    assert t.attrs["protocol"] == "test"
    assert list(t.index) == ["supervised only", "mean teacher", "CPS + CutMix", "MKD", "MKD (release)"]
    assert t.loc["MKD", f"{paper.OURS} mIoU"] == pytest.approx(67.0)  # 66 + mean of seed % 3 over 12 seeds
    assert t.loc["MKD", f"{paper.OURS} gain vs CPS + CutMix"] == pytest.approx(4.0)
    assert t.loc["MKD", f"{paper.OURS} seeds"] == 12
    eff = paper.effect_directions(tmp_path).loc["Table 2"].loc["MKD"]
    assert eff["collapsed runs"] == "0/24"  # judged on the test set, where MKD is far above supervised

    summary = paper.headline_summary(tmp_path)
    assert (paper.OURS, "test mIoU ± sd") in summary.columns
    assert "supervised only, all labels" not in summary.index  # a validation-only ceiling: not beside test
    words = paper.verdict(tmp_path)
    assert words.startswith("The decisive headline is complete")
    assert "**MKD** scores highest: 67.0 ± 0.9 mIoU on the held-out test set (12 seeds" in words
    assert "is +4.0 points" in words and "over 12 pairs" in words
    assert "on the held-out test set" in paper.notice_methods(t, tmp_path)

    block = readme.summary_markdown("headline", tmp_path)
    assert "| test mIoU (%) |" in block and "test_images" not in block and "split_seed" not in block
    assert "| mkd | 1/16 | default | 67.0 ± 0.9 | 12/12 |" in block
    assert readme.summary_markdown("verdict", tmp_path) == words


def test_the_headline_seed_by_seed_pairs_test_scores_and_shows_what_has_no_pair(tmp_path):
    from matplotlib.collections import PathCollection

    from mkdlib.experiments import headline_config
    from mkdlib.report import paper
    from mkdlib.report.figures import viz

    for s, (mkd, cut) in enumerate([(66.0, 60.0), (61.0, 62.0), (70.0, 64.0)]):
        _store_headline(tmp_path, resolve(headline_config("mkd", s)), mkd, val=20.0)  # validation: ignored
        _store_headline(tmp_path, resolve(headline_config("cps_cutmix", s)), cut, val=70.0)
    _store_headline(tmp_path, resolve(headline_config("mkd", 3)), 90.0, val=90.0)  # no partner: left out
    pairs = paper.headline_pairs(tmp_path)
    mkd_cut = pairs[pairs["comparison"] == "MKD - CPS + CutMix"]
    assert list(mkd_cut["seed"]) == [0, 1, 2]
    assert list(mkd_cut["difference"]) == pytest.approx([6.0, -1.0, 6.0])
    assert mkd_cut["paper"].iloc[0] == pytest.approx(74.02 - 71.98)  # Table 2, VOCAug R50 1/16
    empty = pairs[pairs["difference"].isna()]
    assert len(empty) == len(pairs["comparison"].unique()) - 1  # every other comparison: one row, no pair
    fig = viz.plot_headline_pairs(pairs)
    dots = sum(len(c.get_offsets()) for c in fig.axes[0].collections if isinstance(c, PathCollection))
    assert dots == 3
    texts = [t.get_text().strip() for t in fig.axes[0].texts]
    assert texts.count("no pair yet") == len(empty) and "3 pairs" in texts
    assert not viz.legends_over_data(fig)
    import matplotlib.pyplot as plt

    plt.close(fig)
    from booktools.spread import spread_check
    from mkdlib.report.evidence import stats

    spread = spread_check(tmp_path).set_index("comparison")
    row = spread.loc["MKD - CPS + CutMix"]
    sd = float(np.std([6.0, -1.0, 6.0], ddof=1))
    assert row["pairs so far"] == 3 and row["sd so far (test, own splits)"] == pytest.approx(sd)
    assert row["detectable with 12 pairs"] == pytest.approx(stats.detectable_effect(sd, 12))
    assert row["pairs to tell the paper's effect from 0"] == stats.seeds_needed(sd, 74.02 - 71.98)
    assert pd.isna(row["sd superseded (validation, one split)"])  # no superseded run stored here
    assert pd.isna(spread.loc["MKD - mean teacher", "sd so far (test, own splits)"])  # no pair: blank
