"""Shared fixtures: the reference data folder, tiny image trees and tiny classifiers."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import Tensor, nn

from bgaug.core.interfaces import Classifier, Preprocess
from bgaug.core.io import save_png

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``$BGAUG_SHARED_DATA`` (default ``<repo>/../shared/data``); skip when absent."""
    root = Path(os.environ.get("BGAUG_SHARED_DATA", REPO.parent / "shared" / "data"))
    if not (root / "reference").is_dir():
        pytest.skip(f"reference data not found at {root} (set BGAUG_SHARED_DATA)")
    return root


WriteImages = Callable[[Path, int, int], list[Path]]


@pytest.fixture
def write_images() -> WriteImages:
    """``write(folder, n, size)``: ``n`` random RGB PNGs of ``size`` x ``size`` in ``folder``."""

    def write(folder: Path, n: int, size: int = 12, *, seed: int = 0, name: str = "img{}.png") -> list[Path]:
        rng = np.random.default_rng(seed)
        out = []
        for i in range(n):
            path = folder / name.format(i)
            save_png(path, rng.integers(0, 256, (size, size, 3), dtype=np.uint8))
            out.append(path)
        return out

    return write  # type: ignore[return-value]


class ScriptedLogits(nn.Module):
    """Returns pre-set logit rows in call order, ignoring the images (predictions chosen by the test)."""

    def __init__(self, rows: Tensor, crop: int = 16):
        super().__init__()
        self.rows = rows
        self.position = 0
        self.preprocess = Preprocess(resize=crop, crop=crop)
        self.anchor = nn.Parameter(torch.zeros(()))
        self.head = nn.Linear(1, rows.shape[1])  # only tells the suites the number of logits

    def forward(self, images: Tensor) -> Tensor:
        out = self.rows[self.position : self.position + len(images)]
        self.position += len(images)
        return out.to(images.device) + 0 * self.anchor


@pytest.fixture
def scripted() -> Callable[[Tensor, int], ScriptedLogits]:
    return lambda rows, crop=16: ScriptedLogits(rows, crop)


def one_hot_logits(indices: Sequence[int], width: int = 1000) -> Tensor:
    rows = torch.zeros(len(indices), width)
    rows[torch.arange(len(indices)), torch.tensor(list(indices))] = 10.0
    return rows


@pytest.fixture
def one_hot() -> Callable[..., Tensor]:
    return one_hot_logits


@pytest.fixture
def tiny_classifier() -> Callable[[int], Classifier]:
    """A randomly initialised slim ResNet-10 (small stem) with a K-way head, 16 px inputs."""
    from bgaug.core.backbones import build_resnet

    def make(classes: int, seed: int = 0, crop: int = 16) -> Classifier:
        torch.manual_seed(seed)
        backbone = build_resnet("resnet10_w16", small_stem=True)
        return Classifier(backbone, nn.Linear(128, classes), Preprocess(resize=crop, crop=crop)).eval()

    return make


CLASSES = ("circle", "square", "triangle")
FAST = ["--workers", "0", "--no-progress", "--batch-size", "8"]
"""CLI options that keep a test run small and in-process."""


@pytest.fixture
def synth_root(tmp_path: Path, write_images: WriteImages) -> Path:
    """The synthetic benchmark's layout: in9/{variant}/val/{class}/, train/{class}/, val/{class}/."""
    from bgaug.evals.suites.in9 import VARIANTS

    root = tmp_path / "synth"
    for c in CLASSES:
        for variant in VARIANTS:
            write_images(root / "in9" / variant / "val" / c, 2, 16)
        write_images(root / "train" / c, 3, 16)
        write_images(root / "val" / c, 2, 16)
    return root


def save_test_checkpoint(path: Path, head: bool, seed: int = 0) -> Path:
    """A slim ResNet-10 backbone checkpoint (``bgaug-backbone/1``), with a 3-way head when ``head``."""
    from bgaug.core.backbones import build_resnet, save_backbone

    torch.manual_seed(seed)
    backbone = build_resnet("resnet10_w16", small_stem=True)
    save_backbone(
        path,
        backbone,
        arch="resnet10_w16",
        small_stem=True,
        head=nn.Linear(128, len(CLASSES)) if head else None,
        preprocess=Preprocess(resize=16, crop=16),
        meta={"method": "moco_v2"},
    )
    return path
