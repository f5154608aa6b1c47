from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from bgaug.core.io import save_png
from bgaug.saliency import crf, deepusps
from bgaug.saliency.cli import main
from bgaug.saliency.deepusps import config_with, fit

from .scenes import ellipse_scene

needs_crf = pytest.mark.skipif(crf.crf_version() is None, reason="pydensecrf not installed ([crf] extra)")


def _edge_scene(side: int = 64) -> tuple[np.ndarray, np.ndarray, int, int]:
    """A grey left half and a red right half; a map whose boundary sits ``band`` px left of the edge."""
    rng = np.random.default_rng(0)
    image = np.full((side, side, 3), 60.0)
    edge, band = side // 2, side // 12
    image[:, edge:] = (200, 40, 40)
    image = np.clip(image + rng.normal(0, 4, image.shape), 0, 255).astype(np.uint8)
    foreground = np.full((side, side), 0.35, np.float32)
    foreground[:, edge - band :] = 0.6
    return image, foreground, edge, band


@needs_crf
def test_dense_crf_pulls_the_boundary_onto_the_colour_edge() -> None:
    image, foreground, edge, band = _edge_scene()
    q = crf.dense_crf(image, foreground)
    assert q.shape == foreground.shape and q.dtype == np.float32
    assert ((q >= 0.0) & (q <= 1.0)).all()
    # Thresholding the map alone keeps the grey band as foreground; the CRF hands it to the background.
    assert (q[:, edge - band : edge] < 0.5).mean() > 0.9
    assert (q[:, edge:] >= 0.5).all() and (q[:, : edge - band] < 0.5).all()
    with pytest.raises(ValueError, match="uint8"):
        crf.dense_crf(image[:-1], foreground)


def test_resolve_crf_modes(monkeypatch: pytest.MonkeyPatch) -> None:
    assert crf.resolve_crf("off") is None
    with pytest.raises(ValueError, match="crf must be one of"):
        crf.resolve_crf("maybe")
    monkeypatch.setattr(crf, "crf_version", lambda: None)
    assert crf.resolve_crf("auto") is None  # the documented fallback
    with pytest.raises(ValueError, match=r"bgaug-saliency\[crf\]"):
        crf.resolve_crf("on")
    monkeypatch.setattr(crf, "crf_version", lambda: "1.1")
    assert crf.resolve_crf("auto") == crf.resolve_crf("on") == "1.1"


def _images(root: Path, n: int = 3, side: int = 24) -> Path:
    for i in range(n):
        image, _ = ellipse_scene(i, side, side)
        save_png(root / "images" / f"{i}.png", image)
    return root / "images"


def _tiny(mode: str) -> deepusps.FitConfig:
    return config_with(
        "quick",
        {
            "image_size": 24,
            "methods": ("mc",),
            "rounds": 2,
            "epochs_per_round": 1,
            "phase2_epochs": 1,
            "crf": mode,
        },
    )


@needs_crf
@pytest.mark.parametrize("mode", ["on", "off"])
def test_fit_smooths_every_round_with_the_crf(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    real = deepusps.crf_smoothed
    calls: list[tuple[torch.Tensor, torch.Tensor]] = []

    def spy(images: torch.Tensor, average: torch.Tensor, *args: object, **kwargs: object) -> torch.Tensor:
        smoothed = real(images, average, *args, **kwargs)  # type: ignore[arg-type]
        calls.append((average.clone(), smoothed))
        return smoothed

    monkeypatch.setattr(deepusps, "crf_smoothed", spy)
    summary = fit(_images(tmp_path), tmp_path / "det.pt", _tiny(mode), workers=1, progress=False)
    if mode == "off":
        assert calls == [] and summary["crf"].startswith("none")
        return
    assert len(calls) == 2 and summary["crf"] == f"pydensecrf {crf.crf_version()}"  # one call per round
    assert any(not torch.equal(a >= 0.5, s >= 0.5) for a, s in calls)  # it changed some targets


def test_fit_without_the_binding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(crf, "crf_version", lambda: None)
    images = _images(tmp_path)
    summary = fit(images, tmp_path / "det.pt", _tiny("auto"), workers=1, progress=False)
    assert summary["crf"] == "none (thresholded moving average)"
    assert "dense CRF not installed" in capsys.readouterr().out
    # Asked for explicitly, a missing CRF stops `fit` with one line, before any work.
    monkeypatch.setattr(deepusps, "load_training_images", None)  # reached only after the check
    argv = [
        "fit",
        "--images",
        str(images),
        "--out",
        str(tmp_path / "d2.pt"),
        "--preset",
        "quick",
        "--crf",
        "on",
    ]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "pydensecrf" in err[0]
    assert not (tmp_path / "d2.pt").exists()
