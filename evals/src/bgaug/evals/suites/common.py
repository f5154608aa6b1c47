"""Small helpers shared by the suites: output size of a classifier, and one result record."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from bgaug.core.interfaces import Preprocess
from bgaug.evals.inference import Outcome


def preprocess_of(model: nn.Module) -> Preprocess:
    pre = getattr(model, "preprocess", None)
    return pre if isinstance(pre, Preprocess) else Preprocess()


def num_logits(model: nn.Module) -> int:
    """How many logits ``model`` produces (its linear head's size, else one probe forward)."""
    head = getattr(model, "head", None)
    if isinstance(head, nn.Linear):
        return int(head.out_features)
    crop = preprocess_of(model).crop
    param = next(model.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    was_training = model.training
    model.eval()
    with torch.inference_mode():
        out = model(torch.zeros(1, 3, crop, crop, device=device))
    model.train(was_training)
    return int(out.shape[1])


def record(outcome: Outcome, **extra: Any) -> dict[str, Any]:
    """The JSON record of one evaluated set: top-1 (%), counts and the unreadable files."""
    return {
        "top1": outcome.top1,
        "n": len(outcome.labels),
        "n_unreadable": len(outcome.unreadable),
        "unreadable": outcome.unreadable,
        **extra,
    }
