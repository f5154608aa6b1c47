"""Threshold rule per mask source (issue 24.2): the paper's 0.9 for the detector, an adaptive rule for
the flatter hand-crafted maps, recorded in the bank."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bgaug.core.io import load_mask, save_png
from bgaug.saliency.bank import MIN_ADAPTIVE_THRESHOLD, threshold_of
from bgaug.saliency.cli import main
from bgaug.saliency.handcrafted import METHODS
from bgaug.saliency.handcrafted_bank import HANDCRAFTED_THRESHOLD

from .scenes import ellipse_scene

PHOTOS = ("astronaut", "chelsea", "coffee", "rocket")


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from skimage import data

    root = tmp_path_factory.mktemp("photos")
    for name in PHOTOS:
        save_png(root / f"{name}.png", getattr(data, name)())
    return root


@pytest.mark.parametrize("method", sorted(METHODS))
def test_default_masks_of_real_photos_are_neither_empty_nor_the_frame(
    photos: Path, tmp_path: Path, method: str
) -> None:
    """On photographs the paper's 0.9 left hand-crafted masks nearly empty (RBD: 0-1 % of chelsea)."""
    bank = tmp_path / "bank"
    argv = ["handcrafted", "--method", method, "--images", str(photos), "--out", str(bank)]
    assert main([*argv, "--workers", "1"]) == 0
    manifest = json.loads((bank / "manifest.json").read_text())
    assert manifest["threshold_rule"] == HANDCRAFTED_THRESHOLD and manifest["threshold"] is None
    for entry in manifest["entries"]:
        fraction = load_mask(bank / entry["mask"]).mean()
        assert 0.02 <= fraction <= 0.75, f"{method} {entry['path']}: {fraction:.3f} of the frame"
        assert 0.0 < entry["threshold"] <= 1.0


def test_threshold_overrides_and_records(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for i in range(2):
        save_png(tmp_path / "images" / f"{i}.png", ellipse_scene(i)[0])
    argv = ["handcrafted", "--method", "mc", "--images", str(tmp_path / "images"), "--workers", "1"]
    assert main([*argv, "--out", str(tmp_path / "fixed"), "--threshold", "0.9"]) == 0
    fixed = json.loads((tmp_path / "fixed" / "bank.json").read_text())
    assert fixed["threshold"] == 0.9 and "threshold_rule" not in fixed  # the layout banks always had
    assert main([*argv, "--out", str(tmp_path / "otsu"), "--threshold", "otsu"]) == 0
    assert json.loads((tmp_path / "otsu" / "bank.json").read_text())["threshold_rule"] == "otsu"
    capsys.readouterr()
    for bad in ("1.5", "0", "median"):
        with pytest.raises(SystemExit) as exc:
            main([*argv, "--out", str(tmp_path / "bad"), "--threshold", bad])
        assert exc.value.code == 2
    assert not (tmp_path / "bad").exists()


def test_predict_keeps_the_papers_threshold(tmp_path: Path) -> None:
    from bgaug.saliency.fcn import SaliencyFCN, save_fcn

    save_png(tmp_path / "images" / "a.png", ellipse_scene(0)[0])
    save_fcn(tmp_path / "d.pt", SaliencyFCN("resnet10_w16", small_stem=True), image_size=32, meta={})
    argv = ["predict", "--checkpoint", str(tmp_path / "d.pt"), "--images", str(tmp_path / "images")]
    assert main([*argv, "--out", str(tmp_path / "bank")]) == 0
    config = json.loads((tmp_path / "bank" / "bank.json").read_text())
    assert config["threshold"] == 0.9 and "threshold_rule" not in config


def test_adaptive_rules_on_flat_and_simple_maps() -> None:
    for rule in ("twice-mean", "otsu"):
        assert threshold_of(np.zeros((4, 4)), rule) == MIN_ADAPTIVE_THRESHOLD  # no foreground
        flat = np.full((4, 4), 0.3)
        assert not (flat >= threshold_of(flat, rule)).any()
    step = np.zeros((10, 10))
    step[:, 7:] = 1.0
    assert threshold_of(step, "twice-mean") == pytest.approx(0.6)
    assert 0.0 < threshold_of(step, "otsu") < 1.0
    assert threshold_of(step, 0.9) == 0.9
