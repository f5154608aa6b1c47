"""FG_min-constrained RandomResizedCrop and the crop grids."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from helpers import gen

from bgaug.augment.crops import center_crop, foreground_in_crops, resized_crops, sample_crops, summed_area


def _masks(B: int, H: int, W: int) -> torch.Tensor:
    masks = torch.zeros(B, 1, H, W)
    for i in range(B):  # small objects at varied places, so many random crops miss them
        y, x = (7 * i) % (H - 6), (11 * i) % (W - 6)
        masks[i, :, y : y + 6, x : x + 6] = 1
    return masks


def test_fg_min_holds_for_every_accepted_crop() -> None:
    B, H, W = 64, 48, 40
    masks = _masks(B, H, W)
    sat = summed_area(masks)
    for fg_min in (0.1, 0.5, 0.9):
        crops, fell_back = sample_crops(
            B, H, W, scale=(0.05, 0.3), ratio=(3 / 4, 4 / 3), generator=gen(1), sat=sat, fg_min=fg_min,
            fallback_size=32,
        )  # fmt: skip
        frac = foreground_in_crops(sat, crops[:, None])[:, 0]
        assert (frac[~fell_back] >= fg_min).all()
        assert fell_back.any() and (~fell_back).any()  # both paths exercised
        cc = torch.tensor(center_crop(H, W, 32), dtype=crops.dtype)
        assert (crops[fell_back] == cc).all()


def test_foreground_fraction_matches_direct_count() -> None:
    masks = _masks(8, 30, 30)
    crops = torch.tensor([[2.0, 3.0, 20.0, 11.0]]).repeat(8, 1)[:, None]
    frac = foreground_in_crops(summed_area(masks), crops)[:, 0]
    direct = masks[:, 0, 2:22, 3:14].sum((1, 2)) / masks.sum((1, 2, 3))
    assert torch.allclose(frac.float(), direct)


def test_crops_follow_torchvision_ranges() -> None:
    crops, _ = sample_crops(500, 64, 64, scale=(0.2, 1.0), ratio=(3 / 4, 4 / 3), generator=gen(2))
    top, left, h, w = crops.unbind(1)
    area = h * w / (64 * 64)
    assert (top >= 0).all() and (left >= 0).all() and (top + h <= 64).all() and (left + w <= 64).all()
    assert area.min() >= 0.18 and area.max() <= 1.0
    assert ((w / h) >= 0.7).all() and ((w / h) <= 1.4).all()


def test_resized_crop_cuts_resizes_and_flips() -> None:
    x = torch.rand(2, 4, 16, 16, generator=gen(5))
    crops = torch.tensor([[4.0, 2.0, 8.0, 8.0], [0.0, 0.0, 16.0, 16.0]])
    same = resized_crops(x, crops, 8)
    assert torch.allclose(same[0], x[0, :, 4:12, 2:10], atol=1e-5)
    small = resized_crops(x, crops, 4)
    ref = F.interpolate(x[:1, :, 4:12, 2:10], size=(4, 4), mode="bilinear", antialias=True)
    assert torch.allclose(small[:1], ref, atol=1e-5)
    flipped = resized_crops(x, crops, 16, flip=torch.tensor([False, True]))
    assert torch.allclose(flipped[1], x[1].flip(-1), atol=1e-5)
    u8 = (x * 255).round().to(torch.uint8)
    assert resized_crops(u8, crops, 8).dtype == torch.uint8
    assert torch.equal(resized_crops(u8, crops, 8)[0], u8[0, :, 4:12, 2:10])
