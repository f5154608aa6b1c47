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

    def __post_init__(self) -> None:
        check_positive("hidden_dim", self.hidden_dim)
        check_positive("out_dim", self.out_dim)
        check_range("base_momentum", self.base_momentum, 0.0, 1.0)


class Byol(Method):
    """Projector and predictor MLPs with batch norm; target decay from ``base_momentum`` to 1 (cosine)."""

    name = "byol"

    def __init__(
        self, backbone: nn.Module, feature_dim: int, config: ByolConfig, *, arch: str, small_stem: bool
    ):
        super().__init__(backbone, feature_dim, arch=arch, small_stem=small_stem)
        self.config = config
        self.projector = MLPHead(feature_dim, config.hidden_dim, config.out_dim)
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

    def on_step_end(self, progress: TrainProgress) -> None:
        tau = cosine_momentum(self.config.base_momentum, progress.fraction)
        ema_update(self.target, nn.Sequential(self.backbone, self.projector), tau)
