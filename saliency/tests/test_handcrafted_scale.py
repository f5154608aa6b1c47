"""Hand-crafted saliency on photo-sized images: bounded working size and memory (issue 23.14), MB+
fast and close to its earlier maps (issue 24.3)."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from bgaug.saliency.handcrafted import METHODS, WORKING_SIDES
from bgaug.saliency.handcrafted.mbd import barrier_distance, mbd
from bgaug.saliency.handcrafted.working_size import resize_image, resize_map, shrunk_shape

from . import mbd_before
from .scenes import ellipse_scene


@pytest.mark.parametrize("side", [64, 160, 240])
def test_mbd_maps_stay_close_to_the_earlier_implementation(side: int) -> None:
    for seed in range(2):
        image, _ = ellipse_scene(seed, side, side * 3 // 4 + 1)
        before, now = mbd_before.mbd(image), mbd(image)
        assert np.corrcoef(before.ravel(), now.ravel())[0, 1] > 0.98
        if side <= 100:  # below the smoothing's working size only float32 rounding differs
            assert np.abs(before - now).max() < 1e-3


def test_barrier_distance_matches_the_float64_scan() -> None:
    lab = np.random.default_rng(0).uniform(0, 100, (37, 53, 3))
    assert np.allclose(barrier_distance(lab), mbd_before.barrier_distance(lab), atol=1e-3)


def test_large_images_are_computed_at_the_working_size() -> None:
    image, _ = ellipse_scene(3, 900, 1300)
    small = resize_image(image, shrunk_shape(900, 1300, WORKING_SIDES["mc"]))
    assert max(small.shape[:2]) == WORKING_SIDES["mc"]
    expected = resize_map(METHODS["mc"](small), (900, 1300))
    got = METHODS["mc"](image)
    assert got.shape == (900, 1300) and got.dtype == np.float64
    assert got.min() >= 0.0 and got.max() <= 1.0
    assert np.array_equal(got, expected)


def test_dsr_memory_is_bounded_on_a_large_photo() -> None:
    """numpy reports its buffers to tracemalloc: the peak is what one worker allocates for the map.
    At full size DSR took ~270 bytes a pixel (6.75 GB for 5000x5000): ~390 MB here."""
    image, _ = ellipse_scene(4, 1200, 1200)
    tracemalloc.start()
    try:
        saliency = METHODS["dsr"](image)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert saliency.shape == (1200, 1200)
    assert peak < 80e6, f"peak {peak / 1e6:.0f} MB"
