"""evaluate a checkpoint on every suite present under a data root

Evaluate a backbone checkpoint on the robustness suites. Each suite's data is looked up under
--data-root at its released name (or given with --path SUITE=PATH); absent ones are reported as
skipped. Writes results.json, results.md and results.png to --out. Suites: imagenet, real,
imagenet_v2, in9, imagenet_a, imagenet_a_only_fg, imagenet_r, imagenet_c, imagenet_c_on_the_fly,
objectnet, fgsm, shape_bias (--suites, default all).

A checkpoint without a linear head needs --train-data: a head is trained first with the linear
protocol (--linear-mode, default fast; appendix A.3) and saved as --out/classifier.pt. FGSM uses
l_inf eps 8/255 by default; on-the-fly ImageNet-C the 15 standard corruptions at severities 1-5;
--bn-adapt re-estimates BatchNorm statistics on each test set (appendix C.8). Prints one line per
suite; exit status 1 if a suite failed.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bgaug.core.errors import UsageError
from bgaug.core.io import atomic_write_json
from bgaug.evals.commands.common import add_options, add_overwrite, eval_options, require_outputs


def add_arguments(r: argparse.ArgumentParser) -> None:
    r.add_argument("--checkpoint", type=Path, required=True, help="backbone checkpoint (bgaug-backbone/1)")
    r.add_argument("--data-root", type=Path, default=None, help="folder holding the benchmarks")
    r.add_argument("--suites", default="all", help="comma-separated suites, or 'all' (default)")
    r.add_argument("--out", type=Path, required=True, help="output folder")
    r.add_argument(
        "--path", action="append", default=[], metavar="SUITE=PATH", help="data folder of one suite"
    )
    r.add_argument(
        "--real-labels", type=Path, default=None, help="ReaL real.json (default DATA_ROOT/real.json)"
    )
    r.add_argument(
        "--imagenet-a-masks", type=Path, default=None, help="mask folder mirroring ImageNet-A (Only-FG)"
    )
    r.add_argument(
        "--train-data", type=Path, default=None, help="ImageFolder train split for a missing linear head"
    )
    r.add_argument("--linear-mode", choices=("fast", "paper"), default="fast", help="linear protocol mode")
    r.add_argument("--linear-epochs", type=int, default=None, help="override the linear recipe's epochs")
    r.add_argument("--in9-mapping", choices=("auto", "imagenet", "identity"), default="auto")
    r.add_argument(
        "--fgsm-eps", type=float, default=8 / 255, help="FGSM l_inf epsilon in [0, 1] (default 8/255)"
    )
    r.add_argument("--fgsm-limit", type=int, default=None, help="attack only the first N images")
    r.add_argument("--corruptions", default=None, help="on-the-fly ImageNet-C corruptions (default: the 15)")
    r.add_argument("--severities", default="1,2,3,4,5", help="on-the-fly severities (default 1..5)")
    r.add_argument("--corrupt-limit", type=int, default=None, help="corrupt only the first N images")
    r.add_argument("--bn-adapt", action="store_true", help="adapt BatchNorm statistics to each test set")
    add_overwrite(
        r,
        "another checkpoint's results already in --out (results.json, results.md, results.png,"
        " classifier.pt). Without it such an --out is refused before any compute; re-running the same"
        " checkpoint (the sha256 recorded in --out/results.json) into the same --out needs no --overwrite",
    )
    add_options(r)


def _path_pairs(values: Sequence[str]) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for value in values:
        name, sep, path = value.partition("=")
        if not sep or not path:
            raise UsageError(f"--path expects SUITE=PATH, got {value!r}")
        out[name.strip()] = Path(path)
    return out


def _headline(entry: dict[str, Any]) -> str:
    """One line per evaluated suite for the terminal; results.json holds everything."""
    if "variants" in entry:
        parts = [f"{k} {v['top1']:.2f}" for k, v in entry["variants"].items()]
        if "bg_gap" in entry:
            parts.append(f"BG-Gap {entry['bg_gap']:.2f}")
        return "top-1 " + ", ".join(parts)
    if "shape_bias" in entry:
        return f"shape bias {entry['shape_bias']:.3f}"
    if "mean" in entry:
        return "mean top-1 " + ("-" if entry["mean"] is None else f"{entry['mean']:.2f}")
    return f"top-1 {entry['top1']:.2f}"


def run_from_args(args: argparse.Namespace) -> int:
    from bgaug.evals.runner import RunConfig, parse_suites, run
    from bgaug.evals.suites import imagenet_c

    corruptions = (
        [c.strip() for c in args.corruptions.split(",") if c.strip()]
        if args.corruptions
        else imagenet_c.STANDARD
    )
    try:
        severities = [int(s) for s in args.severities.split(",") if s.strip()]
    except ValueError:
        raise UsageError(f"--severities expects integers, got {args.severities!r}") from None
    options = eval_options(args, bn_adapt=args.bn_adapt)
    require_outputs(args)
    config = RunConfig(
        checkpoint=args.checkpoint,
        data_root=args.data_root,
        out=args.out,
        suites=parse_suites(args.suites),
        paths=_path_pairs(args.path),
        real_labels=args.real_labels,
        imagenet_a_masks=args.imagenet_a_masks,
        train_data=args.train_data,
        linear_mode=args.linear_mode,
        linear_epochs=args.linear_epochs,
        in9_mapping=args.in9_mapping,
        fgsm_epsilon=args.fgsm_eps,
        fgsm_limit=args.fgsm_limit,
        corruptions=corruptions,
        severities=severities,
        corrupt_limit=args.corrupt_limit,
        seed=args.seed,
        options=options,
        overwrite=args.overwrite,
    )
    results = run(config)  # checks every input and --out before any compute
    if args.json is not None:
        atomic_write_json(args.json, results.to_json())
    for name, suite in results.suites.items():
        if suite.ok:
            print(f"{name}: {_headline(suite.to_json())}")
        else:
            print(f"{name}: {suite.status}: {suite.reason}")
    if results.n_unreadable:
        print(f"unreadable image files: {results.n_unreadable} (listed in results.json)")
    print(f"results: {config.out / 'results.json'}")
    return 1 if results.failed else 0
