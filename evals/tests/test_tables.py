"""The shipped mapping tables equal the benchmarks' reference files and have the published sizes."""

from __future__ import annotations

import json
from pathlib import Path

from bgaug.evals import tables


def _ref(shared: Path, name: str) -> object:
    return json.loads((shared / "reference" / name).read_text())


def test_wnids_are_the_1000_in_index_order(shared_data: Path) -> None:
    wnids = tables.imagenet_wnids()
    assert list(wnids) == _ref(shared_data, "all_wnids.json")
    assert len(set(wnids)) == 1000 and list(wnids) == sorted(wnids)


def test_imagenet_a_and_r_index_sets(shared_data: Path) -> None:
    a, r = tables.imagenet_a_indices(), tables.imagenet_r_indices()
    assert list(a) == _ref(shared_data, "imagenet_a_indices.json")
    assert list(r) == _ref(shared_data, "imagenet_r_indices.json")
    assert len(set(a)) == len(set(r)) == 200
    assert all(0 <= i < 1000 for i in a + r)
    assert set(a) != set(r)


def test_in9_groups_cover_370_disjoint_indices(shared_data: Path) -> None:
    groups = tables.in9_groups()
    ref = _ref(shared_data, "in9_groups.json")
    assert isinstance(ref, dict)
    assert list(groups) == ref["classes"] == sorted(groups)
    assert len(groups) == 9
    flat = [i for g in groups.values() for i in g]
    assert len(flat) == len(set(flat)) == 370
    assert {k: list(v) for k, v in groups.items()} == ref["imagenet_indices"]


def test_objectnet_113_classes_map_to_125_indices(shared_data: Path) -> None:
    groups = tables.objectnet_groups()
    ref = _ref(shared_data, "objectnet_folder_to_in1k.json")
    assert isinstance(ref, dict)
    assert len(groups) == 113
    assert {i for g in groups.values() for i in g} == {i for g in ref.values() for i in g}
    assert len({i for g in groups.values() for i in g}) == 125
    assert {k: sorted(v) for k, v in groups.items()} == {k: sorted(v) for k, v in ref.items()}


def test_cue_conflict_groups(shared_data: Path) -> None:
    groups = tables.cue_conflict_groups()
    assert len(groups) == 16
    assert {k: list(v) for k, v in groups.items()} == _ref(shared_data, "cue_conflict_16class_indices.json")
    assert sorted(p.name for p in (shared_data / "cue-conflict-sample").iterdir() if p.is_dir()) == list(
        groups
    )
