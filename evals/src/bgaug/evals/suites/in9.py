"""ImageNet-9 backgrounds challenge (Xiao et al. 2021): 8 variants and the BG-Gap.

Layout: ``ROOT/{variant}/val/{class}/`` for the variants below (the released ``bg_challenge`` tree
and the synthetic benchmark's ``in9/`` tree alike). A 1000-way ImageNet classifier is scored as the
authors do: top-1 over all 1000 logits, the argmax mapped to the IN-9 class whose ImageNet indices
hold it (370 indices; the other 630 always count as wrong). A K-way classifier on a K-class tree is
scored with the identity mapping (class folder i -> logit i). BG-Gap = Mixed-Same - Mixed-Rand.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from bgaug.core.config import check_choice
from bgaug.core.interfaces import IN9_VARIANTS
from bgaug.evals.datasets import ImageListDataset, class_folders, imagefolder_items
from bgaug.evals.inference import Decide, EvalOptions, argmax, predict
from bgaug.evals.suites.common import num_logits, preprocess_of, record
from bgaug.evals.tables import in9_groups

VARIANTS = IN9_VARIANTS
MAPPINGS = ("auto", "imagenet", "identity")


def imagenet_group_decider(classes: list[str]) -> Decide:
    """Argmax over 1000 logits -> position of its IN-9 group in ``classes``, -1 (wrong) if none."""
    groups = in9_groups()
    unknown = [c for c in classes if c not in groups]
    if unknown:
        raise ValueError(f"not ImageNet-9 class folders: {', '.join(unknown)} (expected {', '.join(groups)})")
    table = torch.full((1000,), -1, dtype=torch.long)
    for position, name in enumerate(classes):
        table[list(groups[name])] = position

    def decide(logits: Tensor) -> Tensor:
        if logits.shape[1] != 1000:
            raise ValueError(f"the ImageNet mapping needs 1000 logits, the classifier has {logits.shape[1]}")
        return table.to(logits.device)[logits.argmax(dim=1)]

    return decide


def resolve_mapping(mapping: str, classes: list[str], logits: int) -> str:
    check_choice("mapping", mapping, MAPPINGS)
    if mapping != "auto":
        return mapping
    if logits == 1000 and set(classes) <= set(in9_groups()):
        return "imagenet"
    if logits == len(classes):
        return "identity"
    raise ValueError(
        f"cannot map a {logits}-way classifier onto {len(classes)} IN-9 classes: use a 1000-way ImageNet"
        " classifier on the IN-9 class names or a classifier with one logit per class folder"
    )


def evaluate_in9(
    model: nn.Module, root: str | Path, options: EvalOptions, *, mapping: str = "auto"
) -> dict[str, Any]:
    """Top-1 (%) on every variant present under ``root`` and the BG-Gap; absent variants are listed."""
    base = Path(root)
    present = [v for v in VARIANTS if (base / v / "val").is_dir()]
    if not present:
        raise FileNotFoundError(f"{base}: no ImageNet-9 variant folders ({'/val, '.join(VARIANTS)}/val)")
    classes = class_folders(base / present[0] / "val")
    used = resolve_mapping(mapping, classes, num_logits(model))
    decide = imagenet_group_decider(classes) if used == "imagenet" else argmax
    out: dict[str, Any] = {"mapping": used, "classes": classes, "variants": {}}
    for variant in present:
        folder = base / variant / "val"
        items, found = imagefolder_items(folder)
        if found != classes:
            raise ValueError(f"{folder}: class folders differ from {base / present[0] / 'val'}")
        dataset = ImageListDataset(items, preprocess_of(model))
        out["variants"][variant] = record(
            predict(model, dataset, options, decide=decide, desc=f"in9/{variant}")
        )
    out["missing_variants"] = [v for v in VARIANTS if v not in present]
    variants = out["variants"]
    if "mixed_same" in variants and "mixed_rand" in variants:
        out["bg_gap"] = variants["mixed_same"]["top1"] - variants["mixed_rand"]["top1"]
    return out
