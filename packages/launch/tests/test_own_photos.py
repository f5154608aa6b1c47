"""The README's own-photos workflow, command by command, on real photographs saved as JPEG:
masks (``saliency handcrafted``) -> ``augment preview`` -> one epoch of ``bgaug pretrain``, each
reading what the one before wrote, as written (no renaming, no format conversion)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


def _photos(root: Path) -> Path:
    """scikit-image's sample photographs as JPEGs of 300-480 px in class folders (.jpg and .JPEG)."""
    from skimage import data

    photos = root / "photos"
    sources = {
        "cat": data.chelsea(),
        "person": data.astronaut(),
        "cup": data.coffee(),
        "rocket": data.rocket(),
    }
    for i, (name, image) in enumerate(sources.items()):
        (photos / name).mkdir(parents=True)
        for flip, suffix in ((False, "jpg"), (True, "JPEG")):
            side = 300 + 60 * i
            picture = Image.fromarray(np.ascontiguousarray(image[:, ::-1] if flip else image))
            picture.thumbnail((side, side))
            picture.save(photos / name / f"{name}_{int(flip)}.{suffix}", quality=90)
    return photos


@pytest.mark.slow
def test_photos_to_masks_to_preview_to_pretraining(tmp_path: Path) -> None:
    from bgaug.augment.cli import main as augment
    from bgaug.core.io import load_image
    from bgaug.launch.cli import main as bgaug
    from bgaug.saliency.cli import main as saliency

    photos = _photos(tmp_path)
    bank = tmp_path / "bank"
    assert saliency(["handcrafted", "--method", "dsr", "--images", str(photos), "--out", str(bank)]) == 0
    grid = tmp_path / "views.png"
    preview = ["preview", "--images", str(photos), "--masks", str(bank), "--out", str(grid), "--n", "8"]
    assert augment([*preview, "--image-size", "64", "--load-size", "72"]) == 0
    assert load_image(grid).shape[0] > 8 * 64
    masks_folder = [*preview[:4], str(bank / "masks"), *preview[5:]]  # the bank's masks/ is the bank too
    assert augment([*masks_folder, "--image-size", "32", "--load-size", "36"]) == 0
    run = tmp_path / "run"
    pretrain = [
        "pretrain", "--recipe", "cpu", "--method", "moco_v2", "--bg-aug", "bg_swaps",
        "--data", str(photos), "--masks", str(bank), "--epochs", "1", "--batch-size", "8",
        "--workers", "0", "--loader-workers", "0", "--method-option", "queue_size=16",
        "--train-option", "progress_bar=false", "--out", str(run),
    ]  # fmt: skip
    assert bgaug(pretrain) == 0
    assert (run / "backbone.pt").is_file()


@pytest.mark.slow
def test_photos_to_a_detector_bank_to_pretraining(tmp_path: Path) -> None:
    """docs/saliency.md's recommended detector commands for a folder of photos, shrunk to seconds:
    an SSL backbone on the folder -> ``fit --init`` on hand-crafted labels with crops -> ``predict``
    (with ``--crf on`` where the [crf] extra is installed) -> pretraining on the detector's bank."""
    from bgaug.core.io import load_image
    from bgaug.core.maskbank import DirectoryMaskBank
    from bgaug.launch.cli import main as bgaug
    from bgaug.saliency.cli import main as saliency
    from bgaug.saliency.crf import crf_version

    photos = _photos(tmp_path)
    quiet = ["--train-option", "progress_bar=false", "--method-option", "queue_size=16"]
    ssl = [
        "pretrain", "--method", "moco_v2", "--bg-aug", "none", "--recipe", "cpu", "--arch", "resnet10_w16",
        "--small-stem", "--image-size", "32", "--batch-size", "8", "--epochs", "2", "--workers", "0",
        "--loader-workers", "0", "--data", str(photos), "--out", str(tmp_path / "ssl"), *quiet,
    ]  # fmt: skip
    assert bgaug(ssl) == 0
    detector = tmp_path / "detector.pt"
    fit = [
        "fit", "--images", str(photos), "--init", str(tmp_path / "ssl" / "backbone.pt"), "--preset", "quick",
        "--phase2-labels", "pseudo", "--phase2-epochs", "2", "--phase2-views", "crops", "--image-size", "32",
        "--workers", "1", "--out", str(detector),
    ]  # fmt: skip
    assert saliency(fit) == 0
    bank = tmp_path / "bank"
    crf = ["--crf", "on"] if crf_version() is not None else []
    predict = ["predict", "--checkpoint", str(detector), "--images", str(photos), "--out", str(bank), *crf]
    assert saliency(predict) == 0
    masks = DirectoryMaskBank(bank)
    assert len(masks) == 8
    for i in range(len(masks)):  # a mask per photo, at the photo's own size
        assert masks[i].mask.shape == load_image(photos / masks.entry(i)["path"]).shape[:2]
    identity = json.loads((bank / "manifest.json").read_text())["detector"]
    assert identity["init"] == "ssl" and ("crf" in identity) == bool(crf)
    run = tmp_path / "run"
    pretrain = [
        "pretrain", "--recipe", "cpu", "--method", "moco_v2", "--bg-aug", "bg_swaps", "--data", str(photos),
        "--masks", str(bank), "--epochs", "1", "--batch-size", "8", "--workers", "0", "--loader-workers", "0",
        "--out", str(run), *quiet,
    ]  # fmt: skip
    assert bgaug(pretrain) == 0
    assert (run / "backbone.pt").is_file()
