"""Linear evaluation with a frozen backbone (paper appendix A.3), and a fast mode on cached features.

``paper`` mode trains the head on RandomResizedCrop + horizontal-flip views passed through the frozen
backbone (eval mode: BatchNorm statistics stay fixed) every epoch, with the method's recipe.
``fast`` mode computes centre-crop features once (cached as .npz), standardises them and trains the
head with one probe recipe for every method (``recipes.FAST_LINEAR``); the standardisation is folded
into the head, which then applies to raw features. Far cheaper than ``paper`` mode and, unlike the
published recipes, stable on any backbone's feature scale; use it for monitoring, small backbones
and the heads the robustness suites need.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torchvision.transforms import v2

from bgaug.core.config import check_choice
from bgaug.core.interfaces import Classifier, Preprocess
from bgaug.core.seeding import torch_generator
from bgaug.evals.batching import UnreadableLog, loader
from bgaug.evals.datasets import ImageListDataset, LabelledImage
from bgaug.evals.features import Features, cached_features
from bgaug.evals.inference import EvalOptions
from bgaug.evals.recipes import FAST_LINEAR, Recipe
from bgaug.evals.training import fit

MODES = ("fast", "paper")


def new_head(dim: int, classes: int, seed: int = 0) -> nn.Linear:
    """A linear head initialised as in MoCo's linear protocol: N(0, 0.01) weights, zero bias.

    The weights come from their own generator (``seed``), so a head does not depend on what drew
    from the global random state before it."""
    head = nn.Linear(dim, classes)
    nn.init.normal_(head.weight, std=0.01, generator=torch_generator(seed, "linear-head"))
    nn.init.zeros_(head.bias)
    return head


def train_augmentation(crop: int) -> v2.Compose:
    return v2.Compose([v2.RandomResizedCrop(crop, antialias=True), v2.RandomHorizontalFlip()])


@dataclass(frozen=True)
class LinearResult:
    """The trained head, its epoch losses, val top-1 (%), and the unreadable images left out of the
    train split (``unreadable``) and of the val split (``val_unreadable``)."""

    head: nn.Linear
    train_loss: list[float]
    val_top1: float | None
    mode: str
    unreadable: list[str] = field(default_factory=list)
    val_unreadable: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        unreadable = sorted(set(self.unreadable) | set(self.val_unreadable))
        return {
            "mode": self.mode,
            "final_train_loss": self.train_loss[-1],
            "val_top1": self.val_top1,
            "n_unreadable": len(unreadable),
            "unreadable_files": unreadable,
        }


def _feature_batches(
    features: Tensor, labels: Tensor, batch_size: int, seed: int, epoch: int
) -> Iterator[tuple[Tensor, Tensor]]:
    order = torch.randperm(len(labels), generator=torch_generator(seed, "linear", epoch))
    for start in range(0, len(order), batch_size):
        chosen = order[start : start + batch_size]
        yield features[chosen], labels[chosen]


def head_top1(head: nn.Module, features: np.ndarray, labels: np.ndarray, device: str) -> float:
    with torch.inference_mode():
        logits = head.to(device)(torch.from_numpy(features).to(device))
        return float(100.0 * (logits.argmax(1).cpu().numpy() == labels).mean())


def fit_head_on_features(
    features: np.ndarray,
    labels: np.ndarray,
    classes: int,
    recipe: Recipe,
    options: EvalOptions,
    *,
    batch_size: int | None = None,
    epochs: int | None = None,
    seed: int = 0,
) -> tuple[nn.Linear, list[float]]:
    """Train a linear head on fixed features with ``recipe``; return it (on CPU) and epoch losses."""
    bs = batch_size or recipe.batch_size
    head = new_head(features.shape[1], classes, seed).to(options.device)
    x = torch.from_numpy(features).float().to(options.device)
    y = torch.from_numpy(labels).long().to(options.device)
    if int(y.max()) >= classes or int(y.min()) < 0:
        raise ValueError(f"labels must lie in [0, {classes}), got [{int(y.min())}, {int(y.max())}]")
    losses = fit(
        head,
        [{"params": head.parameters(), "lr": recipe.scaled_lr(bs)}],
        lambda epoch: _feature_batches(x, y, bs, seed, epoch),
        recipe,
        epochs=epochs,
        desc="linear (features)",
        progress=options.progress,
    )
    return head.cpu().eval(), losses


def standardised_head(
    features: np.ndarray,
    labels: np.ndarray,
    classes: int,
    options: EvalOptions,
    *,
    epochs: int | None = None,
    seed: int = 0,
) -> tuple[nn.Linear, list[float]]:
    """The fast mode's head: ``FAST_LINEAR`` on standardised features (train statistics), with the
    standardisation folded into the weights, so the head takes raw features."""
    mean = features.mean(axis=0, dtype=np.float64)
    std = features.std(axis=0, dtype=np.float64) + 1e-6
    scaled = ((features - mean) / std).astype(np.float32)
    batch_size = min(FAST_LINEAR.batch_size, len(labels))
    head, losses = fit_head_on_features(
        scaled, labels, classes, FAST_LINEAR, options, batch_size=batch_size, epochs=epochs, seed=seed
    )
    with torch.no_grad():
        weight = head.weight.double() / torch.from_numpy(std)
        head.bias.sub_((weight @ torch.from_numpy(mean)).float())
        head.weight.copy_(weight.float())
    return head, losses


def _paper_head(
    frozen: Classifier,
    preprocess: Preprocess,
    train_items: Sequence[LabelledImage],
    classes: int,
    recipe: Recipe,
    options: EvalOptions,
    *,
    batch_size: int,
    epochs: int | None,
    seed: int,
) -> tuple[nn.Linear, list[float], list[str]]:
    """``paper`` mode: the head trained on augmented views every epoch; also the unreadable train images."""
    probe = torch.zeros(1, 3, preprocess.crop, preprocess.crop, device=options.device)
    dim = int(frozen.features(probe).shape[1])
    head = new_head(dim, classes, seed).to(options.device)
    augmented = ImageListDataset(train_items, preprocess, transform=train_augmentation(preprocess.crop))
    aug_options = dataclasses.replace(options, batch_size=batch_size)
    unreadable = UnreadableLog(augmented)

    def image_batches(epoch: int) -> Iterator[tuple[Tensor, Tensor]]:
        # The generator fixes the order and, through DataLoader's base seed, the crops.
        generator = torch_generator(seed, "linear-aug", epoch)
        for images, labels, ok, index in loader(augmented, aug_options, shuffle=True, generator=generator):
            unreadable.note(ok, index)
            keep = ok.to(options.device)
            with torch.no_grad(), aug_options.autocast():
                f = frozen.features(images.to(options.device)[keep]).float()
            yield f, labels.to(options.device)[keep]

    losses = fit(
        head,
        [{"params": head.parameters(), "lr": recipe.scaled_lr(batch_size)}],
        image_batches,
        recipe,
        epochs=epochs,
        desc="linear (paper)",
        progress=options.progress,
    )
    return head, losses, unreadable.paths()


def train_linear(
    backbone: nn.Module,
    preprocess: Preprocess,
    train_items: Sequence[LabelledImage],
    classes: int,
    recipe: Recipe,
    options: EvalOptions,
    *,
    val_items: Sequence[LabelledImage] | None = None,
    mode: str = "fast",
    batch_size: int | None = None,
    epochs: int | None = None,
    cache_dir: str | Path | None = None,
    cache_key: dict[str, Any] | None = None,
    seed: int = 0,
) -> LinearResult:
    """Train a linear head on the frozen ``backbone``; report val top-1 (%) when ``val_items`` are given.

    ``recipe`` (and ``batch_size``) drive ``paper`` mode; ``fast`` mode always runs ``FAST_LINEAR``
    (``epochs`` overrides its length in both modes). ``cache_key`` must name the backbone by content
    (``features.checkpoint_key``): the cached features are reused whenever the key matches."""
    check_choice("mode", mode, MODES)
    frozen = Classifier(backbone, nn.Identity(), preprocess).to(options.device).eval()
    for p in frozen.parameters():
        p.requires_grad_(False)
    key = {"preprocess": [preprocess.resize, preprocess.crop], **(cache_key or {})}

    def features(name: str, items: Sequence[LabelledImage]) -> Features:
        cache = Path(cache_dir) / f"{name}.features.npz" if cache_dir is not None else None
        dataset = ImageListDataset(items, preprocess)
        return cached_features(frozen.features, dataset, options, cache, key, f"{name} features")

    val = features("val", val_items) if val_items else None
    if mode == "fast":
        train = features("train", train_items)
        head, losses = standardised_head(
            train.features, train.labels, classes, options, epochs=epochs, seed=seed
        )
        unreadable = train.unreadable
    else:
        bs = batch_size or recipe.batch_size
        head, losses, unreadable = _paper_head(
            frozen, preprocess, train_items, classes, recipe, options, batch_size=bs, epochs=epochs, seed=seed
        )
    head = head.cpu().eval()
    top1 = head_top1(head, val.features, val.labels, "cpu") if val is not None else None
    return LinearResult(head, losses, top1, mode, unreadable, val.unreadable if val is not None else [])
