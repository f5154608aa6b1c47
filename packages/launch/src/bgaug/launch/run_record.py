"""The record of a pretraining run, and its JSON: exactly the format of ``run.json``.

``pretrain.pretrain`` returns a ``RunRecord``; ``to_json()`` gives the dict written to ``run.json``
(and to ``bgaug pretrain --json``), ``from_json`` reads one back (``--resume``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class RunRecord:
    """A finished pretraining run: where it is, how many workers trained it, its final metrics, its
    config (``PretrainConfig.to_dict()``) and backbone; for a Ray run (``workers`` > 0) also where Ray
    keeps it (``storage``, ``name``) and the URI of its last reported checkpoint. An in-process run
    (``workers`` 0) has none of the three, and ``run.json`` then has no such keys."""

    workers: int
    out: Path
    metrics: Mapping[str, float]
    config: Mapping[str, Any]
    backbone: Path
    storage: str | None = None
    """Ray's storage path or URI (a local path, NFS, ``s3://...``); kept as written, not a ``Path``."""
    name: str | None = None
    checkpoint: str | None = None

    def __post_init__(self) -> None:
        ray_fields = {"storage": self.storage, "name": self.name, "checkpoint": self.checkpoint}
        given = [key for key, value in ray_fields.items() if value is not None]
        if given and len(given) != len(ray_fields):
            missing = sorted(set(ray_fields) - set(given))
            raise ValueError(f"a Ray run record needs storage, name and checkpoint; missing {missing}")

    @property
    def on_ray(self) -> bool:
        """Trained by Ray workers (not in this process)."""
        return self.storage is not None

    def to_json(self) -> dict[str, Any]:
        """The ``run.json`` dict (keys in their historical order; the Ray keys only for a Ray run)."""
        data: dict[str, Any] = {"workers": self.workers, "out": str(self.out)}
        if self.on_ray:
            data.update(storage=self.storage, name=self.name, checkpoint=self.checkpoint)
        data.update(metrics=dict(self.metrics), config=dict(self.config), backbone=str(self.backbone))
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunRecord:
        return cls(
            workers=int(data["workers"]),
            out=Path(data["out"]),
            metrics={key: float(value) for key, value in data.get("metrics", {}).items()},
            config=dict(data["config"]),
            backbone=Path(data["backbone"]),
            storage=data.get("storage"),
            name=data.get("name"),
            checkpoint=data.get("checkpoint"),
        )

    @classmethod
    def read(cls, path: str | Path) -> RunRecord:
        """A ``run.json`` file."""
        return cls.from_json(json.loads(Path(path).read_text(encoding="utf-8")))
