"""SwAV (Caron et al., 2020): swapped prediction of Sinkhorn codes over prototypes, multi-crop."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from bgaug.core.config import check_positive
from bgaug.core.interfaces import LossOutput, TrainProgress, ViewBatch
from bgaug.ssl_methods.heads import MLPHead
from bgaug.ssl_methods.losses import sinkhorn, swav_loss
from bgaug.ssl_methods.methods.base import Method, encode_views


@dataclass(frozen=True)
class SwavConfig:
    hidden_dim: int = 2048
    out_dim: int = 128
    n_prototypes: int = 3000
    temperature: float = 0.1
    epsilon: float = 0.05
    sinkhorn_iterations: int = 3
    freeze_prototypes_epochs: float = 1.0
    queue_size: int = 0
    """Embeddings kept per global crop for the codes (0: no queue). SwAV uses 3,840 at batch 256."""
    queue_start_epoch: int = 15
    n_global: int = 2
    """Global crops per batch (the queue keeps one slot per global crop)."""

    def __post_init__(self) -> None:
        for name in ("hidden_dim", "out_dim", "n_prototypes", "sinkhorn_iterations"):
            check_positive(name, getattr(self, name))
        check_positive("temperature", self.temperature)
        check_positive("epsilon", self.epsilon)
        check_positive("freeze_prototypes_epochs", self.freeze_prototypes_epochs, allow_zero=True)
        check_positive("queue_size", self.queue_size, allow_zero=True)
        check_positive("queue_start_epoch", self.queue_start_epoch, allow_zero=True)
        check_positive("n_global", self.n_global)


class Swav(Method):
    """Projection head, L2-normalised prototypes, codes from global crops only.

    Prototypes get no gradient for the first ``freeze_prototypes_epochs`` (as SwAV's recipe), via a
    detached weight, so the optimiser skips them. The optional queue (from ``queue_start_epoch``)
    stores past embeddings of each global crop to make the Sinkhorn batch larger.
    """

    name = "swav"

    def __init__(
        self, backbone: nn.Module, feature_dim: int, config: SwavConfig, *, arch: str, small_stem: bool
    ):
        super().__init__(backbone, feature_dim, arch=arch, small_stem=small_stem)
        self.config = config
        self.projector = MLPHead(feature_dim, config.hidden_dim, config.out_dim)
        self.prototypes = nn.Linear(config.out_dim, config.n_prototypes, bias=False)
        frozen = torch.tensor(config.freeze_prototypes_epochs > 0)
        self.register_buffer("prototypes_frozen", frozen)
        self.register_buffer("epoch", torch.zeros((), dtype=torch.long))
        self.register_buffer("queue", torch.zeros(config.n_global, config.queue_size, config.out_dim))

    def embed(self, x: Tensor) -> Tensor:
        return F.normalize(self.projector(self.backbone(x)), dim=1)

    def _queue_active(self) -> bool:
        return self.config.queue_size > 0 and int(self.get_buffer("epoch")) >= self.config.queue_start_epoch

    def loss(self, batch: ViewBatch) -> LossOutput:
        if len(batch.views) < 2:
            raise ValueError("swav needs at least two crops")
        with torch.no_grad():
            self.prototypes.weight.copy_(F.normalize(self.prototypes.weight, dim=1))
        weight = self.prototypes.weight
        if bool(self.get_buffer("prototypes_frozen")):
            weight = weight.detach()
        embeddings = encode_views(self.embed, batch.views)
        scores = [z @ weight.t() for z in embeddings]
        b = batch.batch_size
        n_global = batch.n_global
        if self.config.queue_size > 0 and (n_global != self.config.n_global or b > self.config.queue_size):
            raise ValueError(
                f"swav queue expects {self.config.n_global} global crops and batch <= queue_size "
                f"({self.config.queue_size}), got {n_global} crops of batch {b}"
            )
        use_queue = self._queue_active() and bool(self.get_buffer("queue")[:, -1].abs().sum() > 0)
        codes = []
        with torch.no_grad():
            for i in range(n_global):
                out = scores[i].detach().float()
                if use_queue:
                    queued = self.get_buffer("queue")[i] @ weight.detach().float().t()
                    out = torch.cat([queued, out], dim=0)
                codes.append(sinkhorn(out, self.config.epsilon, self.config.sinkhorn_iterations)[-b:])
            if self._queue_active():
                queue = self.get_buffer("queue")
                for i in range(n_global):
                    queue[i, b:] = queue[i, :-b].clone()
                    queue[i, :b] = embeddings[i].detach().to(queue.dtype)
        loss = swav_loss(scores, codes, self.config.temperature)
        return LossOutput(loss, {"queue_used": float(use_queue)})

    def on_step_end(self, progress: TrainProgress) -> None:
        steps_per_epoch = progress.total_steps / max(progress.total_epochs, 1)
        frozen = progress.step < self.config.freeze_prototypes_epochs * steps_per_epoch
        self.get_buffer("prototypes_frozen").fill_(frozen)
        self.get_buffer("epoch").fill_(progress.step // max(int(steps_per_epoch), 1))
