"""Seeding: one root seed, independent streams per worker and purpose.

Streams are derived with numpy's ``SeedSequence`` (hash-based, so worker 0 and worker 1 get
statistically independent streams, unlike ``seed + rank``). Use ``torch_generator`` for anything that
draws augmentation parameters and ``numpy_generator`` for data generation and sampling.
"""

from __future__ import annotations

import random

import numpy as np
import torch


def spawn_seed(seed: int, *keys: int | str) -> int:
    """A 63-bit seed derived from ``seed`` and a path of keys (worker rank, epoch, a name...)."""
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    entropy = [seed]
    for key in keys:
        if isinstance(key, str):
            entropy.append(int.from_bytes(key.encode("utf-8")[:16].ljust(16, b"\0"), "little"))
        else:
            if key < 0:
                raise ValueError(f"seed keys must be >= 0, got {key}")
            entropy.append(int(key))
    state = np.random.SeedSequence(entropy).generate_state(2, dtype=np.uint32)
    return int((int(state[0]) << 31) ^ int(state[1])) & ((1 << 63) - 1)


def torch_generator(seed: int, *keys: int | str, device: torch.device | str = "cpu") -> torch.Generator:
    """A ``torch.Generator`` on ``device`` seeded from ``spawn_seed(seed, *keys)``."""
    g = torch.Generator(device=device)
    g.manual_seed(spawn_seed(seed, *keys))
    return g


def numpy_generator(seed: int, *keys: int | str) -> np.random.Generator:
    """A numpy ``Generator`` seeded from ``spawn_seed(seed, *keys)``."""
    return np.random.default_rng(spawn_seed(seed, *keys))


def seed_everything(seed: int) -> None:
    """Seed Python's, numpy's legacy and torch's global generators (for third-party code only)."""
    s = spawn_seed(seed, "global")
    random.seed(s)
    np.random.seed(s % (2**32))  # noqa: NPY002 - seeding the legacy global state is the point
    torch.manual_seed(s)


def worker_seed(seed: int, rank: int, worker_id: int) -> int:
    """The seed of DataLoader worker ``worker_id`` on distributed rank ``rank``."""
    return spawn_seed(seed, "worker", rank, worker_id)
