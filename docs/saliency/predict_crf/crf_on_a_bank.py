"""maxF of a bank's soft maps as they are and after ``crf_at_working_size`` (the refinement of
``predict --crf on``), to compare the CRF on hand-crafted maps. Usage: BANK IMAGES GT_MASKS"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from bgaug.core.io import load_image, load_mask
from bgaug.core.maskbank import DirectoryMaskBank
from bgaug.saliency.crf import crf_at_working_size
from bgaug.saliency.metrics import SaliencyScores, to_uint8


def main(bank_dir: str, images: Path, gt: Path) -> dict[str, float]:
    bank = DirectoryMaskBank(bank_dir)
    plain, refined = SaliencyScores(), SaliencyScores()
    for i in range(len(bank)):
        rel = bank.entry(i)["path"]
        soft = bank.soft_map(i)
        if soft is None:
            raise SystemExit(f"{bank_dir} keeps no soft maps (build it with --soft-maps)")
        saliency = np.asarray(soft, dtype=np.float64)
        image = load_image(images / rel)
        mask = load_mask(gt / Path(rel).with_suffix(".png"), size=saliency.shape)
        plain.add(to_uint8(saliency), mask)
        refined.add(to_uint8(crf_at_working_size(image, saliency)), mask)
    return {"bank": bank_dir, "max_f": plain.results()["max_f"], "max_f_crf": refined.results()["max_f"]}


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]))))
