"""BatchNorm adaptation (Schneider et al. 2020; paper appendix C.8).

Re-estimate every BatchNorm layer's running mean and variance on the evaluation data itself (a
cumulative average over all its images, ``momentum=None``), then evaluate with those statistics.
The model passed in is left untouched; a copy is adapted.
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.utils.data import Dataset

from bgaug.evals.batching import batches
from bgaug.evals.datasets import Sample
from bgaug.evals.options import EvalOptions


def adapt_batchnorm(
    model: nn.Module, dataset: Dataset[Sample], options: EvalOptions, *, max_images: int | None = None
) -> nn.Module:
    """A copy of ``model`` whose BatchNorm statistics are those of ``dataset`` (readable images only)."""
    adapted = copy.deepcopy(model).to(options.device).eval()
    norms = [m for m in adapted.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        raise ValueError("BN adaptation: the model has no BatchNorm layers")
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average: every image counts equally
        m.train()
    seen = 0
    with torch.no_grad(), options.autocast():
        for images, _, ok, _ in batches(dataset, options, "bn adapt"):
            x = images[ok.to(images.device)]
            if max_images is not None:
                x = x[: max_images - seen]
            if len(x) < 2:
                continue
            adapted(x)
            seen += len(x)
            if max_images is not None and seen >= max_images:
                break
    return adapted.eval()
