"""MoCo-v2 (Chen et al., 2020) with BG_Swaps' matched negatives."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from bgaug.core.config import check_positive, check_range
from bgaug.core.interfaces import LossOutput, TrainProgress, ViewBatch
from bgaug.ssl_methods.distributed import encode_keys, gather_rows, split_forward, world
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
    shuffling BN; turn off with SyncBatchNorm, which already mixes them)."""
    bn_splits: int = 1
    """On one device, emulate this many workers for BatchNorm: queries are normalised in groups of
    ``batch / bn_splits`` rows and keys shuffled into such groups, so that a query and its key do
    not share batch statistics (the "cheating" that shuffling BN prevents). 1: one group."""

    def __post_init__(self) -> None:
        for name in ("hidden_dim", "out_dim", "queue_size", "bn_splits"):
            check_positive(name, getattr(self, name))
        check_range("momentum", self.momentum, 0.0, 1.0)
        check_positive("temperature", self.temperature)


def extra_negatives(keys: Tensor, matched: Tensor, rows: Tensor, queue: Tensor) -> Tensor:
    """N extra negatives per query row (B, N, D): its matched negatives, else random other keys.

    ``keys`` (B, D) positive keys; ``matched`` (M, D) matched-negative keys of query rows ``rows``
    (M,), each matched row listed N times in a row (``BackgroundConfig.n_matched``; the pipeline
    writes a row's negatives together). A row without a match gets the keys of N random *other*
    rows (random queue entries when B = 1), so every row scores the same number of negatives.
    """
    b = keys.shape[0]
    device = keys.device
    n = 1
    if rows.numel():
        counts = torch.bincount(rows.to(device), minlength=b)
        n = int(counts.max())
        if bool(((counts != 0) & (counts != n)).any()) or matched.shape[0] != rows.numel():
            raise ValueError("every matched row must carry the same number of matched negatives")
    if b > 1:
        offset = torch.randint(1, b, (b, n), device=device)
        extra = keys[(torch.arange(b, device=device).unsqueeze(1) + offset) % b]
    else:
        extra = queue[torch.randint(0, queue.shape[0], (1, n), device=device)]
    if rows.numel():
        # rows arrive grouped (each row's N negatives together): one (R, N, D) block per matched row
        order = torch.argsort(rows.to(device), stable=True)
        matched_rows = rows.to(device)[order].view(-1, n)[:, 0]
        extra = extra.index_copy(
            0, matched_rows, matched[order].to(extra.dtype).view(-1, n, matched.shape[1])
        )
    return extra


class MocoV2(Method):
    """Query encoder + MLP head trained by InfoNCE; key encoder by momentum; a queue of keys.

    With ``matched_negatives`` in the batch (BG_Swaps), they pass through the key encoder in the same
    forward as the positive keys, each query row gets ``n_matched`` extra negative columns (its
    matched negatives or random other keys), and only the positive keys are enqueued.
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
        """InfoNCE logits (B, 1 [+ n_matched] + queue_size) and the positive keys (B, D) to enqueue."""
        if len(batch.views) < 2:
            raise ValueError("moco_v2 needs a query view and a key view")
        query, key_view = batch.views[0], batch.views[1]
        splits = self.config.bn_splits if world()[1] == 1 else 1
        q = F.normalize(split_forward(self.query_encoder, query, splits), dim=1)
        with torch.no_grad():
            k_raw, k_matched_raw = encode_keys(
                self.key_encoder,
                key_view,
                batch.matched_negatives,
                shuffle=self.config.shuffle_bn,
                splits=splits,
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
