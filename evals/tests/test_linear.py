from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from bgaug.core.backbones import build_resnet
from bgaug.core.interfaces import Preprocess
from bgaug.evals.datasets import imagefolder_items
from bgaug.evals.finetune import finetune
from bgaug.evals.inference import EvalOptions
from bgaug.evals.linear import head_top1, new_head, standardised_head, train_linear
from bgaug.evals.recipes import LINEAR, Recipe, finetune_recipe, linear_recipe

OPTS = EvalOptions(batch_size=8, workers=0, device="cpu", progress=False)
PRE = Preprocess(resize=16, crop=16)


def _colour_tree(root: Path, n: int) -> None:
    """Two classes that differ in colour (red vs blue), easy for any backbone's features."""
    from bgaug.core.io import save_png

    rng = np.random.default_rng(0)
    for label, channel in (("blue", 2), ("red", 0)):
        for i in range(n):
            img = rng.integers(0, 60, (16, 16, 3), dtype=np.uint8)
            img[:, :, channel] = 200
            save_png(root / label / f"{i}.png", img)


def test_recipes_follow_the_protocols() -> None:
    assert LINEAR["moco_v2"].lr == 30.0 and LINEAR["moco_v2"].milestones == (60, 80)
    assert LINEAR["swav"].weight_decay == 1e-6 and LINEAR["swav"].schedule == "cosine"
    assert linear_recipe("unknown") is LINEAR["moco_v2"]
    one = finetune_recipe("1pct", "swav")
    assert one.head_lr is not None and one.head_lr > 100 * one.lr  # separate trunk / head learning rates
    assert LINEAR["moco_v2"].scaled_lr(512) == 60.0
    with pytest.raises(ValueError, match="milestones"):
        Recipe(epochs=10, batch_size=8, lr=1.0, schedule="step", milestones=(12,))


def test_fast_mode_learns_and_caches_features(tmp_path: Path) -> None:
    _colour_tree(tmp_path / "train", 12)
    _colour_tree(tmp_path / "val", 4)
    train, _ = imagefolder_items(tmp_path / "train")
    val, _ = imagefolder_items(tmp_path / "val")
    torch.manual_seed(0)
    backbone = build_resnet("resnet10_w16", small_stem=True).eval()
    before = {k: v.clone() for k, v in backbone.state_dict().items()}
    recipe = Recipe(epochs=30, batch_size=8, lr=0.5)
    result = train_linear(backbone, PRE, train, 2, recipe, OPTS, val_items=val, cache_dir=tmp_path / "cache")
    assert result.val_top1 == 100.0
    assert result.train_loss[-1] < result.train_loss[0]
    assert all(torch.equal(before[k], v) for k, v in backbone.state_dict().items())  # frozen, BN stats too
    cache = tmp_path / "cache" / "train.features.npz"
    with np.load(cache, allow_pickle=False) as data:
        assert data["features"].shape == (24, 128)
    stamp = cache.stat().st_mtime_ns
    train_linear(backbone, PRE, train, 2, recipe, OPTS, cache_dir=tmp_path / "cache", epochs=1)
    assert cache.stat().st_mtime_ns == stamp  # reused, not recomputed


def test_fast_probe_is_blind_to_feature_scale_and_folds_its_standardisation() -> None:
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(3), 40)
    features = (rng.normal(size=(120, 16)) + labels[:, None] * 0.8).astype(np.float32)
    torch.manual_seed(0)  # the head's initial weights
    small, _ = standardised_head(features, labels, 3, OPTS, epochs=20)
    # 1000x larger features with an offset: the published MoCo-v2 recipe (LR 30) diverges on such
    # scales; the probe sees the same standardised inputs and learns the same head.
    torch.manual_seed(0)
    large, losses = standardised_head(features * 1000 + 5, labels, 3, OPTS, epochs=20)
    assert losses[-1] < losses[0] and losses[-1] < 1.0
    torch.testing.assert_close(
        large(torch.from_numpy(features * 1000 + 5)), small(torch.from_numpy(features)), rtol=1e-3, atol=1e-3
    )
    assert head_top1(small, features, labels, "cpu") > 90.0


def test_paper_mode_and_finetune_run_one_epoch(tmp_path: Path) -> None:
    _colour_tree(tmp_path / "train", 4)
    train, _ = imagefolder_items(tmp_path / "train")
    backbone = build_resnet("resnet10_w16", small_stem=True).eval()
    result = train_linear(backbone, PRE, train, 2, Recipe(epochs=1, batch_size=4, lr=0.1), OPTS, mode="paper")
    assert result.head.weight.shape == (2, 128) and result.mode == "paper"
    recipe = Recipe(epochs=1, batch_size=4, lr=0.01, head_lr=0.5)
    before = backbone.conv1.weight.detach().clone()
    model, losses, unreadable = finetune(backbone, PRE, train, 2, recipe, OPTS)
    assert len(losses) == 1 and unreadable == []
    assert not torch.equal(before, model.backbone.conv1.weight)  # the trunk trains too
    with pytest.raises(ValueError, match="head_lr"):
        finetune(backbone, PRE, train, 2, Recipe(epochs=1, batch_size=4, lr=0.01), OPTS)


def test_a_new_head_depends_on_its_seed_not_on_the_global_random_state() -> None:
    torch.manual_seed(1)
    a = new_head(16, 3, seed=5)
    torch.manual_seed(2)
    torch.rand(100)
    b = new_head(16, 3, seed=5)
    assert torch.equal(a.weight, b.weight) and not torch.equal(a.weight, new_head(16, 3, seed=6).weight)
    assert 0.005 < float(a.weight.detach().std()) < 0.02 and not a.bias.any()
