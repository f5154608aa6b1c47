from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bgaug.core.data import FolderMaskBank
from bgaug.core.io import load_image, save_png
from bgaug.evals.inference import EvalOptions
from bgaug.evals.suites.restricted import OnlyForeground, evaluate_imagenet_a_only_fg, evaluate_subset
from bgaug.evals.tables import imagenet_a_indices, imagenet_r_indices, imagenet_wnids

OPTS = EvalOptions(batch_size=2, workers=0, device="cpu", progress=False)


@pytest.mark.parametrize(
    ("subset", "indices"), [("imagenet_a", imagenet_a_indices), ("imagenet_r", imagenet_r_indices)]
)
def test_logits_outside_the_200_are_ignored(
    tmp_path: Path, write_images, scripted, one_hot, subset, indices
) -> None:  # type: ignore[no-untyped-def]
    chosen = indices()
    wnids = imagenet_wnids()
    outside = next(i for i in range(1000) if i not in chosen)
    for k in (0, 5):
        write_images(tmp_path / wnids[chosen[k]], 1, 8)
    # Image 1 (class chosen[0]): its own logit is second highest, the maximum lies outside the 200.
    rows = one_hot([chosen[0], chosen[7]])
    rows[0, outside] = 20.0
    result = evaluate_subset(scripted(rows), tmp_path, subset, OPTS)
    assert result["n"] == 2
    assert result["top1"] == 50.0


def test_folder_outside_subset_is_an_error(tmp_path: Path, write_images, scripted, one_hot) -> None:  # type: ignore[no-untyped-def]
    outside = next(i for i in range(1000) if i not in imagenet_a_indices())
    write_images(tmp_path / imagenet_wnids()[outside], 1, 8)
    with pytest.raises(ValueError, match="not one of the 200"):
        evaluate_subset(scripted(one_hot([0])), tmp_path, "imagenet_a", OPTS)


def test_only_fg_blackens_background_from_mask_bank(tmp_path: Path, write_images, tiny_classifier) -> None:  # type: ignore[no-untyped-def]
    wnid = imagenet_wnids()[imagenet_a_indices()[3]]
    images = tmp_path / "imagenet-a"
    (path,) = write_images(images / wnid, 1, 10)
    mask = np.zeros((10, 10), dtype=bool)
    mask[2:6, 3:8] = True
    save_png(tmp_path / "masks" / wnid / path.name.replace(".png", ".png"), mask)
    bank = FolderMaskBank(images, tmp_path / "masks")
    from bgaug.evals.datasets import LabelledImage

    out = OnlyForeground(bank, images)(load_image(path), LabelledImage(path, 0))
    assert (out[~mask] == 0).all()
    assert (out[mask] == load_image(path)[mask]).all()
    model = tiny_classifier(1000)
    result = evaluate_imagenet_a_only_fg(model, images, bank, OPTS)
    assert result["n"] == 1
