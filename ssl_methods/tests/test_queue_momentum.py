from __future__ import annotations

import pytest
import torch
from torch import nn

from bgaug.ssl_methods.momentum import cosine_momentum, ema_update, frozen_copy
from bgaug.ssl_methods.queue import FeatureQueue


def test_queue_wraps_when_batch_does_not_divide_size() -> None:
    q = FeatureQueue(size=5, dim=2)
    for i in range(3):  # 3 batches of 2 rows into 5 slots: the sixth row wraps to slot 0
        q.enqueue(torch.full((2, 2), float(i)))
    feats = q.get_buffer("features")
    assert feats[:, 0].tolist() == [2.0, 0.0, 1.0, 1.0, 2.0]
    assert int(q.get_buffer("pointer")) == 1
    assert int(q.get_buffer("filled")) == 5


def test_queue_larger_batch_keeps_last_rows() -> None:
    q = FeatureQueue(size=3, dim=1)
    q.enqueue(torch.arange(7.0).view(7, 1))
    assert sorted(q.get_buffer("features").flatten().tolist()) == [4.0, 5.0, 6.0]


def test_queue_rejects_empty_size() -> None:
    with pytest.raises(ValueError, match="queue size"):
        FeatureQueue(0, 4)


def test_ema_update_equals_formula() -> None:
    online = nn.Linear(3, 2)
    target = frozen_copy(online)
    with torch.no_grad():
        for p in online.parameters():
            p.add_(1.0)
    before = [p.clone() for p in target.parameters()]
    ema_update(target, online, 0.9)
    for t, b, o in zip(target.parameters(), before, online.parameters(), strict=True):
        assert torch.allclose(t, 0.9 * b + 0.1 * o)
        assert not t.requires_grad


def test_byol_cosine_momentum_schedule() -> None:
    assert cosine_momentum(0.99, 0.0) == pytest.approx(0.99)
    assert cosine_momentum(0.99, 0.5) == pytest.approx(0.995)
    assert cosine_momentum(0.99, 1.0) == pytest.approx(1.0)


def test_cosine_momentum_ends_at_final_and_is_constant_when_final_is_base() -> None:
    assert cosine_momentum(0.9, 0.5, final=0.99) == pytest.approx(0.945)
    assert cosine_momentum(0.9, 1.0, final=0.99) == pytest.approx(0.99)
    assert [cosine_momentum(0.9, f, final=0.9) for f in (0.0, 0.3, 1.0)] == pytest.approx([0.9] * 3)
