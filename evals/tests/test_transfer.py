from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bgaug.core.backbones import build_resnet
from bgaug.core.interfaces import Preprocess
from bgaug.core.io import save_png
from bgaug.evals.inference import EvalOptions
from bgaug.evals.recipes import Recipe
from bgaug.evals.transfer import ArrayImageDataset, linear_transfer

OPTS = EvalOptions(batch_size=8, workers=0, device="cpu", progress=False)
PRE = Preprocess(resize=16, crop=16)


def test_folder_transfer_with_train_and_test_splits(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    for split, n in (("train", 6), ("test", 2)):
        for label, channel in (("green", 1), ("red", 0)):
            for i in range(n):
                img = rng.integers(0, 50, (20, 20, 3), dtype=np.uint8)
                img[:, :, channel] = 220
                save_png(tmp_path / split / label / f"{i}.png", img)
    backbone = build_resnet("resnet10_w16", small_stem=True).eval()
    result = linear_transfer(backbone, PRE, "folder", tmp_path, Recipe(epochs=30, batch_size=4, lr=0.5), OPTS)
    assert result["classes"] == 2 and result["n_train"] == 12 and result["n_val"] == 4
    assert result["top1"] == 100.0


def test_cifar_is_never_downloaded(tmp_path: Path) -> None:
    backbone = build_resnet("resnet10_w16", small_stem=True).eval()
    with pytest.raises(FileNotFoundError, match="cifar10 not found"):
        linear_transfer(backbone, PRE, "cifar10", tmp_path, Recipe(epochs=1, batch_size=4, lr=0.1), OPTS)
    assert not any(tmp_path.iterdir())


def test_array_dataset_upsamples_like_the_classifier() -> None:
    images = np.zeros((2, 32, 32, 3), dtype=np.uint8)
    ds = ArrayImageDataset(images, np.array([0, 1]), Preprocess(resize=64, crop=56))
    image, label, ok, index = ds[1]
    assert image.shape == (3, 56, 56) and label == 1 and ok and index == 1
