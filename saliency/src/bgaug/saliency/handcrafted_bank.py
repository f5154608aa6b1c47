"""Mask banks from a hand-crafted method, computed in parallel on CPU cores.

Each worker process takes a chunk of image paths, computes the maps and writes the bank files
itself; only the small manifest entries travel back to the parent, which keeps the journal. Workers
die with the parent (``workers.worker_pool``). Masks are the maps binarised per image by
``HANDCRAFTED_THRESHOLD`` unless a threshold is given (docs/saliency.md, "Threshold rules").
"""

from __future__ import annotations

import hashlib
import inspect
import os
from collections.abc import Iterator
from concurrent.futures import Future, as_completed
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from bgaug.core.errors import UsageError
from bgaug.saliency import handcrafted
from bgaug.saliency.bank import BankSpec, Threshold, build_bank, check_bank_paths, process_images
from bgaug.saliency.handcrafted import FULL_SIZE_METHODS, METHODS, superpixels, working_size
from bgaug.saliency.workers import worker_pool

CHUNK_SIZE = 8
HANDCRAFTED_THRESHOLD: Threshold = "twice-mean"
"""Hand-crafted maps are flatter than DeepUSPS2's sharpened ones, so the paper's fixed 0.9 (meant
for the detector) left masks of 0-24 % of real photographs; twice the map's mean (Achanta et al.
2009) was chosen by measurement (docs/saliency.md, "Threshold rules")."""


def method_fingerprint(name: str) -> str:
    """sha256 of the method's source and the shared superpixel code: a code change invalidates banks."""
    if name not in METHODS:
        raise UsageError(f"method must be one of {', '.join(sorted(METHODS))}, got {name!r}")
    module = inspect.getmodule(FULL_SIZE_METHODS[name])
    digest = hashlib.sha256()
    for mod in (module, superpixels, working_size, handcrafted):
        digest.update(inspect.getsource(mod).encode("utf-8")) if mod is not None else None
    return digest.hexdigest()


def _maps(name: str, images: list[np.ndarray]) -> list[np.ndarray]:
    return [METHODS[name](image) for image in images]


def _chunk(
    name: str, image_root: str, bank: str, spec: BankSpec, relpaths: list[str]
) -> list[dict[str, Any]]:
    return process_images(Path(image_root), Path(bank), spec, relpaths, partial(_maps, name))


def handcrafted_bank(
    name: str,
    image_root: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    threshold: Threshold = HANDCRAFTED_THRESHOLD,
    soft_maps: bool = False,
    workers: int | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Build (or resume) the mask bank of hand-crafted method ``name``; return its manifest."""
    check_bank_paths(image_root, out)
    spec = BankSpec(
        detector={"name": f"handcrafted:{name}", "sha256": method_fingerprint(name)},
        threshold=threshold,
        soft_maps=soft_maps,
    )
    n_workers = workers if workers is not None else (os.cpu_count() or 1)
    if n_workers < 1:
        raise UsageError(f"workers must be >= 1, got {n_workers}")
    work = partial(_chunk, name, str(image_root), str(out), spec)

    def run_chunks(chunks: list[list[str]]) -> Iterator[list[dict[str, Any]]]:
        if n_workers == 1 or len(chunks) <= 1:
            for chunk in chunks:
                yield work(chunk)
            return
        with worker_pool(n_workers) as pool:
            futures: list[Future[list[dict[str, Any]]]] = [pool.submit(work, c) for c in chunks]
            for future in as_completed(futures):
                yield future.result()

    return build_bank(
        image_root, out, spec, run_chunks, chunk_size=CHUNK_SIZE, desc=f"{name} masks", progress=progress
    )
