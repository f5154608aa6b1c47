"""Running a training loop under Ray Train: one ``TorchTrainer`` with DDP workers.

``fit_with_ray`` builds the trainer for ``num_workers`` DDP workers (gloo on CPU, NCCL on GPU), with
checkpoints persisted to ``storage`` (a local path, or a shared one such as NFS or ``s3://`` across
nodes) and ``FailureConfig(max_failures)``: when a worker dies, Ray restarts the group and the loop
resumes from the last reported checkpoint (``TrainSession.restore``).

Resuming a run is rebuilding the trainer with the same ``(storage, name)`` and its latest checkpoint
(``Trainer.restore`` is deprecated in Ray Train V2).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bgaug.launch.session import CHECKPOINT_FILE

TrainLoop = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class RayRun:
    """Where a Ray Train run lives and what it produced."""

    storage: str
    name: str
    metrics: dict[str, Any]
    checkpoint: str | None
    """URI of the latest reported checkpoint directory (holding ``last.pt``), if any."""


def scaling_config(num_workers: int, gpus_per_worker: float, cpus_per_worker: float) -> Any:
    from ray.train import ScalingConfig

    resources: dict[str, float] = {"CPU": cpus_per_worker}
    if gpus_per_worker > 0:
        resources["GPU"] = gpus_per_worker
    return ScalingConfig(num_workers=num_workers, use_gpu=gpus_per_worker > 0, resources_per_worker=resources)


def build_trainer(
    loop: TrainLoop,
    loop_config: dict[str, Any],
    *,
    num_workers: int,
    storage: str,
    name: str,
    gpus_per_worker: float = 0.0,
    cpus_per_worker: float = 1.0,
    max_failures: int = 3,
    resume_from: str | None = None,
    callbacks: Sequence[Any] = (),
) -> Any:
    """A ``TorchTrainer`` running ``loop(loop_config)`` on ``num_workers`` DDP workers."""
    from ray.train import Checkpoint, CheckpointConfig, FailureConfig, RunConfig
    from ray.train.torch import TorchConfig, TorchTrainer

    return TorchTrainer(
        loop,
        train_loop_config=loop_config,
        torch_config=TorchConfig(backend="nccl" if gpus_per_worker > 0 else "gloo"),
        scaling_config=scaling_config(num_workers, gpus_per_worker, cpus_per_worker),
        run_config=RunConfig(
            name=name,
            storage_path=storage,
            failure_config=FailureConfig(max_failures=max_failures),
            checkpoint_config=CheckpointConfig(num_to_keep=2),
            callbacks=list(callbacks) or None,
        ),
        resume_from_checkpoint=Checkpoint(resume_from) if resume_from else None,
    )


def fit_with_ray(
    loop: TrainLoop,
    loop_config: dict[str, Any],
    *,
    num_workers: int,
    storage: str,
    name: str,
    gpus_per_worker: float = 0.0,
    cpus_per_worker: float = 1.0,
    max_failures: int = 3,
    resume_from: str | None = None,
) -> RayRun:
    """Run the trainer to the end; a run that fails for good raises ``RuntimeError`` with the cause."""
    from ray.train import TrainingFailedError

    trainer = build_trainer(
        loop,
        loop_config,
        num_workers=num_workers,
        storage=storage,
        name=name,
        gpus_per_worker=gpus_per_worker,
        cpus_per_worker=cpus_per_worker,
        max_failures=max_failures,
        resume_from=resume_from,
    )
    try:
        result = trainer.fit()
    except TrainingFailedError as exc:
        raise RuntimeError(f"training failed after {max_failures} restart(s): {exc}") from exc
    checkpoint = result.checkpoint
    return RayRun(
        storage=storage,
        name=name,
        metrics=dict(result.metrics or {}),
        checkpoint=checkpoint.path if checkpoint is not None else None,
    )


def fetch_checkpoint(checkpoint_uri: str, dest: Path) -> Path:
    """Copy ``last.pt`` of a reported checkpoint (local path or URI on shared storage) to ``dest``."""
    from ray.train import Checkpoint

    with Checkpoint(checkpoint_uri).as_directory() as directory:
        src = Path(directory) / CHECKPOINT_FILE
        if not src.is_file():
            raise FileNotFoundError(f"{checkpoint_uri}: no {CHECKPOINT_FILE} in the checkpoint")
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.tmp")
        shutil.copy2(src, tmp)
        tmp.replace(dest)
    return dest
