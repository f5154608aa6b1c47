"""Loading images with their masks and tiled backgrounds for training.

Load geometry: every image is resized so that its shorter side is ``size`` (bilinear, antialiased),
then centre-cropped to ``size`` x ``size``; its mask follows by nearest neighbour (pixel-centre
aligned, so it stays binary and in register) and its tiled background by the image's own resize.
The view pipeline's RandomResizedCrop then works on these fixed-size tensors, which is what lets
samples of different original sizes be batched and augmented together on a GPU.

Masks come from a ``MaskBank``: ``FolderMaskBank`` reads ground-truth masks from a folder mirroring
the image tree (``python -m bgaug.core synth`` writes one under ``masks/``); the saliency package's
bank reads predicted masks. A bank with a ``record(index, image)`` method (``FolderMaskBank``, the
saliency package's mask pack) is handed the decoded image, so it computes backgrounds without
decoding the image again. Without a bank the whole image counts as foreground with no background,
so background augmentations leave it unchanged and a foreground-constrained crop accepts any crop.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torchvision.transforms.v2.functional as TF
from torch import Tensor
from torch.utils.data import Dataset
from torchvision.transforms import InterpolationMode

from bgaug.core.errors import UsageError
from bgaug.core.interfaces import MaskBank, MaskedImages, MaskRecord
from bgaug.core.io import BadImageError, list_images, load_image, load_mask
from bgaug.core.tiling import tiled_background


def mask_path_for(relative_image_path: str) -> str:
    """A mask's path relative to the mask root: the image's, with a ``.png`` suffix."""
    return Path(relative_image_path).with_suffix(".png").as_posix()


def mask_paths_for(relative_image_path: str) -> tuple[str, str]:
    """Where a mask folder may hold an image's mask: ``a/b.png`` (the image's suffix replaced, as
    ``bgaug.core.synth`` writes) or ``a/b.jpg.png`` (suffix kept, as a saliency mask bank names its
    masks, so a bank's ``masks/`` folder reads as a plain mask folder too)."""
    return mask_path_for(relative_image_path), f"{relative_image_path}.png"


def folder_labels(paths: Sequence[str], root: Path) -> tuple[list[str], list[int]]:
    """ImageFolder labels of relative image ``paths``: the sorted top-level folders, and each path's
    folder index. An image directly under ``root`` is an error."""
    flat = [p for p in paths if "/" not in p]
    if flat:
        raise UsageError(f"labelled data needs class folders, but {root / flat[0]} is not in one")
    classes = sorted({p.split("/", 1)[0] for p in paths})
    lookup = {c: i for i, c in enumerate(classes)}
    return classes, [lookup[p.split("/", 1)[0]] for p in paths]


class FolderMaskBank:
    """Masks in a folder that mirrors the image tree; implements ``MaskBank``.

    Image ``image_root/a/b.jpg`` has its mask at ``mask_root/a/b.png`` or ``mask_root/a/b.jpg.png``
    (``mask_paths_for``; 255 or 1 = foreground, ``io.binary_mask``). Index order is
    ``list_images(image_root)`` order. Every mask must exist (checked at construction, so a wrong
    ``mask_root`` fails at once); each record's tiled background is computed on access.
    """

    def __init__(self, image_root: str | os.PathLike[str], mask_root: str | os.PathLike[str]):
        self.image_root = Path(image_root)
        self.mask_root = Path(mask_root)
        if not self.mask_root.is_dir():
            raise FileNotFoundError(f"mask folder not found: {self.mask_root}")
        self.paths: list[str] = list_images(self.image_root)
        self._mask_files: list[str] = []
        missing = []
        for rel in self.paths:
            found = [m for m in mask_paths_for(rel) if (self.mask_root / m).is_file()]
            self._mask_files.append(found[0] if found else "")
            if not found:
                missing.append(rel)
        if missing:
            first = " or ".join(str(self.mask_root / m) for m in mask_paths_for(missing[0]))
            raise FileNotFoundError(f"mask not found: {first} ({len(missing)} of {len(self.paths)} missing)")
        self._index = {p: i for i, p in enumerate(self.paths)}

    def __len__(self) -> int:
        return len(self.paths)

    def index_of(self, relative_path: str) -> int:
        try:
            return self._index[relative_path]
        except KeyError:
            raise KeyError(f"{relative_path!r} is not an image under {self.image_root}") from None

    def record(self, index: int, image: np.ndarray | None = None) -> MaskRecord:
        """Entry ``index``; pass the already-decoded ``image`` to avoid decoding it twice."""
        rel = self.paths[index]
        if image is None:
            image = load_image(self.image_root / rel)
        mask = load_mask(self.mask_root / self._mask_files[index], size=image.shape[:2])
        if not mask.any():
            return MaskRecord(mask=mask, background=None, status="no_foreground")
        background = tiled_background(image, mask)
        return MaskRecord(
            mask=mask, background=background, status="ok" if background is not None else "no_background"
        )

    def __getitem__(self, index: int) -> MaskRecord:
        if not -len(self) <= index < len(self):
            raise IndexError(f"mask index {index} out of range for {len(self)} images")
        return self.record(index % len(self))

    @property
    def manifest(self) -> Mapping[str, Any]:
        return {
            "kind": "folder",
            "image_root": str(self.image_root),
            "mask_root": str(self.mask_root),
            "paths": list(self.paths),
        }


@dataclass(frozen=True)
class MaskedSample:
    """One loaded sample at the fixed load size S: uint8 tensors, ready for ``collate_masked``.

    ``image`` (3, S, S); ``mask`` (1, S, S) with 1 = foreground; ``background`` (3, S, S), zeros when
    ``has_background`` is False; ``index`` the dataset index; ``label`` the class folder's index, or
    -1 when the dataset is unlabelled.
    """

    image: Tensor
    mask: Tensor
    background: Tensor
    has_background: bool
    index: int
    label: int


def _fit(t: Tensor, size: int, interpolation: InterpolationMode) -> Tensor:
    """Shorter side to ``size``, then a centre crop of ``size`` x ``size`` (the load geometry)."""
    if t.shape[-2:] != (size, size):
        antialias = interpolation != InterpolationMode.NEAREST_EXACT
        t = TF.resize(t, [size], interpolation=interpolation, antialias=antialias)
        t = TF.center_crop(t, [size, size])
    return t


def _hwc(array: np.ndarray) -> Tensor:
    # load_image may hand back a read-only view of the decoder's buffer: torch wants writable memory.
    return torch.from_numpy(np.require(array, requirements=["C", "W"])).permute(2, 0, 1).contiguous()


class MaskedImageDataset(Dataset[MaskedSample]):
    """Images under ``image_root`` (``list_images`` order) with masks and tiled backgrounds.

    ``labelled``: labels are the index of the image's top-level folder among the sorted class
    folders (ImageFolder semantics; an image directly under the root is an error). ``skip_bad``:
    decode every image once at construction and leave out unreadable ones, listed in ``skipped`` as
    (relative path, reason); without it an unreadable image raises ``BadImageError`` naming the path
    when it is loaded. A mask whose size differs from its image's raises ``BadImageError``.
    ``cache``: keep every sample once loaded (uint8 at the load size: ``7 * size**2`` bytes each,
    14 MB for 2,700 images at 27 px), so later epochs skip decoding, resizing and tiling; for data
    sets that fit in memory, read in this process (a DataLoader worker would keep its own copy).
    """

    def __init__(
        self,
        image_root: str | os.PathLike[str],
        bank: MaskBank | None,
        size: int,
        labelled: bool = False,
        *,
        skip_bad: bool = False,
        cache: bool = False,
    ):
        if isinstance(size, bool) or not isinstance(size, int) or size < 2:
            raise ValueError(f"size must be an integer >= 2, got {size!r}")
        self.image_root = Path(image_root)
        self.bank = bank
        self.size = size
        self.labelled = labelled
        paths = list_images(self.image_root)
        if not paths:
            raise FileNotFoundError(f"no images under {self.image_root}")
        self.skipped: list[tuple[str, str]] = []
        if skip_bad:
            kept = []
            for rel in paths:
                try:
                    load_image(self.image_root / rel)
                except BadImageError as exc:
                    self.skipped.append((rel, exc.reason))
                else:
                    kept.append(rel)
            paths = kept
            if not paths:
                raise FileNotFoundError(f"no readable images under {self.image_root}")
        self.paths: list[str] = paths
        self._cache: dict[int, MaskedSample] | None = {} if cache else None
        self.classes: list[str] = []
        self.labels: list[int] = [-1] * len(paths)
        if labelled:
            self.classes, self.labels = folder_labels(paths, self.image_root)

    def __len__(self) -> int:
        return len(self.paths)

    def keep_in_memory(self) -> None:
        """Turn the sample cache on (as ``cache=True``), keeping what is loaded from now on."""
        if self._cache is None:
            self._cache = {}

    def _record(self, rel: str, image: np.ndarray) -> MaskRecord:
        if self.bank is None:
            return MaskRecord(
                mask=np.ones(image.shape[:2], dtype=bool), background=None, status="no_background"
            )
        index = self.bank.index_of(rel)
        record = getattr(self.bank, "record", None)
        if callable(record):  # banks that compute backgrounds (FolderMaskBank, a mask pack) reuse the image
            result: MaskRecord = record(index, image)
            return result
        return self.bank[index]

    def __getitem__(self, index: int) -> MaskedSample:
        if self._cache is not None:
            cached = self._cache.get(index)
            if cached is None:
                cached = self._cache[index] = self._load(index)
            return cached
        return self._load(index)

    def _load(self, index: int) -> MaskedSample:
        rel = self.paths[index]
        image = load_image(self.image_root / rel)
        record = self._record(rel, image)
        if record.mask.shape != image.shape[:2]:
            raise BadImageError(
                self.image_root / rel,
                f"mask size {record.mask.shape[1]}x{record.mask.shape[0]} differs from image size "
                f"{image.shape[1]}x{image.shape[0]}",
            )
        s = self.size
        image_t = _fit(_hwc(image), s, InterpolationMode.BILINEAR)
        mask_t = _fit(
            torch.from_numpy(record.mask.astype(np.uint8))[None], s, InterpolationMode.NEAREST_EXACT
        )
        if record.background is not None:
            background_t = _fit(_hwc(record.background), s, InterpolationMode.BILINEAR)
        else:
            background_t = torch.zeros(3, s, s, dtype=torch.uint8)
        return MaskedSample(
            image=image_t,
            mask=mask_t,
            background=background_t,
            has_background=record.background is not None,
            index=index,
            label=self.labels[index],
        )


def collate_masked(samples: Sequence[MaskedSample]) -> MaskedImages:
    """Stack samples into a ``MaskedImages`` batch of floats in [0, 1] (labels ``None`` if unlabelled)."""
    if not samples:
        raise ValueError("cannot collate an empty batch")
    labels = torch.tensor([s.label for s in samples], dtype=torch.long)
    return MaskedImages(
        images=torch.stack([s.image for s in samples]).float().div_(255.0),
        masks=torch.stack([s.mask for s in samples]).float(),
        backgrounds=torch.stack([s.background for s in samples]).float().div_(255.0),
        index=torch.tensor([s.index for s in samples], dtype=torch.long),
        labels=None if bool((labels < 0).all()) else labels,
        has_background=torch.tensor([s.has_background for s in samples], dtype=torch.bool),
    )
