"""The mask bank: a directory of binary masks, tiled backgrounds and (optionally) soft maps.

Layout (``FORMAT``), for every image ``REL`` under the image root (``core.io.list_images`` order)::

    BANK/bank.json                 detector, threshold, options: fixed when the bank is created
    BANK/masks/REL.png             binary mask, 255 = foreground, at the image's own size
    BANK/backgrounds/REL.png       tiled background (DESIGN.md recipe), absent when undefined
    BANK/soft/REL.png              8-bit saliency map (with --soft-maps)
    BANK/manifest.json             written last: one entry per image, in dataset-index order, with
                                   status, size, content hashes of the image and of every file
    BANK/journal.jsonl             while building: one line per finished image (removed at the end)

Status is ``ok``, ``no_foreground`` (nothing above the threshold: no mask box, no background),
``no_background`` (the mask's box covers the whole image) or ``bad_image`` (unreadable; ``reason``).
Every file is written atomically and is a pure function of its image and the detector, so a killed
build restarted with the same arguments verifies what the journal lists (file hashes), redoes only
the rest, and ends with byte-identical files. ``DirectoryMaskBank`` reads a finished bank by dataset
index (core's ``MaskBank``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from bgaug.core.interfaces import MaskRecord
from bgaug.core.io import (
    BadImageError,
    atomic_write_json,
    list_images,
    load_image,
    load_mask,
    save_png,
    sha256_bytes,
    sha256_file,
)
from bgaug.core.tiling import tiled_background
from bgaug.saliency.metrics import to_uint8

FORMAT = "bgaug-maskbank/1"
CONFIG = "bank.json"
MANIFEST = "manifest.json"
JOURNAL = "journal.jsonl"
STATUSES = ("ok", "no_foreground", "no_background", "bad_image")
FILE_KINDS = ("mask", "background", "soft")
SUBDIRS = {"mask": "masks", "background": "backgrounds", "soft": "soft"}
MIN_SIDE = 8
"""Images with a shorter side below this are reported as bad: superpixels and masks need some room."""


@dataclass(frozen=True)
class BankSpec:
    """What a bank is built with; a resumed build must match it exactly."""

    detector: Mapping[str, Any]
    threshold: float
    soft_maps: bool

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold <= 1.0:
            raise ValueError(f"threshold must lie in (0, 1], got {self.threshold!r}")
        if "sha256" not in self.detector or "name" not in self.detector:
            raise ValueError("detector must name itself and give a sha256")

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "detector": dict(self.detector),
            "threshold": self.threshold,
            "soft_maps": self.soft_maps,
        }


def bank_file(kind: str, relpath: str) -> str:
    """Path of a bank file relative to the bank root (the image's relative path plus ``.png``)."""
    return f"{SUBDIRS[kind]}/{relpath}.png"


def write_entry(
    bank: Path, relpath: str, image: np.ndarray, saliency: np.ndarray, spec: BankSpec, image_sha256: str
) -> dict[str, Any]:
    """Threshold one saliency map, write its files atomically and return its manifest entry."""
    if saliency.shape != image.shape[:2]:
        raise ValueError(f"{relpath}: saliency map {saliency.shape} does not match image {image.shape[:2]}")
    mask = np.asarray(saliency >= spec.threshold)
    background = tiled_background(image, mask) if mask.any() else None
    status = "ok" if background is not None else ("no_foreground" if not mask.any() else "no_background")
    h, w = mask.shape
    entry: dict[str, Any] = {
        "path": relpath,
        "status": status,
        "height": h,
        "width": w,
        "image_sha256": image_sha256,
    }
    arrays: dict[str, np.ndarray | None] = {
        "mask": mask,
        "background": background,
        "soft": to_uint8(saliency) if spec.soft_maps else None,
    }
    for kind, array in arrays.items():
        if array is None:
            entry[kind] = None
            continue
        name = bank_file(kind, relpath)
        entry[kind] = name
        entry[f"{kind}_sha256"] = sha256_bytes(save_png(bank / name, array))
    return entry


def bad_entry(relpath: str, reason: str) -> dict[str, Any]:
    return {"path": relpath, "status": "bad_image", "reason": reason}


def entry_is_verified(bank: Path, image_root: Path, entry: Mapping[str, Any]) -> bool:
    """True when the entry's image is unchanged and each of its files exists with the recorded hash."""
    if entry.get("status") not in STATUSES or entry["status"] == "bad_image":
        return False
    image_path = image_root / entry["path"]
    if not image_path.is_file() or sha256_file(image_path) != entry.get("image_sha256"):
        return False
    for kind in FILE_KINDS:
        name = entry.get(kind)
        if name is None:
            continue
        path = bank / name
        if not path.is_file() or sha256_file(path) != entry.get(f"{kind}_sha256"):
            return False
    return True


def read_journal(path: Path) -> list[dict[str, Any]]:
    """Entries of a journal; a torn last line (the process died mid-write) is ignored."""
    if not path.is_file():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            item = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(item, dict) and "path" in item:
            out.append(item)
    return out


def _check_spec(bank: Path, spec: BankSpec) -> None:
    config = bank / CONFIG
    if config.is_file():
        existing = json.loads(config.read_text(encoding="utf-8"))
        if existing != spec.to_json():
            raise ValueError(
                f"{bank} holds a bank built with a different detector or options "
                f"({existing.get('detector', {}).get('name')}, threshold {existing.get('threshold')}); "
                "use a new --out directory"
            )
    else:
        atomic_write_json(config, spec.to_json())


def build_bank(
    image_root: str | os.PathLike[str],
    out: str | os.PathLike[str],
    spec: BankSpec,
    run_chunks: Callable[[list[list[str]]], Iterator[list[dict[str, Any]]]],
    *,
    chunk_size: int,
    desc: str = "mask bank",
    progress: bool = True,
) -> dict[str, Any]:
    """Build (or resume) a bank; return its manifest.

    ``run_chunks`` receives the chunks of images still to do and yields each chunk's entries as it
    finishes (in any order); it decides where the work runs (process pool, GPU batches).
    """
    root = Path(image_root)
    bank = Path(out)
    images = list_images(root)
    if not images:
        raise ValueError(f"no images found under {root}")
    bank.mkdir(parents=True, exist_ok=True)
    _check_spec(bank, spec)
    known: dict[str, dict[str, Any]] = {}
    manifest_path = bank / MANIFEST
    if manifest_path.is_file():
        for entry in json.loads(manifest_path.read_text(encoding="utf-8")).get("entries", []):
            known[entry["path"]] = entry
    journal_path = bank / JOURNAL
    for entry in read_journal(journal_path):
        known[entry["path"]] = entry
    done = {p: known[p] for p in images if p in known and entry_is_verified(bank, root, known[p])}
    todo = [p for p in images if p not in done]
    chunks = [todo[i : i + chunk_size] for i in range(0, len(todo), chunk_size)]
    with (
        open(journal_path, "a", encoding="utf-8") as journal,
        tqdm(total=len(images), initial=len(done), desc=desc, unit="img", disable=not progress) as bar,
    ):
        for entries in run_chunks(chunks):
            for entry in entries:
                done[entry["path"]] = entry
                journal.write(json.dumps(entry, sort_keys=True) + "\n")
                if entry["status"] == "bad_image":
                    tqdm.write(f"skipped {entry['path']}: {entry['reason']}")
            journal.flush()
            os.fsync(journal.fileno())
            bar.update(len(entries))
    entries = [done[p] for p in images]
    summary = {status: sum(e["status"] == status for e in entries) for status in STATUSES}
    manifest = {**spec.to_json(), "n_images": len(entries), "summary": summary, "entries": entries}
    atomic_write_json(manifest_path, manifest)
    journal_path.unlink(missing_ok=True)
    return manifest


def process_images(
    image_root: Path,
    bank: Path,
    spec: BankSpec,
    relpaths: Iterable[str],
    saliency_of: Callable[[list[np.ndarray]], list[np.ndarray]],
) -> list[dict[str, Any]]:
    """Load ``relpaths``, compute their maps with ``saliency_of`` (a batch at a time), write entries.

    Unreadable images become ``bad_image`` entries; the rest of the chunk goes on.
    """
    entries: list[dict[str, Any]] = []
    loaded: list[tuple[str, np.ndarray, str]] = []
    for rel in relpaths:
        path = image_root / rel
        try:
            image = load_image(path, min_side=MIN_SIDE)
        except BadImageError as exc:
            entries.append(bad_entry(rel, exc.reason))
            continue
        loaded.append((rel, image, sha256_file(path)))
    if not loaded:
        return entries
    try:
        maps: list[np.ndarray | None] = list(saliency_of([image for _, image, _ in loaded]))
        reasons = [""] * len(loaded)
    except Exception:  # one odd image must not sink its chunk: retry one by one to find it
        maps, reasons = [], []
        for _, image, _ in loaded:
            try:
                maps.append(saliency_of([image])[0])
                reasons.append("")
            except Exception as exc:
                maps.append(None)
                reasons.append(f"saliency failed ({type(exc).__name__}: {exc})")
    for (rel, image, digest), saliency, reason in zip(loaded, maps, reasons, strict=True):
        if saliency is None:
            entries.append(bad_entry(rel, reason))
        else:
            entries.append(write_entry(bank, rel, image, saliency, spec, digest))
    return entries


class DirectoryMaskBank:
    """A finished bank directory, read by dataset index (implements core's ``MaskBank``)."""

    def __init__(self, path: str | os.PathLike[str]):
        self.root = Path(path)
        manifest_path = self.root / MANIFEST
        if not manifest_path.is_file():
            if (self.root / JOURNAL).is_file():
                raise ValueError(f"{self.root}: mask bank is unfinished (journal present); rerun the build")
            raise FileNotFoundError(f"{self.root}: no mask bank here ({MANIFEST} missing)")
        data = json.loads(manifest_path.read_text(encoding="utf-8"))
        if data.get("format") != FORMAT:
            raise ValueError(
                f"{self.root}: not a mask bank (format {data.get('format')!r}, expected {FORMAT!r})"
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

    def soft_map(self, index: int) -> np.ndarray | None:
        """The saved 8-bit saliency map as float (H, W) in [0, 1], or ``None`` if not saved."""
        entry = self.entry(index)
        if entry.get("soft") is None:
            return None
        grey = load_image(self.root / entry["soft"])[..., 0]
        out: np.ndarray = grey.astype(np.float64) / 255.0
        return out
