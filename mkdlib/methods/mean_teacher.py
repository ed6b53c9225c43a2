"""Mean teacher: one student, its own EMA teacher; the teacher's argmax on the weak view
supervises the student's strong (CutMix) view."""

from __future__ import annotations

import torch

from ..data.transforms import cutmix_boxes, mix
from ..ema import ema_update, make_teacher
from ..losses import pseudo_label, pseudo_label_loss, sigmoid_rampup, supervised_loss
from .base import Method


class MeanTeacher(Method):
    def __init__(self, cfg, num_classes, encoder_weights=None):
        super().__init__(cfg, num_classes, encoder_weights)
        self.students.append(self.build_student(0))
        self.teachers.append(make_teacher(self.students[0], cfg.gamma, cfg.ema_warmup, cfg.teacher_bn_buffers))

    def training_step(self, batch, progress, rng):
        cfg, student, teacher = self.cfg, self.students[0], self.teachers[0]
        ema_update(teacher, student)
        x_l, y_l, x_w, ignore = batch["image"], batch["mask"], batch["image_weak"], batch["ignore"]
        x_s = batch["image_strong"] if cfg.strong_aug else x_w
        with torch.inference_mode():  # forward only: no graph, no autograd bookkeeping
            t_logits = teacher(x_w).logits
        if cfg.strong_aug and cfg.cutmix:  # CutMix the student's view, and the teacher's logits with the same mask
            m = cutmix_boxes(len(x_s), *x_s.shape[-2:], generator=rng, device=x_s.device)
            x_s, t_logits, ignore = mix(x_s, m), mix(t_logits, m), mix(ignore, m)
        target = pseudo_label(t_logits, cfg.threshold, ignore)
        logits = self.labeled_and_unlabeled(student, x_l, x_s).logits
        sup = supervised_loss(logits[: len(x_l)], y_l)
        unsup = pseudo_label_loss(logits[len(x_l) :], target, cfg.pseudo_loss_norm)
        return {
            "loss": sup + sigmoid_rampup(progress, cfg.unsup_rampup) * cfg.alpha * unsup,
            "sup": sup.detach(),
            "st": unsup.detach(),
        }
