"""mkdlib: Mutual Knowledge Distillation for semi-supervised semantic segmentation.

Small public API::

    from mkdlib import make_config, train, load_method
    result = train(make_config(method="mkd", split="1/16", iters=500))
"""

from .config import METHODS, Config, ConfigError, make_config, resolve
from .models import ModelSpec, SegmentationNet, build_model
from .trainer import RunResult, TrainingError, load_method, train

__version__ = "0.1.0"
__all__ = [
    "Config",
    "ConfigError",
    "METHODS",
    "make_config",
    "resolve",
    "build_model",
    "ModelSpec",
    "SegmentationNet",
    "train",
    "load_method",
    "RunResult",
    "TrainingError",
]
