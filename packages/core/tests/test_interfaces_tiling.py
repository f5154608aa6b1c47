from __future__ import annotations

import numpy as np
import pytest
import torch

from bgaug.core.interfaces import (
    Classifier,
    MaskBank,
    MaskedImages,
    MaskRecord,
    Preprocess,
    SSLMethod,
    ViewBatch,
)
from bgaug.core.tiling import foreground_bbox, tiled_background


def test_masked_images_checks_shapes() -> None:
    imgs = torch.zeros(2, 3, 8, 8)
    MaskedImages(imgs, torch.zeros(2, 1, 8, 8), backgrounds=torch.zeros(2, 3, 8, 8))
    with pytest.raises(ValueError, match="masks size"):
        MaskedImages(imgs, torch.zeros(2, 1, 8, 6))
    with pytest.raises(ValueError, match="masks must have shape"):
        MaskedImages(imgs, torch.zeros(2, 3, 8, 8))
    with pytest.raises(ValueError, match="labels"):
        MaskedImages(imgs, torch.zeros(2, 1, 8, 8), labels=torch.zeros(3))


def test_view_batch_checks_matched_negatives() -> None:
    q = torch.zeros(4, 3, 8, 8)
    vb = ViewBatch((q, q), matched_negatives=torch.zeros(1, 3, 8, 8), matched_rows=torch.tensor([2]))
    assert vb.batch_size == 4 and len(vb.global_views) == 2 and not vb.local_views
    with pytest.raises(ValueError, match="together"):
        ViewBatch((q, q), matched_negatives=torch.zeros(1, 3, 8, 8))
    with pytest.raises(ValueError, match="matched_rows"):
        ViewBatch((q, q), matched_negatives=torch.zeros(2, 3, 8, 8), matched_rows=torch.tensor([1]))
    with pytest.raises(ValueError, match="n_global"):
        ViewBatch((q,), n_global=2)


def test_classifier_normalises_inside() -> None:
    head = torch.nn.Identity()
    clf = Classifier(torch.nn.Flatten(), head, Preprocess(resize=8, crop=4, mean=(0.5,) * 3, std=(0.5,) * 3))
    out = clf(torch.ones(1, 3, 1, 1))
    assert torch.allclose(out, torch.ones(1, 3))
    with pytest.raises(ValueError, match="crop"):
        Preprocess(resize=4, crop=8)


def test_protocols_are_checkable() -> None:
    class Bank:
        manifest: tuple[str, ...] = ()

        def __len__(self) -> int:
            return 0

        def __getitem__(self, index: int) -> MaskRecord:
            raise IndexError(index)

        def index_of(self, relative_path: str) -> int:
            return 0

    assert isinstance(Bank(), MaskBank)
    assert not isinstance(Bank(), SSLMethod)


def _image(h: int, w: int) -> np.ndarray:
    return np.arange(h * w * 3, dtype=np.int64).reshape(h, w, 3).astype(np.uint8)


def test_tiled_background_uses_left_strip() -> None:
    img = _image(6, 10)
    mask = np.zeros((6, 10), dtype=bool)
    mask[1:5, 4:9] = True  # L = 4, R = 1, T = 1, B = 1 -> areaX = 24 > areaY = 10
    out = tiled_background(img, mask)
    assert out is not None
    assert foreground_bbox(mask) == (4, 1, 9, 5)
    np.testing.assert_array_equal(out[:, :4], img[:, :4])  # outside the box untouched
    np.testing.assert_array_equal(out[:, 9:], img[:, 9:])
    # inside the box: the left strip (width 4) repeated from x = 0
    for x in range(4, 9):
        np.testing.assert_array_equal(out[1:5, x], img[1:5, x % 4])


def test_tiled_background_uses_bottom_strip_on_tie_and_none_cases() -> None:
    img = _image(8, 8)
    mask = np.zeros((8, 8), dtype=bool)
    mask[0:5, 0:8] = True  # full width: L = R = 0, T = 0, B = 3
    out = tiled_background(img, mask)
    assert out is not None
    for y in range(5):
        np.testing.assert_array_equal(out[y], img[5 + (y % 3)])
    assert tiled_background(img, np.zeros((8, 8), dtype=bool)) is None
    assert tiled_background(img, np.ones((8, 8), dtype=bool)) is None
    with pytest.raises(ValueError, match="differs"):
        tiled_background(img, np.zeros((7, 8), dtype=bool))
