from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision

from bgaug.core.backbones import build_resnet, save_backbone
from bgaug.core.io import CONTENT_HASH_KEY, BadCheckpointError
from bgaug.saliency.fcn import FCNDetector, SaliencyFCN, build_fcn, load_detector, save_fcn


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
    read_only = np.full((40, 12, 3), 200, np.uint8)
    read_only.setflags(write=False)  # as decoded images often are
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        maps = detector.predict_arrays([np.zeros((20, 30, 3), np.uint8), read_only])
    assert [m.shape for m in maps] == [(20, 30), (40, 12)]
    assert all(m.min() >= 0.0 and m.max() <= 1.0 for m in maps)
    batch = detector.predict(torch.rand(2, 3, 24, 24))
    assert batch.shape == (2, 1, 24, 24)
    torch.save({"format": "other"}, tmp_path / "o.pt")
    with pytest.raises(BadCheckpointError):
        load_detector(tmp_path / "o.pt")


@pytest.mark.parametrize(("small_stem", "logit_side"), [(True, 32), (False, 8)])
def test_fpn_decoder_logits_at_first_stage_resolution(small_stem: bool, logit_side: int) -> None:
    model = SaliencyFCN("resnet10_w16", small_stem=small_stem, output_stride=8, decoder="fpn").eval()
    x = torch.rand(2, 3, 32, 32)
    stages = model.stages(x)
    assert stages[0].shape[-1] == logit_side  # layer1: stride 1 (3x3/1 stem) or 4 (7x7/2 stem + pool)
    assert model.head(stages).shape == (2, 1, logit_side, logit_side)
    assert model(x).shape == (2, 1, 32, 32)
    # The first stage reaches the logits (the 1x1 head sees only the last): changing it alone changes them.
    bumped = [stages[0] + 1.0, *stages[1:]]
    assert not torch.allclose(model.head(bumped), model.head(stages))
    with pytest.raises(ValueError, match="decoder"):
        SaliencyFCN("resnet10_w16", small_stem=True, decoder="unet")


def test_fpn_detector_roundtrip_and_old_checkpoints(tmp_path: Path) -> None:
    model = SaliencyFCN("resnet10_w16", small_stem=True, output_stride=8, decoder="fpn").eval()
    save_fcn(tmp_path / "fpn.pt", model, image_size=24, meta={})
    detector, state = load_detector(tmp_path / "fpn.pt")
    assert state["decoder"] == "fpn"
    x = torch.rand(1, 3, 24, 24)
    assert torch.allclose(detector.predict(x), torch.sigmoid(model(x)), atol=1e-6)
    # A checkpoint written before the decoder option existed has no "decoder" key: a 1x1 head.
    plain = SaliencyFCN("resnet10_w16", small_stem=True, output_stride=8)
    save_fcn(tmp_path / "old.pt", plain, image_size=24, meta={})
    old = torch.load(tmp_path / "old.pt", weights_only=True)
    del old["decoder"], old[CONTENT_HASH_KEY]  # written before decoders and content hashes existed
    torch.save(old, tmp_path / "old.pt")
    detector, _ = load_detector(tmp_path / "old.pt")
    assert detector.model.decoder == "none"


def test_ssl_init_with_fpn_decoder(tmp_path: Path) -> None:
    backbone = build_resnet("resnet10_w16", small_stem=True)
    meta = {"method": "byol"}
    save_backbone(tmp_path / "ssl.pt", backbone, arch="resnet10_w16", small_stem=True, meta=meta)
    model, meta = build_fcn("resnet50", small_stem=False, decoder="fpn", init=tmp_path / "ssl.pt")
    assert meta["init"] == "ssl" and model.decoder == "fpn"
    assert torch.equal(model.backbone.layer4[0].conv1.weight, backbone.layer4[0].conv1.weight)


def test_flip_average_is_mirror_equivariant() -> None:
    torch.manual_seed(0)
    model = SaliencyFCN("resnet10_w16", small_stem=True, output_stride=8, decoder="fpn")
    x = torch.rand(2, 3, 24, 24)
    plain = FCNDetector(model, 24)
    # A random network is not mirror-equivariant on its own, so the check below can fail.
    assert not torch.allclose(plain.predict(x.flip(-1)).flip(-1), plain.predict(x), atol=1e-4)
    averaged = FCNDetector(model, 24, flip_average=True)
    assert torch.allclose(averaged.predict(x.flip(-1)).flip(-1), averaged.predict(x), atol=1e-6)
    mean = (plain.predict(x) + plain.predict(x.flip(-1)).flip(-1)) / 2
    assert torch.allclose(averaged.predict(x), mean, atol=1e-6)
    image = (x[0].permute(1, 2, 0).numpy() * 255).astype(np.uint8)
    both = averaged.predict_arrays([image, image[:, ::-1]])
    assert np.allclose(both[0], both[1][:, ::-1], atol=1e-6)
