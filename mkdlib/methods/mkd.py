"""Mutual Knowledge Distillation (Sec. 3, Algorithm 1), with every Table 3 switch.

Two students (different initialisations) and, when a teacher switch is on, their EMA teachers.
Per step: update teachers (Eq. 1); teachers see the weak view of the unlabeled batch; students see
labeled + strong (CutMix) unlabeled images in ONE forward each (BatchNorm statistics over both,
as in CPS); the CutMix mask also mixes the teachers' logits. Feature augmentation (Eq. 3) turns
each student's logits into ISDA-augmented logits, using ground truth on labeled pixels and the
student's own argmax on unlabeled ones. Loss (Eq. 4):
    L = L_sup + alpha * L_st + beta * L_ss
L_st: teacher j supervises student i (j != i if mutual_mean_teacher, j = i if mean_teacher);
L_ss: the CPS cross supervision between the students (co_training).

Cost (docs/performance.md): the teachers run under inference_mode (no autograd state), the
students' input batch is concatenated once, each student's argmax is computed once (it labels
the feature statistics and is the partner's CPS target), and each student's unlabeled
log-softmax is computed once for both L_ss and L_st.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..data.transforms import cutmix_boxes, mix
from ..ema import ema_update, make_teacher
from ..losses import (ClassFeatureStats, feature_augment, isda_offsets, pseudo_label, ramp_cosine,
                      student_student_loss, supervised_students_loss, teacher_student_loss, total_loss)
from .base import Method


class MKD(Method):
    def __init__(self, cfg, num_classes, encoder_weights=None):
        super().__init__(cfg, num_classes, encoder_weights)
        self.students.extend(self.build_student(i) for i in range(2))
        if cfg.mean_teacher or cfg.mutual_mean_teacher:
            self.teachers.extend(make_teacher(s, cfg.gamma, cfg.ema_warmup) for s in self.students)
        self.feature_stats = torch.nn.ModuleList(
            ClassFeatureStats(num_classes, cfg.decoder_channels, cfg.fa_covariance)
            for _ in self.students) if cfg.feature_aug else torch.nn.ModuleList()

    def training_step(self, batch, progress, rng):
        cfg = self.cfg
        for teacher, student in zip(self.teachers, self.students):
            ema_update(teacher, student)
        x_l, y_l, x_w, ignore = batch["image"], batch["mask"], batch["image_weak"], batch["ignore"]
        n_l = len(x_l)
        x_u = batch["image_strong"] if cfg.strong_aug else x_w
        cut = (cutmix_boxes(len(x_u), *x_u.shape[-2:], generator=rng, device=x_u.device)
               if cfg.strong_aug and cfg.cutmix else None)
        if cut is not None:
            x_u, ignore = mix(x_u, cut), mix(ignore, cut)

        with torch.inference_mode():  # teachers: forward only, no graph, no autograd bookkeeping
            t_logits = [t(x_w).logits for t in self.teachers]
            if cut is not None:
                t_logits = [mix(t, cut) for t in t_logits]

        x = torch.cat([x_l, x_u])  # labeled + unlabeled in ONE forward per student (shared BN stats)
        outs = [s(x) for s in self.students]
        logits = [o.logits for o in outs]
        # each student's own argmax on its unlabeled images, computed once: it labels the feature
        # statistics (feature_aug) and is the partner's CPS target (co_training)
        own = [pseudo_label(l[n_l:], ignore=ignore) for l in logits] if (cfg.feature_aug or cfg.co_training) else []
        if cfg.feature_aug:
            lam = ramp_cosine(progress, cfg.fa_lambda)
            augmented = []
            for out, own_u, stats, student in zip(outs, own, self.feature_stats, self.students):
                labels = torch.cat([y_l, own_u])
                stats.update(out.features, labels)
                weight = student.classifier.weight.detach().flatten(1)
                augmented.append(feature_augment(out.logits, labels, isda_offsets(weight, stats.variance), lam))
        else:
            augmented = logits

        terms = {"sup": supervised_students_loss([a[:n_l] for a in augmented], y_l)}  # Eq. 5
        log_probs = [F.log_softmax(a[n_l:], dim=1) for a in augmented] if (cfg.co_training or self.teachers) else []
        if cfg.co_training:  # L_ss: CPS between the students
            targets = [pseudo_label(a[n_l:], ignore=ignore) for a in augmented] if cfg.pseudo_from_augmented else own
            terms["ss"] = student_student_loss(log_probs, targets)
        if self.teachers:  # L_st, Eq. 2: teacher j supervises student i
            targets = [pseudo_label(t, cfg.threshold, ignore) for t in t_logits]
            terms["st"] = teacher_student_loss(log_probs, targets, mutual=cfg.mutual_mean_teacher)
        loss = total_loss(terms, cfg.alpha, cfg.beta)  # Eq. 4
        return {"loss": loss, **{k: v.detach() for k, v in terms.items()}}
