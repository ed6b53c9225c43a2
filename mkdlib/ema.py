"""Mean teachers: an EMA of a student's weights (Eq. 1), via torch's AveragedModel.

``gamma`` is the weight of the *old teacher*: theta_t <- gamma * theta_t + (1 - gamma) * theta_s.
The paper writes Eq. 1 this way and reports gamma = 0.4 as best (Table 4); the released code keeps
0.6 of the teacher (m = min(1 - 1/t, 0.6)), i.e. gamma = 0.6 in this convention. With
``warmup=True`` the effective gamma at update t is min(1 - 1/t, gamma) as in that code, so early
teachers follow their fast-changing students. The first update copies the student.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel


def ema_gamma(update: int, gamma: float, warmup: bool = True) -> float:
    """Effective teacher weight at the ``update``-th EMA update (1-based)."""
    return min(1.0 - 1.0 / update, gamma) if warmup else gamma


def ema_multi_avg_fn(gamma: float, warmup: bool = True):
    """``multi_avg_fn`` for AveragedModel: teacher <- g * teacher + (1 - g) * student, fused.

    AveragedModel hands over one list per device and dtype; integer buffers (BatchNorm's batch
    counter) are copied from the student.
    """

    def avg(teachers: list[torch.Tensor], students: list[torch.Tensor], num_averaged: torch.Tensor) -> None:
        g = ema_gamma(int(num_averaged) + 1, gamma, warmup)  # AveragedModel counts from 0
        if teachers[0].is_floating_point():
            torch._foreach_lerp_(teachers, students, 1.0 - g)
        else:
            torch._foreach_copy_(teachers, students)

    return avg


def make_teacher(student: nn.Module, gamma: float, warmup: bool = True) -> AveragedModel:
    """A frozen EMA copy of ``student``. BatchNorm running statistics are averaged like weights."""
    teacher = AveragedModel(student, multi_avg_fn=ema_multi_avg_fn(gamma, warmup), use_buffers=True)
    for p in teacher.parameters():
        p.requires_grad_(False)
    return teacher


@torch.no_grad()
def ema_update(teacher: AveragedModel, student: nn.Module) -> None:
    """One EMA step of Eq. 1 (the first call copies the student, as Algorithm 1 initialises)."""
    teacher.update_parameters(student)
