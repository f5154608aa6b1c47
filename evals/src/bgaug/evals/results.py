"""Typed results of ``evals run``, and their JSON: exactly the format of ``results.json``.

``runner.run`` returns an ``EvalResults``; ``to_json()`` gives the dict written to ``results.json``
(and read by other code and by saved runs), ``from_json`` reads one back. ``EvalResults`` also answers
``results["suites"]`` and ``results.get("linear_head")`` as the dict did, for callers not yet moved to
the typed fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bgaug.core.config import check_choice

STATUSES = ("ok", "skipped", "failed")


def _unreadable_in(value: Any) -> set[str]:
    """Every path listed under an ``unreadable`` key anywhere in a suite's numbers."""
    if not isinstance(value, Mapping):
        return set()
    found = set(value.get("unreadable", []))
    for key, nested in value.items():
        if key != "unreadable":
            found |= _unreadable_in(nested)
    return found


@dataclass(frozen=True)
class SuiteResult:
    """One suite's outcome: ``ok`` with its ``numbers`` (top-1, variants, ...), or ``skipped`` / ``failed``
    with the ``reason``. ``numbers`` holds the suite's own record as its evaluator returned it."""

    status: str
    reason: str | None = None
    path: str | None = None
    seconds: float | None = None
    numbers: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_choice("status", self.status, STATUSES)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def bg_gap(self) -> float | None:
        """ImageNet-9's BG-Gap (Mixed-Same - Mixed-Rand, points), when the suite reports one."""
        gap = self.numbers.get("bg_gap")
        return None if gap is None else float(gap)

    def variant_top1(self) -> dict[str, float]:
        """Top-1 (%) per variant (ImageNet-9, ImageNet-v2); empty for suites without variants."""
        return {name: float(v["top1"]) for name, v in self.numbers.get("variants", {}).items()}

    def unreadable_files(self) -> set[str]:
        return _unreadable_in(self.numbers)

    def to_json(self) -> dict[str, Any]:
        # Key order as results.json has always had it: status, reason, path, seconds, the numbers.
        fields = {"status": self.status, "reason": self.reason, "path": self.path, "seconds": self.seconds}
        return {**{k: v for k, v in fields.items() if v is not None}, **self.numbers}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SuiteResult:
        own = ("status", "reason", "path", "seconds")
        return cls(
            status=data["status"],
            reason=data.get("reason"),
            path=data.get("path"),
            seconds=data.get("seconds"),
            numbers={k: v for k, v in data.items() if k not in own},
        )


@dataclass(frozen=True)
class LinearHeadInfo:
    """The linear head ``evals run`` trained because the checkpoint had none, and its training data's
    unreadable images (left out of training)."""

    note: str
    train_data: str
    classes: int
    final_train_loss: float
    checkpoint_with_head: str
    unreadable: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "note": self.note,
            "train_data": self.train_data,
            "classes": self.classes,
            "final_train_loss": self.final_train_loss,
            "checkpoint_with_head": self.checkpoint_with_head,
            "n_unreadable": len(self.unreadable),
            "unreadable": list(self.unreadable),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LinearHeadInfo:
        return cls(
            note=data["note"],
            train_data=data["train_data"],
            classes=int(data["classes"]),
            final_train_loss=float(data["final_train_loss"]),
            checkpoint_with_head=data["checkpoint_with_head"],
            unreadable=tuple(data.get("unreadable", ())),  # results.json before the head counted them
        )


@dataclass(frozen=True)
class EvalResults:
    """Everything ``evals run`` found: the checkpoint, how it ran, each suite, and the unreadable files
    (of every suite and of the linear head's training data, each listed once, sorted)."""

    checkpoint: str
    checkpoint_sha256: str
    meta: Mapping[str, Any]
    logits: int
    linear_head: LinearHeadInfo | None
    bn_adapt: bool
    bf16: bool
    suites: Mapping[str, SuiteResult]
    unreadable_files: tuple[str, ...]

    @property
    def skipped(self) -> dict[str, str]:
        return {name: s.reason or "" for name, s in self.suites.items() if s.status == "skipped"}

    @property
    def failed(self) -> dict[str, str]:
        return {name: s.reason or "" for name, s in self.suites.items() if s.status == "failed"}

    @property
    def n_unreadable(self) -> int:
        return len(self.unreadable_files)

    def to_json(self) -> dict[str, Any]:
        """The ``results.json`` dict (keys in their historical order)."""
        return {
            "checkpoint": self.checkpoint,
            "checkpoint_sha256": self.checkpoint_sha256,
            "meta": dict(self.meta),
            "logits": self.logits,
            "linear_head": None if self.linear_head is None else self.linear_head.to_json(),
            "bn_adapt": self.bn_adapt,
            "bf16": self.bf16,
            "suites": {name: suite.to_json() for name, suite in self.suites.items()},
            "skipped": self.skipped,
            "failed": self.failed,
            "n_unreadable": self.n_unreadable,
            "unreadable_files": list(self.unreadable_files),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> EvalResults:
        head = data.get("linear_head")
        return cls(
            checkpoint=data["checkpoint"],
            checkpoint_sha256=data["checkpoint_sha256"],
            meta=dict(data.get("meta", {})),
            logits=int(data["logits"]),
            linear_head=None if head is None else LinearHeadInfo.from_json(head),
            bn_adapt=bool(data["bn_adapt"]),
            bf16=bool(data["bf16"]),
            suites={name: SuiteResult.from_json(s) for name, s in data["suites"].items()},
            unreadable_files=tuple(data.get("unreadable_files", ())),
        )

    # The dict interface ``run`` returned before it was typed; new code reads the fields above.
    def __getitem__(self, key: str) -> Any:
        return self.to_json()[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.to_json().get(key, default)
