from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import Dataset

from bgaug.core.interfaces import Classifier, Preprocess
from bgaug.evals.datasets import Sample
from bgaug.evals.inference import EvalOptions
from bgaug.evals.suites.fgsm import fgsm_accuracy

OPTS = EvalOptions(batch_size=32, workers=0, device="cpu", progress=False)


class Patterns(Dataset[Sample]):
    """Two classes: a fixed +/- low-contrast pattern on mid-gray, plus noise."""

    def __init__(self, n: int, seed: int):
        g = torch.Generator().manual_seed(seed)
        pattern = torch.randn(3, 8, 8, generator=torch.Generator().manual_seed(99)).sign()
        self.labels = torch.randint(0, 2, (n,), generator=g)
        sign = (self.labels * 2 - 1).float().view(-1, 1, 1, 1)
        noise = 0.01 * torch.randn(n, 3, 8, 8, generator=g)
        self.images = (0.5 + 0.02 * sign * pattern + noise).clamp(0, 1)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> Sample:
        return self.images[i], int(self.labels[i]), True, i


def _trained_model() -> tuple[Classifier, Patterns]:
    torch.manual_seed(0)
    train = Patterns(256, seed=1)
    model = Classifier(nn.Flatten(), nn.Linear(192, 2), Preprocess(resize=8, crop=8))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    for _ in range(50):
        loss = nn.functional.cross_entropy(model(train.images), train.labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval(), Patterns(128, seed=2)


def test_fgsm_lowers_accuracy_and_eps_zero_changes_nothing() -> None:
    model, test = _trained_model()
    attacked = fgsm_accuracy(model, test, OPTS)
    assert attacked["clean_top1"] > 95.0
    assert attacked["top1"] < attacked["clean_top1"] - 50.0
    unchanged = fgsm_accuracy(model, test, OPTS, epsilon=0.0)
    assert unchanged["top1"] == unchanged["clean_top1"] == attacked["clean_top1"]
    limited = fgsm_accuracy(model, test, OPTS, limit=10)
    assert limited["n"] == 10
