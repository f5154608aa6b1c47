from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bgaug.launch.claims import check_claims
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


def test_claims_follow_the_numbers() -> None:
    runs = []
    for seed, jitter in enumerate((0.0, 0.004, -0.004)):
        runs += [
            _run("moco_v2", "none", seed, 0.20 + jitter, 0.40),
            _run("moco_v2", "bg_rm", seed, 0.12 + jitter, 0.45),
            _run("moco_v2", "bg_swaps", seed, 0.05 + jitter, 0.55),
            _run("byol", "none", seed, 0.10 + jitter),
            _run("byol", "bg_random", seed, 0.10 - jitter),
        ]
    verdicts = {c["claim"]: c["verdict"] for c in check_claims(runs)}
    assert verdicts["MoCo-v2 BG-Gap: baseline > BG_RM > BG_Swaps"] == "REPRODUCED"
    assert verdicts["MoCo-v2 Mixed-Rand accuracy rises with BG_Swaps"] == "REPRODUCED"
    assert verdicts["BYOL + BG_Random lowers BG-Gap"] == "NOT REPRODUCED"
    assert verdicts["rotnet gains nothing from bg_rm (Original accuracy)"] == "NOT RUN"

    with_reference = [_run("random", "none", seed, 0.5) for seed in range(3)] + runs
    assert check_claims(with_reference) == check_claims(runs)  # the reference row is no claim's input

    single = [r for r in runs if r["seed"] == 0]
    verdicts = {c["claim"]: c["verdict"] for c in check_claims(single)}
    assert verdicts["MoCo-v2 BG-Gap: baseline > BG_RM > BG_Swaps"] == "HOLDS (1 seed)"

    flipped = [dict(r, bg_gap=0.3) if r["bg_aug"] == "bg_swaps" else r for r in runs]
    verdicts = {c["claim"]: c["verdict"] for c in check_claims(flipped)}
    assert verdicts["MoCo-v2 BG-Gap: baseline > BG_RM > BG_Swaps"] == "NOT REPRODUCED"


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
