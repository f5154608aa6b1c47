"""``python -m bgaug.ssl_methods bench``: training-step speed of every method on synthetic views.

Each timed step is a full training step (forward, backward, optimiser step, ``on_step_end``) on
random ``ViewBatch`` tensors. The BG_Swaps cost is measured as the ratio of MoCo-v2 step times with
and without matched negatives (``round(p_neg * batch)`` rows per step, the expected count at
``p_neg``), the two variants alternating step by step in one run so that each pair of adjacent steps
shares the machine's load; the median of the per-pair ratios is printed last.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import Tensor

from bgaug.core.errors import UsageError
from bgaug.core.interfaces import TrainProgress, ViewBatch
from bgaug.core.io import atomic_write_json
from bgaug.core.preflight import check_json_out
from bgaug.ssl_methods.methods.base import Method
from bgaug.ssl_methods.optim import build_optimizer
from bgaug.ssl_methods.registry import METHODS, build_method
from bgaug.ssl_methods.training import resolve_device

CPU_HEADS: dict[str, dict[str, Any]] = {
    "moco_v2": {"hidden_dim": 512, "out_dim": 128, "queue_size": 4096},
    "byol": {"hidden_dim": 512, "out_dim": 128},
    "swav": {"hidden_dim": 512, "out_dim": 128, "n_prototypes": 300},
    "simclr": {"hidden_dim": 512, "out_dim": 128},
    "rotnet": {},
    "supervised": {},
}
"""Head widths for the CPU run (a small model); on CUDA every method uses the paper's widths."""
OPTIMIZERS = {"byol": "lars", "swav": "lars", "simclr": "lars"}


@dataclass(frozen=True)
class MethodTiming:
    """One method's training-step speed: the median over the timed steps."""

    step_ms: float
    steps_per_s: float
    images_per_s: float

    def to_json(self) -> dict[str, float]:
        return {"step_ms": self.step_ms, "steps_per_s": self.steps_per_s, "images_per_s": self.images_per_s}


@dataclass(frozen=True)
class BgSwapsTiming:
    """MoCo-v2 step times with and without BG_Swaps matched negatives; ``ratio`` is the median of the
    per-pair ratios (the number printed last)."""

    p_neg: float
    matched_negatives_per_step: int
    moco_v2_step_ms: float
    bg_swaps_step_ms: float
    ratio: float
    ratio_of_medians: float
    ratio_of_minimums: float
    pairs: int

    def to_json(self) -> dict[str, Any]:
        return {
            "p_neg": self.p_neg,
            "matched_negatives_per_step": self.matched_negatives_per_step,
            "moco_v2_step_ms": self.moco_v2_step_ms,
            "bg_swaps_step_ms": self.bg_swaps_step_ms,
            "ratio": self.ratio,
            "ratio_of_medians": self.ratio_of_medians,
            "ratio_of_minimums": self.ratio_of_minimums,
            "pairs": self.pairs,
        }


@dataclass(frozen=True)
class SslBenchResult:
    """The bench's setup, the step speed per method (keyed ``name`` or ``name+compile``, in the order
    measured) and, once measured, the BG_Swaps cost; ``to_json()`` is the dict written to ``--json``
    (without ``bg_swaps`` until it is measured)."""

    device: str
    threads: int
    torch: str
    arch: str
    small_stem: bool
    batch_size: int
    image_size: int
    amp_bf16: bool
    channels_last: bool
    methods: Mapping[str, MethodTiming]
    bg_swaps: BgSwapsTiming | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "device": self.device,
            "threads": self.threads,
            "torch": self.torch,
            "arch": self.arch,
            "small_stem": self.small_stem,
            "batch_size": self.batch_size,
            "image_size": self.image_size,
            "amp_bf16": self.amp_bf16,
            "channels_last": self.channels_last,
            "methods": {key: timing.to_json() for key, timing in self.methods.items()},
        }
        if self.bg_swaps is not None:
            data["bg_swaps"] = self.bg_swaps.to_json()
        return data


def synthetic_batch(
    method: str,
    batch_size: int,
    image_size: int,
    device: torch.device,
    g: torch.Generator,
    n_matched: int = 0,
) -> ViewBatch:
    """Random normalised views shaped as the method's pipeline would make them."""

    def img(n: int, size: int) -> Tensor:
        return torch.randn(n, 3, size, size, generator=g).to(device)

    b = batch_size
    views: tuple[Tensor, ...] = (img(b, image_size), img(b, image_size))
    if method == "swav":  # multi-crop: 2 global + 6 local crops at 96/224 of the global size
        local = max(8, image_size * 96 // 224)
        views = (*views, *(img(b, local) for _ in range(6)))
    matched = rows = None
    if n_matched:
        matched = img(n_matched, image_size)
        rows = torch.randperm(b, generator=g)[:n_matched].to(device)
    return ViewBatch(
        views=views,
        n_global=2,
        matched_negatives=matched,
        matched_rows=rows,
        labels=torch.randint(0, 1000, (b,), generator=g).to(device),
        rotations=torch.randint(0, 4, (b,), generator=g).to(device),
    )


def make_step(
    method: Method, device: torch.device, amp: bool, compiled: bool
) -> Callable[[ViewBatch, int], None]:
    """One full training step ``step(batch, i)``: forward (bf16 autocast when ``amp``), backward,
    optimiser step, ``on_step_end``. ``compiled``: ``torch.compile`` the method; the number of
    BG_Swaps matched negatives varies from step to step, so that dimension is compiled dynamic
    (one graph for every count, not a recompile per count; counts 0 and 1 are specialised by
    dynamo whatever is marked, so they are left static)."""
    optimizer = build_optimizer(
        method, OPTIMIZERS.get(method.name, "sgd"), lr=0.01, momentum=0.9, weight_decay=1e-6
    )
    forward: Callable[[ViewBatch], Any] = torch.compile(method) if compiled else method

    def step(batch: ViewBatch, i: int) -> None:
        negatives, rows = batch.matched_negatives, batch.matched_rows
        if compiled and negatives is not None and rows is not None and negatives.shape[0] >= 2:
            torch._dynamo.mark_dynamic(negatives, 0)
            torch._dynamo.mark_dynamic(rows, 0)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            loss = forward(batch).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        method.on_step_end(TrainProgress(i + 1, 10_000, 0, 100))

    return step


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(step: Callable[[ViewBatch, int], None], batch: ViewBatch, i: int, device: torch.device) -> float:
    _sync(device)
    start = time.perf_counter()
    step(batch, i)
    _sync(device)
    return time.perf_counter() - start


def _build(name: str, args: argparse.Namespace, device: torch.device) -> Method:
    torch.manual_seed(0)
    options = dict(CPU_HEADS[name]) if device.type == "cpu" else {}
    method = build_method(name, arch=args.arch, small_stem=args.small_stem, num_classes=1000, **options)
    method.to(device)
    if args.channels_last:
        method.to(memory_format=torch.channels_last)  # type: ignore[call-arg]
    return method.train()


def bench_method(name: str, args: argparse.Namespace, device: torch.device, compiled: bool) -> MethodTiming:
    method = _build(name, args, device)
    step = make_step(method, device, args.amp, compiled)
    g = torch.Generator().manual_seed(0)
    batch = synthetic_batch(name, args.batch_size, args.image_size, device, g)
    for i in range(args.warmup):
        step(batch, i)
    times = [_timed(step, batch, args.warmup + i, device) for i in range(args.steps)]
    median = statistics.median(times)
    return MethodTiming(step_ms=1000 * median, steps_per_s=1 / median, images_per_s=args.batch_size / median)


def bench_bg_swaps(args: argparse.Namespace, device: torch.device, compiled: bool) -> BgSwapsTiming:
    """Median over adjacent step pairs of time(MoCo-v2 + BG_Swaps) / time(MoCo-v2)."""
    method = _build("moco_v2", args, device)
    step = make_step(method, device, args.amp, compiled)
    g = torch.Generator().manual_seed(1)
    n_matched = round(args.p_neg * args.batch_size)
    plain = synthetic_batch("moco_v2", args.batch_size, args.image_size, device, g)
    swaps = synthetic_batch("moco_v2", args.batch_size, args.image_size, device, g, n_matched)
    for i in range(args.warmup):
        step(plain, i)
        step(swaps, i)
    t_plain: list[float] = []
    t_swaps: list[float] = []
    for i in range(args.pairs):
        # Adjacent steps share the machine's load; flipping the order cancels any order effect.
        first, second = (plain, swaps) if i % 2 == 0 else (swaps, plain)
        a, b = _timed(step, first, i, device), _timed(step, second, i, device)
        t_plain.append(a if first is plain else b)
        t_swaps.append(b if first is plain else a)
    ratios = [s / p for s, p in zip(t_swaps, t_plain, strict=True)]
    return BgSwapsTiming(
        p_neg=args.p_neg,
        matched_negatives_per_step=n_matched,
        moco_v2_step_ms=1000 * statistics.median(t_plain),
        bg_swaps_step_ms=1000 * statistics.median(t_swaps),
        ratio=statistics.median(ratios),
        ratio_of_medians=statistics.median(t_swaps) / statistics.median(t_plain),
        ratio_of_minimums=min(t_swaps) / min(t_plain),
        pairs=args.pairs,
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON to FILE")
    parser.add_argument("--device", default="auto", help="cpu, cuda[:N] or auto (default: auto)")
    parser.add_argument("--methods", default=",".join(METHODS), help="comma-separated methods (default: all)")
    parser.add_argument("--arch", default=None, help="backbone (default: resnet18 on CPU, resnet50 on CUDA)")
    parser.add_argument("--batch-size", type=int, default=None, help="default: 32 on CPU, 256 on CUDA")
    parser.add_argument("--image-size", type=int, default=None, help="default: 64 on CPU, 224 on CUDA")
    parser.add_argument(
        "--small-stem", action="store_true", help="3x3 stem without max-pool (for 32-96 px inputs)"
    )
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--steps", type=int, default=None, help="timed steps per method (default 5 / 20)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first (default 2)")
    parser.add_argument(
        "--pairs", type=int, default=30, help="timed (BG_Swaps, baseline) step pairs (default 30)"
    )
    parser.add_argument("--p-neg", type=float, default=0.2, help="BG_Swaps p_neg (default 0.2)")
    parser.add_argument(
        "--compile", choices=("no", "yes", "both"), default=None, help="torch.compile (default: no / both)"
    )


def _fill_defaults(args: argparse.Namespace, device: torch.device) -> None:
    cuda = device.type == "cuda"
    defaults = {
        "arch": "resnet50" if cuda else "resnet18",
        "batch_size": 256 if cuda else 32,
        "image_size": 224 if cuda else 64,
        "steps": 20 if cuda else 5,
    }
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    args.compile = args.compile or ("both" if cuda else "no")
    args.amp = cuda
    args.channels_last = cuda
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = sorted(set(methods) - set(METHODS))
    if unknown or not methods:
        raise UsageError(f"--methods must name some of {', '.join(METHODS)}, got {args.methods!r}")
    args.method_list = methods
    if args.threads is not None:
        if args.threads <= 0:
            raise UsageError("--threads must be > 0")
        torch.set_num_threads(args.threads)
    for name in ("batch_size", "image_size", "steps", "pairs"):
        if getattr(args, name) <= 0:
            raise UsageError(f"--{name.replace('_', '-')} must be > 0")
    if args.warmup < 0 or not 0 < args.p_neg <= 1:
        raise UsageError("--warmup must be >= 0 and --p-neg in (0, 1]")


def run(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    device = resolve_device(args.device)
    check_json_out(args.json)
    _fill_defaults(args, device)
    modes = {"no": [False], "yes": [True], "both": [False, True]}[args.compile]
    result = SslBenchResult(
        device=torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        threads=torch.get_num_threads(),
        torch=torch.__version__,
        arch=args.arch,
        small_stem=args.small_stem,
        batch_size=args.batch_size,
        image_size=args.image_size,
        amp_bf16=args.amp,
        channels_last=args.channels_last,
        methods={},
    )
    jobs = [(name, compiled) for compiled in modes for name in args.method_list]
    for name, compiled in tqdm(jobs, desc="bench", unit="method"):
        key = f"{name}{'+compile' if compiled else ''}"
        r = bench_method(name, args, device, compiled)
        result = replace(result, methods={**result.methods, key: r})
        tqdm.write(f"{key:<22} {r.steps_per_s:8.2f} steps/s  {r.step_ms:9.1f} ms/step")
        if args.json:  # written as it goes, so a long (compiled) run that is cut short keeps its numbers
            atomic_write_json(args.json, result.to_json())
    swaps = bench_bg_swaps(args, device, compiled=modes[-1])
    result = replace(result, bg_swaps=swaps)
    if args.json:
        atomic_write_json(args.json, result.to_json())
    print(
        f"MoCo-v2 + BG_Swaps (p_neg {swaps.p_neg}) / MoCo-v2 step time: {swaps.ratio:.3f} "
        f"({swaps.bg_swaps_step_ms:.1f} / {swaps.moco_v2_step_ms:.1f} ms, "
        f"median of {swaps.pairs} step pairs)"
    )
    return 0
