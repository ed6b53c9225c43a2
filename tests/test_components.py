"""Each method part pinned down on hand-checkable cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mkdlib.data.transforms import cutmix_boxes, mix
from mkdlib.ema import ema_gamma, ema_update, make_teacher
from mkdlib.evaluate import confusion_matrix, iou_from_confusion, mean_iou
from mkdlib.feature_aug import ClassFeatureStats, feature_augment, isda_offsets, ramp_cosine
from mkdlib.losses import cross_pseudo_loss, pseudo_label, pseudo_label_loss, supervised_loss


# ------------------------------------------------------------------ EMA (Eq. 1)
def _linear(value: float) -> torch.nn.Module:
    m = torch.nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        m.weight.fill_(value)
    return m


def test_ema_first_update_copies_then_follows_eq1():
    student = _linear(1.0)
    teacher = make_teacher(student, gamma=0.6, warmup=False)
    with torch.no_grad():
        teacher.module.weight.fill_(123.0)
    ema_update(teacher, student)  # first update: a copy (Algorithm 1, line 4)
    assert teacher.module.weight.item() == pytest.approx(1.0)
    with torch.no_grad():
        student.weight.fill_(3.0)
    ema_update(teacher, student)  # 0.6 * 1 + 0.4 * 3
    assert teacher.module.weight.item() == pytest.approx(1.8)


def test_ema_warmup_is_released_code_schedule():
    assert [ema_gamma(t, 0.6) for t in (1, 2, 3, 10)] == pytest.approx([0.0, 0.5, 0.6, 0.6])
    assert ema_gamma(2, 0.6, warmup=False) == 0.6
    student = _linear(0.0)
    teacher = make_teacher(student, gamma=0.6, warmup=True)
    ema_update(teacher, student)  # t=1: copy -> 0
    with torch.no_grad():
        student.weight.fill_(2.0)
    ema_update(teacher, student)  # t=2: gamma_t = 0.5 -> 1.0
    assert teacher.module.weight.item() == pytest.approx(1.0)


def test_teacher_is_frozen_and_averages_batchnorm_buffers():
    student = torch.nn.BatchNorm1d(2)
    teacher = make_teacher(student, gamma=0.5, warmup=False)
    assert not any(p.requires_grad for p in teacher.parameters())
    ema_update(teacher, student)
    student.running_mean.fill_(4.0)
    ema_update(teacher, student)
    assert torch.allclose(teacher.module.running_mean, torch.full((2,), 2.0))


# ------------------------------------------------------------------ CutMix
def test_cutmix_same_mask_mixes_images_and_teacher_logits_consistently():
    g = torch.Generator().manual_seed(0)
    mask = cutmix_boxes(4, 16, 16, generator=g)
    assert set(mask.unique().tolist()) <= {0.0, 1.0} and 0 < mask.mean() < 1
    images = torch.arange(4.0).view(4, 1, 1, 1).expand(4, 3, 16, 16)
    mixed = mix(images, mask)
    # where the mask is 1 the pixel comes from the partner (batch rolled by one), else from itself
    expected = torch.where(mask[:, None].bool(), images.roll(1, 0), images)
    assert torch.equal(mixed, expected)
    # the teacher's logits at 1/4 resolution mixed with the same mask (nearest) keep the image's layout
    logits = torch.arange(4.0).view(4, 1, 1, 1).expand(4, 5, 4, 4)
    mixed_logits = mix(logits, mask)
    small = F.interpolate(mask[:, None], size=(4, 4), mode="nearest")[:, 0].bool()
    assert torch.equal(mixed_logits[:, 0], torch.where(small, logits.roll(1, 0)[:, 0], logits[:, 0]))
    # label maps (integers) mix the same way
    labels = torch.arange(4).view(4, 1, 1).expand(4, 16, 16)
    assert torch.equal(mix(labels, mask), torch.where(mask.bool(), labels.roll(1, 0), labels))


def test_cutmix_is_reproducible_from_generator():
    a = cutmix_boxes(3, 8, 8, generator=torch.Generator().manual_seed(5))
    b = cutmix_boxes(3, 8, 8, generator=torch.Generator().manual_seed(5))
    assert torch.equal(a, b)


# ------------------------------------------------------------------ losses
def test_supervised_loss_ignores_255():
    logits = torch.zeros(1, 2, 1, 2)
    logits[0, 0, 0, 0] = 10.0  # confident class 0 at pixel 0
    target = torch.tensor([[[0, 255]]])
    expected = -F.log_softmax(logits[0, :, 0, 0], 0)[0]
    assert supervised_loss(logits, target).item() == pytest.approx(expected.item())


def test_pseudo_label_threshold_masks_low_confidence_pixels():
    logits = torch.tensor([[[[4.0, 0.1]], [[0.0, 0.0]]]])  # (1, 2, 1, 2): pixel 0 confident, 1 not
    assert pseudo_label(logits).tolist() == [[[0, 0]]]
    assert pseudo_label(logits, threshold=0.9).tolist() == [[[0, 255]]]
    ignore = torch.tensor([[[True, False]]])
    assert pseudo_label(logits, ignore=ignore).tolist() == [[[255, 0]]]


def test_pseudo_label_loss_averages_over_all_pixels():
    logits = torch.zeros(1, 2, 1, 2)  # uniform: CE = log 2 per pixel
    target = torch.tensor([[[1, 255]]])
    assert pseudo_label_loss(logits, target).item() == pytest.approx(math.log(2) / 2)


def test_cross_pseudo_loss_uses_the_other_networks_argmax_without_gradient():
    a = torch.tensor([[[[2.0]], [[0.0]]]], requires_grad=True)  # argmax 0
    b = torch.tensor([[[[0.0]], [[3.0]]]], requires_grad=True)  # argmax 1
    loss = cross_pseudo_loss(a, b)
    expected = F.cross_entropy(a.detach(), torch.tensor([[[1]]])) + F.cross_entropy(b.detach(), torch.tensor([[[0]]]))
    assert loss.item() == pytest.approx(expected.item())
    loss.backward()  # targets are detached: gradients only flow through each network's own logits
    assert a.grad is not None and b.grad is not None


# ------------------------------------------------------------------ feature augmentation (Eq. 3)
def test_class_feature_stats_match_numpy_mean_and_variance():
    torch.manual_seed(0)
    stats = ClassFeatureStats(num_classes=3, dim=4)
    feats, labels = [], []
    for _ in range(3):  # several updates must equal one pass over all the data
        f = torch.randn(2, 4, 3, 3)
        y = torch.randint(0, 3, (2, 3, 3))
        y[0, 0, 0] = 255
        stats.update(f, y)
        feats.append(f.permute(0, 2, 3, 1).reshape(-1, 4))
        labels.append(y.reshape(-1))
    f, y = torch.cat(feats).double(), torch.cat(labels)
    for c in range(3):
        sel = f[y == c]
        assert stats.count[c].item() == len(sel)
        assert torch.allclose(stats.mean[c], sel.mean(0))
        assert torch.allclose(stats.variance[c], sel.var(0, unbiased=False))
    full = ClassFeatureStats(3, 4, covariance="full")
    for fb, yb in zip(torch.cat(feats).split(18), torch.cat(labels).split(18)):
        full.update(fb.T.reshape(1, 4, 18, 1), yb.reshape(1, 18, 1))
    sel = f[y == 1]
    cov = (sel - sel.mean(0)).T @ (sel - sel.mean(0)) / len(sel)
    assert torch.allclose(full.variance[1], cov)


def test_class_feature_stats_resize_labels_to_feature_map():
    stats = ClassFeatureStats(2, 1)
    f = torch.tensor([[[[1.0, 3.0]]]])  # (1, 1, 1, 2)
    y = torch.tensor([[[0, 0, 1, 1], [0, 0, 1, 1]]])  # (1, 2, 4): nearest -> [0, 1]
    stats.update(f, y)
    assert stats.mean[:, 0].tolist() == [1.0, 3.0]


def _eq3_direct(f, y, W, b, sigma, lam):
    """Eq. 3 written out for one pixel: logit_j = v_jy^T f + (b_j - b_y) + lam/2 v_jy^T Sigma_y v_jy, plus w_y f + b_y."""
    out = []
    for j in range(W.shape[0]):
        v = W[j] - W[y]
        out.append(W[j] @ f + b[j] + lam / 2 * v @ sigma[y] @ v)
    return torch.stack(out)


@pytest.mark.parametrize("covariance", ["diagonal", "full"])
def test_feature_augment_matches_direct_eq3(covariance):
    torch.manual_seed(1)
    C, D = 3, 4
    W, b = torch.randn(C, D).double(), torch.randn(C).double()
    if covariance == "diagonal":
        var = torch.rand(C, D).double()
        sigma = torch.stack([torch.diag(v) for v in var])
    else:
        a = torch.randn(C, D, D).double()
        var = sigma = a @ a.transpose(1, 2)
    f = torch.randn(1, D, 2, 2).double()
    labels = torch.tensor([[[0, 2], [1, 255]]])
    logits = torch.einsum("cd,bdhw->bchw", W, f) + b[None, :, None, None]
    lam = 0.7
    aug = feature_augment(logits, labels, isda_offsets(W, var), lam)
    for i, j in [(0, 0), (0, 1), (1, 0)]:
        y = int(labels[0, i, j])
        assert torch.allclose(aug[0, :, i, j], _eq3_direct(f[0, :, i, j], y, W, b, sigma, lam))
    assert torch.equal(aug[0, :, 1, 1], logits[0, :, 1, 1])  # ignored pixel untouched
    # the true class's own logit is never changed (v_yy = 0), the others only grow
    assert torch.isclose(aug[0, 0, 0, 0], logits[0, 0, 0, 0])
    assert (aug >= logits - 1e-12).all()


def test_lambda_ramp_is_cosine_from_zero():
    assert ramp_cosine(0.0, 1.5) == 0.0
    assert ramp_cosine(0.5, 1.5) == pytest.approx(0.75)
    assert ramp_cosine(1.0, 1.5) == pytest.approx(1.5)


# ------------------------------------------------------------------ mIoU
def test_miou_from_confusion_by_hand():
    pred = torch.tensor([[0, 0, 1, 1]])
    target = torch.tensor([[0, 1, 1, 255]])
    conf = confusion_matrix(pred, target, 3)
    assert conf.tolist() == [[1, 0, 0], [1, 1, 0], [0, 0, 0]]
    iou = iou_from_confusion(conf)
    # class 0: TP 1, FP 1, FN 0 -> 1/2; class 1: TP 1, FP 0, FN 1 -> 1/2; class 2 absent -> NaN
    assert iou[0] == pytest.approx(0.5) and iou[1] == pytest.approx(0.5) and np.isnan(iou[2])
    assert mean_iou(conf) == pytest.approx(0.5)


def test_object_scores_split_finding_from_naming():
    from mkdlib.evaluate import object_scores

    # rows = truth (background, a, b), columns = prediction
    conf = np.array(
        [
            [50, 4, 6],  # background: 10 pixels called objects (false positives)
            [5, 20, 10],  # a: 5 missed, 30 found (20 named right)
            [15, 0, 10],
        ]
    )  # b: 15 missed, 10 found (all right)
    s = object_scores(conf)
    assert s["object_precision"] == pytest.approx(40 / 50)
    assert s["object_recall"] == pytest.approx(40 / 60)
    assert s["object_iou"] == pytest.approx(40 / (40 + 10 + 20))
    assert s["class_accuracy"] == pytest.approx(30 / 40)
    assert s["dominant_class_share"] == pytest.approx(20 / 40)  # column b: 10 + 10
    assert np.isnan(object_scores(np.diag([5, 0, 0]))["class_accuracy"])  # no object found
