"""The demo end to end on a tiny preset: every stage runs, the report and figures are written, and a
second call reuses every finished stage."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from bgaug.core.interfaces import IN9_VARIANTS
from bgaug.launch import demo


@pytest.mark.slow
def test_demo_runs_end_to_end_and_reuses_finished_stages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tiny = demo.Preset(
        synth={
            "image_size": 32,
            "classes": 2,
            "pretrain_per_class": 8,
            "train_per_class": 4,
            "val_per_class": 2,
        },
        saliency={},
        runs=(("moco_v2", "none"), ("moco_v2", "bg_swaps")),
        pretrain={"epochs": 1, "batch_size": 8, "arch": "resnet10_w16", "image_size": 28},
        method_options={"moco_v2": {"hidden_dim": 32, "out_dim": 16, "queue_size": 16}},
        linear_epochs=2,
    )
    monkeypatch.setitem(demo.PRESETS, "tiny", tiny)
    out = tmp_path / "demo"
    results = demo.run_demo(out, "tiny")

    assert [(r["method"], r["bg_aug"]) for r in results["runs"]] == [("random", "none"), *tiny.runs]
    for run in results["runs"]:
        assert set(run["in9"]) == set(IN9_VARIANTS)
        assert run["bg_gap"] == pytest.approx(run["in9"]["mixed_same"] - run["in9"]["mixed_rand"])
    mask_rows = results["masks"]
    assert 0.0 <= mask_rows["centre prior (baseline)"]["max_f"] <= 1.0
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "| MoCo-v2 + BG_Swaps |" in report
    assert "| Random weights (reference) |" in report
    reference = torch.load(out / "runs" / "random-s0-i2" / "backbone.pt", weights_only=True)
    assert reference["arch"] == "resnet10_w16" and reference["preprocess"]["crop"] == 28
    inits = [
        json.loads((out / "runs" / f"random-s0-i{i}" / "eval" / "results.json").read_text(encoding="utf-8"))
        for i in range(demo.RANDOM_INITS)
    ]
    originals = [r["suites"]["in9"]["variants"]["original"]["top1"] / 100 for r in inits]
    assert results["runs"][0]["in9"]["original"] == pytest.approx(sum(originals) / len(originals))
    for figure in ("masks.png", "bg_gap.png", "in9_variants.png", "views_moco_v2_bg_swaps.png"):
        assert (out / figure).stat().st_size > 0
    from bgaug.core.io import current_umask

    readable = 0o666 & ~current_umask()  # as a file written in place: colleagues may read results
    for name in ("report.md", "results.json", "bg_gap.png", "masks.png"):
        assert (out / name).stat().st_mode & 0o777 == readable, name
    assert json.loads((out / "results.json").read_text(encoding="utf-8"))["runs"] == results["runs"]

    marker = out / "runs" / "moco_v2-none-s0" / ".stage.json"
    before = marker.stat().st_mtime_ns
    again = demo.run_demo(out, "tiny")
    assert marker.stat().st_mtime_ns == before  # finished stages are not run again
    assert again["runs"] == results["runs"]

    moved = tmp_path / "moved"
    out.rename(moved)  # a moved output folder is still a finished one, and its old place stays gone
    eval_marker = moved / "runs" / "moco_v2-none-s0" / "eval" / ".stage.json"
    before = eval_marker.stat().st_mtime_ns
    demo.run_demo(moved, "tiny")
    assert eval_marker.stat().st_mtime_ns == before and not out.exists()

    # A run trained under an earlier version of its recipe is stale, though the preset is the same.
    from bgaug.ssl_methods import recipes

    monkeypatch.setitem(recipes.RECIPES, "moco_v2", {**recipes.RECIPES["moco_v2"], "base_lr": 0.05})
    pretrain_marker = moved / "runs" / "moco_v2-none-s0" / ".stage.json"
    before = pretrain_marker.stat().st_mtime_ns
    demo.run_demo(moved, "tiny")
    assert pretrain_marker.stat().st_mtime_ns != before


def test_a_cached_stage_finds_its_files_after_its_folder_moved(tmp_path: Path) -> None:
    def work(directory: Path) -> dict[str, object]:
        (directory / "f.txt").write_text("made", encoding="utf-8")
        return {"file": str(directory / "f.txt"), "more": [str(directory), "/elsewhere/f.txt"]}

    first = demo.stage("step", tmp_path / "a", {"k": 1}, work)
    (tmp_path / "a").rename(tmp_path / "b")

    def must_not_run(directory: Path) -> dict[str, object]:
        raise AssertionError("a finished stage ran again")

    again = demo.stage("step", tmp_path / "b", {"k": 1}, must_not_run)
    assert Path(again["file"]).read_text(encoding="utf-8") == "made"
    assert again["more"] == [str(tmp_path / "b"), "/elsewhere/f.txt"]
    assert first["file"] == str(tmp_path / "a" / "f.txt")


def test_a_folder_the_demo_did_not_make_is_never_removed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "mine.txt").write_text("a user's file", encoding="utf-8")
    assert demo.main(["--quick", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "not made by bgaug demo" in err, err
    assert (tmp_path / "data" / "mine.txt").read_text(encoding="utf-8") == "a user's file"

    def work(directory: Path) -> dict[str, object]:
        (directory / "f.txt").write_text("made", encoding="utf-8")
        raise KeyboardInterrupt  # killed half-way: no finished marker

    with pytest.raises(KeyboardInterrupt):
        demo.stage("step", tmp_path / "half", {"k": 1}, work)
    again = demo.stage("step", tmp_path / "half", {"k": 1}, lambda directory: {"redone": True})
    assert again["redone"] and not (tmp_path / "half" / "f.txt").exists()  # its own half-made stage: redone


def test_bad_seed_count_is_a_user_error(tmp_path: Path) -> None:
    assert demo.main(["--quick", "--out", str(tmp_path / "d"), "--seeds", "0"]) == 2


def test_demo_image_figures_are_labelled(tmp_path: Path) -> None:
    from bgaug.core.synth import SynthConfig, generate

    root = tmp_path / "bench"
    generate(
        SynthConfig(image_size=32, classes=2, pretrain_per_class=6, train_per_class=2, val_per_class=2),
        root,
        progress=False,
    )
    bank = root / "masks" / "pretrain"  # a plain mask folder serves as the bank
    fig = demo.mask_figure(root, bank)
    assert fig._suptitle.get_text().startswith("Unsupervised masks")
    assert [ax.get_title() for ax in fig.axes[:4]] == [
        "image",
        "ground-truth\nmask",
        "bank mask\n(DSR)",
        "bank mask,\nbackground dimmed",
    ]
    assert fig.axes[0].get_ylabel() == "class c0"
    swaps = demo.views_figure(root, bank, "bg_swaps", "moco_v2", 24, count=3)
    assert [ax.get_title() for ax in swaps.axes[:5]] == [
        "input",
        "mask",
        "query q",
        "positive key k+",
        "matched neg.",
    ]
    assert "bg_swaps forced on" in swaps._suptitle.get_text()
    random = demo.views_figure(root, bank, "bg_random", "byol", 24, count=3)
    assert [ax.get_title() for ax in random.axes[:4]] == ["input", "mask", "online view", "target view"]
    assert len(random.axes) == 3 * 4  # BG_Random has no matched-negative column
    sheet = demo.contact_sheet_figure(root)
    assert sheet.axes[0].get_title() == "train" and sheet.axes[0].get_ylabel().startswith("c0: disc")
