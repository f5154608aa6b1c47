"""A contact sheet of a generated benchmark: per class, train images with their masks, then one val
image with its mask and its eight ImageNet-9 variants (read back from disk: what you see is what was
written)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from bgaug.core.io import load_image, load_mask, save_png
from bgaug.core.synth_in9 import VARIANTS

TRAIN_PER_ROW = 2
CELL = 64  # smaller images are upscaled (nearest) so the sheet stays legible
PAD = 2
HEADER = 14


def _cell(image: np.ndarray, scale: int) -> np.ndarray:
    rgb = np.repeat(image[:, :, None], 3, axis=2) if image.ndim == 2 else image
    return np.kron(rgb, np.ones((scale, scale, 1), dtype=np.uint8))


def contact_sheet_tiles(
    out: str | os.PathLike[str],
) -> tuple[list[str], list[str], list[list[np.ndarray]]]:
    """Column titles, row labels (class folder: shape on its matched background) and, per class,
    the tiles of the benchmark in ``out``: train images with masks, a val image, its mask and variants."""
    root = Path(out)
    manifest = json.loads((root / "manifest.json").read_text())
    titles = [t for _ in range(TRAIN_PER_ROW) for t in ("train", "mask")] + ["val", "fg_mask", *VARIANTS[1:]]
    labels, rows = [], []
    for info in manifest["classes"]:
        folder = info["folder"]
        cells = []
        train = [r for r in manifest["images"]["train"] if r["class"] == info["index"]][:TRAIN_PER_ROW]
        for record in train:
            cells += [
                load_image(root / record["path"]),
                load_mask(root / record["mask"]).astype(np.uint8) * 255,
            ]
        name = f"{folder}/000000.png"
        cells.append(load_image(root / "in9" / "original" / "val" / name))
        cells.append(load_mask(root / "in9" / "fg_mask" / "val" / name).astype(np.uint8) * 255)
        cells += [load_image(root / "in9" / v / "val" / name) for v in VARIANTS[1:]]
        rows.append(cells)
        labels.append(f"{folder}: {info['shape']} / {info['background']}")
    return titles, labels, rows


def write_preview(out: str | os.PathLike[str], preview: str | os.PathLike[str]) -> None:
    """Write the contact sheet of the benchmark in ``out`` to ``preview`` (PNG)."""
    titles, _, tiles = contact_sheet_tiles(out)
    size = tiles[0][0].shape[0]
    scale = max(1, -(-CELL // size))
    rows = [[_cell(c, scale) for c in cells] for cells in tiles]
    side = size * scale
    width = len(titles) * (side + PAD) + PAD
    height = HEADER + len(rows) * (side + PAD) + PAD
    sheet = np.full((height, width, 3), 255, dtype=np.uint8)
    for r, row in enumerate(rows):
        for c, cell in enumerate(row):
            y, x = HEADER + PAD + r * (side + PAD), PAD + c * (side + PAD)
            sheet[y : y + side, x : x + side] = cell
    canvas = Image.fromarray(sheet)
    draw = ImageDraw.Draw(canvas)
    for c, title in enumerate(titles):
        draw.text((PAD + c * (side + PAD) + 2, 1), title, fill=(0, 0, 0))
    save_png(preview, np.asarray(canvas))
