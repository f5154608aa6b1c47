from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from bgaug.core.io import save_png
from bgaug.core.maskbank import DirectoryMaskBank
from bgaug.saliency import crf, deepusps
from bgaug.saliency.cli import main
from bgaug.saliency.deepusps import config_with, fit
from bgaug.saliency.detector_bank import detector_bank
from bgaug.saliency.fcn import SaliencyFCN, save_fcn
from bgaug.saliency.handcrafted.working_size import WORKING_SIDE, resize_map

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


@needs_crf
def test_crf_at_working_size_sharpens_an_upsampled_map_and_bounds_its_cost(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A red disc on grey at 120 px, and the map a 16-px network would give it: the disc's mask
    # shrunk to 16 px and brought back bilinearly, so its outline is blurred over ~8 px.
    side = 120
    yy, xx = np.mgrid[0:side, 0:side]
    disc = (yy - 60) ** 2 + (xx - 55) ** 2 < 35**2
    image = np.where(disc[..., None], (190, 40, 40), (90, 90, 90)).astype(np.uint8)
    image.setflags(write=False)  # decoded images often are: the binding needs a writable copy
    coarse = resize_map(resize_map(disc.astype(np.float64), (16, 16)), (side, side))
    refined = crf.crf_at_working_size(image, coarse)
    assert refined.shape == (side, side) and refined.dtype == np.float64
    wrong = [((m >= 0.5) != disc).mean() for m in (coarse, refined)]
    assert wrong[1] < wrong[0] / 2  # the outline moved onto the disc's edge
    seen: list[tuple[int, ...]] = []
    real = crf.dense_crf
    monkeypatch.setattr(crf, "dense_crf", lambda im, m: seen.append(im.shape) or real(im, m))
    assert crf.crf_at_working_size(image, coarse, side=60).shape == (side, side)
    assert seen == [(60, 60, 3)]  # a larger image runs at the bound


@needs_crf
def test_predict_refines_with_the_crf_and_records_it(tmp_path: Path) -> None:
    torch.manual_seed(0)
    images = _images(tmp_path, side=32)
    save_fcn(tmp_path / "d.pt", SaliencyFCN("resnet10_w16", small_stem=True), image_size=16, meta={})
    args = (tmp_path / "d.pt", images)
    refined = detector_bank(*args, tmp_path / "crf", threshold=0.5, soft_maps=True, crf=True, progress=False)
    assert refined["detector"]["crf"] == {"binding": crf.crf_version(), "working_side": WORKING_SIDE}
    with pytest.raises(ValueError, match="different detector or options"):
        detector_bank(*args, tmp_path / "crf", threshold=0.5, soft_maps=True, progress=False)
    plain = detector_bank(*args, tmp_path / "plain", threshold=0.5, soft_maps=True, progress=False)
    assert "crf" not in plain["detector"]
    a, b = DirectoryMaskBank(tmp_path / "crf"), DirectoryMaskBank(tmp_path / "plain")
    assert any(not np.array_equal(a.soft_map(i), b.soft_map(i)) for i in range(len(a)))


def test_predict_crf_without_the_binding_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(crf, "crf_version", lambda: None)
    images = _images(tmp_path)
    save_fcn(tmp_path / "d.pt", SaliencyFCN("resnet10_w16", small_stem=True), image_size=16, meta={})
    argv = ["predict", "--checkpoint", str(tmp_path / "d.pt"), "--images", str(images)]
    assert main([*argv, "--out", str(tmp_path / "bank"), "--crf", "on"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "pydensecrf" in err[0]
    assert not (tmp_path / "bank").exists()
