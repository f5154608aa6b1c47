"""``import-backbone``: a ResNet from another library's file becomes a bgaug backbone checkpoint."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import torch
import torchvision
from torch import nn

from bgaug.core.backbones import build_resnet, load_backbone, load_classifier
from bgaug.core.cli import main
from bgaug.core.errors import UsageError
from bgaug.core.import_backbone import flatten_tensors, import_weights, resnet_prefixes


def _torchvision_resnet18() -> nn.Module:
    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None, num_classes=10)
    # Non-default BatchNorm statistics, so a dropped buffer would change the features.
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 1.5)
    return model.eval()


def _assert_same_features(backbone: nn.Module, ref: nn.Module, atol: float = 1e-5) -> None:
    """``backbone`` gives ``ref``'s pooled features (everything before ``fc``) on random images."""
    x = torch.rand(2, 3, 64, 64)
    body = nn.Sequential(*list(ref.children())[:-1], nn.Flatten(1))
    with torch.no_grad():
        assert torch.allclose(backbone(x), body(x), atol=atol)


def test_plain_torchvision_state_dict_gives_the_same_features(tmp_path: Path) -> None:
    ref = _torchvision_resnet18()
    source = tmp_path / "resnet18.pth"
    torch.save(ref.state_dict(), source)
    out = tmp_path / "imported.pt"
    with pytest.raises(ValueError, match=r"run python -m bgaug\.core import-backbone first"):
        load_backbone(source)
    assert main(["import-backbone", "--weights", str(source), "--method", "byol", "--out", str(out)]) == 0
    backbone, state = load_backbone(out)
    assert state["arch"] == "resnet18" and state["small_stem"] is False
    assert state["meta"]["method"] == "byol" and state["meta"]["prefix"] == ""
    assert "head" not in state
    _assert_same_features(backbone, ref)


def test_nested_encoders_need_a_prefix_and_mlp_heads_are_dropped(tmp_path: Path) -> None:
    query, key = _torchvision_resnet18(), build_resnet("resnet18")
    nested: dict[str, torch.Tensor] = {}
    for name, model in (("encoder_q", query), ("encoder_k", key)):
        for k, v in model.state_dict().items():
            if not k.startswith("fc."):
                nested[f"module.{name}.{k}"] = v
        nested[f"module.{name}.fc.0.weight"] = torch.rand(512, 512)  # MoCo-v2's MLP head
    source = tmp_path / "moco.pth.tar"
    torch.save({"epoch": 200, "arch": "resnet18", "state_dict": nested}, source)
    flat = {f"state_dict.{k}": v for k, v in nested.items()}
    assert resnet_prefixes(flat) == ["state_dict.module.encoder_k.", "state_dict.module.encoder_q."]
    with pytest.raises(UsageError, match="holds 2 ResNets"):
        import_weights(source, method="moco_v2")
    # The top-level ResNet is the one taken with --prefix "", not the copy nested beside it.
    top = tmp_path / "ema.pth"
    torch.save({**query.state_dict(), **{f"ema.{k}": v for k, v in key.state_dict().items()}}, top)
    assert resnet_prefixes(flatten_tensors(torch.load(top, weights_only=True))) == ["", "ema."]
    backbone, _, _ = import_weights(top, method="byol", prefix="")
    _assert_same_features(backbone, query)
    backbone, head, facts = import_weights(source, method="moco_v2", prefix="state_dict.module.encoder_q")
    assert facts["prefix"] == "state_dict.module.encoder_q." and head is None
    _assert_same_features(backbone, query)
    with pytest.raises(UsageError, match=r"--keep-head.*fc\.0\.weight"):
        import_weights(source, method="moco_v2", prefix="state_dict.module.encoder_q.", keep_head=True)


def test_half_precision_without_step_counters_loads(tmp_path: Path) -> None:
    ref = _torchvision_resnet18()
    weights = {
        f"backbone.{k}": v.half() if v.is_floating_point() else v
        for k, v in ref.state_dict().items()
        if not k.endswith("num_batches_tracked")
    }
    source = tmp_path / "solo.ckpt"
    torch.save({"state_dict": weights}, source)
    backbone, _, facts = import_weights(source, method="byol")
    assert facts["prefix"] == "state_dict.backbone."
    assert next(backbone.parameters()).dtype == torch.float32
    _assert_same_features(backbone, ref, atol=5e-2)


def test_modules_beside_the_resnet_are_left_out_and_listed(tmp_path: Path) -> None:
    ref = _torchvision_resnet18()
    swav = {f"module.{k}": v for k, v in ref.state_dict().items() if not k.startswith("fc.")}
    swav["module.projection_head.0.weight"] = torch.rand(128, 512)
    swav["module.prototypes.weight"] = torch.rand(30, 128)
    source = tmp_path / "swav.pth.tar"
    torch.save(swav, source)
    backbone, _, facts = import_weights(source, method="swav")
    assert facts["prefix"] == "module." and facts["ignored"] == ["projection_head", "prototypes"]
    _assert_same_features(backbone, ref)


def test_a_supervised_head_is_kept_on_request(tmp_path: Path) -> None:
    ref = _torchvision_resnet18()
    source = tmp_path / "sup.pth"
    torch.save(ref.state_dict(), source)
    out = tmp_path / "sup.pt"
    argv = ["import-backbone", "--weights", str(source), "--method", "Supervised", "--out", str(out)]
    assert main([*argv, "--keep-head"]) == 0
    classifier = load_classifier(out)
    assert load_backbone(out)[1]["meta"]["method"] == "supervised"
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(classifier.head(classifier.backbone(x)), ref(x), atol=1e-5)


def test_stems_and_architectures_must_match(tmp_path: Path) -> None:
    small = build_resnet("resnet10_w16", small_stem=True)
    source = tmp_path / "small.pt"
    torch.save(small.state_dict(), source)
    with pytest.raises(UsageError, match="3x3 stem; pass --small-stem"):
        import_weights(source, method="moco_v2")
    _, _, facts = import_weights(source, method="moco_v2", small_stem=True)
    assert facts["arch"] == "resnet10_w16"
    # resnet18's tensors hold every resnet10 key with the same shape: its extra blocks must not be
    # dropped silently to make a resnet10.
    torch.save(_torchvision_resnet18().state_dict(), source)
    with pytest.raises(ValueError, match=r"do not fit resnet10.*unexpected layer1\.1"):
        import_weights(source, method="byol", arch="resnet10")
    broken = {k: v for k, v in _torchvision_resnet18().state_dict().items() if k != "layer3.0.bn2.weight"}
    torch.save(broken, source)
    with pytest.raises(ValueError, match=r"closest: resnet18.*missing layer3\.0\.bn2\.weight"):
        import_weights(source, method="byol")


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(argv)
    return code, capsys.readouterr().err.strip()


def test_cli_fails_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "w.pth"
    torch.save(_torchvision_resnet18().state_dict(), source)
    out = tmp_path / "out.pt"
    out.write_bytes(b"a result")
    base = ["import-backbone", "--method", "byol", "--out", str(out)]
    code, err = _run([*base, "--weights", str(source)], capsys)
    assert code == 2 and "exists; pass --overwrite" in err and len(err.splitlines()) == 1
    assert out.read_bytes() == b"a result"
    pickled = tmp_path / "lightning.ckpt"
    torch.save({"hyper_parameters": argparse.Namespace(lr=0.1), "state_dict": {}}, pickled)
    code, err = _run([*base, "--overwrite", "--weights", str(pickled)], capsys)
    assert code == 2 and "not a loadable checkpoint" in err and len(err.splitlines()) == 1
    torch.save({"head.weight": torch.rand(3, 3)}, pickled)
    code, err = _run([*base, "--overwrite", "--weights", str(pickled)], capsys)
    assert code == 2 and "no ResNet weights found" in err
    code, err = _run([*base, "--overwrite", "--weights", str(tmp_path / "missing.pth")], capsys)
    assert code == 2 and "not found" in err
    assert out.read_bytes() == b"a result"
