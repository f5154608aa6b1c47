"""Mask banks from a trained DeepUSPS2 detector (``python -m bgaug.saliency predict``).

Images are decoded by a thread pool while the network runs batches on the chosen device; file
writes happen in the same threads, so the device is never idle waiting for PNG encoding.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from bgaug.core.errors import UsageError
from bgaug.core.io import sha256_file
from bgaug.core.preflight import check_device
from bgaug.saliency.bank import BankSpec, Threshold, build_bank, check_bank_paths, process_images
from bgaug.saliency.crf import crf_at_working_size, resolve_crf
from bgaug.saliency.fcn import load_detector
from bgaug.saliency.handcrafted.working_size import WORKING_SIDE

DETECTOR_THRESHOLD: Threshold = 0.9
"""The paper's threshold for DeepUSPS2's maps (appendix A.2)."""


def detector_bank(
    checkpoint: str | os.PathLike[str],
    image_root: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    threshold: Threshold = DETECTOR_THRESHOLD,
    soft_maps: bool = False,
    device: str = "cpu",
    batch_size: int = 32,
    workers: int | None = None,
    flip_average: bool = False,
    crf: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    """Build (or resume) the mask bank of the detector in ``checkpoint``; return its manifest.

    ``flip_average`` averages each map with the map of the mirrored image (``FCNDetector``); ``crf``
    refines each map with the dense CRF at the image's resolution (``crf_at_working_size``).
    """
    if batch_size < 1:
        raise UsageError(f"batch_size must be >= 1, got {batch_size}")
    check_device(device)
    check_bank_paths(image_root, out)
    crf_binding = resolve_crf("on") if crf else None  # no binding: one line before any work
    detector, state = load_detector(checkpoint, device, flip_average)
    meta = state.get("meta", {})
    identity = {"name": "deepusps2", "sha256": sha256_file(checkpoint), "init": meta.get("init", "unknown")}
    if flip_average:  # only then, so banks built before the option existed still resume
        identity["test_time"] = "flip_average"
    saliency_of: Callable[[list[np.ndarray]], list[np.ndarray]] = detector.predict_arrays
    if crf_binding is not None:  # only then, so banks built before the option existed still resume
        identity["crf"] = {"binding": crf_binding, "working_side": WORKING_SIDE}
        saliency_of = partial(_refined_with_crf, detector.predict_arrays)
    spec = BankSpec(
        detector=identity,
        threshold=threshold,
        soft_maps=soft_maps,
    )
    n_threads = workers if workers is not None else min(8, os.cpu_count() or 1)
    work = partial(process_images, Path(image_root), Path(out), spec, saliency_of=saliency_of)

    def run_chunks(chunks: list[list[str]]) -> Iterator[list[dict[str, Any]]]:
        # Threads overlap decoding/encoding with the forward passes; torch releases the GIL.
        with ThreadPoolExecutor(max_workers=max(1, n_threads)) as pool:
            yield from pool.map(lambda c: work(relpaths=c), chunks)

    return build_bank(
        image_root, out, spec, run_chunks, chunk_size=batch_size, desc="detector masks", progress=progress
    )


def _refined_with_crf(
    predict: Callable[[list[np.ndarray]], list[np.ndarray]], images: list[np.ndarray]
) -> list[np.ndarray]:
    return [crf_at_working_size(image, m) for image, m in zip(images, predict(images), strict=True)]
