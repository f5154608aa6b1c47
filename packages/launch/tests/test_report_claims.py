from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bgaug.launch.claims import check_claims, mechanism
from bgaug.launch.report import IN9_VARIANTS, in9_table, mean_sem, write_report


def _run(method: str, bg_aug: str, seed: int, gap: float, mixed_rand: float = 0.5) -> dict[str, Any]:
    in9 = dict.fromkeys(IN9_VARIANTS, 0.6)
    in9["mixed_rand"] = mixed_rand
    in9["only_fg"] = mixed_rand
    in9["mixed_same"] = mixed_rand + gap
    return {"method": method, "bg_aug": bg_aug, "seed": seed, "in9": in9, "bg_gap": gap}


def test_mean_sem() -> None:
    assert mean_sem([1.0]) == (1.0, 0.0)
    mean, sem = mean_sem([1.0, 3.0])
    assert mean == 2.0
    assert sem == pytest.approx(1.0)


def _learned_runs(original: float = 0.6) -> list[dict[str, Any]]:
    """Three seeds of the paper's five runs plus a random-weights reference at Original 0.30."""
    runs = []
    for seed, jitter in enumerate((0.0, 0.004, -0.004)):
        reference = _run("random", "none", seed, 0.02)
        reference["in9"]["original"] = 0.30 + jitter
        runs += [
            reference,
            _run("moco_v2", "none", seed, 0.20 + jitter, 0.40),
            _run("moco_v2", "bg_rm", seed, 0.12 + jitter, 0.45),
            _run("moco_v2", "bg_swaps", seed, 0.05 + jitter, 0.55),
            _run("byol", "none", seed, 0.10 + jitter),
            _run("byol", "bg_random", seed, 0.10 - jitter),
        ]
    for run in runs:
        if run["method"] != "random":
            run["in9"]["original"] = original
    return runs


def _verdicts(runs: list[dict[str, Any]]) -> dict[str, str]:
    return {c["claim"]: c["verdict"] for c in check_claims(runs)}


def test_claims_follow_the_numbers() -> None:
    runs = _learned_runs()
    verdicts = _verdicts(runs)
    assert verdicts["MoCo-v2 BG-Gap: baseline > BG_RM > BG_Swaps"] == "REPRODUCED"
    assert verdicts["MoCo-v2 Mixed-Rand accuracy rises with BG_Swaps"] == "REPRODUCED"
    assert verdicts["BYOL + BG_Random lowers BG-Gap"] == "NOT REPRODUCED"
    assert verdicts["rotnet gains nothing from bg_rm (Original accuracy)"] == "NOT RUN"

    single = [r for r in runs if r["seed"] == 0]
    assert _verdicts(single)["MoCo-v2 BG-Gap: baseline > BG_RM > BG_Swaps"] == "HOLDS (1 seed)"
    numbers = {c["claim"]: c["numbers"] for c in check_claims(single)}
    assert "±" not in numbers["BYOL + BG_Random lowers BG-Gap"]  # no "±0.0" from one seed
    assert ">" not in numbers["BYOL + BG_Random lowers BG-Gap"]  # numbers never assert an order

    flipped = [dict(r, bg_gap=0.3) if r["bg_aug"] == "bg_swaps" else r for r in runs]
    assert _verdicts(flipped)["MoCo-v2 BG-Gap: baseline > BG_RM > BG_Swaps"] == "NOT REPRODUCED"


def test_a_difference_needs_two_standard_errors() -> None:
    """Mixed-Rand: BG_Swaps 0.55 vs baseline 0.40 with per-seed spread chosen so that the difference
    is 1.5 SE: one SE (the old rule) would pass it, two do not."""
    runs = _learned_runs()
    spread = {0: -1.0, 1: 0.0, 2: 1.0}
    # SEM of values m + s * d over s in (-1, 0, 1) is d / sqrt(3); both sides alike -> SE = d * sqrt(2/3).
    d = 15.0 / 1.5 / (2 / 3) ** 0.5 / 100
    for run in runs:
        if run["method"] == "moco_v2" and run["bg_aug"] in ("none", "bg_swaps"):
            base = 0.55 if run["bg_aug"] == "bg_swaps" else 0.40
            run["in9"]["mixed_rand"] = base + spread[run["seed"]] * d
    assert _verdicts(runs)["MoCo-v2 Mixed-Rand accuracy rises with BG_Swaps"] == "NOT REPRODUCED"
    for run in runs:
        if run["method"] == "moco_v2" and run["bg_aug"] == "bg_swaps":
            run["in9"]["mixed_rand"] += 0.10  # now 25 points: 2.5 SE
    assert _verdicts(runs)["MoCo-v2 Mixed-Rand accuracy rises with BG_Swaps"] == "REPRODUCED"


def test_claims_on_an_unlearned_baseline_are_untestable() -> None:
    near_chance = _learned_runs(original=0.40)  # 10 points over the random reference (0.30)
    claims = {c["claim"]: c for c in check_claims(near_chance)}
    for name in (
        "MoCo-v2 BG-Gap: baseline > BG_RM > BG_Swaps",
        "MoCo-v2 Only-FG accuracy rises with BG_Swaps",
        "BYOL + BG_Random lowers BG-Gap",
    ):
        assert claims[name]["verdict"] == "UNTESTABLE"
        assert "baseline not learned" in claims[name]["numbers"]
        assert "+10.0 points from random weights" in claims[name]["numbers"]
    without_reference = [r for r in _learned_runs() if r["method"] != "random"]
    claims = {c["claim"]: c for c in check_claims(without_reference)}
    assert claims["BYOL + BG_Random lowers BG-Gap"]["verdict"] == "UNTESTABLE"
    assert "no random-weights reference" in claims["BYOL + BG_Random lowers BG-Gap"]["numbers"]
    rotnet = [_run("rotnet", aug, seed, 0.1) for aug in ("none", "bg_rm") for seed in range(3)]
    claim = "rotnet gains nothing from bg_rm (Original accuracy)"
    for original, verdict in ((0.40, "UNTESTABLE"), (0.60, "REPRODUCED")):
        controls = [dict(r, in9=dict(r["in9"], original=original)) for r in rotnet]
        assert _verdicts(_learned_runs() + controls)[claim] == verdict


def test_mechanism_says_how_the_gap_moved() -> None:
    runs = _learned_runs()
    for run in runs:  # BG_RM: the gap falls because Mixed-Same falls, foreground unchanged
        if run["method"] == "moco_v2" and run["bg_aug"] == "bg_rm":
            run["in9"]["mixed_rand"] = run["in9"]["only_fg"] = 0.40 + run["seed"] * 0.001
            run["in9"]["mixed_same"] = 0.40 + run["bg_gap"]
    rows = {row["model"]: row for row in mechanism(runs)}
    assert set(rows) == {"moco_v2 + bg_rm", "moco_v2 + bg_swaps", "byol + bg_random"}
    assert rows["moco_v2 + bg_swaps"]["reading"].startswith("foreground used more: Only-FG and Mixed-Rand")
    assert rows["moco_v2 + bg_rm"]["reading"].startswith("background cue lost")
    assert rows["byol + bg_random"]["reading"].startswith("no difference beyond 2 SE")
    assert rows["moco_v2 + bg_swaps"]["Mixed-Rand"].startswith("+15.0 (SE")
    unlearned = {row["model"]: row for row in mechanism(_learned_runs(original=0.35))}
    assert unlearned["moco_v2 + bg_swaps"]["reading"].startswith("UNTESTABLE")


def test_report_writes_tables_and_figures(tmp_path: Path) -> None:
    runs = [
        _run("random", "none", 0, 0.01),
        _run("moco_v2", "none", 0, 0.2),
        _run("moco_v2", "bg_swaps", 0, 0.05),
    ]
    results = {
        "meta": {"machine": "test"},
        "masks": {"rbd": {"max_f": 0.7, "mean_f": 0.6, "adaptive_f": 0.65, "mae": 0.1}},
        "runs": runs,
    }
    path = write_report(results, tmp_path, {})
    text = path.read_text()
    assert "| MoCo-v2 + BG_Swaps |" in text
    assert "| Random weights (reference) | 60.0 |" in text  # first row, Original column
    assert "linear val" not in text  # the benchmark's val split is IN-9 Original: one column, not two
    assert "20.0" in in9_table(runs)  # BG-Gap of the baseline in percent
    assert "| rbd | 0.700 |" in text
    assert (tmp_path / "bg_gap.png").stat().st_size > 1000
    assert (tmp_path / "in9_variants.png").stat().st_size > 1000


def _legend_texts(ax: Any) -> list[str]:
    legend = ax.get_legend()
    return [t.get_text() for t in legend.get_texts()] if legend is not None else []


def test_bar_figures_are_labelled_and_show_error_bars_only_with_seeds() -> None:
    from bgaug.launch.report import bg_gap_figure, variants_figure

    one_seed = [
        _run("random", "none", 0, 0.02),
        _run("moco_v2", "none", 0, 0.2),
        _run("moco_v2", "bg_rm", 0, 0.1),
    ]
    fig = bg_gap_figure(one_seed)
    ax = fig.axes[0]
    assert "one seed" in ax.get_title() and ax.get_xlabel() and "BG-Gap" in ax.get_ylabel()
    assert _legend_texts(ax) == [
        "untrained backbone (reference)",
        "no background augmentation",
        "with a background augmentation",
    ]
    assert not any(type(c).__name__ == "ErrorbarContainer" for c in ax.containers)  # no zero-width caps
    seeded = [
        _run(m, a, s, 0.1 + 0.01 * s)
        for m, a in (("moco_v2", "none"), ("moco_v2", "bg_rm"))
        for s in range(3)
    ]
    assert any(type(c).__name__ == "ErrorbarContainer" for c in bg_gap_figure(seeded).axes[0].containers)

    fig = variants_figure(one_seed, chance=100 / 9)
    ax = fig.axes[0]
    assert ax.get_title() and ax.get_xlabel() and "accuracy" in ax.get_ylabel()
    assert "chance (11.1 %)" in _legend_texts(ax)
    assert ax.get_legend().get_bbox_to_anchor().x0 > ax.get_window_extent().x1 - 1  # beside the bars
    assert [t.get_text() for t in ax.get_xticklabels()][:2] == ["Original", "Only-FG"]


def test_image_grid_names_every_column_and_row() -> None:
    import numpy as np

    from bgaug.launch.report import image_grid_figure

    tile = np.zeros((8, 8, 3), dtype=np.uint8)
    fig = image_grid_figure([[tile, tile, None], [tile, None, None]], ["a", "b", "c"], ["r0", "r1"], "T")
    top = [ax.get_title() for ax in fig.axes[:3]]
    assert top == ["a", "b", "c"]
    assert [fig.axes[i].get_ylabel() for i in (0, 3)] == ["r0", "r1"]
    assert fig._suptitle.get_text() == "T"
    with pytest.raises(ValueError, match="rows x columns"):
        image_grid_figure([[tile]], ["a", "b"], ["r0"], "T")
