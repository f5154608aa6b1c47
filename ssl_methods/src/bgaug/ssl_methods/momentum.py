"""Momentum (EMA) encoders: MoCo's key encoder and BYOL's target network."""

from __future__ import annotations

import copy
import math

import torch
from torch import Tensor, nn


def frozen_copy(module: nn.Module) -> nn.Module:
    """A deep copy that receives no gradients (updated only by ``ema_update``)."""
    clone = copy.deepcopy(module)
    for p in clone.parameters():
        p.requires_grad_(False)
    return clone


@torch.no_grad()
def ema_update(target: nn.Module, online: nn.Module, momentum: float) -> None:
    """theta_target <- m * theta_target + (1 - m) * theta_online, parameter by parameter."""
    t_params: list[Tensor] = list(target.parameters())
    o_params = [p.detach() for p in online.parameters()]
    if len(t_params) != len(o_params):
        raise ValueError("target and online networks have different parameter lists")
    torch._foreach_mul_(t_params, momentum)
    torch._foreach_add_(t_params, o_params, alpha=1.0 - momentum)


def cosine_momentum(base: float, fraction: float, final: float = 1.0) -> float:
    """BYOL's target decay: ``final - (final - base) * (cos(pi * fraction) + 1) / 2``, base -> final
    (BYOL's paper: final 1; ``final == base`` keeps it constant)."""
    fraction = min(max(fraction, 0.0), 1.0)
    return final - (final - base) * (math.cos(math.pi * fraction) + 1.0) / 2.0
