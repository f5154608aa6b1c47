"""Ray Train / Ray Tune end to end on the synthetic benchmark (one local Ray instance, 2 CPUs)."""

from __future__ import annotations

import ipaddress
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from bgaug.core.backbones import load_backbone
from bgaug.core.io import load_checkpoint
from bgaug.launch.config import PretrainConfig
from bgaug.launch.pretrain import pretrain

from .conftest import tiny_config

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def ray_session() -> Iterator[None]:
    from bgaug.launch.cluster import connect

    # The flaky loop below must travel to the workers by value (this test module is not importable there).
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    connect(num_cpus=2, trial_slots=2)
    yield
    ray.shutdown()


def test_local_instance_stays_on_loopback(ray_session: None) -> None:
    nodes = ray.nodes()
    assert nodes and all(node["NodeManagerAddress"] == "127.0.0.1" for node in nodes)
    assert ray.cluster_resources().get("bgaug_trial_slot") == 2.0


def _listening_addresses() -> list[str]:
    """Local addresses of the TCP sockets this process listens on (Linux /proc)."""
    import os
    import socket

    inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = []
    for table, family in (("/proc/net/tcp", socket.AF_INET), ("/proc/net/tcp6", socket.AF_INET6)):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] != "0A" or fields[9] not in inodes:  # 0A: LISTEN
                continue
            raw = bytes.fromhex(fields[1].split(":")[0])
            # /proc prints each 32-bit word of the address in host (little-endian) order
            packed = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
            found.append(socket.inet_ntop(family, packed))
    return found


def sockets_loop(loop_config: dict[str, Any]) -> None:
    """After the process group is up (and used once), record where this worker listens."""
    import ray.train
    import torch.distributed as dist

    total = torch.ones(1)
    dist.all_reduce(total)
    rank = ray.train.get_context().get_world_rank()
    record = {"world": float(total), "listening": _listening_addresses()}
    (Path(loop_config["marks"]) / f"rank{rank}.json").write_text(json.dumps(record))


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="reads sockets from Linux /proc")
def test_local_train_workers_listen_on_loopback_only(ray_session: None, tmp_path: Path) -> None:
    from bgaug.launch.ray_train import fit_with_ray

    fit_with_ray(sockets_loop, {"marks": str(tmp_path)}, num_workers=2, storage=str(tmp_path), name="s")
    records = [json.loads((tmp_path / f"rank{rank}.json").read_text()) for rank in range(2)]
    assert all(record["world"] == 2.0 for record in records)  # the two workers did meet
    listening = [address for record in records for address in record["listening"]]
    assert listening  # gloo listens on each worker: the probe does see sockets

    def loopback(text: str) -> bool:
        address = ipaddress.ip_address(text)
        mapped = getattr(address, "ipv4_mapped", None)  # ::ffff:127.0.0.1, gloo's dual-stack socket
        return (mapped or address).is_loopback

    assert all(loopback(address) for address in listening), listening


def flaky_loop(loop_config: dict[str, Any]) -> None:
    """The real worker loop; rank 1 raises once, at its second report (epoch 2), by when epoch 1's
    checkpoint is surely in storage (raising right after the first report raced its registration)."""
    import ray.train

    from bgaug.launch import session, worker

    marks = Path(loop_config["marks"])
    rank = ray.train.get_context().get_world_rank()
    attempt = len(list(marks.glob(f"attempt-rank{rank}-*")))
    restored = ray.train.get_checkpoint() is not None
    (marks / f"attempt-rank{rank}-{attempt}-restored{int(restored)}").touch()
    report = session.TrainSession.report

    def report_then_fail(
        self: session.TrainSession, metrics: dict[str, Any], checkpoint: Path | None
    ) -> None:
        if self.rank == 1 and (marks / "reported").exists() and not (marks / "failed").exists():
            (marks / "failed").touch()
            raise RuntimeError("injected worker failure")
        report(self, metrics, checkpoint)
        if self.rank == 1:
            (marks / "reported").touch()

    session.TrainSession.report = report_then_fail  # type: ignore[method-assign]
    worker.train_worker(loop_config)


def _with_marks(marks: Path) -> Any:
    def loop(loop_config: dict[str, Any]) -> None:
        flaky_loop({**loop_config, "marks": str(marks)})

    return loop


@pytest.mark.slow
def test_two_workers_restart_after_a_failure_and_finish(
    ray_session: None, synth_root: Path, tmp_path: Path
) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    config = PretrainConfig.from_dict(tiny_config(synth_root))
    out = tmp_path / "run"
    run = pretrain(config, out, workers=2, max_failures=1, loop=_with_marks(marks))

    assert (marks / "failed").exists()
    attempts = sorted(p.name for p in marks.glob("attempt-rank0-*"))
    assert attempts == ["attempt-rank0-0-restored0", "attempt-rank0-1-restored1"]
    assert run.metrics["epoch"] == 2.0
    assert run.metrics["resumed_from_step"] == 2.0  # the restarted group went on from epoch 1
    assert 0.0 <= run.metrics["knn_top1"] <= 100.0
    state = load_checkpoint(out / "checkpoints" / "last.pt")
    assert state["global_step"] == 2 * 2  # 16 images / batch 8 = 2 steps x 2 epochs
    backbone, meta = load_backbone(out / "backbone.pt")
    assert meta["arch"] == "resnet10"
    assert meta["preprocess"]["crop"] == 32
    assert backbone(torch.rand(1, 3, 32, 32)).shape == (1, 512)
    assert json.loads((out / "run.json").read_text())["checkpoint"]


@pytest.mark.slow
def test_resume_continues_an_interrupted_run(ray_session: None, synth_root: Path, tmp_path: Path) -> None:
    from bgaug.launch.cli import main

    marks = tmp_path / "marks"
    marks.mkdir()
    config = PretrainConfig.from_dict(tiny_config(synth_root))
    out = tmp_path / "run"
    with pytest.raises(RuntimeError, match="training failed"):
        pretrain(config, out, workers=2, max_failures=0, loop=_with_marks(marks))
    assert not (out / "backbone.pt").exists()

    assert main(["pretrain", "--resume", str(out), "--workers", "2", "--json", str(tmp_path / "r.json")]) == 0
    result = json.loads((tmp_path / "r.json").read_text())
    assert result["metrics"]["epoch"] == 2.0
    assert load_checkpoint(out / "checkpoints" / "last.pt")["global_step"] == 4
    assert result["metrics"]["resumed_from_step"] == 2.0  # went on from epoch 1's checkpoint
    load_backbone(out / "backbone.pt")


@pytest.mark.slow
def test_sweep_writes_table_heatmap_and_best_config(
    ray_session: None, synth_root: Path, tmp_path: Path
) -> None:
    from bgaug.launch.config import load_config
    from bgaug.launch.sweep import SweepOptions, sweep

    base = PretrainConfig.from_dict(tiny_config(synth_root))
    grid = {"p_pos": [0.1, 0.3], "p_neg": [0.1, 0.3]}
    out = tmp_path / "sweep"
    rows = sweep(base, grid, out, SweepOptions(scheduler="asha", max_concurrent_trials=2))

    assert len(rows) == 4
    assert {(r["grid"]["p_pos"], r["grid"]["p_neg"]) for r in rows} == {
        (a, b) for a in (0.1, 0.3) for b in (0.1, 0.3)
    }
    assert all(r["status"] == "OK" and r["final"] is not None for r in rows), rows
    csv = (out / "results.csv").read_text().splitlines()
    assert csv[0].startswith("p_pos,p_neg,status") and len(csv) == 5
    assert (out / "heatmap.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    best = PretrainConfig.from_dict(load_config(out / "best_config.json"))
    assert (best.p_pos, best.p_neg) in {(r["grid"]["p_pos"], r["grid"]["p_neg"]) for r in rows}
    assert best.epochs == base.epochs and best.data == base.data
