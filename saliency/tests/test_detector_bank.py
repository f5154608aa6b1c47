from __future__ import annotations

from pathlib import Path

import pytest
import torch

from bgaug.core.io import save_png, sha256_file
from bgaug.core.maskbank import DirectoryMaskBank
from bgaug.saliency.detector_bank import detector_bank
from bgaug.saliency.fcn import SaliencyFCN, save_fcn

from .scenes import ellipse_scene


def _files(bank: Path) -> dict[str, str]:
    return {p.relative_to(bank).as_posix(): sha256_file(p) for p in sorted(bank.rglob("*")) if p.is_file()}


def test_detector_bank_is_independent_of_batching(tmp_path: Path) -> None:
    """A resumed build batches the remaining images differently; its files must not change."""
    torch.manual_seed(0)
    for i in range(7):
        save_png(tmp_path / "images" / f"{i}.png", ellipse_scene(i, 40 + i, 48)[0])
    save_fcn(
        tmp_path / "d.pt", SaliencyFCN("resnet10", small_stem=False, output_stride=8), image_size=32, meta={}
    )
    for bs in (4, 3):
        manifest = detector_bank(
            tmp_path / "d.pt",
            tmp_path / "images",
            tmp_path / f"bank{bs}",
            threshold=0.5,
            soft_maps=True,
            batch_size=bs,
            progress=False,
        )
        assert manifest["detector"]["sha256"] == sha256_file(tmp_path / "d.pt")
    assert _files(tmp_path / "bank4") == _files(tmp_path / "bank3")
    bank = DirectoryMaskBank(tmp_path / "bank4")
    assert bank[bank.index_of("3.png")].mask.shape == (43, 48)


def test_flip_average_is_part_of_the_bank_identity(tmp_path: Path) -> None:
    torch.manual_seed(0)
    for i in range(2):
        save_png(tmp_path / "images" / f"{i}.png", ellipse_scene(i, 32, 32)[0])
    save_fcn(tmp_path / "d.pt", SaliencyFCN("resnet10_w16", small_stem=True), image_size=32, meta={})
    args = (tmp_path / "d.pt", tmp_path / "images", tmp_path / "bank")
    manifest = detector_bank(*args, threshold=0.5, flip_average=True, progress=False)
    assert manifest["detector"]["test_time"] == "flip_average"
    with pytest.raises(ValueError, match="different detector or options"):
        detector_bank(*args, threshold=0.5, progress=False)  # a resume must not mix plain maps in
    plain = detector_bank(
        tmp_path / "d.pt", tmp_path / "images", tmp_path / "plain", threshold=0.5, progress=False
    )
    assert "test_time" not in plain["detector"]  # banks from before the option keep their identity
