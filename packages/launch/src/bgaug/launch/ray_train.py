"""Running a training loop under Ray Train: one ``TorchTrainer`` with DDP workers.

``fit_with_ray`` builds the trainer for ``num_workers`` DDP workers (gloo on CPU, NCCL on GPU), with
checkpoints persisted to ``storage`` (a local path, or a shared one such as NFS or ``s3://`` across
nodes) and ``FailureConfig(max_failures)``: when a worker dies, Ray restarts the group and the loop
resumes from the last reported checkpoint (``TrainSession.restore``).

Resuming a run is rebuilding the trainer with the same ``(storage, name)`` and its latest checkpoint
(``Trainer.restore`` is deprecated in Ray Train V2).

On a Ray instance whose nodes are all on loopback (the local one ``cluster.connect`` starts) the DDP
workers bind loopback too: Ray's own rendezvous is a torch ``TCPStore`` on worker 0, which listens on
every interface whatever address it is given, and gloo / NCCL pick the host's network interface. So
there the process group meets in a ``FileStore`` (``file://``, every worker is on this machine) and
gloo / NCCL are pointed at the loopback interface. On a real cluster Ray's default stays; the
multi-node user chooses the interface with ``GLOO_SOCKET_IFNAME`` / ``NCCL_SOCKET_IFNAME`` (README).
"""

from __future__ import annotations

import shutil
import sys
import tempfile
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


LOOPBACK_INTERFACE_ENV = ("GLOO_SOCKET_IFNAME", "NCCL_SOCKET_IFNAME")


def loopback_interface() -> str:
    """The loopback interface's name: ``lo0`` on macOS and the BSDs, ``lo`` on Linux."""
    return "lo0" if sys.platform == "darwin" or "bsd" in sys.platform else "lo"


def all_nodes_on_loopback() -> bool:
    """Every live node of the connected Ray instance is this machine's loopback (``cluster.connect``)."""
    import ray

    nodes = [node for node in ray.nodes() if node.get("Alive")]
    return bool(nodes) and all(node["NodeManagerAddress"] == "127.0.0.1" for node in nodes)


def _loopback_torch_config(backend: str) -> Any:
    """A ``TorchConfig`` whose process group meets in a ``FileStore`` with gloo / NCCL on loopback.

    Ray Train offers only ``env://`` / ``tcp://`` rendezvous, both a ``TCPStore`` listening on every
    interface, so the backend's ``on_start`` is Ray's with the rendezvous URL replaced. It leans on
    Ray's private ``_TorchBackend`` / ``_setup_torch_process_group`` (checked on Ray 2.60, the
    version pyproject names); a test asserts that workers listen on loopback only."""
    from ray.train.torch import TorchConfig
    from ray.train.torch import config as ray_torch

    interface = loopback_interface()

    def bind_loopback() -> None:
        import os

        for name in LOOPBACK_INTERFACE_ENV:
            os.environ[name] = interface
        os.environ["MASTER_ADDR"] = "127.0.0.1"

    class LoopbackTorchBackend(ray_torch._TorchBackend):  # type: ignore[misc]
        store_dir: str | None = None

        def on_start(self, worker_group: Any, backend_config: Any) -> None:
            import ray

            worker_group.execute(bind_loopback)
            if not isinstance(worker_group, ray_torch.V1WorkerGroup):  # type: ignore[attr-defined]
                worker_group.execute(ray_torch._set_torch_distributed_env_vars)
            # A fresh store per group start: a restarted group must not meet in a used one.
            self.store_dir = tempfile.mkdtemp(prefix="bgaug-pg-")
            url = f"file://{self.store_dir}/store"
            ray.get(
                [
                    worker_group.execute_single_async(
                        rank,
                        ray_torch._setup_torch_process_group,
                        backend=backend,
                        world_rank=rank,
                        world_size=len(worker_group),
                        init_method=url,
                        timeout_s=backend_config.timeout_s,
                    )
                    for rank in range(len(worker_group))
                ]
            )

        def on_shutdown(self, worker_group: Any, backend_config: Any) -> None:
            super().on_shutdown(worker_group, backend_config)
            if self.store_dir is not None:
                shutil.rmtree(self.store_dir, ignore_errors=True)

    class LoopbackTorchConfig(TorchConfig):  # type: ignore[misc]
        @property
        def backend_cls(self) -> Any:
            return LoopbackTorchBackend

    return LoopbackTorchConfig(backend=backend)


def torch_config(gpus_per_worker: float) -> Any:
    """gloo on CPU, NCCL on GPU; on loopback when the Ray instance is (``_loopback_torch_config``)."""
    from ray.train.torch import TorchConfig

    backend = "nccl" if gpus_per_worker > 0 else "gloo"
    return _loopback_torch_config(backend) if all_nodes_on_loopback() else TorchConfig(backend=backend)


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
    from ray.train.torch import TorchTrainer

    return TorchTrainer(
        loop,
        train_loop_config=loop_config,
        torch_config=torch_config(gpus_per_worker),
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
