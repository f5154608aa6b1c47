from __future__ import annotations

from pathlib import Path

from bgaug.evals.datasets import imagefolder_items, integer_folder_items
from bgaug.evals.inference import EvalOptions
from bgaug.evals.suites.imagenet_v2 import VARIANTS, evaluate_imagenet_v2

OPTS = EvalOptions(batch_size=8, workers=0, device="cpu", progress=False)


def test_labels_are_the_integer_folder_names_not_imagefolder_order(tmp_path: Path, write_images) -> None:  # type: ignore[no-untyped-def]
    for label in (2, 10, 100, 999):
        write_images(tmp_path / str(label), 1, 8)
    assert sorted(i.label for i in integer_folder_items(tmp_path)) == [2, 10, 100, 999]
    folder_labels = sorted(i.label for i in imagefolder_items(tmp_path)[0])
    assert folder_labels == [0, 1, 2, 3]  # what ImageFolder would have used: wrong


def test_three_variants_found_and_scored(tmp_path: Path, write_images, scripted, one_hot) -> None:  # type: ignore[no-untyped-def]
    present = list(VARIANTS.items())[:2]
    for _, folder in present:
        for label in (1, 10, 2):
            write_images(tmp_path / folder / str(label), 1, 8)
    # Folders sort as strings: 1, 10, 2. Variant one: all right. Variant two: only label 10 right.
    model = scripted(one_hot([1, 10, 2, 0, 10, 0]))
    result = evaluate_imagenet_v2(model, tmp_path, OPTS)
    assert result["missing_variants"] == ["top_images"]
    assert result["variants"]["matched_frequency"]["top1"] == 100.0
    assert abs(result["variants"]["threshold_0.7"]["top1"] - 100 / 3) < 1e-6
