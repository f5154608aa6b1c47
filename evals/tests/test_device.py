"""--device is checked before anything runs: a missing GPU is one line and exit 2, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from bgaug.evals.cli import main
from bgaug.evals.inference import EvalOptions

from .conftest import FAST, save_test_checkpoint


def _argv(command: str, ckpt: Path, root: Path, tmp: Path) -> list[str]:
    data = {
        "run": ["--data-root", str(root), "--out", str(tmp / "out"), "--suites", "in9"],
        "linear": ["--train", str(root / "train"), "--val", str(root / "val"), "--epochs", "1"],
        "knn": ["--train", str(root / "train"), "--val", str(root / "val")],
        "transfer": ["--source", "folder", "--root", str(root), "--epochs", "1"],
    }
    if command == "bench":
        return ["bench", "--images", "4", "--size", "16", *FAST]
    return [command, "--checkpoint", str(ckpt), *data[command], *FAST]


@pytest.fixture
def no_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)


@pytest.mark.parametrize("command", ["run", "linear", "knn", "transfer", "bench"])
@pytest.mark.parametrize("device", ["cuda", "cuda:1", "tpu"])
def test_an_unusable_device_is_one_line_and_exit_2(
    command: str,
    device: str,
    no_gpu: None,
    tmp_path: Path,
    synth_root: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ckpt = save_test_checkpoint(tmp_path / "model.pt", head=True)
    assert main([*_argv(command, ckpt, synth_root, tmp_path), "--device", device]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "--device" in err and device in err, err
    assert not (tmp_path / "out").exists()


def test_options_refuse_a_missing_gpu(no_gpu: None) -> None:
    with pytest.raises(ValueError, match="no usable CUDA GPU"):
        EvalOptions(device="cuda")
    assert EvalOptions(device="cpu").device == "cpu"
