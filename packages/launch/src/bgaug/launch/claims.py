"""The paper's claims, checked on demo / science results, and how each background augmentation moved
the ImageNet-9 numbers.

Rules (``RULES`` is printed beside the verdicts in every report):

1. **Learned first.** A claim about robustness is judged only when the baseline it compares against
   has learned: its mean Original accuracy is at least ``LEARNED_MARGIN`` points above the random-weights
   reference of the same run (an untrained backbone through the same probe). Otherwise the verdict is
   ``UNTESTABLE`` and the reason says by how much it fell short (or that the reference is missing).
2. **Two standard errors.** With at least two seeds per configuration, a directional claim "a > b" is
   ``REPRODUCED`` when the mean difference exceeds ``SE_FACTOR`` standard errors,
   SE = sqrt(SEM_a² + SEM_b²), at every step of a chain; else ``NOT REPRODUCED``. A "gains nothing"
   claim is ``REPRODUCED`` when the gain does not exceed ``SE_FACTOR`` SE.
3. **One seed reads a direction only.** With one seed there is no standard error: the verdict says
   whether the direction holds (``HOLDS (1 seed)`` / ``DOES NOT HOLD (1 seed)``), nothing more.

Nothing here is tuned: it reads the numbers as they came out.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bgaug.launch.report import RANDOM_WEIGHTS, group_runs, mean_sem

LEARNED_MARGIN = 15.0
"""Points of Original top-1 over the random-weights reference a baseline needs before its claims count."""
SE_FACTOR = 2.0
"""A difference counts when it exceeds this many standard errors."""
RULES = (
    f"A claim is judged only when its baseline learned: Original top-1 at least {LEARNED_MARGIN:.0f} "
    "points above the random-weights reference (else UNTESTABLE). With 2+ seeds a difference counts "
    f"when it exceeds {SE_FACTOR:.0f} standard errors, SE = sqrt(SEM_a² + SEM_b²) (REPRODUCED / NOT "
    "REPRODUCED); with 1 seed only its direction is read (HOLDS / DOES NOT HOLD (1 seed))."
)

Metric = Callable[[Mapping[str, Any]], float]
Key = tuple[str, str]
Stats = tuple[float, float, int]
"""(mean, SEM, number of seeds) of one metric over one configuration's runs, in percent."""


def _bg_gap(run: Mapping[str, Any]) -> float:
    return 100 * float(run["bg_gap"])


def _variant(name: str) -> Metric:
    return lambda run: 100 * float(run["in9"][name])


def _stats(groups: Mapping[Key, Sequence[Mapping[str, Any]]], key: Key, metric: Metric) -> Stats | None:
    runs = groups.get(key)
    if not runs:
        return None
    mean, sem = mean_sem([metric(r) for r in runs])
    return mean, sem, len(runs)


@dataclass(frozen=True)
class Difference:
    """``a - b`` with its standard error; ``seeded`` when both sides have at least two seeds."""

    diff: float
    se: float
    seeded: bool

    @property
    def significant_gain(self) -> bool:
        """``a > b`` by the rules: more than ``SE_FACTOR`` SE with seeds, the sign with one seed."""
        if self.seeded:
            return self.diff > SE_FACTOR * self.se
        return self.diff > 0

    @property
    def significant_loss(self) -> bool:
        if self.seeded:
            return self.diff < -SE_FACTOR * self.se
        return self.diff < 0

    def text(self) -> str:
        return f"{self.diff:+.1f} (SE {self.se:.1f})" if self.seeded else f"{self.diff:+.1f} (1 seed)"


def difference(a: Stats, b: Stats) -> Difference:
    return Difference(a[0] - b[0], math.sqrt(a[1] ** 2 + b[1] ** 2), a[2] >= 2 and b[2] >= 2)


def _fmt(name: str, s: Stats) -> str:
    return f"{name} {s[0]:.1f}" if s[2] < 2 else f"{name} {s[0]:.1f}±{s[1]:.1f}"


def learned_gap(groups: Mapping[Key, Sequence[Mapping[str, Any]]], baseline: Key) -> str | None:
    """Why ``baseline`` cannot carry a claim (rule 1), or ``None`` when it learned."""
    reference = _stats(groups, (RANDOM_WEIGHTS, "none"), _variant("original"))
    base = _stats(groups, baseline, _variant("original"))
    if reference is None:
        return "no random-weights reference to judge whether the baseline learned"
    if base is None:
        return "baseline missing"
    margin = base[0] - reference[0]
    if margin < LEARNED_MARGIN:
        return (
            f"baseline not learned: Original {base[0]:.1f} is {margin:+.1f} points from random weights "
            f"({reference[0]:.1f}); needs +{LEARNED_MARGIN:.0f}"
        )
    return None


def _verdict(ok: bool, seeded: bool) -> str:
    if seeded:
        return "REPRODUCED" if ok else "NOT REPRODUCED"
    return "HOLDS (1 seed)" if ok else "DOES NOT HOLD (1 seed)"


def check_claims(runs: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    """Evaluate every claim whose runs are present (rules in the module docstring); claims lacking
    runs are listed as NOT RUN. Each entry: ``claim``, ``verdict``, ``numbers``."""
    groups = group_runs(runs)
    claims: list[dict[str, str]] = []

    def chain(claim: str, keys: Sequence[Key], metric: Metric, names: Sequence[str], baseline: Key) -> None:
        found = [_stats(groups, k, metric) for k in keys]
        stats = [s for s in found if s is not None]
        if len(stats) != len(found):
            claims.append({"claim": claim, "verdict": "NOT RUN", "numbers": "runs missing"})
            return
        steps = [difference(stats[i], stats[i + 1]) for i in range(len(stats) - 1)]
        numbers = ", ".join(_fmt(n, s) for n, s in zip(names, stats, strict=True))
        numbers += "; differences " + ", ".join(d.text() for d in steps)
        reason = learned_gap(groups, baseline)
        if reason is not None:
            claims.append({"claim": claim, "verdict": "UNTESTABLE", "numbers": f"{reason}. {numbers}"})
            return
        seeded = all(d.seeded for d in steps)
        ok = all(d.significant_gain for d in steps)
        claims.append({"claim": claim, "verdict": _verdict(ok, seeded), "numbers": numbers})

    moco = ("moco_v2", "none")
    chain(
        "MoCo-v2 BG-Gap: baseline > BG_RM > BG_Swaps",
        [moco, ("moco_v2", "bg_rm"), ("moco_v2", "bg_swaps")],
        _bg_gap,
        ["baseline", "BG_RM", "BG_Swaps"],
        moco,
    )
    for variant, label in (("mixed_rand", "Mixed-Rand"), ("only_fg", "Only-FG")):
        chain(
            f"MoCo-v2 {label} accuracy rises with BG_Swaps",
            [("moco_v2", "bg_swaps"), moco],
            _variant(variant),
            ["BG_Swaps", "baseline"],
            moco,
        )
    chain(
        "BYOL + BG_Random lowers BG-Gap",
        [("byol", "none"), ("byol", "bg_random")],
        _bg_gap,
        ["baseline", "BG_Random"],
        ("byol", "none"),
    )
    for method, aug in (("rotnet", "bg_rm"), ("supervised", "bg_random")):
        claim = f"{method} gains nothing from {aug} (Original accuracy)"
        base = _stats(groups, (method, "none"), _variant("original"))
        aug_stats = _stats(groups, (method, aug), _variant("original"))
        if base is None or aug_stats is None:
            claims.append({"claim": claim, "verdict": "NOT RUN", "numbers": "runs missing"})
            continue
        gain = difference(aug_stats, base)
        numbers = f"{_fmt(aug, aug_stats)} vs {_fmt('baseline', base)}; gain {gain.text()}"
        reason = learned_gap(groups, (method, "none"))
        if reason is not None:
            claims.append({"claim": claim, "verdict": "UNTESTABLE", "numbers": f"{reason}. {numbers}"})
            continue
        claims.append(
            {"claim": claim, "verdict": _verdict(not gain.significant_gain, gain.seeded), "numbers": numbers}
        )
    return claims


MECHANISM_VARIANTS = (
    ("original", "Original"),
    ("only_fg", "Only-FG"),
    ("mixed_rand", "Mixed-Rand"),
    ("mixed_same", "Mixed-Same"),
)


def mechanism(runs: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    """How each background augmentation moved the numbers against its method's baseline.

    The paper's mechanism: the model uses the foreground more (Only-FG and Mixed-Rand rise). The
    other way to a smaller BG-Gap: the background cue is lost (Mixed-Same falls) with no foreground
    gain. Each entry: ``model``, one column per variant and ``BG-Gap`` (difference and its SE), and
    ``reading``; differences are judged by the same rules as the claims.
    """
    groups = group_runs(runs)
    rows: list[dict[str, str]] = []
    for method, aug in groups:
        if aug == "none" or method == RANDOM_WEIGHTS or (method, "none") not in groups:
            continue
        deltas: dict[str, Difference] = {}
        for name, label in (*MECHANISM_VARIANTS, ("bg_gap", "BG-Gap")):
            metric = _bg_gap if name == "bg_gap" else _variant(name)
            a, b = _stats(groups, (method, aug), metric), _stats(groups, (method, "none"), metric)
            if a is not None and b is not None:
                deltas[label] = difference(a, b)
        row = {"model": f"{method} + {aug}"} | {label: d.text() for label, d in deltas.items()}
        reason = learned_gap(groups, (method, "none"))
        if reason is not None:
            row["reading"] = f"UNTESTABLE: {reason}"
        else:
            row["reading"] = _reading(deltas)
        rows.append(row)
    return rows


def _reading(deltas: Mapping[str, Difference]) -> str:
    fg_up = [k for k in ("Only-FG", "Mixed-Rand") if k in deltas and deltas[k].significant_gain]
    bg_lost = "Mixed-Same" in deltas and deltas["Mixed-Same"].significant_loss
    seeded = all(d.seeded for d in deltas.values())
    qualifier = "" if seeded else " (1 seed: direction only)"
    rose = " and ".join(fg_up)
    if fg_up and not bg_lost:
        return f"foreground used more: {rose} rose (the paper's mechanism){qualifier}"
    if fg_up and bg_lost:
        return f"{rose} rose and Mixed-Same fell: foreground gained, background cue lost{qualifier}"
    if bg_lost:
        return (
            "background cue lost: Mixed-Same fell with no foreground gain (not the paper's mechanism)"
            + qualifier
        )
    return f"no difference beyond {SE_FACTOR:.0f} SE on Only-FG, Mixed-Rand or Mixed-Same{qualifier}"
