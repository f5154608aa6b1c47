"""Published optimisation recipes per method, as ``TrainConfig`` defaults.

Learning rates are per 256 images (the loop scales by ``batch_size / 256``). Sources: MoCo-v2 (Chen et
al., 2020: SGD 0.03, wd 1e-4, cosine, all weights decayed), BYOL (Grill et al., 2020: LARS 0.2, wd
1.5e-6, 10-epoch warm-up, cosine), SwAV (Caron et al., 2020: LARS 0.6, wd 1e-6, cosine to 0.1 %),
SimCLR (Chen et al., 2020: LARS 0.3, wd 1e-6, 10-epoch warm-up), RotNet (Gidaris et al., 2018: SGD
0.1, wd 5e-4, step decay) and the supervised baseline (Goyal et al., 2017: SGD 0.1, wd 1e-4, 5-epoch
warm-up, step at 30/60/80 of 90 epochs, no decay on biases and BN).
"""

from __future__ import annotations

from typing import Any

from bgaug.core.config import config_from_dict, config_to_dict
from bgaug.ssl_methods.registry import method_options
from bgaug.ssl_methods.training import TrainConfig

RECIPES: dict[str, dict[str, Any]] = {
    "moco_v2": {
        "epochs": 200,
        "optimizer": "sgd",
        "base_lr": 0.03,
        "weight_decay": 1e-4,
        "exclude_bias_and_norm": False,
        "schedule": "cosine",
    },
    "byol": {
        "epochs": 300,
        "optimizer": "lars",
        "base_lr": 0.2,
        "weight_decay": 1.5e-6,
        "warmup_epochs": 10,
        "schedule": "cosine",
    },
    "swav": {
        "epochs": 200,
        "optimizer": "lars",
        "base_lr": 0.6,
        "weight_decay": 1e-6,
        "schedule": "cosine",
        "final_lr_fraction": 0.001,
    },
    "simclr": {
        "epochs": 200,
        "optimizer": "lars",
        "base_lr": 0.3,
        "weight_decay": 1e-6,
        "warmup_epochs": 10,
        "schedule": "cosine",
    },
    "rotnet": {
        "epochs": 35,
        "optimizer": "sgd",
        "base_lr": 0.1,
        "weight_decay": 5e-4,
        "schedule": "step",
        "milestones": (10, 20, 30),
    },
    "supervised": {
        "epochs": 90,
        "optimizer": "sgd",
        "base_lr": 0.1,
        "weight_decay": 1e-4,
        "warmup_epochs": 5,
        "schedule": "step",
        "milestones": (30, 60, 80),
    },
}


def recipe(method: str, **overrides: Any) -> TrainConfig:
    """The ``TrainConfig`` of ``method``'s published recipe, with ``overrides`` applied on top."""
    method_options(method)  # validates the name
    base = config_to_dict(TrainConfig())
    return config_from_dict(TrainConfig, {**base, **RECIPES[method], **overrides})
