"""bgaug.evals: the paper's evaluation protocols (linear, limited labels, kNN, transfer, BN adaptation)
and robustness suites (ImageNet-9 / BG-Gap, -A, -R, -C, -v2, ObjectNet, ReaL, FGSM, shape bias).

``python -m bgaug.evals run --checkpoint CKPT --data-root DIR --suites all --out DIR`` runs them all.
"""

from bgaug.evals.knn import knn_monitor, knn_predict, knn_top1

__all__ = ["knn_monitor", "knn_predict", "knn_top1"]
