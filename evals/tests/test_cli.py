from __future__ import annotations

import json
from pathlib import Path

import pytest

from bgaug.evals.cli import HANDLERS, build_parser, main
from bgaug.evals.runner import SUITES
from bgaug.evals.suites.in9 import VARIANTS

from .conftest import FAST
from .conftest import save_test_checkpoint as _checkpoint


def test_run_on_synthetic_in9_tree(
    tmp_path: Path, synth_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ckpt = _checkpoint(tmp_path / "model.pt", head=True)
    (synth_root / "val" / "circle" / "broken.jpg").write_bytes(b"truncated")
    out = tmp_path / "out"
    code = main(["run", "--checkpoint", str(ckpt), "--data-root", str(synth_root), "--out", str(out), *FAST])
    assert code == 0
    results = json.loads((out / "results.json").read_text())
    in9 = results["suites"]["in9"]
    assert in9["status"] == "ok" and in9["mapping"] == "identity"
    assert set(in9["variants"]) == set(VARIANTS)
    assert in9["bg_gap"] == pytest.approx(
        in9["variants"]["mixed_same"]["top1"] - in9["variants"]["mixed_rand"]["top1"]
    )
    assert results["suites"]["imagenet"]["status"] == "ok"
    assert results["suites"]["fgsm"]["status"] == "ok"
    for name in ("imagenet_a", "imagenet_r", "imagenet_c", "objectnet", "shape_bias", "imagenet_v2"):
        assert results["skipped"][name].startswith("not found at"), name
    assert "imagenet_c_on_the_fly" in results["skipped"]
    assert results["linear_head"] is None
    # The broken file is met by two suites (imagenet, fgsm) and listed once.
    assert results["suites"]["imagenet"]["n_unreadable"] == results["suites"]["fgsm"]["n_unreadable"] == 1
    assert results["n_unreadable"] == 1 and results["unreadable_files"][0].endswith("broken.jpg")
    md = (out / "results.md").read_text()
    assert "BG-Gap" in md and "Mixed-Rand" in md and "imagenet_a: skipped: not found at" in md
    assert (out / "results.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    printed = capsys.readouterr().out
    assert "in9:" in printed and "imagenet_a: skipped" in printed


def test_run_trains_a_missing_head_first(tmp_path: Path, synth_root: Path) -> None:
    ckpt = _checkpoint(tmp_path / "backbone.pt", head=False)
    out = tmp_path / "out"
    args = [
        "run",
        "--checkpoint",
        str(ckpt),
        "--data-root",
        str(synth_root),
        "--out",
        str(out),
        "--suites",
        "in9",
    ]
    code = main(
        [
            *args,
            "--train-data",
            str(synth_root / "train"),
            "--linear-epochs",
            "2",
            *FAST,
            "--json",
            str(tmp_path / "r.json"),
        ]
    )
    assert code == 0
    results = json.loads((tmp_path / "r.json").read_text())
    assert "trained here by the linear protocol" in results["linear_head"]["note"]
    assert list(results["suites"]) == ["in9"]
    assert (out / "classifier.pt").is_file()
    assert (out / "cache" / "train.features.npz").is_file()


def test_user_errors_exit_2_with_one_line(
    tmp_path: Path, synth_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ckpt = _checkpoint(tmp_path / "backbone.pt", head=False)
    base = [
        "run",
        "--checkpoint",
        str(ckpt),
        "--data-root",
        str(synth_root),
        "--out",
        str(tmp_path / "o"),
        *FAST,
    ]
    assert main(base) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "no linear head" in err and "--train-data" in err
    assert main([*base, "--suites", "in9,bogus"]) == 2
    assert "unknown suite" in capsys.readouterr().err
    missing = ["run", "--checkpoint", str(tmp_path / "nope.pt"), "--out", str(tmp_path / "o")]
    assert main(missing) == 2
    assert "--checkpoint" in (err := capsys.readouterr().err) and "not found" in err


def test_help_exits_cleanly() -> None:
    with pytest.raises(SystemExit) as exc:
        main(["run", "--help"])
    assert exc.value.code == 0


def test_run_help_names_every_suite(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for suite in SUITES:
        assert suite in text, suite


def test_every_command_has_help_description_and_handler(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--help"])
    listing = " ".join(capsys.readouterr().out.split())
    assert "fine-tune on the 1% / 10% label splits (appendix A.5.2)" in listing
    for command in HANDLERS:
        with pytest.raises(SystemExit) as exc:
            main([command, "--help"])
        assert exc.value.code == 0
        paragraphs = capsys.readouterr().out.split("\n\n")  # usage, help line, what it does..., options
        assert " ".join(paragraphs[1].split()) in listing, command  # the docstring's first line is the help
        assert len(paragraphs) > 3 and not paragraphs[2].startswith("options:"), command


def test_real_score_command(shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pred = tmp_path / "p.json"
    pred.write_text(json.dumps({"ILSVRC2012_val_00000002.JPEG": 970, "ILSVRC2012_val_00000003.JPEG": 1}))
    code = main(
        [
            "real-score",
            "--predictions",
            str(pred),
            "--real",
            str(shared_data / "reference" / "real.json"),
            "--json",
            str(tmp_path / "o.json"),
        ]
    )
    assert code == 0
    assert json.loads((tmp_path / "o.json").read_text())["top1"] == 50.0


def test_knn_and_linear_commands(tmp_path: Path, synth_root: Path) -> None:
    ckpt = _checkpoint(tmp_path / "backbone.pt", head=False)
    common = [
        "--checkpoint",
        str(ckpt),
        "--train",
        str(synth_root / "train"),
        "--val",
        str(synth_root / "val"),
        *FAST,
    ]
    assert main(["knn", *common, "--k", "3", "--json", str(tmp_path / "knn.json")]) == 0
    knn = json.loads((tmp_path / "knn.json").read_text())
    assert set(knn) >= {"knn_top1_k3", "n_train", "n_val"} and knn["n_train"] == 9
    out = tmp_path / "with_head.pt"
    assert (
        main(["linear", *common, "--epochs", "2", "--out", str(out), "--json", str(tmp_path / "lin.json")])
        == 0
    )
    assert json.loads((tmp_path / "lin.json").read_text())["val_top1"] is not None
    from bgaug.core.backbones import load_classifier

    assert load_classifier(out).head.weight.shape == (3, 128)
