"""MC: saliency via absorbing Markov chain (Jiang, Zhang, Lu, Yang, Yang; ICCV 2013).

Regions are transient states; copies of the border regions are absorbing states. Each region is
linked to its neighbours and its neighbours' neighbours, border regions to each other, and an absorbing
copy to the regions its original is linked to, with affinity w_ij = exp(-||x_i - x_j|| / sigma^2) on
normalised Lab means (sigma^2 = 0.1). The expected time to absorption, y = (I - Q)^-1 1 with Q the
transient-to-transient block of the row-normalised affinity, is high for regions far (in colour and
space) from the border: that is the saliency. (The paper's equilibrium-distribution re-weighting for
maps with large near-border objects is not implemented.)
"""

from __future__ import annotations

import numpy as np
from scipy import sparse
from scipy.sparse.linalg import spsolve

from bgaug.saliency.handcrafted.superpixels import normalize01, segment

N_SEGMENTS = 250
SIGMA2 = 0.1


def _normalised_lab(lab: np.ndarray) -> np.ndarray:
    lo, hi = lab.min(axis=0), lab.max(axis=0)
    out: np.ndarray = (lab - lo) / np.maximum(hi - lo, 1e-12)
    return out


def mc(image: np.ndarray) -> np.ndarray:
    """MC saliency map (H, W) float in [0, 1] of an RGB uint8 image."""
    sp = segment(image, N_SEGMENTS)
    n = sp.n
    adj = sp.adjacency.astype(np.float64)
    links = (adj + adj @ adj).astype(bool).tolil()
    bnd = np.flatnonzero(sp.boundary)
    links[np.ix_(bnd, bnd)] = True
    links.setdiag(False)
    links_csr = links.tocsr()
    links_csr.eliminate_zeros()
    x = _normalised_lab(sp.lab)
    coo = links_csr.tocoo()
    aff = np.exp(-np.linalg.norm(x[coo.row] - x[coo.col], axis=1) / SIGMA2)
    a_tt = sparse.csr_matrix((aff, (coo.row, coo.col)), shape=(n, n))
    # Absorbing copy k of border region bnd[k] links to what bnd[k] links to: columns bnd of a_tt.
    a_ta = a_tt[:, bnd]
    degree = np.asarray(a_tt.sum(axis=1)).ravel() + np.asarray(a_ta.sum(axis=1)).ravel()
    q = sparse.diags(1.0 / np.maximum(degree, 1e-12)) @ a_tt
    system = (sparse.identity(n, format="csc") - q).tocsc()
    absorbed_time = np.asarray(spsolve(system, np.ones(n)), dtype=np.float64)
    return normalize01(sp.to_pixels(absorbed_time))
