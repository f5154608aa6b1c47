"""DeepUSPS2: a saliency network trained without labels, as the paper's appendix A.2 adapts DeepUSPS.

Phase I, for every hand-crafted method: a fresh FCN is trained on that method's maps binarised at a
per-method threshold, with loss 1 - soft F-beta (beta^2 = 0.3), for ``rounds`` refinement rounds.
During a round the network's predictions on each training image (taken from the training forward
passes, flips undone) are averaged over epochs, M <- alpha * M + (1 - alpha) * P with alpha = 0.7;
the next round's targets are that average binarised at 0.5, after DeepUSPS's dense-CRF smoothing
when ``crf`` allows it and pydensecrf is installed (``crf.py``; the fallback is the plain average).
Phase II: one fresh FCN learns from all refined label sets at once (the loss averages the methods).
``phase2_labels`` can point phase II at the hand-crafted pseudo-labels instead, or at both; on the
synthetic benchmark the hand-crafted labels gave the better detector (docs/saliency.md).
``bce_weight`` adds a per-pixel BCE term to the loss and ``decoder="fpn"`` a top-down decoder to the
network; both are off in the ``paper`` preset and on in ``quick``, where a randomly initialised
network must learn in CPU minutes (measured in docs/saliency.md).

The FCN backbone starts from a self-supervised backbone checkpoint (BYOL / MoCo-v2 from this
project) or, labelled as such in the checkpoint's meta, from random weights; never from supervised
weights. Defaults follow DeepUSPS where the paper is silent (432 px, Adam, poly LR decay) and the
paper's phase-I learning rate, 6e-6. The ``quick`` preset is a CPU-minutes schedule for small images.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from tqdm import tqdm

from bgaug.core.config import check_choice, check_positive, check_probability, config_to_dict
from bgaug.core.errors import UsageError
from bgaug.core.io import BadImageError, list_images, load_image, load_mask
from bgaug.core.preflight import check_device, check_input_folder, check_new_file, check_outside
from bgaug.core.seeding import seed_everything, torch_generator
from bgaug.saliency.bank import MIN_SIDE
from bgaug.saliency.crf import CRF_MODES, dense_crf, resolve_crf
from bgaug.saliency.fcn import DECODERS, SaliencyFCN, build_fcn, save_fcn
from bgaug.saliency.fit_views import VIEWS, crop_views
from bgaug.saliency.handcrafted import METHODS
from bgaug.saliency.handcrafted.working_size import WORKING_SIDE, resize_image, shrunk_shape
from bgaug.saliency.metrics import BETA2, SaliencyScores, centre_prior, to_uint8
from bgaug.saliency.workers import worker_pool

LABEL_THRESHOLD = 0.5
"""Default per-method binarisation threshold of the hand-crafted maps (each map is in [0, 1])."""

PHASE2_LABELS = ("refined", "pseudo", "both")
"""What phase II learns from: the phase-I refined label sets (DeepUSPS), the binarised hand-crafted
pseudo-labels themselves (phase I is then skipped), or both together."""


@dataclass(frozen=True)
class FitConfig:
    """DeepUSPS2 training options (validated on construction)."""

    methods: tuple[str, ...] = ("rbd", "mc", "dsr", "mbd")
    label_thresholds: tuple[float, ...] = ()  # one per method; empty = LABEL_THRESHOLD for all
    image_size: int = 432
    handcrafted_size: int = 300  # longest side of the image the hand-crafted maps are computed on
    arch: str = "resnet50"
    small_stem: bool = False
    output_stride: int = 8
    decoder: str = "none"  # fcn.DECODERS
    rounds: int = 3
    epochs_per_round: int = 10
    phase2_epochs: int = 20
    batch_size: int = 10
    lr_phase1: float = 6e-6
    lr_phase2: float = 6e-6
    poly_power: float = 0.9
    alpha: float = 0.7
    crf: str = "auto"  # crf.CRF_MODES: smooth each round's average with a dense CRF when installed
    bce_weight: float = 0.0  # 0 = the paper's loss, 1 - soft F-beta alone
    phase2_labels: str = "refined"  # PHASE2_LABELS
    phase2_views: str = "flip"  # fit_views.VIEWS: flip (DeepUSPS) or crops (+ crops and colour jitter)
    max_images: int = 0  # 0 = all
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.methods:
            raise UsageError("methods must name at least one hand-crafted method")
        for m in self.methods:
            check_choice("methods", m, METHODS)
        check_choice("decoder", self.decoder, DECODERS)
        check_choice("phase2_labels", self.phase2_labels, PHASE2_LABELS)
        check_choice("phase2_views", self.phase2_views, VIEWS)
        check_choice("crf", self.crf, CRF_MODES)
        if self.label_thresholds and len(self.label_thresholds) != len(self.methods):
            raise UsageError(
                "label_thresholds needs one value per method "
                f"({len(self.methods)}), got {len(self.label_thresholds)}"
            )
        for t in self.label_thresholds:
            check_probability("label_thresholds", t)
        for name in (
            "image_size",
            "handcrafted_size",
            "rounds",
            "epochs_per_round",
            "batch_size",
            "phase2_epochs",
            "lr_phase1",
            "lr_phase2",
            "poly_power",
        ):
            check_positive(name, getattr(self, name))
        check_positive("max_images", self.max_images, allow_zero=True)
        check_positive("bce_weight", self.bce_weight, allow_zero=True)
        check_probability("alpha", self.alpha)
        if self.image_size < 16:
            raise UsageError(f"image_size must be >= 16, got {self.image_size}")
        if self.handcrafted_size < 16:  # SLIC and the methods' border bands need some pixels
            raise UsageError(f"handcrafted_size must be >= 16, got {self.handcrafted_size}")

    def threshold_of(self, method: str) -> float:
        return self.label_thresholds[self.methods.index(method)] if self.label_thresholds else LABEL_THRESHOLD


PRESETS: dict[str, FitConfig] = {
    "paper": FitConfig(),
    # CPU minutes on 300-600 64-px images. ResNet-10 at width 16 with the 3x3/1 stem and output
    # stride 8: dilated convolutions (stride 4) cost 7x more CPU time per image here (measured,
    # docs/saliency.md). With the top-down decoder (full-resolution logits) and the BCE term a
    # random-init network trains faster and generalises better (measured in docs/saliency.md).
    "quick": FitConfig(
        image_size=64,
        # The teachers see each photograph at the `handcrafted` command's own working size, not the
        # 64-px square the networks train on: on 256-px scenes DSR's labels scored maxF 0.963 from the
        # file and 0.918 from the square (docs/saliency.md, "A folder of a few hundred images").
        # 64-px images are computed as they are, so the synthetic tables do not move.
        handcrafted_size=WORKING_SIDE,
        arch="resnet10_w16",
        small_stem=True,
        output_stride=8,
        decoder="fpn",
        bce_weight=1.0,
        crf="off",
        rounds=2,
        epochs_per_round=2,
        phase2_epochs=3,
        batch_size=16,
        lr_phase1=3e-3,
        lr_phase2=3e-3,
    ),
}


def soft_f_loss(probs: Tensor, targets: Tensor, beta2: float = BETA2, eps: float = 1e-7) -> Tensor:
    """1 - soft F-beta per image (probabilities stand in for binary predictions), batch mean."""
    dims = tuple(range(1, probs.ndim))
    tp = (probs * targets).sum(dims)
    precision = tp / (probs.sum(dims) + eps)
    recall = tp / (targets.sum(dims) + eps)
    f = (1 + beta2) * precision * recall / (beta2 * precision + recall + eps)
    return 1.0 - f.mean()


def saliency_loss(logits: Tensor, targets: Tensor, bce_weight: float = 0.0) -> Tensor:
    """1 - soft F-beta, plus ``bce_weight`` x per-pixel binary cross-entropy.

    The F-beta term is DeepUSPS's loss. From random initialisation it alone trains slowly: 64-px
    synthetic scenes, 10 epochs on the ground truth, training-set maxF 0.645 without the BCE term and
    0.848 with it (docs/saliency.md). The term is off by default and in the ``paper`` preset.
    """
    loss = soft_f_loss(torch.sigmoid(logits), targets)
    if bce_weight:
        loss = loss + bce_weight * F.binary_cross_entropy_with_logits(logits, targets)
    return loss


@dataclass(frozen=True)
class TrainingImages:
    relpaths: list[str]
    images: Tensor  # (N, 3, S, S) uint8
    skipped: list[dict[str, str]]
    sizes: list[tuple[int, int]] = dataclasses.field(default_factory=list)  # (H, W) as loaded


def load_training_images(
    root: str | os.PathLike[str], size: int, max_images: int = 0, progress: bool = True
) -> TrainingImages:
    """Every readable image under ``root`` resized to ``size`` x ``size``; bad files listed, not fatal."""
    rels = list_images(root)
    if max_images and max_images < len(rels):
        # Evenly spaced over the sorted listing, not its head: class folders sort together, and a
        # detector trained on the first few classes only would see a fraction of the scenes.
        rels = [rels[i] for i in np.linspace(0, len(rels) - 1, max_images).round().astype(int)]
    kept, arrays, skipped, sizes = [], [], [], []
    for rel in tqdm(rels, desc="load images", unit="img", disable=not progress):
        try:
            image = load_image(Path(root) / rel, min_side=MIN_SIDE)
        except BadImageError as exc:
            skipped.append({"path": rel, "reason": exc.reason})
            tqdm.write(f"skipped {rel}: {exc.reason}")
            continue
        t = torch.from_numpy(np.array(image)).permute(2, 0, 1)[None].float()
        t = F.interpolate(t, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
        arrays.append(t.round().clamp(0, 255).to(torch.uint8)[0])
        kept.append(rel)
        sizes.append((image.shape[0], image.shape[1]))
    if not arrays:
        raise UsageError(f"no readable images under {root}")
    return TrainingImages(kept, torch.stack(arrays), skipped, sizes)


def _parallel_map(
    fn: Callable[..., np.ndarray], tasks: list[tuple[Any, ...]], workers: int, desc: str, progress: bool
) -> list[np.ndarray]:
    """``fn(*task)`` for every task, in order, on ``workers`` spawned processes that die with this one
    (1: in this one)."""
    bar = partial(tqdm, total=len(tasks), desc=desc, unit="img", disable=not progress)
    if workers <= 1:
        return [fn(*t) for t in bar(tasks)]
    with worker_pool(workers) as pool:
        return list(
            bar(pool.map(fn, *zip(*tasks, strict=True), chunksize=max(1, len(tasks) // (8 * workers))))
        )


def _hwc_arrays(images: Tensor) -> list[np.ndarray]:
    """(N, 3, H, W) images as N contiguous (H, W, 3) arrays: the layout of the numpy-side code."""
    return [image.permute(1, 2, 0).numpy().copy() for image in images]


def _maps_of_file(path: str, methods: tuple[str, ...], work_side: int, size: int) -> np.ndarray:
    """Every method's map of the image file at ``path``, shrunk to a longest side of ``work_side`` first
    (aspect kept; each method bounds it further to its own working side), the maps resized to
    ``size`` x ``size``. Read from the file, not from the training-size copy: on photographs the
    methods' superpixels need the pixels a 64-px square throws away (docs/saliency.md, "A folder of
    a few hundred images")."""
    image = load_image(path, min_side=MIN_SIDE)
    image = resize_image(image, shrunk_shape(image.shape[0], image.shape[1], work_side))
    out = []
    for m in methods:
        sal = torch.from_numpy(METHODS[m](image)).float()[None, None]
        out.append(F.interpolate(sal, size=(size, size), mode="bilinear", align_corners=False)[0, 0].numpy())
    return np.stack(out)


def handcrafted_maps(
    root: str | os.PathLike[str],
    relpaths: Sequence[str],
    methods: Sequence[str],
    work_side: int,
    size: int,
    workers: int,
    progress: bool = True,
) -> Tensor:
    """(M, N, 1, S, S) float maps of every method on every image under ``root``, in parallel on CPU
    cores (``_maps_of_file``)."""
    tasks = [(str(Path(root) / rel), tuple(methods), work_side, size) for rel in relpaths]
    results = _parallel_map(_maps_of_file, tasks, workers, "hand-crafted maps", progress)
    return torch.from_numpy(np.stack(results, axis=1)).float()[:, :, None]


def crf_smoothed(
    images: Tensor, average: Tensor, workers: int, progress: bool = True, desc: str = "dense CRF"
) -> Tensor:
    """(N, 1, S, S) dense-CRF foreground marginals of ``average`` on training-size ``images``."""
    tasks = list(zip(_hwc_arrays(images), average[:, 0].numpy(), strict=True))
    return torch.from_numpy(np.stack(_parallel_map(dense_crf, tasks, workers, desc, progress)))[:, None]


def _poly(total_steps: int, power: float) -> Callable[[int], float]:
    return lambda step: max(0.0, 1.0 - step / max(total_steps, 1)) ** power


def train(
    model: SaliencyFCN,
    images: Tensor,
    targets: Callable[[], list[Tensor]],
    *,
    epochs: int,
    rounds: int,
    lr: float,
    config: FitConfig,
    device: torch.device,
    name: str,
    on_round_end: Callable[[Tensor], None] | None = None,
    views: str = "flip",
    progress: bool = True,
) -> list[float]:
    """Adam + poly decay over ``rounds`` x ``epochs``; loss averages 1 - soft F over ``targets()``.

    Predictions of each epoch are folded into a moving average (alpha) that ``on_round_end`` receives;
    that needs whole images, so ``views="crops"`` (``fit_views``) is refused with ``on_round_end``.
    """
    check_choice("views", views, VIEWS)
    if views != "flip" and on_round_end is not None:
        raise ValueError("refinement rounds average whole-image predictions: train them on flipped views")
    model.to(device).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    n = images.shape[0]
    steps_per_epoch = math.ceil(n / config.batch_size)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, _poly(rounds * epochs * steps_per_epoch, config.poly_power)
    )
    losses: list[float] = []
    for r in range(rounds):
        current = targets()
        # The average starts from the round's targets, so a short round refines rather than replaces them.
        average = torch.stack(current).mean(0)
        for epoch in range(epochs):
            g = torch_generator(config.seed, name, r, epoch)
            order = torch.randperm(n, generator=g)
            flips = torch.rand(n, generator=g) < 0.5
            predictions = torch.zeros(n, 1, images.shape[2], images.shape[3])
            total = 0.0
            bar = tqdm(
                range(steps_per_epoch),
                desc=f"{name} r{r + 1}/{rounds} e{epoch + 1}/{epochs}",
                leave=False,
                disable=not progress,
            )
            for step in bar:
                idx = order[step * config.batch_size : (step + 1) * config.batch_size]
                x = images[idx].to(device).float() / 255.0
                y = torch.stack([t[idx] for t in current]).to(device)  # (K, B, 1, H, W)
                if views == "crops":
                    x, y = crop_views(x, y, g)
                else:
                    flip = flips[idx].view(-1, 1, 1, 1).to(device)
                    x, y = torch.where(flip, x.flip(-1), x), torch.where(flip, y.flip(-1), y)
                logits = model(x)
                loss = torch.stack([saliency_loss(logits, t, config.bce_weight) for t in y]).mean()
                if not torch.isfinite(loss):
                    # Nothing is written before training ends, so no checkpoint is lost.
                    where = f"round {r + 1}, epoch {epoch + 1}, step {step + 1}"
                    raise UsageError(
                        f"{name}: loss is {float(loss.detach())} at {where}; stopped"
                        " (lower --lr-phase1 / --lr-phase2)"
                    )
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                scheduler.step()
                total += float(loss.detach()) * len(idx)
                if on_round_end is not None:  # its only reader (refused with crops, which miss parts)
                    probs = torch.sigmoid(logits.detach())
                    predictions[idx] = torch.where(flip, probs.flip(-1), probs).cpu()
                bar.set_postfix(loss=f"{float(loss.detach()):.3f}")
            losses.append(total / n)
            if on_round_end is not None:
                average = config.alpha * average + (1 - config.alpha) * predictions
        if on_round_end is not None:
            on_round_end(average)
    reestimate_batchnorm(model, images, device)
    return losses


def reestimate_batchnorm(
    model: SaliencyFCN, images: Tensor, device: torch.device, batch_size: int = 64
) -> None:
    """Exact BatchNorm statistics of the trained weights (one pass, cumulative average).

    With short schedules the running averages lag the weights and eval-mode maps collapse.
    """
    batches = [
        images[i : i + batch_size].to(device).float() / 255.0 for i in range(0, len(images), batch_size)
    ]
    torch.optim.swa_utils.update_bn(batches, model, device=device)


@torch.no_grad()
def predict_all(model: SaliencyFCN, images: Tensor, device: torch.device, batch_size: int = 64) -> Tensor:
    """Eval-mode maps (N, 1, S, S) in [0, 1] of training-size images."""
    model.to(device).eval()
    out = [
        torch.sigmoid(model(images[i : i + batch_size].to(device).float() / 255.0)).cpu()
        for i in range(0, len(images), batch_size)
    ]
    return torch.cat(out)


def ground_truth(
    gt_root: str | os.PathLike[str],
    relpaths: Sequence[str],
    size: int,
    image_sizes: Sequence[tuple[int, int]] | None = None,
) -> list[np.ndarray | None]:
    """Ground-truth masks resized (nearest) to ``size``, ``None`` where a mask is missing.

    With ``image_sizes`` ((H, W) per image) a mask of another size is an error (``BadImageError``),
    not silently stretched onto its image."""
    from bgaug.saliency.evaluate import gt_path

    out: list[np.ndarray | None] = []
    for i, rel in enumerate(relpaths):
        path = gt_path(Path(gt_root), rel)
        if path is None:
            out.append(None)
            continue
        expected = None if image_sizes is None else image_sizes[i]
        mask = torch.from_numpy(load_mask(path, size=expected).astype(np.float32))[None, None]
        out.append(F.interpolate(mask, size=(size, size), mode="nearest")[0, 0].numpy() > 0.5)
    return out


def score(maps: Tensor, gts: Sequence[np.ndarray | None]) -> dict[str, float]:
    """Dataset F-beta / MAE of (N, 1, S, S) maps against the masks that exist."""
    s = SaliencyScores()
    for i, gt in enumerate(gts):
        if gt is not None:
            s.add(to_uint8(maps[i, 0].numpy()), gt)
    return s.results()


def check_fit_inputs(
    image_root: str | os.PathLike[str],
    out: str | os.PathLike[str],
    config: FitConfig,
    *,
    init: str | os.PathLike[str] | None,
    gt_root: str | os.PathLike[str] | None,
    device: str,
    overwrite: bool,
) -> None:
    """Everything ``fit`` can check before its work (issues 23.8, 23.10-12): the folders exist, the
    checkpoint path is a new file (or ``overwrite``) in a writable place outside the inputs, the
    device is there, and ``init`` loads as a self-supervised backbone the network can take."""
    check_input_folder(image_root, "--images")
    if gt_root is not None:
        check_input_folder(gt_root, "--gt")
    check_outside(out, {"--images": image_root, "--gt": gt_root})
    check_new_file(out, "--out", overwrite=overwrite)
    check_device(device)
    if init is not None:  # built once and dropped: the same checks the training's networks pass
        _fresh_network(config, init)


def _fresh_network(
    config: FitConfig, init: str | os.PathLike[str] | None
) -> tuple[SaliencyFCN, dict[str, Any]]:
    """Every phase-I network and the phase-II one start the same way: fresh, from ``init``."""
    return build_fcn(
        config.arch,
        small_stem=config.small_stem,
        output_stride=config.output_stride,
        decoder=config.decoder,
        init=init,
    )


def _resolve_crf(config: FitConfig) -> str | None:
    """The pydensecrf version phase I smooths with, or ``None`` (says so when ``auto`` falls back)."""
    if config.phase2_labels == "pseudo":  # phase II learns the hand-crafted labels: no phase I
        return None
    crf = resolve_crf(config.crf)
    if crf is None and config.crf == "auto":
        tqdm.write(
            "dense CRF not installed (pip install 'bgaug-saliency[crf]'): "
            "each round's targets are its thresholded moving average"
        )
    return crf


@dataclass
class _FitRun:
    """The state one ``fit`` shares between its phases."""

    config: FitConfig
    data: TrainingImages
    maps: Tensor  # (M, N, 1, S, S) hand-crafted maps
    gts: list[np.ndarray | None] | None
    init: str | os.PathLike[str] | None
    device: torch.device
    crf: str | None
    workers: int
    progress: bool

    def pseudo_labels(self, m: int) -> Tensor:
        """Method ``m``'s map binarised at its threshold: the labels phase I starts from."""
        return (self.maps[m] >= self.config.threshold_of(self.config.methods[m])).float()

    def phase1(self, m: int, entry: dict[str, Any]) -> Tensor:
        """Train method ``m``'s network with refinement rounds; its refined labels (scores in ``entry``)."""
        method = self.config.methods[m]
        state = {"targets": self.pseudo_labels(m)}

        def update(average: Tensor) -> None:
            if self.crf:
                average = crf_smoothed(
                    self.data.images, average, self.workers, self.progress, f"dense CRF {method}"
                )
            state["targets"] = (average >= 0.5).float()

        model, _ = _fresh_network(self.config, self.init)
        entry["losses"] = train(
            model,
            self.data.images,
            lambda: [state["targets"]],
            epochs=self.config.epochs_per_round,
            rounds=self.config.rounds,
            lr=self.config.lr_phase1,
            config=self.config,
            device=self.device,
            name=f"phase I {method}",
            on_round_end=update,
            progress=self.progress,
        )
        if self.gts is not None:
            entry["network"] = score(predict_all(model, self.data.images, self.device), self.gts)
            entry["refined_labels"] = score(state["targets"], self.gts)
        return state["targets"]

    def phase2(self, targets: list[Tensor]) -> tuple[SaliencyFCN, dict[str, Any], list[float]]:
        """The detector: a fresh network trained on every label set in ``targets`` at once."""
        model, init_meta = _fresh_network(self.config, self.init)
        losses = train(
            model,
            self.data.images,
            lambda: targets,
            epochs=self.config.phase2_epochs,
            rounds=1,
            lr=self.config.lr_phase2,
            config=self.config,
            device=self.device,
            name="phase II",
            views=self.config.phase2_views,
            progress=self.progress,
        )
        return model, init_meta, losses


def _phase1_all(run: _FitRun, summary: dict[str, Any]) -> list[Tensor]:
    """Score every method's pseudo-labels and (unless phase II learns them directly) refine them."""
    refined = []
    for m, method in enumerate(run.config.methods):
        entry: dict[str, Any] = {"threshold": run.config.threshold_of(method)}
        if run.gts is not None:
            entry["pseudo_labels"] = score(run.maps[m], run.gts)
            entry["pseudo_labels_binary"] = score(run.pseudo_labels(m), run.gts)
        summary["phase1"][method] = entry
        if run.config.phase2_labels != "pseudo":
            refined.append(run.phase1(m, entry))
    return refined


def _phase2_targets(run: _FitRun, refined: list[Tensor]) -> list[Tensor]:
    if run.config.phase2_labels == "refined":
        return refined
    # rebuilt here, not kept through phase I: each set is N x S x S floats
    hand_crafted = [run.pseudo_labels(m) for m in range(len(run.config.methods))]
    return hand_crafted if run.config.phase2_labels == "pseudo" else refined + hand_crafted


def _prepare_run(
    image_root: str | os.PathLike[str],
    config: FitConfig,
    *,
    init: str | os.PathLike[str] | None,
    gt_root: str | os.PathLike[str] | None,
    device: str,
    workers: int | None,
    progress: bool,
) -> _FitRun:
    """Seed, load the training images, read the ground truth, compute the hand-crafted maps."""
    seed_everything(config.seed)
    crf = _resolve_crf(config)
    data = load_training_images(image_root, config.image_size, config.max_images, progress)
    # Read (and size-checked) before the hand-crafted maps: a bad mask stops the run before the work.
    gts = None if gt_root is None else ground_truth(gt_root, data.relpaths, config.image_size, data.sizes)
    n_workers = workers if workers is not None else (os.cpu_count() or 1)
    sizes = (config.handcrafted_size, config.image_size)
    maps = handcrafted_maps(image_root, data.relpaths, config.methods, *sizes, n_workers, progress)
    return _FitRun(config, data, maps, gts, init, torch.device(device), crf, n_workers, progress)


def fit(
    image_root: str | os.PathLike[str],
    out: str | os.PathLike[str],
    config: FitConfig,
    *,
    init: str | os.PathLike[str] | None = None,
    gt_root: str | os.PathLike[str] | None = None,
    device: str = "cpu",
    workers: int | None = None,
    progress: bool = True,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Run both phases, write the detector checkpoint to ``out``, return a JSON-ready summary.

    Inputs and ``out`` are checked first (``check_fit_inputs``); an existing ``out`` is replaced
    only with ``overwrite``."""
    check_fit_inputs(image_root, out, config, init=init, gt_root=gt_root, device=device, overwrite=overwrite)
    run = _prepare_run(
        image_root, config, init=init, gt_root=gt_root, device=device, workers=workers, progress=progress
    )
    summary: dict[str, Any] = {
        "n_images": len(run.data.relpaths),
        "skipped": run.data.skipped,
        "crf": f"pydensecrf {run.crf}" if run.crf else "none (thresholded moving average)",
        "phase1": {},
    }
    refined = _phase1_all(run, summary)
    model, init_meta, summary["phase2_losses"] = run.phase2(_phase2_targets(run, refined))
    if run.gts is not None:
        summary["detector"] = score(predict_all(model, run.data.images, run.device), run.gts)
        prior = torch.from_numpy(centre_prior(config.image_size, config.image_size)).float()
        summary["centre_prior"] = score(prior.expand(len(run.data.relpaths), 1, -1, -1), run.gts)
    meta = {**init_meta, "config": config_to_dict(config), "summary": summary, "trained_on": str(image_root)}
    save_fcn(out, model, image_size=config.image_size, meta=meta)
    summary["init"] = init_meta.get("init")
    summary["checkpoint"] = str(out)
    return summary


def config_with(preset: str, overrides: dict[str, Any]) -> FitConfig:
    """A preset with the given fields replaced (``None`` values are ignored)."""
    check_choice("preset", preset, PRESETS)
    given = {k: v for k, v in overrides.items() if v is not None}
    return dataclasses.replace(PRESETS[preset], **given)
