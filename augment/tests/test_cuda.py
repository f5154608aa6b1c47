"""The same pipelines on CUDA (skipped without a GPU): reproducible, and the acceptance checks hold."""

from __future__ import annotations

import warnings

import pytest
import torch
from helpers import identity_pipeline, square_batch, unnormalize

from bgaug.augment import build_pipeline
from bgaug.augment.background import pick_other_rows
from bgaug.augment.crops import resized_crops, sample_crops
from bgaug.augment.photometric import gaussian_blur
from bgaug.core.interfaces import MaskedImages

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


def _cuda_gen(seed: int) -> torch.Generator:
    return torch.Generator(device="cuda").manual_seed(seed)


@pytest.mark.parametrize(
    ("method", "bg"), [("moco_v2", "bg_swaps"), ("byol", "bg_random"), ("swav", "bg_rm")]
)
def test_cuda_pipelines_are_reproducible(method: str, bg: str) -> None:
    batch = square_batch(B=16, size=48).to("cuda")
    pipe = build_pipeline(method, bg, image_size=32, local_size=16, p_pos=0.5, warmup_epochs=0)
    a, b = pipe(batch, _cuda_gen(1)), pipe(batch, _cuda_gen(1))
    assert all(v.is_cuda for v in a.views)
    for x, y in zip(a.views, b.views, strict=True):
        assert torch.equal(x, y)
    cpu_gen = pipe(batch, torch.Generator().manual_seed(1))  # a CPU generator drives CUDA data too
    assert cpu_gen.views[0].is_cuda


def test_cuda_bg_rm_and_matched_negatives() -> None:
    batch = square_batch(B=6, size=16).to("cuda")
    out = identity_pipeline("bg_rm", 16, p_pos=1.0)(batch, _cuda_gen(2))
    fg = (batch.masks > 0.5).expand(-1, 3, -1, -1).cpu()
    x = unnormalize(out.views[0].cpu())
    assert torch.allclose(x[fg], batch.images.cpu()[fg], atol=1e-5)
    for i in range(6):
        bg = x[i][~fg[i]]
        assert torch.allclose(bg, bg[:1].expand_as(bg), atol=1e-5)
    pipe = identity_pipeline("bg_swaps", 16, p_pos=0.0, p_neg=1.0)
    swaps = pipe(batch, _cuda_gen(3))
    assert swaps.matched_negatives is not None and swaps.matched_rows is not None
    q, k, m = unnormalize(swaps.views[0].cpu()), unnormalize(swaps.views[1].cpu()), pipe.last_masks[0].cpu()
    for neg, row in zip(unnormalize(swaps.matched_negatives.cpu()), swaps.matched_rows.tolist(), strict=True):
        errors = [
            float((neg - (m[row] * k[j] + (1 - m[row]) * q[row])).abs().max()) for j in range(6) if j != row
        ]
        assert min(errors) < 1e-5


def test_cuda_uint8_batch() -> None:
    batch = square_batch(B=4, size=32)
    assert batch.backgrounds is not None
    u8 = MaskedImages(
        (batch.images * 255).to(torch.uint8), batch.masks, (batch.backgrounds * 255).to(torch.uint8)
    ).to("cuda")
    out = build_pipeline("moco_v2", "bg_swaps", image_size=24)(u8, _cuda_gen(0))
    assert out.views[0].shape == (4, 3, 24, 24) and torch.isfinite(out.views[0]).all()


def test_cuda_batched_resize_blur_and_row_picks_match_cpu_without_host_sync() -> None:
    """The default CUDA paths (roi_align resize, grouped-conv blur, sync-free row picks) give the
    CPU runs of the same code, and make no host sync (``set_sync_debug_mode("error")`` raises on
    one)."""
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (8, 4, 48, 48), generator=g, dtype=torch.uint8)
    crops, _ = sample_crops(8, 48, 48, scale=(0.1, 1.0), ratio=(3 / 4, 4 / 3), generator=g)
    flip = torch.rand(8, generator=g) < 0.5
    images = torch.rand(8, 3, 40, 40, generator=g)
    sigma = torch.rand(8, generator=g) * 2
    eligible = torch.rand(64, generator=g) < 0.5
    xc, cc, fc, ic, sc, ec = (t.cuda() for t in (x, crops, flip, images, sigma, eligible))
    resized_crops(xc, cc, 32, fc)  # warm-up: torchvision's ops load, cuDNN picks its algorithms
    gaussian_blur(ic, sc, 2.0)
    generator = _cuda_gen(4)
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        resized = resized_crops(xc, cc, 32, fc)
        blurred = gaussian_blur(ic, sc, 2.0)
        choice, found = pick_other_rows(ec, generator)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert resized.dtype == torch.float32 and resized.is_cuda
    assert torch.allclose(resized.cpu(), resized_crops(x, crops, 32, flip, batched=True), atol=1e-5)
    # cuDNN convolutions default to TF32 (PyTorch's setting): taps rounded to 10 bits, < 1/255.
    assert torch.allclose(blurred.cpu(), gaussian_blur(images, sigma, 2.0, batched=False), atol=2e-3)
    assert found.all() and not (choice.cpu() == torch.arange(64)).any() and eligible[choice.cpu()].all()


def test_cuda_moco_bg_swaps_host_syncs_per_call() -> None:
    """The syncs left in one MoCo-v2 + BG_Swaps call (counted by ``set_sync_debug_mode("warn")``):
    2 photometric plans, 2 x 3 for the views' background plans (stats, rows, gray rows), 2 for the
    matched negatives, 1 for the CenterCrop fallback count: 11. Before the batched resize there
    were ~69 (two per resize call, one per constant tensor, one per row pick)."""
    batch = square_batch(B=32, size=48).to("cuda")
    pipe = build_pipeline("moco_v2", "bg_swaps", image_size=32, p_pos=0.5, p_neg=0.5)
    pipe(batch, _cuda_gen(5))  # warm-up: constants cached, kernels loaded
    torch.cuda.synchronize()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            pipe(batch, _cuda_gen(6))
        finally:
            torch.cuda.set_sync_debug_mode("default")
    syncs = [w for w in caught if "synchroniz" in str(w.message)]
    assert len(syncs) <= 11, [str(w.message) for w in syncs]
