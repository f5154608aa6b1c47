"""What every method shares: a backbone, ``forward == loss`` and crop-grouped encoding."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from bgaug.core.interfaces import LossOutput, TrainProgress, ViewBatch


class Method(nn.Module):
    """Base of all methods; implements core's ``SSLMethod`` Protocol.

    ``forward(batch)`` is ``loss(batch)`` so that DDP (or Ray Train's ``prepare_model``) can wrap the
    whole method. Subclasses set ``name`` and implement ``loss``; ``on_step_end`` runs after each
    optimiser step (momentum encoders, schedules); ``lr_scales`` gives submodules their own
    learning-rate multiplier (BYOL's predictor). ``export_head`` is the linear head a backbone
    checkpoint should carry (the supervised baseline's classifier), if any.
    """

    name: str = "method"

    def __init__(self, backbone: nn.Module, feature_dim: int, *, arch: str, small_stem: bool):
        super().__init__()
        self.backbone = backbone
        self.feature_dim = feature_dim
        self.arch = arch
        self.small_stem = small_stem

    def forward(self, batch: ViewBatch) -> LossOutput:
        return self.loss(batch)

    def loss(self, batch: ViewBatch) -> LossOutput:
        raise NotImplementedError

    def on_step_end(self, progress: TrainProgress) -> None:
        """Nothing by default."""

    def lr_scales(self) -> dict[str, float]:
        """Learning-rate multipliers by submodule name (``named_modules``); the rest train at 1."""
        return {}

    @property
    def export_head(self) -> nn.Linear | None:
        return None


def encode_views(encoder: Callable[[Tensor], Tensor], views: Sequence[Tensor]) -> list[Tensor]:
    """Run ``encoder`` once per resolution (multi-crop) and return one output per view, in order."""
    outputs: list[Tensor | None] = [None] * len(views)
    start = 0
    while start < len(views):
        end = start
        while end < len(views) and views[end].shape[-2:] == views[start].shape[-2:]:
            end += 1
        out = encoder(torch.cat(list(views[start:end]), dim=0))
        for i, chunk in enumerate(out.chunk(end - start, dim=0)):
            outputs[start + i] = chunk
        start = end
    return [o for o in outputs if o is not None]


def require(value: Tensor | None, what: str, method: str) -> Tensor:
    """The ``ViewBatch`` field a method cannot do without, or a clear error."""
    if value is None:
        raise ValueError(f"{method} needs ViewBatch.{what}, which this batch does not carry")
    return value
