"""The pretraining configuration: one JSON-serialisable dataclass shared by ``bgaug pretrain``,
``bgaug sweep`` (which writes the best one as a file) and the Ray workers (which receive it as a dict).

``batch_size`` is the *global* batch, split evenly over the workers; the learning rate is
``base_lr * batch_size / 256`` (the linear scaling rule of MoCo / BYOL / SwAV), so a config keeps its
meaning whatever the number of workers.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from bgaug.core.backbones import ARCHS
from bgaug.core.config import (
    check_choice,
    check_positive,
    check_probability,
    config_from_dict,
    config_to_dict,
)
from bgaug.core.errors import UsageError
from bgaug.core.io import atomic_write_json
from bgaug.core.vocabulary import BG_AUGS, METHOD_NAMES
from bgaug.ssl_methods.recipes import TRAIN_RECIPES, recipe_method_options
from bgaug.ssl_methods.training import RESUMABLE_CHANGES

SYNC_BN = ("auto", "none", "global", "group")
DATA_PATHS = ("auto", "workers", "device")
CACHE_IMAGES = ("auto", "on", "off")
CACHE_LIMIT_BYTES = 2 << 30
"""``cache_images="auto"`` keeps decoded samples in memory when they fit in this (and the loader runs
in the training process)."""
CONFIG_FORMAT = "bgaug-pretrain/1"


@dataclass(frozen=True)
class PretrainConfig:
    """Everything that decides a pretraining run (not where it runs: workers and addresses are not here).

    ``base_lr``: learning rate at batch 256; ``None`` takes the method's paper default from
    ``bgaug.ssl_methods``. ``p_pos``: probability of replacing a global view's background (BG_RM,
    BG_Random, BG_Swaps); ``p_neg``: probability of a background-matched negative (BG_Swaps only);
    ``None`` takes the paper's value for the method (``bgaug.augment``).
    ``sync_bn``: ``none``, ``global`` (all workers) or ``group`` (groups of ``sync_bn_group_size``
    consecutive ranks, as the paper's BYOL synchronised statistics within 8-GPU groups); ``auto``
    (default) is each method's published setup on GPU workers: BYOL per group (all workers when
    there are fewer than a group, or the group size does not divide them), SwAV global (its code's
    default), none for the rest (MoCo-v2 shuffles its keys' BatchNorm instead). On CPU workers,
    ``auto`` means ``none``, because SyncBatchNorm needs CUDA.
    ``recipe``: ``paper`` (each method's published optimisation, default) or ``cpu`` (Adam and
    method settings that form features within minutes on a CPU; ``ssl_methods.recipes``); the
    augmentations, p_pos / p_neg and FG_min are the paper's under either.
    ``method_options`` / ``augment_options`` / ``train_options``: extra fields for ``build_method`` /
    ``build_pipeline`` / ``ssl_methods.training.TrainConfig`` (optimizer, warm-up, amp...), on top of
    the recipe's.
    ``data_path``: ``workers`` (DataLoader processes decode and resize, the consumer augments),
    ``device`` (workers read JPEG bytes and a mask pack; decoding and augmentation run on the training
    device ahead of each step: ``core.device_loader``) or ``auto`` (``device`` on CUDA when the masks
    are a pack or absent, else ``workers``). ``cpu_decode_share``: on the device path, the fraction of
    JPEGs the loader workers decode themselves, taking load off nvJPEG (``EncodedImageFolder``).
    ``cache_images``: keep decoded, load-sized samples in memory after their first epoch (``on``,
    ``off``, or ``auto``: on when ``loader_workers`` is 0 and they take under 2 GiB, as on the CPU
    demo, where decoding each epoch again cost 2-3x the training step).
    ``knn_train`` / ``knn_val``: labelled image folders for the kNN monitor (``None``: none), run every
    ``knn_every`` epochs (keep 1 for ASHA sweeps, which stop trials on it). A checkpoint is written and
    reported at every epoch end.
    """

    method: str
    bg_aug: str
    data: str
    masks: str | None = None
    epochs: int = 200
    batch_size: int = 256
    arch: str = "resnet50"
    small_stem: bool = False
    image_size: int = 224
    base_lr: float | None = None
    recipe: str = "paper"
    p_pos: float | None = None
    p_neg: float | None = None
    seed: int = 0
    sync_bn: str = "auto"
    sync_bn_group_size: int = 8
    knn_every: int = 1
    loader_workers: int = 4
    data_path: str = "auto"
    cache_images: str = "auto"
    cpu_decode_share: float = 0.0
    knn_train: str | None = None
    knn_val: str | None = None
    knn_k: int = 200
    method_options: dict[str, Any] = field(default_factory=dict)
    augment_options: dict[str, Any] = field(default_factory=dict)
    train_options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_choice("method", self.method, METHOD_NAMES)
        check_choice("bg_aug", self.bg_aug, BG_AUGS)
        check_choice("arch", self.arch, ARCHS)
        check_choice("sync_bn", self.sync_bn, SYNC_BN)
        check_choice("data_path", self.data_path, DATA_PATHS)
        check_choice("recipe", self.recipe, TRAIN_RECIPES)
        check_choice("cache_images", self.cache_images, CACHE_IMAGES)
        for name in ("epochs", "batch_size", "image_size", "sync_bn_group_size", "knn_every", "knn_k"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise UsageError(f"{name} must be an integer, got {value!r}")
            check_positive(name, value)
        check_positive("loader_workers", self.loader_workers, allow_zero=True)
        check_positive("seed", self.seed, allow_zero=True)
        check_probability("cpu_decode_share", self.cpu_decode_share)
        if self.base_lr is not None:
            check_positive("base_lr", self.base_lr)
        for name in ("p_pos", "p_neg"):
            value = getattr(self, name)
            if value is not None:
                check_probability(name, value)
        if self.p_pos is not None and self.bg_aug == "none":
            raise UsageError("p_pos needs a background augmentation (bg_aug is 'none')")
        if self.p_neg is not None and self.bg_aug != "bg_swaps":
            raise UsageError(f"p_neg applies to bg_aug 'bg_swaps' only, got bg_aug {self.bg_aug!r}")
        if self.masks is None and self.bg_aug != "none":
            raise UsageError(f"bg_aug {self.bg_aug!r} needs masks (--masks): a mask bank or mask folder")
        if (self.knn_train is None) != (self.knn_val is None):
            raise UsageError("knn_train and knn_val must be given together")

    def per_worker_batch(self, world_size: int) -> int:
        """The batch each of ``world_size`` workers draws; the global batch must split evenly."""
        if self.batch_size % world_size:
            raise UsageError(f"batch_size {self.batch_size} does not split evenly over {world_size} workers")
        return self.batch_size // world_size

    def caches_images(self, n_images: int, load_size: int) -> bool:
        """Whether the run keeps decoded samples in memory (``cache_images``)."""
        if self.cache_images != "auto":
            return self.cache_images == "on"
        return self.loader_workers == 0 and n_images * 7 * load_size**2 <= CACHE_LIMIT_BYTES

    def all_method_options(self) -> dict[str, Any]:
        """``build_method`` options: the recipe's (``recipe_method_options``), then ``method_options``."""
        return {**recipe_method_options(self.method, self.recipe), **self.method_options}

    def augment_kwargs(self) -> dict[str, Any]:
        """Keyword options for ``bgaug.augment.build_pipeline`` (only the ones set)."""
        options = dict(self.augment_options)
        for name in ("p_pos", "p_neg"):
            value = getattr(self, name)
            if value is not None:
                options[name] = value
        return options

    def to_dict(self) -> dict[str, Any]:
        return config_to_dict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PretrainConfig:
        data = {k: v for k, v in data.items() if k != "format"}
        config = config_from_dict(cls, data)
        # config_from_dict turns lists into tuples; the option dicts are kept as dicts.
        return config

    def updated(self, **changes: Any) -> PretrainConfig:
        return replace(self, **changes)


RESUMABLE_FIELDS = frozenset(
    {
        "loader_workers",
        "knn_every",
        "knn_train",
        "knn_val",
        "knn_k",
        "data_path",
        "cpu_decode_share",
        "cache_images",
    }
)
"""PretrainConfig fields a resumed run may change: how data is fed and monitored, never what is trained."""


def check_resumable(before: PretrainConfig, now: PretrainConfig) -> None:
    """Refuse, before anything is written, a resume that would change what is being trained."""
    old, new = before.to_dict(), now.to_dict()
    for name in sorted(set(old) | set(new)):
        if name in RESUMABLE_FIELDS or old.get(name) == new.get(name):
            continue
        if name == "train_options":
            changed = {
                k for k in set(old[name]) | set(new[name]) if old[name].get(k) != new[name].get(k)
            } - RESUMABLE_CHANGES
            if not changed:
                continue
            name = f"train_options {', '.join(sorted(changed))}"
        raise UsageError(
            f"cannot resume: {name} was {old.get(name.split()[0])!r}, now {new.get(name.split()[0])!r}; "
            "continue with the run's own settings, or start a new run"
        )


RECIPE_DEFAULTS: dict[str, dict[str, Any]] = {
    "cpu": {"arch": "cnn5_w16", "image_size": 24, "batch_size": 128, "epochs": 100},
}
"""Fields a recipe sets unless the user does (``--recipe cpu`` alone is a complete CPU run: the
plain five-layer CNN on 24 px views, batch 128, 100 epochs; docs/science.md)."""


def config_field_names() -> tuple[str, ...]:
    return tuple(f.name for f in fields(PretrainConfig))


def save_config(path: str | os.PathLike[str], config: PretrainConfig) -> None:
    """Write ``config`` as JSON (atomically) in the form ``load_config`` and ``--config`` read."""
    atomic_write_json(path, {"format": CONFIG_FORMAT, **config.to_dict()})


def load_config(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The fields of a config file as a dict (unknown fields are refused when the config is built)."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"config file not found: {p}")
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise UsageError(f"{p}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise UsageError(f"{p}: expected a JSON object, found {type(data).__name__}")
    fmt = data.pop("format", CONFIG_FORMAT)
    if fmt != CONFIG_FORMAT:
        raise UsageError(f"{p}: unsupported config format {fmt!r} (expected {CONFIG_FORMAT!r})")
    return data
