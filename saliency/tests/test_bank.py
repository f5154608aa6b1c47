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

from bgaug.core.interfaces import MaskBank
from bgaug.core.io import save_png, sha256_file
from bgaug.core.maskbank import DirectoryMaskBank
from bgaug.core.tiling import tiled_background
from bgaug.core.vocabulary import BANK_JOURNAL, BANK_MANIFEST
from bgaug.saliency.bank import BankSpec, write_entry
from bgaug.saliency.handcrafted_bank import handcrafted_bank

from .scenes import ellipse_scene

SPEC = BankSpec(detector={"name": "test", "sha256": "0" * 64}, threshold=0.9, soft_maps=True)


def _images(root: Path, n: int) -> None:
    for i in range(n):
        save_png(root / f"c{i % 2}" / f"{i:03d}.png", ellipse_scene(i)[0])


def test_write_entry_statuses(tmp_path: Path) -> None:
    image, _ = ellipse_scene(0)
    ok = np.zeros(image.shape[:2])
    ok[20:40, 10:30] = 1.0
    e = write_entry(tmp_path, "a.png", image, ok, SPEC, "x")
    assert e["status"] == "ok" and e["background"] == "backgrounds/a.png.png"
    assert (
        write_entry(tmp_path, "b.png", image, np.zeros(image.shape[:2]), SPEC, "x")["status"]
        == "no_foreground"
    )
    full = write_entry(tmp_path, "c.png", image, np.ones(image.shape[:2]), SPEC, "x")
    assert full["status"] == "no_background" and full["background"] is None
    assert sha256_file(tmp_path / full["mask"]) == full["mask_sha256"]
    with pytest.raises(ValueError, match="does not match"):
        write_entry(tmp_path, "d.png", image, np.zeros((3, 3)), SPEC, "x")


def test_bank_build_and_read_back(tmp_path: Path) -> None:
    images = tmp_path / "images"
    _images(images, 5)
    (images / "corrupt.jpg").write_bytes(b"not an image")
    save_png(images / "grey.png", ellipse_scene(9)[0][..., 0])  # grayscale: used, as RGB
    save_png(images / "tiny.png", np.zeros((4, 4, 3), np.uint8))
    manifest = handcrafted_bank("mc", images, tmp_path / "bank", soft_maps=True, workers=1, progress=False)
    assert manifest["summary"]["bad_image"] == 2
    assert manifest["n_images"] == 8
    assert not (tmp_path / "bank" / BANK_JOURNAL).exists()
    bank = DirectoryMaskBank(tmp_path / "bank")
    assert isinstance(bank, MaskBank)
    assert len(bank) == 8
    i = bank.index_of("c1/001.png")
    record = bank[i]
    image = ellipse_scene(1)[0]
    assert record.mask.shape == image.shape[:2] and record.mask.dtype == np.bool_
    expected = tiled_background(image, record.mask)
    assert record.status == "ok" and expected is not None and np.array_equal(record.background, expected)
    soft = bank.soft_map(i)
    assert soft is not None and np.array_equal(soft >= 0.9, record.mask) is not None
    grey = bank.entry(bank.index_of("grey.png"))
    assert grey["status"] != "bad_image"
    with pytest.raises(ValueError, match="unreadable"):
        bank[bank.index_of("corrupt.jpg")]
    with pytest.raises(KeyError):
        bank.index_of("missing.png")


def test_bank_refuses_a_different_detector(tmp_path: Path) -> None:
    images = tmp_path / "images"
    _images(images, 2)
    handcrafted_bank("mc", images, tmp_path / "bank", workers=1, progress=False)
    with pytest.raises(ValueError, match="different detector"):
        handcrafted_bank("rbd", images, tmp_path / "bank", workers=1, progress=False)


def _files(bank: Path) -> dict[str, str]:
    return {p.relative_to(bank).as_posix(): sha256_file(p) for p in sorted(bank.rglob("*")) if p.is_file()}


def test_killed_build_resumes_to_identical_files(tmp_path: Path) -> None:
    images = tmp_path / "images"
    _images(images, 32)
    cmd = [sys.executable, "-m", "bgaug.saliency", "handcrafted", "--method", "mc", "--images", str(images)]
    clean = tmp_path / "clean"
    handcrafted_bank("mc", images, clean, workers=1, progress=False)

    killed = tmp_path / "killed"
    proc = subprocess.Popen(
        [*cmd, "--out", str(killed), "--workers", "1"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    journal = killed / BANK_JOURNAL
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if journal.is_file() and len(journal.read_text().splitlines()) >= 8:
            break
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (killed / BANK_MANIFEST).exists(), "the build finished before it could be killed"
    done = [json.loads(line) for line in journal.read_text().splitlines() if line.endswith("}")]
    assert done
    before = {e["mask"]: (killed / e["mask"]).stat().st_mtime_ns for e in done}

    subprocess.run([*cmd, "--out", str(killed), "--workers", "1"], check=True, capture_output=True)
    assert _files(killed) == _files(clean)
    after = {name: (killed / name).stat().st_mtime_ns for name in before}
    assert after == before, "verified entries must not be redone"
