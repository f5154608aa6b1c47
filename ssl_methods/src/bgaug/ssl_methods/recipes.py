"""Optimisation recipes per method, as ``TrainConfig`` defaults: the published ones (``paper``) and
one that forms features on a CPU in minutes (``cpu``).

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
from bgaug.core.errors import UsageError
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


CPU_RECIPES: dict[str, dict[str, Any]] = {
    method: {
        "optimizer": "adamw",
        "base_lr": 2e-3,  # per 256 images: Adam at 1e-3 for the recipe's batch of 128
        "weight_decay": 0.0,
        "schedule": "constant",
        "warmup_epochs": 0.0,
        "channels_last": True,  # oneDNN's faster convolution layout on CPU (~1.4x per step here)
    }
    for method in RECIPES
}
"""The CPU recipe's optimisation, found by measurement on the synthetic benchmark (docs/science.md,
"The CPU recipe"): Adam at 1e-3 for batch 128, no weight decay, constant rate. Within the few
thousand steps a CPU affords, it formed features where the published recipes (SGD / LARS tuned
for hundreds of ImageNet epochs) left every self-supervised model at random-weights accuracy; a
cosine decay and twice the rate both scored lower at 40 epochs."""

CPU_METHOD_OPTIONS: dict[str, dict[str, Any]] = {
    "moco_v2": {
        "hidden_dim": 256,
        "out_dim": 128,
        "queue_size": 1024,
        "momentum": 0.99,
        "temperature": 0.07,
        "bn_splits": 4,
    },
    "byol": {
        "hidden_dim": 512,
        "out_dim": 128,
        "base_momentum": 0.9,
        "final_momentum": 0.9,
        "predictor_lr_scale": 10.0,
        "projector_last_bn": True,
    },
    "simclr": {"hidden_dim": 256, "out_dim": 128, "temperature": 0.5},
    "swav": {"hidden_dim": 256, "out_dim": 128, "n_prototypes": 100},
}
"""Method settings of the CPU recipe (``build_method`` options; unlisted fields keep the paper's).
MoCo-v2: a queue of 1,024 keys (under half of the 2,700-image synthetic pretraining set, so an
image's previous key rarely sits in the queue as a negative) with key momentum 0.99, which act
within a thousand steps (the paper's 65,536 / 0.999 are sized for ImageNet); temperature 0.07
(MoCo v1's; 0.2 and 0.1 formed features more slowly); BatchNorm in 4 groups of 32 so a query and
its key do not share batch statistics on one device (``MocoConfig.bn_splits``). Heads are narrower
(256 hidden units) for a 64-feature backbone. BYOL: a constant target momentum of 0.9 (the paper's
0.99 -> 1 cosine schedule freezes the target by the last step, while a short run still gains from
bootstrapping), the predictor at 10x the learning rate, and a BatchNorm on the projector's output
(SimSiam's projector). Without them BYOL's features collapsed into a few
directions and stayed at random-weights accuracy for the first few thousand steps."""

TRAIN_RECIPES = ("paper", "cpu")
"""``paper``: each method's published recipe (``RECIPES``), its warm-up and milestones scaled to the
run's length; ``cpu``: ``CPU_RECIPES`` and ``CPU_METHOD_OPTIONS``."""


def recipe(method: str, name: str = "paper", **overrides: Any) -> TrainConfig:
    """The ``TrainConfig`` of ``method``'s recipe ``name`` (``TRAIN_RECIPES``), with ``overrides``
    applied on top."""
    method_options(method)  # validates the method
    if name not in TRAIN_RECIPES:
        raise UsageError(f"recipe must be one of {', '.join(TRAIN_RECIPES)}, got {name!r}")
    base = config_to_dict(TrainConfig())
    settings = RECIPES[method] if name == "paper" else {**RECIPES[method], **CPU_RECIPES[method]}
    return config_from_dict(TrainConfig, {**base, **settings, **overrides})


def recipe_method_options(method: str, name: str = "paper") -> dict[str, Any]:
    """The ``build_method`` options recipe ``name`` sets for ``method`` (none for ``paper``: the
    methods' own defaults are the papers')."""
    method_options(method)
    if name not in TRAIN_RECIPES:
        raise UsageError(f"recipe must be one of {', '.join(TRAIN_RECIPES)}, got {name!r}")
    return dict(CPU_METHOD_OPTIONS.get(method, {})) if name == "cpu" else {}
