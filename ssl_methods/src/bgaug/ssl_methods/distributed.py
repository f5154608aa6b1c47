"""What methods need across DDP workers: MoCo's gathered keys and shuffled BatchNorm (He et al., 2020,
sec. 3.3), the global sums of SwAV's Sinkhorn-Knopp (Caron et al., 2020) and SimCLR's negatives from
every worker (Chen et al., 2020).

With per-worker BatchNorm, a query and its positive key are normalised with statistics of the same
sub-batch, which leaks information between them and lets the pretext task be solved through the
statistics instead of the images (MoCo's "cheating"). MoCo's remedy, kept by MoCo-v2 and the paper's
implementation: before the key encoder, shuffle the key views across all workers; after it, undo the
shuffle. Its queue is fed with the keys of every worker, so every worker holds the same queue.

Outside an initialised process group of two or more workers every helper here is the identity, so a
method runs unchanged on one device.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor


def world() -> tuple[int, int]:
    """(rank, world size) of the default process group; (0, 1) without one."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


@torch.no_grad()
def all_reduce_(tensor: Tensor, op: str = "sum") -> Tensor:
    """``tensor`` reduced in place over all workers (``sum`` or ``max``) and returned."""
    if world()[1] > 1:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM if op == "sum" else dist.ReduceOp.MAX)
    return tensor


@torch.no_grad()
def gather_rows(tensor: Tensor) -> Tensor:
    """Every worker's ``tensor`` concatenated along dim 0 in rank order (no gradient).

    Every worker must pass the same shape: the per-worker batch is fixed (``per_worker_batch``).
    """
    _, size = world()
    if size == 1:
        return tensor
    parts = [torch.empty_like(tensor) for _ in range(size)]
    dist.all_gather(parts, tensor.contiguous())
    return torch.cat(parts)


class _GatherRows(torch.autograd.Function):
    """All workers' rows forward; backward, each worker's gradient for every row, summed over the
    workers, and this worker's own rows of it (what the global loss's gradient is for them)."""

    @staticmethod
    def forward(ctx: Any, tensor: Tensor) -> Tensor:
        rank, _ = world()
        ctx.rows = (rank * tensor.shape[0], (rank + 1) * tensor.shape[0])
        return gather_rows(tensor)

    @staticmethod
    def backward(ctx: Any, *grads: Tensor) -> Tensor:
        total = grads[0].contiguous().clone()
        dist.all_reduce(total)
        start, stop = ctx.rows
        return total[start:stop]


def gather_with_grad(tensor: Tensor) -> Tensor:
    """``gather_rows`` through which gradients flow back to each worker's own rows (SimCLR's
    negatives from every worker)."""
    if world()[1] == 1:
        return tensor
    out: Tensor = _GatherRows.apply(tensor)
    return out


@torch.no_grad()
def encode_keys(
    encoder: Callable[[Tensor], Tensor],
    x: Tensor,
    extra: Tensor | None = None,
    *,
    shuffle: bool = True,
    splits: int = 1,
) -> tuple[Tensor, Tensor]:
    """``encoder`` over ``x`` with its rows shuffled across workers; returns (out(x), out(extra)).

    The rows of ``x`` from all workers are gathered and permuted by one permutation drawn on rank 0.
    Each worker encodes its share of the permuted rows, the outputs are gathered again, and the
    permutation is undone, so each worker gets its own rows back in order: only the BatchNorm
    statistics each row saw have changed. ``extra`` rows (BG_Swaps' matched negatives, whose count
    differs between workers) are not shuffled: they ride in the same forward as this worker's share,
    as they would in the unshuffled forward. With ``shuffle=False``, or on one worker with
    ``splits == 1``, this is ``encoder(cat(x, extra))``, split.

    ``splits > 1`` on one worker emulates that many workers (``split_forward``): the rows are
    permuted, encoded in ``splits`` groups (each with its share of ``extra``) and put back in order.
    """
    rank, size = world()
    b = x.shape[0]
    if size == 1 and shuffle and splits > 1:
        return _encode_keys_in_splits(encoder, x, extra, splits)
    mine = slice(rank * b, (rank + 1) * b)
    permutation = None
    if size > 1 and shuffle:
        everyone = gather_rows(x)
        permutation = torch.randperm(everyone.shape[0], device=x.device)
        dist.broadcast(permutation, src=0)
        x = everyone[permutation[mine]]
    out = encoder(x if extra is None or not extra.shape[0] else torch.cat([x, extra]))
    keys = out[:b]
    if permutation is not None:
        gathered = gather_rows(keys.contiguous())
        restored = torch.empty_like(gathered)
        restored[permutation] = gathered
        keys = restored[mine]
    return keys, out[b:]


def split_forward(encoder: Callable[[Tensor], Tensor], x: Tensor, splits: int) -> Tensor:
    """``encoder`` over ``x`` in ``splits`` consecutive row groups, concatenated: BatchNorm then
    normalises each group with its own statistics, as ``splits`` workers would (the single-device
    "split BatchNorm" of MoCo's CIFAR demo and of lightly)."""
    if splits <= 1:
        return encoder(x)
    if x.shape[0] % splits:
        raise ValueError(f"batch of {x.shape[0]} rows does not split into {splits} equal BatchNorm groups")
    return torch.cat([encoder(part) for part in x.chunk(splits)])


@torch.no_grad()
def _encode_keys_in_splits(
    encoder: Callable[[Tensor], Tensor], x: Tensor, extra: Tensor | None, splits: int
) -> tuple[Tensor, Tensor]:
    """``encode_keys`` on one device emulating ``splits`` workers: shuffle the rows, encode each
    group (with its share of ``extra``) in its own forward, undo the shuffle."""
    b = x.shape[0]
    if b % splits:
        raise ValueError(f"batch of {b} rows does not split into {splits} equal BatchNorm groups")
    permutation = torch.randperm(b, device=x.device)
    groups = x[permutation].chunk(splits)
    extras = extra.tensor_split(splits) if extra is not None and extra.shape[0] else [None] * splits
    keys, extra_out = [], []
    for group, more in zip(groups, extras, strict=True):
        out = encoder(group if more is None or not more.shape[0] else torch.cat([group, more]))
        keys.append(out[: group.shape[0]])
        extra_out.append(out[group.shape[0] :])
    shuffled = torch.cat(keys)
    restored = torch.empty_like(shuffled)
    restored[permutation] = shuffled
    return restored, torch.cat(extra_out)
