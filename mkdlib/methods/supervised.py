"""Supervised-only baseline: one network, labeled images, cross entropy."""

from __future__ import annotations

from ..losses import supervised_loss
from .base import Method


class Supervised(Method):
    def __init__(self, cfg, num_classes, encoder_weights=None):
        super().__init__(cfg, num_classes, encoder_weights)
        self.students.append(self.build_student(0))

    def training_step(self, batch, progress, rng):
        logits = self.students[0](batch["image"]).logits
        loss = supervised_loss(logits, batch["mask"])
        return {"loss": loss, "sup": loss.detach()}
