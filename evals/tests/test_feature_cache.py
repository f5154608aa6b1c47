"""Feature caches follow the checkpoint's content, not its path."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bgaug.evals.cli import main

from .conftest import FAST, save_test_checkpoint


def _command(name: str, ckpt: Path, root: Path, cache: Path, json_path: Path) -> list[str]:
    common = ["--checkpoint", str(ckpt), "--cache", str(cache), "--epochs", "2", "--json", str(json_path)]
    if name == "linear":
        return ["linear", *common, "--train", str(root / "train"), "--val", str(root / "val"), *FAST]
    return ["transfer", *common, "--source", "folder", "--root", str(root), *FAST]


@pytest.mark.parametrize("command", ["linear", "transfer"])
def test_a_new_checkpoint_at_the_same_path_does_not_reuse_the_old_features(
    command: str, tmp_path: Path, synth_root: Path
) -> None:
    ckpt, cache = tmp_path / "model.pt", tmp_path / "cache"

    def evaluate(cache_dir: Path, name: str) -> dict[str, float]:
        out = tmp_path / f"{name}.json"
        assert main(_command(command, ckpt, synth_root, cache_dir, out)) == 0
        return dict(json.loads(out.read_text()))

    save_test_checkpoint(ckpt, head=False, seed=0)
    first = evaluate(cache, "first")
    save_test_checkpoint(ckpt, head=False, seed=1)  # retrained: new weights, same path
    reused = evaluate(cache, "reused")
    fresh = evaluate(tmp_path / "fresh-cache", "fresh")
    assert fresh["final_train_loss"] != first["final_train_loss"]  # the two checkpoints differ
    assert reused == fresh


def test_a_damaged_cache_file_is_recomputed_not_fatal(tmp_path: Path, synth_root: Path) -> None:
    ckpt, cache = save_test_checkpoint(tmp_path / "model.pt", head=False), tmp_path / "cache"
    assert main(_command("linear", ckpt, synth_root, cache, tmp_path / "a.json")) == 0
    train_cache = cache / "train.features.npz"
    train_cache.write_bytes(train_cache.read_bytes()[:100])  # truncated, e.g. copied half-way
    assert main(_command("linear", ckpt, synth_root, cache, tmp_path / "b.json")) == 0
    with np.load(train_cache, allow_pickle=False) as data:
        assert data["features"].shape == (9, 128)
