"""The single-process, device-agnostic training loop.

``train(method, batches, config, out_dir)`` runs ``config.epochs x config.steps_per_epoch`` optimiser
steps. ``batches(epoch, start_step)`` returns the epoch's ``ViewBatch``es from batch ``start_step``
on; a provider that draws its augmentations from ``torch_generator(seed, "aug", epoch, step)`` makes
a resumed run see exactly the batches it would have seen.

Files under ``out_dir``::

    checkpoints/last.pt            latest good state (atomic; torch.load(..., weights_only=True))
    checkpoints/step_00000100.pt   step-numbered copies when keep_checkpoints is set
    metrics.jsonl                  one JSON object per logged step and per epoch end
    backbone.pt                    the trained backbone (core.backbones.save_backbone format)

A non-finite loss or gradient stops training with ``TrainingDivergedError`` before the optimiser
touches the weights, so ``last.pt`` always holds the last good state.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from bgaug.core.backbones import save_backbone
from bgaug.core.config import check_choice, check_positive, config_from_dict, config_to_dict
from bgaug.core.errors import UsageError
from bgaug.core.interfaces import Preprocess, TrainProgress, ViewBatch
from bgaug.core.io import atomic_write_text, load_checkpoint, save_checkpoint
from bgaug.core.preflight import check_device
from bgaug.core.seeding import spawn_seed
from bgaug.ssl_methods.methods.base import Method
from bgaug.ssl_methods.optim import OPTIMIZERS, SCHEDULES, build_optimizer, learning_rate

CHECKPOINT_FORMAT = "bgaug-ssl-train/1"
BatchProvider = Callable[[int, int], Iterable[ViewBatch]]

# Fields that may change between a run and its resumption; every other field must match.
RESUMABLE_CHANGES = frozenset(
    {"device", "checkpoint_every", "keep_checkpoints", "log_every", "progress_bar", "tensorboard", "compile"}
)


class TrainingDivergedError(RuntimeError):
    """The loss or a gradient became NaN or infinite; the last good checkpoint is kept."""


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation and bookkeeping settings (paper recipes: ``bgaug.ssl_methods.recipes``).

    The peak learning rate is ``base_lr * batch_size / 256`` (linear scaling rule). ``batch_size``
    is the global batch the provider yields (all workers together under DDP).
    """

    epochs: int = 200
    steps_per_epoch: int = 1
    batch_size: int = 256
    base_lr: float = 0.03
    optimizer: str = "sgd"
    """``sgd``, ``lars`` or ``adamw`` (``momentum`` and ``lars_eta`` apply to the first two)."""
    weight_decay: float = 1e-4
    momentum: float = 0.9
    lars_eta: float = 0.001
    exclude_bias_and_norm: bool = True
    """No weight decay (and no LARS adaptation) for biases and normalisation weights."""
    warmup_epochs: float = 0.0
    schedule: str = "cosine"
    milestones: tuple[int, ...] = (30, 60, 80)
    """Epochs at which the step schedule multiplies the rate by ``lr_decay``."""
    lr_decay: float = 0.1
    final_lr_fraction: float = 0.0
    amp: bool = False
    amp_dtype: str = "bfloat16"
    """``bfloat16`` (any device) or ``float16`` (CUDA, with a gradient scaler)."""
    channels_last: bool = False
    compile: bool = False
    checkpoint_every: int = 0
    """Write ``last.pt`` every this many steps (0: at each epoch end only; always at the end)."""
    keep_checkpoints: bool = False
    log_every: int = 1
    seed: int = 0
    device: str = "cpu"
    """``cpu``, ``cuda``, ``cuda:1``, ``mps`` or ``auto`` (CUDA when available)."""
    progress_bar: bool = True
    tensorboard: bool = False

    def __post_init__(self) -> None:
        for name in ("epochs", "steps_per_epoch", "batch_size", "log_every"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise UsageError(f"{name} must be an integer, got {value!r}")
            check_positive(name, value)
        check_positive("base_lr", self.base_lr)
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        check_positive("weight_decay", self.weight_decay, allow_zero=True)
        check_positive("momentum", self.momentum, allow_zero=True)
        check_positive("lars_eta", self.lars_eta)
        check_positive("warmup_epochs", self.warmup_epochs, allow_zero=True)
        if self.warmup_epochs > self.epochs:
            raise UsageError(f"warmup_epochs ({self.warmup_epochs}) exceeds epochs ({self.epochs})")
        check_choice("schedule", self.schedule, SCHEDULES)
        if any(m <= 0 for m in self.milestones) or list(self.milestones) != sorted(self.milestones):
            raise UsageError(f"milestones must be increasing positive epochs, got {self.milestones!r}")
        check_positive("lr_decay", self.lr_decay)
        check_positive("final_lr_fraction", self.final_lr_fraction, allow_zero=True)
        check_choice("amp_dtype", self.amp_dtype, ("bfloat16", "float16"))
        check_positive("checkpoint_every", self.checkpoint_every, allow_zero=True)
        check_positive("seed", self.seed, allow_zero=True)
        if self.device != "auto":
            try:
                torch.device(self.device)
            except RuntimeError:
                raise UsageError(f"device must be cpu, cuda[:N], mps or auto, got {self.device!r}") from None

    @property
    def peak_lr(self) -> float:
        return self.base_lr * self.batch_size / 256

    @property
    def total_steps(self) -> int:
        return self.epochs * self.steps_per_epoch

    def lr_at(self, step: int) -> float:
        return learning_rate(
            step,
            peak_lr=self.peak_lr,
            steps_per_epoch=self.steps_per_epoch,
            epochs=self.epochs,
            warmup_epochs=self.warmup_epochs,
            schedule=self.schedule,
            milestones=self.milestones,
            decay=self.lr_decay,
            final_fraction=self.final_lr_fraction,
        )


@dataclass
class TrainHooks:
    """Optional callbacks for a distributed or monitored run (all default to doing nothing).

    ``wrap_model(method)`` returns the module that runs the forward pass (e.g. DDP around it);
    ``on_epoch_end(epoch, method, metrics)`` returns extra metrics to log (e.g. a kNN monitor);
    ``on_checkpoint(path, metrics)`` runs after each atomic checkpoint write; only the process with
    ``is_main_process`` writes files and shows a progress bar.
    """

    wrap_model: Callable[[nn.Module], nn.Module] | None = None
    on_epoch_end: Callable[[int, Method, Mapping[str, float]], Mapping[str, float] | None] | None = None
    on_checkpoint: Callable[[Path, Mapping[str, float]], None] | None = None
    is_main_process: bool = True


@dataclass
class TrainResult:
    global_step: int
    losses: list[float] = field(default_factory=list)
    """Loss of every step this call ran (not those before a resume)."""
    final_metrics: dict[str, float] = field(default_factory=dict)
    checkpoint: Path | None = None
    backbone: Path | None = None
    metrics_path: Path | None = None


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    check_device(name)  # one line, not CUDA's traceback, when the machine lacks it
    return torch.device(name)


def _rng_state(device: torch.device) -> dict[str, Tensor]:
    state = {"torch": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _set_rng_state(state: Mapping[str, Tensor], device: torch.device) -> None:
    torch.set_rng_state(state["torch"].cpu())
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"].cpu(), device)


def _all_finite(tensors: list[Tensor]) -> bool:
    if not tensors:
        return True
    norms = torch._foreach_norm(tensors)
    return bool(torch.isfinite(torch.stack([n.float() for n in norms])).all())


def _check_resumable(saved: Mapping[str, Any], config: TrainConfig) -> None:
    current = config_to_dict(config)
    for f in fields(TrainConfig):
        if f.name in RESUMABLE_CHANGES:
            continue
        before, now = saved.get(f.name), current[f.name]
        if isinstance(before, list | tuple):
            before, now = list(before), list(now)
        if before != now:
            raise UsageError(f"cannot resume: {f.name} was {before!r} in the checkpoint, now {now!r}")


def _trim_metrics(path: Path, last_step: int) -> None:
    """Drop records logged after the checkpoint we resume from (they will be logged again)."""
    if not path.exists():
        return
    kept = []
    for line in path.read_text(encoding="utf-8").splitlines():
        with contextlib.suppress(json.JSONDecodeError):
            if int(json.loads(line).get("step", 0)) <= last_step:
                kept.append(line)
    atomic_write_text(path, "".join(line + "\n" for line in kept))


class _MetricsLog:
    """Append-only JSONL (flushed per record) plus an optional TensorBoard writer."""

    def __init__(self, path: Path, enabled: bool, tensorboard: bool):
        self.path = path
        self.enabled = enabled
        self.writer: Any = None
        if enabled and tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                raise UsageError("tensorboard=True but the tensorboard package is not installed") from None
            self.writer = SummaryWriter(str(path.parent / "tensorboard"))

    def write(self, record: Mapping[str, Any]) -> None:
        if not self.enabled:
            return
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record, sort_keys=True) + "\n")
        if self.writer is not None:
            step = int(record["step"])
            for key, value in record.items():
                if key not in ("step", "epoch") and isinstance(value, int | float):
                    self.writer.add_scalar(key, value, step)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def _progress(total: int, initial: int, enabled: bool) -> Any:
    from tqdm.auto import tqdm

    return tqdm(
        total=total, initial=initial, disable=not enabled, desc="train", unit="step", dynamic_ncols=True
    )


def train(
    method: Method,
    batches: BatchProvider,
    config: TrainConfig,
    out_dir: str | os.PathLike[str],
    hooks: TrainHooks | None = None,
    resume: bool = False,
    preprocess: Preprocess | None = None,
) -> TrainResult:
    """Train ``method`` (see the module docstring); returns what ran and where the files are.

    ``preprocess`` is recorded in the exported ``backbone.pt`` (how evaluation should resize and crop
    images for this backbone; default 256 / 224, ImageNet's).

    ``resume=True`` continues from ``out_dir/checkpoints/last.pt`` when it exists (and starts fresh
    otherwise); ``resume=False`` refuses to overwrite an existing run.
    """
    trainer = _Trainer(method, config, Path(out_dir), hooks or TrainHooks())
    trainer.start(resume)
    trainer.run(batches)
    return trainer.finish(preprocess)


class _Trainer:
    """One training run's state and its steps: build, start or resume, loop, checkpoint, finish."""

    def __init__(self, method: Method, config: TrainConfig, out: Path, hooks: TrainHooks) -> None:
        self.method, self.config, self.out, self.hooks = method, config, out, hooks
        self.main = hooks.is_main_process
        self.ckpt_dir = out / "checkpoints"
        self.last_path = self.ckpt_dir / "last.pt"
        self.metrics_path = out / "metrics.jsonl"
        self.device = resolve_device(config.device)
        if config.amp and config.amp_dtype == "float16" and self.device.type != "cuda":
            raise UsageError("amp_dtype='float16' needs a CUDA device; use bfloat16")
        method.to(self.device)
        if config.channels_last:
            method.to(memory_format=torch.channels_last)  # type: ignore[call-arg]
        self.optimizer = build_optimizer(
            method,
            config.optimizer,
            lr=config.peak_lr,
            momentum=config.momentum,
            weight_decay=config.weight_decay,
            exclude_bias_and_norm=config.exclude_bias_and_norm,
            lars_eta=config.lars_eta,
            lr_scales=method.lr_scales(),
        )
        self.use_scaler = config.amp and config.amp_dtype == "float16"
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.use_scaler)
        self.autocast_dtype = torch.bfloat16 if config.amp_dtype == "bfloat16" else torch.float16
        self.global_step = 0
        self.epoch_loss = [0.0, 0.0]  # running (sum, count) of this epoch's losses, for exact resume
        self.params = [p for p in method.parameters() if p.requires_grad]
        self.result = TrainResult(global_step=0, metrics_path=self.metrics_path if self.main else None)

    # -- start ------------------------------------------------------------------------------------
    def start(self, resume: bool) -> None:
        """Resume from ``last.pt`` (``resume`` and it exists) or start fresh; refuse to overwrite a run."""
        if self.last_path.exists() and not resume:
            raise FileExistsError(
                f"{self.last_path} exists: pass resume=True to continue, or use another out_dir"
            )
        if resume and self.last_path.exists():
            self._resume()
        else:
            self._start_fresh()
        self.result.global_step = self.global_step
        model: nn.Module = self.hooks.wrap_model(self.method) if self.hooks.wrap_model else self.method
        self.forward: Callable[[ViewBatch], Any] = torch.compile(model) if self.config.compile else model
        self.method.train()
        self.log = _MetricsLog(self.metrics_path, self.main, self.config.tensorboard)

    def _resume(self) -> None:
        state = load_checkpoint(self.last_path, map_location=str(self.device))
        if state.get("format") != CHECKPOINT_FORMAT:
            raise UsageError(f"{self.last_path}: not a bgaug training checkpoint")
        if state.get("method") != self.method.name:
            raise UsageError(
                f"cannot resume: checkpoint trained {state.get('method')!r}, not {self.method.name!r}"
            )
        _check_resumable(state["config"], self.config)
        self.method.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.use_scaler and "scaler" in state:
            self.scaler.load_state_dict(state["scaler"])
        _set_rng_state(state["rng"], self.device)
        self.global_step = int(state["global_step"])
        self.epoch_loss = [float(v) for v in state["epoch_loss"].tolist()]
        if self.main:
            _trim_metrics(self.metrics_path, self.global_step)

    def _start_fresh(self) -> None:
        torch.manual_seed(spawn_seed(self.config.seed, "train"))
        if self.device.type == "cuda":
            torch.cuda.manual_seed(spawn_seed(self.config.seed, "train", "cuda"))
        if self.main:
            self.out.mkdir(parents=True, exist_ok=True)
            if self.metrics_path.exists():
                self.metrics_path.unlink()

    # -- loop -------------------------------------------------------------------------------------
    def run(self, batches: BatchProvider) -> None:
        config = self.config
        bar = _progress(config.total_steps, self.global_step, self.main and config.progress_bar)
        try:
            while self.global_step < config.total_steps:
                epoch, start = divmod(self.global_step, config.steps_per_epoch)
                ran = start
                for batch in _take(batches(epoch, start), config.steps_per_epoch - start):
                    ran += 1
                    self._step(batch, epoch, end_of_epoch=ran == config.steps_per_epoch, bar=bar)
                if ran < config.steps_per_epoch:
                    raise ValueError(
                        f"batches({epoch}, {start}) yielded {ran - start} batches; "
                        f"steps_per_epoch={config.steps_per_epoch} needs {config.steps_per_epoch - start}"
                    )
                self._end_epoch(epoch)
        finally:
            bar.close()
            self.log.close()

    def _step(self, batch: ViewBatch, epoch: int, *, end_of_epoch: bool, bar: Any) -> None:
        """One optimiser step on ``batch``: forward, finiteness checks, backward, update, log."""
        config = self.config
        lr = config.lr_at(self.global_step)
        for group in self.optimizer.param_groups:
            group["lr"] = lr * group.get("lr_scale", 1.0)  # absent in checkpoints from before lr scales
        batch = batch.to(self.device, non_blocking=True, channels_last=config.channels_last)
        with torch.autocast(self.device.type, dtype=self.autocast_dtype, enabled=config.amp):
            output = self.forward(batch)
        loss = output.loss
        loss_value = float(loss.detach())
        where = f"epoch {epoch}, step {self.global_step + 1}"
        if not math.isfinite(loss_value):
            raise TrainingDivergedError(
                f"loss is {loss_value} at {where}; stopped, last good checkpoint kept: {self.last_path}"
            )
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.unscale_(self.optimizer)
        grads = [p.grad for p in self.params if p.grad is not None]
        if not self.use_scaler and not _all_finite(grads):
            raise TrainingDivergedError(
                f"non-finite gradient at {where}; stopped, last good checkpoint kept: {self.last_path}"
            )
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.global_step += 1
        self.method.on_step_end(TrainProgress(self.global_step, config.total_steps, epoch, config.epochs))
        self.epoch_loss = [self.epoch_loss[0] + loss_value, self.epoch_loss[1] + 1]
        self.result.losses.append(loss_value)
        bar.update(1)
        bar.set_postfix(loss=f"{loss_value:.4f}", lr=f"{lr:.3g}")
        step_metrics = {"loss": loss_value, **{k: float(v) for k, v in output.metrics.items()}}
        if self.global_step % config.log_every == 0:
            self.log.write({"epoch": epoch, "step": self.global_step, "lr": lr, **step_metrics})
        if config.checkpoint_every and self.global_step % config.checkpoint_every == 0 and not end_of_epoch:
            self._write_checkpoint(step_metrics)

    def _end_epoch(self, epoch: int) -> None:
        summary: dict[str, float] = {}
        if self.epoch_loss[1]:
            summary["epoch_loss"] = self.epoch_loss[0] / self.epoch_loss[1]
        self.epoch_loss = [0.0, 0.0]
        if self.hooks.on_epoch_end:
            extra = self.hooks.on_epoch_end(epoch, self.method, summary)
            summary.update({k: float(v) for k, v in (extra or {}).items()})
            self.method.train()
        self.log.write({"epoch": epoch, "step": self.global_step, "event": "epoch_end", **summary})
        self.result.final_metrics = summary
        self._write_checkpoint(summary)

    # -- files ------------------------------------------------------------------------------------
    def _write_checkpoint(self, metrics: Mapping[str, float]) -> None:
        if not self.main:
            return
        if not _all_finite([p.detach() for p in self.method.parameters()]):
            raise TrainingDivergedError(
                f"weights became non-finite by step {self.global_step}; "
                f"kept the last good checkpoint {self.last_path}"
            )
        state = {
            "format": CHECKPOINT_FORMAT,
            "method": self.method.name,
            "arch": self.method.arch,
            "small_stem": self.method.small_stem,
            "global_step": self.global_step,
            "model": self.method.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "rng": _rng_state(self.device),
            "epoch_loss": torch.tensor(self.epoch_loss, dtype=torch.float64),
            "config": config_to_dict(self.config),
        }
        if self.use_scaler:
            state["scaler"] = self.scaler.state_dict()
        save_checkpoint(state, self.last_path)
        if self.config.keep_checkpoints:
            save_checkpoint(state, self.ckpt_dir / f"step_{self.global_step:08d}.pt")
        self.result.checkpoint = self.last_path
        if self.hooks.on_checkpoint:
            self.hooks.on_checkpoint(self.last_path, metrics)

    def finish(self, preprocess: Preprocess | None) -> TrainResult:
        """Export ``backbone.pt`` (main process) and return the result."""
        result = self.result
        result.global_step = self.global_step
        if self.main:
            result.backbone = self.out / "backbone.pt"
            save_backbone(
                result.backbone,
                self.method.backbone,
                arch=self.method.arch,
                small_stem=self.method.small_stem,
                head=self.method.export_head,
                preprocess=preprocess,
                meta={
                    "method": self.method.name,
                    "epochs": self.config.epochs,
                    "config": config_to_dict(self.config),
                },
            )
            if result.checkpoint is None and self.last_path.exists():
                result.checkpoint = self.last_path
        return result


def _take(items: Iterable[ViewBatch], n: int) -> Iterator[ViewBatch]:
    if n <= 0:
        return
    for i, item in enumerate(items):
        yield item
        if i + 1 >= n:
            return


def load_train_config(data: Mapping[str, Any]) -> TrainConfig:
    """A ``TrainConfig`` from a JSON mapping (unknown keys refused)."""
    return config_from_dict(TrainConfig, data)
