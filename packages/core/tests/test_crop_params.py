"""Random resized crop parameters drawn from a generator, as torchvision's get_params draws them."""

from __future__ import annotations

import torch
from torchvision.transforms import RandomResizedCrop

from bgaug.core.crop_params import random_resized_crops

SCALE, RATIO = (0.08, 1.0), (3 / 4, 4 / 3)


def _draw(
    seed: int,
    n: int = 2000,
    height: int = 48,
    width: int = 64,
    scale: tuple[float, float] = SCALE,
    ratio: tuple[float, float] = RATIO,
    tries: int = 1,
) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return random_resized_crops(n, height, width, scale=scale, ratio=ratio, generator=generator, tries=tries)


def test_crops_lie_inside_the_image_within_scale_and_ratio() -> None:
    crops = _draw(0, tries=3)
    assert crops.shape == (2000, 3, 4)
    top, left, h, w = crops.unbind(-1)
    assert (top >= 0).all() and (left >= 0).all() and (top + h <= 48).all() and (left + w <= 64).all()
    area = h * w / (48 * 64)
    assert area.min() >= 0.07 and area.max() <= 1.0
    assert ((w / h) >= 0.7).all() and ((w / h) <= 1.4).all()
    assert torch.equal(crops, _draw(0, tries=3)) and not torch.equal(crops, _draw(1, tries=3))


def test_area_and_ratio_are_distributed_as_torchvisions() -> None:
    ours = _draw(0)[:, 0]
    torch.manual_seed(0)
    image = torch.zeros(3, 48, 64)
    drawn = [RandomResizedCrop.get_params(image, list(SCALE), list(RATIO)) for _ in range(2000)]
    theirs = torch.tensor(drawn, dtype=torch.float32)
    area = [c[:, 2] * c[:, 3] / (48 * 64) for c in (ours, theirs)]
    aspect = [c[:, 3] / c[:, 2] for c in (ours, theirs)]
    assert abs(float(area[0].mean() - area[1].mean())) < 0.02
    assert abs(float(aspect[0].log().mean() - aspect[1].log().mean())) < 0.02


def test_impossible_crops_fall_back_to_the_centred_whole_image() -> None:
    # A ratio of 2..3 at the full area never fits a square: torchvision's fallback clamps the ratio.
    crops = _draw(0, n=5, height=40, width=40, scale=(1.0, 1.0), ratio=(2.0, 3.0))[:, 0]
    assert crops.tolist() == [[10.0, 0.0, 20.0, 40.0]] * 5
