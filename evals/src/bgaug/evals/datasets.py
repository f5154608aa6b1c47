"""Labelled image lists in the benchmarks' on-disk layouts, and a dataset that never stops on a bad file.

Every suite reduces its layout to a list of ``(path, label)`` pairs; ``ImageListDataset`` decodes them
with ``bgaug.core.io.load_image`` and the classifier's ``Preprocess`` (shorter side resized, centre
crop, [0, 1] floats). An unreadable file yields a zero image with ``ok = False``, so one corrupt JPEG
is counted and listed in the results instead of ending a 50,000-image evaluation.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset
from torchvision.transforms.v2 import functional as TF

from bgaug.core.interfaces import Preprocess
from bgaug.core.io import IMAGE_EXTENSIONS, BadImageError, load_image


@dataclass(frozen=True)
class LabelledImage:
    path: Path
    label: int


Sample = tuple[Tensor, int, bool, int]
"""(image (3, crop, crop) float in [0, 1], label, ok, index in the list)."""


def _image_files(folder: Path) -> list[Path]:
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith(".")
    )


def class_folders(root: str | Path) -> list[str]:
    """Sorted names of the class sub-folders of ``root`` (hidden ones skipped)."""
    base = Path(root)
    if not base.is_dir():
        raise FileNotFoundError(f"not a folder: {base}")
    return sorted(p.name for p in base.iterdir() if p.is_dir() and not p.name.startswith("."))


def folder_items(root: str | Path, label_of: Callable[[str], int | None]) -> list[LabelledImage]:
    """Images under ``root/<class>/`` labelled by ``label_of(class_name)``; ``None`` skips the class."""
    base = Path(root)
    items: list[LabelledImage] = []
    for name in class_folders(base):
        label = label_of(name)
        if label is None:
            continue
        items.extend(LabelledImage(p, label) for p in _image_files(base / name))
    return items


def imagefolder_items(root: str | Path) -> tuple[list[LabelledImage], list[str]]:
    """torchvision ImageFolder semantics: class i is the i-th sorted sub-folder."""
    classes = class_folders(root)
    index = {c: i for i, c in enumerate(classes)}
    return folder_items(root, index.get), classes


def integer_folder_items(root: str | Path) -> list[LabelledImage]:
    """ImageNet-v2 layout: the folder name *is* the ImageNet-1k index (``0`` ... ``999``).

    ImageFolder would sort them as strings (0, 1, 10, 100, ...), which silently scrambles labels.
    """

    def label(name: str) -> int | None:
        if not name.isdigit():
            raise ValueError(f"{Path(root) / name}: ImageNet-v2 class folders must be integers 0..999")
        return int(name)

    return folder_items(root, label)


_VAL_NUMBER = re.compile(r"ILSVRC2012_val_(\d{8})\.", re.IGNORECASE)


def imagenet_val_number(path: str | Path) -> int | None:
    """1-based number of an ImageNet validation file (``ILSVRC2012_val_00000001.JPEG`` -> 1)."""
    match = _VAL_NUMBER.search(Path(path).name)
    return int(match.group(1)) if match else None


def resize_center_crop(image: Tensor, resize: int, crop: int) -> Tensor:
    """Shorter side to ``resize`` (bilinear, antialiased), then a centre ``crop`` x ``crop``."""
    image = TF.resize(image, [resize], antialias=True)
    out: Tensor = TF.center_crop(image, [crop, crop])
    return out


class ImageListDataset(Dataset[Sample]):
    """Decode and preprocess a list of labelled images for evaluation.

    ``prepare`` (optional) acts on the decoded uint8 (H, W, 3) array of an item before resizing (e.g.
    ObjectNet's border removal, Only-FG masking); ``transform`` (optional) replaces resize + centre
    crop on the uint8 (3, H, W) tensor (e.g. training augmentation); ``corrupt`` (optional) acts on
    the final uint8 (H, W, 3) crop (on-the-fly ImageNet-C).
    """

    def __init__(
        self,
        items: Sequence[LabelledImage],
        preprocess: Preprocess,
        *,
        prepare: Callable[[np.ndarray, LabelledImage], np.ndarray] | None = None,
        transform: Callable[[Tensor], Tensor] | None = None,
        corrupt: Callable[[np.ndarray, int], np.ndarray] | None = None,
    ):
        self.items = list(items)
        self.preprocess = preprocess
        self.prepare = prepare
        self.transform = transform
        self.corrupt = corrupt

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> Sample:
        item = self.items[index]
        crop = self.preprocess.crop
        try:
            array = load_image(item.path)
        except BadImageError:
            return torch.zeros(3, crop, crop), item.label, False, index
        if self.prepare is not None:
            array = self.prepare(array, item)
        tensor = torch.from_numpy(np.require(array, requirements=["C", "W"])).permute(2, 0, 1)
        if self.transform is not None:
            tensor = self.transform(tensor)
        else:
            tensor = resize_center_crop(tensor, self.preprocess.resize, crop)
        if self.corrupt is not None:
            corrupted = self.corrupt(tensor.permute(1, 2, 0).numpy(), index)
            tensor = torch.from_numpy(np.require(corrupted, requirements=["C", "W"])).permute(2, 0, 1)
        return tensor.float().div_(255.0), item.label, True, index


def labelled_by_wnid_or_folder(root: str | Path, num_logits: int) -> tuple[list[LabelledImage], str]:
    """Label a class-folder tree for a ``num_logits``-way classifier.

    Folders named by ImageNet wnids (``n01440764``) take their ImageNet-1k index (a 1000-way model);
    any other tree follows ImageFolder order (folder i -> logit i) and must have ``num_logits`` classes.
    """
    from bgaug.evals.tables import wnid_to_index

    classes = class_folders(root)
    if not classes:
        raise ValueError(f"{root}: no class folders")
    index = wnid_to_index()
    if num_logits == len(index) and all(c in index for c in classes):
        return folder_items(root, index.get), "imagenet_wnid"
    if len(classes) != num_logits:
        raise ValueError(
            f"{root}: {len(classes)} class folders for a {num_logits}-way classifier; folders must be"
            " ImageNet wnids (1000-way) or exactly one per logit"
        )
    items, _ = imagefolder_items(root)
    return items, "imagefolder"
