from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def synth_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny synthetic benchmark: 2 classes, 16 pretraining images of 32 px, labelled train/val."""
    from bgaug.core.synth import SynthConfig, generate

    root = tmp_path_factory.mktemp("synth") / "bench"
    config = SynthConfig(
        seed=0, image_size=32, classes=2, pretrain_per_class=8, train_per_class=4, val_per_class=2
    )
    generate(config, root, workers=1, progress=False)
    return root


def tiny_config(root: Path, **changes: object) -> dict[str, object]:
    """A MoCo-v2 + BG_Swaps config small enough for 2 CPU cores (2 steps per epoch at batch 8)."""
    config: dict[str, object] = {
        "method": "moco_v2",
        "bg_aug": "bg_swaps",
        "data": str(root / "pretrain"),
        "masks": str(root / "masks" / "pretrain"),
        "epochs": 2,
        "batch_size": 8,
        "arch": "resnet10",
        "small_stem": True,
        "image_size": 32,
        "loader_workers": 0,
        "knn_train": str(root / "train"),
        "knn_val": str(root / "val"),
        "knn_k": 3,
        "method_options": {"queue_size": 16},
        "train_options": {"progress_bar": False},
    }
    config.update(changes)
    return config
