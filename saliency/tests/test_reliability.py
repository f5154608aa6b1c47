"""Bad input met at the command line (issue 23): one line, exit status 2, nothing computed first."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from bgaug.core.io import save_png
from bgaug.core.vocabulary import BANK_JOURNAL
from bgaug.saliency import deepusps
from bgaug.saliency.cli import main
from bgaug.saliency.fcn import SaliencyFCN, save_fcn
from bgaug.saliency.metrics import SaliencyScores

from .scenes import ellipse_scene

FIT_FLAGS = ["--preset", "quick", "--image-size", "24", "--methods", "mc", "--phase2-labels", "pseudo"]
FIT_FLAGS += ["--phase2-epochs", "1", "--workers", "1"]


def _images(root: Path, n: int, size: int = 32) -> Path:
    for i in range(n):
        save_png(root / f"{i:03d}.png", ellipse_scene(i, size, size)[0])
    return root


def _one_line_error(code: int, capsys: pytest.CaptureFixture[str], *needles: str) -> str:
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, err
    return err


def _error_after_progress(code: int, capsys: pytest.CaptureFixture[str], *needles: str) -> None:
    """An error met once the run had begun: progress bars above it, then one line naming the cause."""
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and err.count("error:") == 1, err
    last = err.strip().splitlines()[-1]
    for needle in needles:
        assert needle in last, err


@pytest.fixture
def no_work(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if fit starts its work (loading the images is its first step)."""

    def started(*args: object, **kwargs: object) -> None:
        raise AssertionError("fit started its work before refusing the input")

    monkeypatch.setattr(deepusps, "load_training_images", started)


# -- 23.1: 0/1 ground truth ----------------------------------------------------------------------


def test_scores_read_a_0_1_mask_as_foreground() -> None:
    _, mask = ellipse_scene(0)
    scores = SaliencyScores()
    scores.add((mask * 255).astype(np.uint8), mask.astype(np.uint8))  # a 0/1 export, not 0/255
    assert scores.results()["max_f"] == pytest.approx(1.0)


def test_eval_with_0_1_ground_truth(tmp_path: Path) -> None:
    _, mask = ellipse_scene(0)
    save_png(tmp_path / "gt" / "a.png", mask.astype(np.uint8))
    save_png(tmp_path / "pred" / "a.png", (mask * 255).astype(np.uint8))
    argv = ["eval", "--pred", str(tmp_path / "pred"), "--gt", str(tmp_path / "gt")]
    assert main([*argv, "--json", str(tmp_path / "r.json")]) == 0
    assert json.loads((tmp_path / "r.json").read_text())["max_f"] == pytest.approx(1.0)


# -- 23.6: output inside the input ---------------------------------------------------------------


@pytest.mark.parametrize("command", ["handcrafted", "predict"])
def test_out_inside_images_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    images = _images(tmp_path / "images", 2)
    save_fcn(tmp_path / "d.pt", SaliencyFCN("resnet10_w16", small_stem=True), image_size=32, meta={})
    source = ["--method", "mc"] if command == "handcrafted" else ["--checkpoint", str(tmp_path / "d.pt")]
    code = main([command, *source, "--images", str(images), "--out", str(images / "bank")])
    _one_line_error(code, capsys, "inside --images")
    assert not (images / "bank").exists()
    code = main([command, *source, "--images", str(images), "--out", str(images)])
    _one_line_error(code, capsys, "inside --images")


def test_fit_and_pack_refuse_an_output_inside_their_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], no_work: None
) -> None:
    images = _images(tmp_path / "images", 2)
    code = main(["fit", "--images", str(images), "--out", str(images / "d.pt"), *FIT_FLAGS])
    _one_line_error(code, capsys, "inside --images")
    code = main(["pack", "--images", str(images), "--masks", str(images), "--out", str(images / "p")])
    _one_line_error(code, capsys, "inside --images")


# -- 23.8: a GPU that is not there ----------------------------------------------------------------


@pytest.fixture
def no_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


def test_fit_on_cuda_without_a_gpu(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], no_cuda: None, no_work: None
) -> None:
    images = _images(tmp_path / "images", 2)
    code = main(
        ["fit", "--images", str(images), "--out", str(tmp_path / "d.pt"), "--device", "cuda", *FIT_FLAGS]
    )
    _one_line_error(code, capsys, "--device cuda", "no usable CUDA GPU")


def test_predict_and_bench_on_cuda_without_a_gpu(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], no_cuda: None
) -> None:
    images = _images(tmp_path / "images", 2)
    save_fcn(tmp_path / "d.pt", SaliencyFCN("resnet10_w16", small_stem=True), image_size=32, meta={})
    predict = ["predict", "--checkpoint", str(tmp_path / "d.pt"), "--images", str(images)]
    code = main([*predict, "--out", str(tmp_path / "bank"), "--device", "cuda"])
    _one_line_error(code, capsys, "no usable CUDA GPU")
    assert not (tmp_path / "bank").exists()
    code = main(["bench", "--size", "24", "--n-images", "1", "--device", "cuda:0"])
    _one_line_error(code, capsys, "no usable CUDA GPU")
    code = main(["bench", "--size", "24", "--n-images", "1", "--device", "gpu"])
    _one_line_error(code, capsys, "not a torch device")


# -- 23.10-12: fit's output and --init, checked before the work ---------------------------------


def test_fit_refuses_bad_outputs_before_the_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], no_work: None
) -> None:
    images = _images(tmp_path / "images", 2)
    (tmp_path / "folder").mkdir()
    code = main(["fit", "--images", str(images), "--out", str(tmp_path / "folder"), *FIT_FLAGS])
    _one_line_error(code, capsys, "is a folder")
    (tmp_path / "old.pt").write_bytes(b"a detector the user keeps")
    code = main(["fit", "--images", str(images), "--out", str(tmp_path / "old.pt"), *FIT_FLAGS])
    _one_line_error(code, capsys, "exists", "--overwrite")
    assert (tmp_path / "old.pt").read_bytes() == b"a detector the user keeps"
    (tmp_path / "a-file").write_bytes(b"")
    code = main(["fit", "--images", str(images), "--out", str(tmp_path / "a-file" / "d.pt"), *FIT_FLAGS])
    _one_line_error(code, capsys, "is a file")
    code = main(["fit", "--images", str(images), "--out", str(_unwritable(tmp_path) / "d.pt"), *FIT_FLAGS])
    _one_line_error(code, capsys, "cannot write")
    code = main(["fit", "--images", str(tmp_path / "nope"), "--out", str(tmp_path / "d.pt"), *FIT_FLAGS])
    _one_line_error(code, capsys, "not found")
    argv = ["fit", "--images", str(images), "--out", str(tmp_path / "d.pt"), "--gt", str(tmp_path / "nope")]
    _one_line_error(main([*argv, *FIT_FLAGS]), capsys, "--gt")


def test_fit_checks_init_before_the_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], no_work: None
) -> None:
    from bgaug.core.backbones import build_resnet, save_backbone

    images = _images(tmp_path / "images", 2)
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    argv = ["fit", "--images", str(images), "--out", str(tmp_path / "d.pt"), *FIT_FLAGS]
    _one_line_error(main([*argv, "--init", str(tmp_path / "junk.pt")]), capsys, "junk.pt")
    _one_line_error(main([*argv, "--init", str(tmp_path / "missing.pt")]), capsys, "missing.pt")
    backbone = build_resnet("resnet10_w16", small_stem=True)
    supervised = tmp_path / "sup.pt"
    save_backbone(supervised, backbone, arch="resnet10_w16", small_stem=True, meta={"method": "supervised"})
    _one_line_error(main([*argv, "--init", str(supervised)]), capsys, "supervised")


def test_fit_overwrite_replaces_an_existing_detector(tmp_path: Path) -> None:
    images = _images(tmp_path / "images", 2, size=24)
    (tmp_path / "d.pt").write_bytes(b"old")
    argv = ["fit", "--images", str(images), "--out", str(tmp_path / "d.pt"), *FIT_FLAGS]
    assert main([*argv, "--overwrite"]) == 0
    assert (tmp_path / "d.pt").read_bytes() != b"old"


def test_fit_refuses_ground_truth_of_another_size(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A mask of another size was stretched onto its image and scored silently."""

    def computed(*args: object, **kwargs: object) -> None:
        raise AssertionError("the hand-crafted maps were computed before the masks were checked")

    monkeypatch.setattr(deepusps, "handcrafted_maps", computed)
    images = _images(tmp_path / "images", 2, size=24)
    save_png(tmp_path / "gt" / "000.png", ellipse_scene(0, 24, 24)[1])
    save_png(tmp_path / "gt" / "001.png", ellipse_scene(1, 24, 30)[1])
    argv = ["fit", "--images", str(images), "--out", str(tmp_path / "d.pt"), "--gt", str(tmp_path / "gt")]
    _error_after_progress(main([*argv, *FIT_FLAGS]), capsys, "001.png", "differs from image size")


def _unwritable(tmp_path: Path) -> Path:
    """A folder this process cannot create files in (root ignores permission bits: use /sys)."""
    if os.geteuid() == 0:
        if not Path("/sys").is_dir():
            pytest.skip("running as root without /sys: no unwritable folder to test with")
        return Path("/sys")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    return locked


def test_bank_outputs_are_checked_before_the_work(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    images = _images(tmp_path / "images", 2)
    argv = ["handcrafted", "--method", "mc", "--images", str(images), "--workers", "1"]
    (tmp_path / "file").write_text("x")
    _one_line_error(main([*argv, "--out", str(tmp_path / "file")]), capsys, "is a file")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("the user's")
    _one_line_error(main([*argv, "--out", str(tmp_path / "mine")]), capsys, "other than a mask bank")
    _one_line_error(main([*argv, "--out", str(_unwritable(tmp_path) / "bank")]), capsys, "cannot write")
    code = main([*argv, "--out", str(tmp_path / "bank"), "--json", str(tmp_path / "mine")])
    _one_line_error(code, capsys, "--json", "is a folder")
    assert not (tmp_path / "bank").exists()


# -- 23.16: nothing usable -------------------------------------------------------------------------


def test_a_folder_of_bad_images_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    images = tmp_path / "images"
    images.mkdir()
    (images / "a.jpg").write_bytes(b"not a jpeg")
    save_png(images / "b.png", np.zeros((1, 1, 3), np.uint8))
    code = main(["handcrafted", "--method", "mc", "--images", str(images), "--out", str(tmp_path / "bank")])
    _error_after_progress(code, capsys, "no usable image", "all 2 images")


# -- 23.15: workers die with their parent -----------------------------------------------------------


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    """Running or sleeping; a zombie (dead, waiting for a reaper that may never come) is not alive."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


@pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="needs Linux /proc to find the workers")
def test_workers_die_when_the_parent_is_killed(tmp_path: Path) -> None:
    images = _images(tmp_path / "images", 96, size=96)
    cmd = [sys.executable, "-m", "bgaug.saliency", "handcrafted", "--method", "dsr", "--workers", "2"]
    proc = subprocess.Popen(
        [*cmd, "--images", str(images), "--out", str(tmp_path / "bank")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    journal = tmp_path / "bank" / BANK_JOURNAL
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if journal.is_file() and journal.read_text().strip():
            break  # the pool is up and has finished a chunk
        time.sleep(0.05)
    children = _children(proc.pid)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert len(children) >= 2, "the pool's workers were not found"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_alive(c) for c in children):
        time.sleep(0.1)
    survivors = [c for c in children if _alive(c)]
    for pid in survivors:  # do not leave them running past the test
        os.kill(pid, signal.SIGKILL)
    assert not survivors, f"{len(survivors)} of {len(children)} child processes outlived their parent"
