"""Mutual Knowledge Distillation (Sec. 3, Algorithm 1), with every Table 3 switch.

Two students (different initialisations) and, when a teacher switch is on, their EMA teachers.
Per step: update teachers (Eq. 1); teachers see the weak view of the unlabeled batch; students see
the labeled images and the strong (CutMix) unlabeled ones, in one forward (``student_forward:
joint``, the ``mkd`` preset: measured, book/paper-vs-code.md) or in two (``separate``: Algorithm 1
lines 11-12, CPS and the release, BatchNorm statistics per subset; ``mkd_release``); the CutMix
mask also mixes the teachers' logits. Feature
augmentation (Eq. 3, FD) turns each student's logits into ISDA-augmented logits, using ground
truth on labeled pixels and the student's own argmax on unlabeled ones. Loss (Eq. 4):
    L = L_sup + alpha * L_st + beta * L_ss
L_sup: cross entropy of the plain labeled logits (``fa_on_sup`` puts FD on them too).
L_st: teacher j supervises student i (j != i if mutual_mean_teacher, j = i if own_teacher);
L_ss: the CPS cross supervision between the students (co_training). Both over the unlabeled
pixels (Eq. 2), or over labeled + unlabeled images (``consistency_pixels: all``, the release).
L_ss's target is the partner's argmax on the students' own view (``cps_targets: student_view``,
of its feature-augmented logits with ``pseudo_from_augmented``, Algorithm 1 line 14) or, as in
CPS's CutMix code, the partner's no-grad prediction on the weak unmixed images, mixed with the
same mask (``weak_view``, the ``cps_cutmix`` preset). ``teacher_feature_aug`` (the release)
takes L_st's targets from feature-augmented teacher logits, with each teacher's own statistics.
Where the presets ``mkd`` and ``mkd_release`` set these: book/paper-vs-code.md.

The step is composed of named parts (views, teacher targets, student outputs, feature-augmented
logits, loss terms), which the components chapter shows and bench/step_cost.py times: one copy of
each piece of maths. CPS is this class under the ``co_training``-only preset (mkdlib.registry).

Cost (docs/performance.md): the teachers run under inference_mode (no autograd state), each
student's argmax is computed once (it labels the feature statistics and is the partner's CPS
target), and each student's log-softmax is computed once for both L_ss and L_st.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F

from ..data.palette import IGNORE_INDEX
from ..data.transforms import cutmix_boxes, mix
from ..ema import ema_update, make_teacher
from ..feature_aug import ClassFeatureStats, feature_augment, isda_offsets, ramp_cosine
from ..losses import (
    cross_pseudo_loss_from_log_probs,
    pseudo_label,
    sigmoid_rampup,
    supervised_loss,
    teacher_loss_from_log_probs,
)
from ..models import SegOutput
from .base import Method, batch_norm_mode


class Views(NamedTuple):
    """What the networks see in one step."""

    labeled: torch.Tensor  # (B_l, 3, H, W)
    mask: torch.Tensor  # (B_l, H, W) ground truth
    weak: torch.Tensor  # (B_u, 3, H, W) teachers' view
    student: torch.Tensor  # (B_u, 3, H, W) students' unlabeled view: strong + CutMix, or weak
    ignore: torch.Tensor  # (B_u, H, W) padding, mixed like the students' view
    cut: torch.Tensor | None  # the CutMix mask (B_u, 1, H, W), or None


class MKD(Method):
    """Two students and every Table 3 switch; CPS is its ``co_training``-only preset."""

    def __init__(self, cfg, num_classes, encoder_weights=None):
        super().__init__(cfg, num_classes, encoder_weights)
        self.students.extend(self.build_student(i) for i in range(2))
        if cfg.own_teacher or cfg.mutual_mean_teacher:
            self.teachers.extend(
                make_teacher(s, cfg.gamma, cfg.ema_warmup, cfg.teacher_bn_buffers) for s in self.students
            )

        def stats(nets, on):
            return torch.nn.ModuleList(
                ClassFeatureStats(num_classes, cfg.decoder_channels, cfg.fa_covariance) for _ in (nets if on else ())
            )

        self.feature_stats = stats(self.students, cfg.feature_aug)
        self.teacher_feature_stats = stats(self.teachers, cfg.teacher_feature_aug)

    def training_step(self, batch, progress, rng):
        self.update_teachers()
        views = self.views(batch, rng)
        teacher_logits = self.teacher_logits(views, progress)
        weak_targets = self.partner_weak_targets(views)
        outs = self.student_outputs(views)
        own = self.own_labels(outs, views)
        if self.cfg.feature_aug:
            self.update_feature_statistics(outs, own, views)
        logits = self.feature_augmented_logits(outs, own, views, progress)
        plain = [o.logits for o in outs]
        terms = self.loss_terms(logits, own, teacher_logits, views, weak_targets, plain)
        return {"loss": self.total_loss(terms, progress), **{k: v.detach() for k, v in terms.items()}}

    # ---- the parts, in the order of the step
    def update_teachers(self) -> None:
        """Eq. 1: each teacher moves towards its student (before the step, as in the released code)."""
        for teacher, student in zip(self.teachers, self.students):
            ema_update(teacher, student)

    def views(self, batch: dict, rng: torch.Generator | None) -> Views:
        """The students' unlabeled view: strong augmentation + CutMix (strong_aug), else the weak one."""
        cfg = self.cfg
        x_u, ignore = (batch["image_strong"] if cfg.strong_aug else batch["image_weak"]), batch["ignore"]
        cut = (
            cutmix_boxes(len(x_u), *x_u.shape[-2:], generator=rng, device=x_u.device)
            if cfg.strong_aug and cfg.cutmix
            else None
        )
        if cut is not None:
            x_u, ignore = mix(x_u, cut), mix(ignore, cut)
        return Views(batch["image"], batch["mask"], batch["image_weak"], x_u, ignore, cut)

    def teacher_logits(self, views: Views, progress: float = 1.0) -> list[torch.Tensor]:
        """Teachers on the weak view (forward only), mixed with the students' CutMix mask; with
        ``consistency_pixels: all`` the labeled images' logits come first. ``teacher_feature_aug``:
        feature-augmented with each teacher's own class statistics (ground truth on labeled
        pixels, its own argmax elsewhere), as the release does before taking the argmax."""
        both = self.cfg.consistency_pixels == "all"
        if not self.cfg.teacher_feature_aug:
            return weak_view_logits(self.teachers, views, labeled=both)
        lam, n_l = ramp_cosine(progress, self.cfg.fa_lambda), len(views.labeled) if both else 0
        out = []
        with torch.inference_mode():
            outs = weak_view_outputs(self.teachers, views, labeled=both)
            for teacher, stats, o in zip(self.teachers, self.teacher_feature_stats, outs):
                labels = pseudo_label(o.logits[n_l:], ignore=views.ignore)
                if both:
                    labels = torch.cat([views.mask, labels])
                stats.update(o.features, labels)
                weight = teacher.module.classifier.weight.detach().flatten(1)
                out.append(feature_augment(o.logits, labels, isda_offsets(weight, stats.variance), lam))
        return out

    def partner_weak_targets(self, views: Views) -> list[torch.Tensor] | None:
        """``cps_targets: weak_view``: each student's argmax on the weak unmixed images (forward only,
        dropout off), mixed with the CutMix mask; None for ``student_view``. BatchNorm on batch
        statistics (``cps_target_bn: train``, as CPS's code, which leaves the model in train mode)
        or in the teachers' mode (``eval``, legacy)."""
        if not (self.cfg.co_training and self.cfg.cps_targets == "weak_view"):
            return None
        modes = [[m.training for m in s.modules()] for s in self.students]
        batch_stats = self.cfg.cps_target_bn == "train"
        try:
            for s in self.students:
                if batch_stats:
                    batch_norm_mode(s, True)
                else:
                    s.train(self.cfg.teacher_bn_train)
            logits = weak_view_logits(self.students, views, labeled=self.cfg.consistency_pixels == "all")
        finally:
            for s, mode in zip(self.students, modes):
                for m, was in zip(s.modules(), mode):
                    m.training = was
        return [pseudo_label(t, ignore=self.consistency_ignore(views)) for t in logits]

    def student_outputs(self, views: Views) -> list[SegOutput]:
        """Each student on the labeled images and on its unlabeled view, labeled first: in one
        forward (``student_forward: joint``, shared BatchNorm statistics) or two (``separate``)."""
        return [self.labeled_and_unlabeled(s, views.labeled, views.student) for s in self.students]

    def own_labels(self, outs: list[SegOutput], views: Views) -> list[torch.Tensor]:
        """Each student's argmax on its unlabeled images, computed once: it labels the feature
        statistics (feature_aug) and is the partner's CPS target (co_training)."""
        if not (self.cfg.feature_aug or self.cfg.co_training):
            return []
        n_l = len(views.labeled)
        return [pseudo_label(o.logits[n_l:], ignore=views.ignore) for o in outs]

    def update_feature_statistics(self, outs: list[SegOutput], own: list[torch.Tensor], views: Views) -> None:
        """Running class statistics of each student's decoder feature: ground truth on labeled
        pixels, the student's own pseudo labels on unlabeled ones."""
        for out, own_u, stats in zip(outs, own, self.feature_stats):
            stats.update(out.features, torch.cat([views.mask, own_u]))

    def feature_augmented_logits(
        self, outs: list[SegOutput], own: list[torch.Tensor], views: Views, progress: float
    ) -> list[torch.Tensor]:
        """Eq. 3 on every student's logits (feature_aug; lambda ramps up), else the plain logits."""
        if not self.cfg.feature_aug:
            return [o.logits for o in outs]
        lam = ramp_cosine(progress, self.cfg.fa_lambda)
        augmented = []
        for out, own_u, stats, student in zip(outs, own, self.feature_stats, self.students):
            weight = student.classifier.weight.detach().flatten(1)
            labels = torch.cat([views.mask, own_u])
            augmented.append(feature_augment(out.logits, labels, isda_offsets(weight, stats.variance), lam))
        return augmented

    def consistency_ignore(self, views: Views) -> torch.Tensor:
        """Pixels that carry no L_st / L_ss target: the unlabeled view's padding, and with
        ``consistency_pixels: all`` the labeled images' void / padding (ground truth 255) first."""
        if self.cfg.consistency_pixels == "all":
            return torch.cat([views.mask == IGNORE_INDEX, views.ignore])
        return views.ignore

    def loss_terms(
        self,
        logits: list[torch.Tensor],
        own: list[torch.Tensor],
        teacher_logits: list[torch.Tensor],
        views: Views,
        weak_targets: list[torch.Tensor] | None = None,
        plain: list[torch.Tensor] | None = None,
    ) -> dict[str, torch.Tensor]:
        """L_sup on the labeled part (of the plain logits unless ``fa_on_sup``); L_ss (co_training)
        and L_st (teachers) on the unlabeled part, or on both parts (``consistency_pixels: all``),
        sharing one log-softmax per student. L_ss's targets: ``weak_targets`` when given, else
        the students' own argmax (of the feature-augmented logits with pseudo_from_augmented)."""
        cfg, n_l = self.cfg, len(views.labeled)
        sup_logits = logits if (cfg.fa_on_sup or plain is None) else plain
        terms = {"sup": sum(supervised_loss(a[:n_l], views.mask) for a in sup_logits)}
        if not (cfg.co_training or self.teachers):
            return terms
        first = 0 if cfg.consistency_pixels == "all" else n_l
        ignore = self.consistency_ignore(views)
        log_probs = [F.log_softmax(a[first:], dim=1) for a in logits]
        if cfg.co_training:
            if weak_targets is not None:
                targets = weak_targets
            elif cfg.pseudo_from_augmented:
                targets = [pseudo_label(a[first:], ignore=ignore) for a in logits]
            elif first == 0:
                targets = [pseudo_label(a, ignore=ignore) for a in (plain or logits)]
            else:
                targets = own
            terms["ss"] = cross_pseudo_loss_from_log_probs(log_probs, targets, cfg.pseudo_loss_norm)
        if self.teachers:
            teacher_labels = [pseudo_label(t, cfg.threshold, ignore) for t in teacher_logits]
            terms["st"] = teacher_loss_from_log_probs(
                log_probs, teacher_labels, cfg.mutual_mean_teacher, cfg.pseudo_loss_norm
            )
        return terms

    def total_loss(self, terms: dict[str, torch.Tensor], progress: float) -> torch.Tensor:
        """Eq. 4: L = L_sup + alpha L_st + beta L_ss (the unlabeled terms ramped up over unsup_rampup)."""
        cfg = self.cfg
        ramp = sigmoid_rampup(progress, cfg.unsup_rampup)
        return terms["sup"] + ramp * (cfg.alpha * terms.get("st", 0.0) + cfg.beta * terms.get("ss", 0.0))


def weak_view_outputs(nets, views: Views, labeled: bool = False, features: bool = True) -> list[SegOutput]:
    """Each network on the weak view (forward only: no graph, no autograd bookkeeping), logits and
    features mixed with the students' CutMix mask (features as the release mixes them, with the
    nearest-resized mask; left unmixed when ``features`` is False). ``labeled``: each network's
    outputs on the labeled images first (consistency over labeled + unlabeled images)."""
    with torch.inference_mode():  # every weak-view forward first, then the labeled ones (dropout's draws)
        outs = [n(views.weak) for n in nets]
        if views.cut is not None:
            outs = [
                SegOutput(mix(o.logits, views.cut), mix(o.features, views.cut) if features else o.features)
                for o in outs
            ]
        if labeled:
            labs = [n(views.labeled) for n in nets]
            outs = [
                SegOutput(torch.cat([lab.logits, o.logits]), torch.cat([lab.features, o.features]))
                for lab, o in zip(labs, outs)
            ]
    return outs


def weak_view_logits(nets, views: Views, labeled: bool = False) -> list[torch.Tensor]:
    """The logits of :func:`weak_view_outputs`: the teachers' L_st targets and, with cps_targets
    weak_view, L_ss's."""
    return [o.logits for o in weak_view_outputs(nets, views, labeled, features=False)]
