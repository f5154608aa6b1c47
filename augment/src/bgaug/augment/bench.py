"""Benchmark: pairs of views per second, torchvision PIL per-sample MoCo-v2 vs the batched pipeline.

Both start from the same decoded images (synthetic scenes from ``bgaug.core`` at the load size, with
their masks and tiled backgrounds): (a) torchvision's per-sample MoCo-v2 transforms on PIL images,
two views per image, one image at a time, in a separate process with one torch thread, as a
``DataLoader`` worker runs them; (b) the batched MoCo-v2 pipeline with BG_Swaps (paper defaults) on
a uint8 batch, on CUDA when present, else on CPU with ``--threads`` torch threads (default 1: the
same one core as (a)). (a) and (b) alternate ``--repeats`` times, so load from other jobs hits both
alike; the medians are reported, with the share of (b)'s time spent compositing backgrounds. The
ratio b/a is printed last.
"""

from __future__ import annotations

import argparse
import dataclasses
import multiprocessing as mp
import os
import platform
import random
import time
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageFilter
from tqdm import tqdm

from bgaug.augment.pipeline import ViewPipeline
from bgaug.core.errors import UsageError
from bgaug.core.interfaces import IMAGENET_MEAN, IMAGENET_STD, MaskedImages
from bgaug.core.io import atomic_write_json
from bgaug.core.preflight import check_device, check_json_out
from bgaug.core.synth_scene import draw_scene
from bgaug.core.tiling import tiled_background


class PILGaussianBlur:
    """MoCo-v2's blur: PIL's Gaussian filter with a radius drawn from ``sigma``."""

    def __init__(self, sigma: tuple[float, float] = (0.1, 2.0)):
        self.sigma = sigma

    def __call__(self, image: Image.Image) -> Image.Image:
        return image.filter(ImageFilter.GaussianBlur(radius=random.uniform(*self.sigma)))


def pil_moco_v2(image_size: int) -> Any:
    """torchvision's per-sample MoCo-v2 augmentation on PIL images."""
    from torchvision.transforms import v2

    return v2.Compose(
        [
            v2.RandomResizedCrop(image_size, scale=(0.2, 1.0), antialias=True),
            v2.RandomApply([v2.ColorJitter(0.4, 0.4, 0.4, 0.1)], p=0.8),
            v2.RandomGrayscale(p=0.2),
            v2.RandomApply([PILGaussianBlur()], p=0.5),
            v2.RandomHorizontalFlip(),
            v2.PILToTensor(),
            v2.ToDtype(torch.float32, scale=True),
            v2.Normalize(IMAGENET_MEAN, IMAGENET_STD),
        ]
    )


def decoded_images(n: int, size: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(images (n,S,S,3) uint8, masks (n,S,S) bool, backgrounds (n,S,S,3) uint8, has_background)."""
    images, masks, backgrounds, has_bg = [], [], [], []
    for i in range(n):
        scene = draw_scene(seed, "train", i % 10, i, size=size, classes=10, bg_corr=0.9)
        bg = tiled_background(scene.image, scene.mask)
        images.append(scene.image)
        masks.append(scene.mask)
        backgrounds.append(scene.image if bg is None else bg)
        has_bg.append(bg is not None)
    return np.stack(images), np.stack(masks), np.stack(backgrounds), np.array(has_bg)


def _pil_worker_init() -> None:
    torch.set_num_threads(1)  # what a DataLoader worker does


def _pil_pairs_per_s(image_size: int, images: np.ndarray, n: int, seed: int) -> float:
    """(a), in its own process (see ``run_bench``): two views per image, one image at a time."""
    transform = pil_moco_v2(image_size)
    random.seed(seed)
    torch.manual_seed(seed)
    start = time.perf_counter()
    for i in range(n):
        pil = Image.fromarray(images[i % len(images)])
        transform(pil), transform(pil)
    return n / (time.perf_counter() - start)


def _batched_seconds(
    pipe: ViewPipeline, batch: MaskedImages, generator: torch.Generator, batches: int, progress: bool
) -> float:
    """(b): seconds for ``batches`` calls; ``pipe.timings`` accumulates the stages."""
    dev = batch.images.device
    start = time.perf_counter()
    for _ in tqdm(range(batches), desc="(b) batched MoCo-v2 + BG_Swaps", disable=not progress, leave=False):
        pipe(batch, generator)
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    return time.perf_counter() - start


@dataclass(frozen=True)
class AugmentBenchResult:
    """What ``run_bench`` measured, and where; ``to_json()`` is the dict written to ``--json``."""

    date: str
    machine: str
    cpu_count: int | None
    load_average_1min: float | None
    cpu_threads_torch: int
    device: str
    image_size: int
    load_size: int
    batch_size: int
    repeats: int
    pil_pairs_per_s_rounds: tuple[float, ...]
    batched_pairs_per_s_rounds: tuple[float, ...]
    pil_pairs_per_s: float
    batched_pairs_per_s: float
    stage_share: Mapping[str, float]
    """Share of (b)'s profiled time per pipeline stage (``total`` left out), stages sorted by name."""
    compositing_share: float
    ratio_batched_over_pil: float

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)  # flat fields, in the order printed (tuples become JSON lists)


def run_bench(
    *,
    image_size: int = 224,
    load_size: int = 256,
    batch_size: int | None = None,
    batches: int = 4,
    repeats: int = 3,
    threads: int = 1,
    device: str = "auto",
    seed: int = 0,
    progress: bool = True,
) -> AugmentBenchResult:
    from bgaug.augment import build_pipeline

    dev = torch.device(
        "cuda" if device == "auto" and torch.cuda.is_available() else device.replace("auto", "cpu")
    )
    bs = batch_size or (256 if dev.type == "cuda" else 64)
    images, masks, backgrounds, has_bg = decoded_images(bs, load_size, seed)
    n_pil = min(bs, 64) * max(1, batches // 2)

    pipe: ViewPipeline = build_pipeline("moco_v2", "bg_swaps", image_size=image_size)
    batch = MaskedImages(
        images=torch.from_numpy(images).permute(0, 3, 1, 2).contiguous(),
        masks=torch.from_numpy(masks)[:, None].to(torch.uint8).mul_(255),
        backgrounds=torch.from_numpy(backgrounds).permute(0, 3, 1, 2).contiguous(),
        has_background=torch.from_numpy(has_bg),
    ).to(dev)
    generator = torch.Generator(device=dev)
    generator.manual_seed(seed)
    default_threads = torch.get_num_threads()
    # (a) runs in a separate one-thread process, as a DataLoader worker does; switching this
    # process's torch threads back and forth instead made later multi-threaded ops ~10x slower.
    pil_pool = ProcessPoolExecutor(1, mp_context=mp.get_context("spawn"), initializer=_pil_worker_init)
    if dev.type == "cpu" and threads != default_threads:
        torch.set_num_threads(threads)
    try:
        pil_pool.submit(_pil_pairs_per_s, image_size, images[:2], 2, seed).result()  # start-up, warm-up
        pipe(batch, generator)  # warm-up (allocations, CUDA kernels)
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        pipe.profile = True
        pil_rates, batched_rates = [], []
        for _ in tqdm(range(repeats), desc="rounds of (a) then (b)", disable=not progress):
            pil_rates.append(pil_pool.submit(_pil_pairs_per_s, image_size, images, n_pil, seed).result())
            batched_rates.append(bs * batches / _batched_seconds(pipe, batch, generator, batches, progress))
    finally:
        pil_pool.shutdown()
        if torch.get_num_threads() != default_threads:
            torch.set_num_threads(default_threads)
    pil_pairs_per_s = float(np.median(pil_rates))
    batched_pairs_per_s = float(np.median(batched_rates))
    total = pipe.timings["total"]
    stages = {k: round(v / total, 4) for k, v in sorted(pipe.timings.items()) if k != "total"}
    return AugmentBenchResult(
        date=datetime.now(UTC).strftime("%Y-%m-%d"),
        machine=f"{platform.machine()} {platform.processor() or ''}".strip(),
        cpu_count=os.cpu_count(),
        load_average_1min=round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        cpu_threads_torch=threads if dev.type == "cpu" else default_threads,
        device=str(dev) if dev.type != "cuda" else torch.cuda.get_device_name(dev),
        image_size=image_size,
        load_size=load_size,
        batch_size=bs,
        repeats=repeats,
        pil_pairs_per_s_rounds=tuple(round(r, 1) for r in pil_rates),
        batched_pairs_per_s_rounds=tuple(round(r, 1) for r in batched_rates),
        pil_pairs_per_s=round(pil_pairs_per_s, 1),
        batched_pairs_per_s=round(batched_pairs_per_s, 1),
        stage_share=stages,
        compositing_share=stages.get("compositing", 0.0),
        ratio_batched_over_pil=round(batched_pairs_per_s / pil_pairs_per_s, 2),
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON to FILE")
    parser.add_argument("--image-size", type=int, default=224, help="view size (default 224)")
    parser.add_argument("--load-size", type=int, default=256, help="decoded image size (default 256)")
    parser.add_argument("--batch-size", type=int, help="batch size (default 256 on CUDA, 64 on CPU)")
    parser.add_argument("--batches", type=int, default=4, help="timed batches per round (default 4)")
    parser.add_argument(
        "--repeats", type=int, default=3, help="rounds of (a) then (b); medians reported (default 3)"
    )
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads for (b) on CPU (default 1, as (a) uses one)"
    )
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    parser.add_argument("--seed", type=int, default=0)


def run_from_args(args: argparse.Namespace) -> int:
    check_json_out(args.json)
    for name in ("image_size", "load_size", "batches", "repeats", "threads"):
        if getattr(args, name) < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be >= 1")
    if args.batch_size is not None and args.batch_size < 2:
        raise UsageError("--batch-size must be >= 2")
    if args.device != "auto":
        check_device(args.device)
    result = run_bench(
        image_size=args.image_size,
        load_size=args.load_size,
        batch_size=args.batch_size,
        batches=args.batches,
        repeats=args.repeats,
        threads=args.threads,
        device=args.device,
        seed=args.seed,
    )
    if args.json:
        atomic_write_json(args.json, result.to_json())
    print(
        f"device: {result.device}  batch: {result.batch_size}  views: {result.image_size} px"
        f"  torch threads (b): {result.cpu_threads_torch}  rounds: {result.repeats} (medians)"
    )
    print(f"(a) torchvision PIL MoCo-v2:      {result.pil_pairs_per_s:.1f} pairs/s")
    print(f"(b) batched MoCo-v2 + BG_Swaps:   {result.batched_pairs_per_s:.1f} pairs/s")
    print(f"background compositing share of (b): {100 * result.compositing_share:.2f}%")
    print(f"ratio b/a: {result.ratio_batched_over_pil:.2f}")
    return 0
