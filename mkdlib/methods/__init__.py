"""Methods by name. Each file holds one method's training step."""

from __future__ import annotations

from ..config import Config, ConfigError
from ..registry import METHODS
from .base import Method
from .mean_teacher import MeanTeacher
from .mkd import MKD
from .supervised import Supervised

METHOD_CLASSES: dict[str, type[Method]] = {
    "supervised": Supervised,
    "mean_teacher": MeanTeacher,
    "cps": MKD,
    "cps_cutmix": MKD,
    "mkd": MKD,
    "mkd_release": MKD,
}  # cps, cps_cutmix, mkd_release: presets of MKD's switches and settings
assert tuple(METHOD_CLASSES) == METHODS, "mkdlib.registry and METHOD_CLASSES disagree"


def build_method(cfg: Config, num_classes: int, encoder_weights: str | None = None) -> Method:
    """The method named by ``cfg.method`` (cfg must be resolved: see mkdlib.config.resolve);
    ``encoder_weights``: the students' initial encoder (a file, 'imagenet' or None)."""
    try:
        cls = METHOD_CLASSES[cfg.method]
    except KeyError:
        raise ConfigError(f"method {cfg.method!r} is unknown; choose one of {', '.join(METHOD_CLASSES)}") from None
    return cls(cfg, num_classes, encoder_weights)


__all__ = ["Method", "build_method", "METHOD_CLASSES", "Supervised", "MeanTeacher", "MKD"]
