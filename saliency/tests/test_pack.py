from __future__ import annotations

import json
import multiprocessing
import pickle
import zlib
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch
import zstandard

from bgaug.core.data import FolderMaskBank, MaskedImageDataset
from bgaug.core.interfaces import MaskBank
from bgaug.core.io import BadImageError, save_png
from bgaug.core.maskbank import DirectoryMaskBank
from bgaug.core.tiling import tiled_background
from bgaug.saliency.bench import run_pack_bench
from bgaug.saliency.cli import main
from bgaug.saliency.handcrafted_bank import handcrafted_bank
from bgaug.saliency.pack import (
    COLUMNS,
    FORMAT,
    LENGTH,
    OFFSET,
    PackedMaskBank,
    PackItem,
    decode_mask,
    encode_mask,
    pack_bank,
    pack_folder,
    write_pack,
)

from .scenes import ellipse_scene

SHAPES = [(1, 1), (3, 5), (7, 9), (13, 8), (375, 500), (500, 375), (33, 1)]


@pytest.mark.parametrize("codec", ["zstd", "zlib"])
@pytest.mark.parametrize("shape", SHAPES)
def test_encode_decode_round_trip(shape: tuple[int, int], codec: str) -> None:
    rng = np.random.default_rng(shape[0] * 1000 + shape[1])
    for mask in (rng.random(shape) < 0.3, np.zeros(shape, bool), np.ones(shape, bool)):
        data = encode_mask(mask, codec)
        out = decode_mask(data, *shape, codec)
        assert out.dtype == np.bool_ and out.shape == shape and np.array_equal(out, mask)
        # The documented encoding, decoded by hand: the codec over numpy.packbits of the row-major mask.
        packed = zlib.decompress(data) if codec == "zlib" else zstandard.ZstdDecompressor().decompress(data)
        bits = np.unpackbits(np.frombuffer(packed, np.uint8), count=mask.size)
        assert np.array_equal(bits.reshape(shape).astype(bool), mask)
    with pytest.raises(ValueError, match="expected"):
        decode_mask(encode_mask(np.ones((4, 4), bool), codec), 9, 9, codec)


def _items() -> list[PackItem]:
    rng = np.random.default_rng(0)
    ok = np.zeros((7, 13), bool)
    ok[2:5, 3:11] = True
    return [
        PackItem("a/ok.jpg", ok, "ok"),
        PackItem("a/odd.png", rng.random((5, 9)) < 0.5, "no_background"),
        PackItem("b/empty.jpg", np.zeros((6, 11), bool), "no_foreground"),
        PackItem("b/full.jpg", np.ones((4, 3), np.uint8), "no_background"),  # nonzero = foreground
        PackItem("c/bad.jpg", None, "bad_image", "cannot decode"),
        PackItem("c/\u00e9t\u00e9.png", rng.random((10, 17)) < 0.5, "ok"),
    ]


def test_write_and_read_every_status(tmp_path: Path) -> None:
    items = _items()
    config = write_pack(tmp_path / "pack", items, source={"kind": "test"}, progress=False)
    assert config["summary"] == {"ok": 2, "no_foreground": 1, "no_background": 2, "bad_image": 1}
    bank = PackedMaskBank(tmp_path / "pack")
    assert isinstance(bank, MaskBank) and len(bank) == len(items)
    assert bank.manifest["format"] == FORMAT and bank.manifest["count"] == len(items)
    for i, item in enumerate(items):
        assert bank.index_of(item.path) == i and bank.path(i) == item.path
        assert bank.status(i) == item.status
        if item.mask is None:
            assert bank.size(i) == (0, 0) and bank.mask_bytes(i) == b""
            with pytest.raises(BadImageError, match="cannot decode"):
                bank.mask(i)
            continue
        expected = np.asarray(item.mask).astype(bool)
        assert bank.size(i) == expected.shape
        got = bank.mask(i)
        assert got.dtype == np.bool_ and np.array_equal(got, expected)
        assert np.array_equal(decode_mask(bank.mask_bytes(i), *bank.size(i)), expected)
        assert (bank.mask_bytes(i) == b"") == (item.status == "no_foreground")
    assert np.array_equal(bank.mask(-1), bank.mask(len(items) - 1))
    with pytest.raises(IndexError):
        bank.mask(len(items))
    with pytest.raises(KeyError):
        bank.index_of("a/missing.jpg")
    # No pickle: fixed-width integers only, UTF-8 paths, JSON metadata.
    index = np.load(tmp_path / "pack" / "index.npy", allow_pickle=False)
    assert index.dtype == np.int64 and index.shape == (len(items), len(COLUMNS))
    assert (tmp_path / "pack" / "paths.txt").read_text("utf-8").splitlines() == [i.path for i in items]
    assert json.loads((tmp_path / "pack" / "pack.json").read_text())["bad_images"][0]["index"] == 4


@pytest.mark.parametrize(("codec", "level"), [("zstd", 3), ("zstd", 19), ("zlib", 1), ("zlib", 9)])
def test_any_codec_and_level_reads_back(tmp_path: Path, codec: str, level: int) -> None:
    items = _items()
    config = write_pack(tmp_path / "pack", items, source={}, progress=False, codec=codec, level=level)
    assert (config["encoding"]["codec"], config["encoding"]["level"]) == (codec, level)
    bank = PackedMaskBank(tmp_path / "pack")
    assert bank.codec == codec
    assert np.array_equal(bank.mask(5), items[5].mask)


def test_bad_codec_or_level_is_refused(tmp_path: Path) -> None:
    items = _items()
    with pytest.raises(ValueError, match=r"zstd level must be an integer in 1\.\.22"):
        write_pack(tmp_path / "a", items, source={}, progress=False, level=0)
    with pytest.raises(ValueError, match="zlib level"):
        write_pack(tmp_path / "b", items, source={}, progress=False, codec="zlib", level=10)
    with pytest.raises(ValueError, match="codec must be one of"):
        write_pack(tmp_path / "c", items, source={}, progress=False, codec="lz4")
    assert not (tmp_path / "a").exists()


def test_packs_written_before_zstd_read_as_zlib(tmp_path: Path) -> None:
    """Such a pack's pack.json names no codec (it had ``zlib_level``): the reader takes zlib."""
    items = _items()
    write_pack(tmp_path / "pack", items, source={}, progress=False, codec="zlib", level=3)
    config_path = tmp_path / "pack" / "pack.json"
    config = json.loads(config_path.read_text())
    encoding = config["encoding"]
    config["encoding"] = {"mask": encoding["mask"], "zlib_level": 3, "empty": encoding["empty"]}
    config_path.write_text(json.dumps(config))
    bank = PackedMaskBank(tmp_path / "pack")
    assert bank.codec == "zlib"
    assert np.array_equal(bank.mask(0), items[0].mask)


def test_unsorted_paths_still_found(tmp_path: Path) -> None:
    items = _items()[::-1]
    config = write_pack(tmp_path / "pack", items, source={}, progress=False)
    assert config["paths_sorted"] is False
    bank = PackedMaskBank(tmp_path / "pack")
    assert [bank.index_of(item.path) for item in items] == list(range(len(items)))


def test_write_rejects_inconsistent_items(tmp_path: Path) -> None:
    empty, full = np.zeros((4, 4), bool), np.ones((4, 4), bool)
    cases: list[tuple[list[tuple[str, np.ndarray | None, str]], str]] = [
        ([("a", empty, "ok")], "does not match"),
        ([("a", full, "no_foreground")], "does not match"),
        ([("a", full, "ok"), ("a", full, "ok")], "twice"),
        ([("a", None, "ok")], "needs"),
        ([("a", full, "bad_image")], "no mask"),
        ([("a", full, "great")], "unknown status"),
        ([("a\nb", full, "ok")], "line breaks"),
        ([("bad\udcff.png", full, "ok")], "UTF-8"),
        ([], "nothing to pack"),
    ]
    for items, match in cases:
        with pytest.raises(ValueError, match=match):
            write_pack(tmp_path / "pack", items, source={}, progress=False)
        assert list(tmp_path.iterdir()) == []


def test_failure_mid_write_leaves_nothing(tmp_path: Path) -> None:
    def items() -> Iterator[PackItem]:
        yield from _items()[:3]
        raise RuntimeError("killed mid-write")

    with pytest.raises(RuntimeError, match="mid-write"):
        write_pack(tmp_path / "pack", items(), source={}, progress=False)
    assert list(tmp_path.iterdir()) == []  # no PACK, no temporary sibling


def test_overwrite_rules(tmp_path: Path) -> None:
    items = _items()
    write_pack(tmp_path / "pack", items, source={}, progress=False)
    with pytest.raises(FileExistsError, match="--force"):
        write_pack(tmp_path / "pack", items[:2], source={}, progress=False)
    write_pack(tmp_path / "pack", items[:2], source={}, force=True, progress=False)
    assert len(PackedMaskBank(tmp_path / "pack")) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pack"]
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "keep.txt").write_text("x")
    with pytest.raises(FileExistsError, match="not a mask pack"):
        write_pack(tmp_path / "other", items, source={}, force=True, progress=False)
    assert (tmp_path / "other" / "keep.txt").read_text() == "x"


def _read_all(bank: PackedMaskBank) -> list[bytes]:
    return [bank.mask(i).tobytes() if bank.status(i) != "bad_image" else b"bad" for i in range(len(bank))]


def test_pickle_and_read_in_another_process(tmp_path: Path) -> None:
    write_pack(tmp_path / "pack", _items(), source={}, progress=False)
    bank = PackedMaskBank(tmp_path / "pack")
    expected = _read_all(bank)  # maps are open now; pickling must drop them
    clone = pickle.loads(pickle.dumps(bank))
    assert _read_all(clone) == expected and clone.index_of("b/full.jpg") == 3
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork")) as pool:
        assert pool.submit(_read_all, bank).result() == expected
    bank.close()
    assert _read_all(bank) == expected  # reopens after close


def _images(root: Path, n: int) -> None:
    for i in range(n):
        h, w = (48, 64) if i % 2 else (64, 45)  # an odd width too
        save_png(root / f"c{i % 2}" / f"{i:03d}.png", ellipse_scene(i, h, w)[0])


def test_pack_bank_matches_directory_bank(tmp_path: Path) -> None:
    images = tmp_path / "images"
    _images(images, 4)
    (images / "corrupt.jpg").write_bytes(b"not an image")
    handcrafted_bank("mc", images, tmp_path / "bank", workers=1, progress=False)
    directory = DirectoryMaskBank(tmp_path / "bank")
    config = pack_bank(tmp_path / "bank", tmp_path / "pack", progress=False)
    assert config["source"]["kind"] == "bank" and len(config["source"]["manifest_sha256"]) == 64
    packed = PackedMaskBank(tmp_path / "pack", image_root=images)
    assert len(packed) == len(directory) == 5
    for i in range(len(directory)):
        entry = directory.entry(i)
        assert packed.path(i) == entry["path"] and packed.status(i) == entry["status"]
        assert packed.index_of(entry["path"]) == directory.index_of(entry["path"]) == i
        if entry["status"] == "bad_image":
            with pytest.raises(BadImageError):
                packed[i]
            continue
        want = directory[i]
        got = packed[i]  # loads the image from image_root
        assert np.array_equal(packed.mask(i), want.mask) and got.status == want.status
        assert (got.background is None) == (want.background is None)
        if want.background is not None:
            assert got.background is not None and np.array_equal(got.background, want.background)


def test_record_computes_the_tiled_background(tmp_path: Path) -> None:
    image, mask = ellipse_scene(3, 40, 51)
    full = np.ones(mask.shape, bool)
    items = [("a.png", mask, "ok"), ("b.png", full, "no_background"), ("c.png", ~full, "no_foreground")]
    write_pack(tmp_path / "pack", items, source={}, progress=False)
    bank = PackedMaskBank(tmp_path / "pack")
    record = bank.record(0, image)
    expected = tiled_background(image, mask)
    assert record.status == "ok" and expected is not None
    assert record.background is not None and np.array_equal(record.background, expected)
    assert bank.record(1, image).background is None and bank.record(1, image).status == "no_background"
    assert bank.record(2, image).background is None and bank.record(2, image).status == "no_foreground"
    with pytest.raises(ValueError, match="stores no backgrounds"):
        bank[0]
    with pytest.raises(BadImageError, match="differs"):
        bank.record(0, image[:20])


def test_pack_folder_in_the_dataset(tmp_path: Path) -> None:
    for i in range(3):
        image, mask = ellipse_scene(i, 32, 37)
        save_png(tmp_path / "images" / "c" / f"{i}.jpg", image)
        save_png(tmp_path / "masks" / "c" / f"{i}.png", mask)
    save_png(tmp_path / "images" / "c" / "3.jpg", ellipse_scene(3, 32, 37)[0])
    save_png(tmp_path / "masks" / "c" / "3.png", np.zeros((32, 37), bool))
    config = pack_folder(tmp_path / "images", tmp_path / "masks", tmp_path / "pack", progress=False)
    assert config["summary"]["ok"] == 3 and config["summary"]["no_foreground"] == 1
    folder = FolderMaskBank(tmp_path / "images", tmp_path / "masks")
    packed = PackedMaskBank(tmp_path / "pack")
    a = MaskedImageDataset(tmp_path / "images", folder, size=24)
    b = MaskedImageDataset(tmp_path / "images", packed, size=24)
    for i in range(len(a)):
        x, y = a[i], b[i]
        assert x.has_background == y.has_background
        for field in ("image", "mask", "background"):
            assert torch.equal(getattr(x, field), getattr(y, field))


def _cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["pack", *args])
    return code, capsys.readouterr().err


def test_cli_pack_and_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for i in range(2):
        image, mask = ellipse_scene(i, 24, 30)
        save_png(tmp_path / "images" / f"{i}.png", image)
        save_png(tmp_path / "masks" / f"{i}.png", mask)
    out = tmp_path / "pack"
    folder = ["--images", str(tmp_path / "images"), "--masks", str(tmp_path / "masks")]
    assert main(["pack", *folder, "--out", str(out), "--json", str(tmp_path / "s.json")]) == 0
    assert json.loads(capsys.readouterr().out)["count"] == 2
    assert json.loads((tmp_path / "s.json").read_text())["summary"]["ok"] == 2

    unfinished = tmp_path / "unfinished"
    unfinished.mkdir()
    (unfinished / "journal.jsonl").write_text("")
    (tmp_path / "masks" / "1.png").unlink()
    cases = [
        (["--bank", str(tmp_path / "nope"), "--out", str(tmp_path / "p2")], "no mask bank"),
        (["--bank", str(unfinished), "--out", str(tmp_path / "p2")], "unfinished"),
        ([*folder, "--out", str(tmp_path / "p2")], "mask not found"),
        (["--images", str(tmp_path / "images"), "--out", str(tmp_path / "p2")], "--masks"),
        (["--bank", str(unfinished), *folder, "--out", str(tmp_path / "p2")], "not both"),
        (["--images", str(tmp_path / "none"), "--masks", str(tmp_path / "masks"), "--out", "x"], "not found"),
        (["--bank", str(out), "--out", str(tmp_path / "images")], "no mask bank"),
    ]
    for args, cause in cases:
        code, err = _cli(args, capsys)
        assert code == 2 and err.count("\n") == 1 and cause in err, (args, err)
    assert not (tmp_path / "p2").exists()
    save_png(tmp_path / "masks" / "1.png", np.zeros((24, 30), bool))
    code, err = _cli([*folder, "--out", str(out)], capsys)
    assert code == 2 and "--force" in err
    code, err = _cli([*folder, "--out", str(tmp_path / "images")], capsys)
    assert code == 2 and "not a mask pack" in err
    assert main(["pack", *folder, "--out", str(out), "--force"]) == 0
    assert PackedMaskBank(out).status(1) == "no_foreground"


def test_pack_bench_runs() -> None:
    result = run_pack_bench(n_masks=30, n_distinct=2, reads=50)
    assert result.random_reads_per_s > 0 and 0 < result.mask_bytes_per_mask < 23_438
    data = result.to_json()
    assert data["pack_random_reads_per_s"] == result.random_reads_per_s
    assert data["pack_index_and_paths_bytes_per_mask"] == result.bytes_per_mask - result.mask_bytes_per_mask


@pytest.mark.parametrize("codec", ["zstd", "zlib"])
def test_a_corrupted_pack_is_refused_never_read_as_other_masks(tmp_path: Path, codec: str) -> None:
    from bgaug.core.errors import UsageError

    items = _items()
    write_pack(tmp_path / "pack", items, source={"kind": "test"}, codec=codec, progress=False)
    masks = tmp_path / "pack" / "masks.bin"
    bank = PackedMaskBank(tmp_path / "pack")
    offset, length = bank._row(0)[OFFSET : LENGTH + 1]
    data = bytearray(masks.read_bytes())
    data[offset + length - 2] ^= 0x01  # inside the first mask's frame (its checksum or content)
    masks.write_bytes(bytes(data))
    with pytest.raises(UsageError, match=r"mask 0 does not decode.*corrupted"):
        PackedMaskBank(tmp_path / "pack").mask(0)
    index = tmp_path / "pack" / "index.npy"
    raw = bytearray(index.read_bytes())
    raw[-3] ^= 0x01
    index.write_bytes(bytes(raw))
    with pytest.raises(UsageError, match=r"index\.npy does not match its recorded hash"):
        PackedMaskBank(tmp_path / "pack")
