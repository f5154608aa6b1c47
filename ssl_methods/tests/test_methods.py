from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.nn.functional as F

from bgaug.core.interfaces import SSLMethod, TrainProgress, ViewBatch
from bgaug.ssl_methods import METHODS, build_method
from bgaug.ssl_methods.methods.byol import Byol
from bgaug.ssl_methods.methods.moco import MocoV2
from bgaug.ssl_methods.methods.swav import Swav

Batch = Callable[..., ViewBatch]


def _build(name: str, tiny: dict[str, dict[str, Any]], **extra: Any) -> Any:
    torch.manual_seed(0)
    return build_method(name, arch="resnet10", small_stem=False, num_classes=4, **{**tiny[name], **extra})


@pytest.mark.parametrize("name", METHODS)
def test_every_method_is_an_ssl_method_and_forward_is_loss(
    name: str, tiny_options: dict[str, dict[str, Any]], batch: Batch
) -> None:
    method = _build(name, tiny_options).eval()
    assert isinstance(method, SSLMethod)
    assert method.feature_dim == 512
    b = batch(batch_size=8, p_neg=0.5)
    torch.manual_seed(1)
    a = method(b).loss
    torch.manual_seed(1)
    assert torch.isfinite(a)
    if name != "moco_v2":  # MoCo's forward enqueues, so a second call sees a different queue
        assert torch.allclose(a, method.loss(b).loss)


def test_build_method_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="method must be one of"):
        build_method("dino")
    with pytest.raises(ValueError, match="unknown MocoConfig field"):
        build_method("moco_v2", arch="resnet10", queue_sise=10)
    with pytest.raises(ValueError, match="num_classes"):
        build_method("supervised", arch="resnet10")
    with pytest.raises(ValueError, match="temperature"):
        build_method("moco_v2", arch="resnet10", temperature=0)
    with pytest.raises(ValueError, match="arch"):
        build_method("byol", arch="vit")


def test_moco_logits_have_queue_plus_two_columns_for_every_row(
    tiny_options: dict[str, dict[str, Any]], batch: Batch
) -> None:
    method: MocoV2 = _build("moco_v2", tiny_options).eval()
    b = batch(batch_size=8, p_neg=0.4)
    assert b.matched_rows is not None and 0 < len(b.matched_rows) < 8
    logits, keys = method.logits(b)
    assert logits.shape == (8, 64 + 2)
    with torch.no_grad():
        q = F.normalize(method.query_encoder(b.views[0]), dim=1)
        km = F.normalize(method.key_encoder(b.matched_negatives), dim=1)
    t = method.config.temperature
    rows = b.matched_rows
    assert torch.allclose(logits[rows, 1], (q[rows] * km).sum(1) / t, atol=1e-5)
    unmatched = [i for i in range(8) if i not in rows.tolist()]
    for i in unmatched:  # a random *other* positive key
        candidates = (q[i] * keys).sum(1) / t
        hits = torch.isclose(candidates, logits[i, 1], atol=1e-5).nonzero().flatten().tolist()
        assert hits and i not in hits
    plain = batch(batch_size=8)
    assert method.logits(plain)[0].shape == (8, 64 + 1)


def test_moco_scores_every_matched_negative_of_a_row(
    tiny_options: dict[str, dict[str, Any]], batch: Batch
) -> None:
    """n_matched > 1: each matched row lists its negatives together (the pipeline's layout); every
    one of them must become its own logit column (index_copy once kept one per row)."""
    method: MocoV2 = _build("moco_v2", tiny_options).eval()
    b = batch(batch_size=8)
    g = torch.Generator().manual_seed(5)
    rows = torch.tensor([1, 1, 4, 4])
    matched = torch.randn(4, 3, b.views[0].shape[-2], b.views[0].shape[-1], generator=g)
    two = ViewBatch(views=b.views, n_global=2, matched_negatives=matched, matched_rows=rows)
    logits, keys = method.logits(two)
    assert logits.shape == (8, 1 + 2 + 64)
    with torch.no_grad():
        q = F.normalize(method.query_encoder(b.views[0]), dim=1)
        km = F.normalize(method.key_encoder(matched), dim=1)
    t = method.config.temperature
    for j, row in enumerate(rows.tolist()):
        column = 1 + j % 2
        assert torch.allclose(logits[row, column], (q[row] * km[j]).sum() / t, atol=1e-5)
    for i in (0, 2, 3, 5, 6, 7):  # unmatched rows: two random *other* positive keys
        for column in (1, 2):
            candidates = (q[i] * keys).sum(1) / t
            hits = torch.isclose(candidates, logits[i, column], atol=1e-5).nonzero().flatten().tolist()
            assert hits and i not in hits
    uneven = ViewBatch(views=b.views, n_global=2, matched_negatives=matched[:3], matched_rows=rows[:3])
    with pytest.raises(ValueError, match="same number of matched negatives"):
        method.logits(uneven)


def test_moco_bn_splits_normalise_queries_and_keys_in_groups(
    tiny_options: dict[str, dict[str, Any]], batch: Batch
) -> None:
    """bn_splits = 2 on one device: queries go through the encoder in two forwards of 4 rows (their
    own BatchNorm statistics), keys in two shuffled groups, each group with its share of the matched
    negatives; with bn_splits = 1 both are one forward of the whole batch."""
    b = batch(batch_size=8, p_neg=0.4)
    m = len(b.matched_rows) if b.matched_rows is not None else 0
    assert m >= 2
    for splits, expected_queries in ((1, [8]), (2, [4, 4])):
        method: MocoV2 = _build("moco_v2", tiny_options, bn_splits=splits).train()
        queries: list[int] = []
        keys: list[int] = []
        method.backbone.register_forward_hook(lambda _m, inp, _o, seen=queries: seen.append(inp[0].shape[0]))
        method.key_encoder.register_forward_hook(lambda _m, inp, _o, seen=keys: seen.append(inp[0].shape[0]))
        method.loss(b)
        assert queries == expected_queries
        assert sum(keys) == 8 + m and len(keys) == splits
    grouped: MocoV2 = _build("moco_v2", tiny_options, bn_splits=2).train()
    whole: MocoV2 = _build("moco_v2", tiny_options, bn_splits=1).train()
    plain = batch(batch_size=8)
    q_grouped = grouped.logits(plain)[0]
    q_whole = whole.logits(plain)[0]
    assert not torch.allclose(q_grouped[:, 0], q_whole[:, 0], atol=1e-4)  # other batch statistics
    with pytest.raises(ValueError, match="bn_splits"):
        build_method("moco_v2", arch="resnet10", bn_splits=0)
    with pytest.raises(ValueError, match="equal BatchNorm groups"):
        _build("moco_v2", tiny_options, bn_splits=3).train().logits(plain)


def test_moco_batches_matched_negatives_with_keys_and_enqueues_only_positives(
    tiny_options: dict[str, dict[str, Any]], batch: Batch
) -> None:
    method: MocoV2 = _build("moco_v2", tiny_options).eval()
    seen: list[int] = []
    method.key_encoder.register_forward_hook(lambda _m, inp, _o: seen.append(inp[0].shape[0]))
    b = batch(batch_size=8, p_neg=0.4)
    m = len(b.matched_rows) if b.matched_rows is not None else 0
    method.loss(b)
    assert seen == [8 + m]  # one key-encoder pass for positives and matched negatives together
    queue = method.queue
    assert int(queue.get_buffer("pointer")) == 8 and int(queue.get_buffer("filled")) == 8
    with torch.no_grad():
        keys = F.normalize(method.key_encoder(b.views[1]), dim=1)
    assert torch.allclose(queue.get_buffer("features")[:8], keys, atol=1e-5)


def test_moco_momentum_update_equals_formula(tiny_options: dict[str, dict[str, Any]]) -> None:
    method: MocoV2 = _build("moco_v2", tiny_options, momentum=0.9)
    with torch.no_grad():
        for p in method.projector.parameters():
            p.add_(0.5)
    old = [p.clone() for p in method.key_encoder.parameters()]
    online = [*method.backbone.parameters(), *method.projector.parameters()]
    method.on_step_end(TrainProgress(1, 10, 0, 1))
    for new, before, o in zip(method.key_encoder.parameters(), old, online, strict=True):
        assert torch.allclose(new, 0.9 * before + 0.1 * o)


@pytest.mark.parametrize("final", [1.0, 0.9])
def test_byol_target_momentum_at_the_last_step_is_final_momentum(
    final: float, tiny_options: dict[str, dict[str, Any]]
) -> None:
    method: Byol = _build("byol", tiny_options, base_momentum=0.9, final_momentum=final)
    with torch.no_grad():
        for p in method.projector.parameters():
            p.add_(0.5)
    old = [p.clone() for p in method.target.parameters()]
    online = [*method.backbone.parameters(), *method.projector.parameters()]
    method.on_step_end(TrainProgress(10, 10, 0, 1))  # the run's last step
    for new, before, o in zip(method.target.parameters(), old, online, strict=True):
        assert torch.allclose(new, final * before + (1 - final) * o)


def test_byol_rejects_final_momentum_below_base(tiny_options: dict[str, dict[str, Any]]) -> None:
    with pytest.raises(ValueError, match="final_momentum"):
        _build("byol", tiny_options, base_momentum=0.99, final_momentum=0.9)


@pytest.mark.parametrize("name", ["byol", "swav"])
def test_loss_is_symmetric_in_the_views(
    name: str, tiny_options: dict[str, dict[str, Any]], batch: Batch
) -> None:
    method = _build(name, tiny_options)
    b = batch(batch_size=8)
    swapped = ViewBatch(views=(b.views[1], b.views[0]), n_global=2)
    assert torch.allclose(method.loss(b).loss, method.loss(swapped).loss, atol=1e-5)


def test_swav_prototypes_frozen_for_the_first_epoch(
    tiny_options: dict[str, dict[str, Any]], batch: Batch
) -> None:
    method: Swav = _build("swav", tiny_options, freeze_prototypes_epochs=1.0)
    method.loss(batch(batch_size=8)).loss.backward()
    assert method.prototypes.weight.grad is None
    assert method.projector.net[0].weight.grad is not None
    method.on_step_end(TrainProgress(step=4, total_steps=8, epoch=0, total_epochs=2))  # epoch 1 starts
    method.loss(batch(batch_size=8)).loss.backward()
    assert method.prototypes.weight.grad is not None


def test_swav_multicrop_and_queue(tiny_options: dict[str, dict[str, Any]], batch: Batch) -> None:
    method: Swav = _build("swav", tiny_options, queue_size=16, queue_start_epoch=0)
    b = batch(batch_size=8, n_local=2)
    assert len(b.views) == 4
    first = method.loss(b)
    assert first.metrics["queue_used"] == 0.0  # queue not yet full
    method.loss(b)
    assert method.loss(b).metrics["queue_used"] == 1.0
    with pytest.raises(ValueError, match="queue"):
        method.loss(batch(batch_size=32))


def test_rotnet_uses_the_rotation_labels(tiny_options: dict[str, dict[str, Any]], batch: Batch) -> None:
    method = _build("rotnet", tiny_options).eval()
    b = batch(batch_size=8)
    assert b.rotations is not None
    shifted = ViewBatch(views=b.views, rotations=(b.rotations + 1) % 4)
    assert not torch.allclose(method.loss(b).loss, method.loss(shifted).loss)
    with pytest.raises(ValueError, match="rotations"):
        method.loss(ViewBatch(views=b.views))


def test_rotnet_alexnet_trunk() -> None:
    small = build_method("rotnet", arch="alexnet", small_stem=True)
    out = small.loss(ViewBatch(views=(torch.randn(4, 3, 32, 32),), n_global=1, rotations=torch.arange(4)))
    assert torch.isfinite(out.loss) and small.feature_dim == 256
    full = build_method("rotnet", arch="alexnet")
    assert full.backbone(torch.randn(2, 3, 96, 96)).shape == (2, 256)


def test_supervised_recipe_parts(tiny_options: dict[str, dict[str, Any]], batch: Batch) -> None:
    method = _build("supervised", tiny_options)
    assert torch.count_nonzero(method.backbone.layer1[0].bn2.weight) == 0  # zero-init last BN gamma
    assert method.export_head.out_features == 4
    b = batch(batch_size=8)
    assert torch.isfinite(method.loss(b).loss)
    with pytest.raises(ValueError, match="labels"):
        method.loss(ViewBatch(views=b.views))


def test_simclr_matched_negatives_join_in_batch_negatives(
    tiny_options: dict[str, dict[str, Any]], batch: Batch
) -> None:
    method = _build("simclr", tiny_options).eval()
    b = batch(batch_size=8, p_neg=0.5)
    m = len(b.matched_rows) if b.matched_rows is not None else 0
    assert m > 0
    with_neg = method.loss(b)
    assert with_neg.metrics["extra_negatives"] == m
    without = method.loss(ViewBatch(views=b.views))
    assert with_neg.loss > without.loss
