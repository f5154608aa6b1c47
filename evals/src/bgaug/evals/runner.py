"""``python -m bgaug.evals run``: every suite whose data is present, one results folder.

Each suite looks for its data under ``--data-root`` at the names the benchmarks are released under
(``SEARCH``), or at a path given with ``--path SUITE=PATH``. A suite whose data is absent is reported
as ``skipped: not found at PATH``; one that needs a 1000-way ImageNet classifier is skipped for a
K-way one; a suite that fails on bad data is reported as ``failed`` with its cause and the others
still run. Outputs: ``results.json``, ``results.md`` (paper layout), ``results.png``.

Before any compute, ``check_run`` makes sure every input given exists, ``--out`` can be written, and
``--out`` holds no other checkpoint's results (unless ``overwrite``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import nn

from bgaug.core.backbones import load_backbone, save_backbone
from bgaug.core.errors import UsageError
from bgaug.core.interfaces import Classifier, Preprocess
from bgaug.core.io import atomic_write_json, sha256_file
from bgaug.core.preflight import check_input_file, check_input_folder, check_writable
from bgaug.evals.datasets import imagefolder_items
from bgaug.evals.features import checkpoint_key
from bgaug.evals.inference import EvalOptions
from bgaug.evals.linear import train_linear
from bgaug.evals.preflight import refuse_foreign_results
from bgaug.evals.recipes import FAST_LINEAR, linear_recipe
from bgaug.evals.report import write_reports
from bgaug.evals.results import EvalResults, LinearHeadInfo, SuiteResult
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
        raise UsageError(
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
    overwrite: bool = False
    """Replace results of another checkpoint in ``out`` (the same checkpoint's never need it)."""

    def __post_init__(self) -> None:
        unknown = [s for s in self.paths if s not in SUITES]
        if unknown:
            raise UsageError(f"--path names unknown suite(s): {', '.join(unknown)}")


def locate(config: RunConfig, suite: str) -> tuple[Path | None, list[Path]]:
    """The suite's data folder if present, and every place looked at."""
    if suite in config.paths:
        p = config.paths[suite]
        return (p if p.exists() else None), [p]
    if config.data_root is None:
        return None, []
    tried = [config.data_root / rel for rel in SEARCH[suite]]
    return _first_match(suite, tried), tried


RECOGNISABLE = ("in9", "imagenet_v2")
"""Suites whose folder ``_looks_like`` tells apart from any other, so a user may name it directly."""


def find_suite_folder(root: Path, suite: str) -> Path | None:
    """The suite's folder given a data root (``SEARCH``'s places below it) or, for ``RECOGNISABLE``
    suites, the folder itself."""
    itself = [root] if suite in RECOGNISABLE else []
    return _first_match(suite, [*itself, *(root / rel for rel in SEARCH[suite])])


def _first_match(suite: str, places: Sequence[Path]) -> Path | None:
    return next((p for p in places if p.is_dir() and _looks_like(suite, p)), None)


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


def check_run(config: RunConfig) -> str:
    """Fail in one line before any compute if an input is missing or ``out`` cannot take the results;
    return the checkpoint's sha256."""
    check_input_file(config.checkpoint, "--checkpoint")
    if config.data_root is not None:
        check_input_folder(config.data_root, "--data-root")
    for suite, path in config.paths.items():
        if not path.exists():
            raise FileNotFoundError(f"--path {suite}={path}: not found")
    if config.real_labels is not None:
        check_input_file(config.real_labels, "--real-labels")
    if config.imagenet_a_masks is not None:
        check_input_folder(config.imagenet_a_masks, "--imagenet-a-masks")
    if config.train_data is not None:
        check_input_folder(config.train_data, "--train-data")
    check_writable(config.out, "--out")
    checkpoint_sha256 = sha256_file(config.checkpoint)
    refuse_foreign_results(config.out, checkpoint_sha256, overwrite=config.overwrite)
    return checkpoint_sha256


def _preprocess(state: dict[str, Any]) -> Preprocess:
    p = state["preprocess"]
    return Preprocess(
        resize=int(p["resize"]), crop=int(p["crop"]), mean=tuple(p["mean"]), std=tuple(p["std"])
    )


def _saved_head(state: dict[str, Any]) -> nn.Linear:
    weight, bias = state["head"]["weight"], state["head"]["bias"]
    head = nn.Linear(weight.shape[1], weight.shape[0])
    head.load_state_dict({"weight": weight, "bias": bias})
    return head


def _train_head(
    config: RunConfig, backbone: nn.Module, pre: Preprocess, state: dict[str, Any], checkpoint_sha256: str
) -> tuple[nn.Linear, LinearHeadInfo]:
    """A linear head by the linear protocol on ``--train-data``, saved with the backbone as classifier.pt."""
    if config.train_data is None:
        raise UsageError(
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
        cache_key=checkpoint_key(checkpoint_sha256),
        seed=config.seed,
    )
    fast = config.linear_mode == "fast"
    protocol = "standardised-feature probe" if fast else f"{method or 'default'} recipe"
    n_epochs = config.linear_epochs or (FAST_LINEAR if fast else recipe).epochs
    info = LinearHeadInfo(
        note=(
            f"trained here by the linear protocol ({config.linear_mode} mode, {protocol}, {n_epochs} epochs)"
            f" on {config.train_data}; checkpoint had none"
        ),
        train_data=str(config.train_data),
        classes=len(classes),
        final_train_loss=result.train_loss[-1],
        checkpoint_with_head=str(config.out / "classifier.pt"),
        unreadable=tuple(result.unreadable),
    )
    save_backbone(
        config.out / "classifier.pt",
        backbone,
        arch=str(state["arch"]),
        small_stem=bool(state["small_stem"]),
        head=result.head,
        preprocess=pre,
        meta={**state.get("meta", {}), "linear_head": info.note},
    )
    return result.head, info


def prepare_classifier(
    config: RunConfig, checkpoint_sha256: str
) -> tuple[nn.Module, LinearHeadInfo | None, dict[str, Any]]:
    """The classifier to evaluate; trains a linear head first when the checkpoint has none."""
    backbone, state = load_backbone(config.checkpoint)
    pre = _preprocess(state)
    if "head" in state:
        return Classifier(backbone, _saved_head(state), pre).eval(), None, state
    head, info = _train_head(config, backbone, pre, state, checkpoint_sha256)
    return Classifier(backbone, head, pre).eval(), info, state


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


def evaluate_suite(config: RunConfig, suite: str, model: nn.Module, logits: int) -> SuiteResult:
    """One suite's result: skipped when its data or a file it needs is absent or the classifier does
    not fit it, failed (with the cause) on bad data, otherwise its numbers."""
    path, tried = locate(config, suite)
    if path is None:
        where = ", ".join(str(p) for p in tried) or "(no path; pass --path " + suite + "=DIR)"
        return SuiteResult("skipped", reason=f"not found at {where}")
    if suite in NEEDS_IMAGENET and logits != 1000:
        return SuiteResult("skipped", reason=f"needs a 1000-way ImageNet classifier, this one has {logits}")
    extra, wanted = _extra(config, suite)
    if suite in EXTRA_FILES and extra is None:
        return SuiteResult("skipped", reason=f"not found at {wanted}")
    start = time.perf_counter()
    try:
        numbers = _runner(config, suite, path, extra)(model)
    except (ValueError, FileNotFoundError, KeyError, ImportError) as exc:
        return SuiteResult("failed", reason=f"{type(exc).__name__}: {exc}", path=str(path))
    return SuiteResult("ok", path=str(path), seconds=time.perf_counter() - start, numbers=numbers)


def run(config: RunConfig) -> EvalResults:
    """Check inputs and outputs, evaluate every requested suite, then write and return the results."""
    checkpoint_sha256 = check_run(config)
    config.out.mkdir(parents=True, exist_ok=True)
    model, linear_head, state = prepare_classifier(config, checkpoint_sha256)
    logits = num_logits(model)
    suites = {suite: evaluate_suite(config, suite, model, logits) for suite in config.suites}
    unreadable = set(linear_head.unreadable if linear_head is not None else ())
    unreadable = unreadable.union(*(s.unreadable_files() for s in suites.values()))
    results = EvalResults(
        checkpoint=str(config.checkpoint),
        checkpoint_sha256=checkpoint_sha256,
        meta=state.get("meta", {}),
        logits=logits,
        linear_head=linear_head,
        bn_adapt=config.options.bn_adapt,
        bf16=config.options.bf16,
        suites=suites,
        unreadable_files=tuple(sorted(unreadable)),
    )
    if linear_head is None:
        # Only reachable with --overwrite or for this checkpoint's own folder: a classifier.pt there is
        # not this run's, and must not sit beside its results.
        (config.out / "classifier.pt").unlink(missing_ok=True)
    as_json = results.to_json()
    atomic_write_json(config.out / "results.json", as_json)
    write_reports(as_json, config.out)
    return results
