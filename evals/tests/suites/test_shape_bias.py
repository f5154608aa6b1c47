from __future__ import annotations

from pathlib import Path

import pytest
import torch

from bgaug.evals.inference import EvalOptions
from bgaug.evals.suites.shape_bias import cue_conflict_stimuli, evaluate_shape_bias, sixteen_class_decider
from bgaug.evals.tables import cue_conflict_groups

OPTS = EvalOptions(batch_size=16, workers=0, device="cpu", progress=False)


def _logits_for(categories: list[int]) -> torch.Tensor:
    groups = list(cue_conflict_groups().values())
    rows = torch.zeros(len(categories), 1000)
    for r, c in enumerate(categories):
        rows[r, list(groups[c])] = 8.0
    return rows


def test_real_stimuli_parse_and_exclude_same_class(shared_data: Path) -> None:
    stimuli, excluded = cue_conflict_stimuli(shared_data / "cue-conflict-sample")
    assert len(stimuli) + excluded == 64
    assert excluded > 0
    assert all(s.shape != s.texture for s in stimuli)


@pytest.mark.parametrize(("pick", "expected"), [("shape", 1.0), ("texture", 0.0)])
def test_shape_and_texture_classifiers_on_real_samples(shared_data: Path, scripted, pick, expected) -> None:  # type: ignore[no-untyped-def]
    root = shared_data / "cue-conflict-sample"
    stimuli, _ = cue_conflict_stimuli(root)
    model = scripted(_logits_for([getattr(s, pick) for s in stimuli]), 224)
    result = evaluate_shape_bias(model, root, OPTS)
    assert result["n"] == len(stimuli)
    assert result["shape_bias"] == expected
    assert result[f"{pick}_match"] == 100.0


def test_decision_uses_mean_not_sum_over_group_indices() -> None:
    groups = cue_conflict_groups()
    names = list(groups)
    assert len(groups["bird"]) > 40 and len(groups["knife"]) == 1
    logits = torch.full((1, 1000), -30.0)
    logits[0, list(groups["bird"])] = 0.0  # many mid-probability indices: large sum, small mean
    logits[0, groups["knife"][0]] = 2.0  # one index, highest mean
    probs = logits.softmax(1)[0]
    assert probs[list(groups["bird"])].sum() > probs[groups["knife"][0]]
    assert sixteen_class_decider()(logits).item() == names.index("knife")
