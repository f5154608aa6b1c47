"""The DeepUSPS2 saliency network: a dilated ResNet (DRN-style) with a 1x1 saliency head.

The backbone is core's torchvision ResNet, so a self-supervised backbone checkpoint (core format
``bgaug-backbone/1``) loads into it key for key; it is never initialised from supervised weights.
Strides of the last stages become dilations until the output stride is ``output_stride``: the same
change as torchvision's ``replace_stride_with_dilation``, done here on the built model because
torchvision refuses dilation for BasicBlock (resnet10/18/34) and one code path serves every arch.
Inputs are [0, 1] images; ImageNet normalisation happens inside, as in the SSL views.

``decoder="fpn"`` adds a light top-down path (FPN-style lateral 1x1 convolutions summed from the last
stage down to the first, one 3x3 convolution, the 1x1 head) so the logits come out at the first stage's
resolution instead of the output stride's. At small input sizes a randomly initialised network with
the plain head generalises markedly worse: 64-px synthetic scenes, 30 epochs on the ground truth with
the BCE term, held-out maxF 0.858 with the head and 0.916 with the decoder (docs/saliency.md).
Dilating down to stride 4 instead costs 7x the CPU time per image; the decoder costs about 2x.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from bgaug.core.backbones import FEATURE_DIMS, build_resnet, load_backbone
from bgaug.core.errors import UsageError, one_line
from bgaug.core.interfaces import IMAGENET_MEAN, IMAGENET_STD
from bgaug.core.io import BadCheckpointError, load_checkpoint, save_checkpoint

FORMAT = "bgaug-saliency-fcn/1"
STAGES = ("layer1", "layer2", "layer3", "layer4")
DECODERS = ("none", "fpn")
DECODER_WIDTH = 32


def native_stride(small_stem: bool) -> int:
    """Output stride of an undilated ResNet: 32 (7x7/2 stem + max-pool), 8 with the small stem."""
    return 8 if small_stem else 32


def dilate_resnet(model: nn.Module, *, small_stem: bool, output_stride: int) -> nn.Module:
    """Turn the strides of the last stages into dilations until the network's stride is ``output_stride``."""
    stride = native_stride(small_stem)
    if output_stride not in (2, 4, 8, 16, 32) or output_stride > stride:
        raise UsageError(f"output_stride must be a power of 2 in [2, {stride}], got {output_stride}")
    n_dilated = 0
    while stride > output_stride:
        stride //= 2
        n_dilated += 1
    dilation = 1
    for name in STAGES[len(STAGES) - n_dilated :]:  # the last n_dilated stages, in forward order
        previous, dilation = dilation, dilation * 2
        for i, block in enumerate(getattr(model, name)):
            for conv in block.modules():
                if isinstance(conv, nn.Conv2d) and conv.kernel_size == (3, 3):
                    # As torchvision does: a stage's first block keeps the previous dilation.
                    d = previous if i == 0 else dilation
                    conv.stride, conv.dilation, conv.padding = (1, 1), (d, d), (d, d)
                elif isinstance(conv, nn.Conv2d) and conv.stride == (2, 2):
                    conv.stride = (1, 1)  # the 1x1 downsample projection
    return model


def stage_widths(backbone: nn.Module) -> list[int]:
    """Output channels of each ResNet stage (its last BatchNorm's width; Basic and Bottleneck alike)."""
    widths = []
    for name in STAGES:
        norms = [m for m in getattr(backbone, name).modules() if isinstance(m, nn.BatchNorm2d)]
        widths.append(norms[-1].num_features)
    return widths


class TopDownDecoder(nn.Module):
    """FPN-style top-down path: per-stage 1x1 laterals summed coarse to fine, then 3x3 conv + 1x1 head."""

    def __init__(self, widths: list[int], width: int = DECODER_WIDTH):
        super().__init__()
        self.lateral = nn.ModuleList(nn.Conv2d(w, width, kernel_size=1) for w in widths)
        self.smooth = nn.Sequential(
            nn.Conv2d(width, width, kernel_size=3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU()
        )
        self.head = nn.Conv2d(width, 1, kernel_size=1)

    def forward(self, stages: list[Tensor]) -> Tensor:
        x: Tensor = self.lateral[-1](stages[-1])
        for lateral, feature in zip(self.lateral[-2::-1], stages[-2::-1], strict=True):
            x = F.interpolate(x, size=feature.shape[-2:], mode="bilinear", align_corners=False)
            x = x + lateral(feature)
        out: Tensor = self.head(self.smooth(x))
        return out


class SaliencyFCN(nn.Module):
    """Dilated ResNet features -> 1x1 conv (or the top-down decoder) -> bilinear upsampling (logits)."""

    def __init__(self, arch: str, *, small_stem: bool, output_stride: int = 8, decoder: str = "none"):
        super().__init__()
        if decoder not in DECODERS:
            raise UsageError(f"decoder must be one of {', '.join(DECODERS)}, got {decoder!r}")
        self.arch, self.small_stem, self.output_stride = arch, small_stem, output_stride
        self.decoder = decoder
        self.backbone = dilate_resnet(
            build_resnet(arch, small_stem=small_stem), small_stem=small_stem, output_stride=output_stride
        )
        self.head: nn.Module = (
            nn.Conv2d(FEATURE_DIMS[arch], 1, kernel_size=1)
            if decoder == "none"
            else TopDownDecoder(stage_widths(self.backbone))
        )
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))

    def stages(self, images: Tensor) -> list[Tensor]:
        """The output of every ResNet stage, first to last."""
        b = self.backbone
        x = (images - self.get_buffer("mean")) / self.get_buffer("std")
        for name in ("conv1", "bn1", "relu", "maxpool"):
            x = getattr(b, name)(x)
        out = []
        for name in STAGES:
            x = getattr(b, name)(x)
            out.append(x)
        return out

    def features(self, images: Tensor) -> Tensor:
        return self.stages(images)[-1]

    def forward(self, images: Tensor) -> Tensor:
        logits = self.head(self.stages(images) if self.decoder == "fpn" else self.features(images))
        return F.interpolate(logits, size=images.shape[-2:], mode="bilinear", align_corners=False)


def build_fcn(
    arch: str,
    *,
    small_stem: bool,
    output_stride: int = 8,
    decoder: str = "none",
    init: str | os.PathLike[str] | None = None,
) -> tuple[SaliencyFCN, dict[str, Any]]:
    """A fresh FCN, its backbone loaded from an SSL backbone checkpoint when ``init`` is given.

    Returns the model and facts about its initialisation for the output checkpoint's meta.
    """
    if init is None:
        model = SaliencyFCN(arch, small_stem=small_stem, output_stride=output_stride, decoder=decoder)
        return model, {"init": "random", "arch": arch, "small_stem": small_stem}
    try:
        backbone, state = load_backbone(init)
    except BadCheckpointError as exc:
        raise BadCheckpointError(one_line(exc)) from None
    meta = dict(state.get("meta", {}))
    if meta.get("method") == "supervised":
        raise UsageError(
            f"{init}: a supervised checkpoint; DeepUSPS2 is initialised from self-supervised ones only"
        )
    model = SaliencyFCN(
        str(state["arch"]), small_stem=bool(state["small_stem"]), output_stride=output_stride, decoder=decoder
    )
    model.backbone.load_state_dict(backbone.state_dict())
    return model, {
        "init": "ssl",
        "init_checkpoint": str(init),
        "init_meta": meta,
        "arch": str(state["arch"]),
        "small_stem": bool(state["small_stem"]),
    }


def save_fcn(
    path: str | os.PathLike[str], model: SaliencyFCN, *, image_size: int, meta: Mapping[str, Any]
) -> None:
    """Write a detector checkpoint (weights_only-loadable) atomically."""
    save_checkpoint(
        {
            "format": FORMAT,
            "arch": model.arch,
            "small_stem": model.small_stem,
            "output_stride": model.output_stride,
            "decoder": model.decoder,
            "image_size": image_size,
            "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
            "meta": dict(meta),
        },
        path,
    )


class FCNDetector:
    """A trained FCN as core's ``SaliencyDetector``: any-size [0, 1] images in, maps in [0, 1] out."""

    def __init__(
        self,
        model: SaliencyFCN,
        image_size: int,
        device: torch.device | str = "cpu",
        flip_average: bool = False,
    ):
        self.model = model.to(device).eval()
        self.image_size = image_size
        self.device = torch.device(device)
        self.flip_average = flip_average

    def network_maps(self, x: Tensor) -> Tensor:
        """Sigmoid maps of training-size images. ``flip_average`` averages them with the maps of the
        mirrored images, mirrored back: twice the compute, a small consistent gain (docs/saliency.md)."""
        maps = torch.sigmoid(self.model(x))
        if self.flip_average:
            maps = (maps + torch.sigmoid(self.model(x.flip(-1))).flip(-1)) / 2
        return maps

    def _input(self, images: Tensor) -> Tensor:
        """[0, 1] float images (N, 3, H, W) already on the device, resized to the training size."""
        size = (self.image_size, self.image_size)
        return F.interpolate(images, size=size, mode="bilinear", align_corners=False, antialias=True)

    @torch.no_grad()
    def predict(self, images: Tensor) -> Tensor:
        x = self._input(images.to(self.device, torch.float32))
        maps = F.interpolate(
            self.network_maps(x), size=images.shape[-2:], mode="bilinear", align_corners=False
        )
        return maps.clamp(0.0, 1.0)

    @torch.no_grad()
    def predict_arrays(self, images: list[np.ndarray]) -> list[np.ndarray]:
        """Maps (H, W) float in [0, 1] of RGB uint8 images of any sizes, run as one batch.

        Each image travels to the device as uint8 and is resized and its map upsampled there: on a
        GPU, resizing on the host costs more per image than the network does."""
        # np.array copies: decoded images are often read-only arrays, which torch.from_numpy warns about.
        on_device = [torch.from_numpy(np.array(image)).to(self.device) for image in images]
        x = torch.cat([self._input(t.permute(2, 0, 1)[None] / 255.0) for t in on_device])
        maps = self.network_maps(x).float()
        out = []
        for image, m in zip(images, maps, strict=True):
            full = F.interpolate(m[None], size=image.shape[:2], mode="bilinear", align_corners=False)
            out.append(full[0, 0].clamp(0.0, 1.0).cpu().double().numpy())
        return out


def load_detector(
    path: str | os.PathLike[str], device: torch.device | str = "cpu", flip_average: bool = False
) -> tuple[FCNDetector, dict[str, Any]]:
    """The detector of a ``fit`` checkpoint and the checkpoint dict."""
    state = load_checkpoint(path)
    if state.get("format") != FORMAT:
        raise BadCheckpointError(
            f"{path}: not a saliency detector checkpoint "
            f"(format {state.get('format')!r}, expected {FORMAT!r})"
        )
    model = SaliencyFCN(
        str(state["arch"]),
        small_stem=bool(state["small_stem"]),
        output_stride=int(state["output_stride"]),
        decoder=str(state.get("decoder", "none")),  # checkpoints written before the decoder existed
    )
    try:
        model.load_state_dict(state["state_dict"], strict=True)
    except RuntimeError as exc:
        raise BadCheckpointError(f"{path}: weights do not fit {state['arch']}: {one_line(exc)}") from None
    return FCNDetector(model, int(state["image_size"]), device, flip_average), state
