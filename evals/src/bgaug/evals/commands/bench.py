"""inference throughput: bf16 vs fp32, feature cache vs recompute

Measures in one run, on in-memory random images (no JPEG decoding), the images/s of the whole
prediction pipeline (DataLoader workers, host-to-device copies, the model) in float32 and with
bfloat16 autocast, the same for the model alone on device-resident batches, and how much faster
cached linear-eval features load than recomputing them (``bgaug.evals.bench``). Defaults:
ResNet-50, 4096 images of 224 px on a GPU; resnet10_w16, 128 images of 64 px on the CPU. Prints the
results as JSON.
"""

from __future__ import annotations

import argparse

from bgaug.evals.commands.common import add_options, emit, eval_options, require_outputs


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--arch", default=None, help="backbone (default: resnet50 on GPU, resnet10_w16 on CPU)"
    )
    parser.add_argument(
        "--images", type=int, default=None, help="images per timing (default 4096 GPU / 128 CPU)"
    )
    parser.add_argument("--size", type=int, default=None, help="image side (default 224 GPU / 64 CPU)")
    add_options(parser)


def run_from_args(args: argparse.Namespace) -> int:
    from bgaug.evals.bench import bench

    options = eval_options(args)
    require_outputs(args)
    gpu = options.device.startswith("cuda")
    result = bench(
        args.arch or ("resnet50" if gpu else "resnet10_w16"),
        args.images or (4096 if gpu else 128),
        args.size or (224 if gpu else 64),
        options,
    )
    emit(result.to_json(), args.json)
    return 0
