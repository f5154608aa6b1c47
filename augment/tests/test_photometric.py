"""The batched colour operations against torchvision's single-image definitions."""

from __future__ import annotations

import torch
import torchvision.transforms.v2.functional as TF
from helpers import gen

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
