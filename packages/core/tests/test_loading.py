from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import torch
from torch.utils.data import Dataset

from bgaug.core.interfaces import MaskedImages, ViewBatch
from bgaug.core.loading import EpochBatches
from bgaug.core.maskbank import DirectoryMaskBank, is_mask_bank, open_mask_bank


class _Indices(Dataset[int]):
    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int) -> int:
        return index


def _collate(samples: list[int]) -> MaskedImages:
    b = len(samples)
    return MaskedImages(torch.zeros(b, 3, 4, 4), torch.ones(b, 1, 4, 4), index=torch.tensor(samples))


class _Recorder:
    """A stand-in view pipeline: one view carrying a random draw, so the generator is observable."""

    def __init__(self) -> None:
        self.epochs: list[int] = []

    def set_epoch(self, epoch: int) -> None:
        self.epochs.append(epoch)

    def __call__(self, batch: MaskedImages, generator: torch.Generator) -> ViewBatch:
        assert batch.index is not None
        draw = torch.rand(1, generator=generator).item()
        views = batch.images + draw
        return ViewBatch(views=(views,), n_global=1, labels=batch.index)


def _batches(rank: int, world: int, augment: Any = None, n: int = 20) -> EpochBatches:
    return EpochBatches(
        _Indices(n),
        augment or _Recorder(),
        batch_size=3,
        rank=rank,
        world_size=world,
        seed=7,
        device=torch.device("cpu"),
        collate=_collate,
    )


def _seen(batches: EpochBatches, epoch: int, start: int = 0) -> list[list[int]]:
    return [vb.labels.tolist() for vb in batches(epoch, start) if vb.labels is not None]


def test_ranks_see_disjoint_shards_and_full_batches() -> None:
    shards = [_seen(_batches(rank, 2), epoch=0) for rank in range(2)]
    flat = [i for shard in shards for batch in shard for i in batch]
    assert all(len(b) == 3 for shard in shards for b in shard)
    assert len(flat) == len(set(flat)) == 2 * 3 * 3  # 10 per rank -> 3 full batches each
    assert _batches(0, 2).steps_per_epoch == 3


def test_epochs_reshuffle_and_resume_repeats_the_same_views() -> None:
    batches = _batches(0, 1)
    assert _seen(batches, 0) != _seen(batches, 1)
    full = [vb.views[0][0, 0, 0, 0].item() for vb in batches(1, 0)]
    resumed = [vb.views[0][0, 0, 0, 0].item() for vb in batches(1, 2)]
    assert resumed == full[2:]
    assert _seen(batches, 1, 2) == _seen(batches, 1)[2:]


class _Pids(Dataset[tuple[int, int]]):
    """Each sample says which process loaded it."""

    def __len__(self) -> int:
        return 12

    def __getitem__(self, index: int) -> tuple[int, int]:
        return index, os.getpid()


def _collate_pids(samples: list[tuple[int, int]]) -> MaskedImages:
    b = len(samples)
    index = torch.tensor([i for i, _ in samples])
    pids = torch.tensor([pid for _, pid in samples])
    return MaskedImages(torch.zeros(b, 3, 4, 4), torch.ones(b, 1, 4, 4), index=index, labels=pids)


def test_loader_workers_serve_every_epoch_and_keep_the_batches() -> None:
    def run(workers: int) -> tuple[list[list[int]], set[int]]:
        batches = EpochBatches(
            _Pids(),
            _Recorder(),
            batch_size=4,
            rank=0,
            world_size=1,
            seed=7,
            device=torch.device("cpu"),
            loader_workers=workers,
            collate=_collate_pids,
        )
        seen: list[list[int]] = []
        pids: set[int] = set()
        for epoch in range(4):
            loaded = iter(batches.loader(batches.start_epoch(epoch, start_step=epoch % 2)))
            for step, batch in enumerate(loaded):
                assert batch.index is not None and batch.labels is not None
                seen.append(batch.index.tolist())
                pids.update(batch.labels.tolist())
                if epoch == 2 and step == 0:
                    break  # an epoch dropped early: the next one must still start from its own start
        return seen, pids

    in_process, main_only = run(0)
    with_workers, worker_pids = run(2)
    assert main_only == {os.getpid()}
    assert os.getpid() not in worker_pids
    assert len(worker_pids) == 2  # started once, not again for each of the 4 epochs
    assert with_workers == in_process
    assert len(in_process) == 3 + 2 + 1 + 2


def test_set_epoch_reaches_the_pipeline() -> None:
    recorder = _Recorder()
    list(_batches(0, 1, recorder)(3, 0))
    assert recorder.epochs == [3]


def test_too_small_a_dataset_is_refused() -> None:
    with pytest.raises(ValueError, match="too small"):
        _batches(0, 2, n=4)


def _folder(root: Path, names: list[str], bank_names: bool = False) -> tuple[Path, Path]:
    """Images under root/images with masks under root/masks, named as synth (``a.png``) or as a
    bank (``a.jpg.png``)."""
    import numpy as np

    from bgaug.core.io import save_png

    images, masks = root / "images", root / "masks"
    for i, name in enumerate(names):
        image = np.full((16, 16, 3), 40 * i, dtype=np.uint8)
        mask = np.zeros((16, 16), dtype=bool)
        mask[4:12, 4:12] = True
        save_png(images / name, image)
        save_png(masks / (f"{name}.png" if bank_names else str(Path(name).with_suffix(".png"))), mask)
    return images, masks


def test_masks_argument_accepts_a_bank_or_a_folder(tmp_path: Path) -> None:
    from bgaug.core.data import FolderMaskBank

    images, folder = _folder(tmp_path, ["c0/a.png", "c1/b.png"])
    assert not is_mask_bank(folder)
    assert isinstance(open_mask_bank(images, folder), FolderMaskBank)
    (tmp_path / "bank").mkdir()
    (tmp_path / "bank" / "manifest.json").write_text(
        json.dumps({"format": "bgaug-maskbank/1", "entries": []})
    )
    assert is_mask_bank(tmp_path / "bank")
    assert isinstance(open_mask_bank(images, tmp_path / "bank"), DirectoryMaskBank)
    (tmp_path / "bank" / "masks").mkdir()  # the bank's masks/ folder means the bank itself
    assert isinstance(open_mask_bank(images, tmp_path / "bank" / "masks"), DirectoryMaskBank)
    assert open_mask_bank(images, None) is None
    with pytest.raises(FileNotFoundError):
        open_mask_bank(images, tmp_path / "none")


def test_a_mask_folder_may_name_masks_as_a_bank_does(tmp_path: Path) -> None:
    """``photo.jpg`` -> ``photo.jpg.png`` (a bank's naming) reads like ``photo.png`` (synth's)."""
    images, masks = _folder(tmp_path, ["c0/a.jpg", "c0/b.JPEG"], bank_names=True)
    bank = open_mask_bank(images, masks)
    assert bank is not None and len(bank) == 2
    assert bank[bank.index_of("c0/b.JPEG")].mask.sum() == 64
    (masks / "c0" / "a.jpg.png").unlink()
    with pytest.raises(FileNotFoundError, match=r"a\.png or .*a\.jpg\.png \(1 of 2 missing\)"):
        open_mask_bank(images, masks)
