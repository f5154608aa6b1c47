"""Unreadable and unusual images: counted and listed wherever they are met, never silently dropped."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from bgaug.core.interfaces import Preprocess
from bgaug.evals.cli import main
from bgaug.evals.datasets import imagefolder_items
from bgaug.evals.inference import EvalOptions
from bgaug.evals.linear import train_linear
from bgaug.evals.recipes import Recipe

from .conftest import FAST, save_test_checkpoint

OPTS = EvalOptions(batch_size=4, workers=0, device="cpu", progress=False)


def _run_with_train_data(tmp_path: Path, root: Path, out: Path) -> dict[str, object]:
    ckpt = tmp_path / "backbone.pt"
    if not ckpt.exists():
        save_test_checkpoint(ckpt, head=False)
    argv = ["run", "--checkpoint", str(ckpt), "--data-root", str(root), "--out", str(out), "--suites", "in9"]
    assert main([*argv, "--train-data", str(root / "train"), "--linear-epochs", "1", *FAST]) == 0
    return dict(json.loads((out / "results.json").read_text()))


def test_run_counts_and_lists_unreadable_train_images(tmp_path: Path, synth_root: Path) -> None:
    broken = synth_root / "train" / "circle" / "broken.jpg"
    broken.write_bytes(b"\xff\xd8 truncated")
    out = tmp_path / "out"
    for _ in range(2):  # the second run reads the cached features: the list must survive the cache
        results = _run_with_train_data(tmp_path, synth_root, out)
        assert results["n_unreadable"] == 1 and results["unreadable_files"] == [str(broken)]
        head = results["linear_head"]
        assert isinstance(head, dict)
        assert head["n_unreadable"] == 1 and head["unreadable"] == [str(broken)]
    report = (out / "results.md").read_text()
    assert "1 unreadable image file(s) skipped" in report and "linear head's training data" in report


def test_paper_mode_lists_unreadable_train_images(tmp_path: Path, write_images) -> None:  # type: ignore[no-untyped-def]
    for c in ("a", "b"):
        write_images(tmp_path / c, 3, 16)
    tiny = tmp_path / "a" / "tiny.png"
    Image.fromarray(np.zeros((1, 1, 3), np.uint8)).save(tiny)  # 1x1: no crop is defined
    items, _ = imagefolder_items(tmp_path)
    from bgaug.core.backbones import build_resnet

    backbone = build_resnet("resnet10_w16", small_stem=True).eval()
    recipe = Recipe(epochs=2, batch_size=4, lr=0.1)
    result = train_linear(backbone, Preprocess(resize=16, crop=16), items, 2, recipe, OPTS, mode="paper")
    assert result.unreadable == [str(tiny)]
    assert result.summary()["n_unreadable"] == 1


def _odd_images(folder: Path) -> dict[str, Path]:
    """One file of every awkward kind the README's table names."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    files = {
        "cmyk": folder / "cmyk.jpg",
        "gray": folder / "gray.png",
        "rgba": folder / "rgba.png",
        "16bit": folder / "16bit.png",
        "tiny": folder / "tiny.png",
        "truncated": folder / "truncated.png",
    }
    Image.fromarray(rgb).convert("CMYK").save(files["cmyk"])
    Image.fromarray(rgb[:, :, 0]).save(files["gray"])
    Image.fromarray(np.dstack([rgb, rgb[:, :, :1]])).save(files["rgba"])
    Image.fromarray((rng.integers(0, 65536, (16, 16))).astype(np.uint16)).save(files["16bit"])
    Image.fromarray(rgb[:1, :1]).save(files["tiny"])
    files["truncated"].write_bytes((folder / "gray.png").read_bytes()[:40])
    return files


def test_run_evaluates_unusual_modes_and_lists_only_the_unusable(tmp_path: Path, synth_root: Path) -> None:
    files = _odd_images(synth_root / "val" / "circle")
    ckpt = save_test_checkpoint(tmp_path / "model.pt", head=True)
    out = tmp_path / "out"
    argv = ["run", "--checkpoint", str(ckpt), "--data-root", str(synth_root), "--out", str(out)]
    assert main([*argv, "--suites", "imagenet", *FAST]) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["suites"]["imagenet"]["n"] == 6 + 4  # 2 per class plus CMYK, gray, RGBA, 16-bit
    assert results["unreadable_files"] == sorted([str(files["tiny"]), str(files["truncated"])])


def test_finetune_lists_unreadable_train_images(tmp_path: Path, write_images) -> None:  # type: ignore[no-untyped-def]
    from bgaug.core.backbones import build_resnet
    from bgaug.evals.finetune import finetune

    for c in ("a", "b"):
        write_images(tmp_path / c, 3, 16)
    broken = tmp_path / "b" / "broken.png"
    broken.write_bytes(b"\x89PNG truncated")
    items, _ = imagefolder_items(tmp_path)
    backbone = build_resnet("resnet10_w16", small_stem=True)
    recipe = Recipe(epochs=1, batch_size=4, lr=0.01, head_lr=0.1)
    _, _, unreadable = finetune(backbone, Preprocess(resize=16, crop=16), items, 2, recipe, OPTS)
    assert unreadable == [str(broken)]


def test_knn_reports_unreadable_images(tmp_path: Path, synth_root: Path) -> None:
    broken = synth_root / "train" / "square" / "broken.jpg"
    broken.write_bytes(b"")
    ckpt = save_test_checkpoint(tmp_path / "model.pt", head=False)
    out = tmp_path / "knn.json"
    argv = ["knn", "--checkpoint", str(ckpt), "--train", str(synth_root / "train"), "--val"]
    assert main([*argv, str(synth_root / "val"), "--k", "3", "--json", str(out), *FAST]) == 0
    result = json.loads(out.read_text())
    assert result["n_train"] == 9 and result["n_unreadable"] == 1
    assert result["unreadable_files"] == [str(broken)]
