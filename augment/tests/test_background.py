"""Acceptance: BG_RM, BG_Random and BG_Swaps on batches built so that the answer is known."""

from __future__ import annotations

import math

import pytest
import torch
from helpers import gen, identity_pipeline, square_batch, unnormalize

from bgaug.augment import build_pipeline
from bgaug.augment.background import pick_other_rows


def test_bg_rm_keeps_foreground_and_grays_background() -> None:
    batch = square_batch(B=6, size=16)
    out = identity_pipeline("bg_rm", 16, p_pos=1.0)(batch, gen(1))
    fg = batch.masks > 0.5
    for view in out.views:
        x = unnormalize(view)
        assert torch.allclose(x[fg.expand_as(x)], batch.images[fg.expand_as(x)], atol=1e-5)
        for i in range(6):
            bg_pixels = x[i][~fg[i].expand(3, -1, -1)]
            level = bg_pixels[0]
            assert 0.0 <= float(level) <= 1.0
            assert torch.allclose(bg_pixels, level.expand_as(bg_pixels), atol=1e-5)
    assert out.stats["bg_applied"] == 12


def test_bg_rm_full_pipeline_only_changes_background() -> None:
    """With photometric and crops on: same seed, p=0 vs p=1 differ only at background pixels."""
    batch = square_batch(B=8, size=32)
    plain = build_pipeline("moco_v2", "bg_rm", image_size=24, p_pos=0.0, fg_min=0.0)
    full = build_pipeline("moco_v2", "bg_rm", image_size=24, p_pos=1.0, fg_min=0.0)
    a, b = plain(batch, gen(3)), full(batch, gen(3))
    for v in range(2):
        m = full.last_masks[v] > 0.5
        xa, xb = unnormalize(a.views[v]), unnormalize(b.views[v])
        assert torch.allclose(xa[m.expand_as(xa)], xb[m.expand_as(xb)], atol=1e-5)
        for i in range(8):
            bg = xb[i][~m[i].expand(3, -1, -1)]
            if bg.numel():
                assert torch.allclose(bg, bg[0].expand_as(bg), atol=1e-5)


def test_bg_random_background_comes_from_another_row() -> None:
    B = 5
    batch = square_batch(B=B, size=16)
    assert batch.backgrounds is not None
    out = identity_pipeline("bg_random", 16, p_pos=1.0)(batch, gen(2))
    fg = (batch.masks > 0.5)[:, 0]
    colours = batch.backgrounds[:, :, 0, 0]  # (B, 3) one colour per row
    for view in out.views:
        x = unnormalize(view)
        for i in range(B):
            pixels = x[i][:, ~fg[i]].T  # (n, 3)
            dist = (pixels[:, None, :] - colours[None]).abs().amax(-1)  # (n, B)
            source = dist.argmin(dim=1)
            assert float(dist.min(dim=1).values.max()) < 1e-5
            assert (source == source[0]).all() and int(source[0]) != i
            assert torch.allclose(x[i][:, fg[i]], batch.images[i][:, fg[i]], atol=1e-5)


def test_matched_negative_is_query_background_with_other_content() -> None:
    B = 6
    batch = square_batch(B=B, size=16)
    pipe = identity_pipeline("bg_swaps", 16, p_pos=0.5, p_neg=1.0, n_matched=2)
    out = pipe(batch, gen(4))
    assert out.matched_negatives is not None and out.matched_rows is not None
    assert out.matched_rows.tolist() == [i for i in range(B) for _ in range(2)]
    q, k = unnormalize(out.views[0]), unnormalize(out.views[1])
    m = pipe.last_masks[0]
    for neg, row in zip(unnormalize(out.matched_negatives), out.matched_rows.tolist(), strict=True):
        candidates = [m[row] * k[j] + (1 - m[row]) * q[row] for j in range(B) if j != row]
        errors = [float((neg - c).abs().max()) for c in candidates]
        assert min(errors) < 1e-5


def test_matched_negative_key_match_uses_key_background() -> None:
    batch = square_batch(B=4, size=16)
    pipe = identity_pipeline("bg_swaps", 16, p_pos=0.0, p_neg=1.0, negative_match="key")
    out = pipe(batch, gen(5))
    assert out.matched_negatives is not None
    k = unnormalize(out.views[1])
    m = pipe.last_masks[1]
    for neg, row in zip(unnormalize(out.matched_negatives), out.matched_rows.tolist(), strict=True):  # type: ignore[union-attr]
        assert torch.allclose(neg[:, m[row, 0] < 0.5], k[row][:, m[row, 0] < 0.5], atol=1e-5)


def _within_binomial(count: int, n: int, p: float) -> bool:
    return abs(count - n * p) <= 4 * math.sqrt(n * p * (1 - p)) + 1


@pytest.mark.parametrize(
    ("p_pos", "p_neg", "coupled"), [(0.2, 0.2, False), (0.35, 0.1, False), (0.3, 0.3, True)]
)
def test_empirical_rates_match_probabilities(p_pos: float, p_neg: float, coupled: bool) -> None:
    batch = square_batch(B=64, size=8)
    pipe = identity_pipeline("bg_swaps", 8, p_pos=p_pos, p_neg=p_neg, coupled=coupled)
    applied = negatives = 0
    draws = 30
    for seed in range(draws):
        out = pipe(batch, gen(seed))
        applied += out.stats["bg_applied"]
        negatives += out.stats.get("matched_negatives", 0)
    assert _within_binomial(applied, 2 * 64 * draws, p_pos)
    assert _within_binomial(negatives, 64 * draws, p_neg)


def test_coupled_draws_tie_key_swap_and_negative() -> None:
    batch = square_batch(B=64, size=8)
    pipe = identity_pipeline("bg_swaps", 8, p_pos=0.3, p_neg=0.3, coupled=True)
    plain = identity_pipeline("bg_swaps", 8, p_pos=0.0, p_neg=0.0)
    out, ref = pipe(batch, gen(9)), plain(batch, gen(9))
    key_swapped = (out.views[1] - ref.views[1]).abs().flatten(1).amax(1) > 0
    assert out.matched_rows is not None
    assert sorted(out.matched_rows.tolist()) == torch.nonzero(key_swapped).squeeze(1).tolist()


def test_pick_other_rows_never_picks_self_and_respects_eligibility() -> None:
    eligible = torch.tensor([True, False, True, True])
    seen = set()
    for seed in range(40):
        choice, found = pick_other_rows(eligible, gen(seed))
        assert found.all()
        for i, j in enumerate(choice.tolist()):
            assert j != i and j != 1
            seen.add((i, j))
    assert seen == {(i, j) for i in range(4) for j in (0, 2, 3) if j != i}  # every option is drawn
    choice, found = pick_other_rows(torch.tensor([True]), gen(0))
    assert not found.any() and choice.tolist() == [0]
    choice, found = pick_other_rows(torch.tensor([False, True, False]), gen(0))
    assert found.tolist() == [True, False, True] and choice.tolist() == [1, 1, 1]
    assert not pick_other_rows(torch.zeros(3, dtype=torch.bool), gen(0))[1].any()


def test_pick_other_rows_is_uniform() -> None:
    counts = torch.zeros(5)
    for seed in range(200):
        choice, _ = pick_other_rows(torch.ones(5, dtype=torch.bool), gen(seed))
        counts += torch.bincount(choice[:1], minlength=5).float()  # row 0's choices
    assert counts[0] == 0 and (counts[1:] > 30).all()


def _pick_other_rows_by_pool(
    eligible: torch.Tensor, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """The earlier implementation (a ``nonzero`` pool: a host sync on CUDA), as the reference."""
    B = eligible.shape[0]
    rows = torch.arange(B)
    pool = torch.nonzero(eligible).squeeze(1)
    u = torch.rand((B,), generator=generator)
    if pool.numel() == 0:
        return rows, torch.zeros(B, dtype=torch.bool)
    pos = torch.searchsorted(pool, rows)
    counts = pool.numel() - eligible.long()
    k = torch.minimum((u * counts).long(), (counts - 1).clamp_min(0))
    k = k + (eligible & (k >= pos)).long()
    found = counts > 0
    return torch.where(found, pool[k.clamp_max(pool.numel() - 1)], rows), found


def test_pick_other_rows_without_host_sync_draws_as_before() -> None:
    patterns = [
        torch.zeros(5, dtype=torch.bool),
        torch.ones(1, dtype=torch.bool),
        torch.zeros(0, dtype=torch.bool),
    ]
    patterns += [torch.rand(n, generator=gen(n)) < p for n in (2, 7, 64) for p in (0.1, 0.5, 0.9, 1.0)]
    for seed, eligible in enumerate(patterns):
        choice, found = pick_other_rows(eligible, gen(seed))
        ref_choice, ref_found = _pick_other_rows_by_pool(eligible, gen(seed))
        assert torch.equal(choice, ref_choice) and torch.equal(found, ref_found)
