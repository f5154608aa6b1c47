"""Background compositing (BG_RM, BG_Random, BG_Swaps) on batched tensors: pure functions.

BG_RM and BG_Random are one blend, ``m * x + (1 - m) * fill``, ``fill`` a per-image gray level or
another image's tiled background. A BG_Swaps matched negative is the mirror blend
``m_q * r + (1 - m_q) * q``: the query's background with another image ``r`` where the query's
foreground was.
"""

from __future__ import annotations

import torch
from torch import Tensor

from bgaug.core.crop_params import uniform


def replace_background(x: Tensor, masks: Tensor, fill: Tensor) -> Tensor:
    """``masks * x + (1 - masks) * fill``; ``fill`` (n, 3, H, W) or a gray level (n,)."""
    if fill.ndim == 1:
        fill = fill.view(-1, 1, 1, 1).to(x.dtype)
    return torch.lerp(fill.expand_as(x), x, masks)


def matched_negative(query: Tensor, query_masks: Tensor, other: Tensor) -> Tensor:
    """BG_Swaps' matched negative ``m_q * r + (1 - m_q) * q``: the query's background, r's content."""
    return torch.lerp(query, other, query_masks)


def pick_other_rows(eligible: Tensor, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """For each row i, a uniformly drawn row j != i with ``eligible[j]`` ((B,) bool).

    Returns (choice (B,) long, found (B,) bool); ``found`` is False where no other row is eligible
    (choice is then i). One uniform draw per row whatever ``eligible`` holds (reproducibility);
    O(B log B) time and O(B) memory, so large per-GPU batches cost nothing; no host sync.
    """
    B = eligible.shape[0]
    dev = eligible.device
    rows = torch.arange(B, device=dev)
    u = uniform((B,), 0.0, 1.0, generator).to(dev)
    member = eligible.long()
    # Sizes stay on the device (no host sync): ``ranks[i]`` counts the eligible rows up to and
    # including i, so the eligible rows before i number ``ranks[i] - member[i]`` and the k-th
    # eligible row (from 0) is the first j with ranks[j] >= k + 1.
    ranks = torch.cumsum(member, 0)
    counts = ranks[-1:] - member  # eligible rows other than i
    k = torch.minimum((u * counts).long(), (counts - 1).clamp_min(0))
    k = k + (eligible & (k >= ranks - member)).long()  # step over i itself
    found = counts > 0
    choice = torch.searchsorted(ranks, k + 1).clamp_max(max(B - 1, 0))
    return torch.where(found, choice, rows), found


def foreground_fraction(masks: Tensor) -> Tensor:
    """(B,) fraction of each mask's pixels that are foreground."""
    return masks.flatten(1).mean(dim=1)


def usable_rows(masks: Tensor, min_foreground: float) -> tuple[Tensor, Tensor]:
    """(too little foreground, no background) per row: neither kind of row is augmented."""
    frac = foreground_fraction(masks)
    return (frac <= 0) | (frac < min_foreground), frac >= 1
