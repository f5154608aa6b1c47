from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from bgaug.core.data import FolderMaskBank, MaskedImageDataset, MaskedSample, collate_masked
from bgaug.core.interfaces import MaskBank, MaskedImages
from bgaug.core.io import BadImageError, load_image, save_png
from bgaug.core.tiling import tiled_background

RED = np.array([220, 30, 30], dtype=np.uint8)


def _scene(h: int, w: int, box: tuple[int, int, int, int], seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A textured blue-green background with a red rectangle (x0, y0, x1, y1) as the foreground."""
    rng = np.random.default_rng(seed)
    image = np.zeros((h, w, 3), dtype=np.uint8)
    image[..., 1] = rng.integers(60, 120, size=(h, w))
    image[..., 2] = rng.integers(140, 220, size=(h, w))
    mask = np.zeros((h, w), dtype=bool)
    x0, y0, x1, y1 = box
    mask[y0:y1, x0:x1] = True
    image[mask] = RED
    return image, mask


@pytest.fixture
def folder(tmp_path: Path) -> tuple[Path, Path]:
    """Two classes; images of different sizes and aspect ratios; masks mirror the tree as PNG."""
    images, masks = tmp_path / "images", tmp_path / "masks"
    specs = {
        "cat/a.png": (40, 60, (36, 10, 52, 30)),  # wide image, object right of centre
        "cat/b.png": (64, 64, (8, 8, 30, 40)),
        "dog/c.png": (90, 50, (10, 50, 40, 80)),  # tall image, object low
    }
    for i, (rel, (h, w, box)) in enumerate(specs.items()):
        image, mask = _scene(h, w, box, i)
        save_png(images / rel, image)
        save_png(masks / rel, mask)
    return images, masks


def test_folder_mask_bank_implements_the_protocol(folder: tuple[Path, Path]) -> None:
    images, masks = folder
    bank = FolderMaskBank(images, masks)
    assert isinstance(bank, MaskBank)
    assert len(bank) == 3
    assert bank.manifest["paths"] == ["cat/a.png", "cat/b.png", "dog/c.png"]
    assert bank.index_of("dog/c.png") == 2
    record = bank[1]
    assert record.status == "ok" and record.mask.dtype == bool and record.mask.shape == (64, 64)
    assert record.background is not None
    image = load_image(images / "cat/b.png")
    np.testing.assert_array_equal(record.background, tiled_background(image, record.mask))
    with pytest.raises(KeyError, match="nope"):
        bank.index_of("nope.png")


def test_bank_reports_empty_and_full_masks(folder: tuple[Path, Path]) -> None:
    images, masks = folder
    save_png(masks / "cat/a.png", np.zeros((40, 60), dtype=bool))
    save_png(masks / "cat/b.png", np.ones((64, 64), dtype=bool))
    bank = FolderMaskBank(images, masks)
    assert bank[0].status == "no_foreground" and bank[0].background is None
    assert bank[1].status == "no_background" and bank[1].background is None


def test_missing_mask_names_the_path(folder: tuple[Path, Path]) -> None:
    images, masks = folder
    (masks / "dog/c.png").unlink()
    with pytest.raises(FileNotFoundError, match=r"masks/dog/c\.png"):
        FolderMaskBank(images, masks)
    with pytest.raises(FileNotFoundError, match="mask folder"):
        FolderMaskBank(images, masks / "absent")


def test_mask_size_mismatch_is_a_bad_image(folder: tuple[Path, Path]) -> None:
    images, masks = folder
    save_png(masks / "cat/b.png", np.ones((32, 32), dtype=bool))
    dataset = MaskedImageDataset(images, FolderMaskBank(images, masks), size=32)
    with pytest.raises(BadImageError, match=r"b\.png.*differs"):
        dataset[1]


@pytest.mark.parametrize("size", [32, 48, 80])
def test_mask_moves_with_the_image_under_the_load_geometry(folder: tuple[Path, Path], size: int) -> None:
    images, masks = folder
    dataset = MaskedImageDataset(images, FolderMaskBank(images, masks), size=size)
    for i in range(len(dataset)):
        sample = dataset[i]
        assert sample.image.shape == (3, size, size) and sample.image.dtype == torch.uint8
        assert sample.mask.shape == (1, size, size) and set(sample.mask.unique().tolist()) <= {0, 1}
        assert sample.background.shape == (3, size, size) and sample.has_background
        mask = sample.mask[0].bool()
        assert mask.any() and not mask.all()
        # Inside the mask (away from its edge) the pixels are the red object; outside, background.
        inner = ~torch.nn.functional.max_pool2d((~mask)[None, None].float(), 3, 1, 1)[0, 0].bool()
        outer = ~torch.nn.functional.max_pool2d(mask[None, None].float(), 3, 1, 1)[0, 0].bool()
        red = sample.image[0].int() - sample.image[2].int() > 100
        assert bool(red[inner].all()) and not bool(red[outer].any())
        # The tiled background holds no object pixels.
        assert not bool((sample.background[0].int() - sample.background[2].int() > 100).any())


def test_wide_image_is_centre_cropped(folder: tuple[Path, Path]) -> None:
    images, masks = folder
    dataset = MaskedImageDataset(images, FolderMaskBank(images, masks), size=20)
    mask = dataset[0].mask[0]
    # 40x60 -> 20x30, centre crop drops 5 columns each side: object x 36..52 -> 18..26 -> 13..21.
    cols = torch.nonzero(mask.any(dim=0)).flatten()
    assert int(cols[0]) == 13 and int(cols[-1]) == 19  # clipped by the crop's right edge at 20


def test_labels_follow_class_folders(folder: tuple[Path, Path]) -> None:
    images, _ = folder
    labelled = MaskedImageDataset(images, None, size=16, labelled=True)
    assert labelled.classes == ["cat", "dog"]
    assert [labelled[i].label for i in range(3)] == [0, 0, 1]
    unlabelled = MaskedImageDataset(images, None, size=16)
    assert [unlabelled[i].label for i in range(3)] == [-1, -1, -1]
    save_png(images / "loose.png", np.zeros((8, 8, 3), dtype=np.uint8))
    with pytest.raises(ValueError, match=r"loose\.png"):
        MaskedImageDataset(images, None, size=16, labelled=True)


def test_without_a_bank_everything_is_foreground(folder: tuple[Path, Path]) -> None:
    images, _ = folder
    sample = MaskedImageDataset(images, None, size=16)[2]
    assert bool(sample.mask.all()) and not sample.has_background and not bool(sample.background.any())


def test_bad_images_raise_or_are_skipped(folder: tuple[Path, Path]) -> None:
    images, _ = folder
    (images / "dog/broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    strict = MaskedImageDataset(images, None, size=16)
    broken = strict.paths.index("dog/broken.png")
    with pytest.raises(BadImageError, match=r"broken\.png"):
        strict[broken]
    lenient = MaskedImageDataset(images, None, size=16, labelled=True, skip_bad=True)
    assert len(lenient) == 3 and [p for p, _ in lenient.skipped] == ["dog/broken.png"]
    assert lenient[2].label == 1


def test_collate_through_a_dataloader(folder: tuple[Path, Path]) -> None:
    images, masks = folder
    dataset = MaskedImageDataset(images, FolderMaskBank(images, masks), size=24, labelled=True)
    loader = DataLoader(dataset, batch_size=3, collate_fn=collate_masked)
    batch = next(iter(loader))
    assert isinstance(batch, MaskedImages)
    assert batch.images.shape == (3, 3, 24, 24) and batch.images.dtype == torch.float32
    assert float(batch.images.max()) <= 1.0 and float(batch.images.min()) >= 0.0
    assert batch.masks.shape == (3, 1, 24, 24) and batch.backgrounds is not None
    assert batch.backgrounds.shape == (3, 3, 24, 24)
    assert batch.labels is not None and batch.labels.tolist() == [0, 0, 1]
    assert batch.index is not None and batch.index.tolist() == [0, 1, 2]
    assert batch.has_background is not None and batch.has_background.tolist() == [True, True, True]
    sample = dataset[0]
    torch.testing.assert_close(batch.images[0], sample.image.float() / 255)


def test_collate_unlabelled_and_without_background() -> None:
    blank = MaskedSample(
        image=torch.zeros(3, 4, 4, dtype=torch.uint8),
        mask=torch.ones(1, 4, 4, dtype=torch.uint8),
        background=torch.zeros(3, 4, 4, dtype=torch.uint8),
        has_background=False,
        index=7,
        label=-1,
    )
    batch = collate_masked([blank, blank])
    assert batch.labels is None and batch.has_background is not None
    assert batch.has_background.tolist() == [False, False]
    with pytest.raises(ValueError, match="empty"):
        collate_masked([])


def test_reads_the_synthetic_benchmark(tmp_path: Path) -> None:
    from bgaug.core.synth import SynthConfig, generate

    config = SynthConfig(image_size=32, classes=2, pretrain_per_class=0, train_per_class=2, val_per_class=2)
    generate(config, tmp_path, progress=False)
    bank = FolderMaskBank(tmp_path / "train", tmp_path / "masks" / "train")
    dataset = MaskedImageDataset(tmp_path / "train", bank, size=32, labelled=True)
    assert dataset.classes == ["c0", "c1"] and len(dataset) == 4
    batch = collate_masked([dataset[i] for i in range(4)])
    assert batch.has_background is not None and bool(batch.has_background.all())


def test_a_cached_dataset_decodes_each_image_once(
    folder: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    import bgaug.core.data as data

    images, masks = folder
    plain = MaskedImageDataset(images, FolderMaskBank(images, masks), size=32, labelled=True)
    cached = MaskedImageDataset(images, FolderMaskBank(images, masks), size=32, labelled=True, cache=True)
    decoded: list[str] = []
    real = data.load_image

    def counting(path: Path) -> np.ndarray:
        decoded.append(Path(path).name)
        return real(path)

    monkeypatch.setattr(data, "load_image", counting)
    for _ in range(3):  # three epochs
        for i in range(len(cached)):
            a, b = cached[i], plain[i]
            assert torch.equal(a.image, b.image) and torch.equal(a.mask, b.mask)
            assert torch.equal(a.background, b.background) and a.label == b.label
    assert decoded.count("a.png") == 1 + 3  # the cached dataset once, the plain one every epoch
