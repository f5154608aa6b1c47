"""Mask banks from a hand-crafted method, computed in parallel on CPU cores.

Each worker process takes a chunk of image paths, computes the maps and writes the bank files
itself; only the small manifest entries travel back to the parent, which keeps the journal.
"""

from __future__ import annotations

import hashlib
import inspect
import multiprocessing
import os
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from bgaug.saliency import handcrafted
from bgaug.saliency.bank import BankSpec, build_bank, process_images
from bgaug.saliency.handcrafted import METHODS, superpixels

CHUNK_SIZE = 8


def method_fingerprint(name: str) -> str:
    """sha256 of the method's source and the shared superpixel code: a code change invalidates banks."""
    if name not in METHODS:
        raise ValueError(f"method must be one of {', '.join(sorted(METHODS))}, got {name!r}")
    module = inspect.getmodule(METHODS[name])
    digest = hashlib.sha256()
    for mod in (module, superpixels, handcrafted):
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
    threshold: float = 0.9,
    soft_maps: bool = False,
    workers: int | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Build (or resume) the mask bank of hand-crafted method ``name``; return its manifest."""
    spec = BankSpec(
        detector={"name": f"handcrafted:{name}", "sha256": method_fingerprint(name)},
        threshold=threshold,
        soft_maps=soft_maps,
    )
    n_workers = workers if workers is not None else (os.cpu_count() or 1)
    if n_workers < 1:
        raise ValueError(f"workers must be >= 1, got {n_workers}")
    work = partial(_chunk, name, str(image_root), str(out), spec)

    def run_chunks(chunks: list[list[str]]) -> Iterator[list[dict[str, Any]]]:
        if n_workers == 1 or len(chunks) <= 1:
            for chunk in chunks:
                yield work(chunk)
            return
        # spawn, not fork: the parent may hold torch / OpenMP threads that a fork would copy half-alive.
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=n_workers, mp_context=context) as pool:
            futures: list[Future[list[dict[str, Any]]]] = [pool.submit(work, c) for c in chunks]
            for future in as_completed(futures):
                yield future.result()

    return build_bank(
        image_root, out, spec, run_chunks, chunk_size=CHUNK_SIZE, desc=f"{name} masks", progress=progress
    )
