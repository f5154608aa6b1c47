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
from bgaug.core.tiling import foreground_bbox, tiled_background, tiled_backgrounds


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


def test_view_batch_to_moves_every_tensor_and_lays_out_images_channels_last() -> None:
    views = (torch.rand(2, 3, 4, 4), torch.rand(2, 3, 4, 4))
    batch = ViewBatch(
        views=views,
        matched_negatives=torch.rand(1, 3, 4, 4),
        matched_rows=torch.tensor([1]),
        labels=torch.tensor([0, 1]),
        stats={"skipped": 1},
    )
    moved = batch.to("cpu", channels_last=True)
    for view in (*moved.views, moved.matched_negatives):
        assert view is not None and view.is_contiguous(memory_format=torch.channels_last)
        assert not view.is_contiguous()
    assert torch.equal(moved.views[1], views[1])
    assert moved.matched_rows is not None and moved.matched_rows.tolist() == [1]
    assert moved.labels is not None and moved.labels.tolist() == [0, 1]
    assert moved.rotations is None and moved.stats == {"skipped": 1} and moved.n_global == 2
    assert batch.to("cpu").views[0].is_contiguous()


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


def _box_mask(h: int, w: int, box: tuple[int, int, int, int] | None) -> np.ndarray:
    mask = np.zeros((h, w), dtype=bool)
    if box is not None:
        x0, y0, x1, y1 = box
        mask[y0:y1, x0:x1] = True
        mask[y0, x0] = (y1 - y0) * (x1 - x0) <= 4  # a corner pixel off: not a full rectangle
    return mask


def test_batched_tiled_backgrounds_match_the_per_image_recipe() -> None:
    rng = np.random.default_rng(0)
    h, w = 13, 17
    boxes: list[tuple[int, int, int, int] | None] = [
        (3, 2, 9, 8),  # an inner box
        (8, 1, 16, 5),  # a box near the top right
        (2, 0, 15, 13),  # full height: left/right strip
        (0, 6, 17, 10),  # full width: above strip
        (0, 0, 17, 4),  # below strip
        (4, 4, 13, 9),  # left == right and top == bottom ties
        (0, 0, 17, 13),  # covers the image: no background
        None,  # empty mask: no background
    ]
    boxes += [
        (
            int(x0),
            int(y0),
            int(x0) + int(rng.integers(1, w - x0 + 1)),
            int(y0) + int(rng.integers(1, h - y0 + 1)),
        )
        for x0, y0 in zip(rng.integers(0, w, 24), rng.integers(0, h, 24), strict=True)
    ]
    masks = np.stack([_box_mask(h, w, b) for b in boxes])
    images = rng.integers(0, 256, (len(boxes), h, w, 3), dtype=np.uint8)
    out, has_bg = tiled_backgrounds(
        torch.from_numpy(images).permute(0, 3, 1, 2), torch.from_numpy(masks)[:, None].float()
    )
    for i in range(len(boxes)):
        expected = tiled_background(images[i], masks[i])
        assert bool(has_bg[i]) == (expected is not None), i
        want = images[i] if expected is None else expected
        np.testing.assert_array_equal(out[i].permute(1, 2, 0).numpy(), want, err_msg=f"row {i}")
    assert not bool(has_bg[6]) and not bool(has_bg[7])


def test_batched_tiled_backgrounds_reject_mismatched_masks() -> None:
    with pytest.raises(ValueError, match="do not match"):
        tiled_backgrounds(torch.zeros(2, 3, 8, 8), torch.zeros(2, 1, 8, 9))
