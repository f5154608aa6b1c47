"""How evaluation runs (batch size, workers, device, bfloat16, progress, BN adaptation), checked up front.

Its own module so that ``inference`` and ``bn_adapt`` both use it without importing each other.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field

import torch

from bgaug.core.config import check_positive
from bgaug.core.errors import UsageError

SUPPORTED_DEVICE_TYPES = ("cpu", "cuda", "mps")


def default_workers() -> int:
    return min(8, os.cpu_count() or 1)


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def check_device(name: str) -> str:
    """``name`` if this machine can run on it; else ``ValueError`` with one line (never CUDA's traceback)."""
    try:
        device = torch.device(name)
    except RuntimeError:
        raise UsageError(f"--device {name!r}: not a device name (cpu, cuda, cuda:N or mps)") from None
    if device.type not in SUPPORTED_DEVICE_TYPES:
        raise UsageError(f"--device {name}: unsupported device type (use cpu, cuda, cuda:N or mps)")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise UsageError(f"--device {name}: no CUDA GPU is available on this machine; use --device cpu")
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            raise UsageError(
                f"--device {name}: this machine has {count} CUDA GPU(s) (cuda:0..cuda:{count - 1})"
            )
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise UsageError(f"--device {name}: Apple MPS is not available on this machine; use --device cpu")
    return name


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
