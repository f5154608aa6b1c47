from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bgaug.evals.inference import EvalOptions
from bgaug.evals.suites.imagenet_c import (
    CATEGORIES,
    STANDARD,
    Corrupt,
    evaluate_imagenet_c,
    evaluate_on_the_fly,
    probe_corruption,
    summarise,
)
from bgaug.evals.tables import imagenet_wnids

OPTS = EvalOptions(batch_size=8, workers=0, device="cpu", progress=False)


def test_categories_are_15_standard_plus_4_extra() -> None:
    assert len(STANDARD) == 15 and len(CATEGORIES["extra"]) == 4
    assert len({c for v in CATEGORIES.values() for c in v}) == 19
    assert all(probe_corruption(c) is None for v in CATEGORIES.values() for c in v)


def test_released_layout_scores_each_severity(tmp_path: Path, write_images, scripted, one_hot) -> None:  # type: ignore[no-untyped-def]
    wnids = imagenet_wnids()
    for severity in (1, 2):
        for label in (3, 7):
            write_images(tmp_path / "gaussian_noise" / str(severity) / wnids[label], 1, 8)
    write_images(tmp_path / "spatter" / "5" / wnids[3], 1, 8)
    # Severity 1: both right; severity 2: one right; spatter/5: wrong.
    model = scripted(one_hot([3, 7, 3, 0, 0]))
    result = evaluate_imagenet_c(model, tmp_path, OPTS)
    assert result["results"]["gaussian_noise"]["1"]["top1"] == 100.0
    assert result["results"]["gaussian_noise"]["2"]["top1"] == 50.0
    assert result["corruption_mean"]["gaussian_noise"] == 75.0
    assert result["category_mean"]["noise"] == 75.0
    assert result["category_mean"]["extra"] == 0.0
    assert result["mean"] == 75.0  # extras do not enter the 15-corruption mean
    assert result["complete"] is False


def test_summary_means() -> None:
    per = {c: {"1": {"top1": float(i)}, "2": {"top1": float(i + 2)}} for i, c in enumerate(STANDARD)}
    s = summarise(per)
    assert s["complete"] is True
    assert s["category_mean"]["noise"] == pytest.approx(np.mean([1, 2, 3]))
    assert s["mean"] == pytest.approx(np.mean([i + 1 for i in range(15)]))
    assert s["category_mean"]["extra"] is None


def test_on_the_fly_corruptions_are_deterministic_and_change_images() -> None:
    image = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    # glass_blur needs the scikit-image shim, fog the NumPy one.
    for name in ("gaussian_noise", "glass_blur", "contrast", "fog"):
        a = Corrupt(name, 3, seed=1)(image, 0)
        b = Corrupt(name, 3, seed=1)(image, 0)
        assert a.shape == image.shape and a.dtype == np.uint8
        assert (a == b).all()
        assert not (a == image).all()


def test_on_the_fly_run_labels_its_results(tmp_path: Path, write_images, tiny_classifier) -> None:  # type: ignore[no-untyped-def]
    for c in ("a", "b"):
        write_images(tmp_path / c, 2, 16)
    model = tiny_classifier(2, crop=32)
    result = evaluate_on_the_fly(
        model, tmp_path, OPTS, corruptions=["gaussian_noise", "pixelate"], severities=[1, 5]
    )
    assert result["on_the_fly"] is True
    assert set(result["results"]) == {"gaussian_noise", "pixelate"}
    assert set(result["results"]["pixelate"]) == {"1", "5"}
    with pytest.raises(ValueError, match="unknown corruption"):
        evaluate_on_the_fly(model, tmp_path, OPTS, corruptions=["rain"])
    with pytest.raises(ValueError, match="32"):
        evaluate_on_the_fly(tiny_classifier(2), tmp_path, OPTS, corruptions=["contrast"])
