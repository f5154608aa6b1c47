"""Checks every command makes before any compute: inputs exist, outputs can be written, results stay.

A typo in a path or an unwritable output folder must cost one line and exit 2 at once, not an hour of
inference followed by a failed write; and a user's results are never replaced without ``--overwrite``.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from bgaug.core.errors import UsageError

RESULT_FILES = ("results.json", "results.md", "results.png", "classifier.pt")
"""What ``evals run`` writes into ``--out`` (its ``cache/`` is keyed by content and always reusable)."""


def require_file(path: Path, flag: str) -> Path:
    if not path.is_file():
        raise FileNotFoundError(
            f"{flag} {path}: " + ("is a folder, not a file" if path.is_dir() else "not found")
        )
    return path


def require_dir(path: Path, flag: str) -> Path:
    if not path.is_dir():
        raise FileNotFoundError(
            f"{flag} {path}: " + ("is a file, not a folder" if path.exists() else "not found")
        )
    return path


def _nearest_existing(path: Path) -> Path:
    current = path.absolute()
    while not current.exists():
        current = current.parent
    return current


def require_writable_dir(path: Path, flag: str) -> Path:
    """``path`` is a folder we can write in, or one we can create (it is not created here)."""
    if path.exists() and not path.is_dir():
        raise NotADirectoryError(f"{flag} {path}: is a file, not a folder")
    existing = _nearest_existing(path)
    if not existing.is_dir():
        raise NotADirectoryError(f"{flag} {path}: {existing} is a file, so no folder can be made below it")
    try:  # a real write: permission bits say nothing for root or on read-only mounts
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as exc:
        raise PermissionError(f"{flag} {path}: cannot write in {existing} ({exc.strerror})") from None
    return path


def require_writable_file(path: Path, flag: str, *, overwrite: bool = True) -> Path:
    """``path`` can be written; an existing file there is refused unless ``overwrite``."""
    if path.is_dir():
        raise UsageError(f"{flag} {path}: is a folder, not a file")
    if path.exists() and not overwrite:
        raise FileExistsError(f"{flag} {path} exists; pass --overwrite to replace it")
    require_writable_dir(path.parent, flag)
    return path


def recorded_checkpoint(out: Path) -> str | None:
    """The checkpoint sha256 that ``out/results.json`` records, or None (absent or unreadable)."""
    try:
        recorded = json.loads((out / "results.json").read_text()).get("checkpoint_sha256")
    except (OSError, ValueError, AttributeError):
        return None
    return recorded if isinstance(recorded, str) else None


def refuse_foreign_results(out: Path, checkpoint_sha256: str, *, overwrite: bool) -> None:
    """Refuse to replace results in ``out`` unless ``overwrite`` or they are this checkpoint's own."""
    present = [name for name in RESULT_FILES if (out / name).exists()]
    if not present or overwrite:
        return
    recorded = recorded_checkpoint(out)
    if recorded == checkpoint_sha256:
        return  # re-running the same checkpoint replaces its own results
    whose = (
        "another checkpoint's results" if recorded else "results of unknown origin (no readable results.json)"
    )
    raise FileExistsError(
        f"--out {out} already holds {whose} ({', '.join(present)}); pass --overwrite to replace them"
        " or choose another --out"
    )
