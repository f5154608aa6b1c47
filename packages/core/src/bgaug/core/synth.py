"""Generate the synthetic foreground/background benchmark with exact ground truth.

K classes (default 9, like ImageNet-9): class k is an object silhouette family (disc, square,
triangle, star, cross, ring, crescent, heart, arrow, ...) drawn at a random pose, colour and surface
texture; its usual background is texture family k (brick, grass, gravel, stripes, checker, clouds,
dots, ripples, speckle, ...) with random crop, scale, rotation and colours. An image's background is
its class's family with probability --pretrain-bg-corr, else another family uniformly (the same
correlation in every split), so backgrounds are predictive but not decisive.

Layout under --out (class folders c0..c{K-1}, ImageFolder order):
  pretrain/{class}/NNNNNN.png       unlabelled for SSL (class folders kept so labels can be read)
  train/{class}/NNNNNN.png          labelled
  val/{class}/NNNNNN.png            labelled
  masks/{split}/{class}/NNNNNN.png  binary ground-truth masks (255 = foreground), same paths
  in9/{variant}/val/{class}/NNNNNN.png  the ImageNet-9 variants of val, and in9/fg_mask/val/...
  manifest.json                     parameters, and every file's class, background family, source
                                    and sha256; written last, so its presence means "complete"

The same seed and parameters give byte-identical files. See docs/benchmark.md.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from tqdm import tqdm

from bgaug.core.config import check_probability, check_range, config_to_dict
from bgaug.core.errors import UsageError
from bgaug.core.io import atomic_write_json, load_image, load_mask, save_png, sha256_bytes, sync_to_disk
from bgaug.core.preflight import check_json_out
from bgaug.core.synth_backgrounds import BACKGROUND_NAMES
from bgaug.core.synth_in9 import MIXED, VARIANTS, mixed_sources, only_bg_t, variants
from bgaug.core.synth_scene import background_family, draw_scene
from bgaug.core.synth_shapes import SHAPE_NAMES

GENERATOR = "bgaug.core.synth"
GENERATOR_VERSION = "1"
SPLITS: tuple[str, ...] = ("pretrain", "train", "val")
MAX_CLASSES = min(len(SHAPE_NAMES), len(BACKGROUND_NAMES))
MIN_IMAGE_SIZE, MAX_IMAGE_SIZE = 32, 512
MAX_PER_CLASS = 1_000_000  # six-digit file names

R = TypeVar("R")


@dataclass(frozen=True)
class SynthConfig:
    """Every parameter of the benchmark (recorded in ``manifest.json``)."""

    seed: int = 0
    image_size: int = 64
    classes: int = 9
    pretrain_per_class: int = 300
    train_per_class: int = 100
    val_per_class: int = 50
    pretrain_bg_corr: float = 0.9

    def __post_init__(self) -> None:
        for name in (
            "seed",
            "image_size",
            "classes",
            "pretrain_per_class",
            "train_per_class",
            "val_per_class",
        ):
            if isinstance(getattr(self, name), bool) or not isinstance(getattr(self, name), int):
                raise UsageError(f"{name} must be an integer, got {getattr(self, name)!r}")
        check_range("seed", self.seed, 0, 2**63 - 1)
        check_range("image_size", self.image_size, MIN_IMAGE_SIZE, MAX_IMAGE_SIZE)
        check_range("classes", self.classes, 2, MAX_CLASSES)
        check_range("pretrain_per_class", self.pretrain_per_class, 0, MAX_PER_CLASS - 1)
        check_range("train_per_class", self.train_per_class, 1, MAX_PER_CLASS - 1)
        check_range("val_per_class", self.val_per_class, 2, MAX_PER_CLASS - 1)
        check_probability("pretrain_bg_corr", self.pretrain_bg_corr)

    def per_class(self, split: str) -> int:
        return {
            "pretrain": self.pretrain_per_class,
            "train": self.train_per_class,
            "val": self.val_per_class,
        }[split]

    def class_folder(self, label: int) -> str:
        """``c3`` for K <= 10, ``c03`` beyond, so folder order (ImageFolder's labels) is class order."""
        return f"c{label:0{len(str(self.classes - 1))}d}"

    def image_path(self, split: str, label: int, index: int) -> str:
        return f"{split}/{self.class_folder(label)}/{index:06d}.png"


def _scene_job(config: SynthConfig, out: str, split: str, label: int, index: int) -> dict[str, Any]:
    scene = draw_scene(
        config.seed,
        split,
        label,
        index,
        size=config.image_size,
        classes=config.classes,
        bg_corr=config.pretrain_bg_corr,
    )
    path = config.image_path(split, label, index)
    image_bytes = save_png(Path(out) / path, scene.image, durable=False)
    mask_bytes = save_png(Path(out) / "masks" / path, scene.mask, durable=False)
    return {
        "path": path,
        "mask": f"masks/{path}",
        "class": label,
        "background": scene.background_family,
        "sha256": sha256_bytes(image_bytes),
        "mask_sha256": sha256_bytes(mask_bytes),
    }


def _in9_job(config: SynthConfig, out: str, label: int, index: int) -> list[dict[str, Any]]:
    root = Path(out)

    def read(src_label: int, src_index: int) -> tuple[Any, Any]:
        path = config.image_path("val", src_label, src_index)
        image = load_image(root / path)
        return image, load_mask(root / "masks" / path, size=image.shape[:2])

    image, mask = read(label, index)
    sources = mixed_sources(config.seed, label, index, config.classes, config.val_per_class)
    backgrounds = {name: only_bg_t(*read(src.label, src.index)) for name, src in sources.items()}
    own = config.image_path("val", label, index)
    name = own.split("/", 1)[1]  # {class}/NNNNNN.png: the same file name in every variant
    records = []
    for variant, array in variants(image, mask, backgrounds).items():
        src = sources.get(variant)
        bg_label, bg_index = (src.label, src.index) if src else (label, index)
        data = save_png(root / "in9" / variant / "val" / name, array, durable=False)
        records.append(
            {
                "path": f"in9/{variant}/val/{name}",
                "variant": variant,
                "class": label,
                "foreground_source": own,
                "background_source": config.image_path("val", bg_label, bg_index),
                "background_class": bg_label,
                "background": background_family(
                    config.seed, "val", bg_label, bg_index, config.classes, config.pretrain_bg_corr
                ),
                "sha256": sha256_bytes(data),
            }
        )
    mask_bytes = save_png(root / "in9" / "fg_mask" / "val" / name, mask, durable=False)
    records.append(
        {
            "path": f"in9/fg_mask/val/{name}",
            "variant": "fg_mask",
            "class": label,
            "sha256": sha256_bytes(mask_bytes),
        }
    )
    return records


def _star(args: tuple[Callable[..., R], tuple[Any, ...]]) -> R:
    fn, fn_args = args
    return fn(*fn_args)


def _run_jobs(
    fn: Callable[..., R], jobs: list[tuple[Any, ...]], workers: int, desc: str, progress: bool
) -> list[R]:
    """Run ``fn(*job)`` for every job, in a process pool when ``workers > 1``; results in job order."""
    calls = [(fn, job) for job in jobs]
    with contextlib.ExitStack() as stack:
        if workers <= 1:
            results: Iterator[R] = map(_star, calls)
        else:
            pool = stack.enter_context(ProcessPoolExecutor(max_workers=workers))
            results = pool.map(_star, calls, chunksize=max(1, len(jobs) // (workers * 16)))
        return list(tqdm(results, total=len(jobs), desc=desc, unit="img", disable=not progress))


def _prepare_out(out: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"--out {out} exists and is not a directory")
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise FileExistsError(f"--out {out} is not empty (pass --overwrite to replace a benchmark there)")
        if not (out / "manifest.json").is_file():
            raise FileExistsError(
                f"--out {out} is not empty and holds no manifest.json: refusing to delete what "
                "may not be a benchmark"
            )
        for name in (*SPLITS, "masks", "in9"):
            shutil.rmtree(out / name, ignore_errors=True)
        (out / "manifest.json").unlink()
    out.mkdir(parents=True, exist_ok=True)


def generate(
    config: SynthConfig,
    out: str | os.PathLike[str],
    *,
    workers: int = 1,
    progress: bool = True,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Write the benchmark under ``out`` and return its manifest (also written to manifest.json)."""
    root = Path(out)
    _prepare_out(root, overwrite)
    jobs = [
        (config, str(root), split, label, index)
        for split in SPLITS
        for label in range(config.classes)
        for index in range(config.per_class(split))
    ]
    images = _run_jobs(_scene_job, jobs, workers, "synth images", progress)
    in9_jobs = [
        (config, str(root), label, index)
        for label in range(config.classes)
        for index in range(config.val_per_class)
    ]
    in9 = [
        record for group in _run_jobs(_in9_job, in9_jobs, workers, "synth in9", progress) for record in group
    ]
    manifest = {
        "generator": GENERATOR,
        "version": GENERATOR_VERSION,
        "params": config_to_dict(config),
        "classes": [
            {
                "index": k,
                "folder": config.class_folder(k),
                "shape": SHAPE_NAMES[k],
                "background": BACKGROUND_NAMES[k],
            }
            for k in range(config.classes)
        ],
        "background_families": list(BACKGROUND_NAMES[: config.classes]),
        "variants": [*VARIANTS, "fg_mask"],
        "mixed_variants": list(MIXED),
        "images": {split: [r for r in images if r["path"].startswith(f"{split}/")] for split in SPLITS},
        "in9": {v: [r for r in in9 if r["variant"] == v] for v in (*VARIANTS, "fg_mask")},
    }
    # The images were written without a per-file fsync (it made generation fsync-bound); one sync
    # before the manifest keeps its meaning: when it exists, every file it lists is on disk.
    sync_to_disk()
    atomic_write_json(root / "manifest.json", manifest, indent=1)
    return manifest


def summarize(manifest: dict[str, Any]) -> dict[str, Any]:
    """Counts and the realised background correlation per split."""
    splits = {}
    for split, records in manifest["images"].items():
        matched = sum(r["background"] == r["class"] for r in records)
        splits[split] = {"images": len(records), "bg_corr": matched / len(records) if records else None}
    return {
        "generator": manifest["generator"],
        "version": manifest["version"],
        "params": manifest["params"],
        "splits": splits,
        "in9_images_per_variant": len(manifest["in9"]["original"]),
    }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    d = SynthConfig()
    parser.add_argument("--out", required=True, help="output directory (created; must be empty)")
    parser.add_argument("--seed", type=int, default=d.seed, help="root seed (default %(default)s)")
    parser.add_argument(
        "--image-size",
        type=int,
        default=d.image_size,
        help=f"side of the square images, {MIN_IMAGE_SIZE}..{MAX_IMAGE_SIZE} (default %(default)s)",
    )
    parser.add_argument(
        "--classes",
        type=int,
        default=d.classes,
        help=f"number of classes, 2..{MAX_CLASSES} (default %(default)s)",
    )
    parser.add_argument(
        "--pretrain-per-class", type=int, default=d.pretrain_per_class, help="(default %(default)s)"
    )
    parser.add_argument(
        "--train-per-class", type=int, default=d.train_per_class, help="(default %(default)s)"
    )
    parser.add_argument(
        "--val-per-class", type=int, default=d.val_per_class, help=">= 2 (default %(default)s)"
    )
    parser.add_argument(
        "--pretrain-bg-corr",
        type=float,
        default=d.pretrain_bg_corr,
        help="probability that an image's background family is its class's own, in every split "
        "(default %(default)s)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=min(2 * (os.cpu_count() or 1), 8),
        help="worker processes (default: twice the CPU count, at most 8, as writing is fsync-bound; "
        "1 = no pool)",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace a benchmark already in --out")
    parser.add_argument(
        "--preview", metavar="FILE.png", help="also write a contact sheet of classes and variants"
    )
    parser.add_argument(
        "--json", metavar="FILE", help="write a summary (counts, realised bg correlation) as JSON"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def run_from_args(args: argparse.Namespace) -> int:
    check_json_out(args.json)  # before the work, not after it
    if args.workers < 1:
        raise UsageError(f"--workers must be >= 1, got {args.workers}")
    if args.preview is not None and not str(args.preview).lower().endswith(".png"):
        raise UsageError(f"--preview must name a .png file, got {args.preview}")
    config = SynthConfig(
        seed=args.seed,
        image_size=args.image_size,
        classes=args.classes,
        pretrain_per_class=args.pretrain_per_class,
        train_per_class=args.train_per_class,
        val_per_class=args.val_per_class,
        pretrain_bg_corr=args.pretrain_bg_corr,
    )
    start = time.perf_counter()
    manifest = generate(
        config, args.out, workers=args.workers, progress=not args.quiet, overwrite=args.overwrite
    )
    summary = summarize(manifest) | {"seconds": round(time.perf_counter() - start, 3), "out": str(args.out)}
    if args.preview is not None:
        from bgaug.core.synth_preview import write_preview

        write_preview(args.out, args.preview)
    if args.json is not None:
        atomic_write_json(args.json, summary)
    corr = ", ".join(
        f"{s} {v['images']} (bg corr {v['bg_corr']:.3f})" for s, v in summary["splits"].items() if v["images"]
    )
    print(
        f"wrote {args.out}: {corr}; in9 {summary['in9_images_per_variant']} per variant; "
        f"{summary['seconds']:.1f} s"
    )
    return 0
