"""bgaug.ssl_methods: MoCo-v2, BYOL, SwAV, RotNet, SimCLR and a supervised baseline, built to take
background augmentations (``ViewBatch`` from bgaug.core), with a single-process training loop.

``build_method(name, ...)`` builds a method; ``training.train`` trains it; ``python -m
bgaug.ssl_methods bench`` measures step speed.
"""

from bgaug.ssl_methods.methods.base import Method
from bgaug.ssl_methods.recipes import recipe
from bgaug.ssl_methods.registry import METHODS, build_method, method_options
from bgaug.ssl_methods.training import TrainConfig, TrainHooks, TrainingDivergedError, TrainResult, train

__all__ = [
    "METHODS",
    "Method",
    "TrainConfig",
    "TrainHooks",
    "TrainResult",
    "TrainingDivergedError",
    "build_method",
    "method_options",
    "recipe",
    "train",
]
