from __future__ import annotations

from pathlib import Path

import pytest
import torch

from bgaug.core.io import save_png
from bgaug.saliency.deepusps import FitConfig, config_with, fit, soft_f_loss
from bgaug.saliency.fcn import load_detector

from .scenes import ellipse_scene


def test_soft_f_loss() -> None:
    y = torch.zeros(2, 1, 8, 8)
    y[:, :, 2:5, 2:6] = 1
    assert float(soft_f_loss(y, y)) == pytest.approx(0.0, abs=1e-5)
    assert float(soft_f_loss(1 - y, y)) == pytest.approx(1.0, abs=1e-5)
    p = torch.full_like(y, 0.5, requires_grad=True)
    soft_f_loss(p, y).backward()
    assert p.grad is not None and (p.grad[y == 1] < 0).all() and (p.grad[y == 0] > 0).all()


def test_config_validation() -> None:
    with pytest.raises(ValueError, match="methods"):
        FitConfig(methods=("hs",))
    with pytest.raises(ValueError, match="alpha"):
        FitConfig(alpha=1.5)
    with pytest.raises(ValueError, match="one value per method"):
        FitConfig(label_thresholds=(0.5,))
    assert FitConfig().lr_phase1 == 6e-6 and FitConfig().rounds == 3 and FitConfig().alpha == 0.7
    assert config_with("quick", {"rounds": 1, "seed": None}).rounds == 1


def test_fit_end_to_end(tmp_path: Path) -> None:
    for i in range(4):
        image, mask = ellipse_scene(i, 40, 40)
        save_png(tmp_path / "images" / f"{i}.png", image)
        save_png(tmp_path / "gt" / f"{i}.png", mask)
    (tmp_path / "images" / "bad.png").write_bytes(b"\x89PNG broken")
    config = config_with(
        "quick",
        {
            "image_size": 32,
            "methods": ("mc",),
            "rounds": 2,
            "epochs_per_round": 1,
            "phase2_epochs": 1,
            "batch_size": 4,
        },
    )
    summary = fit(
        tmp_path / "images", tmp_path / "det.pt", config, gt_root=tmp_path / "gt", workers=1, progress=False
    )
    assert summary["n_images"] == 4 and summary["skipped"][0]["path"] == "bad.png"
    assert set(summary["phase1"]) == {"mc"} and len(summary["phase1"]["mc"]["losses"]) == 2
    assert 0.0 <= summary["detector"]["max_f"] <= 1.0
    _, state = load_detector(tmp_path / "det.pt")
    assert state["meta"]["init"] == "random" and state["image_size"] == 32
    assert list(state["meta"]["config"]["methods"]) == ["mc"]
