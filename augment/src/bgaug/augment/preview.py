"""Preview: a picture of each image, its mask, the query, the positive key and the matched negative.

Reads images under --images with their masks from --masks: a mask bank written by
``python -m bgaug.saliency handcrafted|predict`` (or its ``masks/`` folder), a mask pack, or a folder
of masks mirroring the image tree (``a/b.png`` or ``a/b.jpg.png`` for ``a/b.jpg``; 255 or 1 =
foreground; ``bgaug.core.maskbank.open_mask_bank``). Applies a method's view pipeline with a
background augmentation and writes one PNG grid: one row per image under a band of column
headings; columns input, mask, the first two views (q and k+ for MoCo-v2), then the matched
negative(s) (BG_Swaps). By default the augmentation is forced on (p_pos = p_neg = 1) so that every
row shows it; ``--paper-p`` uses the paper's probabilities instead. Sizes are capped at 2048 px.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from torch import Tensor
from tqdm import tqdm

from bgaug.core.data import MaskedImageDataset, collate_masked
from bgaug.core.errors import UsageError
from bgaug.core.interfaces import IMAGENET_MEAN, IMAGENET_STD, MaskedImages, ViewBatch
from bgaug.core.io import save_png
from bgaug.core.maskbank import check_bank_fits_images, open_mask_bank
from bgaug.core.preflight import check_new_file
from bgaug.core.seeding import torch_generator
from bgaug.core.vocabulary import BG_AUGS, METHOD_NAMES

GAP = 2
MAX_PREVIEW_SIZE = 2048
MAX_PREVIEW_IMAGES = 64
HEADER = 14
"""Height in pixels of the band of column headings above the grid."""

VIEW_TITLES: dict[str, tuple[str, str]] = {
    "moco_v2": ("query q", "positive key k+"),
    "simclr": ("view 1", "view 2"),
    "byol": ("online view", "target view"),
    "swav": ("global crop 1", "global crop 2"),
}
"""Names of a method's first two views in preview columns (one-view methods: ``view``)."""


def to_uint8(x: Tensor, normalized: bool = True) -> np.ndarray:
    """(3, h, w) view -> (h, w, 3) uint8, undoing the ImageNet normalisation."""
    if normalized:
        mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
        std = torch.tensor(IMAGENET_STD).view(3, 1, 1)
        x = x.cpu() * std + mean
    arr = (x.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    return np.ascontiguousarray(arr)


def _fit(tile: np.ndarray, size: int) -> np.ndarray:
    """Nearest-neighbour resize to size x size so that every column has one width."""
    h, w = tile.shape[:2]
    ys = np.arange(size) * h // size
    xs = np.arange(size) * w // size
    out: np.ndarray = tile[ys][:, xs]
    return out


def preview_tiles(
    batch: MaskedImages, views: ViewBatch, method: str
) -> tuple[list[str], list[list[np.ndarray | None]]]:
    """Column headings and, per image, its tiles: input, mask, the first two views and the row's
    matched negatives (``None`` where a row has fewer than another)."""
    B = batch.batch_size
    negatives: list[list[np.ndarray]] = [[] for _ in range(B)]
    if views.matched_negatives is not None and views.matched_rows is not None:
        for neg, owner in zip(views.matched_negatives, views.matched_rows.tolist(), strict=True):
            negatives[owner].append(to_uint8(neg))
    n_neg = max((len(n) for n in negatives), default=0)
    n_views = min(2, len(views.views))
    names = VIEW_TITLES.get(method, ("view", "view 2"))[:n_views]
    titles = ["input", "mask", *names, *(["matched neg."] * n_neg)]
    rows: list[list[np.ndarray | None]] = []
    for i in range(B):
        row: list[np.ndarray | None] = [
            to_uint8(batch.images[i], normalized=False),
            to_uint8(batch.masks[i].expand(3, -1, -1), normalized=False),
            *(to_uint8(v[i]) for v in views.views[:n_views]),
            *negatives[i],
        ]
        rows.append(row + [None] * (len(titles) - len(row)))
    return titles, rows


def _header(titles: list[str], cell: int, width: int) -> np.ndarray:
    """A white band with each column's heading (Pillow's built-in font, clipped to its column)."""
    from PIL import Image, ImageDraw

    band = Image.new("RGB", (width, HEADER), "white")
    draw = ImageDraw.Draw(band)
    for j, title in enumerate(titles):
        x = GAP + j * (cell + GAP)
        text = title
        while text and draw.textlength(text) > cell:
            text = text[:-1]
        draw.text((x, 1), text, fill="black")
    return np.asarray(band)


def preview_grid(batch: MaskedImages, views: ViewBatch, cell: int, method: str = "") -> np.ndarray:
    """The grid of ``preview_tiles`` under a band of column headings (blank where a row has no tile)."""
    titles, rows = preview_tiles(batch, views, method)
    columns = len(titles)
    width = columns * (cell + GAP) + GAP
    grid = np.full((len(rows) * (cell + GAP) + GAP, width, 3), 255, dtype=np.uint8)
    for i, tiles in enumerate(rows):
        for j, tile in enumerate(tiles):
            if tile is None:
                continue
            y, x = GAP + i * (cell + GAP), GAP + j * (cell + GAP)
            grid[y : y + cell, x : x + cell] = _fit(tile, cell)
    return np.concatenate([_header(titles, cell, width), grid])


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--images", required=True, help="image folder (searched recursively)")
    parser.add_argument(
        "--masks",
        required=True,
        help="a mask bank (python -m bgaug.saliency handcrafted|predict --out), its masks/ folder, a mask "
        "pack, or a folder of masks mirroring the image tree",
    )
    parser.add_argument("--out", required=True, help="PNG file to write")
    parser.add_argument(
        "--method", default="moco_v2", choices=METHOD_NAMES, help="view recipe (default moco_v2)"
    )
    parser.add_argument("--bg-aug", default="bg_swaps", choices=BG_AUGS, help="background augmentation")
    parser.add_argument("--n", type=int, default=6, help="number of images (default 6)")
    parser.add_argument(
        "--image-size", type=int, default=224, help=f"view size (default 224, at most {MAX_PREVIEW_SIZE})"
    )
    parser.add_argument(
        "--load-size",
        type=int,
        default=256,
        help=f"load size before cropping (default 256, at most {MAX_PREVIEW_SIZE})",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--paper-p", action="store_true", help="use the paper's p_pos / p_neg, not 1")


def run_from_args(args: argparse.Namespace) -> int:
    from bgaug.augment import build_pipeline

    for name in ("n", "image_size", "load_size"):
        if getattr(args, name) < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be >= 1")
    for name in ("image_size", "load_size"):  # a typo of 100000 px would try to allocate ~1 TB
        if getattr(args, name) > MAX_PREVIEW_SIZE:
            raise UsageError(
                f"--{name.replace('_', '-')} must be at most {MAX_PREVIEW_SIZE}, got {getattr(args, name)}"
            )
    if args.n > MAX_PREVIEW_IMAGES:
        raise UsageError(f"--n must be at most {MAX_PREVIEW_IMAGES} (one grid row each), got {args.n}")
    if not str(args.out).lower().endswith(".png"):
        raise UsageError(f"--out must name a .png file, got {args.out}")
    check_new_file(
        args.out, "--out", overwrite=True
    )  # a preview is redrawn; a folder or unwritable place is not
    options: dict[str, float] = {}
    if not args.paper_p and args.bg_aug != "none":
        options = {"p_pos": 1.0, "warmup_epochs": 0} | ({"p_neg": 1.0} if args.bg_aug == "bg_swaps" else {})
    pipeline = build_pipeline(args.method, args.bg_aug, image_size=args.image_size, **options)
    bank = open_mask_bank(args.images, args.masks)
    check_bank_fits_images(args.images, bank)  # a bank or pack of other images: named now, not a KeyError
    dataset = MaskedImageDataset(args.images, bank, size=args.load_size)
    n = min(args.n, len(dataset))
    samples = [dataset[i] for i in tqdm(range(n), desc="loading", disable=n < 16)]
    batch = collate_masked(samples)
    views = pipeline(batch, torch_generator(args.seed, "preview"))
    grid = preview_grid(batch, views, cell=max(args.image_size, 32), method=args.method)
    save_png(args.out, grid)
    stats = ", ".join(f"{k}={v}" for k, v in sorted(views.stats.items()) if v)
    print(f"wrote {args.out} ({n} images; {stats or 'no background changes'})")
    return 0
