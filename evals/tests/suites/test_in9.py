from __future__ import annotations

from pathlib import Path

import pytest
import torch

from bgaug.evals.inference import EvalOptions
from bgaug.evals.suites.in9 import VARIANTS, evaluate_in9, imagenet_group_decider, resolve_mapping
from bgaug.evals.tables import in9_groups

OPTS = EvalOptions(batch_size=4, workers=0, device="cpu", progress=False)


def test_every_group_index_maps_to_its_class_and_the_other_630_are_wrong(shared_data: Path) -> None:
    classes = list(in9_groups())
    decide = imagenet_group_decider(classes)
    logits = torch.eye(1000)
    mapped = decide(logits)
    for position, name in enumerate(classes):
        assert set(torch.nonzero(mapped == position).flatten().tolist()) == set(in9_groups()[name])
    assert int((mapped == -1).sum()) == 630


def test_mapping_resolution() -> None:
    classes = list(in9_groups())
    assert resolve_mapping("auto", classes, 1000) == "imagenet"
    assert resolve_mapping("auto", ["a", "b", "c"], 3) == "identity"
    with pytest.raises(ValueError, match="cannot map"):
        resolve_mapping("auto", ["a", "b", "c"], 5)


def _tree(root: Path, classes: list[str], per_class: int, write_images) -> None:  # type: ignore[no-untyped-def]
    for variant in VARIANTS:
        for c in classes:
            write_images(root / variant / "val" / c, per_class, 8)


def test_imagenet_classifier_on_in9_tree_scores_group_hits(
    tmp_path: Path, write_images, scripted, one_hot
) -> None:  # type: ignore[no-untyped-def]
    classes = list(in9_groups())
    _tree(tmp_path, classes, 1, write_images)
    groups = in9_groups()
    outside = next(i for i in range(1000) if all(i not in g for g in groups.values()))
    # Per variant (sorted class order): the first 3 classes hit their group, the rest an index of no group.
    picks = [groups[c][-1] if i < 3 else outside for i, c in enumerate(classes)]
    model = scripted(one_hot(picks * len(VARIANTS)))
    result = evaluate_in9(model, tmp_path, OPTS)
    assert result["mapping"] == "imagenet"
    for variant in VARIANTS:
        assert result["variants"][variant]["top1"] == pytest.approx(100 * 3 / 9)
    assert result["bg_gap"] == pytest.approx(0.0)


def test_identity_mapping_and_bg_gap(tmp_path: Path, write_images, scripted, one_hot) -> None:  # type: ignore[no-untyped-def]
    classes = ["a", "b"]
    _tree(tmp_path, classes, 2, write_images)
    rows = []
    for variant in VARIANTS:
        # Labels in order: a, a, b, b. Mixed-Rand gets every image wrong, the others all right.
        rows += [1, 1, 0, 0] if variant == "mixed_rand" else [0, 0, 1, 1]
    model = scripted(one_hot(rows, width=2))
    result = evaluate_in9(model, tmp_path, OPTS)
    assert result["mapping"] == "identity"
    assert set(result["variants"]) == set(VARIANTS)
    assert result["variants"]["mixed_same"]["top1"] == 100.0
    assert result["variants"]["mixed_rand"]["top1"] == 0.0
    assert result["bg_gap"] == 100.0


def test_missing_variants_are_listed_and_bad_files_counted(
    tmp_path: Path, write_images, tiny_classifier
) -> None:  # type: ignore[no-untyped-def]
    for c in ("a", "b"):
        write_images(tmp_path / "original" / "val" / c, 2, 8)
    (tmp_path / "original" / "val" / "a" / "broken.jpg").write_bytes(b"not a jpeg")
    result = evaluate_in9(tiny_classifier(2), tmp_path, OPTS)
    assert result["missing_variants"] == [v for v in VARIANTS if v != "original"]
    assert "bg_gap" not in result
    original = result["variants"]["original"]
    assert original["n"] == 4 and original["n_unreadable"] == 1
    assert original["unreadable"][0].endswith("broken.jpg")
