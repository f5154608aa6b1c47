from __future__ import annotations

from pathlib import Path

import pytest

from bgaug.core.errors import UsageError
from bgaug.launch.config import PretrainConfig
from bgaug.launch.sweep import best_row, parse_grid, plot_heatmap, trial_configs, write_table


def test_parse_grid() -> None:
    assert parse_grid(["p_pos=0.1,0.2", "p-neg=0.3"]) == {"p_pos": [0.1, 0.2], "p_neg": [0.3]}
    for bad in (["p_pos"], ["arch=resnet18"], ["p_pos=0.1,x"], ["p_pos=0.1", "p_pos=0.2"], []):
        with pytest.raises(UsageError):
            parse_grid(bad)


def test_grid_points_are_validated_up_front() -> None:
    base = PretrainConfig(method="moco_v2", bg_aug="bg_swaps", data="/d", masks="/m")
    configs = trial_configs(base, {"p_pos": [0.1, 0.2], "p_neg": [0.0, 0.5, 1.0]})
    assert len(configs) == 6 and configs[-1].p_pos == 0.2 and configs[-1].p_neg == 1.0
    with pytest.raises(ValueError, match="p_neg"):
        trial_configs(base, {"p_neg": [1.5]})


def _rows() -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for p_pos in (0.1, 0.2):
        for p_neg in (0.1, 0.2):
            final = 10 * p_pos + p_neg
            rows.append({"grid": {"p_pos": p_pos, "p_neg": p_neg}, "status": "OK", "epochs": 2,
                         "final": final, "best": final, "error": None, "path": None})  # fmt: skip
    rows[-1].update(status="ERROR", final=None, best=None, error="RuntimeError: boom")
    return rows


def test_failed_trials_stay_in_the_table_and_never_win(tmp_path: Path) -> None:
    rows = _rows()
    best = best_row(rows, "max")
    assert best is not None and best["grid"] == {"p_pos": 0.2, "p_neg": 0.1}
    assert best_row(rows, "min") is rows[0]
    write_table(tmp_path, rows)
    lines = (tmp_path / "results.csv").read_text().splitlines()
    assert lines[0] == "p_pos,p_neg,status,epochs,final,best,error"
    assert lines[-1].startswith("0.2,0.2,ERROR") and "boom" in lines[-1]
    plot_heatmap(tmp_path / "heat.png", rows, ["p_pos", "p_neg"], "knn_top1")
    assert (tmp_path / "heat.png").read_bytes()[:4] == b"\x89PNG"
    plot_heatmap(tmp_path / "one.png", rows, ["p_pos"], "knn_top1")
    assert (tmp_path / "one.png").stat().st_size > 0


def test_in9_numbers_join_the_table_and_get_heat_maps(tmp_path: Path) -> None:
    rows = _rows()
    for r in rows[:-1]:
        r.update(
            in9_original=40.0, in9_only_fg=20.0, in9_mixed_same=35.0, in9_mixed_rand=25.0, in9_bg_gap=10.0
        )
    write_table(tmp_path, rows)
    header = (tmp_path / "results.csv").read_text().splitlines()[0]
    assert header == (
        "p_pos,p_neg,status,epochs,final,best,in9_original,in9_only_fg,in9_mixed_same,in9_mixed_rand,"
        "in9_bg_gap,error"
    )
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    open_before = set(plt.get_fignums())
    plot_heatmap(tmp_path / "gap.png", rows, ["p_pos", "p_neg"], "in9_bg_gap")
    assert (tmp_path / "gap.png").read_bytes()[:4] == b"\x89PNG"
    assert set(plt.get_fignums()) == open_before  # closed after saving


def test_in9_sweeps_refuse_asha_and_ray_train_trials(tmp_path: Path) -> None:
    from bgaug.launch.sweep import SweepOptions, sweep

    base = PretrainConfig(method="moco_v2", bg_aug="bg_swaps", data="/d", masks="/m")
    in9 = {"root": "/r", "train": "/r/train"}
    for options, match in (
        (SweepOptions(metric="epoch_loss", in9=in9, scheduler="asha"), "fifo"),
        (SweepOptions(metric="epoch_loss", in9=in9, workers_per_trial=2), "one-process"),
    ):
        with pytest.raises(UsageError, match=match):
            sweep(base, {"p_pos": [0.1]}, tmp_path / "s", options)
