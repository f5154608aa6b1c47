"""``python -m bgaug.evals bench``: evaluation throughput, measured in one run, printed as ratios.

Measures, on in-memory random images (no JPEG decoding): images/s of the whole ``predict`` pipeline
(DataLoader workers resizing, host-to-device copies, the model) in float32 and with bfloat16
autocast; the same for the model alone on device-resident batches; and the time to get linear-eval
features by recomputing them against reading the ``.npz`` cache.
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from bgaug.core.backbones import FEATURE_DIMS, build_resnet
from bgaug.core.interfaces import Classifier, Preprocess
from bgaug.evals.features import cached_features
from bgaug.evals.inference import EvalOptions, predict
from bgaug.evals.transfer import ArrayImageDataset


@dataclass(frozen=True)
class EvalBenchResult:
    """What ``bench`` measured: images/s and speed-ups; ``to_json()`` is the dict printed and written to
    ``--json``."""

    arch: str
    device: str
    images: int
    size: int
    fp32_images_per_s: float
    bf16_images_per_s: float
    bf16_speedup: float
    model_only_fp32_images_per_s: float
    model_only_bf16_speedup: float
    feature_cache_speedup: float

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)  # flat fields, in the order printed (tuples become JSON lists)


def _timed(fn: Any) -> float:
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - start


def bench(arch: str, images: int, size: int, options: EvalOptions) -> EvalBenchResult:
    if arch not in FEATURE_DIMS:
        raise ValueError(f"arch must be one of {', '.join(FEATURE_DIMS)}, got {arch!r}")
    torch.manual_seed(0)
    pre = Preprocess(resize=size, crop=size)
    model = Classifier(build_resnet(arch), nn.Linear(FEATURE_DIMS[arch], 1000), pre).eval()
    rng = np.random.default_rng(0)
    data = ArrayImageDataset(
        rng.integers(0, 256, (images, size, size, 3), dtype=np.uint8), rng.integers(0, 1000, images), pre
    )
    fp32 = dataclasses.replace(options, bf16=False, progress=False, bn_adapt=False)
    bf16 = dataclasses.replace(fp32, bf16=True)
    predict(model, data, fp32)  # warm-up: cudnn autotuning, worker start
    t32 = _timed(lambda: predict(model, data, fp32))
    t16 = _timed(lambda: predict(model, data, bf16))
    # The model alone on device-resident batches: what bf16 buys once input is not the bottleneck.
    batch = torch.rand(options.batch_size, 3, size, size, device=options.device)
    net = model.to(options.device)
    steps = max(1, images // options.batch_size)

    def forward(opts: EvalOptions) -> None:
        with torch.inference_mode(), opts.autocast():
            for _ in range(steps):
                net(batch)

    forward(bf16)
    m32 = _timed(lambda: forward(fp32))
    m16 = _timed(lambda: forward(bf16))
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp) / "f.npz"
        compute = _timed(lambda: cached_features(model.features, data, fp32, cache, {"bench": 1}))
        reread = _timed(lambda: cached_features(model.features, data, fp32, cache, {"bench": 1}))
    return EvalBenchResult(
        arch=arch,
        device=options.device,
        images=images,
        size=size,
        fp32_images_per_s=images / t32,
        bf16_images_per_s=images / t16,
        bf16_speedup=t32 / t16,
        model_only_fp32_images_per_s=steps * options.batch_size / m32,
        model_only_bf16_speedup=m32 / m16,
        feature_cache_speedup=compute / reread,
    )
