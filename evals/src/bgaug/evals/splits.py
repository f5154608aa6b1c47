"""The fixed SimCLR 1% / 10% ImageNet label splits (Chen et al. 2020).

A split file lists one training file name per line (``n01440764_10026.JPEG``); the wnid prefix is the
class. Combined with an ImageNet ``train/{wnid}/`` tree it gives the labelled subset for the
limited-label protocols (12,811 images for 1%, 128,116 for 10%, all 1000 classes).
"""

from __future__ import annotations

from pathlib import Path

from bgaug.evals.datasets import LabelledImage
from bgaug.evals.tables import wnid_to_index


def read_split(path: str | Path) -> list[tuple[str, str]]:
    """(file name, wnid) per line of a SimCLR split file, in file order."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"split file not found: {p}")
    wnids = wnid_to_index()
    out: list[tuple[str, str]] = []
    for number, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
        name = line.strip()
        if not name:
            continue
        wnid = name.split("_", 1)[0]
        if wnid not in wnids:
            raise ValueError(f"{p}:{number}: {name!r} does not start with an ImageNet wnid")
        out.append((name, wnid))
    if not out:
        raise ValueError(f"{p}: empty split file")
    return out


def split_items(split: str | Path, train_root: str | Path) -> list[LabelledImage]:
    """The split's images under ``train_root/{wnid}/{name}``, labelled by ImageNet-1k index."""
    base = Path(train_root)
    if not base.is_dir():
        raise FileNotFoundError(f"ImageNet train folder not found: {base}")
    wnids = wnid_to_index()
    items = [LabelledImage(base / wnid / name, wnids[wnid]) for name, wnid in read_split(split)]
    missing = [str(i.path) for i in items if not i.path.is_file()]
    if missing:
        raise FileNotFoundError(f"{len(missing)} split files missing under {base}, e.g. {missing[0]}")
    return items
