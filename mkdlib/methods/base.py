"""What every method shares: its networks live in one nn.Module, so one ``state_dict`` (students,
teachers, feature statistics) is the whole training state besides the optimiser, and DDP can wrap it.

A method *is* its training step: ``forward(batch, progress, rng) -> {"loss": ..., other terms}``.
The shared trainer (mkdlib.trainer) does everything else.
"""

from __future__ import annotations

import torch
from torch import nn

from ..config import Config
from ..models import SegmentationNet, SegOutput, build_model


def batch_norm_mode(net: nn.Module, batch_stats: bool, dropout: bool = False) -> None:
    """``net`` in eval mode except its BatchNorm layers, which use batch statistics (and update
    their running ones) when ``batch_stats``: a teacher or a target forward that needs batch
    statistics without turning on the head's dropout (``Module.train()`` would). ``dropout``:
    the whole module in train mode instead (how runs stored before ``teacher_dropout`` existed
    were trained)."""
    if batch_stats and dropout:
        net.train()
        return
    net.eval()
    if batch_stats:
        for m in net.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.train()


class Method(nn.Module):
    """Base class: ``students`` (trained), ``teachers`` (EMA, never back-propagated)."""

    #: the dataset's class names, set by the trainer and kept in checkpoints (prediction needs no dataset)
    class_names: tuple[str, ...] | None = None

    def __init__(self, cfg: Config, num_classes: int, encoder_weights: str | None = None):
        super().__init__()
        self.cfg, self.num_classes, self.encoder_weights = cfg, num_classes, encoder_weights
        self.students = nn.ModuleList()
        self.teachers = nn.ModuleList()

    def build_student(self, index: int) -> SegmentationNet:
        """Students differ only by the seed of their random initialisation (pretrained encoder
        weights, when given, are shared: then only the decoders differ, as in CPS)."""
        return build_model(
            self.cfg.model_spec(self.num_classes, self.encoder_weights), seed=self.cfg.seed * 1000 + index
        )

    def train(self, mode: bool = True) -> Method:
        super().train(mode)
        for t in self.teachers:  # teachers: eval mode, or batch statistics (BatchNorm alone) when asked
            batch_norm_mode(t, mode and self.cfg.teacher_bn_train, dropout=self.cfg.teacher_dropout)
        return self

    def labeled_and_unlabeled(self, net: nn.Module, labeled: torch.Tensor, unlabeled: torch.Tensor) -> SegOutput:
        """``net`` on the labeled and the unlabeled images, labeled first: in one forward
        (``student_forward: joint``, BatchNorm statistics over both) or two (``separate``, each
        subset its own, as Algorithm 1, CPS and the MKD release)."""
        if self.cfg.student_forward == "joint":
            return net(torch.cat([labeled, unlabeled]))
        lab, unl = net(labeled), net(unlabeled)
        return SegOutput(torch.cat([lab.logits, unl.logits]), torch.cat([lab.features, unl.features]))

    def eval_model(self) -> nn.Module:
        """The network that is evaluated (student 1, as in the released code, or teacher 1)."""
        if self.cfg.eval_model == "teacher1":
            return self.teachers[0].module
        return self.students[0]

    def forward(self, batch: dict, progress: float, rng: torch.Generator | None = None) -> dict:
        return self.training_step(batch, progress, rng)

    def training_step(self, batch: dict, progress: float, rng: torch.Generator | None) -> dict:
        raise NotImplementedError
