from __future__ import annotations

from pathlib import Path

import pytest
import torch

from bgaug.launch.cli import main


def test_help_lists_the_commands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for command in ("pretrain", "sweep", "demo", "saliency", "ssl_methods"):
        assert command in out


@pytest.mark.parametrize("command", ["pretrain", "sweep"])
def test_subcommand_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main([command, "--help"])
    assert exc.value.code == 0
    assert "--method" in capsys.readouterr().out


def test_forwards_to_a_package_cli(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["core", "--help"]) == 0
    assert "synth" in capsys.readouterr().out
    assert main(["core", "synth", "--bogus"]) == 2


def test_bad_input_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "pretrain",
            "--method",
            "moco_v2",
            "--bg-aug",
            "none",
            "--data",
            str(tmp_path / "nope"),
            "--out",
            "o",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "folder not found" in err
    code = main(["pretrain", "--bg-aug", "none", "--data", str(tmp_path), "--out", str(tmp_path / "o")])
    assert code == 2
    assert "missing --method" in capsys.readouterr().err


def test_existing_run_is_not_overwritten(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.json").write_text("{}")
    args = ["pretrain", "--method", "moco_v2", "--bg-aug", "none", "--data", str(tmp_path), "--workers", "0"]
    assert main([*args, "--out", str(tmp_path / "run")]) == 2
    assert "--resume" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        ["pretrain", "--method", "moco_v2", "--bg-aug", "none", "--workers", "0"],
        ["sweep", "--method", "moco_v2", "--bg-aug", "bg_rm", "--grid", "p_pos=0.5,1.0"],
        ["bench", "--device", "cpu"],
    ],
)
def test_a_json_that_names_a_folder_fails_before_any_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    paths = ["--data", str(tmp_path), "--out", str(tmp_path / "o")]
    if argv[0] == "bench":
        paths = ["--data-dir", str(tmp_path / "d")]
    assert main([*argv, *paths, "--json", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "--json" in err and "is a folder" in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # nothing made: no run, no data


def test_bench_never_removes_images_it_did_not_make(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "mine.jpg").write_bytes(b"a user's photo")
    assert main(["bench", "--device", "cpu", "--data-dir", str(tmp_path)]) == 2
    assert "did not make" in capsys.readouterr().err
    assert (tmp_path / "images" / "mine.jpg").read_bytes() == b"a user's photo"


def test_a_diverged_demo_run_ends_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from bgaug.launch import demo
    from bgaug.ssl_methods.training import TrainingDivergedError

    def diverge(*args: object, **kwargs: object) -> None:
        raise TrainingDivergedError("step 7: the loss is nan; last.pt kept (epoch 0)")

    monkeypatch.setattr(demo, "run_demo", diverge)
    assert main(["demo", "--quick", "--out", str(tmp_path / "d")]) == 1
    err = capsys.readouterr().err.strip()
    assert err == "bgaug: error: step 7: the loss is nan; last.pt kept (epoch 0)"


def test_demo_missing_says_so(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "bgaug.launch.demo", None)  # as if the module were not installed
    assert main(["demo"]) == 2
    assert "not available" in capsys.readouterr().err


def test_importing_the_commands_starts_no_ray() -> None:
    import bgaug.launch.cli
    import bgaug.launch.pretrain
    import bgaug.launch.sweep
    import bgaug.launch.worker  # noqa: F401

    ray = pytest.importorskip("ray")
    assert not ray.is_initialized()


def test_sync_bn_needs_gpus(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["pretrain", "--method", "byol", "--bg-aug", "none", "--data", str(tmp_path), "--batch-size", "8"]
    assert main([*args, "--sync-bn", "global", "--workers", "2", "--out", str(tmp_path / "a")]) == 2
    assert "GPU" in capsys.readouterr().err
    group = ["--sync-bn", "group", "--sync-bn-group-size", "4", "--gpus-per-worker", "1", "--workers", "2"]
    cluster = ["--address", "auto"]  # a cluster's GPUs are Ray's to count; the checks come before joining it
    assert main([*args, *group, *cluster, "--out", str(tmp_path / "b")]) == 2
    assert "does not divide" in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a GPU")
@pytest.mark.parametrize("command", ["pretrain", "sweep"])
def test_gpu_workers_on_a_machine_without_one_fail_at_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    args = [command, "--method", "moco_v2", "--bg-aug", "none", "--data", str(tmp_path), "--workers", "2"]
    args += ["--gpus-per-worker", "1", "--out", str(tmp_path / "o")]
    if command == "sweep":
        args = [arg if arg != "--workers" else "--workers-per-trial" for arg in args] + [
            "--grid",
            "seed=0,1",
            "--metric",
            "epoch_loss",
        ]
    assert main(args) == 2  # Ray would otherwise wait for GPUs that never come
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "no usable CUDA GPU" in err, err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    ("option", "cause"),
    [
        (["--method-option", "queue_size=-5"], "queue_size must be > 0"),
        (["--method-option", "queue_sise=5"], "unknown MocoConfig field"),
        (["--augment-option", "fg_min=2"], "fg_min must be a probability"),
        (["--train-option", "epochs=2"], "--train-option epochs: set by the run"),
        (["--train-option", "device=cuda"], "--train-option device: set by the run"),
        (["--train-option", "optimizer=adam"], "optimizer must be one of"),
    ],
)
def test_a_bad_option_fails_before_ray_starts_or_a_file_is_written(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    option: list[str],
    cause: str,
) -> None:
    import bgaug.launch.cluster

    def no_ray(*args: object, **kwargs: object) -> None:
        raise AssertionError("Ray started before the options were checked")

    monkeypatch.setattr(bgaug.launch.cluster, "connect", no_ray)
    out = tmp_path / "run"
    args = ["pretrain", "--method", "moco_v2", "--bg-aug", "none", "--data", str(tmp_path), "--workers", "1"]
    assert main([*args, "--out", str(out), *option]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and cause in err, err
    assert not out.exists()  # no config.json that would refuse the corrected rerun
    # A sweep checks every grid point's options the same way, before Ray (where every trial would fail).
    sweep = ["sweep", *args[1:-2], "--grid", "seed=0,1", "--metric", "epoch_loss", "--out", str(out), *option]
    assert main(sweep) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and cause in err, err
    assert not out.exists()


def test_pretraining_refuses_a_mask_bank_of_other_images(
    synth_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A changed image (same name, same size) or an added one: stale masks would train silently
    (the first) or fail mid-run with a KeyError (the second). Both are named before training starts."""
    import os
    import shutil

    from bgaug.core.io import load_image, save_png
    from bgaug.saliency.cli import main as saliency

    images = tmp_path / "images"
    shutil.copytree(synth_root / "pretrain", images)
    bank = tmp_path / "bank"
    assert saliency(["handcrafted", "--method", "rbd", "--images", str(images), "--out", str(bank)]) == 0
    pack = tmp_path / "pack"
    assert saliency(["pack", "--bank", str(bank), "--out", str(pack)]) == 0
    capsys.readouterr()
    args = [
        "pretrain",
        "--method",
        "moco_v2",
        "--bg-aug",
        "bg_rm",
        "--data",
        str(images),
        "--masks",
        str(bank),
    ]
    args += ["--workers", "0", "--out", str(tmp_path / "run")]
    changed = images / "c0" / "000000.png"
    save_png(changed, 255 - load_image(changed))  # new content, same name and size
    os.utime(changed, ns=(1, 10**18))
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "c0/000000.png: changed since the mask bank was built" in err
    shutil.copy(images / "c0" / "000001.png", images / "c0" / "extra.png")
    assert main(args) == 2
    assert "c0/extra.png: not in the mask bank" in capsys.readouterr().err
    packed = [*args[: args.index("--masks") + 1], str(pack), *args[args.index("--masks") + 2 :]]
    assert main(packed) == 2  # a pack is checked too: it would stop the run half-way on extra.png
    assert "c0/extra.png: not in the mask pack" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_a_refused_resume_leaves_the_runs_config_as_it_was(
    synth_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    args = ["pretrain", "--method", "moco_v2", "--bg-aug", "none", "--data", str(synth_root / "pretrain")]
    args += ["--arch", "resnet10_w16", "--image-size", "24", "--batch-size", "8", "--epochs", "1"]
    args += ["--workers", "0", "--loader-workers", "0", "--method-option", "queue_size=16", "--out", str(run)]
    assert main([*args, "--train-option", "progress_bar=false"]) == 0
    before = (run / "config.json").read_bytes()
    capsys.readouterr()
    assert main(["pretrain", "--resume", str(run), "--epochs", "2"]) == 2
    assert "cannot resume: epochs was 1, now 2" in capsys.readouterr().err
    assert (run / "config.json").read_bytes() == before
    assert main(["pretrain", "--resume", str(run), "--knn-every", "3"]) == 0  # how it is monitored may change
