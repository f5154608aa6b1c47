"""Shape bias on the texture-shape cue-conflict stimuli (Geirhos et al. 2019, model-vs-human).

Layout: ``ROOT/{shape}/{shape}{i}-{texture}{j}.png`` (the folder is the shape class; the texture is
the token after ``-`` without digits). Images whose shape equals their texture are excluded. The
16-way decision is the argmax over the 16 categories of the *mean* softmax probability over each
category's ImageNet indices (so a category with many indices gains nothing from its count). Shape
bias = shape decisions / (shape + texture decisions).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from bgaug.evals.datasets import ImageListDataset, LabelledImage, class_folders
from bgaug.evals.inference import Decide, EvalOptions, predict
from bgaug.evals.suites.common import preprocess_of
from bgaug.evals.tables import cue_conflict_groups

_NAME = re.compile(r"^(?P<shape>[a-z]+)\d+-(?P<texture>[a-z]+)\d+$")


@dataclass(frozen=True)
class Stimulus:
    path: Path
    shape: int
    texture: int


def cue_conflict_stimuli(root: str | Path) -> tuple[list[Stimulus], int]:
    """Stimuli with shape != texture (labels index the 16 sorted categories) and the number excluded."""
    categories = list(cue_conflict_groups())
    position = {c: i for i, c in enumerate(categories)}
    base = Path(root)
    stimuli: list[Stimulus] = []
    excluded = 0
    for folder in class_folders(base):
        if folder not in position:
            raise ValueError(f"{base / folder}: not one of the 16 cue-conflict categories")
        for path in sorted((base / folder).glob("*.png")):
            match = _NAME.match(path.stem)
            if match is None or match["texture"] not in position or match["shape"] != folder:
                raise ValueError(f"{path}: expected a name like {folder}1-cat2.png")
            if match["texture"] == folder:
                excluded += 1
                continue
            stimuli.append(Stimulus(path, position[folder], position[match["texture"]]))
    if not stimuli:
        raise ValueError(f"{base}: no cue-conflict stimuli")
    return stimuli, excluded


def sixteen_class_decider() -> Decide:
    """Softmax over 1000 logits -> mean probability per category -> argmax over the 16 categories."""
    groups = list(cue_conflict_groups().values())
    membership = torch.zeros(len(groups), 1000)
    for i, indices in enumerate(groups):
        membership[i, list(indices)] = 1.0 / len(indices)

    def decide(logits: Tensor) -> Tensor:
        if logits.shape[1] != 1000:
            raise ValueError(f"shape bias needs a 1000-way ImageNet classifier, got {logits.shape[1]} logits")
        probs = logits.softmax(dim=1)
        return (probs @ membership.to(probs.device).T).argmax(dim=1)

    return decide


def shape_bias_from_decisions(
    decisions: np.ndarray, shapes: np.ndarray, textures: np.ndarray
) -> dict[str, Any]:
    shape_hits = int((decisions == shapes).sum())
    texture_hits = int((decisions == textures).sum())
    n = len(decisions)
    both = shape_hits + texture_hits
    return {
        "shape_bias": shape_hits / both if both else float("nan"),
        "shape_match": 100.0 * shape_hits / n if n else float("nan"),
        "texture_match": 100.0 * texture_hits / n if n else float("nan"),
        "n": n,
    }


def evaluate_shape_bias(model: nn.Module, root: str | Path, options: EvalOptions) -> dict[str, Any]:
    stimuli, excluded = cue_conflict_stimuli(root)
    items = [LabelledImage(s.path, s.shape) for s in stimuli]
    outcome = predict(
        model,
        ImageListDataset(items, preprocess_of(model)),
        options,
        decide=sixteen_class_decider(),
        desc="shape_bias",
    )
    textures = np.array([stimuli[i].texture for i in outcome.indices.tolist()], dtype=np.int64)
    result = shape_bias_from_decisions(outcome.predictions, outcome.labels, textures)
    result.update(
        n_excluded_same=excluded, n_unreadable=len(outcome.unreadable), unreadable=outcome.unreadable
    )
    return result
