"""Throughput of the hand-crafted methods and the dense CRF (images/s on one core) and of the detector
(images/s); with ``--pack``, the mask pack's size per mask and random reads/s (``run_pack_bench``).

Besides the drawn ``size``-px scenes, each hand-crafted method is timed on scikit-image's bundled
photographs (astronaut, chelsea, coffee, rocket) resized to longest sides ``photo_sides``: the sizes
of real photographs, where a method's cost used to grow with the image (issue 24.3)."""

from __future__ import annotations

import platform
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bgaug.core.config import check_choice
from bgaug.core.errors import UsageError
from bgaug.core.preflight import check_device
from bgaug.saliency.crf import crf_version, dense_crf
from bgaug.saliency.handcrafted import METHODS
from bgaug.saliency.metrics import centre_prior


def _scene(size: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = rng.normal(0, 12, (size, size, 3)) + rng.uniform(40, 140, 3)
    yy, xx = np.mgrid[0:size, 0:size]
    inside = (yy - size * 0.5) ** 2 + (xx - size * 0.45) ** 2 < (size * 0.2) ** 2
    img[inside] += 90
    return img.clip(0, 255).astype(np.uint8)


@dataclass(frozen=True)
class BenchResult:
    """What ``run_bench`` measured, and where; ``to_json()`` is the dict printed and written to ``--json``.

    ``per_core`` holds ``<method>_images_per_s_per_core`` for each hand-crafted method (and ``crf``
    when pydensecrf is installed, ``crf`` then naming its version); ``photo_rates`` the
    ``photo_<method>_images_per_cpu_s`` / ``..._per_s_wall`` rates on the photographs at
    ``photo_sides`` (none when ``photo_sides`` is empty)."""

    size: int
    n_images: int
    machine: str
    torch_threads: int
    device: str
    per_core: Mapping[str, float]
    detector: str
    detector_batch_size: int
    detector_image_size: int
    detector_images_per_s: float
    detector_model_image_size: int
    detector_model_images_per_s: float
    detector_model_images_per_s_bf16_autocast: float | None = None
    """On CUDA only: the network alone under bfloat16 autocast."""
    crf: str | None = None
    photo_sides: tuple[int, ...] = ()
    photo_rates: Mapping[str, float] | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "size": self.size,
            "n_images": self.n_images,
            "machine": self.machine,
            "torch_threads": self.torch_threads,
            "device": self.device,
        }
        if self.crf is not None:
            data["crf"] = self.crf
        data.update(self.per_core)
        if self.photo_sides:
            data.update(photo_sides=list(self.photo_sides), photo_names=list(PHOTOS))
            data.update(self.photo_rates or {})
        data.update(
            detector=self.detector,
            detector_batch_size=self.detector_batch_size,
            detector_image_size=self.detector_image_size,
            detector_images_per_s=self.detector_images_per_s,
            detector_model_image_size=self.detector_model_image_size,
            detector_model_images_per_s=self.detector_model_images_per_s,
        )
        if self.detector_model_images_per_s_bf16_autocast is not None:
            data["detector_model_images_per_s_bf16_autocast"] = self.detector_model_images_per_s_bf16_autocast
        return data


def run_bench(
    *,
    size: int = 300,
    n_images: int = 8,
    checkpoint: str | None = None,
    device: str = "cpu",
    preset: str = "quick",
    batch_size: int = 32,
    model_size: int | None = None,
    repeats: int = 3,
    photo_sides: Sequence[int] = (),
) -> BenchResult:
    """Hand-crafted methods one image at a time on one core; the detector two ways, batched.

    ``detector_images_per_s`` is ``predict_arrays`` on ``batch_size`` drawn ``size``-px RGB arrays in
    host memory (transfer, resizing and upsampling included: what ``predict`` costs per image).
    ``detector_model_images_per_s`` is the network alone on a batch already on the device at
    ``model_size`` px (default: the detector's training size), synchronised: the ceiling (on CUDA
    also under bfloat16 autocast). Each is the best of ``repeats`` timed batches after one warm-up
    batch. Without ``checkpoint`` the network is a randomly initialised ``preset`` one (same cost as
    a trained one)."""
    if size < 16 or n_images < 1 or batch_size < 1 or repeats < 1:
        raise UsageError("size must be >= 16 and n_images, batch_size and repeats >= 1")
    if model_size is not None and model_size < 16:
        raise UsageError(f"model_size must be >= 16, got {model_size}")
    check_device(device)
    images = [_scene(size, i) for i in range(max(n_images, batch_size))]
    crf, per_core = _per_core_rates(images[:n_images], size)
    photos = photo_rates(photo_sides) if photo_sides else None
    from bgaug.saliency.fcn import FCNDetector, SaliencyFCN, load_detector

    if checkpoint:
        detector, _ = load_detector(checkpoint, device)
        name = str(checkpoint)
    else:
        from bgaug.saliency.deepusps import PRESETS

        check_choice("preset", preset, PRESETS)
        q = PRESETS[preset]
        model = SaliencyFCN(q.arch, small_stem=q.small_stem, output_stride=q.output_stride, decoder=q.decoder)
        detector = FCNDetector(model, q.image_size, device)
        name = f"random {preset} preset ({q.arch})"
    batch = images[:batch_size]
    predict_s = _best_seconds(lambda: detector.predict_arrays(batch), repeats, detector.device)
    side = model_size or detector.image_size
    x = torch.rand(batch_size, 3, side, side, device=detector.device)
    with torch.no_grad():
        seconds = _best_seconds(lambda: detector.network_maps(x), repeats, detector.device)
    bf16 = None
    if detector.device.type == "cuda":
        # predict runs in float32; this says what bfloat16 autocast would gain before it is offered
        with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16):
            bf16 = batch_size / _best_seconds(lambda: detector.network_maps(x), repeats, detector.device)
    return BenchResult(
        size=size,
        n_images=n_images,
        machine=platform.processor() or platform.machine(),
        torch_threads=torch.get_num_threads(),
        device=device,
        per_core=per_core,
        crf=crf,
        photo_sides=tuple(photo_sides),
        photo_rates=photos,
        detector=name,
        detector_batch_size=batch_size,
        detector_image_size=detector.image_size,
        detector_images_per_s=batch_size / predict_s,
        detector_model_image_size=side,
        detector_model_images_per_s=batch_size / seconds,
        detector_model_images_per_s_bf16_autocast=bf16,
    )


def _per_core_rates(images: list[np.ndarray], size: int) -> tuple[str | None, dict[str, float]]:
    """The CRF's version (None when not installed) and the images/s of each hand-crafted method (and
    the CRF, when installed), one image at a time."""
    per_core: dict[str, Callable[[np.ndarray], Any]] = dict(METHODS)
    result: dict[str, float] = {}
    crf = crf_version()
    if crf is not None:  # the CRF ``fit --crf`` runs on each phase-I average, per image and method
        prior = centre_prior(size, size)
        per_core["crf"] = lambda image: dense_crf(image, prior)
    for name, fn in per_core.items():
        fn(images[0])  # warm-up
        t = time.perf_counter()
        for image in images:
            fn(image)
        result[f"{name}_images_per_s_per_core"] = len(images) / (time.perf_counter() - t)
    return crf, result


PHOTOS = ("astronaut", "chelsea", "coffee", "rocket")


def bench_photos(sides: Sequence[int]) -> list[np.ndarray]:
    """scikit-image's bundled photographs, each resized (antialiased) to every longest side in ``sides``."""
    from skimage import data

    from bgaug.saliency.handcrafted.working_size import resize_image

    out = []
    for side in sides:
        for name in PHOTOS:
            photo = getattr(data, name)()
            h, w = photo.shape[:2]
            scale = side / max(h, w)
            out.append(resize_image(photo, (max(2, round(h * scale)), max(2, round(w * scale)))))
    return out


def photo_rates(sides: Sequence[int]) -> dict[str, float]:
    """Images per CPU-second of each hand-crafted method (one thread, one image at a time) on the
    bench photographs, with the wall-clock rate beside it.

    CPU time counts what this process ran; on a shared machine the wall-clock rate also counts the
    time slices other processes took. (``BenchResult`` adds the sides and the photographs' names.)"""
    photos = bench_photos(sides)
    result: dict[str, float] = {}
    for name, fn in METHODS.items():
        fn(photos[0])  # warm-up (imports, caches)
        cpu, wall = time.process_time(), time.perf_counter()
        for photo in photos:
            fn(photo)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        result[f"photo_{name}_images_per_cpu_s"] = len(photos) / max(cpu, 1e-9)
        result[f"photo_{name}_images_per_s_wall"] = len(photos) / max(wall, 1e-9)
    return result


def _best_seconds(fn: Callable[[], Any], repeats: int, device: torch.device) -> float:
    """Fastest of ``repeats`` calls after one warm-up, the device synchronised around each call."""

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    fn()
    best = float("inf")
    for _ in range(repeats):
        sync()
        t = time.perf_counter()
        fn()
        sync()
        best = min(best, time.perf_counter() - t)
    return best


IMAGENET_TRAIN = 1_281_167
PACK_SHAPES = ((375, 500), (500, 375))
"""ImageNet's two most common image sizes (H, W); the bench alternates them."""


def pack_bench_masks(n: int, seed: int = 0) -> list[np.ndarray]:
    """``n`` object masks of core's synthetic scenes, drawn at 500x500 and resized (nearest) to
    500x375 / 375x500 in turn: realistic silhouettes at ImageNet-like sizes."""
    from PIL import Image

    from bgaug.core.synth_scene import draw_scene

    masks = []
    for i in range(n):
        scene = draw_scene(seed, "train", i % 10, i, size=500, classes=10, bg_corr=0.9)
        h, w = PACK_SHAPES[i % 2]
        masks.append(np.asarray(Image.fromarray(scene.mask).resize((w, h), Image.Resampling.NEAREST)))
    return masks


def _rates(work: list[Any], fn: Callable[[Any], Any], rounds: int = 5) -> dict[str, float]:
    """Calls per second of ``fn`` over ``work``, timed in ``rounds`` rounds.

    On a shared machine other processes steal whole time slices, so beside the median round (what this
    machine gave) the bench reports the best round and calls per second of this process's CPU time
    (what the code costs)."""
    rates = []
    cpu = time.process_time()
    for chunk in np.array_split(np.arange(len(work)), min(rounds, len(work))):
        items = [work[j] for j in chunk.tolist()]
        t = time.perf_counter()
        for item in items:
            fn(item)
        rates.append(len(items) / (time.perf_counter() - t))
    cpu = time.process_time() - cpu
    return {"best": max(rates), "median": float(np.median(rates)), "per_cpu_s": len(work) / max(cpu, 1e-9)}


@dataclass(frozen=True)
class PackBenchResult:
    """What ``run_pack_bench`` measured; ``to_json()`` is the dict printed and written to ``--json``
    (every key prefixed ``pack_``, except ``machine``). Rates are per second of wall-clock time (best
    round, or the median round) or per CPU-second."""

    masks: int
    distinct_masks: int
    codec: str
    level: int | None
    mask_bytes_per_mask: float
    bytes_per_mask: float
    projected_gb_imagenet: float
    random_reads_per_s: float
    random_reads_per_s_median: float
    random_reads_per_cpu_s: float
    decode_only_per_s: float
    index_of_per_s: float
    write_masks_per_s: float
    draw_s: float
    machine: str
    shapes: tuple[tuple[int, int], ...] = PACK_SHAPES

    @property
    def index_and_paths_bytes_per_mask(self) -> float:
        return self.bytes_per_mask - self.mask_bytes_per_mask

    def to_json(self) -> dict[str, Any]:
        return {
            "pack_masks": self.masks,
            "pack_distinct_masks": self.distinct_masks,
            "pack_shapes": [list(s) for s in self.shapes],
            "pack_codec": self.codec,
            "pack_level": self.level,
            "pack_mask_bytes_per_mask": self.mask_bytes_per_mask,
            "pack_bytes_per_mask": self.bytes_per_mask,
            "pack_index_and_paths_bytes_per_mask": self.index_and_paths_bytes_per_mask,
            "pack_projected_gb_imagenet": self.projected_gb_imagenet,
            "pack_random_reads_per_s": self.random_reads_per_s,
            "pack_random_reads_per_s_median": self.random_reads_per_s_median,
            "pack_random_reads_per_cpu_s": self.random_reads_per_cpu_s,
            "pack_decode_only_per_s": self.decode_only_per_s,
            "pack_index_of_per_s": self.index_of_per_s,
            "pack_write_masks_per_s": self.write_masks_per_s,
            "pack_draw_s": self.draw_s,
            "machine": self.machine,
        }


def run_pack_bench(
    *,
    n_masks: int = 20_000,
    n_distinct: int = 200,
    reads: int = 20_000,
    seed: int = 0,
    codec: str | None = None,
    level: int | None = None,
) -> PackBenchResult:
    """Pack ``n_masks`` entries (``n_distinct`` drawn masks, repeated) and time single-process reads.

    Reads are ``PackedMaskBank.mask(i)`` at uniformly random indices with the pack in the page cache
    (a training node's steady state), timed in 5 rounds (best round and median reported). Paths are
    ImageNet-like (``nXXXXXXXX/nXXXXXXXX_N.JPEG``) so the projection for 1.28M images counts
    realistic path bytes.
    """
    from bgaug.saliency.pack import DEFAULT_CODEC, PackedMaskBank, PackItem, decode_mask, write_pack

    if n_masks < 1 or not 1 <= n_distinct <= n_masks or reads < 1:
        raise UsageError("need n_masks >= 1, 1 <= n_distinct <= n_masks and reads >= 1")
    t = time.perf_counter()
    masks = pack_bench_masks(n_distinct, seed)
    draw_s = time.perf_counter() - t
    wnid = [f"n{1440764 + 1000 * c:08d}" for c in range(1000)]
    paths = sorted(f"{wnid[i % 1000]}/{wnid[i % 1000]}_{i}.JPEG" for i in range(n_masks))
    items = (PackItem(p, masks[i % n_distinct], "ok") for i, p in enumerate(paths))
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "pack"
        t = time.perf_counter()
        config = write_pack(
            out,
            items,
            source={"kind": "bench"},
            total=n_masks,
            progress=False,
            codec=codec or DEFAULT_CODEC,
            level=level,
        )
        write_s = time.perf_counter() - t
        bank = PackedMaskBank(out)
        order = np.random.default_rng(seed).integers(0, n_masks, reads).tolist()
        bank.mask(0)  # open the maps outside the timing
        mask_rates = _rates(order, bank.mask)
        sample = order[: min(reads, 2000)]
        raw = [(bank.mask_bytes(i), *bank.size(i)) for i in sample]
        decode_rates = _rates(raw, lambda item: decode_mask(item[0], item[1], item[2], bank.codec))
        index_of_rates = _rates([paths[i] for i in sample], bank.index_of)
        bank.close()
    sizes = config["bytes"]
    per_mask = sizes["masks"] / n_masks
    per_entry = sum(sizes.values()) / n_masks
    return PackBenchResult(
        masks=n_masks,
        distinct_masks=n_distinct,
        codec=config["encoding"]["codec"],
        level=config["encoding"]["level"],
        mask_bytes_per_mask=per_mask,
        bytes_per_mask=per_entry,
        projected_gb_imagenet=per_entry * IMAGENET_TRAIN / 1e9,
        random_reads_per_s=mask_rates["best"],
        random_reads_per_s_median=mask_rates["median"],
        random_reads_per_cpu_s=mask_rates["per_cpu_s"],
        decode_only_per_s=decode_rates["best"],
        index_of_per_s=index_of_rates["best"],
        write_masks_per_s=n_masks / write_s,
        draw_s=draw_s,
        machine=platform.processor() or platform.machine(),
    )
