from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
import torchvision
from torch import nn

from bgaug.core.interfaces import LossOutput, ViewBatch
from bgaug.core.io import load_checkpoint
from bgaug.ssl_methods import METHODS, build_method
from bgaug.ssl_methods.methods.base import Method
from bgaug.ssl_methods.training import TrainConfig, TrainHooks, TrainingDivergedError, train

Provider = Callable[[int, int], Iterator[ViewBatch]]

RECIPES: dict[str, dict[str, Any]] = {
    "moco_v2": {"base_lr": 0.5},  # with a one-batch queue: 4 images make a long queue all false negatives
    "byol": {"base_lr": 2.0, "optimizer": "lars", "weight_decay": 1e-6, "lars_eta": 0.02},
    "swav": {"base_lr": 2.0, "optimizer": "lars", "weight_decay": 1e-6, "lars_eta": 0.02},
    "rotnet": {"base_lr": 0.4},
    "supervised": {"base_lr": 0.4},
    "simclr": {"base_lr": 2.0, "optimizer": "lars", "weight_decay": 1e-6, "lars_eta": 0.02},
}


def _method(name: str, tiny: dict[str, dict[str, Any]], seed: int = 0, **kw: Any) -> Method:
    torch.manual_seed(seed)
    return build_method(name, arch=kw.pop("arch", "resnet10"), num_classes=4, **{**tiny[name], **kw})


def _config(**kw: Any) -> TrainConfig:
    base: dict[str, Any] = {"epochs": 1, "steps_per_epoch": 30, "batch_size": 16, "progress_bar": False}
    return TrainConfig(**{**base, **kw})


@pytest.mark.parametrize("name", METHODS)
def test_thirty_steps_lower_the_loss(
    name: str, tiny_options: dict[str, dict[str, Any]], batches: Callable[..., Provider], tmp_path: Path
) -> None:
    method = _method(name, tiny_options, **({"queue_size": 16} if name == "moco_v2" else {}))
    result = train(method, batches(p_neg=0.2), _config(**RECIPES[name]), tmp_path)
    losses = result.losses
    assert len(losses) == 30 and result.global_step == 30
    first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
    assert last < first, f"{name}: loss went from {first:.3f} to {last:.3f}"


def _read_losses(path: Path) -> dict[int, float]:
    records = [json.loads(line) for line in path.read_text().splitlines()]
    return {r["step"]: r["loss"] for r in records if "event" not in r}


def test_resume_is_exact_on_cpu(
    tiny_options: dict[str, dict[str, Any]], batches: Callable[..., Provider], tmp_path: Path
) -> None:
    config = _config(epochs=2, steps_per_epoch=4, checkpoint_every=3, base_lr=0.5)
    provider = batches(p_neg=0.3)
    full = train(_method("moco_v2", tiny_options), provider, config, tmp_path / "full")

    def crashing(epoch: int, start: int) -> Iterator[ViewBatch]:
        for i, b in enumerate(provider(epoch, start)):
            if epoch == 1 and start + i == 3:  # step 8 of 8: last.pt holds step 6
                raise KeyboardInterrupt
            yield b

    out = tmp_path / "resumed"
    with pytest.raises(KeyboardInterrupt):
        train(_method("moco_v2", tiny_options), crashing, config, out)
    assert load_checkpoint(out / "checkpoints" / "last.pt")["global_step"] == 6
    with pytest.raises(FileExistsError, match="resume=True"):
        train(_method("moco_v2", tiny_options), provider, config, out)
    resumed = train(_method("moco_v2", tiny_options, seed=99), provider, config, out, resume=True)
    assert resumed.losses == full.losses[6:]
    assert _read_losses(out / "metrics.jsonl") == _read_losses(tmp_path / "full" / "metrics.jsonl")
    a = load_checkpoint(tmp_path / "full" / "checkpoints" / "last.pt")["model"]
    b = load_checkpoint(out / "checkpoints" / "last.pt")["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    with pytest.raises(ValueError, match="cannot resume: base_lr"):
        train(
            _method("moco_v2", tiny_options),
            provider,
            _config(**{**config.__dict__, "base_lr": 0.1}),
            out,
            resume=True,
        )


def test_exported_backbone_loads_into_torchvision_strictly(
    tiny_options: dict[str, dict[str, Any]], batches: Callable[..., Provider], tmp_path: Path
) -> None:
    method = _method("supervised", tiny_options, arch="resnet18")
    seen: list[tuple[Path, int]] = []
    hooks = TrainHooks(
        on_epoch_end=lambda epoch, m, metrics: {"monitor": float(epoch)},
        on_checkpoint=lambda path, metrics: seen.append((path, len(metrics))),
    )
    train(method, batches(batch_size=4), _config(steps_per_epoch=1, keep_checkpoints=True), tmp_path, hooks)
    state = torch.load(tmp_path / "backbone.pt", weights_only=True)
    assert state["meta"]["method"] == "supervised" and state["meta"]["epochs"] == 1
    assert state["head"]["weight"].shape == (4, 512)
    net = torchvision.models.resnet18(weights=None)
    net.fc = nn.Identity()
    net.load_state_dict(state["state_dict"], strict=True)
    assert (tmp_path / "checkpoints" / "step_00000001.pt").exists()
    assert seen and seen[0][0].name == "last.pt"
    last = json.loads((tmp_path / "metrics.jsonl").read_text().splitlines()[-1])
    assert last["event"] == "epoch_end" and last["monitor"] == 0.0


def test_nan_loss_stops_and_keeps_last_good_checkpoint(
    tiny_options: dict[str, dict[str, Any]], batches: Callable[..., Provider], tmp_path: Path
) -> None:
    provider = batches()

    def poisoned(epoch: int, start: int) -> Iterator[ViewBatch]:
        for i, b in enumerate(provider(epoch, start)):
            if start + i == 3:
                b = ViewBatch(views=tuple(v * float("nan") for v in b.views), n_global=2)
            yield b

    with pytest.raises(TrainingDivergedError, match=r"loss is nan at epoch 0, step 4.*last good checkpoint"):
        train(
            _method("byol", tiny_options), poisoned, _config(steps_per_epoch=6, checkpoint_every=2), tmp_path
        )
    state = load_checkpoint(tmp_path / "checkpoints" / "last.pt")
    assert state["global_step"] == 2
    assert all(torch.isfinite(t).all() for t in state["model"].values() if t.is_floating_point())
    assert not (tmp_path / "backbone.pt").exists()


class _InfiniteGradient(Method):
    """Finite loss (0), infinite gradient: sqrt at 0."""

    name = "inf_grad"

    def __init__(self) -> None:
        super().__init__(nn.Linear(3, 2), 2, arch="resnet18", small_stem=False)
        self.w = nn.Parameter(torch.ones(2))

    def loss(self, batch: ViewBatch) -> LossOutput:
        return LossOutput(torch.sqrt(self.w - self.w.detach()).sum())


def test_infinite_gradient_stops_before_the_update(batches: Callable[..., Provider], tmp_path: Path) -> None:
    method = _InfiniteGradient()
    with pytest.raises(TrainingDivergedError, match="non-finite gradient at epoch 0, step 1"):
        train(method, batches(batch_size=2), _config(steps_per_epoch=2), tmp_path)
    assert torch.equal(method.w.detach(), torch.ones(2))


def test_short_provider_and_bad_config(tiny_options: dict[str, dict[str, Any]], tmp_path: Path) -> None:
    def empty(epoch: int, start: int) -> list[ViewBatch]:
        return []

    with pytest.raises(ValueError, match="yielded 0 batches"):
        train(_method("rotnet", tiny_options), empty, _config(), tmp_path)
    with pytest.raises(ValueError, match="optimizer"):
        TrainConfig(optimizer="adam")
    with pytest.raises(ValueError, match="warmup_epochs"):
        TrainConfig(epochs=2, warmup_epochs=5)
    with pytest.raises(ValueError, match="milestones"):
        TrainConfig(milestones=(60, 30))
    assert TrainConfig(base_lr=0.1, batch_size=512).peak_lr == pytest.approx(0.2)


def test_bf16_autocast_and_channels_last_on_cpu(
    tiny_options: dict[str, dict[str, Any]], batches: Callable[..., Provider], tmp_path: Path
) -> None:
    # Small stem: with the ImageNet stem 16 px inputs reach 1x1 maps, where bf16 batch norm over 8
    # values gave non-finite gradients (caught by the loop's check).
    method = _method("swav", tiny_options, small_stem=True)
    config = _config(steps_per_epoch=2, amp=True, channels_last=True, optimizer="lars")
    result = train(method, batches(batch_size=8, n_local=2), config, tmp_path)
    assert result.global_step == 2 and all(torch.isfinite(torch.tensor(result.losses)))
    assert method.backbone.conv1.weight.is_contiguous(memory_format=torch.channels_last)
    with pytest.raises(ValueError, match="float16"):
        train(
            _method("byol", tiny_options), batches(), _config(amp=True, amp_dtype="float16"), tmp_path / "x"
        )


def test_byol_predictor_trains_at_its_lr_scale(
    tiny_options: dict[str, dict[str, Any]], batches: Callable[..., Provider], tmp_path: Path
) -> None:
    # Adam's first step moves every weight by about the learning rate (m / sqrt(v) = sign(g)), so the
    # predictor's weights move predictor_lr_scale times as far as the projector's.
    moved = {}
    for scale in (1.0, 10.0):
        method = _method("byol", tiny_options, predictor_lr_scale=scale)
        before = {n: p.detach().clone() for n, p in method.named_parameters() if p.requires_grad}
        config = _config(
            steps_per_epoch=1, optimizer="adamw", base_lr=2e-3, weight_decay=0.0, schedule="constant"
        )
        train(method, batches(), config, tmp_path / str(scale))
        after = {n: p.detach() for n, p in method.named_parameters()}
        moved[scale] = {
            part: max(float((after[n] - before[n]).abs().max()) for n in before if n.startswith(part))
            for part in ("projector.", "predictor.")
        }
    lr = 2e-3 * 16 / 256
    for scale, parts in moved.items():
        assert parts["projector."] == pytest.approx(lr, rel=0.05)
        assert parts["predictor."] == pytest.approx(lr * scale, rel=0.05)
