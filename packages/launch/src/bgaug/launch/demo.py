"""``bgaug demo``: the paper's whole pipeline at small scale, on a CPU, with no download.

Stages (each cached under ``--out`` by a hash of its configuration, so a re-run skips finished stages,
also after the folder was moved, and a killed run resumes where it stopped; pretraining also resumes
mid-run from its checkpoint; the hash covers the configuration, not bgaug's version, so after an
upgrade that changes results, use a new ``--out``):

1. ``data``: the embedded synthetic benchmark (``bgaug.core.synth.generate``), fixed seed 0.
2. ``masks``: unsupervised masks, no labels anywhere: the mask bank of the pretrain split from hand-crafted
   saliency (DSR, ``bgaug.saliency.handcrafted_bank``), scored against the benchmark's exact ground
   truth; the science preset also runs a short DeepUSPS2 fit (hand-crafted pseudo-labels -> phase-I
   networks -> fused detector) on a subset and reports its scores.
3. ``runs``: an untrained backbone (the random-weights reference) and pretraining with the masks of
   stage 2: MoCo-v2 baseline, + BG_RM, + BG_Swaps; BYOL baseline and + BG_Random
   (``bgaug.launch.pretrain``, in this process), one run per seed.
4. ``eval``: linear evaluation on the labelled train split, then the ImageNet-9 variants and BG-Gap
   (``bgaug.evals.runner``).
5. ``report.md``: the tables (accuracy, whether features formed against random weights, how each
   background augmentation moved the numbers, the paper's claims under ``claims.RULES``) and figures.

Presets: ``quick`` (<= 3 minutes on 2 cores: a smaller benchmark, short schedules), ``default``
(<= 15 minutes), ``science`` (what ``nox -s science`` runs: longer schedules, RotNet and supervised
controls, 3 seeds). All use the CPU recipe (``--recipe cpu`` of ``bgaug pretrain``: a plain five-layer
CNN on 24 px views, Adam, MoCo-v2 with a 1,024-key queue and split BatchNorm; docs/science.md says
how it was found and why the published recipes form no features at this budget). The augmentations,
their probabilities and FG_min are the paper's.
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

from bgaug.core.errors import UsageError
from bgaug.core.io import atomic_write_json, load_image, load_mask
from bgaug.launch.report import RANDOM_WEIGHTS, save_figure

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
    """Everything a demo run depends on; its parts are hashed into the stage cache keys.

    ``pretrain``: ``PretrainConfig`` fields shared by every run; ``method_epochs``: epochs of a
    method where they differ from ``pretrain["epochs"]``.
    """

    synth: Mapping[str, int | float] = field(default_factory=dict)
    saliency: Mapping[str, int | float | str] = field(default_factory=dict)
    runs: tuple[Run, ...] = PAPER_RUNS
    pretrain: Mapping[str, Any] = field(default_factory=dict)
    method_epochs: Mapping[str, int] = field(default_factory=dict)
    method_options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    linear_epochs: int = 30
    seeds: int = 1


CPU_PRETRAIN: dict[str, Any] = {"recipe": "cpu", "arch": "cnn5_w16", "image_size": 24, "batch_size": 128}
"""The CPU recipe (``launch.config.RECIPE_DEFAULTS["cpu"]``) as every preset's pretraining base."""

PRESETS: dict[str, Preset] = {
    "quick": Preset(
        synth={"image_size": 64, "pretrain_per_class": 64, "train_per_class": 30, "val_per_class": 20},
        saliency={},  # no DeepUSPS2 fit in the quick demo
        pretrain={**CPU_PRETRAIN, "epochs": 10, "batch_size": 64},
        method_options={"moco_v2": {"bn_splits": 2}},
        linear_epochs=20,
    ),
    "default": Preset(
        synth={},
        saliency={},
        # A BYOL epoch costs ~1.4x a MoCo-v2 one (both views through both networks). BYOL forms its
        # features more slowly (docs/science.md): 70 epochs for it, 64 for MoCo-v2, to fit 15 minutes.
        pretrain={**CPU_PRETRAIN, "epochs": 64},
        method_epochs={"byol": 70},
    ),
    "science": Preset(
        synth={},
        saliency={"max_images": 400},
        runs=PAPER_RUNS + CONTROL_RUNS,
        pretrain={**CPU_PRETRAIN, "epochs": 80},
        # The supervised control sees 900 labelled images (7 steps an epoch): 300 epochs fit its
        # training set (95 % top-1); 80 fit 70 %.
        method_epochs={"byol": 70, "supervised": 300},
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


def started_marker(directory: Path) -> Path:
    """The file saying the demo began ``directory`` (so only its own folders are ever removed)."""
    return directory.parent / f".{directory.name}.started"


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


class Progress:
    """``[demo] (k/N) stage: ...`` lines with each stage's time and the total so far."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.done = 0
        self.started = time.perf_counter()

    def begin(self, name: str) -> float:
        self.done += 1
        print(f"[demo] ({self.done}/{self.total}) {name} ...", flush=True)
        return time.perf_counter()

    def end(self, name: str, since: float, cached: bool = False) -> None:
        now = time.perf_counter()
        what = "cached" if cached else f"done in {now - since:.0f} s"
        print(
            f"[demo] ({self.done}/{self.total}) {name}: {what} (total {now - self.started:.0f} s)", flush=True
        )


_NO_PROGRESS = Progress(0)


def stage(
    name: str,
    directory: Path,
    config: Any,
    work: Callable[[Path], dict[str, Any]],
    *,
    fresh: bool = True,
    progress: Progress = _NO_PROGRESS,
) -> dict[str, Any]:
    """Run ``work(directory)`` unless a finished stage with the same configuration is there.

    ``fresh``: a stale or unfinished directory is removed first (stages whose tools need an empty
    output); otherwise it is kept so the tool can resume (pretraining, mask bank).
    """
    key = _key(config)
    since = progress.begin(name)
    done = _cached(directory, key)
    if done is not None:
        progress.end(name, since, cached=True)
        return done
    marker = directory / STAGE_FILE
    started = started_marker(directory)
    if directory.exists():
        if not (marker.exists() or started.exists()) and any(directory.iterdir()):
            raise UsageError(
                f"{directory} exists and was not made by bgaug demo; move it away or choose another --out"
            )
        if fresh or marker.exists():
            # a finished stage of another configuration, or a half-made one a tool cannot resume
            shutil.rmtree(directory)
    directory.mkdir(parents=True, exist_ok=True)
    started.touch()  # beside the stage, not in it: some tools want an empty folder
    start = time.perf_counter()
    result = work(directory)
    result["seconds"] = round(time.perf_counter() - start, 1)
    atomic_write_json(
        marker, {"key": key, "config": config, "directory": str(directory.absolute()), "result": result}
    )
    progress.end(name, since)
    return result


def _synth(out: Path, preset: Preset, progress: Progress) -> dict[str, Any]:
    from bgaug.core.synth import SynthConfig, generate, summarize

    def work(directory: Path) -> dict[str, Any]:
        config = SynthConfig(seed=0, **preset.synth)  # type: ignore[arg-type]
        manifest = generate(config, directory / "bench", workers=os.cpu_count() or 1, progress=False)
        return {"root": str(directory / "bench"), "summary": summarize(manifest)}

    return stage("synthetic benchmark", out / "data", dict(preset.synth), work, progress=progress)


BANK_METHOD = "dsr"
BANK_THRESHOLD = 0.5
"""The pretraining masks: hand-crafted DSR binarised at 0.5 (DeepUSPS's pseudo-label threshold). At CPU-demo
scale a DeepUSPS2 detector trained from random init stays below its own pseudo-labels (docs/saliency.md),
so the demo trains on the better unsupervised source and reports the DeepUSPS2 fit beside it. The choice
is fixed here, never made by looking at the ground truth."""


def _masks(out: Path, data_root: Path, preset: Preset, data_key: str, progress: Progress) -> dict[str, Any]:
    from bgaug.saliency.deepusps import config_with, fit
    from bgaug.saliency.evaluate import evaluate
    from bgaug.saliency.handcrafted_bank import handcrafted_bank

    images = data_root / "pretrain"
    gt = data_root / "masks" / "pretrain"

    def work(directory: Path) -> dict[str, Any]:
        bank = directory / "bank"
        handcrafted_bank(BANK_METHOD, images, bank, threshold=BANK_THRESHOLD, soft_maps=True, progress=False)
        result: dict[str, Any] = {"bank": str(bank), "eval": evaluate(bank, gt, progress=False)}
        if preset.saliency:  # a short DeepUSPS2 fit on a subset, scored against the ground truth
            overrides: dict[str, Any] = {k.replace("-", "_"): v for k, v in preset.saliency.items()}
            if isinstance(overrides.get("methods"), str):
                overrides["methods"] = tuple(str(overrides["methods"]).split(","))
            config = config_with("quick", {**overrides, "seed": 0})
            result["fit"] = fit(images, directory / "detector.pt", config, gt_root=gt, progress=False)
        return result

    config = {"data": data_key, "bank": [BANK_METHOD, BANK_THRESHOLD], "fit": dict(preset.saliency)}
    return stage("masks", out / "masks", config, work, progress=progress)


def _pretrain(
    out: Path,
    data_root: Path,
    bank: Path,
    preset: Preset,
    run: Run,
    seed: int,
    upstream: str,
    progress: Progress,
) -> dict[str, Any]:
    from bgaug.core.config import config_to_dict
    from bgaug.launch.config import PretrainConfig
    from bgaug.launch.pretrain import pretrain
    from bgaug.ssl_methods.recipes import recipe

    method, bg_aug = run
    supervised = method == "supervised"
    images = data_root / ("train" if supervised else "pretrain")
    settings = {**preset.pretrain}
    if method in preset.method_epochs:
        settings["epochs"] = preset.method_epochs[method]
    config = PretrainConfig(
        method=method,
        bg_aug=bg_aug,
        data=str(images),
        # The supervised control trains on the labelled split, whose masks are the ground truth.
        masks=str(data_root / "masks" / "train") if supervised else str(bank),
        seed=seed,
        loader_workers=0,
        method_options=dict(preset.method_options.get(method, {})),
        **settings,
    )
    directory = out / "runs" / f"{method}-{bg_aug}-s{seed}"

    def work(directory: Path) -> dict[str, Any]:
        resume = (directory / "config.json").is_file()
        result = pretrain(config, directory, workers=0, resume=resume)
        done: dict[str, Any] = {"backbone": str(result.backbone), "metrics": dict(result.metrics)}
        if supervised:  # the control must fit its own training set before its numbers mean much
            done["train_top1"] = _train_top1(result.backbone, images)
        return done

    # The recipe's settings are resolved into the key: a run trained under an earlier recipe is stale.
    resolved = {
        "method_options": config.all_method_options(),
        "train": config_to_dict(recipe(method, config.recipe)),
    }
    return stage(
        f"pretrain {method} {bg_aug} seed {seed}",
        directory,
        {"upstream": upstream, "config": _portable(config.to_dict(), out), "resolved": resolved},
        work,
        fresh=False,
        progress=progress,
    )


def _train_top1(backbone: Path, images: Path) -> float:
    """Top-1 (%) of a checkpoint's own head on the clean (centre-crop) images it was trained on."""
    from bgaug.core.backbones import load_classifier
    from bgaug.evals.datasets import ImageListDataset, imagefolder_items
    from bgaug.evals.inference import EvalOptions, predict

    classifier = load_classifier(backbone)
    items, _ = imagefolder_items(images)
    options = EvalOptions(device="cpu", workers=0, progress=False)
    return predict(classifier, ImageListDataset(items, classifier.preprocess), options).top1


RANDOM_INITS = 3
"""Untrained backbones behind the random-weights reference of each seed: their accuracies are
averaged, because one random initialisation's probe accuracy alone varied by 5 points (20.0 to 25.1
Original over three seeds, docs/science.md) and every model is judged against this row."""


def _random_weights(out: Path, preset: Preset, seed: int, init: int, progress: Progress) -> dict[str, Any]:
    import torch

    from bgaug.core.backbones import build_backbone, save_backbone
    from bgaug.core.seeding import spawn_seed
    from bgaug.launch.worker import eval_preprocess

    arch = str(preset.pretrain.get("arch", "resnet50"))
    small_stem = bool(preset.pretrain.get("small_stem", False))
    image_size = int(preset.pretrain.get("image_size", 224))

    def work(directory: Path) -> dict[str, Any]:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(spawn_seed(seed, "random-weights", init))
            backbone, _ = build_backbone(arch, small_stem=small_stem)
        path = directory / "backbone.pt"
        save_backbone(
            path,
            backbone,
            arch=arch,
            small_stem=small_stem,
            preprocess=eval_preprocess(image_size),
            meta={"method": "random weights (untrained)", "seed": seed, "init": init},
        )
        return {"backbone": str(path)}

    config = {"arch": arch, "small_stem": small_stem, "image_size": image_size, "seed": seed, "init": init}
    return stage(
        f"random weights seed {seed}, initialisation {init + 1} of {RANDOM_INITS}",
        out / "runs" / f"{RANDOM_WEIGHTS}-s{seed}-i{init}",
        config,
        work,
        progress=progress,
    )


def _evaluate(
    backbone: Path, data_root: Path, preset: Preset, upstream: str, seed: int, progress: Progress
) -> dict[str, Any]:
    from bgaug.evals.inference import EvalOptions
    from bgaug.evals.runner import RunConfig, run

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
                options=EvalOptions(device="cpu", progress=False),
            )
        )
        in9 = results.suites["in9"]
        if not in9.ok:
            raise RuntimeError(f"ImageNet-9 evaluation did not run: {in9.reason}")
        return {"in9": in9.to_json(), "linear_head": results.to_json()["linear_head"]}

    return stage(
        f"evaluate {backbone.parent.name}",
        backbone.parent / "eval",
        {"upstream": upstream, "linear_epochs": preset.linear_epochs},
        work,
        progress=progress,
    )


def mask_figure(data_root: Path, bank_root: Path, count: int = 8) -> Any:
    """Images, ground-truth masks and the bank's masks side by side (first image of a few classes),
    as a labelled matplotlib figure."""
    from bgaug.core.maskbank import open_mask_bank
    from bgaug.launch.report import image_grid_figure

    pretrain = data_root / "pretrain"
    bank = open_mask_bank(pretrain, bank_root)
    assert bank is not None
    classes = sorted(p.name for p in pretrain.iterdir() if p.is_dir())[:count]
    rows, labels = [], []
    for name in classes:
        rel = f"{name}/" + sorted(os.listdir(pretrain / name))[0]
        image = load_image(pretrain / rel)
        gt = load_mask(data_root / "masks" / "pretrain" / rel)
        pred = bank[bank.index_of(rel)].mask
        overlay = image.copy()
        overlay[~pred] = (overlay[~pred] * 0.3).astype(np.uint8)
        rows.append([image, gt.astype(np.uint8) * 255, pred.astype(np.uint8) * 255, overlay])
        labels.append(f"class {name}")
    return image_grid_figure(
        rows,
        [
            "image",
            "ground-truth\nmask",
            f"bank mask\n({BANK_METHOD.upper()})",
            "bank mask,\nbackground dimmed",
        ],
        labels,
        f"Unsupervised masks of the pretrain split: {BANK_METHOD} saliency at threshold {BANK_THRESHOLD} "
        "against the exact ground truth",
    )


def views_figure(
    data_root: Path, bank: Path, bg_aug: str, method: str, image_size: int, count: int = 6
) -> Any:
    """Input, mask, the method's two views and (BG_Swaps) the matched negative for a few pretrain
    images, as a labelled matplotlib figure; the augmentation is forced on (p = 1) so every row shows it."""
    from bgaug.augment import build_pipeline
    from bgaug.augment.preview import preview_tiles
    from bgaug.core.data import collate_masked
    from bgaug.core.loading import open_dataset
    from bgaug.core.maskbank import open_mask_bank
    from bgaug.core.seeding import torch_generator
    from bgaug.launch.report import METHOD_LABELS, image_grid_figure
    from bgaug.launch.worker import load_size

    root = str(data_root / "pretrain")
    dataset = open_dataset(root, open_mask_bank(root, bank), size=load_size(image_size))
    step = max(len(dataset) // count, 1)  # type: ignore[arg-type]  # spread over the classes
    batch = collate_masked([dataset[i * step] for i in range(count)])
    options: dict[str, float] = {"p_pos": 1.0, "warmup_epochs": 0}
    if bg_aug == "bg_swaps":
        options["p_neg"] = 1.0
    pipeline = build_pipeline(method, bg_aug, image_size=image_size, **options)
    views = pipeline(batch, torch_generator(0, "demo-preview"))
    titles, rows = preview_tiles(batch, views, method)
    return image_grid_figure(
        rows,
        titles,
        [f"image {i * step}" for i in range(count)],
        f"{METHOD_LABELS.get(method, method)} views at {image_size} px with {bg_aug} forced on "
        f"(p = 1; training uses the paper's p)",
    )


def contact_sheet_figure(bench: Path) -> Any:
    """The benchmark's classes and the ImageNet-9 variants of one val image each, labelled."""
    from bgaug.core.synth_preview import contact_sheet_tiles
    from bgaug.launch.report import image_grid_figure

    titles, labels, rows = contact_sheet_tiles(bench)
    return image_grid_figure(
        rows,
        titles,
        labels,
        "Synthetic benchmark: per class (shape / matched background), train images with exact masks, "
        "then one val image, its mask and its ImageNet-9 variants",
        cell_inches=0.9,
    )


def _figures(out: Path, data_root: Path, bank: Path, preset: Preset) -> dict[str, str]:
    """Write the demo's image figures; return caption -> file."""
    figures: dict[str, str] = {}
    save_figure(contact_sheet_figure(data_root), out / "contact_sheet.png")
    figures["Synthetic benchmark: classes and ImageNet-9 variants"] = "contact_sheet.png"
    save_figure(mask_figure(data_root, bank), out / "masks.png")
    figures["Pretrain images, ground-truth masks, the bank's masks, background dimmed"] = "masks.png"
    view_size = int(preset.pretrain.get("image_size", 224))
    for method, bg_aug, caption in (
        ("moco_v2", "bg_swaps", "query, positive key and matched negative"),
        ("byol", "bg_random", "online and target views, backgrounds from other images"),
    ):
        name = f"views_{method}_{bg_aug}.png"
        save_figure(views_figure(data_root, bank, bg_aug, method, view_size), out / name)
        figures[f"{method} + {bg_aug}: {caption}"] = name
    return figures


def run_demo(out: Path, preset_name: str, seeds: int | None = None) -> dict[str, Any]:
    """Run (or resume) the demo into ``out``; return the results written to ``results.json``."""
    from bgaug.launch.claims import LEARNED_MARGIN, RULES, check_claims, mechanism
    from bgaug.launch.report import write_report

    preset = PRESETS[preset_name]
    n_seeds = preset.seeds if seeds is None else seeds
    if n_seeds < 1:
        raise UsageError(f"--seeds must be >= 1, got {n_seeds}")
    out = out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    progress = Progress(2 + 2 * (RANDOM_INITS + len(preset.runs)) * n_seeds + 1)

    data = _synth(out, preset, progress)
    data_root = Path(data["root"])
    data_key = _key(dict(preset.synth))
    masks = _masks(out, data_root, preset, data_key, progress)
    bank = Path(masks["bank"])
    mask_key = _key({"data": data_key, **preset.saliency})
    runs = [
        _train_and_evaluate(out, data_root, bank, preset, (method, bg_aug), seed, mask_key, progress)
        for seed in range(n_seeds)
        for method, bg_aug in ((RANDOM_WEIGHTS, "none"), *preset.runs)
    ]

    since = progress.begin("report and figures")
    figures = _figures(out, data_root, bank, preset)
    classes = int(data["summary"]["params"]["classes"])
    results: dict[str, Any] = {
        "meta": _meta(preset_name, preset, n_seeds, data, runs, time.perf_counter() - started),
        "masks": {k: _mask_row(v) for k, v in _mask_scores(masks).items()},
        "runs": runs,
        "learned_margin": LEARNED_MARGIN,
        "claims": check_claims(runs),
        "claim_rules": RULES,
        "mechanism": mechanism(runs),
    }
    atomic_write_json(out / "results.json", results)
    write_report(results, out, figures, chance=100.0 / classes)
    progress.end("report and figures", since)
    return results


def _train_and_evaluate(
    out: Path,
    data_root: Path,
    bank: Path,
    preset: Preset,
    run: Run,
    seed: int,
    mask_key: str,
    progress: Progress,
) -> dict[str, Any]:
    """One row of the results: train (or build the untrained reference) and evaluate; the
    random-weights row is the mean over ``RANDOM_INITS`` untrained backbones."""
    method, bg_aug = run
    evaluations = []
    trained: dict[str, Any] = {}
    for init in range(RANDOM_INITS if method == RANDOM_WEIGHTS else 1):
        if method == RANDOM_WEIGHTS:
            trained = _random_weights(out, preset, seed, init, progress)
        else:
            trained = _pretrain(out, data_root, bank, preset, run, seed, mask_key, progress)
        upstream = _key(_portable(trained, out))
        evaluations.append(_evaluate(Path(trained["backbone"]), data_root, preset, upstream, seed, progress))
    record: dict[str, Any] = {
        "method": method,
        "bg_aug": bg_aug,
        "seed": seed,
        # bgaug.evals reports top-1 in percent; results.json keeps fractions
        "in9": {
            name: float(np.mean([e["in9"]["variants"][name]["top1"] for e in evaluations])) / 100
            for name in evaluations[0]["in9"]["variants"]
        },
        "bg_gap": float(np.mean([e["in9"]["bg_gap"] for e in evaluations])) / 100,
        "pretrain_seconds": trained.get("seconds"),
    }
    if "train_top1" in trained:
        record["train_top1"] = float(trained["train_top1"]) / 100
    return record


def _mask_scores(masks: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """Mask quality rows: the centre prior, the DeepUSPS2 fit's sets (when one ran), the bank."""
    bank_scores = masks["eval"]
    scores: dict[str, Mapping[str, Any]] = {"centre prior (baseline)": bank_scores["centre_prior"]}
    fit = masks.get("fit")
    if fit is not None:
        n = fit["n_images"]
        for name, entry in fit["phase1"].items():
            scores[f"hand-crafted {name} ({n} fit images)"] = entry["pseudo_labels"]
        for name, entry in fit["phase1"].items():
            scores[f"DeepUSPS2 phase-I network on {name} ({n} fit images)"] = entry["network"]
        scores[f"DeepUSPS2 fused detector ({n} fit images)"] = fit["detector"]
    scores[f"mask bank used for pretraining: {BANK_METHOD} at {BANK_THRESHOLD} (all images)"] = bank_scores
    return scores


def _meta(
    preset_name: str,
    preset: Preset,
    n_seeds: int,
    data: Mapping[str, Any],
    runs: Sequence[Mapping[str, Any]],
    seconds: float,
) -> dict[str, Any]:
    """The report's Setup list: when, where, what data, recipe, backbone, schedule and probe."""
    pretrain = preset.pretrain
    classes = int(data["summary"]["params"]["classes"])
    meta: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, {platform.python_version()}",
        "preset": preset_name,
        "seeds": n_seeds,
        "benchmark": f"synthetic, {classes} classes, {json.dumps(data['summary'].get('splits', {}))}",
        "recipe": f"{pretrain.get('recipe', 'paper')} (bgaug pretrain --recipe; docs/science.md)",
        "backbone": f"{pretrain.get('arch')} at {pretrain.get('image_size')} px",
        "schedule": f"{pretrain.get('epochs')} epochs, batch {pretrain.get('batch_size')}"
        + "".join(f"; {m}: {e} epochs" for m, e in preset.method_epochs.items()),
        "linear probe": f"fast mode, {preset.linear_epochs} epochs on standardised features",
        "wall time (s)": round(seconds, 1),
    }
    supervised = [float(r["train_top1"]) for r in runs if "train_top1" in r]
    if supervised:
        meta["supervised control, train-split top-1 (%)"] = ", ".join(f"{100 * t:.1f}" for t in supervised)
    return meta


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
    from bgaug.core.preflight import check_new_file, check_writable

    preset = args.preset or ("quick" if args.quick else "default")
    check_writable(args.out, "--out")  # before the work, not after it
    if args.json:
        check_new_file(args.json, "--json", overwrite=True)
    results = run_demo(Path(args.out), preset, args.seeds)
    print(f"[demo] report: {Path(args.out).resolve() / 'report.md'}")
    for row in results["mechanism"]:
        print(f"[demo] {row['model']}: {row['reading']}")
    for claim in results["claims"]:
        print(f"[demo] {claim['verdict']:>22}  {claim['claim']}")
    if args.json:
        atomic_write_json(args.json, results)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    from bgaug.core.cli import run_single_command

    return run_single_command("bgaug demo", sys.modules[__name__], run_from_args, argv)
