"""MoCo-v2 (Chen et al., 2020) with BG_Swaps' matched negatives."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from bgaug.core.config import check_positive, check_range
from bgaug.core.interfaces import LossOutput, TrainProgress, ViewBatch
from bgaug.ssl_methods.distributed import encode_keys, gather_rows
from bgaug.ssl_methods.heads import MLPHead
from bgaug.ssl_methods.losses import info_nce, moco_logits
from bgaug.ssl_methods.methods.base import Method
from bgaug.ssl_methods.momentum import ema_update, frozen_copy
from bgaug.ssl_methods.queue import FeatureQueue


@dataclass(frozen=True)
class MocoConfig:
    hidden_dim: int = 2048
    out_dim: int = 128
    queue_size: int = 65536
    momentum: float = 0.999
    temperature: float = 0.2
    shuffle_bn: bool = True
    """Under DDP, shuffle the key views across workers for the key encoder's BatchNorm (MoCo's
    shuffling BN; no effect on one worker; turn off with SyncBatchNorm, which already mixes them)."""

    def __post_init__(self) -> None:
        for name in ("hidden_dim", "out_dim", "queue_size"):
            check_positive(name, getattr(self, name))
        check_range("momentum", self.momentum, 0.0, 1.0)
        check_positive("temperature", self.temperature)


def extra_negatives(keys: Tensor, matched: Tensor, rows: Tensor, queue: Tensor) -> Tensor:
    """One extra negative per query row: its matched negative, else a random other key.

    ``keys`` (B, D) positive keys, ``matched`` (M, D) matched-negative keys for query rows ``rows``.
    A row without a match gets the key of a random *other* row (a random queue entry when B = 1),
    so every row scores the same number of negatives.
    """
    b = keys.shape[0]
    device = keys.device
    if b > 1:
        offset = torch.randint(1, b, (b,), device=device)
        extra = keys[(torch.arange(b, device=device) + offset) % b]
    else:
        extra = queue[torch.randint(0, queue.shape[0], (1,), device=device)]
    if rows.numel():
        extra = extra.index_copy(0, rows.to(device), matched.to(extra.dtype))
    return extra


class MocoV2(Method):
    """Query encoder + MLP head trained by InfoNCE; key encoder by momentum; a queue of keys.

    With ``matched_negatives`` in the batch (BG_Swaps), they pass through the key encoder in the same
    forward as the positive keys, each query row gets one extra negative column (its matched negative
    or a random other key), and only the positive keys are enqueued.
    """

    name = "moco_v2"

    def __init__(
        self, backbone: nn.Module, feature_dim: int, config: MocoConfig, *, arch: str, small_stem: bool
    ):
        super().__init__(backbone, feature_dim, arch=arch, small_stem=small_stem)
        self.config = config
        self.projector = MLPHead(feature_dim, config.hidden_dim, config.out_dim, batch_norm=False)
        self.key_encoder = frozen_copy(nn.Sequential(self.backbone, self.projector))
        self.queue = FeatureQueue(config.queue_size, config.out_dim)

    def query_encoder(self, x: Tensor) -> Tensor:
        out: Tensor = self.projector(self.backbone(x))
        return out

    def logits(self, batch: ViewBatch) -> tuple[Tensor, Tensor]:
        """InfoNCE logits (B, 1 [+ 1] + queue_size) and the positive keys (B, D) to enqueue."""
        if len(batch.views) < 2:
            raise ValueError("moco_v2 needs a query view and a key view")
        query, key_view = batch.views[0], batch.views[1]
        q = F.normalize(self.query_encoder(query), dim=1)
        with torch.no_grad():
            k_raw, k_matched_raw = encode_keys(
                self.key_encoder, key_view, batch.matched_negatives, shuffle=self.config.shuffle_bn
            )
            k = F.normalize(k_raw, dim=1).to(q.dtype)
            k_matched = F.normalize(k_matched_raw, dim=1).to(q.dtype)
            # A copy: the queue is updated in place below while autograd still needs these values.
            queue = self.queue.get_buffer("features").to(q.dtype, copy=True)
            extra = None
            if batch.matched_rows is not None:
                extra = extra_negatives(k, k_matched, batch.matched_rows, queue)
        return moco_logits(q, k, queue, extra, self.config.temperature), k

    def loss(self, batch: ViewBatch) -> LossOutput:
        logits, keys = self.logits(batch)
        loss = info_nce(logits)
        # Every worker's positive keys, so all workers hold the same queue (matched negatives never
        # enter it).
        self.queue.enqueue(gather_rows(keys))
        with torch.no_grad():
            accuracy = (logits.argmax(dim=1) == 0).float().mean()
        return LossOutput(loss, {"accuracy": accuracy.detach()})

    def on_step_end(self, progress: TrainProgress) -> None:
        ema_update(self.key_encoder, nn.Sequential(self.backbone, self.projector), self.config.momentum)
