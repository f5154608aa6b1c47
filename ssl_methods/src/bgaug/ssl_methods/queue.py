"""A ring buffer of embeddings (MoCo's negatives, SwAV's optional queue)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class FeatureQueue(nn.Module):
    """``size`` L2-normalised vectors of width ``dim``, overwritten oldest first.

    Any batch size works: writes wrap around the end (no need for ``size % batch == 0``), and a batch
    larger than the queue keeps its last ``size`` rows. State lives in buffers so it is checkpointed.
    """

    def __init__(self, size: int, dim: int, generator: torch.Generator | None = None):
        super().__init__()
        if size <= 0 or dim <= 0:
            raise ValueError(f"queue size and dim must be > 0, got {size} x {dim}")
        init = F.normalize(torch.randn(size, dim, generator=generator), dim=1)
        self.register_buffer("features", init)
        self.register_buffer("pointer", torch.zeros((), dtype=torch.long))
        self.register_buffer("filled", torch.zeros((), dtype=torch.long))

    @property
    def size(self) -> int:
        return int(self.get_buffer("features").shape[0])

    @torch.no_grad()
    def enqueue(self, batch: Tensor) -> None:
        features = self.get_buffer("features")
        pointer = self.get_buffer("pointer")
        filled = self.get_buffer("filled")
        size = self.size
        rows = batch.detach().to(features.dtype)
        if rows.shape[0] > size:
            rows = rows[-size:]
        n = rows.shape[0]
        index = (pointer + torch.arange(n, device=features.device)) % size
        features.index_copy_(0, index, rows)
        pointer.copy_((pointer + n) % size)
        filled.copy_(torch.clamp(filled + n, max=size))
