"""BYOL (Grill et al., 2020): online network predicts an EMA target network's projection."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from bgaug.core.config import check_positive, check_range
from bgaug.core.interfaces import LossOutput, TrainProgress, ViewBatch
from bgaug.ssl_methods.heads import MLPHead
from bgaug.ssl_methods.losses import byol_loss
from bgaug.ssl_methods.methods.base import Method, encode_views
from bgaug.ssl_methods.momentum import cosine_momentum, ema_update, frozen_copy


@dataclass(frozen=True)
class ByolConfig:
    hidden_dim: int = 4096
    out_dim: int = 256
    base_momentum: float = 0.99
    # Where the cosine schedule ends (1 in BYOL's paper: the target freezes by the last step). In a
    # run of a few thousand steps a frozen target stops the bootstrapping while it still pays; the CPU
    # recipe keeps it constant (final = base; docs/science.md).
    final_momentum: float = 1.0
    # The predictor's learning rate over the rest's (1 in BYOL's paper). A predictor that keeps up
    # with the projector is what BYOL's bootstrapping relies on (Tian et al., 2021, DirectPred); in
    # the few thousand steps of a CPU run a 10x rate formed features where 1x did not (docs/science.md).
    predictor_lr_scale: float = 1.0
    # A BatchNorm (no affine) on the projector's output, as SimSiam's projector has; BYOL's paper has
    # none. At CPU scale it kept BYOL's features from collapsing into a few directions (docs/science.md).
    projector_last_bn: bool = False

    def __post_init__(self) -> None:
        check_positive("hidden_dim", self.hidden_dim)
        check_positive("out_dim", self.out_dim)
        check_range("base_momentum", self.base_momentum, 0.0, 1.0)
        check_range("final_momentum", self.final_momentum, self.base_momentum, 1.0)
        check_positive("predictor_lr_scale", self.predictor_lr_scale)


class Byol(Method):
    """Projector and predictor MLPs with batch norm; target decay from ``base_momentum`` to
    ``final_momentum`` (cosine; the paper's 0.99 -> 1).

    The CPU recipe (``recipes.CPU_METHOD_OPTIONS``) adds a BatchNorm after the projector and a faster
    predictor, and keeps the target momentum constant; the defaults are the paper's."""

    name = "byol"

    def __init__(
        self, backbone: nn.Module, feature_dim: int, config: ByolConfig, *, arch: str, small_stem: bool
    ):
        super().__init__(backbone, feature_dim, arch=arch, small_stem=small_stem)
        self.config = config
        self.projector = MLPHead(
            feature_dim, config.hidden_dim, config.out_dim, last_bn=config.projector_last_bn
        )
        self.predictor = MLPHead(config.out_dim, config.hidden_dim, config.out_dim)
        self.target = frozen_copy(nn.Sequential(self.backbone, self.projector))

    def online(self) -> nn.Sequential:
        return nn.Sequential(self.backbone, self.projector, self.predictor)

    def loss(self, batch: ViewBatch) -> LossOutput:
        if batch.n_global < 2:
            raise ValueError("byol needs two global views")
        v1, v2 = batch.views[0], batch.views[1]
        p1, p2 = encode_views(self.online(), [v1, v2])
        with torch.no_grad():
            z1, z2 = encode_views(self.target, [v1, v2])
        loss = byol_loss((p1, p2), (z1, z2))
        return LossOutput(loss, {})

    def lr_scales(self) -> dict[str, float]:
        scale = self.config.predictor_lr_scale
        return {"predictor": scale} if scale != 1.0 else {}

    def on_step_end(self, progress: TrainProgress) -> None:
        tau = cosine_momentum(self.config.base_momentum, progress.fraction, self.config.final_momentum)
        ema_update(self.target, nn.Sequential(self.backbone, self.projector), tau)
