from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bgaug.core.io import save_png
from bgaug.saliency.cli import main
from bgaug.saliency.crf import crf_version

from .scenes import ellipse_scene


@pytest.mark.parametrize("command", ["handcrafted", "fit", "predict", "eval", "pack", "bench"])
def test_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main([command, "--help"])
    assert exc.value.code == 0
    assert "usage" in capsys.readouterr().out


def test_missing_folder_is_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        ["handcrafted", "--method", "mc", "--images", str(tmp_path / "nope"), "--out", str(tmp_path / "b")]
    )
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "not found" in err


def test_bad_checkpoint_is_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "x.pt").write_bytes(b"junk")
    (tmp_path / "images").mkdir()
    code = main(
        [
            "predict",
            "--checkpoint",
            str(tmp_path / "x.pt"),
            "--images",
            str(tmp_path / "images"),
            "--out",
            str(tmp_path / "b"),
        ]
    )
    assert code == 2 and "checkpoint" in capsys.readouterr().err


def test_handcrafted_then_eval_json(tmp_path: Path) -> None:
    for i in range(3):
        image, mask = ellipse_scene(i)
        save_png(tmp_path / "images" / f"{i}.png", image)
        save_png(tmp_path / "gt" / f"{i}.png", mask)
    assert (
        main(
            [
                "handcrafted",
                "--method",
                "dsr",
                "--images",
                str(tmp_path / "images"),
                "--out",
                str(tmp_path / "bank"),
                "--soft-maps",
                "--workers",
                "1",
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "eval",
                "--pred",
                str(tmp_path / "bank"),
                "--gt",
                str(tmp_path / "gt"),
                "--json",
                str(tmp_path / "r.json"),
            ]
        )
        == 0
    )
    result = json.loads((tmp_path / "r.json").read_text())
    assert result["n_images"] == 3 and result["max_f"] > result["centre_prior"]["max_f"]
    assert 0.0 <= result["mae"] <= 1.0


def test_eval_of_a_folder_of_maps(tmp_path: Path) -> None:
    _, mask = ellipse_scene(0)
    save_png(tmp_path / "gt" / "a.png", mask)
    save_png(tmp_path / "pred" / "a.png", (mask * 255).astype(np.uint8))
    assert (
        main(
            [
                "eval",
                "--pred",
                str(tmp_path / "pred"),
                "--gt",
                str(tmp_path / "gt"),
                "--json",
                str(tmp_path / "r.json"),
            ]
        )
        == 0
    )
    assert json.loads((tmp_path / "r.json").read_text())["max_f"] == pytest.approx(1.0)


def test_fit_flags_reach_the_checkpoint(tmp_path: Path) -> None:
    from bgaug.saliency.fcn import load_detector

    for i in range(3):
        image, _ = ellipse_scene(i, 24, 24)
        save_png(tmp_path / "images" / f"{i}.png", image)
    images, out = str(tmp_path / "images"), str(tmp_path / "det.pt")
    argv = ["fit", "--images", images, "--out", out, "--preset", "quick"]
    flags = ["--image-size", "24", "--methods", "mc", "--phase2-epochs", "1", "--workers", "1"]
    assert main([*argv, *flags, "--phase2-labels", "pseudo", "--json", str(tmp_path / "fit.json")]) == 0
    _, state = load_detector(tmp_path / "det.pt")
    assert state["meta"]["config"]["phase2_labels"] == "pseudo"
    assert "losses" not in json.loads((tmp_path / "fit.json").read_text())["phase1"]["mc"]  # phase I skipped
    with pytest.raises(SystemExit) as exc:
        main([*argv, *flags, "--phase2-labels", "gt"])
    assert exc.value.code == 2
    bank = tmp_path / "bank"
    predict = ["predict", "--checkpoint", out, "--images", images, "--out", str(bank)]
    assert main([*predict, "--flip-average"]) == 0
    assert json.loads((bank / "bank.json").read_text())["detector"]["test_time"] == "flip_average"


def test_parser_choices_match_the_library() -> None:
    """The parser lists choices by hand (importing torch at start-up would slow every command)."""
    from bgaug.saliency.cli import build_parser
    from bgaug.saliency.crf import CRF_MODES
    from bgaug.saliency.deepusps import PHASE2_LABELS, PRESETS
    from bgaug.saliency.fcn import DECODERS

    commands = build_parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    choices = {a.dest: a.choices for a in commands["fit"]._actions}
    assert list(choices["phase2_labels"]) == list(PHASE2_LABELS)
    assert list(choices["decoder"]) == list(DECODERS)
    assert list(choices["preset"]) == list(PRESETS)
    assert list(choices["crf"]) == list(CRF_MODES)
    assert [a.choices for a in commands["bench"]._actions if a.dest == "preset"] == [list(PRESETS)]


def test_commands_follow_core_style() -> None:
    """Every subcommand is a module registered with core's ``add_command``: its docstring is the
    description and its first line the one-line help (``cli.HELP`` where the docstring opens otherwise)."""
    from bgaug.saliency.cli import HELP, build_parser, commands

    sub = build_parser()._subparsers._group_actions[0]  # type: ignore[union-attr]
    helps = {a.dest: a.help for a in sub._choices_actions}  # type: ignore[attr-defined]
    assert list(sub.choices) == ["handcrafted", "predict", "fit", "eval", "pack", "bench"]
    for name, module in commands().items():
        assert callable(module.add_arguments) and callable(module.run_from_args)
        assert module.__doc__ and sub.choices[name].description == module.__doc__  # type: ignore[index]
        assert helps[name] == HELP.get(name, module.__doc__.splitlines()[0])


def test_command_descriptions_quote_the_constants() -> None:
    """Descriptions are docstrings, so the numbers they quote are written out: they must agree."""
    from bgaug.saliency.commands import bench, handcrafted, predict
    from bgaug.saliency.detector_bank import DETECTOR_THRESHOLD
    from bgaug.saliency.handcrafted.working_size import MB_PLUS_WORKING_SIDE, WORKING_SIDE

    def prose(module: object) -> str:
        return " ".join(str(module.__doc__).split())

    assert f"at most {WORKING_SIDE} px (MB+: {MB_PLUS_WORKING_SIDE})" in prose(handcrafted)
    assert (
        f"~{handcrafted.WORKER_BASE_MB} MB after start-up plus ~{handcrafted.WORKER_MB_PER_MEGAPIXEL} MB "
        "per megapixel" in prose(handcrafted)
    )
    assert f"threshold {DETECTOR_THRESHOLD} unless" in prose(predict)
    assert f"--photo-sides (default {','.join(map(str, bench.PHOTO_SIDES))};" in prose(bench)


def test_bench_times_the_detector_two_ways(tmp_path: Path) -> None:
    argv = ["bench", "--size", "24", "--n-images", "1", "--batch-size", "3", "--model-size", "40"]
    assert main([*argv, "--photo-sides", "48", "--json", str(tmp_path / "b.json")]) == 0
    result = json.loads((tmp_path / "b.json").read_text())
    assert result["photo_sides"] == [48]
    assert all(result[f"photo_{m}_images_per_cpu_s"] > 0 for m in ("rbd", "mc", "dsr", "mbd"))
    assert result["detector_batch_size"] == 3
    assert result["detector_image_size"] == 64  # the quick preset's training size
    assert result["detector_model_image_size"] == 40
    assert result["detector_images_per_s"] > 0 and result["detector_model_images_per_s"] > 0
    assert all(result[f"{m}_images_per_s_per_core"] > 0 for m in ("rbd", "mc", "dsr", "mbd"))
    if crf_version() is not None:  # the saliency test session installs [crf]
        assert result["crf"] == crf_version() and result["crf_images_per_s_per_core"] > 0
    else:
        assert "crf_images_per_s_per_core" not in result
    assert main([*argv, "--photo-sides", "", "--batch-size", "0"]) == 2
