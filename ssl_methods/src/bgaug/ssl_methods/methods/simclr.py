"""SimCLR (Chen et al., 2020) with BG_Swaps' matched negatives joining the in-batch negatives.

The paper leaves this as future work: a method with in-batch negatives can take the matched
negatives (query background, another image's foreground) as extra negatives for every anchor.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from bgaug.core.config import check_positive
from bgaug.core.interfaces import LossOutput, ViewBatch
from bgaug.ssl_methods.distributed import gather_with_grad, world
from bgaug.ssl_methods.heads import MLPHead
from bgaug.ssl_methods.losses import nt_xent
from bgaug.ssl_methods.methods.base import Method


@dataclass(frozen=True)
class SimclrConfig:
    hidden_dim: int = 2048
    out_dim: int = 128
    temperature: float = 0.1

    def __post_init__(self) -> None:
        check_positive("hidden_dim", self.hidden_dim)
        check_positive("out_dim", self.out_dim)
        check_positive("temperature", self.temperature)


class Simclr(Method):
    name = "simclr"

    def __init__(
        self, backbone: nn.Module, feature_dim: int, config: SimclrConfig, *, arch: str, small_stem: bool
    ):
        super().__init__(backbone, feature_dim, arch=arch, small_stem=small_stem)
        self.config = config
        self.projector = MLPHead(feature_dim, config.hidden_dim, config.out_dim)

    def embed(self, x: Tensor) -> Tensor:
        return F.normalize(self.projector(self.backbone(x)), dim=1)

    def loss(self, batch: ViewBatch) -> LossOutput:
        if len(batch.views) < 2:
            raise ValueError("simclr needs two views")
        v1, v2 = batch.views[0], batch.views[1]
        b = v1.shape[0]
        inputs = [v1, v2]
        if batch.matched_negatives is not None and batch.matched_negatives.shape[0]:
            inputs.append(batch.matched_negatives)
        z = self.embed(torch.cat(inputs, dim=0))
        extra = z[2 * b :] if z.shape[0] > 2 * b else None
        z1, z2 = z[:b], z[b : 2 * b]
        # Under DDP every anchor also scores every other worker's views (SimCLR's global batch);
        # matched negatives stay with their worker (their count differs between workers).
        rank, _ = world()
        loss = nt_xent(
            z1,
            z2,
            extra,
            self.config.temperature,
            all_z1=gather_with_grad(z1),
            all_z2=gather_with_grad(z2),
            offset=rank * b,
        )
        return LossOutput(loss, {"extra_negatives": float(0 if extra is None else extra.shape[0])})
