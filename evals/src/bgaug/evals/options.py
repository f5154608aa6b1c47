"""How evaluation runs (batch size, workers, device, bfloat16, progress, BN adaptation), checked up front.

Its own module so that ``inference`` and ``bn_adapt`` both use it without importing each other.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field

import torch

from bgaug.core.config import check_positive
from bgaug.core.preflight import check_device


def default_workers() -> int:
    return min(8, os.cpu_count() or 1)


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


@dataclass(frozen=True)
class EvalOptions:
    """How inference runs: batch size, DataLoader workers, device, bfloat16 autocast, progress bars.

    ``bn_adapt``: re-estimate BatchNorm statistics on each evaluated set before predicting on it
    (``bgaug.evals.bn_adapt``; paper appendix C.8). The device is checked on construction, so a
    missing GPU is reported before any work starts.
    """

    batch_size: int = 256
    workers: int = field(default_factory=default_workers)
    device: str = field(default_factory=default_device)
    bf16: bool = False
    progress: bool = True
    bn_adapt: bool = False

    def __post_init__(self) -> None:
        check_positive("batch_size", self.batch_size)
        check_positive("workers", self.workers, allow_zero=True)
        check_device(self.device)

    def autocast(self) -> contextlib.AbstractContextManager[object]:
        if not self.bf16:
            return contextlib.nullcontext()
        return torch.autocast(device_type=torch.device(self.device).type, dtype=torch.bfloat16)
