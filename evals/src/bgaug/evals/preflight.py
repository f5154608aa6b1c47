"""What evals adds to core's preflight checks (``bgaug.core.preflight``): a user's results in
``--out`` are never replaced without ``--overwrite``, unless they are this checkpoint's own."""

from __future__ import annotations

import json
from pathlib import Path

RESULT_FILES = ("results.json", "results.md", "results.png", "classifier.pt")
"""What ``evals run`` writes into ``--out`` (its ``cache/`` is keyed by content and always reusable)."""


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
