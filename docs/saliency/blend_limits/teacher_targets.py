"""How good the detector's targets are, scored on a stand-in's held-out scenes (docs/saliency.md,
"What holds the detector back on the blended stand-in").

For the hand-crafted banks given (built with ``--soft-maps``, the same images in the same order):
- ``fused``: maxF of the mean of the soft maps (each min-max normalised), for every subset of methods;
- ``at_training_size``: what a fit at ``SIZE`` px can learn from them. Each map is resized to the
  training square as ``fit`` resizes it (bilinear), then either binarised at 0.5 (fit's labels) and
  averaged over the methods (the vote fraction, which the BCE term of the loss fits), or averaged soft;
  the result is brought back to the scene's size bilinearly, as ``predict`` brings back a map.

Usage: python teacher_targets.py GT_MASKS SIZE BANK... > out.json
"""

from __future__ import annotations

import itertools
import json
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from bgaug.core.io import load_mask
from bgaug.core.maskbank import DirectoryMaskBank
from bgaug.saliency.metrics import SaliencyScores, to_uint8


def resized(a: np.ndarray | torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    t = torch.as_tensor(a, dtype=torch.float32)
    return F.interpolate(t[None, None], size=shape, mode="bilinear", align_corners=False)[0, 0]


def main(gt: Path, size: int, bank_dirs: list[str]) -> dict[str, object]:
    banks = [DirectoryMaskBank(b) for b in bank_dirs]
    names = [Path(b).name for b in bank_dirs]
    subsets = [s for k in range(1, len(names) + 1) for s in itertools.combinations(range(len(names)), k)]
    fused = {s: SaliencyScores() for s in subsets}
    small = {k: SaliencyScores() for k in ("votes", "soft_mean")}
    for i in range(len(banks[0])):
        rel = banks[0].entry(i)["path"]
        if any(b.entry(i)["path"] != rel for b in banks):
            raise SystemExit(f"banks list different images at entry {i}")
        maps = [np.asarray(b.soft_map(i), dtype=np.float64) for b in banks]
        mask = load_mask(gt / Path(rel).with_suffix(".png"), size=maps[0].shape)
        norm = [(m - m.min()) / max(m.max() - m.min(), 1e-8) for m in maps]
        for s in subsets:
            fused[s].add(to_uint8(np.mean([norm[j] for j in s], axis=0)), mask)
        square = [resized(m, (size, size)) for m in maps]
        votes = torch.stack([(t >= 0.5).float() for t in square]).mean(0)
        small["votes"].add(to_uint8(resized(votes, mask.shape).numpy()), mask)
        small["soft_mean"].add(to_uint8(resized(torch.stack(square).mean(0), mask.shape).numpy()), mask)
    return {
        "n_images": len(banks[0]),
        "fused": {"+".join(names[j] for j in s): fused[s].results()["max_f"] for s in subsets},
        "at_training_size": {"size": size, **{k: v.results()["max_f"] for k, v in small.items()}},
    }


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]), indent=2))
