"""Cross pseudo supervision (CPS, Chen et al. 2021): two students, each learning the other's argmax.

CPS is MKD with only the ``co_training`` switch on (Table 3, first row), so it is the same code
(:mod:`mkdlib.methods.mkd`) under the ``cps`` preset of :data:`mkdlib.config.METHOD_PRESETS`.
Running both through one implementation is what makes the ablation a controlled one.
"""
from __future__ import annotations

from .mkd import MKD


class CPS(MKD):
    """MKD with ``co_training`` only: L = L_sup + beta * L_ss."""
