"""Connecting to Ray with safe defaults.

Nothing here runs at import. ``connect`` starts a *local* Ray instance bound to loopback (node IP,
every gRPC server and the dashboard on 127.0.0.1) unless the caller names an address (``auto`` or
``HOST:PORT`` of a cluster started with ``ray start``). Ray turns a requested node IP of 127.0.0.1 into
the machine's address and then listens on all interfaces; only its single-machine mode (the one it
uses on macOS and Windows, switched by ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``) keeps everything on
loopback, so that is what a local instance uses. Set the variable to 1 to opt out.

The dashboard stays on because Ray only releases an early-stopped Tune
trial's Train placement group when it runs (ray-project/ray#54305); bound to 127.0.0.1 it is reachable
from this machine only.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

LOOPBACK = "127.0.0.1"
TRIAL_RESOURCE = "bgaug_trial_slot"
"""A custom resource each sweep trial driver holds, so that drivers cannot take every CPU and starve
the Train workers they are waiting for."""


SINGLE_MACHINE_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


def _single_machine_mode(enabled: bool) -> None:
    """Ray reads ``SINGLE_MACHINE_ENV`` when it is first imported; follow it if that happened earlier."""
    from ray._private import ray_constants

    if hasattr(ray_constants, "ENABLE_RAY_CLUSTER"):
        ray_constants.ENABLE_RAY_CLUSTER = not enabled


MAX_RAY_TEMP_DIR = 40
"""Ray keeps AF_UNIX sockets under ``<temp dir>/session_<timestamp>_<pid>/sockets/``; such paths may not
exceed 107 bytes, which a long ``TMPDIR`` (a nox session, a deep CI checkout) breaks."""


def ray_temp_dir() -> str | None:
    """``None`` (Ray's default) when the temp dir is short enough, else a short per-user folder."""
    if len(os.path.join(tempfile.gettempdir(), "ray")) <= MAX_RAY_TEMP_DIR:
        return None
    return f"/tmp/ray-{os.getuid()}"


def connect(
    address: str | None = None,
    *,
    num_cpus: int | None = None,
    num_gpus: int | None = None,
    trial_slots: int | None = None,
    dashboard_host: str = LOOPBACK,
    include_dashboard: bool = True,
) -> dict[str, Any]:
    """Initialise Ray once for this process and return the cluster's resources.

    ``address=None`` starts a local instance on loopback with ``num_cpus`` / ``num_gpus`` (default:
    what the machine has) and ``trial_slots`` units of ``TRIAL_RESOURCE`` (default: the CPU count).
    Any other address joins an existing cluster, whose resources were fixed by ``ray start``.
    """
    if address is None:
        os.environ.setdefault(SINGLE_MACHINE_ENV, "0")
    import ray

    if not ray.is_initialized():
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        if address is None:
            _single_machine_mode(os.environ[SINGLE_MACHINE_ENV] not in ("1", "true", "True"))
            cpus = num_cpus if num_cpus is not None else (os.cpu_count() or 1)
            slots = trial_slots if trial_slots is not None else cpus
            ray.init(
                num_cpus=cpus,
                num_gpus=num_gpus,
                resources={TRIAL_RESOURCE: float(slots)},
                include_dashboard=include_dashboard,
                dashboard_host=dashboard_host,
                log_to_driver=True,
                configure_logging=False,
                _temp_dir=ray_temp_dir(),
            )
        else:
            ray.init(address=address)
    resources: dict[str, Any] = dict(ray.cluster_resources())
    return resources
