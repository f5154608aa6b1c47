"""Per-method view pipelines: shapes, reproducibility, multi-crop, RotNet, ordering, edge cases."""

from __future__ import annotations

import pytest
import torch
from helpers import gen, identity_pipeline, square_batch, unnormalize

from bgaug.augment import build_pipeline, stack_masked_images
from bgaug.augment.config import MaskDistortion
from bgaug.core.interfaces import MaskedImages


@pytest.mark.parametrize(
    ("method", "bg", "n_views", "n_global"),
    [
        ("moco_v2", "bg_swaps", 2, 2),
        ("simclr", "bg_swaps", 2, 2),
        ("byol", "bg_random", 2, 2),
        ("swav", "bg_rm", 8, 2),
        ("rotnet", "bg_rm", 1, 1),
        ("supervised", "none", 1, 1),
    ],
)
def test_methods_shapes_and_reproducibility(method: str, bg: str, n_views: int, n_global: int) -> None:
    batch = square_batch(B=4, size=40)
    batch = MaskedImages(batch.images, batch.masks, batch.backgrounds, labels=torch.arange(4))
    pipe = build_pipeline(method, bg, image_size=32, local_size=16)
    a, b, c = pipe(batch, gen(7)), pipe(batch, gen(7)), pipe(batch, gen(8))
    assert len(a.views) == n_views and a.n_global == n_global
    assert a.views[0].shape == (4, 3, 32, 32)
    if method == "swav":
        assert a.views[-1].shape == (4, 3, 16, 16)
    for x, y in zip(a.views, b.views, strict=True):
        assert torch.equal(x, y)
    assert not torch.equal(a.views[0], c.views[0])
    assert (a.rotations is not None) == (method == "rotnet")
    assert (a.labels is not None) == (method == "supervised")
    assert (a.matched_negatives is not None) == (bg == "bg_swaps")


def test_rotnet_rotations_are_labelled_quarter_turns() -> None:
    batch = square_batch(B=16, size=8)
    from bgaug.augment.pipeline import ViewPipeline

    base = identity_pipeline("none", 8, n_views=1)
    rot = ViewPipeline("rotnet", base.views, base.background, rotations=True)
    plain, out = base(batch, gen(1)), rot(batch, gen(1))
    assert out.rotations is not None and set(out.rotations.tolist()) <= {0, 1, 2, 3}
    for i, k in enumerate(out.rotations.tolist()):
        assert torch.equal(out.views[0][i], torch.rot90(plain.views[0][i], k, dims=(1, 2)))


def test_multicrop_local_views_are_never_background_augmented() -> None:
    batch = square_batch(B=8, size=40)
    on = build_pipeline("swav", "bg_rm", image_size=32, local_size=16, p_pos=1.0, warmup_epochs=0)
    off = build_pipeline("swav", "bg_rm", image_size=32, local_size=16, p_pos=0.0, warmup_epochs=0)
    a, b = on(batch, gen(2)), off(batch, gen(2))
    for v in range(2, 8):
        assert torch.equal(a.views[v], b.views[v])
    assert not torch.equal(a.views[0], b.views[0])
    assert a.stats["bg_applied"] == 16


def test_before_mode_grays_the_load_size_background_then_augments() -> None:
    batch = square_batch(B=4, size=16)
    out = identity_pipeline("bg_rm", 16, p_pos=1.0, order="before")(batch, gen(3))
    fg = batch.masks > 0.5
    x = unnormalize(out.views[0])
    assert torch.allclose(x[fg.expand_as(x)], batch.images[fg.expand_as(x)], atol=1e-5)
    swaps = identity_pipeline("bg_swaps", 16, p_pos=0.5, p_neg=1.0, order="before")(batch, gen(3))
    assert swaps.matched_negatives is not None and swaps.matched_negatives.shape[0] == 4


def test_same_code_on_uint8_input() -> None:
    batch = square_batch(B=3, size=16)
    assert batch.backgrounds is not None
    as_u8 = MaskedImages(
        (batch.images * 255).round().to(torch.uint8),
        (batch.masks * 255).to(torch.uint8),
        (batch.backgrounds * 255).round().to(torch.uint8),
    )
    out = build_pipeline("moco_v2", "bg_swaps", image_size=16)(as_u8, gen())
    assert out.views[0].dtype == torch.float32 and torch.isfinite(out.views[0]).all()


# -- edge cases ---------------------------------------------------------------------------------


def test_empty_and_tiny_masks_are_left_alone_and_counted() -> None:
    batch = square_batch(B=4, size=16)
    masks = batch.masks.clone()
    masks[1] = 0  # no foreground
    masks[2] = 0
    masks[2, :, 0, 0] = 1  # 1 pixel of 256: below min_foreground
    batch = MaskedImages(batch.images, masks, batch.backgrounds)
    pipe = identity_pipeline("bg_rm", 16, p_pos=1.0, min_foreground=0.01)
    out = pipe(batch, gen())
    assert out.stats["bg_skipped_no_foreground"] == 4  # 2 rows x 2 views
    for v in out.views:
        assert torch.allclose(unnormalize(v)[1:3], batch.images[1:3], atol=1e-5)


def test_all_foreground_mask_is_left_alone_and_counted() -> None:
    batch = square_batch(B=3, size=16)
    masks = batch.masks.clone()
    masks[0] = 1
    has_bg = torch.tensor([False, True, True])
    batch = MaskedImages(batch.images, masks, batch.backgrounds, has_background=has_bg)
    out = identity_pipeline("bg_random", 16, p_pos=1.0)(batch, gen())
    assert out.stats["bg_skipped_all_foreground"] == 2
    assert torch.allclose(unnormalize(out.views[0])[0], batch.images[0], atol=1e-5)
    assert batch.backgrounds is not None
    for v in out.views:  # row 0 is never a donor: its "background" slot is not a background
        colours = unnormalize(v)[1:, :, 0, 0]
        assert not torch.isclose(colours, batch.backgrounds[0, :, 0, 0], atol=1e-4).all(dim=1).any()


def test_batch_of_one_falls_back_to_own_background() -> None:
    batch = square_batch(B=1, size=16)
    assert batch.backgrounds is not None
    pipe = identity_pipeline("bg_swaps", 16, p_pos=1.0, p_neg=1.0)
    out = pipe(batch, gen())
    fg = batch.masks[0, 0] > 0.5
    x = unnormalize(out.views[0])[0]
    assert torch.allclose(x[:, ~fg], batch.backgrounds[0][:, ~fg], atol=1e-5)
    assert out.stats["bg_own_background"] == 2
    assert out.matched_negatives is not None and out.matched_negatives.shape[0] == 1
    neg = unnormalize(out.matched_negatives)[0]
    assert torch.allclose(neg[:, fg], batch.backgrounds[0][:, fg], atol=1e-5)  # own tile inside
    assert torch.allclose(neg[:, ~fg], x[:, ~fg], atol=1e-5)  # the query's background outside


def test_missing_backgrounds_error_or_gray_fill() -> None:
    batch = square_batch(B=4, size=16, backgrounds=False)
    with pytest.raises(ValueError, match="needs tiled backgrounds"):
        identity_pipeline("bg_random", 16, p_pos=1.0)(batch, gen())
    out = identity_pipeline("bg_random", 16, p_pos=1.0, missing_background="gray")(batch, gen())
    assert out.stats["bg_gray_fill"] == 8
    x = unnormalize(out.views[0])
    bg = x[0][:, batch.masks[0, 0] < 0.5]
    assert torch.allclose(bg, bg[:, :1].expand_as(bg), atol=1e-5)


def test_mask_size_mismatch_names_the_sample() -> None:
    images = [torch.rand(3, 8, 8) for _ in range(3)]
    masks = [torch.ones(1, 8, 8), torch.ones(1, 8, 8), torch.ones(1, 8, 7)]
    with pytest.raises(ValueError, match=r"sample 2 \(dataset index 12\): mask size"):
        stack_masked_images(images, masks, index=torch.tensor([10, 11, 12]))
    batch = stack_masked_images(images, [*masks[:2], torch.ones(8, 8)], [images[0], None, images[2]])
    assert batch.has_background is not None and batch.has_background.tolist() == [True, False, True]


def test_mask_distortion_is_used_for_compositing() -> None:
    batch = square_batch(B=4, size=16)
    pipe = identity_pipeline("bg_rm", 16, p_pos=1.0, distortion=MaskDistortion(bbox=True, flip=True))
    out = pipe(batch, gen(1))
    m = pipe.last_masks[0]
    assert torch.equal(m, batch.masks)  # a centred square is its own box and flips onto itself
    assert out.stats["bg_applied"] == 8


# -- the GPU's code path (``batched``), run on CPU -------------------------------------------------


def _uint8(batch: MaskedImages) -> MaskedImages:
    assert batch.backgrounds is not None
    to_u8 = lambda x: (x * 255).round().to(torch.uint8)  # noqa: E731
    return MaskedImages(to_u8(batch.images), batch.masks, to_u8(batch.backgrounds), index=batch.index)


def test_batched_path_passes_pixels_through_and_composites_by_formula() -> None:
    """Identity views copy the input exactly (float and uint8 input); BG_RM and BG_Swaps' matched
    negatives follow their formulas, as on the CPU path."""
    batch = square_batch(B=6, size=16)
    for source, expected in ((batch, batch.images), (_uint8(batch), _uint8(batch).images.float() / 255)):
        plain = identity_pipeline("none", 16)
        plain.batched = True
        out = plain(source, gen(1))
        assert torch.allclose(unnormalize(out.views[0]), expected, atol=1e-5)
    rm = identity_pipeline("bg_rm", 16, p_pos=1.0)
    rm.batched = True
    x = unnormalize(rm(batch, gen(2)).views[0])
    fg = (batch.masks > 0.5).expand(-1, 3, -1, -1)
    assert torch.allclose(x[fg], batch.images[fg], atol=1e-5)
    for i in range(6):
        bg = x[i][~fg[i]]
        assert torch.allclose(bg, bg[:1].expand_as(bg), atol=1e-5)
    swaps = identity_pipeline("bg_swaps", 16, p_pos=0.0, p_neg=1.0)
    swaps.batched = True
    out = swaps(batch, gen(3))
    assert out.matched_negatives is not None and out.matched_rows is not None
    q, k, m = unnormalize(out.views[0]), unnormalize(out.views[1]), swaps.last_masks[0]
    for neg, row in zip(unnormalize(out.matched_negatives), out.matched_rows.tolist(), strict=True):
        errors = [
            float((neg - (m[row] * k[j] + (1 - m[row]) * q[row])).abs().max()) for j in range(6) if j != row
        ]
        assert min(errors) < 1e-5


@pytest.mark.parametrize("order", ["after", "before"])
def test_batched_path_is_close_to_the_cpu_path(order: str) -> None:
    """Same draws, so the same crops, flips, colours and background decisions: the views differ only
    by the resize (roi_align's box average vs the antialiased resize), the masks only at edges."""
    batch = _uint8(square_batch(B=12, size=40))
    pipe = build_pipeline("moco_v2", "bg_swaps", image_size=32, p_pos=0.5, p_neg=0.5, order=order)
    cpu = pipe(batch, gen(4))
    cpu_masks = pipe.last_masks
    pipe.batched = True
    out, again = pipe(batch, gen(4)), pipe(batch, gen(4))
    assert not torch.equal(out.views[0], cpu.views[0])  # the other resize did run
    assert out.stats == cpu.stats
    assert cpu.matched_rows is not None and out.matched_rows is not None
    assert torch.equal(out.matched_rows, cpu.matched_rows)
    for v, w, z in zip(out.views, cpu.views, again.views, strict=True):
        assert v.dtype == torch.float32 and torch.equal(v, z)
        assert float((v - w).abs().mean()) < 0.03  # normalised units (about 0.007 in [0, 1])
    for m, c in zip(pipe.last_masks, cpu_masks, strict=True):
        assert float((m != c).float().mean()) < 0.03


def test_center_crop_fallbacks_are_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    from bgaug.augment import pipeline

    fell_back: list[int] = []
    sample_crops = pipeline.sample_crops

    def recording(*args: object, **kwargs: object) -> tuple[torch.Tensor, torch.Tensor]:
        crops, fallback = sample_crops(*args, **kwargs)  # type: ignore[arg-type]
        fell_back.append(int(fallback.sum()))
        return crops, fallback

    monkeypatch.setattr(pipeline, "sample_crops", recording)
    out = build_pipeline("moco_v2", "bg_swaps", image_size=16, fg_min=0.9, scale=(0.2, 0.4))(
        square_batch(B=16, size=40), gen(5)
    )
    assert len(fell_back) == 2 and 0 < sum(fell_back) < 32
    assert out.stats["fg_min_center_crop"] == sum(fell_back)
