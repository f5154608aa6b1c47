from __future__ import annotations

from pathlib import Path

import pytest
import torch

from bgaug.core.io import save_png
from bgaug.saliency import deepusps
from bgaug.saliency.deepusps import config_with, fit
from bgaug.saliency.fcn import build_fcn
from bgaug.saliency.fit_views import crop_views

from .scenes import ellipse_scene


def _batch(n: int = 6, size: int = 48) -> tuple[torch.Tensor, torch.Tensor]:
    """Grey images whose bright pixels are exactly their labels' foreground (two label sets)."""
    labels = torch.zeros(2, n, 1, size, size)
    for i in range(n):
        labels[:, i, :, 8 + i : 30 + i, 5 + 2 * i : 20 + 3 * i] = 1
    images = (0.2 + 0.6 * labels[0]).expand(n, 3, size, size).clone()
    return images, labels


def test_crop_views_move_images_and_labels_together() -> None:
    images, labels = _batch()
    views, moved = crop_views(images, labels, torch.Generator().manual_seed(0))
    assert views.shape == images.shape and moved.shape == labels.shape
    assert set(moved.unique().tolist()) <= {0.0, 1.0}  # nearest-neighbour labels stay binary
    assert torch.equal(moved[0], moved[1])  # one crop for every label set
    assert not torch.equal(moved, labels)  # the views are not the inputs
    # Jitter keeps the bright foreground brighter than the background in each view, so thresholding
    # each view halfway between its extremes must give back its labels (up to the resampled edges).
    for i in range(images.shape[0]):
        grey = views[i].mean(0)
        bright = grey > (grey.min() + grey.max()) / 2
        if moved[0, i].any() and not moved[0, i].all():
            assert (bright == moved[0, i, 0].bool()).float().mean() > 0.95
    again = crop_views(images, labels, torch.Generator().manual_seed(0))
    assert torch.equal(again[0], views) and torch.equal(again[1], moved)  # the generator decides


def test_crop_views_refused_where_predictions_are_averaged() -> None:
    config = config_with("quick", {"image_size": 16})
    images = torch.zeros(2, 3, 16, 16, dtype=torch.uint8)
    with pytest.raises(ValueError, match="whole-image"):
        deepusps.train(
            build_fcn(config.arch, small_stem=True, decoder="fpn"),
            images,
            lambda: [torch.zeros(2, 1, 16, 16)],
            epochs=1,
            rounds=1,
            lr=1e-3,
            config=config,
            device=torch.device("cpu"),
            name="phase I",
            on_round_end=lambda average: None,
            views="crops",
        )
    with pytest.raises(ValueError, match="phase2_views"):
        config_with("quick", {"phase2_views": "rotate"})


def test_fit_trains_the_detector_on_crops(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for i in range(3):
        save_png(tmp_path / "images" / f"{i}.png", ellipse_scene(i, 24, 24)[0])
    calls: list[str] = []
    real = deepusps.crop_views

    def spy(*args: torch.Tensor | torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        calls.append("crop")
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(deepusps, "crop_views", spy)
    settings = {"image_size": 24, "methods": ("mc",), "rounds": 1, "epochs_per_round": 1, "phase2_epochs": 2}
    fit(tmp_path / "images", tmp_path / "a.pt", config_with("quick", settings), workers=1, progress=False)
    assert calls == []  # flips only, phase I and II (both presets' default)
    config = config_with("quick", {**settings, "batch_size": 2, "phase2_views": "crops"})
    fit(tmp_path / "images", tmp_path / "b.pt", config, workers=1, progress=False)
    assert calls == ["crop"] * 4  # phase II only: 2 epochs x 2 steps
