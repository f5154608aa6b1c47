"""Backbones for the methods: core's torchvision ResNets, and an AlexNet-style trunk for RotNet.

Every backbone maps normalised images (B, 3, H, W) to pooled features (B, feature_dim).
"""

from __future__ import annotations

from torch import Tensor, nn

from bgaug.core.backbones import FEATURE_DIMS, build_resnet

ALEXNET_FEATURE_DIM = 256
ARCHS: tuple[str, ...] = (*FEATURE_DIMS, "alexnet")


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


def build_backbone(
    arch: str, *, small_stem: bool = False, zero_init_residual: bool = False
) -> tuple[nn.Module, int]:
    """A randomly initialised backbone and its feature width."""
    if arch == "alexnet":
        return AlexNetTrunk(small_stem=small_stem), ALEXNET_FEATURE_DIM
    if arch not in FEATURE_DIMS:
        raise ValueError(f"arch must be one of {', '.join(ARCHS)}, got {arch!r}")
    return build_resnet(arch, small_stem=small_stem, zero_init_residual=zero_init_residual), FEATURE_DIMS[
        arch
    ]
