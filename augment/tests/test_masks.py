"""Mask distortions of the mask-quality ablations (appendix B)."""

from __future__ import annotations

import torch
from helpers import gen

from bgaug.augment.config import MaskDistortion
from bgaug.augment.masks import box_masks, distort_masks, foreground_boxes


def _disc(B: int = 4, size: int = 32) -> torch.Tensor:
    ys, xs = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    disc = ((ys - 12) ** 2 + (xs - 10) ** 2 <= 36).float()
    return disc.expand(B, 1, size, size).clone()


def test_bounding_box_mask() -> None:
    masks = _disc()
    boxed = distort_masks(masks, MaskDistortion(bbox=True), gen())
    assert (boxed >= masks).all()
    assert torch.equal(boxed[0, 0, 6:19, 4:17], torch.ones(13, 13))
    assert boxed.sum() == 4 * 13 * 13
    assert box_masks(torch.zeros(1, 1, 8, 8)).sum() == 0


def test_flip_flips_about_half_the_masks() -> None:
    masks = _disc(B=200)
    out = distort_masks(masks, MaskDistortion(flip=True), gen(3))
    flipped = (out == masks.flip(-1)).flatten(1).all(1)
    same = (out == masks).flatten(1).all(1)
    assert (flipped | same).all()
    assert 70 < int(flipped.sum()) < 130


def test_translation_moves_by_at_most_the_fraction_of_the_box() -> None:
    masks = _disc(B=50)
    out = distort_masks(masks, MaskDistortion(translate=0.2), gen(4))
    before, _ = foreground_boxes(masks)
    after, has_fg = foreground_boxes(out)
    assert has_fg.all()
    shift = (after[:, :2] - before[:, :2]).abs()
    assert (shift <= 0.2 * 13 + 1).all() and shift.max() > 1
    assert torch.allclose(out.sum((1, 2, 3)), masks.sum((1, 2, 3)))  # a pure shift keeps the area


def test_rotation_and_shear_keep_the_object_in_place() -> None:
    masks = _disc(B=20)
    for cfg in (MaskDistortion(rotate_deg=30), MaskDistortion(shear_deg=20)):
        out = distort_masks(masks, cfg, gen(5))
        area = out.sum((1, 2, 3))
        assert ((area - masks.sum((1, 2, 3))).abs() / masks.sum((1, 2, 3)) < 0.35).all()
        assert not torch.equal(out, masks)
        centre = out[:, 0].nonzero()[:, 1:].float().mean(0)
        assert torch.allclose(centre, torch.tensor([12.0, 10.0]), atol=1.5)


def test_no_distortion_is_identity() -> None:
    masks = _disc()
    assert distort_masks(masks, MaskDistortion(), gen()) is masks
