"""Config validation and the p warm-up."""

from __future__ import annotations

import pytest
from helpers import gen, identity_pipeline, square_batch

from bgaug.augment import build_pipeline
from bgaug.augment.config import BackgroundConfig, MaskDistortion, ViewSpec


@pytest.mark.parametrize("field", ["p_pos", "p_neg", "fg_min", "min_foreground"])
@pytest.mark.parametrize("value", [-0.1, 1.5])
def test_probabilities_outside_unit_interval_name_the_field(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=field):
        BackgroundConfig(kind="bg_swaps", **{field: value})


def test_other_bad_values_name_the_field() -> None:
    with pytest.raises(ValueError, match="jitter_p"):
        ViewSpec(size=8, jitter_p=2.0)
    with pytest.raises(ValueError, match="bg_aug"):
        BackgroundConfig(kind="bg_magic")
    with pytest.raises(ValueError, match="rotate_deg"):
        MaskDistortion(rotate_deg=-5)
    with pytest.raises(ValueError, match="p_neg"):
        BackgroundConfig(kind="bg_rm", p_neg=0.2)
    with pytest.raises(ValueError, match="unknown option"):
        build_pipeline("moco_v2", "bg_rm", image_size=32, p_typo=0.1)
    with pytest.raises(ValueError, match="method"):
        build_pipeline("dino", image_size=32)
    with pytest.raises(ValueError, match="negatives"):
        build_pipeline("byol", "bg_swaps", image_size=32)


def test_paper_defaults() -> None:
    moco = build_pipeline("moco_v2", "bg_swaps", image_size=32).background
    assert (moco.p_pos, moco.p_neg, moco.fg_min) == (0.2, 0.2, 0.1)
    byol = build_pipeline("byol", "bg_random", image_size=32).background
    assert (byol.p_pos, byol.fg_min) == (0.05, 0.05)
    swav = build_pipeline("swav", "bg_rm", image_size=32).background
    assert (swav.p_pos, swav.fg_min, swav.warmup_epochs) == (0.25, 0.15, 10)
    assert build_pipeline("moco_v2", image_size=32).background.fg_min == 0.0


def test_warmup_is_linear_and_reaches_p_at_the_stated_epoch() -> None:
    cfg = BackgroundConfig(kind="bg_swaps", p_pos=0.2, p_neg=0.4, warmup_epochs=10)
    assert cfg.probabilities(0) == (0.0, 0.0)
    p5 = cfg.probabilities(5)
    assert p5 == pytest.approx((0.1, 0.2))
    assert cfg.probabilities(10) == pytest.approx((0.2, 0.4))
    assert cfg.probabilities(50) == pytest.approx((0.2, 0.4))


def test_warmup_drives_the_pipeline() -> None:
    batch = square_batch(B=32, size=8)
    pipe = identity_pipeline("bg_rm", 8, p_pos=1.0, warmup_epochs=4)
    assert pipe(batch, gen()).stats["bg_applied"] == 0
    pipe.set_epoch(4)
    assert pipe(batch, gen()).stats["bg_applied"] == 64
    with pytest.raises(ValueError, match="epoch"):
        pipe.set_epoch(-1)


def test_blur_sigma_scales_with_the_view_size() -> None:
    from bgaug.augment.recipes import method_views

    for method in ("moco_v2", "byol", "simclr", "swav"):
        at_224 = method_views(method, 224)[0].blur_sigma
        at_32 = method_views(method, 32)[0].blur_sigma
        assert at_224 == pytest.approx((0.1, 2.0))  # the papers' range at their view size
        assert at_32 == pytest.approx((0.1 * 32 / 224, 2.0 * 32 / 224))
    local = method_views("swav", 224)[-1]
    assert not local.is_global and local.blur_sigma == pytest.approx((0.1 * 96 / 224, 2.0 * 96 / 224))
