"""Backbones and the one checkpoint format every package exchanges.

Backbones are torchvision ResNets with ``fc`` replaced by ``Identity`` (they return pooled features),
RotNet's AlexNet trunk (``arch="alexnet"``) and plain five-layer CNNs (``cnn5_w16``, ``cnn5_w32``: the
CPU recipe's backbone for 24-32 px views); ``build_backbone`` builds any of them and
``load_backbone`` rebuilds any of them from a checkpoint.
``small_stem=True`` swaps the 7x7/2 stem and max-pool for a 3x3/1 convolution, the usual choice for
32-96 px inputs (CIFAR-style); such a backbone no longer matches torchvision's ``conv1`` shape.

A *backbone checkpoint* (``save_backbone`` / ``load_backbone``) is a dict loadable with
``torch.load(..., weights_only=True)``::

    {"format": "bgaug-backbone/1", "arch": "resnet50", "small_stem": False,
     "state_dict": {...torchvision ResNet keys, no fc.*...},
     "head": {"weight": (K, D), "bias": (K,)} or absent,
     "preprocess": {"resize": 256, "crop": 224, "mean": [...], "std": [...]},
     "meta": {...JSON-compatible facts: method, background augmentation, epochs...}}

With the standard stem, ``torchvision.models.resnet50().load_state_dict(ckpt["state_dict"],
strict=False)`` loads everything but ``fc`` and ``strict=True`` does after ``fc`` is replaced.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from bgaug.core.errors import UsageError
from bgaug.core.interfaces import Classifier, Preprocess
from bgaug.core.io import BadCheckpointError, load_checkpoint, save_checkpoint

FORMAT = "bgaug-backbone/1"
FEATURE_DIMS: dict[str, int] = {
    "resnet10_w16": 128,
    "resnet10_w32": 256,
    "resnet10": 512,
    "resnet18": 512,
    "resnet34": 512,
    "resnet50": 2048,
}
"""``resnet10`` is torchvision's ``ResNet`` class with BasicBlock x [1, 1, 1, 1]; ``resnet10_wN`` the same
with stage widths N, 2N, 4N, 8N instead of 64..512. They are the CPU demo's backbones (a ResNet-18 trains
at tens of images per second on 2 cores) and keep torchvision's key names."""
ALEXNET_FEATURE_DIM = 256
PLAIN_CNN_WIDTHS: dict[str, int] = {"cnn5_w16": 16, "cnn5_w32": 32}
"""Plain CNNs (``PlainCNN``) by name: the width of their first layer; features are 4x as wide."""
ARCHS: tuple[str, ...] = (*FEATURE_DIMS, "alexnet", *PLAIN_CNN_WIDTHS)
"""Every backbone a checkpoint may hold: the ResNets, RotNet's AlexNet trunk and the plain CNNs."""


def build_resnet(arch: str, *, small_stem: bool = False, zero_init_residual: bool = False) -> nn.Module:
    """A randomly initialised torchvision ResNet whose ``fc`` is ``Identity``."""
    import torchvision

    if arch not in FEATURE_DIMS:
        raise UsageError(f"arch must be one of {', '.join(FEATURE_DIMS)}, got {arch!r}")
    model: nn.Module
    if arch.startswith("resnet10"):
        width = int(arch.partition("_w")[2] or 64)
        model = _slim_resnet10(width, zero_init_residual)
    else:
        model = getattr(torchvision.models, arch)(weights=None, zero_init_residual=zero_init_residual)
    if small_stem:
        stem = model.get_submodule("bn1")
        assert isinstance(stem, nn.BatchNorm2d)
        stem_width = stem.num_features
        model.conv1 = nn.Conv2d(3, stem_width, kernel_size=3, stride=1, padding=1, bias=False)
        model.maxpool = nn.Identity()
    model.fc = nn.Identity()
    return model


class AlexNetTrunk(nn.Module):
    """AlexNet's five convolutions with batch norm, as in RotNet (Gidaris et al., 2018).

    Hand-written because torchvision's AlexNet has no batch norm, which RotNet's recipe relies on.
    ``small_stem`` replaces the 11x11/4 convolution and first max-pool by a 3x3/1 convolution for
    32-96 px inputs. Features are globally average-pooled so any input size >= 32 px works.
    """

    def __init__(self, small_stem: bool = False):
        super().__init__()

        def block(cin: int, cout: int, k: int, stride: int = 1) -> list[nn.Module]:
            return [
                nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, bias=False),
                nn.BatchNorm2d(cout),
                nn.ReLU(inplace=True),
            ]

        stem = block(3, 64, 3) if small_stem else [*block(3, 64, 11, 4), nn.MaxPool2d(3, 2)]
        self.features = nn.Sequential(
            *stem,
            *block(64, 192, 5),
            nn.MaxPool2d(3, 2),
            *block(192, 384, 3),
            *block(384, 256, 3),
            *block(256, 256, 3),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(1),
        )

    def forward(self, x: Tensor) -> Tensor:
        out: Tensor = self.features(x)
        return out


class PlainCNN(nn.Module):
    """Five conv3x3-BN-ReLU layers (widths w, 2w, 2w, 4w, 4w; strides 1, 2, 1, 2, 1), global average
    pooling to 4w features: the CPU recipe's backbone (``ssl_methods.recipes.CPU_RECIPE``).

    Built for 24-32 px views: no stem downsampling, so the last map is a quarter of the input side
    (6 x 6 at 24 px), where a ResNet's five halvings leave 1 x 1. On 2 CPU cores it trains ~4x faster
    per image than ``resnet10_w16`` with a small stem at the same size and forms self-supervised
    features sooner (docs/science.md). Hand-written: torchvision has no such small network.
    """

    def __init__(self, width: int = 16):
        super().__init__()
        widths = (width, 2 * width, 2 * width, 4 * width, 4 * width)
        strides = (1, 2, 1, 2, 1)
        layers: list[nn.Module] = []
        cin = 3
        for cout, stride in zip(widths, strides, strict=True):
            layers += [
                nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False),
                nn.BatchNorm2d(cout),
                nn.ReLU(inplace=True),
            ]
            cin = cout
        # torch's default initialisation (uniform, bound 1 / sqrt(fan_in)): under Adam, whose steps
        # do not scale with the weights, ResNet-style kaiming-normal fan-out weights (~2.5x larger
        # here) trained MoCo-v2 ~8 points worse in 80 epochs (docs/science.md).
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(1))
        self.feature_dim = cin

    def forward(self, x: Tensor) -> Tensor:
        out: Tensor = self.features(x)
        return out


def build_backbone(
    arch: str, *, small_stem: bool = False, zero_init_residual: bool = False
) -> tuple[nn.Module, int]:
    """A randomly initialised backbone and its feature width."""
    if arch == "alexnet":
        return AlexNetTrunk(small_stem=small_stem), ALEXNET_FEATURE_DIM
    if arch in PLAIN_CNN_WIDTHS:
        if small_stem:
            raise UsageError(f"small_stem applies to ResNets and AlexNet; {arch} has no stem to replace")
        cnn = PlainCNN(PLAIN_CNN_WIDTHS[arch])
        return cnn, cnn.feature_dim
    if arch not in FEATURE_DIMS:
        raise UsageError(f"arch must be one of {', '.join(ARCHS)}, got {arch!r}")
    return build_resnet(arch, small_stem=small_stem, zero_init_residual=zero_init_residual), FEATURE_DIMS[
        arch
    ]


def _slim_resnet10(width: int, zero_init_residual: bool) -> Any:
    """torchvision's ResNet (BasicBlock x [1, 1, 1, 1]) with stage widths ``width`` .. ``8 * width``."""
    from torchvision.models.resnet import BasicBlock, ResNet

    model = ResNet(BasicBlock, [1, 1, 1, 1])
    if width != 64:
        # torchvision hard-codes 64..512; rebuild the stem and stages with its own _make_layer.
        model.inplanes = width
        model.conv1 = nn.Conv2d(3, width, kernel_size=7, stride=2, padding=3, bias=False)
        model.bn1 = nn.BatchNorm2d(width)
        model.layer1 = model._make_layer(BasicBlock, width, 1)
        model.layer2 = model._make_layer(BasicBlock, 2 * width, 1, stride=2)
        model.layer3 = model._make_layer(BasicBlock, 4 * width, 1, stride=2)
        model.layer4 = model._make_layer(BasicBlock, 8 * width, 1, stride=2)
        for module in model.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
    if zero_init_residual:
        for module in model.modules():
            if isinstance(module, BasicBlock) and module.bn2.weight is not None:
                nn.init.zeros_(module.bn2.weight)
    return model


def backbone_state_dict(backbone: nn.Module) -> dict[str, torch.Tensor]:
    """The backbone's tensors under torchvision's key names (no ``fc``; DDP/compile prefixes dropped)."""
    out: dict[str, torch.Tensor] = {}
    for key, value in backbone.state_dict().items():
        for prefix in ("module.", "_orig_mod."):
            while key.startswith(prefix):
                key = key[len(prefix) :]
        if key.startswith("fc."):
            continue
        out[key] = value.detach().cpu().clone()
    return out


def save_backbone(
    path: str | os.PathLike[str],
    backbone: nn.Module,
    *,
    arch: str,
    small_stem: bool,
    head: nn.Linear | None = None,
    preprocess: Preprocess | None = None,
    meta: Mapping[str, Any] | None = None,
) -> None:
    """Write a backbone checkpoint atomically (format in the module docstring)."""
    pre = preprocess or Preprocess()
    state: dict[str, Any] = {
        "format": FORMAT,
        "arch": arch,
        "small_stem": small_stem,
        "state_dict": backbone_state_dict(backbone),
        "preprocess": {
            "resize": pre.resize,
            "crop": pre.crop,
            "mean": list(pre.mean),
            "std": list(pre.std),
        },
        "meta": dict(meta or {}),
    }
    if head is not None:
        state["head"] = {
            "weight": head.weight.detach().cpu().clone(),
            "bias": head.bias.detach().cpu().clone()
            if head.bias is not None
            else torch.zeros(head.out_features),
        }
    save_checkpoint(state, path)


def load_backbone(path: str | os.PathLike[str]) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the backbone of a checkpoint; return it (eval mode) and the whole checkpoint dict."""
    state = load_checkpoint(path)
    if state.get("format") != FORMAT:
        hint = "; to use another library's ResNet, run python -m bgaug.core import-backbone first"
        raise BadCheckpointError(
            f"{path}: not a bgaug backbone checkpoint (format {state.get('format')!r}, expected {FORMAT!r})"
            + (hint if "format" not in state else "")
        )
    try:
        backbone, _ = build_backbone(str(state["arch"]), small_stem=bool(state["small_stem"]))
    except ValueError as exc:
        raise BadCheckpointError(f"{path}: {exc}") from None
    try:
        backbone.load_state_dict(state["state_dict"], strict=True)
    except RuntimeError as exc:
        raise BadCheckpointError(f"{path}: weights do not fit {state['arch']}: {exc}") from None
    return backbone.eval(), state


def load_classifier(path: str | os.PathLike[str]) -> Classifier:
    """A ``Classifier`` from a backbone checkpoint that carries a linear head."""
    backbone, state = load_backbone(path)
    if "head" not in state:
        raise BadCheckpointError(f"{path}: checkpoint has no linear head; run linear evaluation first")
    weight, bias = state["head"]["weight"], state["head"]["bias"]
    head = nn.Linear(weight.shape[1], weight.shape[0])
    head.load_state_dict({"weight": weight, "bias": bias})
    p = state["preprocess"]
    pre = Preprocess(resize=int(p["resize"]), crop=int(p["crop"]), mean=tuple(p["mean"]), std=tuple(p["std"]))
    return Classifier(backbone, head, pre).eval()
