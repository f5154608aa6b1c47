"""Where a training loop runs: in-process, as a Ray Train worker, or as a one-process Ray Tune trial.

The loop (``bgaug.launch.worker``) only sees a ``Session``: its rank and world size, its device, a
``report(metrics, checkpoint_file)`` called once per epoch by *every* rank (Ray Train's report is a
barrier), and ``restore(dest)`` which fetches the latest checkpoint, if any, to ``dest``.
Ray is imported lazily, inside the Ray sessions only, so ``--workers 0`` never touches it.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch

CHECKPOINT_FILE = "last.pt"
"""Name of the training checkpoint inside a reported Ray checkpoint directory."""


class Session(Protocol):
    rank: int
    world_size: int

    @property
    def device(self) -> torch.device: ...

    def report(self, metrics: dict[str, Any], checkpoint_file: Path | None) -> None: ...

    def restore(self, dest: Path) -> bool: ...


def _json_ready(metrics: dict[str, Any]) -> dict[str, Any]:
    return {
        k: (float(v) if isinstance(v, int | float) and not isinstance(v, bool) else v)
        for k, v in metrics.items()
    }


@dataclass
class LocalSession:
    """One process, no Ray: the training loop itself logs to ``out_dir/metrics.jsonl`` and resumes
    from ``out_dir``; reports are only kept in ``history``."""

    out_dir: Path
    rank: int = 0
    world_size: int = 1
    history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def device(self) -> torch.device:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")

    def report(self, metrics: dict[str, Any], checkpoint_file: Path | None) -> None:
        self.history.append(_json_ready(metrics))

    def restore(self, dest: Path) -> bool:
        return dest.is_file()


def _reported_checkpoint_dir(checkpoint_file: Path) -> Path:
    """A fresh directory holding a copy of ``checkpoint_file`` (Ray uploads and may delete it)."""
    tmp = Path(tempfile.mkdtemp(prefix="bgaug-ckpt-"))
    shutil.copy2(checkpoint_file, tmp / CHECKPOINT_FILE)
    return tmp


def _fetch(checkpoint: Any, dest: Path) -> bool:
    if checkpoint is None:
        return False
    with checkpoint.as_directory() as directory:
        src = Path(directory) / CHECKPOINT_FILE
        if not src.is_file():
            return False
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dest)
    return True


class TrainSession:
    """A Ray Train worker: rank and device from the train context; rank 0 uploads checkpoints."""

    def __init__(self) -> None:
        import ray.train

        context = ray.train.get_context()
        self.rank = int(context.get_world_rank())
        self.world_size = int(context.get_world_size())

    @property
    def device(self) -> torch.device:
        import ray.train.torch

        device = ray.train.torch.get_device()
        return device if isinstance(device, torch.device) else torch.device(device)

    def report(self, metrics: dict[str, Any], checkpoint_file: Path | None) -> None:
        import ray.train

        if self.rank == 0 and checkpoint_file is not None and checkpoint_file.is_file():
            directory = _reported_checkpoint_dir(checkpoint_file)
            try:
                ray.train.report(
                    _json_ready(metrics), checkpoint=ray.train.Checkpoint.from_directory(directory)
                )
            finally:
                shutil.rmtree(directory, ignore_errors=True)
        else:
            ray.train.report(_json_ready(metrics), checkpoint=None)

    def restore(self, dest: Path) -> bool:
        import ray.train

        return _fetch(ray.train.get_checkpoint(), dest)


class TuneSession:
    """A one-process Ray Tune trial (no Train workers): reports go straight to Tune."""

    rank = 0
    world_size = 1

    @property
    def device(self) -> torch.device:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")

    def report(self, metrics: dict[str, Any], checkpoint_file: Path | None) -> None:
        import ray.tune

        if checkpoint_file is not None and checkpoint_file.is_file():
            directory = _reported_checkpoint_dir(checkpoint_file)
            try:
                ray.tune.report(
                    _json_ready(metrics), checkpoint=ray.tune.Checkpoint.from_directory(directory)
                )
            finally:
                shutil.rmtree(directory, ignore_errors=True)
        else:
            ray.tune.report(_json_ready(metrics))

    def restore(self, dest: Path) -> bool:
        import ray.tune

        return _fetch(ray.tune.get_checkpoint(), dest)
