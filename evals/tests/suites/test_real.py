from __future__ import annotations

import json
from pathlib import Path

import pytest

from bgaug.evals.inference import EvalOptions
from bgaug.evals.suites.real import evaluate_real, load_real_labels, read_predictions, real_accuracy

OPTS = EvalOptions(batch_size=4, workers=0, device="cpu", progress=False)


def test_constructed_prediction_file_scores_as_hand_computed(shared_data: Path, tmp_path: Path) -> None:
    real = load_real_labels(shared_data / "reference" / "real.json")
    assert len(real) == 50_000
    assert real[0] == [] and sorted(real[1]) == [795, 970] and real[2] == [230, 231]
    predictions = {
        "ILSVRC2012_val_00000001.JPEG": 5,  # empty list: excluded
        "ILSVRC2012_val_00000002.JPEG": 795,  # right (second of two labels)
        "ILSVRC2012_val_00000003.JPEG": 232,  # wrong
        "ILSVRC2012_val_00000004.JPEG": 809,  # right
        "ILSVRC2012_val_00000022.JPEG": 1,  # empty list: excluded
    }
    assert real[21] == []
    path = tmp_path / "pred.json"
    path.write_text(json.dumps(predictions))
    result = real_accuracy(read_predictions(path), real)
    assert result == {"top1": pytest.approx(200 / 3), "n": 3, "n_excluded_empty": 2}


def test_evaluate_real_on_val_files(
    shared_data: Path, tmp_path: Path, write_images, scripted, one_hot
) -> None:  # type: ignore[no-untyped-def]
    write_images(tmp_path / "val" / "n01440764", 1, 8, name="ILSVRC2012_val_00000002.JPEG")
    write_images(tmp_path / "val" / "n01443537", 1, 8, name="ILSVRC2012_val_00000001.JPEG")
    write_images(tmp_path / "val" / "n01443537", 1, 8, name="ILSVRC2012_val_00000003.JPEG")
    # Sorted paths: 00000002 (right with 970), then 00000001 (excluded), 00000003 (wrong).
    model = scripted(one_hot([970, 0, 1]))
    result = evaluate_real(model, tmp_path / "val", shared_data / "reference" / "real.json", OPTS)
    assert result["n"] == 2 and result["n_excluded_empty"] == 1
    assert result["top1"] == 50.0


def test_bad_label_file(tmp_path: Path) -> None:
    (tmp_path / "real.json").write_text("[[1]]")
    with pytest.raises(ValueError, match="50000"):
        load_real_labels(tmp_path / "real.json")
