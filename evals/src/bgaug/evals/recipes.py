"""Optimisation recipes of the evaluation protocols (paper appendix A.3, A.5.2, A.8/A.9).

Each learning rate is given for the recipe's ``batch_size`` and scaled linearly when a run uses
another batch size (``scaled_lr``). The per-method choices follow the protocols each method's authors
published, which the paper adopts: MoCo-v2 (He et al. / Chen et al.), BYOL (Grill et al. app. C),
SwAV (Caron et al. app. A), SimCLR (Chen et al.). Where the paper gives no method-specific recipe
(RotNet, supervised re-training, transfer), the MoCo-v2 linear recipe is used; change it here.
"""

from __future__ import annotations

from dataclasses import dataclass

from bgaug.core.config import check_choice, check_positive, check_range


@dataclass(frozen=True)
class Recipe:
    """SGD recipe; ``milestones`` apply with ``schedule == "step"`` (lr x ``gamma`` at each epoch)."""

    epochs: int
    batch_size: int
    lr: float
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 0.0
    schedule: str = "cosine"
    milestones: tuple[int, ...] = ()
    gamma: float = 0.1
    head_lr: float | None = None
    """Fine-tuning only: learning rate of the linear head (``lr`` is the trunk's)."""

    def __post_init__(self) -> None:
        check_positive("epochs", self.epochs)
        check_positive("batch_size", self.batch_size)
        check_positive("lr", self.lr)
        check_range("momentum", self.momentum, 0.0, 1.0)
        check_positive("weight_decay", self.weight_decay, allow_zero=True)
        check_choice("schedule", self.schedule, ("cosine", "step"))
        if self.head_lr is not None:
            check_positive("head_lr", self.head_lr)
        if any(not 0 < m < self.epochs for m in self.milestones):
            raise ValueError(f"milestones must lie in (0, {self.epochs}), got {self.milestones}")

    def scaled_lr(self, batch_size: int, lr: float | None = None) -> float:
        return (self.lr if lr is None else lr) * batch_size / self.batch_size


MOCO_LINEAR = Recipe(epochs=100, batch_size=256, lr=30.0, schedule="step", milestones=(60, 80))
LINEAR: dict[str, Recipe] = {
    "moco_v2": MOCO_LINEAR,
    "byol": Recipe(epochs=80, batch_size=1024, lr=0.4 * 4, nesterov=True),
    "swav": Recipe(epochs=100, batch_size=256, lr=0.3, weight_decay=1e-6),
    "simclr": Recipe(epochs=90, batch_size=4096, lr=0.1 * 16, nesterov=True),
    "rotnet": MOCO_LINEAR,
    "supervised": MOCO_LINEAR,
}
"""Linear evaluation with a frozen backbone (appendix A.3); RandomResizedCrop + flip for training."""

FAST_LINEAR = Recipe(epochs=100, batch_size=256, lr=0.3)
"""The fast mode's probe, the same for every method: SGD (momentum 0.9, cosine) on standardised
features. The published recipes' learning rates are tuned to each method's raw ImageNet features
(MoCo-v2's 30 to its tiny activations); on other backbones they diverge (the CPU demo's MoCo-v2
heads ended at training losses of 100-800). On standardised features of random, MoCo-v2 and BYOL
backbones, the final training loss fell steadily from LR 0.03 to 0.3, and at 1.0 it rose again for
BYOL. So 0.3, chosen by training loss, never by a test score."""

FINETUNE: dict[str, dict[str, Recipe]] = {
    # SwAV's semi-supervised recipe: trunk and head learning rates differ by orders of magnitude.
    "1pct": {
        "default": Recipe(
            epochs=20, batch_size=256, lr=0.02, head_lr=5.0, schedule="step", milestones=(12, 16), gamma=0.2
        ),
        "byol": Recipe(epochs=30, batch_size=1024, lr=0.02 * 4, head_lr=5.0 * 4, nesterov=True),
    },
    "10pct": {
        "default": Recipe(
            epochs=20, batch_size=256, lr=0.01, head_lr=0.2, schedule="step", milestones=(12, 16), gamma=0.2
        ),
        "byol": Recipe(epochs=20, batch_size=1024, lr=0.01 * 4, head_lr=0.2 * 4, nesterov=True),
    },
}
"""Fine-tuning on the 1% / 10% label splits (appendix A.5.2)."""


def linear_recipe(method: str | None) -> Recipe:
    return LINEAR.get(method or "", MOCO_LINEAR)


def finetune_recipe(fraction: str, method: str | None) -> Recipe:
    check_choice("fraction", fraction, tuple(FINETUNE))
    table = FINETUNE[fraction]
    return table.get(method or "", table["default"])
