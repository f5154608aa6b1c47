from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from bgaug.evals.inference import EvalOptions
from bgaug.evals.suites.objectnet import evaluate_objectnet, objectnet_decider, remove_border
from bgaug.evals.tables import objectnet_groups

OPTS = EvalOptions(batch_size=4, workers=0, device="cpu", progress=False)


def test_border_removal_drops_two_pixels_each_side() -> None:
    image = np.zeros((10, 12, 3), dtype=np.uint8)
    image[2:8, 2:10] = 7
    out = remove_border(image)
    assert out.shape == (6, 8, 3) and (out == 7).all()


def test_each_class_scores_the_max_of_its_imagenet_logits(shared_data: Path) -> None:
    groups = objectnet_groups()
    names = list(groups)
    multi = next(n for n in names if len(groups[n]) > 1)
    logits = torch.zeros(2, 1000)
    logits[0, groups[multi][-1]] = 5.0  # one of several indices of `multi` wins
    logits[1, groups["banana"][0]] = 3.0
    logits[1, 0] = 9.0  # tench: not an ObjectNet class, ignored
    assert objectnet_decider()(logits).tolist() == [names.index(multi), names.index("banana")]


def test_tree_with_unmapped_folders(tmp_path: Path, write_images, scripted, one_hot) -> None:  # type: ignore[no-untyped-def]
    write_images(tmp_path / "banana", 2, 12)
    write_images(tmp_path / "air_freshener", 1, 12)  # ObjectNet-only class: ignored
    model = scripted(one_hot([objectnet_groups()["banana"][0], 0]))
    result = evaluate_objectnet(model, tmp_path, OPTS)
    assert result["n"] == 2
    assert result["top1"] == pytest.approx(50.0)
