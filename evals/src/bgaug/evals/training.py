"""The SGD loop shared by linear evaluation and fine-tuning: optimiser, schedule, epochs, progress."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import torch
from torch import Tensor, nn
from tqdm import tqdm

from bgaug.evals.recipes import Recipe


def optimizer_and_schedule(
    groups: Sequence[dict[str, object]], recipe: Recipe
) -> tuple[torch.optim.SGD, torch.optim.lr_scheduler.LRScheduler]:
    optimizer = torch.optim.SGD(
        list(groups),  # type: ignore[arg-type]
        lr=float(groups[0]["lr"]),  # type: ignore[arg-type]
        momentum=recipe.momentum,
        nesterov=recipe.nesterov and recipe.momentum > 0,
        weight_decay=recipe.weight_decay,
    )
    schedule: torch.optim.lr_scheduler.LRScheduler
    if recipe.schedule == "cosine":
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=recipe.epochs)
    else:
        schedule = torch.optim.lr_scheduler.MultiStepLR(
            optimizer, list(recipe.milestones), gamma=recipe.gamma
        )
    return optimizer, schedule


def fit(
    model: Callable[[Tensor], Tensor],
    params: Sequence[dict[str, object]],
    epoch_batches: Callable[[int], Iterable[tuple[Tensor, Tensor]]],
    recipe: Recipe,
    *,
    epochs: int | None = None,
    desc: str = "train",
    progress: bool = True,
    on_epoch_start: Callable[[int], None] | None = None,
) -> list[float]:
    """Cross-entropy SGD over ``epoch_batches(epoch)``; returns the mean loss of each epoch."""
    optimizer, schedule = optimizer_and_schedule(params, recipe)
    criterion = nn.CrossEntropyLoss()
    losses: list[float] = []
    for epoch in tqdm(range(epochs or recipe.epochs), desc=desc, disable=not progress, leave=False):
        if on_epoch_start is not None:
            on_epoch_start(epoch)
        total, count = 0.0, 0
        for x, y in epoch_batches(epoch):
            loss = criterion(model(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(y)
            count += len(y)
        schedule.step()
        losses.append(total / max(count, 1))
    return losses
