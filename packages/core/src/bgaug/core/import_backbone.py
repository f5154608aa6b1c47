"""Import a ResNet's weights from another library as a bgaug backbone checkpoint.

``python -m bgaug.core import-backbone --weights FILE --method byol --out CKPT``

Reads a ResNet's weights saved by torchvision, solo-learn, the MoCo / BYOL reference code or any
library that keeps torchvision's module names, and writes a ``bgaug-backbone/1`` checkpoint that
every bgaug command takes: ``saliency fit --init`` (the paper initialises DeepUSPS2 from a
BYOL-pretrained ResNet-50), ``evals run --checkpoint`` and the evals' other commands.
Nothing is downloaded: FILE is a file you already have.

- FILE is read with ``torch.load(..., weights_only=True)``, so no pickled code runs. A checkpoint
  that also pickles objects (a PyTorch Lightning checkpoint's hyper-parameters, an optimiser's
  classes) does not load that way; extract its weights once in a Python session you trust
  (``torch.save(torch.load(FILE, weights_only=False)["state_dict"], "weights.pt")``) and import those.
- The weights are found wherever they sit in FILE's nesting (``state_dict``, ``model``, ``module.``,
  ``backbone.``, ``encoder_q.``...): every place that holds a ResNet (a ``conv1`` and
  ``layer1.0.conv1`` beside it) is a candidate. When FILE holds several (MoCo's query and key
  encoders, BYOL's online and target networks), ``--prefix`` names the one to take.
- The architecture is the one of resnet10..resnet50 whose tensors match exactly (every block, every
  shape). ``fc.*`` (a linear or MLP head) is dropped unless ``--keep-head`` keeps a linear classifier
  as the checkpoint's head; modules beside the ResNet's own (SwAV's ``prototypes``, a projector) are
  left out and listed under ``ignored``.
- A 3x3 stem is taken only with ``--small-stem``: bgaug's small stem is a 3x3/1 convolution with
  padding 1 and no max-pool, and the tensors cannot tell whether the source used the same.
- The checkpoint records ``--method`` (``fit`` refuses ``supervised`` for DeepUSPS2), FILE's path,
  its SHA-256, the prefix and what was left out, and carries the standard ImageNet preprocessing
  (resize 256, centre crop 224, ImageNet mean and std).
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from bgaug.core.backbones import FEATURE_DIMS, build_resnet, save_backbone
from bgaug.core.errors import UsageError
from bgaug.core.io import BadCheckpointError, atomic_write_json, load_checkpoint, sha256_file
from bgaug.core.preflight import check_json_out, check_new_file

STEM_KEY = "conv1.weight"
FIRST_BLOCK_KEY = "layer1.0.conv1.weight"
TRUNK = {"conv1", "bn1", "layer1", "layer2", "layer3", "layer4"}
"""torchvision's ResNet modules that hold tensors, ``fc`` aside. Modules beside them (SwAV's
``prototypes`` and ``projection_head``, a SimSiam ``predictor``) are not the backbone."""


def flatten_tensors(state: Mapping[str, Any], prefix: str = "") -> dict[str, torch.Tensor]:
    """Every tensor in a nested dict under its dotted path (``state_dict.module.conv1.weight``)."""
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        path = f"{prefix}{key}"
        if isinstance(value, torch.Tensor):
            out[path] = value
        elif isinstance(value, Mapping):
            out.update(flatten_tensors(value, f"{path}."))
    return out


def resnet_prefixes(tensors: Mapping[str, torch.Tensor]) -> list[str]:
    """The dotted prefixes under which a torchvision-named ResNet sits (``""`` for a plain one)."""
    found = {
        key[: -len(FIRST_BLOCK_KEY)]
        for key in tensors
        if key.endswith(FIRST_BLOCK_KEY)
        and (key[: -len(FIRST_BLOCK_KEY)] == "" or key.endswith("." + FIRST_BLOCK_KEY))
    }
    return sorted(p for p in found if p + STEM_KEY in tensors)


def _take_prefix(
    tensors: Mapping[str, torch.Tensor], prefix: str | None, source: str
) -> tuple[str, dict[str, torch.Tensor]]:
    candidates = resnet_prefixes(tensors)
    if prefix is not None:
        prefix = prefix if prefix == "" or prefix.endswith(".") else prefix + "."
        if prefix not in candidates:
            found = ", ".join(repr(p) for p in candidates) or "none"
            raise UsageError(
                f"--prefix {prefix!r}: no ResNet there in {source} (ResNets found under: {found})"
            )
    elif not candidates:
        raise BadCheckpointError(
            f"{source}: no ResNet weights found (no '{STEM_KEY}' with '{FIRST_BLOCK_KEY}' beside it, "
            f"among {len(tensors)} tensors)"
        )
    elif len(candidates) > 1:
        found = ", ".join(repr(p) for p in candidates)
        raise UsageError(
            f"{source} holds {len(candidates)} ResNets (prefixes {found}); choose one with --prefix"
        )
    else:
        prefix = candidates[0]
    # A ResNet nested inside the chosen one's namespace (an EMA copy beside the weights) is not its.
    inner = [c for c in candidates if c != prefix and c.startswith(prefix)]
    return prefix, {
        k[len(prefix) :]: v
        for k, v in tensors.items()
        if k.startswith(prefix) and not any(k.startswith(c) for c in inner)
    }


def _mismatches(model: nn.Module, weights: Mapping[str, torch.Tensor]) -> list[str]:
    """What keeps ``weights`` (no ``fc``) from loading strictly into ``model``; empty when it fits."""
    expected = {k: v.shape for k, v in model.state_dict().items()}
    problems = [
        f"missing {k}" for k in expected if k not in weights and not k.endswith("num_batches_tracked")
    ]
    problems += [f"unexpected {k}" for k in weights if k not in expected]
    problems += [
        f"{k}: {tuple(weights[k].shape)} where {tuple(shape)} is expected"
        for k, shape in expected.items()
        if k in weights and weights[k].shape != shape
    ]
    return problems


def import_weights(
    source: str | os.PathLike[str],
    *,
    method: str,
    arch: str | None = None,
    prefix: str | None = None,
    small_stem: bool = False,
    keep_head: bool = False,
) -> tuple[nn.Module, nn.Linear | None, dict[str, Any]]:
    """The backbone (eval mode) held in ``source``, its linear head when ``keep_head``, and the facts
    to record: arch, small_stem, method (lower case, so ``fit`` recognises ``Supervised``), prefix,
    source path and SHA-256, and the modules left out."""
    if not method.strip():
        raise UsageError("--method must name what trained the weights (byol, moco_v2, supervised, ...)")
    tensors = flatten_tensors(load_checkpoint(source))
    prefix, weights = _take_prefix(tensors, prefix, str(source))
    head_weights = {k[3:]: v for k, v in weights.items() if k.startswith("fc.")}
    body = {k: v for k, v in weights.items() if k.partition(".")[0] in TRUNK}
    ignored = sorted({k.partition(".")[0] for k in weights} - TRUNK - {"fc"})
    stem_kernel = body[STEM_KEY].shape[-1]
    if stem_kernel == 3 and not small_stem:
        raise UsageError(
            f"{source}: the ResNet has a 3x3 stem; pass --small-stem if it is bgaug's (3x3 stride 1, "
            "padding 1, no max-pool)"
        )
    if stem_kernel != 3 and small_stem:
        raise UsageError(f"--small-stem: the ResNet in {source} has a {stem_kernel}x{stem_kernel} stem")
    archs = [arch] if arch is not None else list(FEATURE_DIMS)
    fits: list[tuple[str, nn.Module]] = []
    problems: dict[str, list[str]] = {}
    for name in archs:
        model = build_resnet(name, small_stem=small_stem)
        problems[name] = _mismatches(model, body)
        if not problems[name]:
            fits.append((name, model))
    if not fits:
        closest = min(problems, key=lambda a: len(problems[a]))
        shown = "; ".join(problems[closest][:3])
        what = closest if arch is not None else f"any of {', '.join(FEATURE_DIMS)} (closest: {closest})"
        raise BadCheckpointError(
            f"{source}: weights under {prefix!r} do not fit {what}: "
            f"{len(problems[closest])} problems, e.g. {shown}"
        )
    name, model = fits[0]
    # Some libraries save without BatchNorm's step counters; they only matter with momentum=None.
    full = dict(body)
    for key, value in model.state_dict().items():
        if key.endswith("num_batches_tracked") and key not in full:
            full[key] = torch.zeros_like(value)
    model.load_state_dict(
        {k: v.float() if v.is_floating_point() else v for k, v in full.items()}, strict=True
    )
    head = _linear_head(head_weights, FEATURE_DIMS[name], str(source)) if keep_head else None
    facts = {
        "arch": name,
        "small_stem": small_stem,
        "method": method.strip().lower(),
        "imported_from": str(Path(source).absolute()),
        "source_sha256": sha256_file(source),
        "prefix": prefix,
        "ignored": ignored,
    }
    return model.eval(), head, facts


def _linear_head(weights: Mapping[str, torch.Tensor], feature_dim: int, source: str) -> nn.Linear:
    if set(weights) != {"weight", "bias"} or weights["weight"].ndim != 2:
        found = ", ".join(sorted(f"fc.{k}" for k in weights)) or "no fc"
        raise UsageError(f"--keep-head: {source} has no linear classifier head (found {found})")
    classes, dim = weights["weight"].shape
    if dim != feature_dim:
        raise BadCheckpointError(
            f"{source}: fc.weight takes {dim} features, the backbone gives {feature_dim}"
        )
    head = nn.Linear(dim, classes)
    head.load_state_dict({"weight": weights["weight"].float(), "bias": weights["bias"].float()})
    return head


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--weights", required=True, help="the file holding the ResNet's weights (torch.save)")
    parser.add_argument(
        "--method",
        required=True,
        help="what trained the weights (byol, moco_v2, swav, supervised, ...): recorded in the checkpoint; "
        "saliency fit refuses supervised ones",
    )
    parser.add_argument("--out", required=True, help="the bgaug-backbone/1 checkpoint to write")
    parser.add_argument("--arch", choices=list(FEATURE_DIMS), help="default: the one whose tensors match")
    parser.add_argument("--prefix", help="where in the file the ResNet sits, when it holds several")
    parser.add_argument("--small-stem", action="store_true", help="the ResNet has bgaug's 3x3/1 stem")
    parser.add_argument("--keep-head", action="store_true", help="keep fc (a linear classifier) as the head")
    parser.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    parser.add_argument("--json", type=Path, help="also write the summary as JSON")


def run_from_args(args: argparse.Namespace) -> int:
    check_new_file(args.out, "--out", overwrite=args.overwrite)
    check_json_out(args.json)
    model, head, facts = import_weights(
        args.weights,
        method=args.method,
        arch=args.arch,
        prefix=args.prefix,
        small_stem=args.small_stem,
        keep_head=args.keep_head,
    )
    meta = {k: facts[k] for k in ("method", "imported_from", "source_sha256", "prefix", "ignored")}
    save_backbone(args.out, model, arch=facts["arch"], small_stem=facts["small_stem"], head=head, meta=meta)
    summary = {
        **facts,
        "checkpoint": str(args.out),
        "head_classes": None if head is None else head.out_features,
    }
    if args.json is not None:
        atomic_write_json(args.json, summary)
    print(json.dumps(summary, indent=2, sort_keys=True))
    return 0
