from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from bgaug.ssl_methods.losses import byol_loss, info_nce, moco_logits, nt_xent, sinkhorn, swav_loss


def _unit(*shape: int, seed: int = 0) -> torch.Tensor:
    return F.normalize(torch.randn(*shape, generator=torch.Generator().manual_seed(seed)), dim=-1)


def test_moco_logits_columns_and_values() -> None:
    q, k, extra, queue = _unit(5, 8, seed=1), _unit(5, 8, seed=2), _unit(5, 8, seed=3), _unit(11, 8, seed=4)
    logits = moco_logits(q, k, queue, extra, temperature=0.2)
    assert logits.shape == (5, 1 + 1 + 11)
    assert torch.allclose(logits[:, 0], (q * k).sum(1) / 0.2)
    assert torch.allclose(logits[:, 1], (q * extra).sum(1) / 0.2)
    assert torch.allclose(logits[:, 2:], q @ queue.t() / 0.2)
    assert moco_logits(q, k, queue, None, 0.2).shape == (5, 12)


def test_info_nce_prefers_the_positive() -> None:
    good = torch.tensor([[10.0, 0.0, 0.0]])
    bad = torch.tensor([[0.0, 10.0, 0.0]])
    assert info_nce(good) < 0.01 < info_nce(bad)


def test_byol_loss_is_symmetric_and_zero_for_aligned_views() -> None:
    p1, p2, z1, z2 = (_unit(6, 4, seed=s) for s in range(4))
    assert torch.allclose(byol_loss((p1, p2), (z1, z2)), byol_loss((p2, p1), (z2, z1)))
    assert byol_loss((z2, z1), (z1, z2)).abs() < 1e-6
    assert torch.isclose(byol_loss((z1, z1), (-z1, -z1)), torch.tensor(8.0))


def test_sinkhorn_marginals() -> None:
    scores = _unit(64, 16, seed=0) @ _unit(8, 16, seed=1).t()  # cosine scores, as SwAV's
    codes = sinkhorn(scores, epsilon=0.05, iterations=3)
    assert codes.shape == (64, 8)
    assert torch.allclose(codes.sum(dim=1), torch.ones(64), atol=1e-5)  # each sample: mass 1
    uniform = torch.full((8,), 64 / 8)
    raw = F.softmax(scores / 0.05, dim=1).sum(dim=0)

    def spread(c: torch.Tensor) -> float:
        return float((c - uniform).abs().max())

    assert spread(codes.sum(dim=0)) < spread(raw)
    assert spread(sinkhorn(scores, 0.05, 10).sum(dim=0)) < spread(codes.sum(dim=0))
    converged = sinkhorn(scores, epsilon=0.05, iterations=200)
    assert torch.allclose(converged.sum(dim=0), uniform, rtol=0.02)  # every prototype: B / K


def test_sinkhorn_handles_large_scores_without_overflow() -> None:
    codes = sinkhorn(torch.full((4, 3), 1e4) + torch.eye(4, 3), 0.05, 3)
    assert torch.isfinite(codes).all()


def test_swav_loss_symmetric_in_views() -> None:
    s1, s2 = torch.randn(8, 5), torch.randn(8, 5)
    q1, q2 = sinkhorn(s1), sinkhorn(s2)
    a = swav_loss([s1, s2], [q1, q2], 0.1)
    b = swav_loss([s2, s1], [q2, q1], 0.1)
    assert torch.allclose(a, b)
    # With a local crop the global codes predict it too.
    s3 = torch.randn(8, 5)
    assert not torch.allclose(swav_loss([s1, s2, s3], [q1, q2], 0.1), a)


def test_nt_xent_extra_negatives_raise_the_loss() -> None:
    z1 = _unit(4, 8, seed=0)
    z2 = F.normalize(z1 + 0.1 * _unit(4, 8, seed=1), dim=1)
    base = nt_xent(z1, z2, None, 0.1)
    assert base < nt_xent(z1, z2, z1[:2].clone(), 0.1)  # hard negatives: copies of two anchors
    # 2B - 2 in-batch negatives plus the positive: uniform similarities give log(2B - 1).
    flat = torch.zeros(4, 8)
    flat[:, 0] = 1
    assert math.isclose(float(nt_xent(flat, flat, None, 0.1)), math.log(7), rel_tol=1e-5)
