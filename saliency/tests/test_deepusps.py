from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from bgaug.core.errors import UsageError
from bgaug.core.io import save_png
from bgaug.saliency.deepusps import PRESETS, FitConfig, config_with, fit, saliency_loss, soft_f_loss
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


def test_saliency_loss_adds_weighted_bce() -> None:
    y = torch.zeros(2, 1, 8, 8)
    y[:, :, 2:5, 2:6] = 1
    logits = torch.randn(2, 1, 8, 8)
    soft_f = soft_f_loss(torch.sigmoid(logits), y)
    assert torch.equal(saliency_loss(logits, y), soft_f)
    bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, y)
    assert torch.allclose(saliency_loss(logits, y, 0.5), soft_f + 0.5 * bce)
    # On flat predictions the BCE term adds a per-pixel pull toward the target on both sides.
    flat = torch.zeros_like(y, requires_grad=True)
    saliency_loss(flat, y, 1.0).backward()
    assert flat.grad is not None and (flat.grad[y == 1] < 0).all() and (flat.grad[y == 0] > 0).all()


def test_config_validation() -> None:
    with pytest.raises(ValueError, match="methods"):
        FitConfig(methods=("hs",))
    with pytest.raises(ValueError, match="alpha"):
        FitConfig(alpha=1.5)
    with pytest.raises(ValueError, match="one value per method"):
        FitConfig(label_thresholds=(0.5,))
    assert FitConfig().lr_phase1 == 6e-6 and FitConfig().rounds == 3 and FitConfig().alpha == 0.7
    assert config_with("quick", {"rounds": 1, "seed": None}).rounds == 1
    with pytest.raises(ValueError, match="decoder"):
        FitConfig(decoder="unet")
    with pytest.raises(ValueError, match="bce_weight"):
        FitConfig(bce_weight=-1.0)
    assert FitConfig().decoder == "none" and FitConfig().bce_weight == 0.0  # the paper's network and loss
    with pytest.raises(ValueError, match="phase2_labels"):
        FitConfig(phase2_labels="gt")
    assert FitConfig().phase2_labels == "refined" and PRESETS["quick"].phase2_labels == "refined"  # DeepUSPS
    with pytest.raises(ValueError, match="crf"):
        FitConfig(crf="yes")
    with pytest.raises(ValueError, match="handcrafted_size must be >= 16"):
        FitConfig(handcrafted_size=8)
    assert FitConfig().crf == "auto" and PRESETS["quick"].crf == "off"


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


def test_max_images_spread_over_listing(tmp_path: Path) -> None:
    from bgaug.saliency.deepusps import load_training_images

    for c in range(3):
        for i in range(4):
            image, _ = ellipse_scene(i, 16, 16)
            save_png(tmp_path / f"c{c}" / f"{i}.png", image)
    picked = load_training_images(tmp_path, 16, max_images=3, progress=False).relpaths
    assert picked == ["c0/0.png", "c1/2.png", "c2/3.png"]


def test_batchnorm_reestimated_exactly() -> None:
    from bgaug.saliency.deepusps import reestimate_batchnorm
    from bgaug.saliency.fcn import SaliencyFCN

    model = SaliencyFCN("resnet10_w16", small_stem=True, output_stride=8)
    images = torch.randint(0, 256, (10, 3, 16, 16), dtype=torch.uint8)
    reestimate_batchnorm(model, images, torch.device("cpu"), batch_size=5)
    bn = model.backbone.bn1
    x = model.backbone.conv1((images.float() / 255.0 - model.mean) / model.std)
    assert torch.allclose(bn.running_mean, x.mean((0, 2, 3)), atol=1e-5)
    assert bn.momentum == 0.1


def test_non_finite_loss_stops_with_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bgaug.saliency import deepusps

    for i in range(2):
        image, _ = ellipse_scene(i, 24, 24)
        save_png(tmp_path / "images" / f"{i}.png", image)
    monkeypatch.setattr(deepusps, "saliency_loss", lambda logits, t, w=0.0: logits.mean() * float("nan"))
    config = config_with("quick", {"image_size": 24, "methods": ("mc",), "rounds": 1, "batch_size": 2})
    with pytest.raises(UsageError, match=r"phase I mc: loss is nan at round 1, epoch 1, step 1"):
        fit(tmp_path / "images", tmp_path / "det.pt", config, workers=1, progress=False)
    assert not (tmp_path / "det.pt").exists()


@pytest.mark.parametrize("phase2_labels", ["refined", "pseudo", "both"])
def test_phase2_learns_the_chosen_label_sets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, phase2_labels: str
) -> None:
    from bgaug.saliency import deepusps

    for i in range(3):
        image, _ = ellipse_scene(i, 24, 24)
        save_png(tmp_path / "images" / f"{i}.png", image)
    real_train = deepusps.train
    seen: dict[str, list[torch.Tensor]] = {}

    def spy(model: object, images: torch.Tensor, targets: object, **kwargs: object) -> list[float]:
        name = str(kwargs["name"])
        seen[f"{name} before"] = [t.clone() for t in targets()]  # type: ignore[operator]
        losses = real_train(model, images, targets, **kwargs)  # type: ignore[arg-type]
        seen[f"{name} after"] = [t.clone() for t in targets()]  # type: ignore[operator]
        return losses

    monkeypatch.setattr(deepusps, "train", spy)
    config = config_with(
        "quick",
        {
            "image_size": 24,
            "methods": ("mc", "rbd"),
            "rounds": 1,
            "epochs_per_round": 2,
            "phase2_epochs": 1,
            "batch_size": 3,
            "phase2_labels": phase2_labels,
            "alpha": 0.1,  # refined labels then follow the predictions, so they differ from the pseudo-labels
        },
    )
    summary = fit(tmp_path / "images", tmp_path / "det.pt", config, workers=1, progress=False)
    phase2 = seen["phase II before"]
    if phase2_labels == "pseudo":
        # Phase I is skipped; phase II gets the binarised hand-crafted maps.
        assert sorted(seen) == ["phase II after", "phase II before"]
        assert "losses" not in summary["phase1"]["mc"]
        rels = deepusps.load_training_images(tmp_path / "images", 24, progress=False).relpaths
        maps = deepusps.handcrafted_maps(tmp_path / "images", rels, ("mc", "rbd"), 300, 24, 1, progress=False)
        expected = [(maps[m] >= 0.5).float() for m in range(2)]
    else:
        pseudo = [seen[f"phase I {m} before"][0] for m in ("mc", "rbd")]
        refined = [seen[f"phase I {m} after"][0] for m in ("mc", "rbd")]
        assert not all(torch.equal(a, b) for a, b in zip(refined, pseudo, strict=True))  # distinguishable
        expected = refined if phase2_labels == "refined" else refined + pseudo
        assert len(summary["phase1"]["mc"]["losses"]) == 2
    assert len(phase2) == len(expected)
    assert all(torch.equal(a, b) for a, b in zip(phase2, expected, strict=True))
    _, state = load_detector(tmp_path / "det.pt")
    assert state["meta"]["config"]["phase2_labels"] == phase2_labels


def test_handcrafted_maps_read_the_file_at_the_handcrafted_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The teachers saw the training-size square (64 px in the quick preset) however large the photo."""
    from bgaug.saliency import deepusps

    seen: list[tuple[int, ...]] = []

    def recorder(image: np.ndarray) -> np.ndarray:
        seen.append(image.shape)
        return np.linspace(0, 1, image.shape[0] * image.shape[1]).reshape(image.shape[:2])

    monkeypatch.setitem(deepusps.METHODS, "mc", recorder)
    image, _ = ellipse_scene(0, 80, 120)  # H x W = 80 x 120: not square
    save_png(tmp_path / "images" / "a.png", image)
    maps = deepusps.handcrafted_maps(tmp_path / "images", ["a.png"], ("mc",), 60, 24, 1, progress=False)
    assert seen == [(40, 60, 3)]  # shrunk to a longest side of 60, aspect kept: not the 24-px square
    assert maps.shape == (1, 1, 1, 24, 24)
    assert float(maps[0, 0, 0, 0, 0]) < 0.1 and float(maps[0, 0, 0, -1, -1]) > 0.9  # resized, not cropped
    seen.clear()
    deepusps.handcrafted_maps(tmp_path / "images", ["a.png"], ("mc",), 400, 24, 1, progress=False)
    assert seen == [(80, 120, 3)]  # within the bound: the file's own pixels
