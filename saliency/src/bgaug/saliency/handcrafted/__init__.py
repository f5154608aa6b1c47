"""Hand-crafted unsupervised saliency: RBD, MC, DSR (three of DeepUSPS's four) and MB+ (in place of HS).

``METHODS`` maps a name to a function taking an RGB uint8 image (H, W, 3) and returning a float map
(H, W) in [0, 1]; every method is a pure, deterministic function of its image. Each runs at a bounded
working size (``working_size``: longest side 400, MB+ 300 as in its paper) and its map is upsampled
to the image's size, so time and memory per image stay bounded whatever the photograph's size.
``FULL_SIZE_METHODS`` are the same methods at the image's own size.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from bgaug.saliency.handcrafted.dsr import dsr
from bgaug.saliency.handcrafted.mbd import mbd
from bgaug.saliency.handcrafted.mc import mc
from bgaug.saliency.handcrafted.rbd import rbd
from bgaug.saliency.handcrafted.working_size import MB_PLUS_WORKING_SIDE, WORKING_SIDE, at_working_size

SaliencyFunction = Callable[[np.ndarray], np.ndarray]

FULL_SIZE_METHODS: dict[str, SaliencyFunction] = {"rbd": rbd, "mc": mc, "dsr": dsr, "mbd": mbd}

WORKING_SIDES: dict[str, int] = {
    "rbd": WORKING_SIDE,
    "mc": WORKING_SIDE,
    "dsr": WORKING_SIDE,
    "mbd": MB_PLUS_WORKING_SIDE,
}

METHODS: dict[str, SaliencyFunction] = {
    name: at_working_size(fn, WORKING_SIDES[name]) for name, fn in FULL_SIZE_METHODS.items()
}

__all__ = ["FULL_SIZE_METHODS", "METHODS", "WORKING_SIDES", "SaliencyFunction", "dsr", "mbd", "mc", "rbd"]
