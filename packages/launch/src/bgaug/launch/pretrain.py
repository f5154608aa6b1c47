"""``bgaug pretrain``: self-supervised pretraining with background augmentations, on Ray Train.

Writes under ``--out``::

    config.json            the run's PretrainConfig (``--config`` accepts it; ``--resume`` reads it)
    run.json               where Ray keeps the run (storage, name), workers, final metrics (RunRecord)
    checkpoints/last.pt    the final training checkpoint (ssl_methods format)
    backbone.pt            the trained backbone (core ``bgaug-backbone/1`` format)
    ray/<name>/...         Ray's checkpoints, unless ``--storage`` names shared storage (NFS, s3://)

``--workers 0`` runs the loop in this process without Ray (``metrics.jsonl`` is then written here).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bgaug.core.backbones import ARCHS
from bgaug.core.errors import UsageError
from bgaug.core.io import atomic_write_json
from bgaug.core.preflight import check_device, check_json_out
from bgaug.core.vocabulary import BG_AUGS, METHOD_NAMES
from bgaug.launch.config import (
    RECIPE_DEFAULTS,
    PretrainConfig,
    check_resumable,
    config_field_names,
    load_config,
    save_config,
)
from bgaug.launch.run_record import RunRecord
from bgaug.ssl_methods.recipes import TRAIN_RECIPES

RUN_FILE = "run.json"
CONFIG_FILE = "config.json"

OPTION_BAGS = ("method_options", "augment_options", "train_options")
"""PretrainConfig fields set by repeatable ``--<name>-option KEY=JSON`` flags."""
_CONFIG_FLAGS = tuple(name for name in config_field_names() if name not in OPTION_BAGS)
"""Every other PretrainConfig field has a flag of its own, dest == field name (a test checks the
parser against the dataclass, so a new field without a flag fails)."""


def add_config_arguments(parser: argparse.ArgumentParser, *, required: bool = True) -> None:
    """The PretrainConfig flags (shared by ``pretrain`` and ``sweep``). Unset flags stay ``None``."""
    parser.add_argument("--config", metavar="FILE.json", help="start from a config file (as sweep writes)")
    parser.add_argument("--method", choices=METHOD_NAMES, help="SSL method")
    parser.add_argument("--bg-aug", dest="bg_aug", choices=BG_AUGS, help="background augmentation")
    parser.add_argument("--data", metavar="ROOT", help="training images (a folder tree)")
    parser.add_argument("--masks", metavar="BANK", help="a saliency mask bank or a ground-truth mask folder")
    parser.add_argument("--epochs", type=int, help="epochs (default 200)")
    parser.add_argument("--batch-size", type=int, help="GLOBAL batch, split over the workers (default 256)")
    parser.add_argument("--arch", help=f"{' | '.join(ARCHS)} (default resnet50)")
    parser.add_argument("--small-stem", action="store_const", const=True, help="3x3 stem for small images")
    parser.add_argument("--image-size", type=int, help="crop size of the global views (default 224)")
    parser.add_argument("--base-lr", type=float, help="learning rate at batch 256 (scaled by batch/256)")
    parser.add_argument(
        "--recipe",
        choices=TRAIN_RECIPES,
        help="optimisation and method settings: paper (published, default) or cpu (Adam and settings "
        "that form features in minutes on a CPU; unless given, also --arch cnn5_w16 --image-size 24 "
        "--batch-size 128 --epochs 100); augmentations and their probabilities are the paper's in both",
    )
    parser.add_argument("--p-pos", type=float, help="probability of a background swap in each global view")
    parser.add_argument("--p-neg", type=float, help="BG_Swaps: probability of a background-matched negative")
    parser.add_argument("--seed", type=int, help="root seed (default 0)")
    parser.add_argument(
        "--sync-bn",
        choices=("auto", "none", "global", "group"),
        help="SyncBatchNorm over all workers, or per group of --sync-bn-group-size ranks (GPU only); "
        "default auto: BYOL per group, SwAV global, others none, as published (none on CPU)",
    )
    parser.add_argument("--sync-bn-group-size", type=int, help="ranks per SyncBN group (default 8)")
    parser.add_argument("--knn-every", type=int, help="run the kNN monitor every N epochs (default 1)")
    parser.add_argument("--loader-workers", type=int, help="DataLoader processes per worker (default 4)")
    parser.add_argument(
        "--data-path",
        choices=("auto", "workers", "device"),
        help="where images are decoded and augmented: in the loader workers, or on the training device "
        "(JPEG bytes + a mask pack; the GPU data path); auto: device on CUDA with a pack (default)",
    )
    parser.add_argument(
        "--cache-images",
        choices=("auto", "on", "off"),
        help="keep decoded samples in memory after their first epoch (auto: when --loader-workers is 0 "
        "and they take under 2 GiB; default); with loader workers each process keeps its own copy",
    )
    parser.add_argument(
        "--cpu-decode-share",
        type=float,
        help="device data path: fraction of JPEGs the loader workers decode instead of nvJPEG (default 0)",
    )
    parser.add_argument("--knn-train", metavar="DIR", help="labelled class folders for the kNN monitor")
    parser.add_argument("--knn-val", metavar="DIR", help="labelled class folders scored by the kNN monitor")
    parser.add_argument("--knn-k", type=int, help="neighbours of the kNN monitor (default 200)")
    for bag in OPTION_BAGS:
        name = bag.removesuffix("_options")
        parser.add_argument(
            f"--{name}-option",
            dest=f"{name}_options",
            action="append",
            default=[],
            metavar="KEY=JSON",
            help=f"extra {name} option, value parsed as JSON (repeatable)",
        )


def _parse_options(items: list[str], flag: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"{flag} expects KEY=VALUE, got {item!r}")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def config_from_args(args: argparse.Namespace, base: dict[str, Any] | None = None) -> PretrainConfig:
    """Merge, in order: ``base``, ``--config FILE``, then every flag the user set."""
    data: dict[str, Any] = dict(base or {})
    if getattr(args, "config", None):
        data.update(load_config(args.config))
    recipe = getattr(args, "recipe", None) or data.get("recipe", "paper")
    for name, value in RECIPE_DEFAULTS.get(recipe, {}).items():
        data.setdefault(name, value)
    for name in _CONFIG_FLAGS:
        value = getattr(args, name, None)
        if value is not None:
            data[name] = value
    for bag in OPTION_BAGS:
        flag = f"--{bag.removesuffix('_options')}-option"
        extra = _parse_options(getattr(args, bag, []), flag)
        if extra:
            data[bag] = {**data.get(bag, {}), **extra}
    missing = [f"--{n.replace('_', '-')}" for n in ("method", "bg_aug", "data") if data.get(n) is None]
    if missing:
        raise UsageError(f"missing {', '.join(missing)} (or give them in --config)")
    for path_field in ("data", "masks", "knn_train", "knn_val"):
        if data.get(path_field) is not None:
            folder = Path(data[path_field]).expanduser().resolve()
            if not folder.is_dir():
                raise FileNotFoundError(f"--{path_field.replace('_', '-')}: folder not found: {folder}")
            data[path_field] = str(folder)
    unknown = sorted(set(data) - set(config_field_names()))
    if unknown:
        raise UsageError(f"unknown config field(s): {', '.join(unknown)}")
    return PretrainConfig.from_dict(data)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser)
    parser.add_argument("--out", help="run directory (created)")
    parser.add_argument(
        "--resume", metavar="DIR", help="continue the run in DIR (flags such as --epochs override)"
    )
    parser.add_argument("--workers", type=int, default=1, help="Ray Train workers (0: in-process, no Ray)")
    parser.add_argument("--gpus-per-worker", type=float, default=0.0, help="GPUs per worker (0: CPU, gloo)")
    parser.add_argument("--cpus-per-worker", type=float, default=1.0, help="CPUs reserved per worker")
    parser.add_argument(
        "--address", help="Ray cluster to join: 'auto' or HOST:PORT (default: a local instance on 127.0.0.1)"
    )
    parser.add_argument(
        "--storage", help="where Ray persists checkpoints; shared across nodes (default OUT/ray)"
    )
    parser.add_argument(
        "--max-failures", type=int, default=3, help="worker-group restarts allowed (default 3)"
    )
    parser.add_argument(
        "--verify-masks",
        action="store_true",
        help="check every image against the mask bank's recorded hash before training (default: names, "
        "sizes and modification times only)",
    )
    parser.add_argument("--json", metavar="FILE", help="write the final metrics as JSON")


def _export_backbone(config: PretrainConfig, checkpoint: Path, dest: Path) -> None:
    """``backbone.pt`` from a training checkpoint (what ``train`` writes at the end of a local run)."""
    from bgaug.core.backbones import save_backbone
    from bgaug.core.io import load_checkpoint
    from bgaug.launch.worker import eval_preprocess
    from bgaug.ssl_methods import build_method

    state = load_checkpoint(checkpoint)
    num_classes = None
    if config.method == "supervised":
        num_classes = int(state["model"]["head.weight"].shape[0]) if "head.weight" in state["model"] else None
    method = build_method(
        config.method,
        arch=config.arch,
        small_stem=config.small_stem,
        num_classes=num_classes,
        **config.all_method_options(),
    )
    method.load_state_dict(state["model"])
    save_backbone(
        dest,
        method.backbone,
        arch=config.arch,
        small_stem=config.small_stem,
        head=method.export_head,
        preprocess=eval_preprocess(config.image_size),
        meta={
            "method": config.method,
            "bg_aug": config.bg_aug,
            "epochs": config.epochs,
            "config": config.to_dict(),
        },
    )


def check_local_gpus(gpus_per_worker: float, address: str | None) -> None:
    """``--gpus-per-worker`` is >= 0 and, on the local instance (no ``--address``), this machine has a
    GPU: Ray would otherwise wait for resources that never come. A cluster's GPUs are Ray's to count."""
    if gpus_per_worker < 0:
        raise UsageError(f"--gpus-per-worker must be >= 0, got {gpus_per_worker}")
    if gpus_per_worker > 0 and address is None:
        check_device("cuda")


def pretrain(
    config: PretrainConfig,
    out: Path,
    *,
    workers: int = 1,
    gpus_per_worker: float = 0.0,
    cpus_per_worker: float = 1.0,
    address: str | None = None,
    storage: str | None = None,
    name: str | None = None,
    max_failures: int = 3,
    resume: bool = False,
    verify_masks: bool = False,
    loop: Callable[[dict[str, Any]], None] | None = None,
) -> RunRecord:
    """Run (or continue) a pretraining run in ``out``; return its record (``run.json``'s content).

    Before anything starts, the mask bank must fit the image folder (the same images, unchanged:
    ``core.maskbank.check_bank_fits_images``; ``verify_masks`` compares every image's hash).
    ``loop`` replaces the Ray workers' loop (``worker.train_worker``; tests wrap it to inject faults).
    """
    from bgaug.core.maskbank import check_bank_fits_images, open_mask_bank
    from bgaug.launch.session import LocalSession
    from bgaug.launch.worker import check_options, run_training, train_worker

    if workers < 0:
        raise UsageError(f"--workers must be >= 0, got {workers}")
    check_local_gpus(gpus_per_worker, address)
    check_options(config)
    check_bank_fits_images(config.data, open_mask_bank(config.data, config.masks), hashes=verify_masks)
    out = out.resolve()
    if (out / CONFIG_FILE).exists() and not resume:
        raise FileExistsError(
            f"{out} already holds a run: pass --resume {out} to continue it, or another --out"
        )
    if resume and (out / CONFIG_FILE).exists():
        check_resumable(PretrainConfig.from_dict(load_config(out / CONFIG_FILE)), config)
    config.per_worker_batch(max(workers, 1))
    if config.sync_bn in ("global", "group") and workers > 1 and gpus_per_worker <= 0:
        raise UsageError(
            "--sync-bn needs GPU workers (--gpus-per-worker > 0): SyncBatchNorm does not run on CPU"
        )
    if config.sync_bn == "group" and workers > 1 and workers % config.sync_bn_group_size:
        raise UsageError(
            f"--sync-bn-group-size {config.sync_bn_group_size} does not divide --workers {workers}"
        )
    out.mkdir(parents=True, exist_ok=True)
    save_config(out / CONFIG_FILE, config)
    if workers == 0:
        metrics = run_training(config, LocalSession(out), out, resume=resume)
        if not metrics and (out / RUN_FILE).is_file():  # resumed a finished run: nothing new to report
            metrics = dict(RunRecord.read(out / RUN_FILE).metrics)
        run = RunRecord(
            workers=workers,
            out=out,
            metrics=metrics,
            config=config.to_dict(),
            backbone=out / "backbone.pt",
        )
    else:
        from bgaug.launch.cluster import connect
        from bgaug.launch.ray_train import fetch_checkpoint, fit_with_ray

        storage = storage or str(out / "ray")
        name = name or out.name
        connect(address)
        ray_run = fit_with_ray(
            loop or train_worker,
            {"config": config.to_dict()},
            num_workers=workers,
            storage=storage,
            name=name,
            gpus_per_worker=gpus_per_worker,
            cpus_per_worker=cpus_per_worker,
            max_failures=max_failures,
        )
        if ray_run.checkpoint is None:
            raise RuntimeError("the run finished without reporting a checkpoint")
        last = fetch_checkpoint(ray_run.checkpoint, out / "checkpoints" / "last.pt")
        _export_backbone(config, last, out / "backbone.pt")
        run = RunRecord(
            workers=workers,
            out=out,
            metrics=ray_run.metrics,
            config=config.to_dict(),
            backbone=out / "backbone.pt",
            storage=storage,
            name=name,
            checkpoint=ray_run.checkpoint,
        )
    atomic_write_json(out / RUN_FILE, run.to_json())
    return run


def run_from_args(args: argparse.Namespace) -> int:
    check_json_out(args.json)
    base: dict[str, Any] = {}
    previous: RunRecord | None = None
    if args.resume:
        resume_dir = Path(args.resume)
        if not (resume_dir / CONFIG_FILE).is_file():
            raise FileNotFoundError(f"{resume_dir} is not a bgaug pretrain run (no {CONFIG_FILE})")
        base = load_config(resume_dir / CONFIG_FILE)
        if (resume_dir / RUN_FILE).is_file():
            previous = RunRecord.read(resume_dir / RUN_FILE)
        if args.out and Path(args.out).resolve() != resume_dir.resolve():
            raise UsageError("--resume continues a run in place; drop --out or make it the same directory")
        args.out = str(resume_dir)
    if not args.out:
        raise UsageError("--out is required (or --resume DIR)")
    config = config_from_args(args, base)
    run = pretrain(
        config,
        Path(args.out),
        workers=args.workers,
        gpus_per_worker=args.gpus_per_worker,
        cpus_per_worker=args.cpus_per_worker,
        address=args.address,
        storage=args.storage or (previous.storage if previous else None),
        name=previous.name if previous else None,
        max_failures=args.max_failures,
        resume=bool(args.resume),
        verify_masks=args.verify_masks,
    )
    print(json.dumps(dict(run.metrics), indent=2, sort_keys=True))
    if args.json:
        atomic_write_json(args.json, run.to_json())
    return 0
