"""The run's outputs beside results.json: a markdown table in the paper's layout and a PNG bar chart."""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any

from bgaug.core.io import atomic_write_bytes, atomic_write_text

IN9_COLUMNS: tuple[tuple[str, str], ...] = (
    ("original", "Original"),
    ("only_fg", "Only-FG"),
    ("mixed_same", "Mixed-Same"),
    ("mixed_rand", "Mixed-Rand"),
    ("mixed_next", "Mixed-Next"),
    ("no_fg", "No-FG"),
    ("only_bg_b", "Only-BG-B"),
    ("only_bg_t", "Only-BG-T"),
)


def headline(results: dict[str, Any]) -> dict[str, float]:
    """One number per evaluated benchmark, in the order of the paper's robustness tables."""
    suites = results["suites"]
    out: dict[str, float] = {}

    def ok(name: str) -> dict[str, Any] | None:
        entry = suites.get(name)
        return entry if entry is not None and entry.get("status") == "ok" else None

    if (r := ok("imagenet")) is not None:
        out["ImageNet"] = r["top1"]
    if (r := ok("real")) is not None:
        out["ReaL"] = r["top1"]
    if (r := ok("imagenet_v2")) is not None:
        for name, v in r["variants"].items():
            out[f"v2 {name}"] = v["top1"]
    for key, label in (
        ("imagenet_a", "IN-A"),
        ("imagenet_a_only_fg", "IN-A Only-FG"),
        ("imagenet_r", "IN-R"),
        ("objectnet", "ObjectNet"),
    ):
        if (r := ok(key)) is not None:
            out[label] = r["top1"]
    for key, label in (("imagenet_c", "IN-C"), ("imagenet_c_on_the_fly", "IN-C (on the fly)")):
        if (r := ok(key)) is not None and r.get("mean") is not None:
            out[label] = r["mean"]
    if (r := ok("fgsm")) is not None:
        out["FGSM"] = r["top1"]
    if (r := ok("shape_bias")) is not None:
        out["Shape bias"] = r["shape_bias"]
    return out


def _fmt(value: float | None) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.2f}"


def markdown(results: dict[str, Any]) -> str:
    lines = [f"# bgaug evaluation: `{results['checkpoint']}`", ""]
    if results.get("linear_head"):
        lines += [f"Linear head: {results['linear_head']['note']}", ""]
    top = headline(results)
    if top:
        lines += [
            "## Robustness (top-1 %, shape bias as a fraction)",
            "",
            "| " + " | ".join(top) + " |",
            "|" + "---|" * len(top),
            "| " + " | ".join(_fmt(v) for v in top.values()) + " |",
            "",
        ]
    in9 = results["suites"].get("in9", {})
    if in9.get("status") == "ok":
        cols = [(k, label) for k, label in IN9_COLUMNS if k in in9["variants"]]
        lines += [
            f"## ImageNet-9 (top-1 %, {in9['mapping']} mapping)",
            "",
            "| " + " | ".join(label for _, label in cols) + " | BG-Gap |",
            "|" + "---|" * (len(cols) + 1),
            "| "
            + " | ".join(_fmt(in9["variants"][k]["top1"]) for k, _ in cols)
            + f" | {_fmt(in9.get('bg_gap'))} |",
            "",
        ]
    other = [(n, e) for n, e in results["suites"].items() if e.get("status") != "ok"]
    if other:
        lines += ["## Not evaluated", ""]
        lines += [f"- {name}: {entry['status']}: {entry['reason']}" for name, entry in other]
        lines.append("")
    lines += _unreadable_lines(results)
    return "\n".join(lines)


def _unreadable_lines(results: dict[str, Any]) -> list[str]:
    """How many image files could not be read, and how many of them the linear head's training lost."""
    unreadable = results.get("n_unreadable", 0)
    if not unreadable:
        return []
    in_train = (results.get("linear_head") or {}).get("n_unreadable", 0)
    where = f" ({in_train} of them in the linear head's training data)" if in_train else ""
    return [f"{unreadable} unreadable image file(s) skipped{where}; listed in results.json.", ""]


def bar_chart_png(results: dict[str, Any]) -> bytes:
    """Bars of every headline number and every IN-9 variant (top-1 %)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    values = {k: v for k, v in headline(results).items() if k != "Shape bias"}
    in9 = results["suites"].get("in9", {})
    if in9.get("status") == "ok":
        for key, label in IN9_COLUMNS:
            if key in in9["variants"]:
                values[f"IN-9 {label}"] = in9["variants"][key]["top1"]
    fig, ax = plt.subplots(figsize=(max(4.0, 0.6 * len(values) + 1.5), 4.0))
    names = list(values)
    heights = [0.0 if math.isnan(v) else v for v in values.values()]
    ax.bar(range(len(names)), heights, color="#4C72B0")
    ax.set_xticks(range(len(names)), names, rotation=60, ha="right", fontsize=8)
    ax.set_ylabel("top-1 (%)")
    ax.set_ylim(0, 100)
    if "bg_gap" in in9:
        ax.set_title(f"BG-Gap {in9['bg_gap']:.2f} points", fontsize=9)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120)
    plt.close(fig)
    return buffer.getvalue()


def write_reports(results: dict[str, Any], out: str | Path) -> None:
    base = Path(out)
    atomic_write_text(base / "results.md", markdown(results))
    atomic_write_bytes(base / "results.png", bar_chart_png(results))
