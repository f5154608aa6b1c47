"""The mask bank: a directory of binary masks, tiled backgrounds and (optionally) soft maps.

Layout (``BANK_FORMAT``), for every image ``REL`` under the image root (``core.io.list_images`` order)::

    BANK/bank.json                 detector, threshold, options: fixed when the bank is created
    BANK/masks/REL.png             binary mask, 255 = foreground, at the image's own size
    BANK/backgrounds/REL.png       tiled background (DESIGN.md recipe), absent when undefined
    BANK/soft/REL.png              8-bit saliency map (with --soft-maps)
    BANK/manifest.json             written last: one entry per image, in dataset-index order, with
                                   status, size, content hashes of the image and of every file
    BANK/journal.jsonl             while building: one line per finished image (removed at the end)

The threshold is a number (``saliency >= t`` is foreground) or an adaptive rule, per image:
``twice-mean`` (2 x the map's mean, Achanta et al. 2009) or ``otsu`` (Otsu's threshold of the map);
a rule is recorded as ``threshold: null, threshold_rule: RULE`` in ``bank.json`` and the manifest, and
each entry records the ``threshold`` its map got. A fixed threshold writes the keys it always did.

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

from bgaug.core.errors import UsageError
from bgaug.core.io import (
    BadImageError,
    atomic_write_json,
    list_images,
    load_image,
    save_png,
    sha256_bytes,
    sha256_file,
)
from bgaug.core.preflight import check_input_folder, check_outside, check_writable, read_json_object
from bgaug.core.tiling import tiled_background
from bgaug.core.vocabulary import BANK_CONFIG, BANK_FORMAT, BANK_JOURNAL, BANK_MANIFEST, bank_file
from bgaug.saliency.metrics import to_uint8

STATUSES = ("ok", "no_foreground", "no_background", "bad_image")
FILE_KINDS = ("mask", "background", "soft")
MIN_SIDE = 8
"""Images with a shorter side below this are reported as bad: superpixels and masks need some room."""
THRESHOLD_RULES = ("twice-mean", "otsu")
"""Adaptive per-image thresholds (``threshold_of``)."""
MIN_ADAPTIVE_THRESHOLD = 1 / 255
"""An adaptive threshold never drops below one 8-bit level: an all-zero map has no foreground."""

Threshold = float | str
"""A fixed threshold in (0, 1] or the name of one of ``THRESHOLD_RULES``."""


def check_bank_out(out: str | os.PathLike[str], config_name: str) -> None:
    """``--out`` of a mask bank: a new or empty folder, or a bank (holding ``config_name``) to
    resume; never a file or a folder of something else."""
    target = Path(out)
    if target.exists() and not target.is_dir():
        raise UsageError(f"--out {out} is a file, not a mask bank folder")
    if target.is_dir() and not (target / config_name).is_file() and any(target.iterdir()):
        raise UsageError(f"--out {out} is a folder that holds something other than a mask bank")
    check_writable(target, "--out")


def check_threshold(threshold: Threshold) -> Threshold:
    """``threshold`` if it is a number in (0, 1] or a rule name, else ``ValueError``."""
    if isinstance(threshold, str):
        if threshold not in THRESHOLD_RULES:
            raise UsageError(
                f"threshold must be a number in (0, 1] or one of {', '.join(THRESHOLD_RULES)}, "
                f"got {threshold!r}"
            )
        return threshold
    if isinstance(threshold, bool) or not 0.0 < threshold <= 1.0:
        raise UsageError(f"threshold must lie in (0, 1], got {threshold!r}")
    return float(threshold)


def _otsu(saliency: np.ndarray) -> float:
    from skimage.filters import threshold_otsu

    if float(np.ptp(saliency)) < 1e-6:  # a flat map has no split; Otsu would return its value
        return _twice_mean(saliency)
    return float(threshold_otsu(saliency, nbins=256))


def _twice_mean(saliency: np.ndarray) -> float:
    return min(2.0 * float(saliency.mean()), 1.0)


_RULES = {"twice-mean": _twice_mean, "otsu": _otsu}


def threshold_of(saliency: np.ndarray, threshold: Threshold) -> float:
    """The value ``saliency`` is binarised at (``saliency >= value`` is foreground)."""
    if isinstance(threshold, str):
        return max(_RULES[threshold](saliency), MIN_ADAPTIVE_THRESHOLD)
    return threshold


@dataclass(frozen=True)
class BankSpec:
    """What a bank is built with; a resumed build must match it exactly."""

    detector: Mapping[str, Any]
    threshold: Threshold
    soft_maps: bool

    def __post_init__(self) -> None:
        check_threshold(self.threshold)
        if "sha256" not in self.detector or "name" not in self.detector:
            raise ValueError("detector must name itself and give a sha256")

    @property
    def adaptive(self) -> bool:
        return isinstance(self.threshold, str)

    def to_json(self) -> dict[str, Any]:
        # A fixed threshold writes exactly the keys it always did, so older banks still resume.
        threshold = {"threshold": None, "threshold_rule": self.threshold} if self.adaptive else {}
        return {
            "format": BANK_FORMAT,
            "detector": dict(self.detector),
            "threshold": self.threshold,
            **threshold,
            "soft_maps": self.soft_maps,
        }


def write_entry(
    bank: Path, relpath: str, image: np.ndarray, saliency: np.ndarray, spec: BankSpec, image_sha256: str
) -> dict[str, Any]:
    """Threshold one saliency map, write its files atomically and return its manifest entry."""
    if saliency.shape != image.shape[:2]:
        raise ValueError(f"{relpath}: saliency map {saliency.shape} does not match image {image.shape[:2]}")
    threshold = threshold_of(saliency, spec.threshold)
    mask = np.asarray(saliency >= threshold)
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
    if spec.adaptive:
        entry["threshold"] = threshold
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
    config = bank / BANK_CONFIG
    if config.is_file():
        existing = read_json_object(config, "mask bank configuration")
        if existing != spec.to_json():
            raise UsageError(
                f"{bank} holds a bank built with a different detector or options "
                f"({existing.get('detector', {}).get('name')}, "
                f"threshold {existing.get('threshold_rule', existing.get('threshold'))}); "
                "use a new --out directory"
            )
    else:
        atomic_write_json(config, spec.to_json())


def check_bank_paths(image_root: str | os.PathLike[str], out: str | os.PathLike[str]) -> None:
    """Before any work: the image folder exists, and ``out`` is a new, empty or bank folder outside
    it (a bank inside its image folder is read as images by the next run), in a writable place."""
    check_input_folder(image_root, "--images")
    check_outside(out, {"--images": image_root})
    check_bank_out(out, BANK_CONFIG)


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
    check_bank_paths(image_root, out)
    root = Path(image_root)
    bank = Path(out)
    images = list_images(root)
    if not images:
        raise UsageError(f"no images found under {root}")
    bank.mkdir(parents=True, exist_ok=True)
    _check_spec(bank, spec)
    known: dict[str, dict[str, Any]] = {}
    manifest_path = bank / BANK_MANIFEST
    if manifest_path.is_file():
        for entry in read_json_object(manifest_path, "mask bank manifest").get("entries", []):
            known[entry["path"]] = entry
    journal_path = bank / BANK_JOURNAL
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
            entry = write_entry(bank, rel, image, saliency, spec, digest)
            stat = (image_root / rel).stat()  # what a trainer checks cheaply before it trains
            entries.append({**entry, "image_bytes": stat.st_size, "image_mtime_ns": stat.st_mtime_ns})
    return entries
