"""Optimisers (SGD, LARS, AdamW) with bias / norm exclusions, and the learning-rate schedule."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import torch
from torch import nn
from torch.optim import Optimizer

from bgaug.core.errors import UsageError


def param_groups(
    model: nn.Module,
    weight_decay: float,
    *,
    exclude_bias_and_norm: bool = True,
    lr_scales: Mapping[str, float] | None = None,
) -> list[dict[str, Any]]:
    """Trainable parameters split into a decayed group and (optionally) an excluded one.

    Biases and normalisation weights (every parameter with ndim <= 1) get no weight decay and no LARS
    adaptation, as in Goyal et al. (2017) and BYOL / SwAV. ``lr_scales`` maps a submodule's name
    (``model.named_modules()``) to a learning-rate multiplier: its parameters get their own groups,
    whose ``lr_scale`` the training loop multiplies into the scheduled rate.
    """
    scales = dict(lr_scales or {})
    modules = dict(model.named_modules())
    unknown = sorted(set(scales) - set(modules))
    if unknown:
        raise ValueError(f"lr_scales names no submodule of the model: {', '.join(unknown)}")
    scale_of: dict[int, float] = {}
    for name, scale in scales.items():
        if not (math.isfinite(scale) and scale > 0):
            raise ValueError(f"lr scale of {name!r} must be a finite number > 0, got {scale}")
        for p in modules[name].parameters():
            scale_of[id(p)] = scale
    grouped: dict[tuple[bool, float], list[nn.Parameter]] = {}
    for p in model.parameters():
        if not p.requires_grad:
            continue
        excluded = exclude_bias_and_norm and p.ndim <= 1
        grouped.setdefault((excluded, scale_of.get(id(p), 1.0)), []).append(p)
    groups: list[dict[str, Any]] = [
        {
            "params": grouped.pop((False, 1.0), []),
            "weight_decay": weight_decay,
            "lars_adapt": True,
            "lr_scale": 1.0,
        }
    ]
    for (excluded, scale), params in grouped.items():
        groups.append(
            {
                "params": params,
                "weight_decay": 0.0 if excluded else weight_decay,
                "lars_adapt": not excluded,
                "lr_scale": scale,
            }
        )
    return groups


class LARS(Optimizer):
    """Layer-wise adaptive rate scaling (You et al., 2017) on top of SGD with momentum.

    Hand-written because torch ships no LARS. Per parameter tensor: ``u = g + wd * w``; if the group
    adapts, ``u *= eta * ||w|| / ||u||`` (1 where either norm is 0); then ``v = m * v + u`` and
    ``w -= lr * v``. Groups with ``lars_adapt=False`` (biases, norms) are plain SGD with momentum.
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float,
        momentum: float = 0.9,
        weight_decay: float = 0.0,
        eta: float = 0.001,
    ):
        if lr < 0 or momentum < 0 or weight_decay < 0 or eta <= 0:
            raise ValueError(f"bad LARS settings: lr={lr}, momentum={momentum}, wd={weight_decay}, eta={eta}")
        defaults = {
            "lr": lr,
            "momentum": momentum,
            "weight_decay": weight_decay,
            "eta": eta,
            "lars_adapt": True,
        }
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                update = (
                    p.grad.add(p, alpha=group["weight_decay"]) if group["weight_decay"] else p.grad.clone()
                )
                if group["lars_adapt"]:
                    w_norm = torch.linalg.vector_norm(p)
                    u_norm = torch.linalg.vector_norm(update)
                    ratio = torch.where(
                        (w_norm > 0) & (u_norm > 0), group["eta"] * w_norm / u_norm, torch.ones_like(w_norm)
                    )
                    update.mul_(ratio)
                state = self.state[p]
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = update
                else:
                    state["momentum_buffer"].mul_(group["momentum"]).add_(update)
                p.add_(state["momentum_buffer"], alpha=-group["lr"])
        return loss


OPTIMIZERS = ("sgd", "lars", "adamw")
SCHEDULES = ("cosine", "step", "constant")


def build_optimizer(
    model: nn.Module,
    name: str,
    *,
    lr: float,
    momentum: float,
    weight_decay: float,
    exclude_bias_and_norm: bool = True,
    lars_eta: float = 0.001,
    lr_scales: Mapping[str, float] | None = None,
) -> Optimizer:
    groups = param_groups(
        model, weight_decay, exclude_bias_and_norm=exclude_bias_and_norm, lr_scales=lr_scales
    )
    if not any(group["params"] for group in groups):
        raise ValueError("the model has no trainable parameters")
    if name == "sgd":
        # torch's SGD ignores the extra "lars_adapt" key.
        return torch.optim.SGD(groups, lr=lr, momentum=momentum, weight_decay=weight_decay)
    if name == "lars":
        return LARS(groups, lr=lr, momentum=momentum, weight_decay=weight_decay, eta=lars_eta)
    if name == "adamw":
        # Decoupled weight decay (Loshchilov & Hutter); with weight_decay 0 it is Adam. ``momentum``
        # does not apply (Adam's betas stay at torch's defaults).
        return torch.optim.AdamW(groups, lr=lr, weight_decay=weight_decay)
    raise UsageError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {name!r}")


def learning_rate(
    step: int,
    *,
    peak_lr: float,
    steps_per_epoch: int,
    epochs: int,
    warmup_epochs: float = 0.0,
    schedule: str = "cosine",
    milestones: Sequence[int] = (),
    decay: float = 0.1,
    final_fraction: float = 0.0,
) -> float:
    """The learning rate for (0-based) optimiser step ``step``.

    Linear warm-up from ~0 to ``peak_lr`` over ``warmup_epochs``, then cosine decay to
    ``final_fraction * peak_lr`` at the end, multiplication by ``decay`` at each milestone epoch
    (``step``), or ``peak_lr`` throughout (``constant``).
    """
    total = steps_per_epoch * epochs
    warmup = round(warmup_epochs * steps_per_epoch)
    if step < warmup:
        return peak_lr * (step + 1) / warmup
    if schedule == "cosine":
        progress = (step - warmup) / max(total - warmup, 1)
        floor = final_fraction * peak_lr
        return floor + (peak_lr - floor) * 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))
    if schedule == "step":
        epoch = step // steps_per_epoch
        return peak_lr * decay ** sum(1 for m in milestones if epoch >= m)
    if schedule == "constant":
        return peak_lr
    raise UsageError(f"schedule must be one of {', '.join(SCHEDULES)}, got {schedule!r}")
