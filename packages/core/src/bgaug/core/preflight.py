"""Checks every command runs on its inputs and outputs before any compute starts (one set, shared
by every package: a typo in a path or an unwritable folder costs one line and exit status 2 at once,
not an hour of work followed by a failed write).

Each raises ``core.errors.UsageError`` (or ``FileNotFoundError``) with one line naming the flag and the
cause; none of them writes anything the user can see.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bgaug.core.errors import UsageError

PathLike = str | os.PathLike[str]


def check_device(device: str) -> None:
    """``device`` names a torch device this machine has (cpu, cuda[:N] or mps)."""
    import torch

    try:
        parsed = torch.device(device)
    except (RuntimeError, ValueError):
        raise UsageError(f"--device {device!r} is not a torch device (cpu, cuda, cuda:N or mps)") from None
    if parsed.type == "cpu":
        return
    if parsed.type == "cuda":
        if not torch.cuda.is_available():
            raise UsageError(f"--device {device}: this machine has no usable CUDA GPU; use --device cpu")
        count = torch.cuda.device_count()
        if parsed.index is not None and parsed.index >= count:
            raise UsageError(f"--device {device}: this machine has {count} CUDA GPU(s), cuda:0..{count - 1}")
        return
    if parsed.type == "mps":
        if not torch.backends.mps.is_available():
            raise UsageError(f"--device {device}: MPS is not available on this machine; use --device cpu")
        return
    raise UsageError(f"--device {device}: only cpu, cuda[:N] and mps are supported")


def check_input_folder(folder: PathLike, flag: str) -> Path:
    """``folder`` exists and is a folder."""
    path = Path(folder)
    if not path.is_dir():
        what = "is not a folder" if path.exists() else "not found"
        raise FileNotFoundError(f"{flag} {folder}: {what}")
    return path


def check_input_file(file: PathLike, flag: str) -> Path:
    """``file`` exists and is a file."""
    path = Path(file)
    if not path.is_file():
        what = "is a folder, not a file" if path.is_dir() else "not found"
        raise FileNotFoundError(f"{flag} {file}: {what}")
    return path


def check_outside(out: PathLike, inputs: Mapping[str, PathLike | None], out_flag: str = "--out") -> None:
    """``out`` and each input folder (flag -> path) are disjoint: a bank written inside its image
    folder is read as images by the next run (issue 23.6), and an input inside the output would be
    mixed with what the command writes."""
    target = Path(out).resolve()
    for flag, folder in inputs.items():
        if folder is None:
            continue
        source = Path(folder).resolve()
        if target == source or source in target.parents:
            raise UsageError(
                f"{out_flag} {out} lies inside {flag} {folder}: its files would be taken as input by the "
                f"next run; write it outside {flag}"
            )
        if target in source.parents:
            raise UsageError(f"{flag} {folder} lies inside {out_flag} {out}; write {out_flag} elsewhere")


def check_writable(path: PathLike, flag: str) -> None:
    """A folder can be written at ``path``: it is one, or it can be created below its nearest existing
    ancestor, which is a folder in which a (hidden, immediately removed) probe file can be made. Root
    ignores permission bits, so a probe, not ``os.access``, is what tells."""
    target = Path(path).absolute()
    if target.exists() and not target.is_dir():
        raise UsageError(f"{flag} {path} is a file, not a folder")
    folder = target
    while not folder.exists():
        folder = folder.parent
    if not folder.is_dir():
        raise UsageError(f"{flag} {path}: {folder} is a file, so nothing can be created under it")
    try:
        with tempfile.TemporaryFile(dir=folder, prefix=".bgaug-write-check-"):
            pass
    except OSError as exc:
        raise UsageError(f"{flag} {path}: cannot write in {folder} ({exc.strerror or exc})") from None


def check_new_file(path: PathLike, flag: str, *, overwrite: bool) -> None:
    """``path`` may be written as a file: not a folder, not an existing file unless ``overwrite``
    (a user's result is never replaced silently), and in a writable place."""
    target = Path(path)
    if target.is_dir():
        raise UsageError(f"{flag} {path} is a folder; name the file to write inside it")
    if target.exists() and not overwrite:
        raise UsageError(f"{flag} {path} exists; pass --overwrite to replace it")
    check_writable(target.absolute().parent, flag)  # replaced by a rename within its folder


def check_json_out(path: PathLike | None) -> None:
    """``--json`` (a run summary, rewritten by every run) can be written: not a folder, writable."""
    if path is None:
        return
    check_new_file(path, "--json", overwrite=True)


def read_json_object(path: PathLike, what: str) -> dict[str, Any]:
    """A JSON object from ``path``; a torn or foreign file is the user's input, named in one line."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(f"{path}: unreadable {what} ({type(exc).__name__}: {exc})") from None
    if not isinstance(data, dict):
        raise UsageError(f"{path}: not a {what} (expected a JSON object)")
    return data
