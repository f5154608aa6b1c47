"""Reading masks for an image folder, whatever wrote them: one entry point, ``open_mask_bank``.

Three on-disk forms, recognised in this order (names in ``bgaug.core.vocabulary``):

- a **mask pack** (``pack.json``): the GPU data path's memory-mapped store, written by
  ``python -m bgaug.saliency pack``. Its reader is found through the ``bgaug.mask_bank_readers``
  entry point named ``pack`` (bgaug-saliency registers it), so no package imports saliency to read
  one;
- a **mask bank** (``manifest.json``): what ``python -m bgaug.saliency handcrafted|predict`` write,
  ``BANK/masks/<image path>.png`` plus tiled backgrounds; ``DirectoryMaskBank`` reads it. Its
  ``masks/`` folder is accepted too, as the bank it belongs to;
- a plain **mask folder** mirroring the image tree (``FolderMaskBank``): ``<image path minus its
  extension>.png`` as ``bgaug.core.synth`` writes, or ``<image path>.png`` as a bank names them.

Every form answers core's ``MaskBank`` protocol by dataset index (``list_images`` order).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import numpy as np

from bgaug.core.data import FolderMaskBank
from bgaug.core.errors import UsageError
from bgaug.core.interfaces import MaskBank, MaskRecord
from bgaug.core.io import BadImageError, list_images, load_image, load_mask, sha256_file
from bgaug.core.preflight import read_json_object
from bgaug.core.vocabulary import BANK_FORMAT, BANK_JOURNAL, BANK_MANIFEST, BANK_SUBDIRS, PACK_CONFIG

READERS_GROUP = "bgaug.mask_bank_readers"
"""Entry-point group of mask readers other packages provide (``pack``: bgaug-saliency's pack reader,
called as ``reader(path, image_root=image_root)``)."""


def is_mask_bank(path: Path) -> bool:
    """Whether ``path`` is a finished mask bank directory."""
    return (path / BANK_MANIFEST).is_file()


def is_mask_pack(path: Path) -> bool:
    return (path / PACK_CONFIG).is_file()


class DirectoryMaskBank:
    """A finished mask bank directory, read by dataset index (implements ``MaskBank``)."""

    def __init__(self, path: str | os.PathLike[str]):
        self.root = Path(path)
        manifest_path = self.root / BANK_MANIFEST
        if not manifest_path.is_file():
            if (self.root / BANK_JOURNAL).is_file():
                raise UsageError(f"{self.root}: mask bank is unfinished (journal present); rerun the build")
            raise FileNotFoundError(f"{self.root}: no mask bank here ({BANK_MANIFEST} missing)")
        data = read_json_object(manifest_path, "mask bank manifest")
        if data.get("format") != BANK_FORMAT:
            raise UsageError(
                f"{self.root}: not a mask bank (format {data.get('format')!r}, expected {BANK_FORMAT!r})"
            )
        self._manifest: dict[str, Any] = data
        self._entries: list[dict[str, Any]] = data["entries"]
        self._index = {e["path"]: i for i, e in enumerate(self._entries)}

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def manifest(self) -> Mapping[str, Any]:
        return self._manifest

    def index_of(self, relative_path: str) -> int:
        try:
            return self._index[relative_path]
        except KeyError:
            raise KeyError(f"{relative_path!r} is not in the mask bank at {self.root}") from None

    def entry(self, index: int) -> Mapping[str, Any]:
        if not 0 <= index < len(self._entries):
            raise IndexError(f"mask bank index {index} out of range [0, {len(self._entries)})")
        return self._entries[index]

    def __getitem__(self, index: int) -> MaskRecord:
        entry = self.entry(index)
        if entry["status"] == "bad_image":
            raise BadImageError(entry["path"], f"no mask: the image was unreadable ({entry['reason']})")
        size = (int(entry["height"]), int(entry["width"]))
        mask = load_mask(self.root / entry["mask"], size=size)
        background = None if entry["background"] is None else load_image(self.root / entry["background"])
        return MaskRecord(mask=mask, background=background, status=entry["status"])

    def stale_images(self, image_root: str | os.PathLike[str], *, hashes: bool = False) -> list[str]:
        """How the images under ``image_root`` differ from the ones this bank was built from: images
        added or removed, and images whose file changed (size or modification time, as recorded by
        banks built since 2026-12; with ``hashes``, every image's sha256 against the recorded one).
        One line each; empty when the bank fits the folder."""
        root = Path(image_root)
        on_disk = set(list_images(root))
        in_bank = set(self._index)
        problems = [
            f"{rel}: not in the mask bank (added after it was built)" for rel in sorted(on_disk - in_bank)
        ]
        problems += [f"{rel}: in the mask bank but not in the folder" for rel in sorted(in_bank - on_disk)]
        for entry in self._entries:
            rel = entry["path"]
            if rel not in on_disk or entry.get("status") == "bad_image":
                continue
            stat = (root / rel).stat()
            recorded = (entry.get("image_bytes"), entry.get("image_mtime_ns"))
            if recorded[0] is not None and recorded != (stat.st_size, stat.st_mtime_ns):
                problems.append(f"{rel}: changed since the mask bank was built (size or time differ)")
            elif hashes and sha256_file(root / rel) != entry.get("image_sha256"):
                problems.append(f"{rel}: content differs from the image the mask bank was built from")
        return problems

    def soft_map(self, index: int) -> np.ndarray | None:
        """The saved 8-bit saliency map as float (H, W) in [0, 1], or ``None`` if not saved."""
        entry = self.entry(index)
        if entry.get("soft") is None:
            return None
        grey = load_image(self.root / entry["soft"])[..., 0]
        out: np.ndarray = grey.astype(np.float64) / 255.0
        return out


def _pack_reader() -> Any:
    found = [e for e in entry_points(group=READERS_GROUP) if e.name == "pack"]
    if not found:
        raise UsageError(
            f"a mask pack ({PACK_CONFIG}) needs its reader from bgaug-saliency: pip install ./saliency"
        )
    return found[0].load()


def pack_stale_images(image_root: str | os.PathLike[str], bank: Any) -> list[str]:
    """Images added to or removed from ``image_root`` since a mask pack (anything with ``path(i)``)
    was written; one line each. (A plain mask folder is matched to the images when it is opened.)"""
    on_disk = set(list_images(image_root))
    in_pack = {bank.path(i) for i in range(len(bank))}
    problems = [
        f"{rel}: not in the mask pack (added after it was written)" for rel in sorted(on_disk - in_pack)
    ]
    return problems + [f"{rel}: in the mask pack but not in the folder" for rel in sorted(in_pack - on_disk)]


def check_bank_fits_images(
    image_root: str | os.PathLike[str], bank: MaskBank | None, *, hashes: bool = False, shown: int = 5
) -> None:
    """Refuse to train with masks made for other images (``DirectoryMaskBank.stale_images``,
    ``pack_stale_images``): stale masks would train silently on the wrong foregrounds, or stop a run
    half-way on an image they lack."""
    if isinstance(bank, DirectoryMaskBank):
        problems = bank.stale_images(image_root, hashes=hashes)
    elif bank is not None and callable(getattr(bank, "path", None)):
        problems = pack_stale_images(image_root, bank)
    else:
        return
    if problems:
        where = getattr(bank, "root", "")
        more = f" (and {len(problems) - shown} more)" if len(problems) > shown else ""
        raise UsageError(
            f"the masks at {where} do not fit the images in {image_root}: "
            + "; ".join(problems[:shown])
            + more
            + ". Rebuild them (a bank's build resumes: only changed images are redone; then repack)"
        )


def open_mask_bank(
    image_root: str | os.PathLike[str], masks: str | os.PathLike[str] | None
) -> MaskBank | None:
    """The masks of the images under ``image_root`` at ``masks`` (a pack, a bank, a bank's ``masks/``
    folder or a plain mask folder; the module docstring), or ``None`` when ``masks`` is ``None``."""
    if masks is None:
        return None
    path = Path(masks)
    if not path.is_dir():
        raise FileNotFoundError(f"mask folder not found: {path}")
    if is_mask_pack(path):
        reader = _pack_reader()
        pack: MaskBank = reader(path, image_root=image_root)
        return pack
    if path.name == BANK_SUBDIRS["mask"] and is_mask_bank(path.parent):
        path = path.parent  # the user pointed at the bank's masks/: read the bank, backgrounds and all
    if is_mask_bank(path):
        return DirectoryMaskBank(path)
    return FolderMaskBank(image_root, path)
