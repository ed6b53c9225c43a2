"""The switches where MKD's step departs from Algorithm 1 or the release, each pinned on small
tensors or one step (book/paper-vs-code.md): feature augmentation on L_sup, separate forwards,
where the consistency losses are averaged, the teachers' BatchNorm buffers, teacher feature
augmentation, the strong op's probabilities, and the two presets."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mkdlib import make_config, resolve
from mkdlib.config import ConfigError
from mkdlib.data import prepare_data
from mkdlib.data.palette import IGNORE_INDEX
from mkdlib.ema import ema_update, make_teacher
from mkdlib.methods import build_method
from mkdlib.registry import PRESET_SETTINGS, with_legacy_settings


def _step_parts(tiny_config, **overrides):
    """A built method, one real batch, and the parts of one MKD step up to the loss terms."""
    from mkdlib.trainer import Runtime, build_loaders

    cfg = resolve(tiny_config(**overrides))
    data = prepare_data(cfg)
    lab, unl, _ = build_loaders(cfg, data, Runtime(torch.device("cpu")), 0)
    batch = {**next(iter(lab)), **next(iter(unl))}
    torch.manual_seed(0)
    m = build_method(cfg, data.num_classes).train()
    m.update_teachers()
    views = m.views(batch, torch.Generator().manual_seed(1))
    return cfg, m, views


def _forward(m, views, progress=0.9):
    outs = m.student_outputs(views)
    own = m.own_labels(outs, views)
    if m.cfg.feature_aug:
        for _ in range(3):  # statistics that make the augmented logits differ from the plain ones
            m.update_feature_statistics(outs, own, views)
    logits = m.feature_augmented_logits(outs, own, views, progress)
    return outs, own, logits


# ------------------------------------------------------------------ FD and L_sup
@pytest.mark.parametrize("fa_on_sup", [False, True])
def test_sup_loss_is_the_plain_cross_entropy_unless_fa_on_sup(tiny_config, fa_on_sup):
    """Algorithm 1, line 11: p^l has no FD, so L_sup is the CE of the plain labeled logits;
    fa_on_sup=True (mkdlib's first step) takes it from the feature-augmented ones."""
    cfg, m, views = _step_parts(tiny_config, method="mkd", fa_on_sup=fa_on_sup)
    outs, own, logits = _forward(m, views)
    n_l = len(views.labeled)
    assert not torch.allclose(logits[0][:n_l], outs[0].logits[:n_l])  # FD does change the labeled logits
    terms = m.loss_terms(logits, own, m.teacher_logits(views), views, None, [o.logits for o in outs])
    source = logits if fa_on_sup else [o.logits for o in outs]
    expected = sum(F.cross_entropy(a[:n_l], views.mask, ignore_index=IGNORE_INDEX) for a in source)
    assert torch.allclose(terms["sup"], expected)


# ------------------------------------------------------------------ where L_st and L_ss are averaged
def _hand_ce(log_probs: torch.Tensor, target: torch.Tensor, norm: str) -> torch.Tensor:
    """Mean of -log p(target) by explicit loops over pixels: over every pixel ('all') or over the
    pixels that carry a target ('labeled')."""
    total, count = 0.0, 0
    b, _, h, w = log_probs.shape
    for i in range(b):
        for y in range(h):
            for x in range(w):
                t = int(target[i, y, x])
                if t != IGNORE_INDEX:
                    total += -float(log_probs[i, t, y, x])
                    count += 1
    return torch.tensor(total / (b * h * w if norm == "all" else max(count, 1)))


@pytest.mark.parametrize("pixels", ["unlabeled", "all"])
@pytest.mark.parametrize("norm", ["all", "labeled"])
def test_consistency_losses_against_a_hand_computation(tiny_config, pixels, norm):
    """consistency_pixels=unlabeled (Eq. 2): L_st and L_ss over the unlabeled images only;
    all (the release): over labeled + unlabeled images, with targets on both (teacher j and
    partner j, labeled images' void ignored). Each against explicit per-pixel sums."""
    cfg, m, views = _step_parts(
        tiny_config, method="mkd", feature_aug=False, consistency_pixels=pixels, pseudo_loss_norm=norm, crop_size=16
    )
    outs, own, logits = _forward(m, views)
    teacher_logits = m.teacher_logits(views)
    terms = m.loss_terms(logits, own, teacher_logits, views, None, [o.logits for o in outs])
    n_l = len(views.labeled)
    first = 0 if pixels == "all" else n_l
    ignore = torch.cat([views.mask == IGNORE_INDEX, views.ignore]) if pixels == "all" else views.ignore
    assert len(teacher_logits[0]) == len(logits[0]) - first  # teachers label exactly these images
    lp = [F.log_softmax(a[first:].detach(), dim=1) for a in logits]
    own_t = [a[first:].argmax(1).masked_fill(ignore, IGNORE_INDEX) for a in logits]
    teach_t = [t.argmax(1).masked_fill(ignore, IGNORE_INDEX) for t in teacher_logits]
    ss = sum(_hand_ce(lp[i], own_t[1 - i], norm) for i in range(2))
    st = sum(_hand_ce(lp[i], teach_t[1 - i], norm) for i in range(2))
    assert terms["ss"].item() == pytest.approx(ss.item(), rel=1e-5)
    assert terms["st"].item() == pytest.approx(st.item(), rel=1e-5)


# ------------------------------------------------------------------ one forward or two
def test_separate_forwards_give_each_subset_its_own_batchnorm_statistics(tiny_config):
    """student_forward=separate (Algorithm 1, CPS, the release): the labeled images are normalised
    with their own batch statistics, so their logits match a forward of the labeled images alone
    and differ from the joint forward's, where the unlabeled images share the statistics."""
    outs = {}
    for mode in ("joint", "separate"):
        cfg, m, views = _step_parts(tiny_config, method="mkd", student_forward=mode)
        torch.manual_seed(3)
        outs[mode] = m.student_outputs(views)[0].logits
        n_l = len(views.labeled)
        torch.manual_seed(3)
        alone = m.students[0](views.labeled).logits
        assert torch.allclose(outs[mode][:n_l], alone, atol=1e-5) is (mode == "separate")


def test_separate_forwards_update_batchnorm_running_statistics_once_per_subset(tiny_config):
    cfg, m, views = _step_parts(tiny_config, method="mkd", student_forward="separate")
    bn = next(x for x in m.students[0].modules() if isinstance(x, torch.nn.BatchNorm2d))
    before = int(bn.num_batches_tracked)
    m.student_outputs(views)
    assert int(bn.num_batches_tracked) == before + 2


# ------------------------------------------------------------------ teachers' BatchNorm buffers
def _bn_student() -> torch.nn.Module:
    return torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.BatchNorm1d(2))


@pytest.mark.parametrize("buffers", ["ema", "copy", "own"])
def test_teacher_buffers_follow_their_setting_while_parameters_are_averaged(buffers):
    """ema: buffers averaged like the weights; copy: the student's, exactly; own: left as the
    first update copied them (parameters-only EMA, the release). Weights follow Eq. 1 in all."""
    student = _bn_student()
    teacher = make_teacher(student, gamma=0.5, warmup=False, buffers=buffers)
    ema_update(teacher, student)  # the first update copies everything
    start_mean = student[1].running_mean.clone()
    with torch.no_grad():
        student[0].weight.add_(2.0)
        student[1].running_mean.fill_(4.0)
        student[1].num_batches_tracked.fill_(7)
    ema_update(teacher, student)
    tbn = teacher.module[1]
    expected = {"ema": (start_mean + 4.0) / 2, "copy": torch.full((2,), 4.0), "own": start_mean}[buffers]
    assert torch.allclose(tbn.running_mean, expected)
    assert int(tbn.num_batches_tracked) == (0 if buffers == "own" else 7)
    assert torch.allclose(teacher.module[0].weight, student[0].weight - 1.0)  # 0.5 old + 0.5 new


def test_own_buffers_track_the_teachers_own_batches_in_train_mode():
    """With BatchNorm in train mode (the release's teachers) the teacher's own forwards move its
    buffers; the EMA never overwrites them."""
    student = _bn_student()
    teacher = make_teacher(student, gamma=0.5, warmup=False, buffers="own")
    ema_update(teacher, student)
    teacher.train()
    with torch.inference_mode():
        teacher(torch.randn(16, 2) * 3 + 5)
    moved = teacher.module[1].running_mean.clone()
    assert not torch.allclose(moved, student[1].running_mean)
    ema_update(teacher, student)
    assert torch.equal(teacher.module[1].running_mean, moved)


def test_unknown_buffer_setting_is_a_clear_error(tiny_config):
    with pytest.raises(ValueError, match="buffers must be one of"):
        make_teacher(_bn_student(), 0.5, buffers="average")
    with pytest.raises(ConfigError, match="teacher_bn_buffers must be one of ema, copy, own"):
        resolve(tiny_config(method="mkd", teacher_bn_buffers="average"))


# ------------------------------------------------------------------ teacher feature augmentation
def test_teacher_feature_aug_labels_come_from_augmented_teacher_logits(tiny_config):
    """teacher_feature_aug (the release): each teacher's logits get Eq. 3 with its own class
    statistics (updated from its features); without it the teachers' logits are plain."""
    from mkdlib.methods.mkd import weak_view_logits

    cfg, m, views = _step_parts(tiny_config, method="mkd", teacher_feature_aug=True, fa_lambda=50.0)
    assert len(m.teacher_feature_stats) == 2 and float(m.teacher_feature_stats[0].count.sum()) == 0
    augmented = m.teacher_logits(views, progress=1.0)
    plain = weak_view_logits(m.teachers, views)
    assert float(m.teacher_feature_stats[0].count.sum()) > 0
    assert not torch.allclose(augmented[0], plain[0])
    cfg, m2, views = _step_parts(tiny_config, method="mkd")
    assert len(m2.teacher_feature_stats) == 0


# ------------------------------------------------------------------ strong op probabilities
def test_release_photometric_probabilities_leave_some_images_unchanged():
    """The release draws one op and applies it with its own probability (0.3 colour jitter, 0.5
    blur, 0.5 gray, 0.1 equalize, 0.1 solarize): about 70 % of images get none; mkdlib's
    'always' changes every image."""
    from mkdlib.data.transforms import RELEASE_PHOTOMETRIC_P, strong_photometric

    img = np.random.RandomState(0).randint(0, 255, (16, 16, 3), dtype=np.uint8)
    share = {}
    for probs in ("always", "release"):
        t = strong_photometric(64, probs)
        t.set_random_seed(1)
        share[probs] = np.mean([np.array_equal(t(image=img)["image"], img) for _ in range(1500)])
    expected = 1 - np.mean(list(RELEASE_PHOTOMETRIC_P.values()))
    assert share["always"] == 0.0
    assert abs(share["release"] - expected) < 0.04  # ~3.4 sd of a share of 1,500 draws


# ------------------------------------------------------------------ presets, keys, CLI
def test_mkd_follows_algorithm_1_and_mkd_release_the_release(tiny_config):
    mkd, rel = resolve(tiny_config(method="mkd")), resolve(tiny_config(method="mkd_release"))
    assert (mkd.fa_on_sup, mkd.student_forward, mkd.consistency_pixels, mkd.pseudo_from_augmented) == (
        False,
        "joint",  # a departure from Algorithm 1 kept by measurement (book/paper-vs-code.md)
        "unlabeled",
        True,
    )
    assert rel.switches() == mkd.switches()
    assert (rel.consistency_pixels, rel.teacher_bn_train, rel.teacher_bn_buffers, rel.gamma) == (
        "all",
        True,
        "own",
        0.6,
    )
    assert rel.teacher_feature_aug and rel.pseudo_loss_norm == "labeled" and rel.photometric_probs == "release"
    assert mkd.key() != rel.key()
    # a setting given explicitly wins over the preset
    assert resolve(tiny_config(method="mkd_release", gamma=0.99)).gamma == 0.99


def test_settings_that_cannot_act_take_their_legacy_value(tiny_config):
    """Without feature aug there is nothing to put on L_sup or on the teachers' logits; without
    teachers no buffers to average: one training, one key."""
    no_fa = resolve(tiny_config(method="mkd", feature_aug=False, teacher_feature_aug=True, fa_on_sup=False))
    assert no_fa.fa_on_sup is True and no_fa.teacher_feature_aug is False and no_fa.pseudo_from_augmented is False
    cps = resolve(tiny_config(method="cps", teacher_bn_buffers="copy"))
    assert cps.teacher_bn_buffers == "ema" and cps.key() == resolve(tiny_config(method="cps")).key()
    with pytest.raises(ConfigError, match="consistency_pixels"):
        resolve(tiny_config(method="mean_teacher", consistency_pixels="all"))


def test_stored_configs_keep_the_settings_they_were_trained_with(tiny_config):
    """A config written before a setting existed was trained with its legacy value: it keeps its
    key, and a new mkd config (the corrected step) gets another one."""
    new = resolve(tiny_config(method="mkd"))
    old = {k: v for k, v in new.to_dict().items() if k not in PRESET_SETTINGS or k == "gamma"}
    old.update(pseudo_from_augmented=False, teacher_bn_train=False, pseudo_loss_norm="all", unsup_rampup=0.0)
    legacy = resolve(make_config(with_legacy_settings(old)))
    assert legacy.fa_on_sup is True and legacy.student_forward == "joint"
    assert legacy.key() != new.key()
    assert legacy.key() == resolve(make_config(with_legacy_settings(old), method="mkd")).key()


def test_train_help_lists_the_fidelity_switches():
    out = subprocess.run(
        [sys.executable, "-m", "mkdlib", "train", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for flag in (
        "--fa-on-sup",
        "--student-forward",
        "--consistency-pixels",
        "--teacher-bn-buffers",
        "--teacher-feature-aug",
        "--photometric-probs",
    ):
        assert flag in out, flag
    assert "mkd_release" in out


def test_every_config_field_has_a_one_line_help_in_a_known_section():
    """train --help takes each flag's text from the field's own comment (mkdlib.config.field_help)."""
    from dataclasses import fields

    from mkdlib.config import FIELD_SECTIONS, Config, field_help

    docs = field_help()
    assert set(docs) == {f.name for f in fields(Config)}
    assert all(section in FIELD_SECTIONS and text for section, text in docs.values()), docs


def test_paper_vs_code_tables_are_generated_from_the_registry_and_the_store(monkeypatch):
    """book/paper-vs-code.md's source table and departures table are the generated blocks
    (booktools.departures), and every setting added since the store began is listed."""
    from booktools import readme
    from mkdlib.registry import ADDED_SETTINGS, SOURCES

    monkeypatch.delenv("MKD_RESULTS_DIR")  # the departures block reads the repository's own store
    assert readme.blocks_in(readme.PAPER_VS_CODE) == ["sources", "departures"]
    for name in ("sources", "departures"):
        assert readme.readme_block(name, path=readme.PAPER_VS_CODE) == readme.summary_markdown(name), (
            f"book/paper-vs-code.md's {name} block is stale: run python -m booktools.readme {name} --update"
        )
    listed = {s.field for s in SOURCES}
    assert set(ADDED_SETTINGS) - {"cps_target_bn"} <= listed  # (CPS + CutMix's own: README, the book)
