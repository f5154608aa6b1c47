from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import Dataset

from bgaug.core.interfaces import Classifier, Preprocess
from bgaug.evals.bn_adapt import adapt_batchnorm
from bgaug.evals.datasets import Sample
from bgaug.evals.inference import EvalOptions

OPTS = EvalOptions(batch_size=16, workers=0, device="cpu", progress=False)


class Shifted(Dataset[Sample]):
    def __init__(self) -> None:
        self.images = (
            0.8 + 0.05 * torch.randn(64, 3, 4, 4, generator=torch.Generator().manual_seed(0))
        ).clamp(0, 1)

    def __len__(self) -> int:
        return 64

    def __getitem__(self, i: int) -> Sample:
        return self.images[i], 0, True, i


def test_statistics_become_those_of_the_test_set_and_the_original_is_untouched() -> None:
    bn = nn.BatchNorm2d(3)
    model = Classifier(
        nn.Sequential(bn, nn.AdaptiveAvgPool2d(1)), nn.Identity(), Preprocess(resize=4, crop=4)
    )
    data = Shifted()
    adapted = adapt_batchnorm(model, data, OPTS)
    expected = model.normalize(data.images).mean(dim=(0, 2, 3))
    adapted_bn = adapted.backbone[0]
    assert torch.allclose(adapted_bn.running_mean, expected, atol=1e-4)
    assert torch.equal(bn.running_mean, torch.zeros(3))  # original unchanged
    assert not adapted.training
