"""``python -m bgaug.evals run``: every suite whose data is present, one results folder.

Each suite looks for its data under ``--data-root`` at the names the benchmarks are released under
(``SEARCH``), or at a path given with ``--path SUITE=PATH``. A suite whose data is absent is reported
as ``skipped: not found at PATH``; one that needs a 1000-way ImageNet classifier is skipped for a
K-way one; a suite that fails on bad data is reported as ``failed`` with its cause and the others
still run. Outputs: ``results.json``, ``results.md`` (paper layout), ``results.png``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import nn

from bgaug.core.backbones import load_backbone, save_backbone
from bgaug.core.interfaces import Classifier, Preprocess
from bgaug.core.io import atomic_write_json, sha256_file
from bgaug.evals.datasets import imagefolder_items
from bgaug.evals.inference import EvalOptions
from bgaug.evals.linear import train_linear
from bgaug.evals.recipes import FAST_LINEAR, linear_recipe
from bgaug.evals.report import write_reports
from bgaug.evals.suites import (
    fgsm,
    imagenet,
    imagenet_c,
    imagenet_v2,
    in9,
    objectnet,
    real,
    restricted,
    shape_bias,
)
from bgaug.evals.suites.common import num_logits

SUITES: tuple[str, ...] = (
    "imagenet",
    "real",
    "imagenet_v2",
    "in9",
    "imagenet_a",
    "imagenet_a_only_fg",
    "imagenet_r",
    "imagenet_c",
    "imagenet_c_on_the_fly",
    "objectnet",
    "fgsm",
    "shape_bias",
)
NEEDS_IMAGENET = frozenset(
    {
        "real",
        "imagenet_v2",
        "imagenet_a",
        "imagenet_a_only_fg",
        "imagenet_r",
        "imagenet_c",
        "objectnet",
        "shape_bias",
    }
)
SEARCH: dict[str, tuple[str, ...]] = {
    "imagenet": ("imagenet/val", "val"),
    "real": ("imagenet/val", "val"),
    "imagenet_v2": ("imagenet-v2", "."),
    "in9": ("bg_challenge", "in9"),
    "imagenet_a": ("imagenet-a",),
    "imagenet_a_only_fg": ("imagenet-a",),
    "imagenet_r": ("imagenet-r",),
    "imagenet_c": ("imagenet-c",),
    "imagenet_c_on_the_fly": (),  # only on request: --path imagenet_c_on_the_fly=DIR
    "objectnet": ("objectnet-1.0/images", "objectnet/images"),
    "fgsm": ("imagenet/val", "val"),
    "shape_bias": ("cue-conflict", "texture-vs-shape/stimuli/style-transfer-preprocessed-512"),
}
EXTRA_FILES: dict[str, tuple[str, str]] = {
    "real": ("real_labels", "real.json"),
    "imagenet_a_only_fg": ("imagenet_a_masks", "imagenet-a-masks"),
}


def parse_suites(text: str) -> list[str]:
    names = [s.strip() for s in text.split(",") if s.strip()]
    if names == ["all"]:
        return list(SUITES)
    unknown = [n for n in names if n not in SUITES]
    if unknown or not names:
        raise ValueError(
            f"unknown suite(s) {', '.join(unknown) or '(none)'}; choose from all, {', '.join(SUITES)}"
        )
    return names


@dataclass(frozen=True)
class RunConfig:
    checkpoint: Path
    data_root: Path | None
    out: Path
    suites: Sequence[str] = SUITES
    paths: Mapping[str, Path] = field(default_factory=dict)
    real_labels: Path | None = None
    imagenet_a_masks: Path | None = None
    train_data: Path | None = None
    linear_mode: str = "fast"
    linear_epochs: int | None = None
    in9_mapping: str = "auto"
    fgsm_epsilon: float = fgsm.EPSILON
    fgsm_limit: int | None = None
    corruptions: Sequence[str] = imagenet_c.STANDARD
    severities: Sequence[int] = imagenet_c.SEVERITIES
    corrupt_limit: int | None = None
    seed: int = 0
    options: EvalOptions = field(default_factory=EvalOptions)

    def __post_init__(self) -> None:
        unknown = [s for s in self.paths if s not in SUITES]
        if unknown:
            raise ValueError(f"--path names unknown suite(s): {', '.join(unknown)}")


def locate(config: RunConfig, suite: str) -> tuple[Path | None, list[Path]]:
    """The suite's data folder if present, and every place looked at."""
    if suite in config.paths:
        p = config.paths[suite]
        return (p if p.exists() else None), [p]
    if config.data_root is None:
        return None, []
    tried = [config.data_root / rel for rel in SEARCH[suite]]
    return next((p for p in tried if p.is_dir() and _looks_like(suite, p)), None), tried


def _looks_like(suite: str, path: Path) -> bool:
    """Guard the generic names (``val``, the root itself) against matching the wrong tree."""
    if suite == "imagenet_v2":
        return any((path / folder).is_dir() for folder in imagenet_v2.VARIANTS.values())
    if suite == "in9":
        return any((path / v / "val").is_dir() for v in in9.VARIANTS)
    return True


def _extra(config: RunConfig, suite: str) -> tuple[Path | None, Path | None]:
    """The extra file a suite needs (ReaL labels, ImageNet-A masks): given, or at its default name."""
    if suite not in EXTRA_FILES:
        return None, None
    attr, default = EXTRA_FILES[suite]
    given: Path | None = getattr(config, attr)
    candidate = given or (config.data_root / default if config.data_root is not None else None)
    return (candidate if candidate is not None and candidate.exists() else None), candidate


def prepare_classifier(config: RunConfig) -> tuple[nn.Module, dict[str, Any] | None, dict[str, Any]]:
    """The classifier to evaluate; trains a linear head first when the checkpoint has none."""
    backbone, state = load_backbone(config.checkpoint)
    p = state["preprocess"]
    pre = Preprocess(resize=int(p["resize"]), crop=int(p["crop"]), mean=tuple(p["mean"]), std=tuple(p["std"]))
    if "head" in state:
        head = nn.Linear(state["head"]["weight"].shape[1], state["head"]["weight"].shape[0])
        head.load_state_dict({"weight": state["head"]["weight"], "bias": state["head"]["bias"]})
        return Classifier(backbone, head, pre).eval(), None, state
    if config.train_data is None:
        raise ValueError(
            f"{config.checkpoint} has no linear head: pass --train-data DIR (an ImageFolder train split) to"
            " train one with the linear protocol first"
        )
    items, classes = imagefolder_items(config.train_data)
    method = state.get("meta", {}).get("method")
    recipe = linear_recipe(method)
    result = train_linear(
        backbone,
        pre,
        items,
        len(classes),
        recipe,
        config.options,
        mode=config.linear_mode,
        epochs=config.linear_epochs,
        batch_size=min(recipe.batch_size, len(items)),
        cache_dir=config.out / "cache",
        cache_key={"checkpoint": sha256_file(config.checkpoint)},
        seed=config.seed,
    )
    fast = config.linear_mode == "fast"
    protocol = "standardised-feature probe" if fast else f"{method or 'default'} recipe"
    n_epochs = config.linear_epochs or (FAST_LINEAR if fast else recipe).epochs
    info = {
        "note": (
            f"trained here by the linear protocol ({config.linear_mode} mode, {protocol}, {n_epochs} epochs)"
            f" on {config.train_data}; checkpoint had none"
        ),
        "train_data": str(config.train_data),
        "classes": len(classes),
        "final_train_loss": result.train_loss[-1],
        "checkpoint_with_head": str(config.out / "classifier.pt"),
    }
    save_backbone(
        config.out / "classifier.pt",
        backbone,
        arch=str(state["arch"]),
        small_stem=bool(state["small_stem"]),
        head=result.head,
        preprocess=pre,
        meta={**state.get("meta", {}), "linear_head": info["note"]},
    )
    return Classifier(backbone, result.head, pre).eval(), info, state


def _runner(
    config: RunConfig, suite: str, path: Path, extra: Path | None
) -> Callable[[nn.Module], dict[str, Any]]:
    o = config.options
    if suite == "imagenet":
        return lambda m: imagenet.evaluate_folder(m, path, o, "imagenet")
    if suite == "real":
        assert extra is not None
        return lambda m: real.evaluate_real(m, path, extra, o)
    if suite == "imagenet_v2":
        return lambda m: imagenet_v2.evaluate_imagenet_v2(m, path, o)
    if suite == "in9":
        return lambda m: in9.evaluate_in9(m, path, o, mapping=config.in9_mapping)
    if suite in ("imagenet_a", "imagenet_r"):
        return lambda m: restricted.evaluate_subset(m, path, suite, o)
    if suite == "imagenet_a_only_fg":
        from bgaug.core.data import FolderMaskBank

        assert extra is not None
        return lambda m: restricted.evaluate_imagenet_a_only_fg(m, path, FolderMaskBank(path, extra), o)
    if suite == "imagenet_c":
        return lambda m: imagenet_c.evaluate_imagenet_c(m, path, o)
    if suite == "imagenet_c_on_the_fly":
        return lambda m: imagenet_c.evaluate_on_the_fly(
            m,
            path,
            o,
            corruptions=config.corruptions,
            severities=config.severities,
            seed=config.seed,
            limit=config.corrupt_limit,
        )
    if suite == "objectnet":
        return lambda m: objectnet.evaluate_objectnet(m, path, o)
    if suite == "fgsm":

        def run_fgsm(m: nn.Module) -> dict[str, Any]:
            from bgaug.evals.datasets import ImageListDataset, labelled_by_wnid_or_folder
            from bgaug.evals.suites.common import preprocess_of

            items, _ = labelled_by_wnid_or_folder(path, num_logits(m))
            dataset = ImageListDataset(items, preprocess_of(m))
            return fgsm.fgsm_accuracy(m, dataset, o, epsilon=config.fgsm_epsilon, limit=config.fgsm_limit)

        return run_fgsm
    return lambda m: shape_bias.evaluate_shape_bias(m, path, o)


def _unreadable_files(entry: Any) -> set[str]:
    """Every unreadable path listed anywhere in a suite's results (a file shared by suites counts once)."""
    if not isinstance(entry, dict):
        return set()
    found = set(entry.get("unreadable", []))
    for key, value in entry.items():
        if key != "unreadable":
            found |= _unreadable_files(value)
    return found


def run(config: RunConfig) -> dict[str, Any]:
    """Evaluate every requested suite; write and return the results."""
    config.out.mkdir(parents=True, exist_ok=True)
    model, linear_info, state = prepare_classifier(config)
    logits = num_logits(model)
    suites: dict[str, dict[str, Any]] = {}
    for suite in config.suites:
        path, tried = locate(config, suite)
        if path is None:
            where = ", ".join(str(p) for p in tried) or "(no path; pass --path " + suite + "=DIR)"
            suites[suite] = {"status": "skipped", "reason": f"not found at {where}"}
            continue
        if suite in NEEDS_IMAGENET and logits != 1000:
            suites[suite] = {
                "status": "skipped",
                "reason": f"needs a 1000-way ImageNet classifier, this one has {logits}",
            }
            continue
        extra, wanted = _extra(config, suite)
        if suite in EXTRA_FILES and extra is None:
            suites[suite] = {"status": "skipped", "reason": f"not found at {wanted}"}
            continue
        start = time.perf_counter()
        try:
            result = _runner(config, suite, path, extra)(model)
        except (ValueError, FileNotFoundError, KeyError, ImportError) as exc:
            suites[suite] = {"status": "failed", "reason": f"{type(exc).__name__}: {exc}", "path": str(path)}
            continue
        suites[suite] = {"status": "ok", "path": str(path), "seconds": time.perf_counter() - start, **result}
    unreadable = sorted(set().union(*(_unreadable_files(v) for v in suites.values())))
    results: dict[str, Any] = {
        "checkpoint": str(config.checkpoint),
        "checkpoint_sha256": sha256_file(config.checkpoint),
        "meta": state.get("meta", {}),
        "logits": logits,
        "linear_head": linear_info,
        "bn_adapt": config.options.bn_adapt,
        "bf16": config.options.bf16,
        "suites": suites,
        "skipped": {k: v["reason"] for k, v in suites.items() if v["status"] == "skipped"},
        "failed": {k: v["reason"] for k, v in suites.items() if v["status"] == "failed"},
        "n_unreadable": len(unreadable),
        "unreadable_files": unreadable,
    }
    atomic_write_json(config.out / "results.json", results)
    write_reports(results, config.out)
    return results
