"""FG_min-constrained RandomResizedCrop and the crop grids."""

from __future__ import annotations

import torch
import torch.nn.functional as F
import torchvision.transforms.v2.functional as TF
from helpers import count_aten_ops, gen

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


# -- the batched (GPU) path, run on CPU ------------------------------------------------------------


def _smooth(n: int, channels: int, size: int, seed: int, sigma: float = 1.5) -> torch.Tensor:
    """Random images blurred by ``sigma`` px and stretched to [0, 1] per image and channel: smooth,
    but with detail at 2-3 px that a resize must average rather than sample."""
    x = torch.rand(n, channels, size, size, generator=gen(seed))
    x = TF.gaussian_blur(x, [13, 13], [sigma, sigma])
    low, high = x.amin((2, 3), keepdim=True), x.amax((2, 3), keepdim=True)
    return (x - low) / (high - low)


def _source_coords(crops: torch.Tensor, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per output row / column, the source pixel coordinate (pixel centres at integers) of its centre,
    align_corners=False: (n, size) each."""
    top, left, h, w = crops.unbind(1)
    centres = torch.arange(size, dtype=torch.float64) + 0.5
    ys = top[:, None] - 0.5 + centres[None] * h[:, None] / size
    xs = left[:, None] - 0.5 + centres[None] * w[:, None] / size
    return ys, xs


def test_batched_resize_copies_identity_crops_and_upscales_like_bilinear() -> None:
    """(a) Identity-size crops: exact copies. Upscaling: F.interpolate's bilinear at the same pixel
    centres to 1e-5, except the output pixels whose sample point falls outside the crop (the outer
    ring; there roi_align reads the image pixel beyond the crop's edge, F.interpolate clamps to it);
    those stay within half a pixel step of this smooth image (0.2)."""
    x = _smooth(5, 4, 48, seed=11)
    same = torch.tensor([[0.0, 0.0, 20.0, 20.0], [5.0, 9.0, 20.0, 20.0], [28.0, 28.0, 20.0, 20.0],
                         [13.0, 1.0, 20.0, 20.0], [27.0, 3.0, 20.0, 20.0]])  # fmt: skip
    out = resized_crops(x, same, 20, batched=True)
    for i, (top, left, _, _) in enumerate(same.long().tolist()):
        assert torch.equal(out[i], x[i, :, top : top + 20, left : left + 20])
    up = torch.tensor([[0.0, 0.0, 48.0, 48.0], [5.0, 7.0, 12.0, 16.0], [20.0, 3.0, 20.0, 20.0],
                       [1.0, 30.0, 17.0, 9.0], [10.0, 10.0, 30.0, 25.0]])  # fmt: skip
    size = 56
    batched = resized_crops(x, up, size, batched=True)
    reference = resized_crops(x, up, size, batched=False)
    assert batched.shape == reference.shape == (5, 4, size, size) and batched.dtype == torch.float32
    ys, xs = (c.clamp(0, 47) for c in _source_coords(up, size))  # both clamp at the image's edge
    top, left, h, w = (v[:, None] for v in up.double().unbind(1))
    in_rows = (ys >= top) & (ys <= top + h - 1)
    in_cols = (xs >= left) & (xs <= left + w - 1)
    inside = in_rows[:, :, None] & in_cols[:, None, :]
    inside = inside[:, None].expand_as(batched)
    assert inside[0].all()  # the whole image: no ring
    assert inside.float().mean() > 0.8
    err = (batched - reference).abs()
    assert float(err[inside].max()) < 1e-5
    assert float(err[~inside].max()) < 0.2


def test_batched_resize_downscales_close_to_antialiased() -> None:
    """(b) Downscaling by 2-3x: roi_align averages ceil(factor)^2 bilinear samples per output
    pixel (a box over its footprint), close to torchvision's antialiased bilinear (a triangle as wide
    as the footprint): mean error <= 0.02, max <= 0.1 on these [0, 1] images, and at 2.4-3x less
    than half the error of plain bilinear (which samples 4 pixels and aliases). At exactly 2x the box
    and plain bilinear coincide (both average 2 x 2 pixels), so only the tolerance is checked there."""
    x = _smooth(4, 3, 96, seed=12)
    cases = [
        ((0, 0, 96, 96), 40),
        ((10, 6, 81, 72), 27),
        ((0, 0, 96, 96), 32),
        ((3, 5, 60, 75), 25),
        ((8, 4, 64, 64), 32),
    ]
    for crop, size in cases:
        crops = torch.tensor([crop], dtype=torch.float32).repeat(4, 1)
        batched = resized_crops(x, crops, size, batched=True)
        antialiased = resized_crops(x, crops, size, batched=False)
        top, left, h, w = crop
        patch = x[:, :, top : top + h, left : left + w]
        plain = F.interpolate(patch, size=(size, size), mode="bilinear", antialias=False, align_corners=False)
        err = (batched - antialiased).abs()
        assert float(err.mean()) < 0.02 and float(err.max()) < 0.1, (crop, size)
        if min(h, w) / size > 2.2:
            assert float(err.mean()) < 0.5 * float((plain - antialiased).abs().mean()), (crop, size)


def test_batched_resize_applies_each_rows_box_and_flip() -> None:
    """(c) Row i holds ``100 i + 10 c + x + 2 y`` (x, y pixel indices): bilinear sampling and box
    averages reproduce a linear function exactly, so every output pixel is known from its own row's
    box and flip. Boxes keep a pixel from the image's edge (no clamping there)."""
    n, H = 6, 40
    ys = torch.arange(H, dtype=torch.float32).view(1, 1, H, 1)
    xs = torch.arange(H, dtype=torch.float32).view(1, 1, 1, H)
    rows = torch.arange(n, dtype=torch.float32).view(n, 1, 1, 1)
    channels = torch.arange(3, dtype=torch.float32).view(1, 3, 1, 1)
    x = 100 * rows + 10 * channels + xs + 2 * ys
    crops = torch.tensor([[1, 1, 38, 38], [3, 10, 9, 12], [20, 2, 17, 30],
                          [5, 25, 30, 14], [1, 1, 16, 16], [12, 7, 25, 25]], dtype=torch.float32)  # fmt: skip
    flip = torch.tensor([True, False, True, False, False, True])
    size = 16  # down- and upscaled rows alike
    out = resized_crops(x, crops, size, flip, batched=True)
    sy, sx = _source_coords(crops, size)
    sx = torch.where(flip[:, None], sx.flip(-1), sx)
    expected = 100 * rows + 10 * channels + sx[:, None, None, :].float() + 2 * sy[:, None, :, None].float()
    assert torch.allclose(out, expected, atol=1e-3)
    unflipped = resized_crops(x, crops, size, batched=True)
    assert torch.equal(out[flip], unflipped[flip].flip(-1)) and torch.equal(out[~flip], unflipped[~flip])


def test_batched_resize_keeps_masks_on_the_image() -> None:
    """(d) Channel 3 marks a square (and channel 0 the same square): after crop, resize and flip the
    mask thresholded at half scale covers exactly the output pixels whose footprint lies inside
    the square, and none whose footprint lies outside it, for float and uint8 input (uint8 comes back
    as float in [0, 1]: the pipeline's ``_mask_of`` thresholds it at 0.5)."""
    from bgaug.augment.pipeline import _mask_of

    n, H, size = 8, 64, 24
    x = torch.zeros(n, 4, H, H)
    x[:, 1:3] = _smooth(n, 2, H, seed=13)
    squares = []
    for i in range(n):
        y0, x0 = 4 + 5 * i, 30 - 3 * i
        y1, x1 = y0 + 20, x0 + 12 + i
        x[i, 0, y0:y1, x0:x1] = 1
        x[i, 3, y0:y1, x0:x1] = 1
        squares.append((y0, y1, x0, x1))
    crops, _ = sample_crops(n, H, H, scale=(0.3, 1.0), ratio=(3 / 4, 4 / 3), generator=gen(14))
    flip = torch.tensor([i % 3 == 0 for i in range(n)])
    sy, sx = _source_coords(crops, size)
    sx = torch.where(flip[:, None], sx.flip(-1), sx)
    half_y = crops[:, 2:3].double() / size / 2  # half an output pixel's footprint, in source pixels
    half_x = crops[:, 3:4].double() / size / 2
    box = torch.tensor(squares, dtype=torch.float64)
    y0, y1, x0, x1 = (b[:, None] for b in box.unbind(1))
    # Pixel p is foreground for y0 <= p <= y1 - 1; bilinear ramps across one pixel on either side.
    in_y = (sy - half_y >= y0) & (sy + half_y <= y1 - 1)
    in_x = (sx - half_x >= x0) & (sx + half_x <= x1 - 1)
    out_y = (sy + half_y <= y0 - 1) | (sy - half_y >= y1)
    out_x = (sx + half_x <= x0 - 1) | (sx - half_x >= x1)
    sure_in = in_y[:, :, None] & in_x[:, None, :]
    sure_out = out_y[:, :, None] | out_x[:, None, :]
    assert sure_in.sum() > 200 and sure_out.sum() > 2000
    u8 = (x * 255).round().to(torch.uint8)
    for source in (x, u8):
        out = resized_crops(source, crops, size, flip, batched=True)
        assert out.dtype == torch.float32 and float(out.max()) <= 1.0
        mask = _mask_of(out)[:, 0] > 0.5
        assert mask[sure_in].all() and not mask[sure_out].any()
        assert torch.equal(out[:, 0], out[:, 3])  # the image moved with its mask
    per_sample = _mask_of(resized_crops(u8, crops, size, flip, batched=False))[:, 0] > 0.5
    assert per_sample[sure_in].all() and not per_sample[sure_out].any()


def test_batched_resize_reads_uint8_as_unit_floats() -> None:
    x = _smooth(3, 4, 32, seed=15)
    u8 = (x * 255).round().to(torch.uint8)
    crops = torch.tensor([[0.0, 0.0, 32.0, 32.0], [4.0, 2.0, 20.0, 28.0], [9.0, 9.0, 11.0, 11.0]])
    out = resized_crops(u8, crops, 16, torch.tensor([False, True, False]), batched=True)
    ref = resized_crops(u8.float() / 255, crops, 16, torch.tensor([False, True, False]), batched=True)
    assert out.dtype == torch.float32 and torch.allclose(out, ref, atol=1e-6)
    assert resized_crops(u8[:0], crops[:0], 16, batched=True).shape == (0, 4, 16, 16)


def test_batched_resize_op_count_does_not_grow_with_the_batch() -> None:
    x = torch.rand(64, 4, 24, 24, generator=gen(16))
    crops, _ = sample_crops(64, 24, 24, scale=(0.2, 1.0), ratio=(3 / 4, 4 / 3), generator=gen(17))
    flip = torch.rand(64, generator=gen(18)) < 0.5

    def ops(n: int, batched: bool) -> int:
        resized_crops(x[:n], crops[:n], 16, flip[:n], batched=batched)  # warm-up
        return count_aten_ops(lambda: resized_crops(x[:n], crops[:n], 16, flip[:n], batched=batched))

    assert ops(4, True) == ops(64, True) < 30
    assert ops(64, False) > 5 * ops(4, False)  # the per-sample loop: the check above can tell
