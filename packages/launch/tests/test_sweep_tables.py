from __future__ import annotations

from pathlib import Path

import pytest

from bgaug.core.errors import UsageError
from bgaug.launch.config import PretrainConfig
from bgaug.launch.sweep import (
    best_row,
    heatmap_subtitle,
    parse_grid,
    plot_heatmap,
    trial_configs,
    write_table,
)


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
    titles: list[str] = []
    savefig = plt.Figure.savefig

    def record_title(fig: plt.Figure, *args: object, **kwargs: object) -> None:
        titles.append(fig.axes[0].get_title())
        savefig(fig, *args, **kwargs)

    plt.Figure.savefig = record_title  # type: ignore[method-assign]
    try:
        base = PretrainConfig(method="moco_v2", bg_aug="bg_swaps", data="/d", masks="/m", epochs=80)
        what = heatmap_subtitle(base, {"p_pos": [0.2], "p_neg": [0.2]})
        plot_heatmap(tmp_path / "gap2.png", rows, ["p_pos", "p_neg"], "in9_bg_gap", what)
    finally:
        plt.Figure.savefig = savefig  # type: ignore[method-assign]
    assert what == "moco_v2 + bg_swaps, 80 epochs, seed 0"
    assert titles == [f"BG-Gap = Mixed-Same \u2212 Mixed-Rand (points)\n{what}"]  # which runs the cells are
    assert heatmap_subtitle(base, {"seed": [0, 1]}) == "moco_v2 + bg_swaps, 80 epochs"


def test_in9_sweeps_refuse_asha_and_ray_train_trials(tmp_path: Path) -> None:
    from bgaug.launch.sweep import SweepOptions, sweep

    base = PretrainConfig(method="moco_v2", bg_aug="bg_swaps", data="/d", masks="/m")
    in9 = {"path": "/r/in9", "train": "/r/train"}
    for options, match in (
        (SweepOptions(metric="epoch_loss", in9=in9, scheduler="asha"), "fifo"),
        (SweepOptions(metric="epoch_loss", in9=in9, workers_per_trial=2), "one-process"),
    ):
        with pytest.raises(UsageError, match=match):
            sweep(base, {"p_pos": [0.1]}, tmp_path / "s", options)


def test_in9_metrics_of_a_backbone(synth_root: Path, tmp_path: Path) -> None:
    """The sweep's per-trial IN-9 evaluation, on the suite folder the sweep's --in9 check found."""
    from bgaug.core.backbones import build_backbone, save_backbone
    from bgaug.core.interfaces import Preprocess
    from bgaug.launch.worker import IN9_METRICS, in9_metrics

    backbone, _ = build_backbone("cnn5_w16")
    save_backbone(
        tmp_path / "b.pt",
        backbone,
        arch="cnn5_w16",
        small_stem=False,
        preprocess=Preprocess(resize=32, crop=32),
    )
    in9 = {"path": str(synth_root / "in9"), "train": str(synth_root / "train"), "linear_epochs": 2}
    metrics = in9_metrics(tmp_path / "b.pt", {**in9, "mapping": "identity"}, seed=0)
    assert set(metrics) == set(IN9_METRICS)
    assert all(0.0 <= value <= 100.0 for name, value in metrics.items() if name != "in9_bg_gap")


def test_sweep_in9_is_found_from_the_data_root_or_the_folder_itself(
    synth_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import bgaug.launch.sweep as sweep_module
    from bgaug.launch.cli import main

    seen: list[object] = []
    monkeypatch.setattr(sweep_module, "sweep", lambda *args, **kwargs: seen.append(args[3].in9) or [])
    args = ["sweep", "--method", "moco_v2", "--bg-aug", "none", "--data", str(synth_root / "pretrain")]
    args += ["--grid", "p_pos=0.5", "--metric", "epoch_loss", "--out", str(tmp_path / "s")]
    for given in (synth_root, synth_root / "in9"):
        assert main([*args, "--in9", str(given), "--in9-train", str(synth_root / "train")]) == 0
    assert [found["path"] for found in seen] == [str(synth_root / "in9")] * 2  # type: ignore[index]
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "results.csv").write_text("an earlier sweep's table")
    in9 = ["--in9", str(synth_root), "--in9-train", str(synth_root / "train")]
    assert main([*args, *in9]) == 2  # an earlier sweep's results are never replaced silently
    assert "--overwrite" in capsys.readouterr().err
    assert (tmp_path / "s" / "results.csv").read_text() == "an earlier sweep's table"
    assert main([*args, *in9, "--overwrite"]) == 0
    (tmp_path / "s" / "results.csv").unlink()
    # A folder without the variants fails now, not after every trial has trained.
    assert main([*args, "--in9", str(synth_root / "pretrain"), "--in9-train", str(synth_root / "train")]) == 2
    assert "no ImageNet-9 variants" in capsys.readouterr().err
