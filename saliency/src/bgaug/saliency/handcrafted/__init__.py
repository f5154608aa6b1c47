"""Hand-crafted unsupervised saliency: RBD, MC, DSR (three of DeepUSPS's four) and MB+ (in place of HS).

``METHODS`` maps a name to a function taking an RGB uint8 image (H, W, 3) and returning a float map
(H, W) in [0, 1]; every method is a pure, deterministic function of its image.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from bgaug.saliency.handcrafted.dsr import dsr
from bgaug.saliency.handcrafted.mbd import mbd
from bgaug.saliency.handcrafted.mc import mc
from bgaug.saliency.handcrafted.rbd import rbd

SaliencyFunction = Callable[[np.ndarray], np.ndarray]

METHODS: dict[str, SaliencyFunction] = {"rbd": rbd, "mc": mc, "dsr": dsr, "mbd": mbd}

__all__ = ["METHODS", "SaliencyFunction", "dsr", "mbd", "mc", "rbd"]
