from __future__ import annotations

import numpy as np
import pytest

from bgaug.saliency.handcrafted import METHODS
from bgaug.saliency.handcrafted.superpixels import adjacency_matrix, segment
from bgaug.saliency.metrics import SaliencyScores, centre_prior, to_uint8

from .scenes import ellipse_scene


def test_adjacency_of_a_known_layout() -> None:
    labels = np.array([[0, 0, 1], [2, 2, 1], [2, 2, 3]])
    adj = adjacency_matrix(labels, 4).toarray()
    expected = np.zeros((4, 4), bool)
    for a, b in [(0, 1), (0, 2), (1, 2), (1, 3), (2, 3)]:
        expected[a, b] = expected[b, a] = True
    assert (adj == expected).all()


def test_segment_statistics() -> None:
    image, _ = ellipse_scene(0)
    sp = segment(image, 50)
    assert sp.labels.shape == image.shape[:2]
    assert sp.size.sum() == image.shape[0] * image.shape[1]
    assert sp.boundary.any() and not sp.boundary.all()
    assert np.allclose(sp.rgb[sp.labels].mean(axis=(0, 1)), image.reshape(-1, 3).mean(0) / 255, atol=1e-6)


@pytest.mark.parametrize("name", sorted(METHODS))
def test_method_output_contract(name: str) -> None:
    image, _ = ellipse_scene(1, 48, 72)
    out = METHODS[name](image)
    assert out.shape == (48, 72)
    assert out.dtype == np.float64
    assert out.min() >= 0.0 and out.max() <= 1.0
    assert np.array_equal(out, METHODS[name](image.copy())), "methods must be deterministic"


@pytest.mark.parametrize("name", sorted(METHODS))
def test_method_finds_the_object_better_than_the_centre_prior(name: str) -> None:
    scores, prior = SaliencyScores(), SaliencyScores()
    for seed in range(6):
        image, mask = ellipse_scene(seed + 10)
        scores.add(to_uint8(METHODS[name](image)), mask)
        prior.add(to_uint8(centre_prior(*mask.shape)), mask)
    assert scores.results()["max_f"] > prior.results()["max_f"] + 0.1
    assert scores.results()["mae"] < prior.results()["mae"]


@pytest.mark.parametrize("name", sorted(METHODS))
def test_uniform_image_gives_a_valid_map(name: str) -> None:
    out = METHODS[name](np.full((32, 32, 3), 128, np.uint8))
    assert out.shape == (32, 32) and np.isfinite(out).all()
    assert out.min() >= 0.0 and out.max() <= 1.0


@pytest.mark.parametrize(
    "bad", [np.zeros((8, 8), np.uint8), np.zeros((8, 8, 3), np.float32), np.zeros((1, 8, 3), np.uint8)]
)
def test_bad_images_raise_value_error(bad: np.ndarray) -> None:
    with pytest.raises(ValueError):
        METHODS["rbd"](bad)
