"""RotNet (Gidaris et al., 2018): predict which of 4 rotations was applied to ``views[0]``."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from bgaug.core.config import check_positive
from bgaug.core.interfaces import LossOutput, ViewBatch
from bgaug.ssl_methods.heads import MLPHead, linear_head
from bgaug.ssl_methods.methods.base import Method, require

N_ROTATIONS = 4


@dataclass(frozen=True)
class RotNetConfig:
    hidden_dim: int = 0
    """0: a linear rotation classifier; > 0: an MLP head of that width."""

    def __post_init__(self) -> None:
        check_positive("hidden_dim", self.hidden_dim, allow_zero=True)


class RotNet(Method):
    """4-way rotation classification; the rotations come from the view pipeline (``ViewBatch.rotations``)."""

    name = "rotnet"

    def __init__(
        self, backbone: nn.Module, feature_dim: int, config: RotNetConfig, *, arch: str, small_stem: bool
    ):
        super().__init__(backbone, feature_dim, arch=arch, small_stem=small_stem)
        self.config = config
        self.head: nn.Module = (
            MLPHead(feature_dim, config.hidden_dim, N_ROTATIONS)
            if config.hidden_dim
            else linear_head(feature_dim, N_ROTATIONS)
        )

    def loss(self, batch: ViewBatch) -> LossOutput:
        rotations = require(batch.rotations, "rotations", self.name).long()
        if rotations.numel() and (int(rotations.min()) < 0 or int(rotations.max()) >= N_ROTATIONS):
            raise ValueError(f"rotations must lie in 0..{N_ROTATIONS - 1}")
        logits = self.head(self.backbone(batch.views[0]))
        loss = F.cross_entropy(logits.float(), rotations.to(logits.device))
        with torch.no_grad():
            accuracy = (logits.argmax(dim=1) == rotations.to(logits.device)).float().mean()
        return LossOutput(loss, {"accuracy": accuracy.detach()})
