"""Mask helpers: foreground boxes on batches and the mask-quality distortions of paper appendix B."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from bgaug.augment.config import MaskDistortion
from bgaug.augment.crops import device_constant
from bgaug.core.crop_params import uniform


def foreground_boxes(masks: Tensor) -> tuple[Tensor, Tensor]:
    """(B, 4) float boxes (xmin, ymin, xmax, ymax), max exclusive, and (B,) bool 'has foreground'."""
    fg = masks[:, 0] > 0.5
    rows = fg.any(dim=2)  # (B, H)
    cols = fg.any(dim=1)  # (B, W)
    H, W = fg.shape[1:]
    ymin = rows.to(torch.uint8).argmax(dim=1)
    ymax = H - rows.flip(1).to(torch.uint8).argmax(dim=1)
    xmin = cols.to(torch.uint8).argmax(dim=1)
    xmax = W - cols.flip(1).to(torch.uint8).argmax(dim=1)
    return torch.stack([xmin, ymin, xmax, ymax], dim=1).to(torch.float32), rows.any(dim=1)


def box_masks(masks: Tensor) -> Tensor:
    """Each mask replaced by its foreground's bounding box (an empty mask stays empty)."""
    boxes, has_fg = foreground_boxes(masks)
    H, W = masks.shape[-2:]
    ys = torch.arange(H, device=masks.device, dtype=torch.float32).view(1, H, 1)
    xs = torch.arange(W, device=masks.device, dtype=torch.float32).view(1, 1, W)
    b = boxes.view(-1, 4, 1, 1)
    inside = (xs >= b[:, 0]) & (xs < b[:, 2]) & (ys >= b[:, 1]) & (ys < b[:, 3])
    return (inside & has_fg.view(-1, 1, 1)).unsqueeze(1).to(masks.dtype)


def distort_masks(masks: Tensor, cfg: MaskDistortion, generator: torch.Generator) -> Tensor:
    """Apply ``cfg``'s random rotation, shear, translation, flip and bounding box to (B, 1, H, W).

    Rotation and shear act about the foreground box's centre; translation is a fraction of the box's
    width and height. The same number of draws is made whatever the masks hold (reproducibility).
    """
    if not cfg.active:
        return masks
    B, _, H, W = masks.shape
    out = masks
    if cfg.rotate_deg or cfg.shear_deg or cfg.translate:
        angle = uniform((B,), -cfg.rotate_deg, cfg.rotate_deg, generator) * (math.pi / 180)
        shx = torch.tan(uniform((B,), -cfg.shear_deg, cfg.shear_deg, generator) * (math.pi / 180))
        shy = torch.tan(uniform((B,), -cfg.shear_deg, cfg.shear_deg, generator) * (math.pi / 180))
        shift = uniform((B, 2), -cfg.translate, cfg.translate, generator)
        dev = masks.device
        angle, shx, shy, shift = angle.to(dev), shx.to(dev), shy.to(dev), shift.to(dev)
        boxes, _ = foreground_boxes(masks)
        centre = torch.stack([(boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2], 1) - 0.5
        size = torch.stack([boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]], 1)
        t = shift * size
        cos, sin = torch.cos(angle), torch.sin(angle)
        one, zero = torch.ones_like(cos), torch.zeros_like(cos)
        rot = torch.stack([torch.stack([cos, -sin], -1), torch.stack([sin, cos], -1)], -2)
        shear = torch.stack([torch.stack([one, shx], -1), torch.stack([zero, one], -1)], -2) @ torch.stack(
            [torch.stack([one, zero], -1), torch.stack([shy, one], -1)], -2
        )
        inv = torch.linalg.inv(rot @ shear)  # output pixel -> input pixel
        # Pixel p and grid coordinate u (align_corners=False): p = n * u + off.
        n = device_constant((W / 2, H / 2), torch.float32, dev)  # made once: no H2D copy per call
        off = n - 0.5
        lin = inv * n.view(1, 1, 2) / n.view(1, 2, 1)
        bias = ((inv @ (off - centre - t).unsqueeze(-1)).squeeze(-1) + centre - off) / n
        theta = torch.cat([lin, bias.unsqueeze(-1)], dim=-1)
        grid = F.affine_grid(theta.to(masks.dtype), [B, 1, H, W], align_corners=False)
        out = F.grid_sample(out, grid, mode="nearest", padding_mode="zeros", align_corners=False)
    if cfg.flip:
        flip = (uniform((B,), 0.0, 1.0, generator) < 0.5).to(masks.device)
        out = torch.where(flip.view(B, 1, 1, 1), out.flip(-1), out)
    if cfg.bbox:
        out = box_masks(out)
    return out
