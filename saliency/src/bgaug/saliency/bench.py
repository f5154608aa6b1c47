"""Throughput of the hand-crafted methods (images/s on one core) and of the detector (images/s)."""

from __future__ import annotations

import platform
import time
from typing import Any

import numpy as np
import torch

from bgaug.saliency.handcrafted import METHODS


def _scene(size: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = rng.normal(0, 12, (size, size, 3)) + rng.uniform(40, 140, 3)
    yy, xx = np.mgrid[0:size, 0:size]
    inside = (yy - size * 0.5) ** 2 + (xx - size * 0.45) ** 2 < (size * 0.2) ** 2
    img[inside] += 90
    return img.clip(0, 255).astype(np.uint8)


def run_bench(
    *, size: int = 300, n_images: int = 8, checkpoint: str | None = None, device: str = "cpu"
) -> dict[str, Any]:
    """Measured in this process, one image at a time on one core (hand-crafted) and batched (detector)."""
    if size < 16 or n_images < 1:
        raise ValueError("size must be >= 16 and n_images >= 1")
    images = [_scene(size, i) for i in range(n_images)]
    result: dict[str, Any] = {
        "size": size,
        "n_images": n_images,
        "machine": platform.processor() or platform.machine(),
        "torch_threads": torch.get_num_threads(),
    }
    for name, fn in METHODS.items():
        fn(images[0])  # warm-up
        t = time.perf_counter()
        for image in images:
            fn(image)
        result[f"{name}_images_per_s_per_core"] = n_images / (time.perf_counter() - t)
    from bgaug.saliency.fcn import FCNDetector, load_detector

    if checkpoint:
        detector, _ = load_detector(checkpoint, device)
    else:
        from bgaug.saliency.deepusps import PRESETS
        from bgaug.saliency.fcn import SaliencyFCN

        q = PRESETS["quick"]
        detector = FCNDetector(
            SaliencyFCN(q.arch, small_stem=q.small_stem, output_stride=q.output_stride), q.image_size, device
        )
    detector.predict_arrays(images[:2])
    t = time.perf_counter()
    detector.predict_arrays(images)
    result["detector_images_per_s"] = n_images / (time.perf_counter() - t)
    result["detector_image_size"] = detector.image_size
    return result
