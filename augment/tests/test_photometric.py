"""The batched colour operations against torchvision's single-image definitions."""

from __future__ import annotations

import math

import pytest
import torch
import torchvision.transforms.v2.functional as TF
from helpers import count_aten_ops, gen

from bgaug.augment import photometric
from bgaug.augment.config import ViewSpec
from bgaug.augment.photometric import (
    PhotometricParams,
    _brightness,
    _contrast,
    _hue,
    _saturation,
    apply_photometric,
    gaussian_blur,
    sample_photometric,
)


def test_colour_ops_match_torchvision_per_sample() -> None:
    x = torch.rand(5, 3, 12, 12, generator=gen(1))
    x[0] = 0.5  # a gray image has no hue
    factors = torch.tensor([0.6, 0.9, 1.0, 1.2, 1.4])
    hues = torch.tensor([-0.5, -0.1, 0.0, 0.05, 0.3])
    for i in range(5):
        f, h = float(factors[i]), float(hues[i])
        assert torch.allclose(_brightness(x, factors)[i], TF.adjust_brightness(x[i], f), atol=1e-5)
        assert torch.allclose(_contrast(x, factors)[i], TF.adjust_contrast(x[i], f), atol=1e-4)
        assert torch.allclose(_saturation(x, factors)[i], TF.adjust_saturation(x[i], f), atol=1e-4)
        assert torch.allclose(_hue(x, hues)[i], TF.adjust_hue(x[i], h), atol=1e-5)


def test_blur_matches_torchvision_gaussian_blur() -> None:
    x = torch.rand(3, 3, 20, 20, generator=gen(2))
    sigma = torch.tensor([0.5, 1.0, 2.0])
    out = gaussian_blur(x, sigma, max_sigma=2.0)
    for i, s in enumerate(sigma.tolist()):
        ref = TF.gaussian_blur(x[i], kernel_size=[13, 13], sigma=[s, s])
        assert torch.allclose(out[i], ref, atol=1e-5)


def test_rates_of_photometric_draws() -> None:
    spec = ViewSpec(size=8, jitter_p=0.8, gray_p=0.2, blur_p=0.5, solarize_p=0.2)
    p = sample_photometric(spec, 4000, gen(3))
    for flag, rate in ((p.jitter, 0.8), (p.gray, 0.2), (p.blur_sigma > 0, 0.5), (p.solarize, 0.2)):
        assert abs(float(flag.float().mean()) - rate) < 0.03
    assert p.brightness.min() >= 0.6 and p.brightness.max() <= 1.4
    assert p.hue.abs().max() <= 0.1
    assert (p.order.sort(dim=1).values == torch.arange(4)).all()


def test_grayscale_and_solarize() -> None:
    spec = ViewSpec(size=4, blur_p=0.0)
    x = torch.rand(2, 3, 4, 4, generator=gen(4))
    off = sample_photometric(ViewSpec(size=4, jitter_p=0, gray_p=0, blur_p=0), 2, gen(0))
    fields = {f: getattr(off, f) for f in PhotometricParams.__dataclass_fields__}
    gray = apply_photometric(x, PhotometricParams(**(fields | {"gray": torch.tensor([True, False])})), spec)
    assert torch.allclose(gray[0, 0], gray[0, 1]) and torch.equal(gray[1], x[1])
    sol = apply_photometric(x, PhotometricParams(**(fields | {"solarize": torch.tensor([True, True])})), spec)
    assert torch.allclose(sol, torch.where(x >= 0.5, 1 - x, x))


def _torchvision_reference(x: torch.Tensor, p: PhotometricParams, max_sigma: float) -> torch.Tensor:
    """One sample at a time with torchvision's functional ops, in each sample's own jitter order."""
    outs = []
    for i in range(x.shape[0]):
        y = x[i]
        if p.jitter[i]:
            for op in p.order[i].tolist():
                if op == 0:
                    y = TF.adjust_brightness(y, float(p.brightness[i]))
                elif op == 1:
                    y = TF.adjust_contrast(y, float(p.contrast[i]))
                elif op == 2:
                    y = TF.adjust_saturation(y, float(p.saturation[i]))
                else:
                    y = TF.adjust_hue(y, float(p.hue[i]))
        if p.gray[i]:
            y = TF.rgb_to_grayscale(y, num_output_channels=3)
        sigma = float(p.blur_sigma[i])
        if sigma > 0:
            size = 2 * math.ceil(3 * max_sigma) + 1
            y = TF.gaussian_blur(y, kernel_size=[size, size], sigma=[sigma, sigma])
        if p.solarize[i]:
            y = torch.where(y >= 0.5, 1 - y, y)
        outs.append(y)
    return torch.stack(outs)


@pytest.mark.parametrize("chunk", [1 << 30, 2 * 3 * 16 * 16])
def test_pipeline_of_ops_matches_torchvision_per_sample(monkeypatch: pytest.MonkeyPatch, chunk: int) -> None:
    """Per-sample order, factors, grayscale, blur sigma and solarize, whole batch or in small chunks,
    from uint8 or float input."""
    monkeypatch.setattr(photometric, "CPU_CHUNK_ELEMENTS", chunk)
    spec = ViewSpec(
        size=16, jitter=(0.8, 0.8, 0.8, 0.4), jitter_p=0.9, gray_p=0.3, blur_p=0.5, solarize_p=0.3
    )
    n = 40
    x = torch.randint(0, 256, (n, 3, 16, 16), generator=gen(5), dtype=torch.uint8)
    x[:3] = x[:3, :1]  # gray images: no hue
    p = sample_photometric(spec, n, gen(6))
    assert len(set(map(tuple, p.order[p.jitter].tolist()))) > 12  # many different orders
    ref = _torchvision_reference(x.float() / 255, p, spec.blur_sigma[1])
    assert torch.allclose(apply_photometric(x, p, spec), ref, atol=3e-4)
    floats = x.float() / 255
    assert torch.allclose(apply_photometric(floats, p, spec), ref, atol=3e-4)
    assert torch.equal(floats, x.float() / 255)  # not in place unless asked


# -- the batched (GPU) path, run on CPU ------------------------------------------------------------


@pytest.mark.parametrize("shape", [(5, 3, 20, 17), (1, 3, 32, 32), (4, 1, 5, 4)])
def test_blur_by_convolution_matches_shift_and_add(shape: tuple[int, int, int, int]) -> None:
    """The grouped convolution (GPU) and shift-and-add (CPU) blurs agree, with their own taps per
    image, reflect padding and a radius clipped on small images."""
    x = torch.rand(shape, generator=gen(20))
    sigma = torch.tensor([0.1, 0.5, 1.0, 1.7, 2.0])[-shape[0] :]
    conv = gaussian_blur(x, sigma, max_sigma=2.0, batched=True)
    shift = gaussian_blur(x, sigma, max_sigma=2.0, batched=False)
    assert conv.shape == x.shape
    assert torch.allclose(conv, shift, atol=1e-5)
    assert not torch.allclose(conv, x, atol=1e-2)  # it did blur


def _rich_spec() -> ViewSpec:
    return ViewSpec(
        size=16, jitter=(0.8, 0.8, 0.8, 0.4), jitter_p=0.9, gray_p=0.3, blur_p=0.5, solarize_p=0.3
    )


@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32])
def test_batched_photometric_matches_cpu_path_and_torchvision(dtype: torch.dtype) -> None:
    """One chunk, hue-first row order, blur by convolution, grayscale and solarize in one masked
    pass: the same per-sample results as the CPU path (to 1e-5) and as torchvision."""
    spec = _rich_spec()
    n = 64
    x = torch.randint(0, 256, (n, 3, 16, 16), generator=gen(21), dtype=torch.uint8)
    x[:3] = x[:3, :1]  # gray images: no hue
    p = sample_photometric(spec, n, gen(22))
    assert p.solarize.any() and p.gray.any() and (p.blur_sigma > 0).any()
    source = x if dtype == torch.uint8 else x.float() / 255
    batched = apply_photometric(source, p, spec, batched=True)
    cpu = apply_photometric(source, p, spec, batched=False)
    assert torch.allclose(batched, cpu, atol=1e-5)
    ref = _torchvision_reference(x.float() / 255, p, spec.blur_sigma[1])
    assert torch.allclose(batched, ref, atol=3e-4)
    normalized = apply_photometric(source, p, spec, batched=True, normalize=True)
    assert torch.allclose(
        normalized, apply_photometric(source, p, spec, batched=False, normalize=True), atol=1e-5
    )


def test_batched_photometric_op_count_does_not_grow_with_the_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    """Eight copies of a batch's rows (so the same row groups exist) cost the batched path exactly
    as many ATen ops as the batch itself; the CPU path's chunks (16 rows here) grow with it."""
    monkeypatch.setattr(photometric, "CPU_CHUNK_ELEMENTS", 16 * 3 * 8 * 8)
    spec = _rich_spec()
    n = 40
    p = sample_photometric(spec, n, gen(23))
    big = PhotometricParams(
        *(getattr(p, f).repeat(8, *[1] * (getattr(p, f).ndim - 1)) for f in p.__dataclass_fields__)
    )
    x = torch.rand(8 * n, 3, 8, 8, generator=gen(24))
    for batched in (True, False):
        apply_photometric(x[:n], p, spec, batched=batched)  # warm-up
    small_ops = count_aten_ops(lambda: apply_photometric(x[:n], p, spec, batched=True))
    big_ops = count_aten_ops(lambda: apply_photometric(x, big, spec, batched=True))
    assert big_ops == small_ops
    hue_runs: list[int] = []
    hue = photometric._hue_
    monkeypatch.setattr(photometric, "_hue_", lambda y, f: hue_runs.append(len(y)) or hue(y, f))
    apply_photometric(x, big, spec, batched=True)
    assert len(hue_runs) <= 4  # hue position sorts first: one run per position (~30 ops each)
    assert sum(hue_runs) == int(big.jitter.sum())  # every jittered row, once
    monkeypatch.setattr(photometric, "_hue_", hue)
    cpu_small = count_aten_ops(lambda: apply_photometric(x[:n], p, spec, batched=False))
    cpu_big = count_aten_ops(lambda: apply_photometric(x, big, spec, batched=False))
    assert cpu_big > 2 * cpu_small  # the check above can tell
