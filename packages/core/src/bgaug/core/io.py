"""Safe file IO: image and mask loading, atomic writes, content hashes, checkpoints.

``load_image`` returns RGB uint8 (H, W, 3) whatever the file's mode: CMYK and YCbCr are converted,
grayscale and 1-bit are replicated to three channels, palette and alpha images are composited on
black, 16-bit images are scaled to 8 bits, and EXIF orientation is applied (as a viewer shows the
photograph). Every unreadable file raises one ``BadImageError`` naming the path and the cause.

Writes go to a temporary file in the destination directory, are flushed to disk, then renamed over
the target, so a killed process never leaves a half-written checkpoint, mask or cache file.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import tempfile
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from bgaug.core.errors import one_line

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"})
MIN_IMAGE_SIDE = 2
"""Images with a side shorter than this are rejected: no crop, mask or background is defined."""


class BadImageError(ValueError):
    """An image (or mask) file that cannot be used; the message names the path and the cause."""

    def __init__(self, path: str | os.PathLike[str], reason: str | None = None):
        if reason is None:
            # Rebuilt from a message alone: torch's DataLoader re-raises a loader process's error as
            # ``type(message)``, the message ending in the original ``BadImageError: PATH: REASON``.
            last = str(path).rstrip().rsplit("\n", 1)[-1]
            path, _, reason = last.split(f"{type(self).__name__}: ", 1)[-1].partition(": ")
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class BadCheckpointError(ValueError):
    """A checkpoint file that is missing, truncated or holds something other than tensors."""


def _open_verified(path: Path) -> Image.Image:
    if not path.exists():
        raise BadImageError(path, "file not found")
    if path.is_dir():
        raise BadImageError(path, "is a directory, not an image")
    if path.stat().st_size == 0:
        raise BadImageError(path, "empty file (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(path)
            img.load()  # decode now: truncation and corruption surface here, not later
    except UnidentifiedImageError:
        raise BadImageError(path, "not a recognised image format (corrupt?)") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise BadImageError(path, f"too large to decode safely ({exc})") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise BadImageError(path, f"cannot decode ({exc})") from None
    width, height = img.size
    if width == 0 or height == 0:
        raise BadImageError(path, f"zero-size image ({width}x{height})")
    return img


INTEGER_GREY_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")
"""PIL modes of 16-bit (and 32-bit integer) grey images: scaled to 8 bits unless they hold only 0/1."""


def _to_rgb_uint8(img: Image.Image) -> np.ndarray:
    mode = img.mode
    if mode in INTEGER_GREY_MODES:
        # 16-bit grayscale (PNG, TIFF): scale the 0..65535 range to 0..255.
        arr = np.asarray(img, dtype=np.float64)
        peak = 65535.0 if mode.startswith("I;16") or arr.max(initial=0) > 255 else 255.0
        gray = np.clip(np.rint(arr * (255.0 / peak)), 0, 255).astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2)
    if mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        peak = 1.0 if arr.max(initial=0) <= 1.0 else 255.0
        gray = np.clip(np.rint(arr * (255.0 / peak)), 0, 255).astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2)
    if mode == "P":
        img = img.convert("RGBA")
        mode = "RGBA"
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        black = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        return np.asarray(Image.alpha_composite(black, rgba).convert("RGB"), dtype=np.uint8)
    return np.asarray(img.convert("RGB"), dtype=np.uint8)


def load_image(path: str | os.PathLike[str], *, min_side: int = MIN_IMAGE_SIDE) -> np.ndarray:
    """Read an image file as RGB uint8 (H, W, 3); raise ``BadImageError`` for anything unusable."""
    p = Path(path)
    img = _open_verified(p)
    # A broken EXIF block must not lose the pixels.
    with contextlib.suppress(OSError, ValueError, SyntaxError):
        img = ImageOps.exif_transpose(img)
    rgb = _to_rgb_uint8(img)
    h, w = rgb.shape[:2]
    if min(h, w) < min_side:
        raise BadImageError(p, f"too small ({w}x{h}); the shorter side must be >= {min_side} px")
    return np.ascontiguousarray(rgb)


MASK_THRESHOLD = 128
"""The one rule every package uses to binarise a stored mask: foreground is a value >= 128 (of 255),
or, in a 0/1 export (no value above 1), a value of 1 (``binary_mask``)."""


def binary_mask(values: np.ndarray, threshold: int = MASK_THRESHOLD) -> np.ndarray:
    """(H, W) bool foreground of a stored mask's 8-bit values: ``>= threshold``; a mask whose values
    are all 0 or 1 (a common export: numpy's bool saved as uint8) reads 1 as foreground instead of
    silently reading as empty."""
    if values.dtype == np.bool_:
        return values
    if values.size and int(values.max()) == 1:
        return np.asarray(values >= 1)
    return np.asarray(values >= threshold)


def load_mask(
    path: str | os.PathLike[str], *, size: tuple[int, int] | None = None, threshold: int = MASK_THRESHOLD
) -> np.ndarray:
    """Read a mask file as (H, W) bool (True = foreground; ``binary_mask``'s rule: a pixel >=
    ``threshold``, or 1 in a 0/1 mask).

    ``size`` is the (height, width) of the image the mask belongs to; a different size raises
    ``BadImageError``. Colour masks count a pixel as foreground when any channel passes.
    """
    p = Path(path)
    img = _open_verified(p)
    if img.mode in INTEGER_GREY_MODES and int(np.asarray(img).max(initial=0)) <= 1:
        arr = np.asarray(img).astype(np.uint8)  # a 16-bit 0/1 export: scaling to 8 bits would empty it
    elif img.mode in (*INTEGER_GREY_MODES, "F", "P", "RGBA", "LA"):
        arr = _to_rgb_uint8(img).max(axis=2)
    elif img.mode == "1":
        arr = np.asarray(img.convert("L"))
    elif img.mode == "L":
        arr = np.asarray(img)
    else:
        arr = np.asarray(img.convert("RGB")).max(axis=2)
    if size is not None and tuple(arr.shape) != tuple(size):
        raise BadImageError(
            p,
            f"mask size {arr.shape[1]}x{arr.shape[0]} differs from image size {size[1]}x{size[0]}",
        )
    return binary_mask(arr, threshold)


def list_images(root: str | os.PathLike[str]) -> list[str]:
    """Image files under ``root`` (recursive) as sorted POSIX paths relative to ``root``."""
    base = Path(root)
    if not base.is_dir():
        raise FileNotFoundError(f"image folder not found: {base}")
    found = [
        p.relative_to(base).as_posix()
        for p in base.rglob("*")
        if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith(".")
    ]
    return sorted(found)


@contextlib.contextmanager
def atomic_write(
    path: str | os.PathLike[str], mode: str = "wb", *, durable: bool = True
) -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path``; on clean exit fsync it and rename it over ``path``.

    On an exception the temporary file is removed and ``path`` is left as it was. ``durable=False``
    skips the fsync, for bulk output written many files at a time: the rename still means no reader
    ever sees a half-written file, but after a power loss the content may not have reached the disk,
    so the writer calls ``sync_to_disk()`` once before it records the output as complete.
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"mode must be 'wb' or 'w', got {mode!r}")
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        # mkstemp makes the file 0600; a file written in place would get 0666 minus the umask,
        # so colleagues on a shared cluster can read results as the user's umask allows.
        os.fchmod(fd, 0o666 & ~current_umask())
        encoding = None if mode == "wb" else "utf-8"
        with os.fdopen(fd, mode, encoding=encoding) as handle:
            yield handle
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        os.replace(tmp_name, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise


def current_umask() -> int:
    """The process's file-mode creation mask (read without changing it where Linux allows)."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)  # elsewhere: set and restore at once
    os.umask(mask)
    return mask


def sync_to_disk() -> None:
    """Flush every written file to disk (after a batch of ``durable=False`` writes)."""
    if hasattr(os, "sync"):
        os.sync()


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes, *, durable: bool = True) -> None:
    with atomic_write(path, "wb", durable=durable) as handle:
        handle.write(data)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    with atomic_write(path, "w") as handle:
        handle.write(text)


def atomic_write_json(path: str | os.PathLike[str], data: Any, *, indent: int | None = 2) -> None:
    atomic_write_text(path, json.dumps(data, indent=indent, sort_keys=True) + "\n")


def encode_png(array: np.ndarray) -> bytes:
    """PNG bytes of a uint8 (H, W), (H, W, 3) or bool (H, W) array (bool is written 0/255)."""
    arr = array.astype(np.uint8) * 255 if array.dtype == np.bool_ else array
    if arr.dtype != np.uint8:
        raise ValueError(f"PNG arrays must be uint8 or bool, got {arr.dtype}")
    buffer = io.BytesIO()
    Image.fromarray(arr).save(buffer, format="PNG", optimize=False, compress_level=6)
    return buffer.getvalue()


def save_png(path: str | os.PathLike[str], array: np.ndarray, *, durable: bool = True) -> bytes:
    """Atomically write ``array`` as a PNG (deterministic bytes); return the bytes written.

    ``durable``: as in ``atomic_write``."""
    data = encode_png(array)
    atomic_write_bytes(path, data, durable=durable)
    return data


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | os.PathLike[str], chunk_size: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


CONTENT_HASH_KEY = "content_sha256"
"""The key under which ``save_checkpoint`` stores the hash of a checkpoint's content."""


def content_sha256(state: Any) -> str:
    """A sha256 of a checkpoint's content (every tensor's dtype, shape and bytes, every other value's
    JSON, in sorted-key order), independent of how ``torch.save`` lays the file out."""
    import torch

    digest = hashlib.sha256()

    def feed(value: Any) -> None:
        if isinstance(value, torch.Tensor):
            tensor = value.detach().cpu().contiguous()
            digest.update(f"tensor {tensor.dtype} {tuple(tensor.shape)}".encode())
            digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
        elif isinstance(value, Mapping):
            for key in sorted(value, key=str):
                digest.update(f"key {key!r}".encode())
                feed(value[key])
        elif isinstance(value, list | tuple):
            digest.update(f"seq {len(value)}".encode())
            for item in value:
                feed(item)
        else:
            digest.update(f"value {json.dumps(value, sort_keys=True, default=repr)}".encode())

    feed({k: v for k, v in state.items() if k != CONTENT_HASH_KEY})
    return digest.hexdigest()


def save_checkpoint(state: dict[str, Any], path: str | os.PathLike[str]) -> None:
    """Atomically ``torch.save`` a dict of tensors and plain values (loadable with weights_only), with
    the hash of its content (``content_sha256``) that ``load_checkpoint`` verifies."""
    import torch

    with atomic_write(path, "wb") as handle:
        torch.save({**state, CONTENT_HASH_KEY: content_sha256(state)}, handle)


def _load_cause(exc: BaseException) -> str:
    """torch.load's failure on one line; a weights_only refusal (a page of advice) as the class it met."""
    refused = re.search(r"Unsupported global: GLOBAL (\S+)", str(exc))
    if refused:
        return (
            f"it pickles {refused.group(1)}, which weights_only=True does not run; "
            "save the tensors alone (the state_dict) and load those"
        )
    return one_line(exc)


def load_checkpoint(path: str | os.PathLike[str], map_location: str = "cpu") -> dict[str, Any]:
    """Load a checkpoint with ``torch.load(..., weights_only=True)``: no pickled code ever runs.

    A checkpoint that records its content hash must still match it: flipped bytes inside a weight
    tensor load without complaint from torch and would silently change every result."""
    import torch

    p = Path(path)
    if not p.is_file():
        raise BadCheckpointError(f"{p}: checkpoint not found")
    try:
        state = torch.load(p, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises many types (UnpicklingError, RuntimeError, EOFError)
        raise BadCheckpointError(
            f"{p}: not a loadable checkpoint ({type(exc).__name__}: {_load_cause(exc)})"
        ) from None
    if not isinstance(state, dict):
        raise BadCheckpointError(f"{p}: expected a dict, found {type(state).__name__}")
    recorded = state.pop(CONTENT_HASH_KEY, None)
    if recorded is not None and recorded != content_sha256(state):
        raise BadCheckpointError(f"{p}: content does not match its recorded hash (the file is corrupted)")
    return state
