"""Pack binary masks into one memory-mapped file for fast random reads by dataset index.

  python -m bgaug.saliency pack --bank BANK --out PACK [--force] [--codec zstd|zlib] [--level N]
  python -m bgaug.saliency pack --images DIR --masks DIR --out PACK [--force] [--codec ...] [--level N]

The first packs a finished mask bank (its manifest's order and statuses; mask files are checked
against the manifest's hashes); the second packs a folder of masks mirroring the image tree
(IMAGES/a/b.jpg -> MASKS/a/b.png, 255 = foreground; only the masks are read, at their own size).

Format "bgaug-maskpack/1", a directory written atomically (built beside PACK, then renamed):
  PACK/masks.bin    every stored mask, concatenated: the (H, W) bool mask in row-major order,
                    numpy.packbits (big bit order), then one zstd frame (level 15 unless told) or,
                    with --codec zlib (and in packs written before zstd), one zlib stream
  PACK/index.npy    int64 (N, 7), one row per image in dataset-index order (the bank manifest's /
                    core.io.list_images order): offset, length (bytes in masks.bin), height, width,
                    status code, path offset, path length (bytes in paths.txt)
  PACK/paths.txt    the images' relative paths, UTF-8, one per line
  PACK/pack.json    format, count, encoding, index columns, status names, source, summary, unreadable
                    entries with their reasons, creator version; written last
Status codes index the status names: ok, no_foreground, no_background, bad_image (as in the mask
bank). no_foreground and bad_image entries store no bytes (an empty mask is all False; a bad image
has no mask). No pickle anywhere: index.npy loads with allow_pickle=False.

Backgrounds are not stored: a tiled background is a pure function of the image and its mask, so
``PackedMaskBank.record(index, image)`` computes it from the image the data loader decoded anyway.
"""

from __future__ import annotations

import argparse
import array
import bisect
import contextlib
import dataclasses
import functools
import json
import mmap
import os
import shutil
import tempfile
import threading
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, NamedTuple

import numpy as np
from tqdm import tqdm

from bgaug.core.errors import UsageError
from bgaug.core.interfaces import MaskRecord
from bgaug.core.io import (
    BadImageError,
    atomic_write_json,
    binary_mask,
    load_image,
    load_mask,
    sha256_file,
)
from bgaug.core.maskbank import DirectoryMaskBank
from bgaug.core.preflight import check_json_out, check_outside
from bgaug.core.tiling import foreground_bbox, tiled_background
from bgaug.core.vocabulary import BANK_MANIFEST, PACK_CONFIG
from bgaug.saliency.bank import STATUSES

FORMAT = "bgaug-maskpack/1"
INDEX = "index.npy"
MASKS = "masks.bin"
PATHS = "paths.txt"
COLUMNS = ("offset", "length", "height", "width", "status", "path_offset", "path_length")
OFFSET, LENGTH, HEIGHT, WIDTH, STATUS, PATH_OFFSET, PATH_LENGTH = range(len(COLUMNS))
STATUS_CODE = {name: code for code, name in enumerate(STATUSES)}
CODEC_LEVELS: dict[str, range] = {"zstd": range(1, 23), "zlib": range(1, 10)}
DEFAULT_CODEC = "zstd"
DEFAULT_LEVEL = {"zstd": 15, "zlib": 3}
"""Chosen by measuring (2-core dev VM, 2026-11-26, one thread; hand-crafted masks of 7 photographs,
shorter side 375, as in saliency/README.md). Per DSR mask (ragged superpixel outlines) / MC mask
(smooth):
zlib 3: 1,917 / 852 B, 36k / 45k decodes/s; zlib 9: 1,599 / 638 B, 24k / 24k/s;
zstd 15: 1,405 / 531 B, ~60k/s, 1.0 ms to encode; zstd 19: 1,364 / 514 B, 4 ms to encode.
zstd decodes faster than zlib at every size, and at level 15 puts 1.28M ragged masks at ~1.8 GB.
Past 15 the encode time grows fourfold for 3 % less. zlib stays readable and writable
(``--codec zlib``): packs written before zstd are zlib packs."""
_ZSTD = threading.local()  # a decompressor per thread: reusing one halves the cost of a read


def _zstd_decompressor() -> Any:
    decompressor = getattr(_ZSTD, "decompressor", None)
    if decompressor is None:
        import zstandard

        decompressor = _ZSTD.decompressor = zstandard.ZstdDecompressor()
    return decompressor


def check_codec(codec: str, level: int | None = None) -> int:
    """The level to use for ``codec`` (its default when ``None``); ``ValueError`` when either is off."""
    if codec not in CODEC_LEVELS:
        raise UsageError(f"codec must be one of {', '.join(CODEC_LEVELS)}, got {codec!r}")
    if level is None:
        return DEFAULT_LEVEL[codec]
    levels = CODEC_LEVELS[codec]
    if isinstance(level, bool) or level not in levels:
        raise UsageError(
            f"{codec} level must be an integer in {levels.start}..{levels.stop - 1}, got {level!r}"
        )
    return level


class PackItem(NamedTuple):
    """One entry for ``write_pack``: a ``(path, mask, status)`` tuple, plus a reason for bad images."""

    path: str
    mask: np.ndarray | None
    status: str
    reason: str = ""


def mask_encoder(codec: str = DEFAULT_CODEC, level: int | None = None) -> Callable[[np.ndarray], bytes]:
    """``encode_mask`` for many masks: one compressor, made once."""
    level = check_codec(codec, level)
    compress: Callable[[bytes], bytes]
    if codec == "zlib":
        compress = functools.partial(zlib.compress, level=level)
    else:
        import zstandard

        # A 4-byte checksum per frame: a flipped byte in masks.bin fails to decode, never a wrong mask.
        compress = zstandard.ZstdCompressor(level=level, write_checksum=True).compress
    return lambda mask: bytes(compress(np.packbits(mask, axis=None).tobytes()))


def encode_mask(mask: np.ndarray, codec: str = DEFAULT_CODEC, level: int | None = None) -> bytes:
    """The stored bytes of an (H, W) bool mask: row-major packbits, then ``codec`` at ``level``.

    Any level decodes with ``decode_mask``; the level only trades pack size against encode time
    (and, for zlib, read speed)."""
    return mask_encoder(codec, level)(mask)


def decode_mask(data: bytes | memoryview, height: int, width: int, codec: str = DEFAULT_CODEC) -> np.ndarray:
    """The (H, W) bool mask of ``encode_mask`` bytes; empty ``data`` is an all-False mask."""
    n = height * width
    if len(data) == 0:
        return np.zeros((height, width), dtype=bool)
    size = (n + 7) // 8
    if codec == "zlib":
        packed = zlib.decompress(data, bufsize=size)
    elif codec == "zstd":
        packed = _zstd_decompressor().decompress(data, max_output_size=size)
    else:
        check_codec(codec)
    if len(packed) != size:
        raise ValueError(f"mask data holds {len(packed)} bytes, expected {size} for {height}x{width}")
    bits = np.unpackbits(np.frombuffer(packed, dtype=np.uint8), count=n)
    return bits.view(np.bool_).reshape(height, width)


def _creator() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"bgaug-saliency {version('bgaug-saliency')}"
    except PackageNotFoundError:
        return "bgaug-saliency (unknown version)"


def _is_pack(path: Path) -> bool:
    try:
        config = json.loads((path / PACK_CONFIG).read_text(encoding="utf-8"))
    except (OSError, ValueError):  # not a pack, whatever else it is
        return False
    return isinstance(config, dict) and config.get("format") == FORMAT


def _check_target(out: Path, force: bool) -> None:
    if not out.exists() and not out.is_symlink():
        return
    if not out.is_dir() or out.is_symlink() or not _is_pack(out):
        raise FileExistsError(f"{out} exists and is not a mask pack; refusing to overwrite it")
    if not force:
        raise FileExistsError(f"{out} already holds a mask pack; pass --force to replace it")


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):  # not every filesystem lets a directory be opened and synced
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@dataclasses.dataclass
class _Index:
    """What ``write_pack`` learns while streaming the entries: the index rows and the file offsets."""

    rows: array.array[int] = dataclasses.field(default_factory=lambda: array.array("q"))  # flat, 8 B a number
    bad: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    seen: set[str] = dataclasses.field(default_factory=set)
    previous: str | None = None
    paths_sorted: bool = True
    count: int = 0
    offset: int = 0
    path_offset: int = 0

    def check_path(self, rel: str) -> bytes:
        """The UTF-8 bytes of a new, well-formed path; notes whether the paths stay sorted."""
        if not rel or "\n" in rel or "\r" in rel:
            raise UsageError(f"cannot pack path {rel!r}: it must be non-empty and hold no line breaks")
        if rel in self.seen:
            raise UsageError(f"{rel}: listed twice")
        try:
            encoded = rel.encode("utf-8")
        except UnicodeEncodeError:
            raise UsageError(f"cannot pack path {rel!r}: its name is not valid UTF-8") from None
        self.seen.add(rel)
        if self.previous is not None and rel < self.previous:
            self.paths_sorted = False
        self.previous = rel
        return encoded

    def add(self, status: str, length: int, shape: tuple[int, int], encoded_path: bytes) -> None:
        height, width = shape
        self.rows.extend(
            (self.offset, length, height, width, STATUS_CODE[status], self.path_offset, len(encoded_path))
        )
        self.count += 1
        self.offset += length
        self.path_offset += len(encoded_path) + 1


def _checked_mask(item: PackItem) -> np.ndarray | None:
    """The item's (H, W) bool mask (``None`` for a bad image) after checking it fits its status."""
    rel, status = item.path, item.status
    if status == "bad_image":
        if item.mask is not None:
            raise UsageError(f"{rel}: a bad_image entry has no mask")
        return None
    if item.mask is None or np.ndim(item.mask) != 2 or 0 in np.shape(item.mask):
        raise UsageError(f"{rel}: status {status} needs a non-empty (H, W) mask")
    mask = binary_mask(np.asarray(item.mask))
    if mask.any() == (status == "no_foreground"):
        raise UsageError(f"{rel}: status {status} does not match the mask's foreground")
    return mask


def _write_entries(
    tmp: Path,
    items: Iterable[PackItem | tuple[str, np.ndarray | None, str]],
    encode: Callable[[np.ndarray], bytes],
    bar: tqdm[Any],
) -> _Index:
    """Stream the items into ``masks.bin`` and ``paths.txt`` under ``tmp`` (fsynced); the index."""
    index = _Index()
    with open(tmp / MASKS, "wb") as masks, open(tmp / PATHS, "wb") as paths:
        for raw in items:
            item = PackItem(*raw)
            if item.status not in STATUS_CODE:
                raise UsageError(
                    f"{item.path}: unknown status {item.status!r} (expected one of {', '.join(STATUSES)})"
                )
            encoded_path = index.check_path(item.path)
            mask = _checked_mask(item)
            if mask is None:
                index.bad.append(
                    {"index": index.count, "path": item.path, "reason": item.reason or "unreadable"}
                )
            data = encode(mask) if mask is not None and item.status != "no_foreground" else b""
            masks.write(data)
            paths.write(encoded_path + b"\n")
            index.add(item.status, len(data), (0, 0) if mask is None else mask.shape, encoded_path)
            bar.update(1)
        for handle in (masks, paths):
            handle.flush()
            os.fsync(handle.fileno())
    return index


def _write_index(tmp: Path, index: _Index) -> np.ndarray:
    if index.count == 0:
        raise UsageError("nothing to pack: no images")
    rows = np.frombuffer(index.rows, dtype=np.int64).reshape(index.count, len(COLUMNS))
    with open(tmp / INDEX, "wb") as handle:
        np.save(handle, rows, allow_pickle=False)
        handle.flush()
        os.fsync(handle.fileno())
    return rows


def _pack_config(
    tmp: Path, index: _Index, rows: np.ndarray, source: Mapping[str, Any], codec: str, level: int
) -> dict[str, Any]:
    codes = rows[:, STATUS]
    return {
        "format": FORMAT,
        "count": index.count,
        "encoding": {
            "mask": f"(H, W) bool, row-major -> numpy.packbits (bitorder big) -> {codec}",
            "codec": codec,
            "level": level,
            "empty": "length 0: no_foreground (an all-False mask) and bad_image (no mask)",
        },
        "index": {"file": INDEX, "dtype": "int64", "columns": list(COLUMNS)},
        "statuses": list(STATUSES),
        "paths_sorted": index.paths_sorted,
        "summary": {name: int((codes == code).sum()) for code, name in enumerate(STATUSES)},
        "bad_images": index.bad,
        "bytes": {"masks": index.offset, "index": (tmp / INDEX).stat().st_size, "paths": index.path_offset},
        # index.npy is checked against this on open; masks.bin's frames carry their own checksums
        # (zstd's content checksum, zlib's adler32), checked as each mask is decoded.
        "index_sha256": sha256_file(tmp / INDEX),
        "source": dict(source),
        "created_by": _creator(),
    }


def _move_into_place(tmp: Path, target: Path, force: bool) -> None:
    """Rename the finished pack over ``target``; an old pack there is moved aside, then removed."""
    _fsync_dir(tmp)
    if target.exists():
        _check_target(target, force)  # still a pack (nothing else replaced it meanwhile)
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent))
        os.replace(target, old / "pack")
        os.replace(tmp, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, target)
    _fsync_dir(target.parent)


def write_pack(
    out: str | os.PathLike[str],
    items: Iterable[PackItem | tuple[str, np.ndarray | None, str]],
    *,
    source: Mapping[str, Any],
    total: int | None = None,
    force: bool = False,
    progress: bool = True,
    desc: str = "mask pack",
    codec: str = DEFAULT_CODEC,
    level: int | None = None,
) -> dict[str, Any]:
    """Write ``items`` (in dataset-index order) as a pack at ``out``; return its ``pack.json``.

    Each item is ``(relative path, mask, status)`` with ``status`` one of ``STATUSES``: the mask is
    (H, W) (bool, or a stored mask's values, read by ``core.io.binary_mask``: >= 128, or 1 in a 0/1
    mask) and ``None`` only for ``bad_image``. The pack is built in a temporary sibling directory and
    renamed into place, so ``out`` never holds a partial pack; an existing pack is replaced only with
    ``force``, anything else at ``out`` is never touched.
    ``codec`` / ``level``: how masks are compressed (``DEFAULT_LEVEL`` gives the measured trade-off).
    """
    level = check_codec(codec, level)
    encode = mask_encoder(codec, level)
    target = Path(out)
    _check_target(target, force)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        with tqdm(total=total, desc=desc, unit="mask", disable=not progress) as bar:
            index = _write_entries(tmp, items, encode, bar)
        rows = _write_index(tmp, index)
        config = _pack_config(tmp, index, rows, source, codec, level)
        atomic_write_json(tmp / PACK_CONFIG, config)
        _move_into_place(tmp, target, force)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return config


def _bank_items(bank: DirectoryMaskBank) -> Iterator[PackItem]:
    for i in range(len(bank)):
        entry = bank.entry(i)
        rel, status = entry["path"], entry["status"]
        if status == "bad_image":
            yield PackItem(rel, None, status, entry.get("reason", ""))
            continue
        path = bank.root / entry["mask"]
        if not path.is_file():
            raise FileNotFoundError(f"{path}: mask file listed in the bank manifest is missing")
        if sha256_file(path) != entry.get("mask_sha256"):
            raise UsageError(f"{path}: mask file changed since the bank was built (sha256 differs)")
        mask = load_mask(path, size=(int(entry["height"]), int(entry["width"])))
        yield PackItem(rel, mask, status)


def pack_bank(
    bank_dir: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    force: bool = False,
    progress: bool = True,
    codec: str = DEFAULT_CODEC,
    level: int | None = None,
) -> dict[str, Any]:
    """Pack a finished mask bank (``bank.DirectoryMaskBank``) in its manifest's order; return pack.json."""
    bank = DirectoryMaskBank(bank_dir)
    _check_target(Path(out), force)
    check_outside(out, {"--bank": bank_dir})
    manifest = bank.manifest
    source = {
        "kind": "bank",
        "bank": str(Path(bank_dir).resolve()),
        "manifest_sha256": sha256_file(Path(bank_dir) / BANK_MANIFEST),
        "bank_format": manifest.get("format"),
        "detector": manifest.get("detector"),
        "threshold": manifest.get("threshold"),
        **({"threshold_rule": manifest["threshold_rule"]} if "threshold_rule" in manifest else {}),
    }
    return write_pack(
        out,
        _bank_items(bank),
        source=source,
        total=len(bank),
        force=force,
        progress=progress,
        codec=codec,
        level=level,
    )


def _folder_items(mask_root: Path, paths: list[str]) -> Iterator[PackItem]:
    from bgaug.core.data import mask_path_for

    for rel in paths:
        path = mask_root / mask_path_for(rel)
        try:
            mask = load_mask(path)
        except BadImageError as exc:
            tqdm.write(f"skipped {rel}: mask {exc.reason}")
            yield PackItem(rel, None, "bad_image", f"mask {exc.reason}")
            continue
        if not mask.any():
            yield PackItem(rel, mask, "no_foreground")
        else:
            # The recipe has no background exactly when the foreground box is the whole image.
            whole = foreground_bbox(mask) == (0, 0, mask.shape[1], mask.shape[0])
            yield PackItem(rel, mask, "no_background" if whole else "ok")


def pack_folder(
    image_root: str | os.PathLike[str],
    mask_root: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    force: bool = False,
    progress: bool = True,
    codec: str = DEFAULT_CODEC,
    level: int | None = None,
) -> dict[str, Any]:
    """Pack a folder of masks mirroring ``image_root`` (``core.data.FolderMaskBank``'s layout).

    Index order is ``list_images(image_root)``; images are listed, never decoded, and each mask's size
    is its file's. Every image needs a mask file (else ``FileNotFoundError`` naming the first missing
    one); an unreadable mask file becomes a ``bad_image`` entry with its reason.
    """
    from bgaug.core.data import FolderMaskBank

    _check_target(Path(out), force)
    check_outside(out, {"--images": image_root, "--masks": mask_root})
    images, masks = Path(image_root), Path(mask_root)
    paths = FolderMaskBank(images, masks).paths  # checks the folder and that every mask is there
    if not paths:
        raise FileNotFoundError(f"no images found under {images}")
    source = {"kind": "folder", "images": str(images.resolve()), "masks": str(masks.resolve())}
    return write_pack(
        out,
        _folder_items(masks, paths),
        source=source,
        total=len(paths),
        force=force,
        progress=progress,
        codec=codec,
        level=level,
    )


class _Paths:
    """The pack's paths as a sequence of UTF-8 bytes (for ``bisect``), read from the memory map."""

    def __init__(self, index: np.ndarray, data: memoryview):
        self._index = index
        self._data = data

    def __len__(self) -> int:
        return len(self._index)

    def __getitem__(self, i: int) -> bytes:
        start, length = self._index[i, PATH_OFFSET : PATH_LENGTH + 1].tolist()
        return bytes(self._data[start : start + length])


def _map(path: Path) -> tuple[mmap.mmap | None, memoryview]:
    with open(path, "rb") as handle:
        if os.fstat(handle.fileno()).st_size == 0:
            return None, memoryview(b"")
        mapped = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
    return mapped, memoryview(mapped)


class PackedMaskBank:
    """A mask pack read by dataset index (core's ``MaskBank``); masks.bin and index.npy are memory-mapped.

    Opening is cheap and lazy: the memory maps are made on first use in each process and dropped when
    the bank is pickled, so a torch DataLoader worker (fork or spawn) reopens its own; the operating
    system shares the pages between them. ``mask(i)`` is the fast path (decode only).

    The pack holds no backgrounds. ``record(i, image)`` computes the tiled background from the decoded
    image (as ``core.data.FolderMaskBank.record`` does; ``MaskedImageDataset`` passes the image it
    loaded). ``bank[i]`` / ``record(i)`` without an image load it from ``image_root`` when one was
    given, and otherwise raise ``ValueError``: a ``MaskRecord`` without its background would read as
    "this image has no background". A ``bad_image`` entry raises ``BadImageError``.
    """

    def __init__(self, path: str | os.PathLike[str], *, image_root: str | os.PathLike[str] | None = None):
        self.root = Path(path)
        self.image_root = None if image_root is None else Path(image_root)
        config_path = self.root / PACK_CONFIG
        if not config_path.is_file():
            raise FileNotFoundError(f"{self.root}: no mask pack here ({PACK_CONFIG} missing)")
        try:
            config = json.loads(config_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise UsageError(f"{self.root}: unreadable {PACK_CONFIG} ({type(exc).__name__}: {exc})") from None
        if not isinstance(config, dict) or config.get("format") != FORMAT:
            found = config.get("format") if isinstance(config, dict) else None
            raise UsageError(f"{self.root}: not a mask pack (format {found!r}, expected {FORMAT!r})")
        if list(config.get("statuses", [])) != list(STATUSES):
            raise UsageError(f"{self.root}: unknown status names {config.get('statuses')!r}")
        self._config: dict[str, Any] = config
        # packs written before zstd name no codec: they are zlib packs
        self._codec = str(config.get("encoding", {}).get("codec", "zlib"))
        check_codec(self._codec)
        self._count = int(config["count"])
        self._reasons = {int(b["index"]): str(b["reason"]) for b in config.get("bad_images", [])}
        self._index: np.ndarray | None = None
        self._masks: memoryview | None = None
        self._paths: _Paths | None = None
        self._maps: list[mmap.mmap] = []
        self._lookup: dict[str, int] | None = None
        recorded = config.get("index_sha256")
        if recorded is not None and sha256_file(self.root / INDEX) != recorded:
            raise UsageError(f"{self.root}: {INDEX} does not match its recorded hash (the pack is corrupted)")
        index = self._open_index()
        if index.shape != (self._count, len(COLUMNS)) or index.dtype != np.int64:
            raise UsageError(
                f"{self.root}: {INDEX} is {index.dtype} {index.shape}, "
                f"expected int64 ({self._count}, {len(COLUMNS)})"
            )

    # -- lazy per-process state ------------------------------------------------------------------
    def _open_index(self) -> np.ndarray:
        if self._index is None:
            mapped = np.load(self.root / INDEX, mmap_mode="r", allow_pickle=False)
            # A plain ndarray over the same pages: indexing a np.memmap costs ~4x more per read.
            self._index = mapped.view(np.ndarray)
        return self._index

    def _open(self) -> tuple[np.ndarray, memoryview]:
        if self._masks is None:
            mapped, view = _map(self.root / MASKS)
            if mapped is not None:
                self._maps.append(mapped)
            self._masks = view
        return self._open_index(), self._masks

    def _path_table(self) -> _Paths:
        if self._paths is None:
            mapped, view = _map(self.root / PATHS)
            if mapped is not None:
                self._maps.append(mapped)
            self._paths = _Paths(self._open_index(), view)
        return self._paths

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.update(_index=None, _masks=None, _paths=None, _maps=[], _lookup=None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    def close(self) -> None:
        """Release the memory maps (they reopen on the next read)."""
        self._index = None
        self._masks = None
        self._paths = None
        self._lookup = None
        maps, self._maps = self._maps, []
        for mapped in maps:
            with contextlib.suppress(BufferError):  # a caller still holds a view: the GC closes it later
                mapped.close()

    # -- MaskBank --------------------------------------------------------------------------------
    def __len__(self) -> int:
        return self._count

    @property
    def manifest(self) -> Mapping[str, Any]:
        """The pack's ``pack.json`` (format, count, encoding, summary, bad images, source)."""
        return MappingProxyType(self._config)

    def _row(self, index: int) -> list[int]:
        if not -self._count <= index < self._count:
            raise IndexError(f"mask pack index {index} out of range [0, {self._count})")
        row: list[int] = self._open_index()[index].tolist()
        return row

    def path(self, index: int) -> str:
        """The image's path relative to the image root."""
        self._row(index)  # bounds check
        return self._path_table()[index % self._count].decode("utf-8")

    def index_of(self, relative_path: str) -> int:
        if self._config.get("paths_sorted"):  # binary search in the mapped paths: no per-process dict
            table = self._path_table()
            key = relative_path.encode("utf-8")  # UTF-8 byte order is code-point (str) order
            i = bisect.bisect_left(table, key)
            if i < len(table) and table[i] == key:
                return i
        else:
            if self._lookup is None:
                table = self._path_table()
                self._lookup = {table[i].decode("utf-8"): i for i in range(len(table))}
            if relative_path in self._lookup:
                return self._lookup[relative_path]
        raise KeyError(f"{relative_path!r} is not in the mask pack at {self.root}")

    def status(self, index: int) -> str:
        return STATUSES[self._row(index)[STATUS]]

    def size(self, index: int) -> tuple[int, int]:
        """(height, width) of the mask, (0, 0) for a bad image."""
        row = self._row(index)
        return row[HEIGHT], row[WIDTH]

    def _bad(self, index: int) -> BadImageError:
        i = index % self._count
        reason = self._reasons.get(i, "unreadable")
        return BadImageError(self.path(i), f"no mask: the image was unreadable ({reason})")

    def mask_bytes(self, index: int) -> bytes:
        """The entry's stored bytes (``decode_mask`` input, with ``codec``); empty for no_foreground
        and bad_image."""
        _, masks = self._open()
        offset, length = self._row(index)[OFFSET : LENGTH + 1]
        return bytes(masks[offset : offset + length])

    @property
    def codec(self) -> str:
        """How the pack's masks are compressed (``zstd`` or ``zlib``)."""
        return self._codec

    def mask(self, index: int) -> np.ndarray:
        """(H, W) bool mask, True = foreground; ``BadImageError`` for an unreadable image."""
        index_array, masks = self._open()
        if not -self._count <= index < self._count:
            raise IndexError(f"mask pack index {index} out of range [0, {self._count})")
        offset, length, height, width, status = index_array[index, :PATH_OFFSET].tolist()
        if length:
            try:
                return decode_mask(masks[offset : offset + length], height, width, self._codec)
            except Exception as exc:  # zstd / zlib raise their own types on a failed checksum
                raise UsageError(
                    f"{self.root}: mask {index} does not decode ({type(exc).__name__}: {exc}); "
                    f"the pack is corrupted, rebuild it"
                ) from None
        if status == STATUS_CODE["bad_image"]:
            raise self._bad(index)
        return np.zeros((height, width), dtype=bool)

    def record(self, index: int, image: np.ndarray | None = None) -> MaskRecord:
        """Mask, status and the tiled background computed from ``image`` (H, W, 3) uint8.

        Without ``image`` it is loaded from ``image_root`` (``ValueError`` if the bank has none).
        """
        mask = self.mask(index)
        status = self.status(index)
        if image is None:
            if self.image_root is None:
                raise ValueError(
                    f"{self.root}: a mask pack stores no backgrounds; pass the decoded image to "
                    "record(index, image) or open the pack with image_root=... to load it"
                )
            image = load_image(self.image_root / self.path(index))
        if image.shape[:2] != mask.shape:
            raise BadImageError(
                self.path(index),
                f"mask size {mask.shape[1]}x{mask.shape[0]} differs from "
                f"image size {image.shape[1]}x{image.shape[0]}",
            )
        background = tiled_background(image, mask) if status == "ok" else None
        if status == "ok" and background is None:
            status = "no_background"
        return MaskRecord(mask=mask, background=background, status=status)

    def __getitem__(self, index: int) -> MaskRecord:
        return self.record(index)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bank", help="a finished mask bank directory to pack")
    parser.add_argument("--images", help="image folder (with --masks): index order is its sorted listing")
    parser.add_argument("--masks", help="mask folder mirroring --images (REL with a .png suffix)")
    parser.add_argument("--out", required=True, help="pack directory to write (atomically)")
    parser.add_argument("--force", action="store_true", help="replace an existing pack at --out")
    parser.add_argument(
        "--codec",
        choices=tuple(CODEC_LEVELS),
        default=DEFAULT_CODEC,
        help=f"mask compression (default {DEFAULT_CODEC}; zlib writes packs older readers understand)",
    )
    parser.add_argument(
        "--level",
        type=int,
        help="compression level (default: zstd 15, zlib 3; zstd 1-22, zlib 1-9): higher is smaller, "
        "slower to write",
    )
    parser.add_argument("--json", help="also write the pack summary to this JSON file")


def run_from_args(args: argparse.Namespace) -> int:
    if args.bank and (args.images or args.masks):
        raise UsageError("give either --bank or --images with --masks, not both")
    check_json_out(args.json)
    if args.bank:
        config = pack_bank(args.bank, args.out, force=args.force, codec=args.codec, level=args.level)
    elif args.images and args.masks:
        config = pack_folder(
            args.images, args.masks, args.out, force=args.force, codec=args.codec, level=args.level
        )
    else:
        raise UsageError("give --bank BANK, or --images DIR with --masks DIR")
    total = sum(config["bytes"].values())
    summary = {
        "pack": args.out,
        "count": config["count"],
        "summary": config["summary"],
        "bytes": config["bytes"],
        "bytes_per_mask": total / config["count"],
    }
    print(json.dumps(summary, indent=2, sort_keys=True))
    if args.json:
        atomic_write_json(args.json, {**summary, "bad_images": config["bad_images"]})
    return 0
