"""Helpers shared by the saliency subcommands: the mask-bank options and summary, JSON output,
option parsers (thresholds, comma-separated numbers) and the preset names."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from typing import Any

from bgaug.core.errors import UsageError
from bgaug.core.io import atomic_write_json

PRESET_CHOICES = ("paper", "quick")
"""``deepusps.PRESETS``' names, listed by hand: importing torch to build the parser would slow every
command (tests/test_cli.py checks that they match)."""


def emit(result: dict[str, Any], json_path: str | None, keys: Sequence[str]) -> None:
    """Print ``result``'s ``keys`` as JSON on stdout; write the whole ``result`` to ``json_path``."""
    print(json.dumps({k: result[k] for k in keys if k in result}, indent=2, sort_keys=True))
    if json_path:
        atomic_write_json(json_path, result)


def bank_summary(manifest: dict[str, Any], out: str) -> dict[str, Any]:
    """A finished bank's run summary: counts by status and every unusable image with its reason."""
    bad = [
        {"path": e["path"], "reason": e["reason"]} for e in manifest["entries"] if e["status"] == "bad_image"
    ]
    return {"bank": out, "n_images": manifest["n_images"], "summary": manifest["summary"], "bad_images": bad}


def check_usable(summary: dict[str, Any], images: str) -> None:
    """A bank without one readable image is a failed run, not an empty success (issue 23.16)."""
    if summary["n_images"] and summary["summary"]["bad_image"] == summary["n_images"]:
        first = summary["bad_images"][0]
        raise UsageError(
            f"no usable image: all {summary['n_images']} images under {images} could not be used "
            f"(first: {first['path']}: {first['reason']}); the manifest lists every reason"
        )


def finish_bank(manifest: dict[str, Any], args: argparse.Namespace) -> int:
    """Report a bank command's result (stdout, ``--json``); exit 2 when no image was usable."""
    summary = bank_summary(manifest, args.out)
    emit(summary, args.json, ("bank", "n_images", "summary"))
    check_usable(summary, args.images)
    return 0


def parse_threshold(text: str) -> float | str:
    """``--threshold``: a number in (0, 1] or the name of an adaptive rule (``bank.THRESHOLD_RULES``)."""
    from bgaug.saliency.bank import check_threshold

    try:
        value: float | str = float(text)
    except ValueError:
        value = text
    try:
        return check_threshold(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def parse_numbers(text: str | None, flag: str) -> tuple[float, ...] | None:
    """Comma-separated numbers given to ``flag``; ``None`` when not given (or empty)."""
    if not text:
        return None
    try:
        return tuple(float(part) for part in text.split(","))
    except ValueError:
        raise UsageError(f"{flag} must be comma-separated numbers, got {text!r}") from None


def add_bank_arguments(p: argparse.ArgumentParser, threshold_help: str) -> None:
    """The options of a command that builds a mask bank: input, output, threshold, soft maps, JSON."""
    p.add_argument("--images", required=True, help="image folder (searched recursively)")
    p.add_argument(
        "--out",
        required=True,
        help="mask bank folder: new, empty, or an unfinished bank of the same options (resumed); "
        "never inside --images",
    )
    p.add_argument("--threshold", type=parse_threshold, default=None, metavar="T|RULE", help=threshold_help)
    p.add_argument(
        "--soft-maps", action="store_true", help="also store the 8-bit saliency maps (needed by eval)"
    )
    p.add_argument("--json", help="write the run summary (counts, bad files) to this JSON file")
