"""Validation helpers for configuration dataclasses.

Every config dataclass in bgaug validates itself in ``__post_init__`` with these helpers, so a bad
value fails at construction with a ``ValueError`` that names the field, e.g.
``ValueError: p_pos must be a probability in [0, 1], got 1.5``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Collection, Mapping
from typing import Any, TypeVar

from bgaug.core.errors import UsageError

T = TypeVar("T")


def _finite(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise UsageError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise UsageError(f"{name} must be finite, got {value!r}")
    return float(value)


def check_probability(name: str, value: float) -> float:
    """Return ``value`` if it lies in [0, 1], else raise ``ValueError`` naming ``name``."""
    v = _finite(name, value)
    if not 0.0 <= v <= 1.0:
        raise UsageError(f"{name} must be a probability in [0, 1], got {value!r}")
    return v


def check_positive(name: str, value: float, *, allow_zero: bool = False) -> float:
    """Return ``value`` if it is > 0 (or >= 0 with ``allow_zero``), else raise ``ValueError``."""
    v = _finite(name, value)
    if v < 0 or (v == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise UsageError(f"{name} must be {bound}, got {value!r}")
    return v


def check_range(name: str, value: float, low: float, high: float) -> float:
    """Return ``value`` if ``low <= value <= high``, else raise ``ValueError`` naming ``name``."""
    v = _finite(name, value)
    if not low <= v <= high:
        raise UsageError(f"{name} must lie in [{low}, {high}], got {value!r}")
    return v


def check_choice(name: str, value: T, choices: Collection[T]) -> T:
    """Return ``value`` if it is one of ``choices``, else raise ``ValueError`` listing them."""
    if value not in choices:
        listed = ", ".join(sorted(repr(c) for c in choices))
        raise UsageError(f"{name} must be one of {listed}, got {value!r}")
    return value


def check_interval(name: str, value: tuple[float, float], low: float, high: float) -> tuple[float, float]:
    """Check a (min, max) pair lying inside [low, high] with min <= max."""
    if len(value) != 2:
        raise UsageError(f"{name} must be a (min, max) pair, got {value!r}")
    a = check_range(f"{name}[0]", value[0], low, high)
    b = check_range(f"{name}[1]", value[1], low, high)
    if a > b:
        raise UsageError(f"{name} must have min <= max, got {value!r}")
    return (a, b)


def config_to_dict(config: Any) -> dict[str, Any]:
    """A JSON-ready dict of a (possibly nested) config dataclass; tuples become lists."""
    if not dataclasses.is_dataclass(config) or isinstance(config, type):
        raise TypeError(f"expected a dataclass instance, got {type(config).__name__}")
    return dataclasses.asdict(config)


def config_from_dict(cls: type[T], data: Mapping[str, Any]) -> T:
    """Build ``cls`` from a mapping, refusing unknown keys (a typo must not pass silently)."""
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise UsageError(f"unknown {cls.__name__} field(s): {', '.join(unknown)}")
    kwargs = {}
    for key, value in data.items():
        kwargs[key] = tuple(value) if isinstance(value, list) else value
    return cls(**kwargs)
