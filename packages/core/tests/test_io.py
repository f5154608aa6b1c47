"""Image loading, atomic writes, hashing and checkpoints, on files made on the fly."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from bgaug.core.io import (
    BadCheckpointError,
    BadImageError,
    atomic_write,
    atomic_write_bytes,
    list_images,
    load_checkpoint,
    load_image,
    load_mask,
    save_checkpoint,
    save_png,
    sha256_bytes,
    sha256_file,
    sync_to_disk,
)


def _rgb(h: int = 12, w: int = 16) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_rgb_formats_load_as_rgb_uint8(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / f"x.{fmt.lower()}"
    Image.fromarray(_rgb()).save(path, format=fmt, **({"lossless": True} if fmt == "WEBP" else {}))
    out = load_image(path)
    assert out.dtype == np.uint8
    assert out.shape == (12, 16, 3)
    if fmt != "JPEG":
        np.testing.assert_array_equal(out, _rgb())


def test_cmyk_jpeg_converts_to_rgb(tmp_path: Path) -> None:
    path = tmp_path / "cmyk.jpg"
    Image.new("CMYK", (10, 8), (0, 255, 255, 0)).save(path)  # pure red in CMYK
    out = load_image(path)
    assert out.shape == (8, 10, 3)
    assert out[..., 0].mean() > 200 and out[..., 1].mean() < 60 and out[..., 2].mean() < 60


def test_grayscale_replicates_channels(tmp_path: Path) -> None:
    path = tmp_path / "g.png"
    gray = np.arange(80, dtype=np.uint8).reshape(8, 10)
    Image.fromarray(gray, mode="L").save(path)
    out = load_image(path)
    for c in range(3):
        np.testing.assert_array_equal(out[..., c], gray)


def test_palette_and_rgba_composite_on_black(tmp_path: Path) -> None:
    rgba = np.zeros((6, 6, 4), dtype=np.uint8)
    rgba[..., 0] = 200
    rgba[:3, :, 3] = 255  # top half opaque red, bottom half fully transparent
    path = tmp_path / "a.png"
    Image.fromarray(rgba, mode="RGBA").save(path)
    out = load_image(path)
    assert (out[:3, :, 0] == 200).all()
    assert (out[3:] == 0).all()

    pal = Image.fromarray(rgba[..., :3]).convert("P")
    pal.info["transparency"] = None
    pal_path = tmp_path / "p.png"
    pal.save(pal_path)
    assert load_image(pal_path).shape == (6, 6, 3)


def test_sixteen_bit_is_scaled(tmp_path: Path) -> None:
    path = tmp_path / "deep.png"
    arr = np.full((5, 7), 65535, dtype=np.uint16)
    arr[0, 0] = 0
    arr[0, 1] = 257 * 100
    Image.fromarray(arr).save(path)
    out = load_image(path)
    assert out.dtype == np.uint8
    assert out[1, 1, 0] == 255 and out[0, 0, 0] == 0 and out[0, 1, 0] == 100


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    img = Image.fromarray(_rgb(4, 10))
    exif = img.getexif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    path = tmp_path / "rot.jpg"
    img.save(path, exif=exif)
    assert load_image(path).shape == (10, 4, 3)


@pytest.mark.parametrize(
    ("name", "content", "cause"),
    [
        ("empty.jpg", b"", "empty file"),
        ("junk.png", b"this is not an image at all", "not a recognised image"),
    ],
)
def test_unreadable_files_raise_bad_image(tmp_path: Path, name: str, content: bytes, cause: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(BadImageError, match=cause) as info:
        load_image(path)
    assert str(path) in str(info.value)


def test_truncated_jpeg_raises_bad_image(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    Image.fromarray(_rgb(64, 64)).save(buffer, format="JPEG")
    path = tmp_path / "cut.jpg"
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    with pytest.raises(BadImageError, match=r"cut\.jpg"):
        load_image(path)


def test_missing_and_tiny_images(tmp_path: Path) -> None:
    with pytest.raises(BadImageError, match="not found"):
        load_image(tmp_path / "nope.png")
    tiny = tmp_path / "tiny.png"
    Image.new("RGB", (1, 1)).save(tiny)
    with pytest.raises(BadImageError, match="too small"):
        load_image(tiny)
    assert load_image(tiny, min_side=1).shape == (1, 1, 3)


def test_load_mask_binary_and_size_check(tmp_path: Path) -> None:
    m = np.zeros((6, 8), dtype=np.uint8)
    m[2:4, 3:6] = 255
    path = tmp_path / "m.png"
    Image.fromarray(m).save(path)
    out = load_mask(path, size=(6, 8))
    assert out.dtype == np.bool_ and out.sum() == 6
    with pytest.raises(BadImageError, match="differs from image size"):
        load_mask(path, size=(8, 8))


def test_a_0_1_mask_reads_as_its_foreground_not_as_empty(tmp_path: Path) -> None:
    m = np.zeros((6, 8), dtype=np.uint8)
    m[2:4, 3:6] = 1  # numpy's bool saved as uint8: a common export
    Image.fromarray(m).save(tmp_path / "01.png")
    assert load_mask(tmp_path / "01.png").sum() == 6
    m[0, 0] = 127  # an ordinary 8-bit mask: the 128 rule, so 1 and 127 are background
    Image.fromarray(m).save(tmp_path / "8bit.png")
    assert load_mask(tmp_path / "8bit.png").sum() == 0
    Image.fromarray(np.zeros((6, 8), dtype=np.uint8)).save(tmp_path / "empty.png")
    assert load_mask(tmp_path / "empty.png").sum() == 0
    m[0, 0] = 0
    Image.fromarray(m.astype(np.uint16)).save(tmp_path / "01_16bit.png")  # 16-bit 0/1: not scaled away
    assert load_mask(tmp_path / "01_16bit.png").sum() == 6
    Image.fromarray(m.astype(np.uint16) * 65535).save(tmp_path / "16bit.png")
    assert load_mask(tmp_path / "16bit.png").sum() == 6


class _BadImages(torch.utils.data.Dataset[int]):
    def __init__(self, folder: Path) -> None:
        self.path = folder / "cut.jpg"
        self.path.write_bytes(b"\xff\xd8\xff not a jpeg")

    def __len__(self) -> int:
        return 1

    def __getitem__(self, index: int) -> int:
        load_image(self.path)
        return index


def test_a_bad_image_in_a_loader_process_arrives_as_one_line(tmp_path: Path) -> None:
    loader = torch.utils.data.DataLoader(_BadImages(tmp_path), num_workers=1)
    with pytest.raises(BadImageError) as info:
        next(iter(loader))
    assert str(info.value).startswith(f"{tmp_path / 'cut.jpg'}: not a recognised image")
    assert "\n" not in str(info.value) and info.value.path == str(tmp_path / "cut.jpg")


def test_atomic_write_keeps_old_file_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "ckpt.bin"
    atomic_write_bytes(target, b"good")
    with pytest.raises(RuntimeError), atomic_write(target) as handle:
        handle.write(b"half")
        raise RuntimeError("killed mid-write")
    assert target.read_bytes() == b"good"
    assert sorted(os.listdir(tmp_path)) == ["ckpt.bin"]  # no temp file left behind


def test_bulk_writes_skip_fsync_but_stay_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(fd) or real_fsync(fd))
    target = tmp_path / "bulk.bin"
    atomic_write_bytes(target, b"bulk", durable=False)
    assert synced == []
    atomic_write_bytes(target, b"durable")
    assert len(synced) == 1
    with pytest.raises(RuntimeError), atomic_write(target, durable=False) as handle:
        handle.write(b"half")
        raise RuntimeError("killed mid-write")
    sync_to_disk()
    assert target.read_bytes() == b"durable"
    assert sorted(os.listdir(tmp_path)) == ["bulk.bin"]


def test_png_bytes_are_deterministic_and_hashable(tmp_path: Path) -> None:
    mask = np.zeros((4, 4), dtype=bool)
    mask[1:3, 1:3] = True
    a = save_png(tmp_path / "a.png", mask)
    b = save_png(tmp_path / "b.png", mask)
    assert a == b
    assert sha256_file(tmp_path / "a.png") == sha256_bytes(a)
    assert load_mask(tmp_path / "a.png").sum() == 4


def test_checkpoint_roundtrip_is_weights_only(tmp_path: Path) -> None:
    path = tmp_path / "c.pt"
    save_checkpoint({"w": torch.arange(3), "step": 7}, path)
    state = load_checkpoint(path)
    assert state["step"] == 7 and torch.equal(state["w"], torch.arange(3))

    class Evil:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (print, ("pwned",))

    evil = tmp_path / "evil.pt"
    torch.save({"x": Evil()}, evil)
    with pytest.raises(BadCheckpointError, match="not a loadable checkpoint"):
        load_checkpoint(evil)
    (tmp_path / "trunc.pt").write_bytes(path.read_bytes()[:20])
    with pytest.raises(BadCheckpointError):
        load_checkpoint(tmp_path / "trunc.pt")
    with pytest.raises(BadCheckpointError, match="not found"):
        load_checkpoint(tmp_path / "missing.pt")


def test_list_images_is_sorted_and_relative(tmp_path: Path) -> None:
    for rel in ["b/2.png", "a/1.JPG", "a/notes.txt", "c.webp"]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"x")
    assert list_images(tmp_path) == ["a/1.JPG", "b/2.png", "c.webp"]


def test_atomic_writes_respect_the_umask(tmp_path: Path) -> None:
    """mkstemp's 0600 would hide results from the user's group on a shared cluster."""
    old = os.umask(0o027)
    try:
        atomic_write_bytes(tmp_path / "a.bin", b"x")
        assert (tmp_path / "a.bin").stat().st_mode & 0o777 == 0o640
        os.umask(0o002)
        atomic_write_bytes(tmp_path / "b.bin", b"x")
        assert (tmp_path / "b.bin").stat().st_mode & 0o777 == 0o664
    finally:
        os.umask(old)


def test_a_checkpoint_with_a_flipped_byte_in_a_tensor_is_refused(tmp_path: Path) -> None:
    """torch.load reads such a file without complaint; the content hash catches it."""
    import torch

    from bgaug.core.io import load_checkpoint, save_checkpoint

    weights = torch.arange(1000, dtype=torch.float32)
    path = tmp_path / "c.pt"
    save_checkpoint({"w": weights, "meta": {"epochs": 3}}, path)
    state = load_checkpoint(path)
    assert torch.equal(state["w"], weights) and "content_sha256" not in state
    data = bytearray(path.read_bytes())
    start = bytes(data).find(weights[100:116].numpy().tobytes())
    assert start > 0
    data[start + 5] ^= 0x10  # one bit inside the tensor's bytes
    path.write_bytes(bytes(data))
    assert not torch.equal(torch.load(path, weights_only=True)["w"], weights)  # torch does not notice
    with pytest.raises(BadCheckpointError, match="does not match its recorded hash"):
        load_checkpoint(path)
    torch.save({"w": weights}, tmp_path / "old.pt")  # written before hashes: still loads
    assert torch.equal(load_checkpoint(tmp_path / "old.pt")["w"], weights)
