"""The methods' losses as pure functions of embeddings (each tested on its own)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from bgaug.ssl_methods.distributed import all_reduce_, world


def moco_logits(
    query: Tensor, key: Tensor, queue: Tensor, extra_negative: Tensor | None, temperature: float
) -> Tensor:
    """MoCo logits: column 0 the positive, then the extra (matched) negatives if given, then the queue.

    ``query``/``key`` (B, D), ``extra_negative`` (B, D) for one extra negative per row or (B, N, D)
    for N, and ``queue`` (K, D), all L2-normalised.
    """
    columns = [(query * key).sum(dim=1, keepdim=True)]
    if extra_negative is not None:
        extra = extra_negative if extra_negative.dim() == 3 else extra_negative.unsqueeze(1)
        columns.append(torch.einsum("bd,bnd->bn", query, extra))
    columns.append(query @ queue.t())
    return torch.cat(columns, dim=1) / temperature


def info_nce(logits: Tensor) -> Tensor:
    """Cross-entropy with the positive in column 0."""
    return F.cross_entropy(
        logits.float(), torch.zeros(logits.shape[0], dtype=torch.long, device=logits.device)
    )


def byol_regression(prediction: Tensor, target: Tensor) -> Tensor:
    """BYOL's normalised MSE, 2 - 2 cos(p, z), averaged over the batch."""
    p = F.normalize(prediction.float(), dim=1)
    z = F.normalize(target.float(), dim=1)
    return (2 - 2 * (p * z).sum(dim=1)).mean()


def byol_loss(predictions: tuple[Tensor, Tensor], targets: tuple[Tensor, Tensor]) -> Tensor:
    """Symmetrised BYOL loss: view 1's prediction against view 2's target, and the reverse."""
    return byol_regression(predictions[0], targets[1]) + byol_regression(predictions[1], targets[0])


@torch.no_grad()
def sinkhorn(scores: Tensor, epsilon: float = 0.05, iterations: int = 3) -> Tensor:
    """SwAV's Sinkhorn-Knopp codes: (B, K) scores -> (B, K) soft assignments, rows summing to 1.

    Alternately normalises prototypes to mass 1/K and samples to mass 1/B, so that with enough
    iterations every prototype receives B/K of the batch (equipartition). Under DDP the batch is the
    global one, as in SwAV's code: the sums over samples are summed over workers (each worker passes
    its own rows and gets their codes), so equipartition holds over all workers' samples together.
    """
    s = scores.float() / epsilon
    # (K, B); the shift, the same on every worker, cancels in the first normalisation
    q = torch.exp(s - all_reduce_(s.max(), "max")).t()
    q /= all_reduce_(q.sum())
    k = q.shape[0]
    b = q.shape[1] * world()[1]
    for _ in range(iterations):
        q /= all_reduce_(q.sum(dim=1, keepdim=True))
        q /= k
        q /= q.sum(dim=0, keepdim=True)
        q /= b
    return (q * b).t()


def swapped_prediction(codes: Tensor, scores: Tensor, temperature: float) -> Tensor:
    """Cross-entropy between the codes of one view and the prototype softmax of another."""
    return -(codes * F.log_softmax(scores.float() / temperature, dim=1)).sum(dim=1).mean()


def swav_loss(scores: list[Tensor], codes: list[Tensor], temperature: float) -> Tensor:
    """Swapped prediction over all crops: the codes of global crop i predict every other crop.

    ``scores``: per crop (B, K) prototype scores (global crops first); ``codes``: per global crop.
    """
    if len(scores) < 2:
        raise ValueError("SwAV needs at least two crops")
    total = scores[0].new_zeros((), dtype=torch.float32)
    for i, q in enumerate(codes):
        others = [swapped_prediction(q, s, temperature) for v, s in enumerate(scores) if v != i]
        total = total + torch.stack(others).mean()
    return total / len(codes)


def nt_xent(
    z1: Tensor,
    z2: Tensor,
    extra_negatives: Tensor | None,
    temperature: float,
    *,
    all_z1: Tensor | None = None,
    all_z2: Tensor | None = None,
    offset: int = 0,
) -> Tensor:
    """SimCLR's NT-Xent over 2B anchors; ``extra_negatives`` (M, D) join every anchor's negatives.

    Inputs are L2-normalised. Each anchor scores its positive against the other 2N - 2 views of the
    batch and the M extra ones (BG_Swaps' matched negatives). ``all_z1`` / ``all_z2`` (N, D): the
    views of the whole batch when ``z1`` / ``z2`` are its rows ``offset .. offset + B`` (under DDP,
    every worker's rows, gathered, as SimCLR's code does); default ``z1`` / ``z2`` themselves (N = B).
    """
    b = z1.shape[0]
    every_z1 = z1 if all_z1 is None else all_z1
    every_z2 = z2 if all_z2 is None else all_z2
    n = every_z1.shape[0]
    anchors = torch.cat([z1, z2], dim=0).float()
    columns = [every_z1, every_z2] if extra_negatives is None else [every_z1, every_z2, extra_negatives]
    candidates = torch.cat(columns, dim=0).float()
    logits = anchors @ candidates.t() / temperature
    rows = torch.arange(b, device=logits.device) + offset
    own = torch.cat([rows, n + rows])  # each anchor's own column
    self_mask = torch.zeros_like(logits, dtype=torch.bool)
    self_mask[torch.arange(2 * b, device=logits.device), own] = True
    logits = logits.masked_fill(self_mask, float("-inf"))
    targets = torch.cat([n + rows, rows])
    return F.cross_entropy(logits, targets)
