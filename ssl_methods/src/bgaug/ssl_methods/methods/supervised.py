"""The supervised baseline (Goyal et al., 2017 recipe): cross-entropy on ``ViewBatch.labels``.

The recipe's other parts live elsewhere: zero-initialised last BN gamma in each residual block
(``build_method``), linear LR scaling, 5-epoch warm-up, step decay at 30/60/80 and no weight decay on
biases and BN (``recipes`` / ``training``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from bgaug.core.config import check_positive
from bgaug.core.interfaces import LossOutput, ViewBatch
from bgaug.ssl_methods.heads import linear_head
from bgaug.ssl_methods.methods.base import Method, require


@dataclass(frozen=True)
class SupervisedConfig:
    num_classes: int = 1000

    def __post_init__(self) -> None:
        check_positive("num_classes", self.num_classes)


class Supervised(Method):
    name = "supervised"

    def __init__(
        self, backbone: nn.Module, feature_dim: int, config: SupervisedConfig, *, arch: str, small_stem: bool
    ):
        super().__init__(backbone, feature_dim, arch=arch, small_stem=small_stem)
        self.config = config
        self.fc = linear_head(feature_dim, config.num_classes)

    @property
    def export_head(self) -> nn.Linear:
        return self.fc

    def loss(self, batch: ViewBatch) -> LossOutput:
        labels = require(batch.labels, "labels", self.name).long()
        logits = self.fc(self.backbone(batch.views[0]))
        labels = labels.to(logits.device)
        if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= self.config.num_classes):
            raise ValueError(f"labels must lie in 0..{self.config.num_classes - 1}")
        loss = F.cross_entropy(logits.float(), labels)
        with torch.no_grad():
            accuracy = (logits.argmax(dim=1) == labels).float().mean()
        return LossOutput(loss, {"accuracy": accuracy.detach()})
