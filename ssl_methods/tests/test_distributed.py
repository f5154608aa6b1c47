"""Methods across two DDP workers (gloo on CPU): MoCo's shuffled BatchNorm gives each worker its own
keys back and its queue is fed with every worker's keys; SwAV's Sinkhorn-Knopp and SimCLR's NT-Xent
over the workers' rows give what one process holding all the rows gets."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from bgaug.core.interfaces import ViewBatch
from bgaug.ssl_methods.distributed import encode_keys, gather_rows, gather_with_grad, world
from bgaug.ssl_methods.losses import nt_xent, sinkhorn
from bgaug.ssl_methods.registry import build_method

WORKERS = 2
ROWS = 4


def _inputs(rank: int) -> torch.Tensor:
    return torch.rand(ROWS, 3, 8, 8, generator=torch.Generator().manual_seed(100 + rank))


def _encoder() -> nn.Module:
    torch.manual_seed(0)  # the same weights on every worker
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.AdaptiveAvgPool2d(1), nn.Flatten())


def _check_encode_keys(rank: int) -> None:
    x = _inputs(rank)
    extra = torch.rand(rank + 1, 3, 8, 8)  # a different number of matched negatives per worker
    everyone = gather_rows(x)
    assert torch.equal(everyone, torch.cat([_inputs(r) for r in range(WORKERS)]))

    encoder = _encoder().eval()  # running statistics: each row's output depends on that row alone
    keys, extra_keys = encode_keys(encoder, x, extra)
    torch.testing.assert_close(keys, encoder(x))  # the shuffle was undone row for row
    torch.testing.assert_close(extra_keys, encoder(extra))

    encoder.train()  # batch statistics: the rows now saw other workers' rows
    keys, extra_keys = encode_keys(encoder, x, extra)
    assert keys.shape == (ROWS, 4) and extra_keys.shape == (rank + 1, 4)
    shuffled = [encode_keys(encoder, x, extra)[0] for _ in range(3)]
    local = encode_keys(encoder, x, extra, shuffle=False)[0]
    torch.testing.assert_close(local, encoder(torch.cat([x, extra]))[:ROWS])
    assert any(not torch.allclose(s, local) for s in shuffled)


def _check_moco_queue(rank: int) -> None:
    torch.manual_seed(0)
    moco = build_method(
        "moco_v2", arch="resnet10_w16", small_stem=True, hidden_dim=16, out_dim=8, queue_size=32
    )
    x = _inputs(rank)
    batch = ViewBatch(
        views=(x, x.flip(-1)), matched_negatives=torch.rand(1, 3, 8, 8), matched_rows=torch.tensor([rank])
    )
    moco.train()
    moco.loss(batch)
    queue = moco.queue.get_buffer("features")
    assert int(moco.queue.get_buffer("pointer")) == WORKERS * ROWS
    same = gather_rows(queue.unsqueeze(0))
    assert torch.equal(same[0], same[1])  # every worker holds the same queue


def _scores() -> torch.Tensor:
    return torch.randn(WORKERS * ROWS, 6, generator=torch.Generator().manual_seed(7))


def _check_sinkhorn(rank: int, results: str) -> None:
    rows = _scores()[rank * ROWS : (rank + 1) * ROWS]
    codes = gather_rows(sinkhorn(rows, epsilon=0.5, iterations=5))
    if rank == 0:
        torch.save(codes, Path(results, "codes.pt"))


def _views() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(11)
    z1, z2 = (F.normalize(torch.randn(WORKERS * ROWS, 5, generator=g), dim=1) for _ in range(2))
    return z1, z2


def _check_nt_xent(rank: int, results: str) -> None:
    z1_all, z2_all = _views()
    rows = slice(rank * ROWS, (rank + 1) * ROWS)
    z1, z2 = z1_all[rows].clone().requires_grad_(), z2_all[rows].clone().requires_grad_()
    loss = nt_xent(
        z1, z2, None, 0.5, all_z1=gather_with_grad(z1), all_z2=gather_with_grad(z2), offset=rank * ROWS
    )
    (loss / WORKERS).backward()  # DDP averages the workers' gradients
    assert z1.grad is not None and z2.grad is not None
    grads = gather_rows(torch.cat([z1.grad, z2.grad], dim=1))
    losses = gather_rows(loss.detach().view(1))
    if rank == 0:
        torch.save({"loss": losses.mean(), "grads": grads}, Path(results, "nt_xent.pt"))


def _worker(rank: int, init_file: str, results: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=WORKERS)
    assert world() == (rank, WORKERS)
    _check_encode_keys(rank)
    _check_moco_queue(rank)
    _check_sinkhorn(rank, results)
    _check_nt_xent(rank, results)
    Path(results, f"ok-{rank}").touch()
    dist.barrier()  # both workers are done with the group


@pytest.mark.slow
def test_shuffled_bn_and_gathered_queue_across_two_workers(tmp_path: Path) -> None:
    # Each worker runs this file as a script: under pytest's importlib mode the test module has no
    # importable name, so multiprocessing could not unpickle a worker function from it.
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    args = [str(tmp_path / "init"), str(tmp_path)]
    logs = [tmp_path / f"worker-{rank}.log" for rank in range(WORKERS)]
    workers = []
    for rank, log in enumerate(logs):
        with log.open("w") as stderr:  # files, not pipes: a full pipe could stall a collective
            workers.append(
                subprocess.Popen([sys.executable, __file__, str(rank), *args], env=env, stderr=stderr)
            )
    codes = [w.wait(timeout=300) for w in workers]
    assert codes == [0] * WORKERS, "\n".join(log.read_text() for log in logs)
    assert sorted(p.name for p in tmp_path.glob("ok-*")) == ["ok-0", "ok-1"]
    codes = torch.load(tmp_path / "codes.pt", weights_only=True)
    torch.testing.assert_close(codes, sinkhorn(_scores(), epsilon=0.5, iterations=5))
    # SimCLR over two workers: the loss and gradients of one process holding the whole batch
    z1, z2 = (z.clone().requires_grad_() for z in _views())
    whole = nt_xent(z1, z2, None, 0.5)
    whole.backward()
    assert z1.grad is not None and z2.grad is not None
    split = torch.load(tmp_path / "nt_xent.pt", weights_only=True)
    torch.testing.assert_close(split["loss"], whole.detach())
    torch.testing.assert_close(split["grads"], torch.cat([z1.grad, z2.grad], dim=1))
    # and not what each worker would get from its own rows alone
    assert not torch.allclose(codes[:ROWS], sinkhorn(_scores()[:ROWS], epsilon=0.5, iterations=5))


def test_one_worker_is_a_plain_forward() -> None:
    assert world() == (0, 1)
    encoder = _encoder().train()
    x, extra = _inputs(0), torch.rand(2, 3, 8, 8)
    keys, extra_keys = encode_keys(encoder, x, extra)
    torch.testing.assert_close(torch.cat([keys, extra_keys]), encoder(torch.cat([x, extra])))
    assert gather_rows(x) is x


if __name__ == "__main__":
    _worker(int(sys.argv[1]), sys.argv[2], sys.argv[3])
    # Leave without tearing the gloo group down: its threads' teardown at interpreter exit aborted
    # a worker about once in 20 runs ("terminate called without an active exception") after every
    # check had passed. A failed check raises above and exits non-zero.
    sys.stderr.flush()
    os._exit(0)
