from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torchvision
from torch import nn

from bgaug.core.backbones import (
    ARCHS,
    FEATURE_DIMS,
    build_backbone,
    build_resnet,
    load_backbone,
    load_classifier,
    save_backbone,
)
from bgaug.core.interfaces import Preprocess
from bgaug.core.io import BadCheckpointError, save_checkpoint


@pytest.mark.parametrize("arch", ["resnet10_w16", "resnet10", "resnet18"])
def test_small_stem_keeps_resolution_and_features(arch: str) -> None:
    net = build_resnet(arch, small_stem=True).eval()
    assert net.conv1.kernel_size == (3, 3)
    with torch.no_grad():
        out = net(torch.rand(2, 3, 32, 32))
    assert out.shape == (2, FEATURE_DIMS[arch])


def test_slim_resnet_roundtrips(tmp_path: Path) -> None:
    net = build_resnet("resnet10_w16", zero_init_residual=True)
    assert net.layer4[0].bn2.weight.abs().sum() == 0
    save_backbone(tmp_path / "s.pt", net, arch="resnet10_w16", small_stem=False)
    loaded, state = load_backbone(tmp_path / "s.pt")
    assert state["arch"] == "resnet10_w16"
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(loaded(x), net.eval()(x))


def test_export_loads_into_torchvision_strictly(tmp_path: Path) -> None:
    net = build_resnet("resnet18")
    path = tmp_path / "b.pt"
    save_backbone(path, net, arch="resnet18", small_stem=False, meta={"method": "moco_v2"})
    state = torch.load(path, weights_only=True)
    ref = torchvision.models.resnet18(weights=None)
    ref.fc = nn.Identity()
    ref.load_state_dict(state["state_dict"], strict=True)
    x = torch.rand(1, 3, 64, 64)
    loaded, _ = load_backbone(path)
    with torch.no_grad():
        assert torch.allclose(loaded(x), net.eval()(x))


def test_classifier_roundtrip_and_missing_head(tmp_path: Path) -> None:
    net = build_resnet("resnet18", small_stem=True)
    head = nn.Linear(512, 9)
    path = tmp_path / "c.pt"
    save_backbone(path, net, arch="resnet18", small_stem=True, head=head, preprocess=Preprocess(72, 64))
    clf = load_classifier(path)
    assert clf.preprocess.crop == 64
    assert clf(torch.rand(2, 3, 64, 64)).shape == (2, 9)
    save_backbone(tmp_path / "nohead.pt", net, arch="resnet18", small_stem=True)
    with pytest.raises(BadCheckpointError, match="no linear head"):
        load_classifier(tmp_path / "nohead.pt")
    save_checkpoint({"format": "other"}, tmp_path / "x.pt")
    with pytest.raises(BadCheckpointError, match="not a bgaug backbone"):
        load_backbone(tmp_path / "x.pt")
    with pytest.raises(ValueError, match="arch"):
        build_resnet("vgg16")


@pytest.mark.parametrize("small_stem", [False, True])
def test_rotnet_alexnet_trunk_round_trips_through_a_checkpoint(tmp_path: Path, small_stem: bool) -> None:
    torch.manual_seed(0)
    net, dim = build_backbone("alexnet", small_stem=small_stem)
    assert dim == 256
    net.eval()
    x = torch.rand(2, 3, 64, 64)
    save_backbone(tmp_path / "rotnet.pt", net, arch="alexnet", small_stem=small_stem)
    loaded, state = load_backbone(tmp_path / "rotnet.pt")
    assert state["arch"] == "alexnet"
    torch.testing.assert_close(loaded(x), net(x))


def test_a_checkpoint_of_an_unknown_arch_is_a_bad_checkpoint(tmp_path: Path) -> None:
    net = build_resnet("resnet10_w16")
    save_backbone(tmp_path / "odd.pt", net, arch="vgg16", small_stem=False)
    with pytest.raises(BadCheckpointError, match="arch must be one of"):
        load_backbone(tmp_path / "odd.pt")
    assert "alexnet" in ARCHS and "alexnet" not in FEATURE_DIMS  # FEATURE_DIMS: the ResNets only


@pytest.mark.parametrize(("arch", "dim"), [("cnn5_w16", 64), ("cnn5_w32", 128)])
def test_plain_cnn_round_trips_and_keeps_a_spatial_map(tmp_path: Path, arch: str, dim: int) -> None:
    torch.manual_seed(0)
    net, feature_dim = build_backbone(arch)
    assert feature_dim == dim
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    assert [c.stride[0] for c in convs] == [1, 2, 1, 2, 1]
    x = torch.rand(2, 3, 24, 24)
    with torch.no_grad():
        before_pool = net.features[:-2](x)  # type: ignore[index]
    assert before_pool.shape[-2:] == (6, 6)  # a quarter of the input side, not 1 x 1
    save_backbone(tmp_path / "cnn.pt", net, arch=arch, small_stem=False)
    loaded, state = load_backbone(tmp_path / "cnn.pt")
    assert state["arch"] == arch and arch in ARCHS
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), net.eval()(x))
    with pytest.raises(ValueError, match="no stem"):
        build_backbone(arch, small_stem=True)
