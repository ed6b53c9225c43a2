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


#: what a teacher's BatchNorm buffers (running mean / variance, batch counter) follow
TEACHER_BN_BUFFERS = ("ema", "copy", "own")


def make_teacher(student: nn.Module, gamma: float, warmup: bool = True, buffers: str = "ema") -> AveragedModel:
    """A frozen EMA copy of ``student``. ``buffers``: ``ema``, BatchNorm's running statistics are
    averaged like the weights; ``copy``, the student's are copied at every update (the teacher
    normalises as its student does now); ``own``, only parameters are averaged and the buffers are
    the teacher's own (copied at the first update; then updated only by the teacher's own forwards
    with BatchNorm in train mode, as in the MKD release)."""
    if buffers not in TEACHER_BN_BUFFERS:
        raise ValueError(f"buffers must be one of {', '.join(TEACHER_BN_BUFFERS)}, got {buffers!r}")
    teacher = AveragedModel(student, multi_avg_fn=ema_multi_avg_fn(gamma, warmup), use_buffers=buffers == "ema")
    teacher.ema_settings = (gamma, warmup, buffers)
    for p in teacher.parameters():
        p.requires_grad_(False)
    return teacher


@torch.no_grad()
def ema_update(teacher: AveragedModel, student: nn.Module) -> None:
    """One EMA step of Eq. 1 (the first call copies the student, buffers too, as Algorithm 1
    initialises).

    Teachers from :func:`make_teacher` take a fast path with the same arithmetic as
    ``AveragedModel.update_parameters``: one fused lerp over all floating tensors averaged and one
    copy of the rest, without its per-tensor detach/``to``/regrouping (about 4x faster for ~600
    small tensors on CPU, and no extra kernel launches on CUDA). Anything else falls back.
    """
    settings = getattr(teacher, "ema_settings", None)
    if settings is None:
        teacher.update_parameters(student)
        return
    gamma, warmup, buffers = settings
    mine_p, theirs_p = list(teacher.module.parameters()), list(student.parameters())
    mine_b, theirs_b = list(teacher.module.buffers()), list(student.buffers())
    if len(mine_p) != len(theirs_p) or len(mine_b) != len(theirs_b):
        raise ValueError(
            f"ema_update: the teacher has {len(mine_p)} parameters and {len(mine_b)} buffers, the student "
            f"{len(theirs_p)} and {len(theirs_b)}; a teacher must be made from its own student by make_teacher"
        )
    if any(t.device != s.device for t, s in zip(mine_p + mine_b, theirs_p + theirs_b)):
        theirs_p = [s.to(t.device) for t, s in zip(mine_p, theirs_p)]  # teacher kept on another device
        theirs_b = [s.to(t.device) for t, s in zip(mine_b, theirs_b)]
    n_done = int(teacher.n_averaged)
    if n_done == 0:
        torch._foreach_copy_(mine_p + mine_b, theirs_p + theirs_b)
    else:
        averaged = list(zip(mine_p, theirs_p)) + (list(zip(mine_b, theirs_b)) if buffers == "ema" else [])
        copied = list(zip(mine_b, theirs_b)) if buffers == "copy" else []
        floats = [(t, s) for t, s in averaged if t.is_floating_point()]
        copied += [(t, s) for t, s in averaged if not t.is_floating_point()]
        weight = 1.0 - ema_gamma(n_done + 1, gamma, warmup)
        if floats:
            torch._foreach_lerp_([t for t, _ in floats], [s for _, s in floats], weight)
        if copied:
            torch._foreach_copy_([t for t, _ in copied], [s for _, s in copied])
    teacher.n_averaged += 1
