"""The label-mapping tables of the benchmarks, read from package data (see ``data/README.md``).

Each loader returns plain Python values and is cached: the files are small and never change.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any


def _load(name: str) -> Any:
    return json.loads(resources.files("bgaug.evals").joinpath("data", name).read_text(encoding="utf-8"))


@cache
def imagenet_wnids() -> tuple[str, ...]:
    """The 1000 ImageNet-1k wnids in class-index order."""
    return tuple(_load("all_wnids.json"))


@cache
def wnid_to_index() -> dict[str, int]:
    return {w: i for i, w in enumerate(imagenet_wnids())}


@cache
def imagenet_a_indices() -> tuple[int, ...]:
    """The 200 ImageNet-1k indices of ImageNet-A (ascending, i.e. sorted wnid-folder order)."""
    return tuple(_load("imagenet_a_indices.json"))


@cache
def imagenet_r_indices() -> tuple[int, ...]:
    """The 200 ImageNet-1k indices of ImageNet-R (ascending)."""
    return tuple(_load("imagenet_r_indices.json"))


@cache
def in9_groups() -> dict[str, tuple[int, ...]]:
    """ImageNet-9 class folder name (``00_dog`` ...) -> its ImageNet-1k indices, in class order."""
    data = _load("in9_groups.json")
    return {name: tuple(data["imagenet_indices"][name]) for name in data["classes"]}


@cache
def cue_conflict_groups() -> dict[str, tuple[int, ...]]:
    """The 16 shape-bias categories (sorted) -> their ImageNet-1k indices."""
    data = _load("cue_conflict_16class_indices.json")
    return {name: tuple(data[name]) for name in sorted(data)}


@cache
def objectnet_groups() -> dict[str, tuple[int, ...]]:
    """The 113 ObjectNet folders that overlap ImageNet (sorted) -> their ImageNet-1k indices."""
    data = _load("objectnet_folder_to_in1k.json")
    return {name: tuple(data[name]) for name in sorted(data)}
