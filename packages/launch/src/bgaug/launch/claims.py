"""The paper's claims, checked on demo/science results: REPRODUCED or NOT REPRODUCED, with numbers.

A directional claim "a > b" counts as reproduced when the mean difference is positive and larger than
its standard error (sqrt(sem_a^2 + sem_b^2)); "no gain" claims count as reproduced when the gain is
not larger than its standard error. With a single seed there is no standard error: the verdict then
only says whether the direction holds (``HOLDS (1 seed)`` / ``DOES NOT HOLD (1 seed)``). Nothing here
is tuned: it reads the numbers as they came out.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from bgaug.launch.report import group_runs, mean_sem

Metric = Callable[[Mapping[str, Any]], float]


def _bg_gap(run: Mapping[str, Any]) -> float:
    return 100 * float(run["bg_gap"])


def _variant(name: str) -> Metric:
    return lambda run: 100 * float(run["in9"][name])


def _stats(
    groups: Mapping[tuple[str, str], Sequence[Mapping[str, Any]]], key: tuple[str, str], metric: Metric
) -> tuple[float, float] | None:
    runs = groups.get(key)
    if not runs:
        return None
    return mean_sem([metric(r) for r in runs])


def _greater(a: tuple[float, float], b: tuple[float, float]) -> tuple[bool, float, float]:
    diff = a[0] - b[0]
    se = math.sqrt(a[1] ** 2 + b[1] ** 2)
    return diff > 0 and diff > se, diff, se


def _verdict(ok: bool, groups_have_seeds: bool) -> str:
    if groups_have_seeds:
        return "REPRODUCED" if ok else "NOT REPRODUCED"
    return "HOLDS (1 seed)" if ok else "DOES NOT HOLD (1 seed)"


def _fmt(name: str, s: tuple[float, float]) -> str:
    return f"{name} {s[0]:.1f}±{s[1]:.1f}"


def check_claims(runs: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    """Evaluate every claim whose runs are present; claims lacking runs are listed as not run."""
    groups = group_runs(runs)
    seeded = all(len(g) >= 2 for g in groups.values())
    claims: list[dict[str, str]] = []

    def chain(claim: str, keys: Sequence[tuple[str, str]], metric: Metric, names: Sequence[str]) -> None:
        found = [_stats(groups, k, metric) for k in keys]
        stats = [s for s in found if s is not None]
        if len(stats) != len(found):
            claims.append({"claim": claim, "verdict": "NOT RUN", "numbers": "runs missing"})
            return
        ok = all(_greater(stats[i], stats[i + 1])[0] for i in range(len(stats) - 1))
        numbers = " > ".join(_fmt(n, s) for n, s in zip(names, stats, strict=True))
        claims.append({"claim": claim, "verdict": _verdict(ok, seeded), "numbers": numbers})

    chain(
        "MoCo-v2 BG-Gap: baseline > BG_RM > BG_Swaps",
        [("moco_v2", "none"), ("moco_v2", "bg_rm"), ("moco_v2", "bg_swaps")],
        _bg_gap,
        ["baseline", "BG_RM", "BG_Swaps"],
    )
    for variant, label in (("mixed_rand", "Mixed-Rand"), ("only_fg", "Only-FG")):
        chain(
            f"MoCo-v2 {label} accuracy rises with BG_Swaps",
            [("moco_v2", "bg_swaps"), ("moco_v2", "none")],
            _variant(variant),
            ["BG_Swaps", "baseline"],
        )
    chain(
        "BYOL + BG_Random lowers BG-Gap",
        [("byol", "none"), ("byol", "bg_random")],
        _bg_gap,
        ["baseline", "BG_Random"],
    )
    for method, aug in (("rotnet", "bg_rm"), ("supervised", "bg_random")):
        base = _stats(groups, (method, "none"), _variant("original"))
        aug_stats = _stats(groups, (method, aug), _variant("original"))
        claim = f"{method} gains nothing from {aug} (Original accuracy)"
        if base is None or aug_stats is None:
            claims.append({"claim": claim, "verdict": "NOT RUN", "numbers": "runs missing"})
            continue
        gains, diff, se = _greater(aug_stats, base)
        claims.append(
            {
                "claim": claim,
                "verdict": _verdict(not gains, seeded),
                "numbers": f"{_fmt(aug, aug_stats)} vs {_fmt('baseline', base)}"
                f" (gain {diff:.1f}, SE {se:.1f})",
            }
        )
    return claims
