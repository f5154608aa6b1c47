"""FGSM robustness (Goodfellow et al. 2015) via foolbox: l_inf, eps = 8/255 in [0, 1] pixel space.

The classifier normalises inside (``bgaug.core.Classifier``), so foolbox attacks the image a person
sees with bounds (0, 1). Reported: top-1 (%) on the clipped adversarial images and on the clean ones.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.utils.data import Dataset, Subset
from tqdm import tqdm

from bgaug.core.config import check_range
from bgaug.evals.datasets import Sample
from bgaug.evals.inference import EvalOptions, item_paths, loader

EPSILON = 8 / 255


def fgsm_accuracy(
    model: nn.Module,
    dataset: Dataset[Sample],
    options: EvalOptions,
    *,
    epsilon: float = EPSILON,
    limit: int | None = None,
) -> dict[str, Any]:
    """Clean and adversarial top-1 (%) under foolbox's FGSM at ``epsilon`` (l_inf, [0, 1] bounds)."""
    from foolbox.attacks.fast_gradient_method import LinfFastGradientAttack
    from foolbox.models.pytorch import PyTorchModel

    check_range("epsilon", epsilon, 0.0, 1.0)
    source = dataset
    if limit is not None:
        dataset = Subset(dataset, range(min(limit, len(dataset))))  # type: ignore[arg-type]
    model = model.to(options.device).eval()
    fmodel = PyTorchModel(model, bounds=(0.0, 1.0), device=options.device)
    attack = LinfFastGradientAttack()  # foolbox's FGSM
    clean = adversarial = total = 0
    unreadable: list[int] = []
    for images, labels, ok, index in tqdm(
        loader(dataset, options), desc="fgsm", disable=not options.progress, leave=False
    ):
        unreadable.extend(index[~ok].tolist())
        if not bool(ok.any()):
            continue
        x = images[ok].to(options.device)
        y = labels[ok].to(options.device)
        _, clipped, _ = attack(fmodel, x, y, epsilons=epsilon)
        with torch.inference_mode():
            clean += int((model(x).argmax(1) == y).sum())
            adversarial += int((model(clipped).argmax(1) == y).sum())
        total += int(y.numel())
    if total == 0:
        raise ValueError("FGSM: no readable images")
    return {
        "epsilon": epsilon,
        "top1": 100.0 * adversarial / total,
        "clean_top1": 100.0 * clean / total,
        "n": total,
        "n_unreadable": len(unreadable),
        "unreadable": item_paths(source, unreadable),
    }
