"""The 'blended' stand-in of docs/saliency.md, "Dense CRF at prediction time".

Each object of a `bgaug.core synth` benchmark is laid, half transparent (opacity drawn from 0.4-0.7),
over a random square crop (40-100 % of the shorter side, mirrored half the time) of one of ten
photographs that ship inside scikit-image's wheel. The objects keep their exact masks; their
outlines are fainter and the backgrounds hold photographed things (faces, cups, coins) that
contrast-based saliency also picks up. Nothing is downloaded.

Usage: python make_blended.py SYNTH OUT SEED
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image
from skimage import data as skdata

PHOTOS = (
    "astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field", "immunohistochemistry",
    "camera", "coins", "clock", "moon",
)  # fmt: skip
OPACITY = (0.4, 0.7)


def photo(name: str) -> np.ndarray:
    image = np.asarray(getattr(skdata, name)())
    if image.ndim == 2:
        image = np.stack([image] * 3, axis=2)
    return np.asarray(image[..., :3], dtype=np.uint8)


def main(synth: Path, out: Path, seed: int) -> None:
    rng = np.random.default_rng(seed)
    photos = [photo(name) for name in PHOTOS]
    for split in ("pretrain", "val"):
        for path in sorted((synth / split).rglob("*.png")):
            rel = path.relative_to(synth / split)
            image = np.asarray(Image.open(path).convert("RGB"), dtype=np.float64)
            mask = np.asarray(Image.open(synth / "masks" / split / rel)) > 127
            size = image.shape[0]
            source = photos[rng.integers(len(photos))]
            side = int(min(source.shape[:2]) * rng.uniform(0.4, 1.0))
            top = rng.integers(0, source.shape[0] - side + 1)
            left = rng.integers(0, source.shape[1] - side + 1)
            crop = Image.fromarray(source[top : top + side, left : left + side])
            background = np.asarray(crop.resize((size, size), Image.Resampling.BILINEAR), dtype=np.float64)
            if rng.random() < 0.5:
                background = background[:, ::-1]
            alpha = rng.uniform(*OPACITY)
            blended = np.where(mask[..., None], alpha * image + (1 - alpha) * background, background)
            for sub, array in ((split, blended.round()), (f"masks/{split}", mask * 255.0)):
                dest = out / sub / rel
                dest.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(array.astype(np.uint8)).save(dest)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]))
