from __future__ import annotations

import numpy as np
import pytest

from bgaug.saliency.metrics import SaliencyScores, centre_prior, f_curve, prepare


def test_perfect_prediction_scores_one() -> None:
    gt = np.zeros((20, 20), np.uint8)
    gt[5:12, 4:15] = 255
    scores = SaliencyScores()
    scores.add(gt.copy(), gt)
    r = scores.results()
    assert r["max_f"] == pytest.approx(1.0)
    assert r["adaptive_f"] == pytest.approx(1.0)
    assert r["mae"] == 0.0


def test_f_curve_by_hand() -> None:
    # 4 pixels: gt = [1, 1, 0, 0], pred = [1.0, 0.5, 0.5, 0.0]; at threshold 0.5: P = 2/3, R = 1.
    pred = np.array([[255, 128, 128, 0]], np.uint8)
    gt = np.array([[True, True, False, False]])
    p, g = prepare(pred, gt)
    curve = f_curve(p, g)
    k = 255 - int(p[0, 1] * 255)
    precision, recall = 2 / 3, 1.0
    assert curve[k] == pytest.approx(1.3 * precision * recall / (0.3 * precision + recall))


def test_shape_mismatch_is_an_error() -> None:
    with pytest.raises(ValueError, match="shape"):
        SaliencyScores().add(np.zeros((3, 3), np.uint8), np.zeros((3, 4), bool))


def test_parity_with_pysodmetrics() -> None:
    sod = pytest.importorskip("py_sod_metrics")
    rng = np.random.default_rng(0)
    ours = SaliencyScores()
    fm, mae = sod.Fmeasure(), sod.MAE()
    for i in range(12):
        h, w = rng.integers(20, 60, 2)
        gt = np.zeros((h, w), np.uint8)
        gt[
            rng.integers(0, h // 2) : rng.integers(h // 2, h),
            rng.integers(0, w // 2) : rng.integers(w // 2, w),
        ] = 255
        if i == 0:
            gt[:] = 0  # an image without foreground
        pred = (rng.random((h, w)) * 80 + (gt > 0) * rng.uniform(0, 170)).astype(np.uint8)
        if i == 1:
            pred[:] = 77  # a constant map
        if i == 2:
            pred = (centre_prior(h, w) * 255).astype(np.uint8)
        ours.add(pred, gt)
        fm.step(pred=pred, gt=gt)
        mae.step(pred=pred, gt=gt)
    r = ours.results()
    ref = fm.get_results()["fm"]
    assert r["max_f"] == pytest.approx(float(ref["curve"].max()), abs=1e-6)
    assert r["mean_f"] == pytest.approx(float(ref["curve"].mean()), abs=1e-6)
    assert r["adaptive_f"] == pytest.approx(float(ref["adp"]), abs=1e-6)
    assert r["mae"] == pytest.approx(float(mae.get_results()["mae"]), abs=1e-6)
