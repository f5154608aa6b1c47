"""The pretraining loop of one worker: ssl_methods' ``train`` fed by a distributed sampler.

The same function runs in-process (``--workers 0``), in each Ray Train worker and in a one-process
Ray Tune trial; only the ``Session`` differs. Under Ray every rank keeps its own node-local
``out_dir`` and is a "main process" for ``train`` (each writes its own ``last.pt``), because
``ray.train.report`` is a barrier that every rank must reach from the ``on_checkpoint`` hook; only
rank 0's checkpoint is uploaded.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from bgaug.core.device_loader import DeviceEpochBatches, EncodedImageFolder
from bgaug.core.errors import UsageError
from bgaug.core.interfaces import MaskBank, Preprocess
from bgaug.core.io import load_checkpoint
from bgaug.core.loading import EpochBatches, open_dataset
from bgaug.core.maskbank import open_mask_bank
from bgaug.core.vocabulary import method_traits
from bgaug.launch.config import PretrainConfig
from bgaug.launch.session import Session, TrainSession, TuneSession
from bgaug.ssl_methods.methods.base import Method


def load_size(image_size: int) -> int:
    """The square size images are decoded at before cropping: the 256-for-224 ratio of ImageNet."""
    return round(image_size * 256 / 224)


def uses_device_path(config: PretrainConfig, device: torch.device, masks: MaskBank | None) -> bool:
    """Whether this run decodes and augments on the training device (``PretrainConfig.data_path``)."""
    packed = masks is None or callable(getattr(masks, "mask", None))
    if config.data_path == "device":
        if not packed:
            raise UsageError(
                f"data_path 'device' reads masks from a mask pack; {config.masks} is not one "
                "(python -m bgaug.saliency pack --bank DIR --out PACK)"
            )
        return True
    return config.data_path == "auto" and device.type == "cuda" and packed


def eval_preprocess(image_size: int) -> Preprocess:
    """What evaluation does with this run's backbone: resize to the load size, centre-crop the view size."""
    return Preprocess(resize=load_size(image_size), crop=image_size)


def sync_bn_groups(world_size: int, group_size: int) -> list[list[int]]:
    """Consecutive rank groups for per-group SyncBN (the paper's BYOL synchronised within 8 GPUs)."""
    if world_size % group_size:
        raise UsageError(f"sync_bn_group_size {group_size} does not divide the {world_size} workers")
    return [list(range(start, start + group_size)) for start in range(0, world_size, group_size)]


SYNC_BN_AUTO = {"byol": "group", "swav": "global"}
"""``sync_bn="auto"``: the published setups (BYOL: 8-GPU groups in the paper; SwAV: its code's
global SyncBatchNorm); other methods keep per-worker statistics (MoCo-v2 shuffles instead)."""


def resolve_sync_bn(config: PretrainConfig, world_size: int, on_gpu: bool) -> str:
    """The SyncBatchNorm mode a run uses: ``config.sync_bn``, with ``auto`` resolved (``PretrainConfig``)."""
    if config.sync_bn != "auto":
        return config.sync_bn
    if not on_gpu or world_size == 1:
        return "none"
    mode = SYNC_BN_AUTO.get(config.method, "none")
    if mode == "group" and (
        world_size <= config.sync_bn_group_size or world_size % config.sync_bn_group_size
    ):
        return "global"
    return mode


def convert_sync_bn(
    model: nn.Module, config: PretrainConfig, rank: int, world_size: int, on_gpu: bool
) -> nn.Module:
    """BatchNorm -> SyncBatchNorm over all ranks or over this rank's group (a no-op on one worker)."""
    mode = resolve_sync_bn(config, world_size, on_gpu)
    if mode == "none" or world_size == 1:
        return model
    import torch.distributed as dist

    group = None
    if mode == "group":
        # new_group is collective: every rank creates every group, then keeps its own.
        for ranks in sync_bn_groups(world_size, config.sync_bn_group_size):
            created = dist.new_group(ranks)
            if rank in ranks:
                group = created
    converted: nn.Module = nn.SyncBatchNorm.convert_sync_batchnorm(model, process_group=group)
    return converted


def _buffer_sync(forward: bool) -> dict[str, Any]:
    """DDP's keyword for syncing buffers at each forward: ``forward_sync_buffers`` since torch 2.13
    (``broadcast_buffers`` warns there and will go), ``broadcast_buffers`` before. Buffers are synced
    once at start either way, harmless here: every queue starts empty on every rank."""
    import inspect

    if "forward_sync_buffers" in inspect.signature(nn.parallel.DistributedDataParallel.__init__).parameters:
        return {"forward_sync_buffers": forward}
    return {"broadcast_buffers": forward}


def ddp_wrapper(device: torch.device, world_size: int) -> Any:
    """``TrainHooks.wrap_model``: DDP around the method when there is more than one worker."""
    if world_size == 1:
        return None

    def wrap(method: nn.Module) -> nn.Module:
        ids = [device.index] if device.type == "cuda" and device.index is not None else None
        swav = getattr(method, "name", None) == "swav"
        # SwAV's prototypes get no gradient while frozen (first epoch): DDP must not wait for them.
        # Its queue holds this worker's own embeddings (the Sinkhorn sums span the workers), so DDP
        # must not overwrite it with rank 0's buffers at every forward. MoCo's queue is the same on
        # every worker (it enqueues all workers' keys), so the broadcast is harmless there.
        return nn.parallel.DistributedDataParallel(
            method, device_ids=ids, find_unused_parameters=swav, **_buffer_sync(not swav)
        )

    return wrap


def build_train_config(config: PretrainConfig, steps_per_epoch: int, device: torch.device, main: bool) -> Any:
    """The method's recipe (``config.recipe``; ``ssl_methods.recipes``: optimiser, base LR, schedule,
    warm-up, weight decay) fitted to this run: its epochs, batch, seed and device. A published
    recipe's warm-up and step milestones are epochs of the paper's schedule, so they are scaled to
    this run's length (BYOL's 10 warm-up epochs of 300 become 1 of 30); the CPU recipe's are not.
    ``base_lr`` and ``train_options`` override the recipe.
    """
    from bgaug.ssl_methods.recipes import RECIPES, recipe

    fitted: dict[str, Any] = {}
    if config.recipe == "paper":
        published = RECIPES[config.method]
        scale = config.epochs / published["epochs"]
        if "warmup_epochs" in published:
            fitted["warmup_epochs"] = published["warmup_epochs"] * scale
        if "milestones" in published:
            fitted["milestones"] = tuple(sorted({max(1, round(m * scale)) for m in published["milestones"]}))
    options: dict[str, Any] = {**fitted, **config.train_options}
    if config.base_lr is not None:
        options["base_lr"] = config.base_lr
    options.setdefault("progress_bar", main)
    return recipe(
        config.method,
        config.recipe,
        epochs=config.epochs,
        steps_per_epoch=steps_per_epoch,
        batch_size=config.batch_size,
        seed=config.seed,
        device=str(device),
        **options,
    )


RUN_FIELDS = {
    "epochs": "--epochs",
    "steps_per_epoch": "the data (images / batch)",
    "batch_size": "--batch-size",
    "seed": "--seed",
    "device": "--gpus-per-worker (each worker's own device)",
}
"""TrainConfig fields the run itself sets, which a --train-option may not (the value's source)."""


def check_options(config: PretrainConfig) -> None:
    """Build, without training, everything the option bags configure (method, views, optimiser),
    so a bad value fails here in a second with one line, before Ray starts or any file is written."""
    from bgaug.augment import build_pipeline
    from bgaug.core.config import config_from_dict
    from bgaug.ssl_methods import method_options

    for name, source in RUN_FIELDS.items():
        if name in config.train_options:
            raise UsageError(f"--train-option {name}: set by the run, not an option (use {source})")
    options = config.all_method_options()
    if method_options(config.method).__dataclass_fields__.get("num_classes") is not None:
        options.setdefault("num_classes", 1)  # the labelled data decides it; any positive value checks
    try:
        config_from_dict(method_options(config.method), options)
        build_pipeline(config.method, config.bg_aug, image_size=config.image_size, **config.augment_kwargs())
        build_train_config(config, 1, torch.device("cpu"), main=False)
    except (ValueError, TypeError) as exc:
        raise UsageError(f"bad option for {config.method} / {config.bg_aug}: {exc}") from None


def run_training(
    config: PretrainConfig, session: Session, out_dir: Path, *, resume: bool = False
) -> dict[str, Any]:
    """Train on this worker's shard; report to ``session`` after every checkpoint; return final metrics."""
    from bgaug.core.seeding import seed_everything
    from bgaug.ssl_methods.training import TrainHooks, train

    device = session.device
    if device.type == "cuda":
        torch.cuda.set_device(device)
    seed_everything(config.seed)  # identical initial weights on every rank
    batches, num_classes = _training_batches(config, session, device)
    method = _training_method(config, session, device, num_classes)
    last = out_dir / "checkpoints" / "last.pt"
    # A Ray session fetches the latest reported checkpoint, if there is one; where this attempt
    # started is reported with every epoch so a restart or resume is visible in the results.
    resumed_from = int(load_checkpoint(last).get("global_step", 0)) if session.restore(last) else 0
    train_config = build_train_config(config, batches.steps_per_epoch, device, main=session.rank == 0)
    result = train(
        method,
        batches,
        train_config,
        out_dir,
        hooks=TrainHooks(
            wrap_model=ddp_wrapper(device, session.world_size),
            on_epoch_end=_epoch_reporter(config, session, device, resumed_from),
            on_checkpoint=lambda path, metrics: session.report(dict(metrics), path),
            is_main_process=True,
        ),
        resume=resume,
        preprocess=eval_preprocess(config.image_size),
    )
    return dict(result.final_metrics)


def _training_batches(
    config: PretrainConfig, session: Session, device: torch.device
) -> tuple[Any, int | None]:
    """This worker's ``batches(epoch, start_step)`` (the device data path or loader workers) and the
    class count of labelled data (``None`` for self-supervised methods)."""
    from bgaug.augment import build_pipeline

    labelled = method_traits(config.method).labels
    masks = open_mask_bank(config.data, config.masks)
    on_device = uses_device_path(config, device, masks)
    size = load_size(config.image_size)
    dataset: Any
    if on_device:
        dataset = EncodedImageFolder(
            config.data, masks, labelled=labelled, cpu_decode_share=config.cpu_decode_share
        )
    else:
        dataset = open_dataset(
            config.data, masks, size=size, labelled=labelled, cache=lambda n: config.caches_images(n, size)
        )
    pipeline = build_pipeline(
        config.method, config.bg_aug, image_size=config.image_size, **config.augment_kwargs()
    )
    shard: dict[str, Any] = {
        "batch_size": config.per_worker_batch(session.world_size),
        "rank": session.rank,
        "world_size": session.world_size,
        "seed": config.seed,
        "device": device,
        "loader_workers": config.loader_workers,
    }
    batches = (
        DeviceEpochBatches(dataset, pipeline, load_size=size, decode_on_device=True, **shard)
        if on_device
        else EpochBatches(dataset, pipeline, **shard)
    )
    return batches, len(getattr(dataset, "classes", ())) if labelled else None


def _training_method(
    config: PretrainConfig, session: Session, device: torch.device, num_classes: int | None
) -> Method:
    """The method with the run's options, its BatchNorm synchronised as ``config.sync_bn`` says."""
    from bgaug.ssl_methods import build_method

    method = build_method(
        config.method,
        arch=config.arch,
        small_stem=config.small_stem,
        num_classes=num_classes,
        **config.all_method_options(),
    )
    synced = convert_sync_bn(method, config, session.rank, session.world_size, on_gpu=device.type == "cuda")
    assert isinstance(synced, Method)  # convert_sync_batchnorm returns the module it was given
    return synced


def _epoch_reporter(
    config: PretrainConfig, session: Session, device: torch.device, resumed_from: int
) -> Callable[[int, nn.Module, Mapping[str, float]], dict[str, float]]:
    """``TrainHooks.on_epoch_end``: the epoch, where this attempt started and, on rank 0 every
    ``knn_every`` epochs, the kNN monitor's accuracy."""
    from bgaug.launch.monitor import KnnMonitor

    monitor = KnnMonitor.from_config(config, device) if session.rank == 0 else None

    def on_epoch_end(epoch: int, trained: nn.Module, metrics: Mapping[str, float]) -> dict[str, float]:
        extra = {"epoch": float(epoch + 1), "resumed_from_step": float(resumed_from)}
        if monitor is not None and (epoch + 1) % config.knn_every == 0:
            extra.update(monitor(trained.backbone))  # type: ignore[arg-type]
        return extra

    return on_epoch_end


def train_worker(loop_config: dict[str, Any]) -> None:
    """Ray Train's ``train_loop_per_worker``: the loop on a node-local scratch directory."""
    config = PretrainConfig.from_dict(loop_config["config"])
    session = TrainSession()
    scratch = Path(tempfile.mkdtemp(prefix=f"bgaug-rank{session.rank}-"))
    try:
        run_training(config, session, scratch, resume=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def tune_trial(loop_config: dict[str, Any]) -> None:
    """A one-process Ray Tune trial: the loop with reports going to Tune.

    ``loop_config["in9"]`` (optional, ``{"path": IN9 DIR, "train": DIR, "linear_epochs": N, "mapping": M}``):
    after training, evaluate the backbone on ImageNet-9 with the fast linear probe and report the
    ``IN9_METRICS`` once more with the last epoch's metrics (``bgaug sweep --in9``)."""
    config = PretrainConfig.from_dict(loop_config["config"])
    session = TuneSession()
    scratch = Path(tempfile.mkdtemp(prefix="bgaug-trial-"))
    try:
        final = run_training(config, session, scratch, resume=True)
        in9 = loop_config.get("in9")
        if in9:
            session.report({**final, **in9_metrics(scratch / "backbone.pt", in9, config.seed)}, None)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


IN9_METRICS = ("in9_original", "in9_only_fg", "in9_mixed_same", "in9_mixed_rand", "in9_bg_gap")
"""What ``in9_metrics`` reports: ImageNet-9 top-1 (%) of the four variants the paper's mechanism
reads, and BG-Gap = Mixed-Same - Mixed-Rand (points)."""


def in9_metrics(backbone: Path, in9: Mapping[str, Any], seed: int) -> dict[str, float]:
    """``IN9_METRICS`` of a backbone: fast linear probe on ``in9["train"]``, IN-9 at ``in9["path"]``."""
    from bgaug.evals.inference import EvalOptions
    from bgaug.evals.runner import RunConfig, run

    with tempfile.TemporaryDirectory(prefix="bgaug-in9-") as out:
        results = run(
            RunConfig(
                checkpoint=backbone,
                data_root=None,
                out=Path(out),
                suites=["in9"],
                paths={"in9": Path(in9["path"])},
                train_data=Path(in9["train"]),
                linear_mode="fast",
                linear_epochs=int(in9.get("linear_epochs", 30)),
                in9_mapping=str(in9.get("mapping", "auto")),
                seed=seed,
                options=EvalOptions(
                    device="cpu" if not torch.cuda.is_available() else "cuda", progress=False
                ),
            )
        )
    suite = results.suites["in9"]
    if not suite.ok or suite.bg_gap is None:
        raise RuntimeError(f"ImageNet-9 evaluation did not run: {suite.reason}")
    top1 = suite.variant_top1()
    return {
        "in9_original": top1["original"],
        "in9_only_fg": top1["only_fg"],
        "in9_mixed_same": top1["mixed_same"],
        "in9_mixed_rand": top1["mixed_rand"],
        "in9_bg_gap": suite.bg_gap,
    }
