"""``bgaug demo``: the paper's whole pipeline at small scale, on a CPU, with no download.

Stages (each cached under ``--out`` by a hash of its configuration, so a re-run skips finished stages,
also after the folder was moved, and a killed run resumes where it stopped; pretraining also resumes
mid-run from its checkpoint; the hash covers the configuration, not bgaug's version, so after an
upgrade that changes results, use a new ``--out``):

1. ``data``: the embedded synthetic benchmark (``python -m bgaug.core synth``), fixed seed 0.
2. ``masks``: unsupervised masks, no labels anywhere: the mask bank of the pretrain split from hand-crafted
   saliency (DSR, ``python -m bgaug.saliency handcrafted``), scored against the benchmark's exact ground
   truth; the default and science presets also run a short DeepUSPS2 fit (hand-crafted pseudo-labels ->
   phase-I networks -> fused detector, ``fit --preset quick``) on a subset and report its scores.
3. ``runs``: pretraining with the masks of stage 2: MoCo-v2 baseline, + BG_RM, + BG_Swaps; BYOL
   baseline and + BG_Random (``bgaug pretrain --workers 0``), one run per seed.
4. ``eval``: linear evaluation on the labelled train split, then the ImageNet-9 variants and BG-Gap
   (``python -m bgaug.evals run --suites in9``).
5. ``report.md`` with the tables and figures (masks over images, q / k+ / matched-negative grids,
   BG-Gap bars, accuracy per variant).

Presets: ``quick`` (<= 3 minutes on 2 cores: a smaller benchmark, short schedules), ``default``
(<= 15 minutes), ``science`` (what ``nox -s science`` runs: longer schedules, RotNet and supervised
controls, several seeds; prints the paper's claims as REPRODUCED / NOT REPRODUCED).
The schedules are scaled down from the paper (hundreds of steps, not hundreds of epochs of ImageNet):
MoCo's key-encoder momentum is 0.99 and its queue 1,024 keys so they act within such short runs; the
background-augmentation probabilities, FG_min and everything else are the paper's values.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from bgaug.core.cli import UserError
from bgaug.core.io import atomic_write_json, load_image, load_mask, save_png
from bgaug.launch.report import RANDOM_WEIGHTS

STAGE_FILE = ".stage.json"

Run = tuple[str, str]
PAPER_RUNS: tuple[Run, ...] = (
    ("moco_v2", "none"),
    ("moco_v2", "bg_rm"),
    ("moco_v2", "bg_swaps"),
    ("byol", "none"),
    ("byol", "bg_random"),
)
CONTROL_RUNS: tuple[Run, ...] = (
    ("rotnet", "none"),
    ("rotnet", "bg_rm"),
    ("supervised", "none"),
    ("supervised", "bg_random"),
)


@dataclass(frozen=True)
class Preset:
    """Everything a demo run depends on; its parts are hashed into the stage cache keys."""

    synth: Mapping[str, int | float] = field(default_factory=dict)
    saliency: Mapping[str, int | float | str] = field(default_factory=dict)
    runs: tuple[Run, ...] = PAPER_RUNS
    pretrain: Mapping[str, Any] = field(default_factory=dict)
    method_options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    linear_epochs: int = 30
    seeds: int = 1


_METHOD_OPTIONS: dict[str, dict[str, Any]] = {
    "moco_v2": {"hidden_dim": 512, "out_dim": 128, "queue_size": 1024, "momentum": 0.99},
    "byol": {"hidden_dim": 512, "out_dim": 128},
    "simclr": {"hidden_dim": 512, "out_dim": 128},
    "swav": {"hidden_dim": 512, "out_dim": 128, "n_prototypes": 100},
}

PRESETS: dict[str, Preset] = {
    "quick": Preset(
        synth={"image_size": 64, "pretrain_per_class": 64, "train_per_class": 30, "val_per_class": 20},
        saliency={},  # no DeepUSPS2 fit in the quick demo
        pretrain={"epochs": 2, "batch_size": 64, "arch": "resnet10_w16", "image_size": 56},
        method_options=_METHOD_OPTIONS,
        linear_epochs=20,
    ),
    "default": Preset(
        synth={},
        saliency={"max_images": 90, "methods": "dsr,mbd"},
        pretrain={"epochs": 20, "batch_size": 128, "arch": "resnet10_w16", "image_size": 56},
        method_options=_METHOD_OPTIONS,
    ),
    "science": Preset(
        synth={},
        saliency={"max_images": 400},
        runs=PAPER_RUNS + CONTROL_RUNS,
        pretrain={"epochs": 30, "batch_size": 128, "arch": "resnet10_w16", "image_size": 56},
        method_options=_METHOD_OPTIONS,
        linear_epochs=50,
        seeds=3,
    ),
}


def _key(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _relocated(value: Any, old: str, new: str) -> Any:
    """``value`` with every path string under ``old`` moved to ``new`` (dicts and lists walked)."""
    if isinstance(value, str) and (value == old or value.startswith(old + os.sep)):
        return new + value[len(old) :]
    if isinstance(value, dict):
        return {k: _relocated(v, old, new) for k, v in value.items()}
    if isinstance(value, list):
        return [_relocated(v, old, new) for v in value]
    return value


def _portable(value: Any, out: Path) -> Any:
    """``value`` with paths under the output folder written relative to it, for stage keys: a moved
    output folder keeps its finished stages."""
    return _relocated(value, str(out), "<out>")


def _cached(directory: Path, key: str) -> dict[str, Any] | None:
    marker = directory / STAGE_FILE
    if not marker.is_file():
        return None
    try:
        stage = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    if stage.get("key") != key:
        return None
    result: dict[str, Any] = stage["result"]
    # A moved or copied output folder: the stage's own files are here now, not where it ran.
    made_in = stage.get("directory")
    if made_in and made_in != str(directory.absolute()):
        result = _relocated(result, made_in, str(directory.absolute()))
    return result


def stage(
    name: str, directory: Path, config: Any, work: Callable[[Path], dict[str, Any]], *, fresh: bool = True
) -> dict[str, Any]:
    """Run ``work(directory)`` unless a finished stage with the same configuration is there.

    ``fresh``: a stale or unfinished directory is removed first (stages whose tools need an empty
    output); otherwise it is kept so the tool can resume (pretraining, mask bank).
    """
    key = _key(config)
    done = _cached(directory, key)
    if done is not None:
        print(f"[demo] {name}: cached ({directory})", flush=True)
        return done
    marker = directory / STAGE_FILE
    if directory.exists() and (fresh or marker.exists()):
        # a finished stage of another configuration, or a half-made one a tool cannot resume
        shutil.rmtree(directory)
    directory.mkdir(parents=True, exist_ok=True)
    print(f"[demo] {name}: running", flush=True)
    start = time.perf_counter()
    result = work(directory)
    result["seconds"] = round(time.perf_counter() - start, 1)
    atomic_write_json(
        marker, {"key": key, "config": config, "directory": str(directory.absolute()), "result": result}
    )
    return result


def _call(main: Callable[[Sequence[str] | None], int], argv: list[str], what: str) -> None:
    status = main(argv)
    if status != 0:
        raise RuntimeError(f"{what} failed with exit status {status}: {' '.join(argv)}")


def _synth(out: Path, preset: Preset) -> dict[str, Any]:
    from bgaug.core.cli import main as core_main

    def work(directory: Path) -> dict[str, Any]:
        argv = [
            "synth",
            "--out",
            str(directory / "bench"),
            "--seed",
            "0",
            "--json",
            str(directory / "synth.json"),
        ]
        for name, value in preset.synth.items():
            argv += [f"--{name.replace('_', '-')}", str(value)]
        argv += ["--preview", str(directory / "contact_sheet.png")]
        _call(core_main, argv, "synth")
        summary: dict[str, Any] = json.loads((directory / "synth.json").read_text(encoding="utf-8"))
        return {"root": str(directory / "bench"), "summary": summary}

    return stage("synthetic benchmark", out / "data", dict(preset.synth), work)


BANK_METHOD = "dsr"
BANK_THRESHOLD = 0.5
"""The pretraining masks: hand-crafted DSR binarised at 0.5 (DeepUSPS's pseudo-label threshold). At CPU-demo
scale a DeepUSPS2 detector trained from random init stays below its own pseudo-labels (docs/saliency.md),
so the demo trains on the better unsupervised source and reports the DeepUSPS2 fit beside it. The choice
is fixed here, never made by looking at the ground truth."""


def _masks(out: Path, data_root: Path, preset: Preset, data_key: str) -> dict[str, Any]:
    from bgaug.saliency.cli import main as saliency_main

    images = data_root / "pretrain"
    gt = data_root / "masks" / "pretrain"

    def work(directory: Path) -> dict[str, Any]:
        bank = directory / "bank"
        _call(
            saliency_main,
            [
                "handcrafted",
                "--method",
                BANK_METHOD,
                "--images",
                str(images),
                "--out",
                str(bank),
                "--threshold",
                str(BANK_THRESHOLD),
                "--soft-maps",
                "--json",
                str(directory / "bank.json"),
            ],
            "saliency handcrafted",
        )
        _call(
            saliency_main,
            ["eval", "--pred", str(bank), "--gt", str(gt), "--json", str(directory / "eval.json")],
            "saliency eval",
        )
        result: dict[str, Any] = {
            "bank": str(bank),
            "eval": json.loads((directory / "eval.json").read_text(encoding="utf-8")),
        }
        if preset.saliency:  # a short DeepUSPS2 fit on a subset, scored against the ground truth
            argv = [
                "fit",
                "--images",
                str(images),
                "--out",
                str(directory / "detector.pt"),
                "--preset",
                "quick",
                "--gt",
                str(gt),
                "--json",
                str(directory / "fit.json"),
                "--seed",
                "0",
            ]
            for name, value in preset.saliency.items():
                argv += [f"--{name.replace('_', '-')}", str(value)]
            _call(saliency_main, argv, "saliency fit")
            result["fit"] = json.loads((directory / "fit.json").read_text(encoding="utf-8"))
        return result

    config = {"data": data_key, "bank": [BANK_METHOD, BANK_THRESHOLD], "fit": dict(preset.saliency)}
    return stage("masks", out / "masks", config, work)


def _pretrain(
    out: Path, data_root: Path, bank: Path, preset: Preset, run: Run, seed: int, upstream: str
) -> dict[str, Any]:
    from bgaug.launch.config import PretrainConfig
    from bgaug.launch.pretrain import pretrain

    method, bg_aug = run
    images = data_root / ("train" if method == "supervised" else "pretrain")
    config = PretrainConfig(
        method=method,
        bg_aug=bg_aug,
        data=str(images),
        # The supervised control trains on the labelled split, whose masks are the ground truth.
        masks=str(data_root / "masks" / "train") if method == "supervised" else str(bank),
        seed=seed,
        loader_workers=0,
        method_options=dict(preset.method_options.get(method, {})),
        **preset.pretrain,
    )
    directory = out / "runs" / f"{method}-{bg_aug}-s{seed}"

    def work(directory: Path) -> dict[str, Any]:
        resume = (directory / "config.json").is_file()
        result = pretrain(config, directory, workers=0, resume=resume)
        return {"backbone": result["backbone"], "metrics": result.get("metrics", {})}

    return stage(
        f"pretrain {method} {bg_aug} seed {seed}",
        directory,
        {"upstream": upstream, "config": _portable(config.to_dict(), out)},
        work,
        fresh=False,
    )


def _random_weights(out: Path, preset: Preset, seed: int) -> dict[str, Any]:
    import torch

    from bgaug.core.backbones import build_backbone, save_backbone
    from bgaug.core.seeding import spawn_seed
    from bgaug.launch.worker import eval_preprocess

    arch = str(preset.pretrain.get("arch", "resnet50"))
    small_stem = bool(preset.pretrain.get("small_stem", False))
    image_size = int(preset.pretrain.get("image_size", 224))

    def work(directory: Path) -> dict[str, Any]:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(spawn_seed(seed, "random-weights"))
            backbone, _ = build_backbone(arch, small_stem=small_stem)
        path = directory / "backbone.pt"
        save_backbone(
            path,
            backbone,
            arch=arch,
            small_stem=small_stem,
            preprocess=eval_preprocess(image_size),
            meta={"method": "random weights (untrained)", "seed": seed},
        )
        return {"backbone": str(path)}

    config = {"arch": arch, "small_stem": small_stem, "image_size": image_size, "seed": seed}
    return stage(f"random weights seed {seed}", out / "runs" / f"{RANDOM_WEIGHTS}-s{seed}", config, work)


def _evaluate(backbone: Path, data_root: Path, preset: Preset, upstream: str, seed: int) -> dict[str, Any]:
    from bgaug.evals.runner import RunConfig, run

    directory = backbone.parent / "eval"

    def work(directory: Path) -> dict[str, Any]:
        results = run(
            RunConfig(
                checkpoint=backbone,
                data_root=data_root,
                out=directory,
                suites=["in9"],
                train_data=data_root / "train",
                linear_mode="fast",
                linear_epochs=preset.linear_epochs,
                in9_mapping="identity",
                seed=seed,
            )
        )
        in9 = results["suites"]["in9"]
        if in9.get("status") != "ok":
            raise RuntimeError(f"ImageNet-9 evaluation did not run: {in9.get('reason')}")
        return {"in9": in9, "linear_head": results.get("linear_head")}

    return stage(
        f"evaluate {backbone.parent.name}",
        directory,
        {"upstream": upstream, "linear_epochs": preset.linear_epochs},
        work,
    )


def _mask_figure(data_root: Path, bank_root: Path, path: Path, count: int = 8) -> None:
    """Images, ground-truth masks and predicted masks side by side (first image of a few classes)."""
    from bgaug.saliency.bank import DirectoryMaskBank

    bank = DirectoryMaskBank(bank_root)
    classes = sorted(p.name for p in (data_root / "pretrain").iterdir() if p.is_dir())[:count]
    rows = []
    for name in classes:
        rel = f"{name}/" + sorted(os.listdir(data_root / "pretrain" / name))[0]
        image = load_image(data_root / "pretrain" / rel)
        gt = load_mask(data_root / "masks" / "pretrain" / rel)
        pred = bank[bank.index_of(rel)].mask
        overlay = image.copy()
        overlay[~pred] = (overlay[~pred] * 0.3).astype(np.uint8)
        gap = np.full((image.shape[0], 2, 3), 255, np.uint8)
        rows.append(
            np.concatenate(
                [
                    image,
                    gap,
                    np.repeat(gt[..., None] * 255, 3, 2).astype(np.uint8),
                    gap,
                    np.repeat(pred[..., None] * 255, 3, 2).astype(np.uint8),
                    gap,
                    overlay,
                ],
                1,
            )
        )
    sheet = np.concatenate([np.concatenate([r, np.full((2, r.shape[1], 3), 255, np.uint8)]) for r in rows])
    save_png(path, sheet)


def _views_figure(data_root: Path, bank: Path, out: Path, bg_aug: str, method: str, count: int = 6) -> None:
    """q, k+ (and the matched negative) for a few pretrain images, with p = 1 so every row shows it."""
    from bgaug.augment import build_pipeline
    from bgaug.augment.preview import preview_grid
    from bgaug.core.data import collate_masked
    from bgaug.core.seeding import torch_generator
    from bgaug.launch.data import open_dataset, open_masks

    root = str(data_root / "pretrain")
    dataset = open_dataset(root, open_masks(root, str(bank)), size=64)
    step = max(len(dataset) // count, 1)  # type: ignore[arg-type]  # spread over the classes
    batch = collate_masked([dataset[i * step] for i in range(count)])
    options: dict[str, float] = {"p_pos": 1.0, "warmup_epochs": 0}
    if bg_aug == "bg_swaps":
        options["p_neg"] = 1.0
    pipeline = build_pipeline(method, bg_aug, image_size=64, **options)
    views = pipeline(batch, torch_generator(0, "demo-preview"))
    save_png(out, preview_grid(batch, views, cell=64))


def run_demo(out: Path, preset_name: str, seeds: int | None = None) -> dict[str, Any]:
    """Run (or resume) the demo into ``out``; return the results written to ``results.json``."""
    from bgaug.launch.claims import check_claims
    from bgaug.launch.report import write_report

    preset = PRESETS[preset_name]
    n_seeds = preset.seeds if seeds is None else seeds
    if n_seeds < 1:
        raise UserError(f"--seeds must be >= 1, got {n_seeds}")
    out = out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()

    data = _synth(out, preset)
    data_root = Path(data["root"])
    data_key = _key(dict(preset.synth))
    masks = _masks(out, data_root, preset, data_key)
    bank = Path(masks["bank"])
    mask_key = _key({"data": data_key, **preset.saliency})

    runs = []
    for seed in range(n_seeds):
        for method, bg_aug in ((RANDOM_WEIGHTS, "none"), *preset.runs):
            if method == RANDOM_WEIGHTS:
                trained = _random_weights(out, preset, seed)
            else:
                trained = _pretrain(out, data_root, bank, preset, (method, bg_aug), seed, mask_key)
            upstream = _key(_portable(trained, out))
            evaluation = _evaluate(Path(trained["backbone"]), data_root, preset, upstream, seed)
            variants = evaluation["in9"]["variants"]
            runs.append(
                {
                    "method": method,
                    "bg_aug": bg_aug,
                    "seed": seed,
                    # bgaug.evals reports top-1 in percent; results.json keeps fractions
                    "in9": {name: float(v["top1"]) / 100 for name, v in variants.items()},
                    "bg_gap": float(evaluation["in9"]["bg_gap"]) / 100,
                    "pretrain_seconds": trained.get("seconds"),
                }
            )

    figures: dict[str, str] = {"Synthetic benchmark: classes and ImageNet-9 variants": "contact_sheet.png"}
    shutil.copyfile(out / "data" / "contact_sheet.png", out / "contact_sheet.png")
    _mask_figure(data_root, bank, out / "masks.png")
    figures["Pretrain images, ground-truth masks, the bank's masks, background dimmed"] = "masks.png"
    for method, bg_aug in (("moco_v2", "bg_swaps"), ("byol", "bg_random")):
        name = f"views_{method}_{bg_aug}.png"
        _views_figure(data_root, bank, out / name, bg_aug, method)
        figures[f"{method} + {bg_aug}: query, positive key, matched negative"] = name

    bank_scores = masks["eval"]
    mask_scores: dict[str, Mapping[str, Any]] = {"centre prior (baseline)": bank_scores["centre_prior"]}
    fit = masks.get("fit")
    if fit is not None:
        n = fit["n_images"]
        for name, entry in fit["phase1"].items():
            mask_scores[f"hand-crafted {name} ({n} fit images)"] = entry["pseudo_labels"]
        for name, entry in fit["phase1"].items():
            mask_scores[f"DeepUSPS2 phase-I network on {name} ({n} fit images)"] = entry["network"]
        mask_scores[f"DeepUSPS2 fused detector ({n} fit images)"] = fit["detector"]
    mask_scores[f"mask bank used for pretraining: {BANK_METHOD} at {BANK_THRESHOLD} (all images)"] = (
        bank_scores
    )
    results: dict[str, Any] = {
        "meta": {
            "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, {platform.python_version()}",
            "preset": preset_name,
            "seeds": n_seeds,
            "benchmark": f"synthetic, {json.dumps(data['summary'].get('splits', {}))}",
            "backbone": f"{preset.pretrain.get('arch')} at {preset.pretrain.get('image_size')} px",
            "schedule": f"{preset.pretrain.get('epochs')} epochs, batch {preset.pretrain.get('batch_size')}",
            "wall time (s)": round(time.perf_counter() - started, 1),
        },
        "masks": {k: _mask_row(v) for k, v in mask_scores.items()},
        "runs": runs,
        "claims": check_claims(runs),
    }
    atomic_write_json(out / "results.json", results)
    write_report(results, out, figures)
    return results


def _mask_row(scores: Mapping[str, Any]) -> dict[str, float]:
    return {name: float(scores[name]) for name in ("max_f", "mean_f", "adaptive_f", "mae")}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--quick", action="store_true", help="the <= 3-minute preset (default: <= 15 minutes)"
    )
    parser.add_argument(
        "--preset", choices=sorted(PRESETS), help="quick, default or science (overrides --quick)"
    )
    parser.add_argument("--out", default="bgaug-demo", help="output folder (default ./bgaug-demo)")
    parser.add_argument("--seeds", type=int, help="pretraining seeds per configuration (preset's default)")
    parser.add_argument("--json", help="also write results.json's content to this file")


def run_from_args(args: argparse.Namespace) -> int:
    preset = args.preset or ("quick" if args.quick else "default")
    results = run_demo(Path(args.out), preset, args.seeds)
    print(f"[demo] report: {Path(args.out).resolve() / 'report.md'}")
    for claim in results["claims"]:
        print(f"[demo] {claim['verdict']:>15}  {claim['claim']}  ({claim['numbers']})")
    if args.json:
        atomic_write_json(args.json, results)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    from bgaug.core.cli import run_single_command

    return run_single_command("bgaug demo", sys.modules[__name__], run_from_args, argv)
