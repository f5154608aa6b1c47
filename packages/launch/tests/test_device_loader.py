"""The GPU data path's pieces, run on CPU: reading, decoding, fitting, backgrounds, the loader thread."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision.transforms.v2.functional as TF
from PIL import Image

from bgaug.augment import build_pipeline
from bgaug.core.data import MaskedImageDataset
from bgaug.core.device_loader import (
    DeviceEpochBatches,
    EncodedImageFolder,
    collate_encoded,
    fit_to_load_size,
    to_masked_images,
    unpack_mask_bits,
)
from bgaug.core.io import BadImageError, load_image, save_png
from bgaug.core.maskbank import open_mask_bank
from bgaug.core.tiling import tiled_backgrounds
from bgaug.saliency.pack import pack_folder


def _scene(h: int, w: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A smooth photograph-like image and a blob mask away from the centre crop's edges."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    rng = np.random.default_rng(seed)
    a, b = rng.uniform(0.02, 0.08, 2)
    image = np.stack(
        [127 + 100 * np.sin(a * xx + b * yy), 127 + 100 * np.cos(b * xx), 90 + 60 * np.sin(a * yy)], -1
    ).astype(np.uint8)
    mask = (yy - h / 2) ** 2 / (h / 5) ** 2 + (xx - w / 2) ** 2 / (w / 5) ** 2 < 1
    return image, mask


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """JPEGs of several shapes and colour modes (RGB, grayscale, CMYK, EXIF-rotated, a PNG), masks."""
    root = tmp_path_factory.mktemp("photos")
    images, masks = root / "images", root / "masks"
    shapes = {
        "a/rgb": (48, 64),
        "a/tall": (70, 40),
        "a/gray": (40, 40),
        "b/cmyk": (36, 52),
        "b/png": (50, 45),
    }
    shapes["b/rotated"] = (40, 60)
    for i, (name, (h, w)) in enumerate(shapes.items()):
        image, mask = _scene(h, w, i)
        (images / name).parent.mkdir(parents=True, exist_ok=True)
        pil = Image.fromarray(image)
        if name == "a/gray":
            pil.convert("L").save(images / f"{name}.jpg", quality=95)
        elif name == "b/cmyk":
            pil.convert("CMYK").save(images / f"{name}.jpg", quality=95)
        elif name == "b/png":
            pil.save(images / f"{name}.png")
        elif name == "b/rotated":  # stored sideways, shown upright: the mask is of the upright image
            exif = Image.Exif()
            exif[0x0112] = 6  # rotate 90 degrees clockwise to display
            pil.transpose(Image.Transpose.ROTATE_90).save(images / f"{name}.jpg", quality=95, exif=exif)
        else:
            pil.save(images / f"{name}.jpg", quality=95)
        suffix = ".png" if name == "b/png" else ".jpg"
        shown = load_image(images / f"{name}{suffix}")
        assert shown.shape[:2] == (h, w), name
        save_png(masks / f"{name}.png", mask)
    pack_folder(images, masks, root / "pack", progress=False)
    return images, root / "pack"


def test_mask_bits_round_trip_at_odd_widths() -> None:
    rng = np.random.default_rng(0)
    masks = [rng.random((5, w)) < 0.5 for w in (1, 7, 8, 13)]
    samples = [
        {"jpeg": np.zeros(1, np.uint8), "decoded": None, "mask": m, "index": i, "label": -1, "path": str(i)}
        for i, m in enumerate(masks)
    ]
    batch = collate_encoded(samples)
    unpacked = unpack_mask_bits(batch["mask_bits"], batch["mask_width"])
    assert unpacked.shape == (4, 5, 13)
    for i, m in enumerate(masks):
        np.testing.assert_array_equal(unpacked[i, :, : m.shape[1]].numpy(), m.astype(np.uint8))
        assert int(unpacked[i, :, m.shape[1] :].sum()) == 0


def test_fit_matches_the_cpu_load_geometry() -> None:
    """Shorter side to S and a centre crop, as core.data does (antialiased resize): close, not equal."""
    image, mask = _scene(90, 120, 0)
    t = torch.from_numpy(image).permute(2, 0, 1)
    masks = torch.from_numpy(mask.astype(np.uint8))[None]
    fitted, fitted_mask = fit_to_load_size([t], masks, torch.tensor([[90, 120]]), 36)
    expected = TF.center_crop(TF.resize(t.float() / 255, [36], antialias=True), [36, 36])
    assert fitted.shape == (1, 3, 36, 36)
    assert (fitted[0] - expected).abs().mean() < 0.01
    expected_mask = TF.center_crop(TF.resize(masks.float(), [36], antialias=True), [36, 36]) > 0.5
    disagree = (fitted_mask[0].bool() != expected_mask).float().mean()
    assert disagree < 0.02  # only edge pixels may differ
    assert fitted_mask.sum() > 50


def test_decoded_batch_matches_the_cpu_dataset(photos: tuple[Path, Path]) -> None:
    images, pack = photos
    bank = open_mask_bank(str(images), str(pack))
    encoded = EncodedImageFolder(images, bank, labelled=True)
    assert encoded.classes == ["a", "b"]
    batch = to_masked_images(
        collate_encoded([encoded[i] for i in range(len(encoded))]), torch.device("cpu"), 32
    )
    reference = MaskedImageDataset(images, open_mask_bank(str(images), str(pack)), size=32, labelled=True)
    for i in range(len(encoded)):
        ref = reference[i]
        got = batch.images[i]
        assert (got - ref.image.float() / 255).abs().mean() < 0.03, encoded.paths[i]
        disagree = (batch.masks[i, 0].bool() != ref.mask[0].bool()).float().mean()
        assert disagree < 0.06, encoded.paths[i]
    assert batch.labels is not None and batch.labels.tolist() == encoded.labels
    backgrounds, has_bg = tiled_backgrounds(batch.images, batch.masks)
    assert batch.backgrounds is not None and torch.equal(batch.backgrounds, backgrounds)
    assert batch.has_background is not None and torch.equal(batch.has_background, has_bg)
    assert bool(has_bg.all())
    # Grayscale, CMYK, the PNG and the EXIF-rotated JPEG went to the CPU decoder, the rest to the batch.
    raw = collate_encoded([encoded[i] for i in range(len(encoded))])
    cpu_decoded = {Path(raw["paths"][r]).stem for r in raw["decoded_rows"]}
    assert cpu_decoded == {"gray", "cmyk", "png", "rotated"}


def test_mask_size_mismatch_names_the_file(photos: tuple[Path, Path], tmp_path: Path) -> None:
    images, _ = photos
    masks = tmp_path / "masks"
    for rel in ("a/rgb", "a/tall", "a/gray", "b/cmyk", "b/png", "b/rotated"):
        save_png(masks / f"{rel}.png", np.ones((10, 10), dtype=bool))
    pack_folder(images, masks, tmp_path / "pack", progress=False)
    dataset = EncodedImageFolder(images, open_mask_bank(str(images), str(tmp_path / "pack")))
    with pytest.raises(BadImageError, match=r"rgb\.jpg.*mask size 10x10 differs from image size 64x48"):
        dataset[dataset.paths.index("a/rgb.jpg")]


def test_a_truncated_jpeg_is_named(tmp_path: Path) -> None:
    image, _ = _scene(40, 40, 1)
    (tmp_path / "c").mkdir()
    Image.fromarray(image).save(tmp_path / "c" / "good.jpg", quality=95)
    data = (tmp_path / "c" / "good.jpg").read_bytes()
    (tmp_path / "c" / "cut.jpg").write_bytes(data[: len(data) // 3])
    dataset = EncodedImageFolder(tmp_path, None)
    with pytest.raises(BadImageError, match=r"cut\.jpg"):
        samples = [dataset[i] for i in range(len(dataset))]
        to_masked_images(collate_encoded(samples), torch.device("cpu"), 16)


def test_a_bank_without_fast_mask_reads_is_refused(photos: tuple[Path, Path]) -> None:
    images, _ = photos
    with pytest.raises(ValueError, match="pack the bank first"):
        EncodedImageFolder(images, object())  # type: ignore[arg-type]


def _loader(photos: tuple[Path, Path], augment: object, **options: object) -> DeviceEpochBatches:
    images, pack = photos
    return DeviceEpochBatches(
        EncodedImageFolder(images, open_mask_bank(str(images), str(pack))),
        augment,  # type: ignore[arg-type]
        load_size=20,
        rank=0,
        world_size=1,
        device=torch.device("cpu"),
        **options,
    )


def _views(photos: tuple[Path, Path], on_device: bool, workers: int) -> list[torch.Tensor]:
    pipeline = build_pipeline("moco_v2", "bg_swaps", image_size=16, p_pos=0.5, p_neg=0.5)
    loader = _loader(
        photos, pipeline, decode_on_device=on_device, batch_size=3, seed=3, loader_workers=workers
    )
    out = []
    for epoch in range(2):
        for views in loader(epoch):
            assert views.views[0].shape == (3, 3, 16, 16)
            out.append(torch.cat([v.flatten() for v in views.views]))
    return out


def test_loader_thread_and_worker_decoding_give_the_same_views(photos: tuple[Path, Path]) -> None:
    """The device path (workers read bytes, a thread decodes and augments) and the CPU path (workers
    decode) make identical views from the same seed, in the same order, epoch after epoch."""
    threaded = _views(photos, on_device=True, workers=0)
    in_workers = _views(photos, on_device=False, workers=2)
    assert len(threaded) == len(in_workers) == 4
    for a, b in zip(threaded, in_workers, strict=True):
        torch.testing.assert_close(a, b)
    assert not torch.equal(threaded[0], threaded[2])  # epochs differ


def test_an_error_on_the_loader_thread_reaches_the_consumer(photos: tuple[Path, Path]) -> None:

    def broken(batch: object, generator: torch.Generator) -> object:
        raise ValueError("augmentation broke")

    loader = _loader(photos, broken, decode_on_device=True, batch_size=2, seed=0)
    with pytest.raises(ValueError, match="augmentation broke"):
        list(loader(0))


def test_bench_runs_on_cpu_and_writes_json(tmp_path: Path) -> None:
    from bgaug.launch.bench import main

    out = tmp_path / "bench.json"
    assert main(["--json", str(out), "--configs", "moco_v2+bg_swaps", "--images", "8", "--unique", "4"]) == 0
    report = json.loads(out.read_text())
    (result,) = report["results"]
    assert result["method"] == "moco_v2" and result["bg_aug"] == "bg_swaps" and not result["compiled"]
    for key in ("ceiling", "augment", "read", "decode", "data", "end_to_end"):
        assert result[f"{key}_pairs_per_s"] > 0
    assert result["ratio"] == pytest.approx(result["end_to_end_pairs_per_s"] / result["ceiling_pairs_per_s"])
    assert report["data"]["images"] == 8


def test_bench_rejects_bad_options(capsys: pytest.CaptureFixture[str]) -> None:
    from bgaug.launch.bench import main

    assert main(["--p-neg", "1.5"]) == 2
    assert "--p-neg" in capsys.readouterr().err
    assert main(["--configs", "moco_v2+bg_magic"]) == 2


def test_cpu_decode_share_moves_a_fixed_part_of_the_batch_to_the_workers(photos: tuple[Path, Path]) -> None:
    images, pack = photos
    bank = open_mask_bank(str(images), str(pack))
    by_device = EncodedImageFolder(images, bank)
    half = EncodedImageFolder(images, bank, cpu_decode_share=0.5)
    everything = EncodedImageFolder(images, bank, cpu_decode_share=1.0)
    n = len(by_device)
    rows = {
        name: collate_encoded([d[i] for i in range(n)])
        for name, d in (("0", by_device), ("half", half), ("1", everything))
    }
    plain = rows["0"]["jpeg_rows"]
    assert len(plain) == 2  # the RGB JPEGs; the others always decode in the workers
    assert rows["half"]["jpeg_rows"] == [i for i in plain if (i * 0.6180339887498949) % 1.0 >= 0.5]
    assert rows["1"]["jpeg_rows"] == [] and len(rows["1"]["decoded_rows"]) == n
    cpu = torch.device("cpu")
    a, b = to_masked_images(rows["0"], cpu, 24), to_masked_images(rows["1"], cpu, 24)
    assert (a.images - b.images).abs().mean() < 0.01  # the same libjpeg-turbo decode, by torchvision or PIL
    assert torch.equal(a.masks, b.masks)
    with pytest.raises(ValueError, match="cpu_decode_share"):
        EncodedImageFolder(images, bank, cpu_decode_share=1.5)


def test_a_batch_crosses_from_the_workers_as_a_few_tensors(photos: tuple[Path, Path]) -> None:
    """Every file's bytes in one tensor and every worker-decoded image in another (one shared-memory
    segment each, not one per image), and each image decodes from its own slice."""
    images, pack = photos
    dataset = EncodedImageFolder(images, open_mask_bank(str(images), str(pack)))
    samples = [dataset[i] for i in range(len(dataset))]
    batch = collate_encoded(samples)
    tensors = [v for v in batch.values() if isinstance(v, torch.Tensor)]
    assert not any(isinstance(v, list) and v and isinstance(v[0], torch.Tensor) for v in batch.values())
    assert len(tensors) == 3  # jpeg, decoded, mask_bits: none per image (the small fields are numpy)
    files = batch["jpeg"].split(batch["jpeg_lengths"])
    for row, data in zip(batch["jpeg_rows"], files, strict=True):
        assert data.numpy().tobytes() == Path(samples[row]["path"]).read_bytes()
    decoded = to_masked_images(batch, torch.device("cpu"), 24)
    for row in range(len(samples)):  # each row is its own image, whichever way it was decoded
        alone = to_masked_images(collate_encoded([samples[row]]), torch.device("cpu"), 24)
        assert torch.allclose(decoded.images[row], alone.images[0], atol=1e-4)  # float sums per group


def test_a_failed_batched_decode_falls_back_to_the_cpu(
    photos: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A decoder failure on files that are fine (an unsupported JPEG variant) costs a warning, not
    the run; the batch is decoded on the CPU instead."""
    import torchvision.io

    images, pack = photos
    dataset = EncodedImageFolder(images, open_mask_bank(str(images), str(pack)))
    batch = collate_encoded([dataset[i] for i in range(len(dataset))])
    expected = to_masked_images(batch, torch.device("cpu"), 24)

    def broken(*args: object, **kwargs: object) -> object:
        raise RuntimeError("unsupported JPEG")

    monkeypatch.setattr(torchvision.io, "decode_jpeg", broken)
    with pytest.warns(RuntimeWarning, match="unsupported JPEG"):
        got = to_masked_images(batch, torch.device("cpu"), 24)
    assert (got.images - expected.images).abs().max() < 0.05


def test_odd_files_decode_in_the_worker_or_are_refused(tmp_path: Path) -> None:
    image, _ = _scene(40, 40, 2)
    (tmp_path / "c").mkdir()
    Image.fromarray(image).save(tmp_path / "c" / "trailing.jpg", quality=95)
    with open(tmp_path / "c" / "trailing.jpg", "ab") as f:
        f.write(b"\x00" * 16)  # bytes after the end-of-image marker, as some cameras write
    Image.fromarray(image[:1, :1]).save(tmp_path / "c" / "tiny.jpg", quality=95)
    dataset = EncodedImageFolder(tmp_path, None)
    trailing = dataset[dataset.paths.index("c/trailing.jpg")]
    assert trailing["jpeg"] is None and trailing["decoded"].shape == (40, 40, 3)
    with pytest.raises(BadImageError, match=r"tiny\.jpg"):
        dataset[dataset.paths.index("c/tiny.jpg")]


def test_fit_does_not_blend_in_the_padding_of_a_size_group() -> None:
    """A smaller image fitted in a group with a larger one (padded to its size) comes out as it does
    alone: the bilinear samples by its bottom / right edge must not read the zero padding."""
    small, small_mask = _scene(30, 45, 3)  # the centre square touches its bottom edge
    big, big_mask = _scene(50, 60, 4)
    sizes = torch.tensor([[30, 45], [50, 60]])
    masks = torch.zeros((2, 50, 60), dtype=torch.uint8)
    masks[0, :30, :45] = torch.from_numpy(small_mask.astype(np.uint8))
    masks[1] = torch.from_numpy(big_mask.astype(np.uint8))
    images = [torch.from_numpy(small).permute(2, 0, 1), torch.from_numpy(big).permute(2, 0, 1)]
    together, _ = fit_to_load_size(images, masks, sizes, 20)
    alone, _ = fit_to_load_size(images[:1], masks[:1, :30, :45], sizes[:1], 20)
    torch.testing.assert_close(together[0], alone[0], atol=1e-5, rtol=0)


def test_bench_precompile_commands_rebuild_the_timed_runs_shapes() -> None:
    """A warm-up process must compile exactly the step the timed run compiles, or its cache misses."""
    import argparse

    from bgaug.launch import bench

    parser = argparse.ArgumentParser()
    bench.add_arguments(parser)
    args = parser.parse_args(["--configs", "moco_v2,swav+bg_rm", "--batch-size", "6", "--p-neg", "0.5"])
    bench._fill_defaults(args, torch.device("cpu"))
    commands = bench._precompile_commands(args)
    assert len(commands) == 2
    for command, config in zip(commands, args.config_list, strict=True):
        assert command[1:4] == ["-m", "bgaug.launch.bench", "--warm-compile"]
        warm = parser.parse_args(command[3:])
        bench._fill_defaults(warm, torch.device("cpu"))
        assert warm.warm_compile and warm.config_list == [config]
        for name in ("arch", "batch_size", "image_size", "p_neg", "device"):
            assert getattr(warm, name) == getattr(args, name), name


def test_bench_reports_a_failed_compile_warm_up_and_goes_on(tmp_path: Path) -> None:
    import subprocess
    import sys
    import time

    from bgaug.launch.bench import _wait_for_warmers

    warmers = []
    scripts = (
        ("ok", "pass"),
        ("broken", "print('out of memory'); raise SystemExit(3)"),
        ("hung", "import time; time.sleep(60)"),
    )
    for name, code in scripts:
        log = tmp_path / f"{name}.log"
        with log.open("wb") as sink:
            warmers.append((name, subprocess.Popen([sys.executable, "-c", code], stdout=sink), log))
    report = _wait_for_warmers(warmers, time.perf_counter(), timeout_s=5)
    assert report.configs == ("ok", "broken", "hung")
    assert report.failed == {"broken": "out of memory", "hung": "stopped after 5 s"}
    assert report.to_json()["configs"] == ["ok", "broken", "hung"]
    assert report.seconds < 30 and warmers[2][1].returncode is not None
