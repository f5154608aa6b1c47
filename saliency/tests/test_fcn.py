from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision

from bgaug.core.backbones import build_resnet, save_backbone
from bgaug.core.io import BadCheckpointError
from bgaug.saliency.fcn import SaliencyFCN, build_fcn, load_detector, save_fcn


def _conv_layout(model: torch.nn.Module) -> list[tuple[str, object, object, object]]:
    return [
        (n, m.stride, m.dilation, m.padding)
        for n, m in model.named_modules()
        if isinstance(m, torch.nn.Conv2d)
    ]


@pytest.mark.parametrize(("output_stride", "flags"), [(8, [False, True, True]), (16, [False, False, True])])
def test_dilation_matches_torchvision(output_stride: int, flags: list[bool]) -> None:
    reference = torchvision.models.resnet50(weights=None, replace_stride_with_dilation=flags)
    ours = SaliencyFCN("resnet50", small_stem=False, output_stride=output_stride).backbone
    assert _conv_layout(ours) == _conv_layout(reference)


@pytest.mark.parametrize(
    ("small_stem", "output_stride", "feature_side"),
    [(False, 8, 8), (False, 16, 4), (True, 8, 8), (True, 4, 16)],
)
def test_output_stride_and_shape(small_stem: bool, output_stride: int, feature_side: int) -> None:
    model = SaliencyFCN("resnet10", small_stem=small_stem, output_stride=output_stride).eval()
    x = torch.rand(2, 3, 64, 64)
    assert model.features(x).shape[-1] == feature_side
    assert model(x).shape == (2, 1, 64, 64)


def test_bad_output_stride() -> None:
    with pytest.raises(ValueError, match="output_stride"):
        SaliencyFCN("resnet10", small_stem=True, output_stride=16)


def test_init_from_ssl_checkpoint(tmp_path: Path) -> None:
    backbone = build_resnet("resnet10", small_stem=True)
    save_backbone(tmp_path / "ssl.pt", backbone, arch="resnet10", small_stem=True, meta={"method": "byol"})
    model, meta = build_fcn("resnet50", small_stem=False, init=tmp_path / "ssl.pt")
    assert meta["init"] == "ssl" and meta["arch"] == "resnet10" and meta["small_stem"] is True
    assert torch.equal(model.backbone.conv1.weight, backbone.conv1.weight)
    save_backbone(
        tmp_path / "sup.pt", backbone, arch="resnet10", small_stem=True, meta={"method": "supervised"}
    )
    with pytest.raises(ValueError, match="supervised"):
        build_fcn("resnet10", small_stem=True, init=tmp_path / "sup.pt")
    _, meta = build_fcn("resnet10", small_stem=True)
    assert meta["init"] == "random"


def test_detector_roundtrip(tmp_path: Path) -> None:
    model = SaliencyFCN("resnet10", small_stem=False, output_stride=16)
    save_fcn(tmp_path / "d.pt", model, image_size=32, meta={"init": "random"})
    detector, state = load_detector(tmp_path / "d.pt")
    assert state["meta"]["init"] == "random"
    maps = detector.predict_arrays([np.zeros((20, 30, 3), np.uint8), np.full((40, 12, 3), 200, np.uint8)])
    assert [m.shape for m in maps] == [(20, 30), (40, 12)]
    assert all(m.min() >= 0.0 and m.max() <= 1.0 for m in maps)
    batch = detector.predict(torch.rand(2, 3, 24, 24))
    assert batch.shape == (2, 1, 24, 24)
    torch.save({"format": "other"}, tmp_path / "o.pt")
    with pytest.raises(BadCheckpointError):
        load_detector(tmp_path / "o.pt")
