"""``runner.run`` returns typed results whose JSON is exactly results.json's format."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bgaug.evals.inference import EvalOptions
from bgaug.evals.results import EvalResults, SuiteResult
from bgaug.evals.runner import RunConfig, run

from .conftest import save_test_checkpoint

TOP_LEVEL = [
    "checkpoint",
    "checkpoint_sha256",
    "meta",
    "logits",
    "linear_head",
    "bn_adapt",
    "bf16",
    "suites",
    "skipped",
    "failed",
    "n_unreadable",
    "unreadable_files",
]
SAVED: dict[str, Any] = {  # a results.json as the evaluation suite has always written it
    "checkpoint": "runs/x/backbone.pt",
    "checkpoint_sha256": "ab" * 32,
    "meta": {"method": "byol"},
    "logits": 9,
    "linear_head": {
        "note": "trained here",
        "train_data": "data/train",
        "classes": 9,
        "final_train_loss": 1.5,
        "checkpoint_with_head": "out/classifier.pt",
        "n_unreadable": 1,
        "unreadable": ["data/train/a/x.jpg"],
    },
    "bn_adapt": False,
    "bf16": True,
    "suites": {
        "in9": {
            "status": "ok",
            "path": "data/in9",
            "seconds": 2.5,
            "mapping": "identity",
            "classes": ["a", "b"],
            "variants": {"original": {"top1": 50.0, "n": 2, "n_unreadable": 0, "unreadable": []}},
            "missing_variants": [],
            "bg_gap": 1.25,
        },
        "imagenet": {"status": "failed", "reason": "ValueError: bad", "path": "data/val"},
        "objectnet": {"status": "skipped", "reason": "not found at data/objectnet-1.0/images"},
    },
    "skipped": {"objectnet": "not found at data/objectnet-1.0/images"},
    "failed": {"imagenet": "ValueError: bad"},
    "n_unreadable": 2,
    "unreadable_files": ["data/in9/x.jpg", "data/train/a/x.jpg"],
}


def test_saved_results_read_back_and_write_out_byte_for_byte() -> None:
    results = EvalResults.from_json(SAVED)
    assert json.dumps(results.to_json()) == json.dumps(SAVED)  # same keys, values and order
    in9 = results.suites["in9"]
    assert in9.status == "ok" and in9.bg_gap == 1.25 and in9.variant_top1() == {"original": 50.0}
    assert results.failed == {"imagenet": "ValueError: bad"} and results.n_unreadable == 2
    assert results.linear_head is not None and results.linear_head.classes == 9


def test_results_saved_before_the_head_counted_unreadable_images_still_read() -> None:
    old = json.loads(json.dumps(SAVED))
    for key in ("n_unreadable", "unreadable"):
        del old["linear_head"][key]
    head = EvalResults.from_json(old).linear_head
    assert head is not None and head.unreadable == ()


def test_a_suite_result_refuses_an_unknown_status() -> None:
    with pytest.raises(ValueError, match="status"):
        SuiteResult(status="done")


def test_run_returns_typed_results_matching_results_json(tmp_path: Path, synth_root: Path) -> None:
    ckpt = save_test_checkpoint(tmp_path / "model.pt", head=True)
    config = RunConfig(
        checkpoint=ckpt,
        data_root=synth_root,
        out=tmp_path / "out",
        suites=["in9", "imagenet_a"],
        options=EvalOptions(batch_size=8, workers=0, device="cpu", progress=False),
    )
    results = run(config)
    assert isinstance(results, EvalResults)
    saved = json.loads((tmp_path / "out" / "results.json").read_text())
    as_json = results.to_json()
    assert as_json == saved and list(as_json) == TOP_LEVEL  # the file sorts keys; the dict keeps order
    assert list(as_json["suites"]["in9"])[:3] == ["status", "path", "seconds"]
    assert EvalResults.from_json(saved) == results
    in9 = results.suites["in9"]
    top1 = in9.variant_top1()
    assert in9.bg_gap == pytest.approx(top1["mixed_same"] - top1["mixed_rand"])
    assert results.skipped == {"imagenet_a": saved["suites"]["imagenet_a"]["reason"]}


def test_run_results_still_read_like_the_old_dict(tmp_path: Path, synth_root: Path) -> None:
    """What bgaug.launch (demo._evaluate, worker.in9_metrics) reads until it moves to the typed fields."""
    ckpt = save_test_checkpoint(tmp_path / "model.pt", head=True)
    options = EvalOptions(batch_size=8, workers=0, device="cpu", progress=False)
    results = run(RunConfig(ckpt, synth_root, tmp_path / "out", suites=["in9"], options=options))
    in9 = results["suites"]["in9"]
    assert in9.get("status") == "ok" and float(in9["bg_gap"]) == results.suites["in9"].bg_gap
    assert {name: v["top1"] for name, v in in9["variants"].items()} == results.suites["in9"].variant_top1()
    assert results.get("linear_head") is None and results.get("no such key", 7) == 7
    json.dumps({"in9": in9, "linear_head": results.get("linear_head")})  # what the demo stores
