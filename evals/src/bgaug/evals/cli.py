"""Command line: ``python -m bgaug.evals {run,linear,finetune,knn,transfer,real-score,bench} ...``.

Every command checks its device, its input paths and where it will write before it loads a model,
so bad input costs one line and exit status 2 (``bgaug.core.cli.run_cli``), never a traceback or an
hour of compute.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bgaug.core.cli import run_cli
from bgaug.core.errors import UsageError
from bgaug.core.io import atomic_write_json, sha256_file
from bgaug.core.preflight import check_input_file, check_input_folder, check_new_file, check_writable
from bgaug.evals.features import checkpoint_key
from bgaug.evals.inference import EvalOptions, default_workers
from bgaug.evals.runner import SUITES


def _add_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("inference")
    g.add_argument("--batch-size", type=int, default=256, help="images per batch (default 256)")
    g.add_argument("--workers", type=int, default=default_workers(), help="DataLoader workers")
    g.add_argument(
        "--device", default=None, help="torch device, checked first (default: cuda if available, else cpu)"
    )
    g.add_argument("--bf16", action="store_true", help="bfloat16 autocast for inference")
    g.add_argument("--no-progress", action="store_true", help="hide progress bars")
    g.add_argument("--seed", type=int, default=0, help="seed of shuffles, crops and corruptions")
    g.add_argument(
        "--json",
        type=Path,
        default=None,
        help="also write the results to this JSON file (replaced if present)",
    )


def _options(args: argparse.Namespace, **extra: Any) -> EvalOptions:
    kwargs: dict[str, Any] = {
        "batch_size": args.batch_size,
        "workers": args.workers,
        "bf16": args.bf16,
        "progress": not args.no_progress,
        **extra,
    }
    if args.device:
        kwargs["device"] = args.device
    return EvalOptions(**kwargs)


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _require_inputs(args: argparse.Namespace, files: Sequence[str] = (), dirs: Sequence[str] = ()) -> None:
    """Every input path the user gave (by argparse name) exists, before anything is loaded."""
    for name in files:
        if getattr(args, name) is not None:
            check_input_file(getattr(args, name), _flag(name))
    for name in dirs:
        if getattr(args, name) is not None:
            check_input_folder(getattr(args, name), _flag(name))


def _require_outputs(args: argparse.Namespace, *, cache: bool = False, out_file: bool = False) -> None:
    """``--json`` (and ``--cache`` / ``--out`` where the command has them) can be written; an existing
    ``--out`` file is refused unless ``--overwrite``. ``--json`` is a copy of the printed results, so
    it is replaced."""
    if args.json is not None:
        check_new_file(args.json, "--json", overwrite=True)
    if cache and args.cache is not None:
        check_writable(args.cache, "--cache")
    if out_file and args.out is not None:
        check_new_file(args.out, "--out", overwrite=args.overwrite)


def _add_overwrite(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--overwrite", action="store_true", help=f"replace {what}")


def _path_pairs(values: Sequence[str]) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for value in values:
        name, sep, path = value.partition("=")
        if not sep or not path:
            raise UsageError(f"--path expects SUITE=PATH, got {value!r}")
        out[name.strip()] = Path(path)
    return out


def _emit(result: dict[str, Any], json_path: Path | None) -> None:
    if json_path is not None:
        atomic_write_json(json_path, result)
    print(json.dumps(result, indent=2, sort_keys=True, default=str))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bgaug.evals",
        description="bgaug evaluation: linear, limited-label, kNN and transfer protocols; robustness suites.",
    )
    sub = parser.add_subparsers(dest="command")

    r = sub.add_parser(
        "run",
        help="evaluate a checkpoint on every suite present under a data root",
        description=(
            "Evaluate a backbone checkpoint on the robustness suites. Each suite's data is looked up under"
            " --data-root at its released name (or given with --path SUITE=PATH); absent ones are reported as"
            " skipped. Writes results.json, results.md and results.png to --out. Suites: " + ", ".join(SUITES)
        ),
    )
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
    _add_overwrite(
        r,
        "another checkpoint's results already in --out (results.json, results.md, results.png,"
        " classifier.pt). Without it such an --out is refused before any compute; re-running the same"
        " checkpoint (the sha256 recorded in --out/results.json) into the same --out needs no --overwrite",
    )
    _add_options(r)

    lin = sub.add_parser("linear", help="linear evaluation of a frozen backbone (appendix A.3)")
    lin.add_argument("--checkpoint", type=Path, required=True)
    lin.add_argument("--train", type=Path, default=None, help="ImageFolder train split")
    lin.add_argument(
        "--split", type=Path, default=None, help="SimCLR 1%%/10%% split file (with --imagenet-train)"
    )
    lin.add_argument("--imagenet-train", type=Path, default=None, help="ImageNet train/{wnid}/ folder")
    lin.add_argument("--val", type=Path, required=True, help="ImageFolder (or wnid) validation split")
    lin.add_argument("--mode", choices=("fast", "paper"), default="fast")
    lin.add_argument("--method", default=None, help="recipe (default: the checkpoint's method)")
    lin.add_argument("--epochs", type=int, default=None)
    lin.add_argument("--cache", type=Path, default=None, help="feature cache folder (fast mode)")
    lin.add_argument("--out", type=Path, default=None, help="write the checkpoint with its new head here")
    _add_overwrite(lin, "an existing --out file")
    _add_options(lin)

    ft = sub.add_parser("finetune", help="fine-tune on the 1%% / 10%% label splits (appendix A.5.2)")
    ft.add_argument("--checkpoint", type=Path, required=True)
    ft.add_argument("--split", type=Path, required=True, help="SimCLR split file")
    ft.add_argument("--fraction", choices=("1pct", "10pct"), required=True)
    ft.add_argument("--imagenet-train", type=Path, required=True, help="ImageNet train/{wnid}/ folder")
    ft.add_argument("--val", type=Path, required=True, help="ImageNet val in wnid folders")
    ft.add_argument("--method", default=None)
    ft.add_argument("--epochs", type=int, default=None)
    ft.add_argument("--out", type=Path, default=None, help="write the fine-tuned checkpoint here")
    _add_overwrite(ft, "an existing --out file")
    _add_options(ft)

    kn = sub.add_parser("knn", help="weighted kNN top-1 (k=20, 200; T=0.07) on frozen features")
    kn.add_argument("--checkpoint", type=Path, required=True)
    kn.add_argument("--train", type=Path, required=True, help="ImageFolder train split")
    kn.add_argument("--val", type=Path, required=True, help="ImageFolder validation split")
    kn.add_argument("--k", default="20,200", help="comma-separated k values")
    kn.add_argument("--temperature", type=float, default=0.07)
    _add_options(kn)

    tr = sub.add_parser("transfer", help="linear transfer to CIFAR-10/100 or an ImageFolder data set")
    tr.add_argument("--checkpoint", type=Path, required=True)
    tr.add_argument("--source", choices=("cifar10", "cifar100", "folder"), required=True)
    tr.add_argument(
        "--root", type=Path, required=True, help="data set root (torchvision layout or train/ val/)"
    )
    tr.add_argument("--method", default=None)
    tr.add_argument("--epochs", type=int, default=None)
    tr.add_argument("--cache", type=Path, default=None)
    _add_options(tr)

    be = sub.add_parser("bench", help="inference throughput: bf16 vs fp32, feature cache vs recompute")
    from bgaug.evals import bench

    bench.add_arguments(be)
    _add_options(be)

    rs = sub.add_parser("real-score", help="score a prediction file against ReaL labels")
    rs.add_argument(
        "--predictions", type=Path, required=True, help='JSON {"ILSVRC2012_val_00000001.JPEG": idx}'
    )
    rs.add_argument("--real", type=Path, required=True, help="real.json")
    rs.add_argument("--json", type=Path, default=None)
    return parser


def cmd_run(args: argparse.Namespace) -> int:
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
    options = _options(args, bn_adapt=args.bn_adapt)
    _require_outputs(args)
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


def _backbone(args: argparse.Namespace) -> tuple[Any, Any, dict[str, Any]]:
    from bgaug.core.backbones import load_backbone
    from bgaug.core.interfaces import Preprocess

    backbone, state = load_backbone(args.checkpoint)
    p = state["preprocess"]
    pre = Preprocess(resize=int(p["resize"]), crop=int(p["crop"]), mean=tuple(p["mean"]), std=tuple(p["std"]))
    return backbone, pre, state


def cmd_linear(args: argparse.Namespace) -> int:
    from bgaug.core.backbones import save_backbone
    from bgaug.evals.datasets import imagefolder_items, labelled_by_wnid_or_folder
    from bgaug.evals.linear import train_linear
    from bgaug.evals.recipes import linear_recipe
    from bgaug.evals.splits import split_items

    options = _options(args)
    if args.split is not None and args.imagenet_train is None:
        raise UsageError("--split needs --imagenet-train")
    if args.split is None and args.train is None:
        raise UsageError("give --train DIR or --split FILE --imagenet-train DIR")
    _require_inputs(args, files=("checkpoint", "split"), dirs=("train", "imagenet_train", "val"))
    _require_outputs(args, cache=True, out_file=True)
    backbone, pre, state = _backbone(args)
    if args.split is not None:
        items, classes = split_items(args.split, args.imagenet_train), 1000
    else:
        items, names = imagefolder_items(args.train)
        classes = len(names)
    val_items, _ = labelled_by_wnid_or_folder(args.val, classes)
    method = args.method or state.get("meta", {}).get("method")
    result = train_linear(
        backbone,
        pre,
        items,
        classes,
        linear_recipe(method),
        options,
        val_items=val_items,
        mode=args.mode,
        epochs=args.epochs,
        batch_size=min(args.batch_size, len(items)),
        cache_dir=args.cache,
        cache_key=checkpoint_key(sha256_file(args.checkpoint)),
        seed=args.seed,
    )
    summary = {
        "method_recipe": method or "default",
        "n_train": len(items),
        "classes": classes,
        **result.summary(),
    }
    if args.out is not None:
        save_backbone(
            args.out,
            backbone,
            arch=str(state["arch"]),
            small_stem=bool(state["small_stem"]),
            head=result.head,
            preprocess=pre,
            meta={**state.get("meta", {}), "linear_eval": summary},
        )
    _emit(summary, args.json)
    return 0


def cmd_finetune(args: argparse.Namespace) -> int:
    from torch import nn

    from bgaug.core.backbones import save_backbone
    from bgaug.evals.datasets import ImageListDataset, labelled_by_wnid_or_folder
    from bgaug.evals.finetune import finetune
    from bgaug.evals.inference import predict
    from bgaug.evals.recipes import finetune_recipe
    from bgaug.evals.splits import split_items

    options = _options(args)
    _require_inputs(args, files=("checkpoint", "split"), dirs=("imagenet_train", "val"))
    _require_outputs(args, out_file=True)
    backbone, pre, state = _backbone(args)
    items = split_items(args.split, args.imagenet_train)
    method = args.method or state.get("meta", {}).get("method")
    model, losses, unreadable = finetune(
        backbone,
        pre,
        items,
        1000,
        finetune_recipe(args.fraction, method),
        options,
        batch_size=min(args.batch_size, len(items)),
        epochs=args.epochs,
        seed=args.seed,
    )
    val_items, _ = labelled_by_wnid_or_folder(args.val, 1000)
    outcome = predict(model, ImageListDataset(val_items, pre), options, desc="val")
    all_unreadable = sorted(set(unreadable) | set(outcome.unreadable))
    summary = {
        "fraction": args.fraction,
        "n_train": len(items),
        "final_train_loss": losses[-1],
        "val_top1": outcome.top1,
        "n_unreadable": len(all_unreadable),
        "unreadable_files": all_unreadable,
    }
    if args.out is not None:
        assert isinstance(model.head, nn.Linear)
        save_backbone(
            args.out,
            model.backbone,
            arch=str(state["arch"]),
            small_stem=bool(state["small_stem"]),
            head=model.head,
            preprocess=pre,
            meta={**state.get("meta", {}), "finetune": summary},
        )
    _emit(summary, args.json)
    return 0


def cmd_knn(args: argparse.Namespace) -> int:
    from torch import nn

    from bgaug.core.interfaces import Classifier
    from bgaug.evals.datasets import ImageListDataset, imagefolder_items
    from bgaug.evals.inference import extract_features
    from bgaug.evals.knn import knn_monitor

    try:
        ks = [int(k) for k in args.k.split(",")]
    except ValueError:
        raise UsageError(f"--k expects integers, got {args.k!r}") from None
    options = _options(args)
    _require_inputs(args, files=("checkpoint",), dirs=("train", "val"))
    _require_outputs(args)
    backbone, pre, _ = _backbone(args)
    model = Classifier(backbone, nn.Identity(), pre).to(options.device).eval()
    train, _ = imagefolder_items(args.train)
    val, _ = imagefolder_items(args.val)
    xt, yt, bad_train = extract_features(
        model.features, ImageListDataset(train, pre), options, "train features"
    )
    xv, yv, bad_val = extract_features(model.features, ImageListDataset(val, pre), options, "val features")
    result = knn_monitor(xt, yt, xv, yv, ks=ks, temperature=args.temperature)
    unreadable = sorted(set(bad_train) | set(bad_val))
    counts = {
        "n_train": len(yt),
        "n_val": len(yv),
        "n_unreadable": len(unreadable),
        "unreadable_files": unreadable,
    }
    _emit({**result, **counts, "temperature": args.temperature}, args.json)
    return 0


def cmd_transfer(args: argparse.Namespace) -> int:
    from bgaug.evals.recipes import linear_recipe
    from bgaug.evals.transfer import linear_transfer

    options = _options(args)
    _require_inputs(args, files=("checkpoint",), dirs=("root",))
    _require_outputs(args, cache=True)
    backbone, pre, state = _backbone(args)
    method = args.method or state.get("meta", {}).get("method")
    result = linear_transfer(
        backbone,
        pre,
        args.source,
        args.root,
        linear_recipe(method),
        options,
        cache_dir=args.cache,
        cache_key=checkpoint_key(sha256_file(args.checkpoint)),
        batch_size=args.batch_size,
        epochs=args.epochs,
        seed=args.seed,
    )
    _emit(result, args.json)
    return 0


def cmd_real_score(args: argparse.Namespace) -> int:
    from bgaug.evals.suites.real import load_real_labels, read_predictions, real_accuracy

    _require_inputs(args, files=("predictions", "real"))
    _require_outputs(args)
    _emit(real_accuracy(read_predictions(args.predictions), load_real_labels(args.real)), args.json)
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from bgaug.evals.bench import bench

    options = _options(args)
    _require_outputs(args)
    gpu = options.device.startswith("cuda")
    result = bench(
        args.arch or ("resnet50" if gpu else "resnet10_w16"),
        args.images or (4096 if gpu else 128),
        args.size or (224 if gpu else 64),
        options,
    )
    _emit(result, args.json)
    return 0


HANDLERS: dict[str, Callable[[argparse.Namespace], int | None]] = {
    "run": cmd_run,
    "linear": cmd_linear,
    "finetune": cmd_finetune,
    "knn": cmd_knn,
    "transfer": cmd_transfer,
    "real-score": cmd_real_score,
    "bench": cmd_bench,
}


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli(build_parser(), HANDLERS, argv)


if __name__ == "__main__":
    sys.exit(main())
