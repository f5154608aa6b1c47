"""``bgaug sweep``: a Ray Tune grid over pretraining settings, e.g. BG_Swaps' p_pos x p_neg.

Every trial is one pretraining run: in the trial's own process (``--workers-per-trial 0``, the
default) or a Ray Train run of N DDP workers that the trial drives (Tune cannot wrap a
``TorchTrainer`` in Ray Train V2). Each epoch the trial reports the monitor metric (``knn_top1``:
weighted kNN top-1 on ``--knn-val``, or ``epoch_loss``), so ``--scheduler asha`` can stop bad trials.

Writes under ``--out``::

    results.csv / results.json   one row per trial: its grid values, status, epochs, metric, error
                                 (with ``--in9``: ImageNet-9 Original, Only-FG, Mixed-Same,
                                 Mixed-Rand and BG-Gap of each trial's final backbone)
    heatmap.png                  the metric over the first two grid keys (the paper's Table A7 layout)
    heatmap_in9_bg_gap.png, heatmap_in9_mixed_rand.png, ...   with ``--in9``: each IN-9 number
    best_config.json             the best trial's config, as ``bgaug pretrain --config`` takes it
    tune/                        Ray Tune's experiment directory

Failed trials are listed with their error, never dropped; the command exits 1 if any failed.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bgaug.core.errors import UsageError
from bgaug.core.io import atomic_write_json, atomic_write_text
from bgaug.core.preflight import check_json_out
from bgaug.launch.config import PretrainConfig, save_config
from bgaug.launch.monitor import METRIC
from bgaug.launch.worker import IN9_METRICS

METRIC_MODES = {METRIC: "max", "epoch_loss": "min"}
SWEEP_RESULTS = ("results.csv", "results.json", "best_config.json", "heatmap.png")
"""What a finished sweep leaves in ``--out``; another sweep there replaces them only with --overwrite."""
GRID_FIELDS = ("p_pos", "p_neg", "base_lr", "batch_size", "epochs", "seed")


@dataclass(frozen=True)
class SweepOptions:
    """How the grid runs. ``in9``: after each trial, evaluate its backbone on ImageNet-9 (keys of
    ``worker.tune_trial``'s ``in9``; one-process trials only)."""

    workers_per_trial: int = 0
    cpus_per_trial: float = 1.0
    gpus_per_worker: float = 0.0
    max_concurrent_trials: int = 0
    scheduler: str = "fifo"
    grace_period: int = 1
    metric: str = METRIC
    in9: Mapping[str, Any] | None = None


def parse_grid(items: list[str]) -> dict[str, list[Any]]:
    """``["p_pos=0.1,0.2", "p_neg=0.1"]`` -> ``{"p_pos": [0.1, 0.2], "p_neg": [0.1]}``."""
    grid: dict[str, list[Any]] = {}
    for item in items:
        key, sep, values = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not values:
            raise UsageError(f"--grid expects KEY=V1,V2,..., got {item!r}")
        if key not in GRID_FIELDS:
            raise UsageError(f"--grid key must be one of {', '.join(GRID_FIELDS)}, got {key!r}")
        if key in grid:
            raise UsageError(f"--grid {key} given twice")
        parsed: list[Any] = []
        for raw in values.split(","):
            try:
                parsed.append(json.loads(raw))
            except json.JSONDecodeError:
                raise UsageError(f"--grid {key}: {raw!r} is not a number") from None
        grid[key] = parsed
    if not grid:
        raise UsageError("give at least one --grid KEY=V1,V2,...")
    return grid


def trial_configs(base: PretrainConfig, grid: dict[str, list[Any]]) -> list[PretrainConfig]:
    """Every grid point as a validated config (so a bad value fails before any trial starts)."""
    import itertools

    keys = list(grid)
    return [
        base.updated(**dict(zip(keys, values, strict=True))) for values in itertools.product(*grid.values())
    ]


def run_trial(params: dict[str, Any]) -> None:
    """The Tune trainable: one pretraining run with this trial's grid values."""
    import ray.tune

    config = PretrainConfig.from_dict({**params["base"], **params["grid"]})
    workers = int(params["workers_per_trial"])
    if workers == 0:
        from bgaug.launch.worker import tune_trial

        tune_trial({"config": config.to_dict(), "in9": params.get("in9")})
        return
    from ray.tune.integration.ray_train import TuneReportCallback

    from bgaug.launch.ray_train import build_trainer
    from bgaug.launch.worker import train_worker

    context = ray.tune.get_context()
    trainer = build_trainer(
        train_worker,
        {"config": config.to_dict()},
        num_workers=workers,
        storage=params["storage"],
        name=f"{context.get_trial_name()}-train",
        gpus_per_worker=float(params["gpus_per_worker"]),
        max_failures=int(params["max_failures"]),
        callbacks=[TuneReportCallback()],
    )
    trainer.fit()


def _scheduler(options: SweepOptions, max_t: int) -> Any:
    if options.scheduler == "fifo":
        return None
    from ray.tune.schedulers import ASHAScheduler

    return ASHAScheduler(time_attr="training_iteration", max_t=max_t, grace_period=options.grace_period)


def _trial_resources(options: SweepOptions) -> dict[str, float]:
    from bgaug.launch.cluster import TRIAL_RESOURCE

    if options.workers_per_trial == 0:
        resources = {"CPU": options.cpus_per_trial, TRIAL_RESOURCE: 1.0}
        if options.gpus_per_worker > 0:
            resources["GPU"] = options.gpus_per_worker
        return resources
    # A driver holds no CPU, only a trial slot, so the slots (not the drivers) bound concurrency.
    return {"CPU": 0.0, TRIAL_RESOURCE: 1.0}


def sweep(
    base: PretrainConfig,
    grid: dict[str, list[Any]],
    out: Path,
    options: SweepOptions,
    *,
    address: str | None = None,
    storage: str | None = None,
) -> list[dict[str, Any]]:
    """Run the grid; write the table, heat map and best config; return the table's rows."""
    import ray.tune

    from bgaug.launch.cluster import connect

    mode = METRIC_MODES.get(options.metric)
    if mode is None:
        raise UsageError(f"--metric must be one of {', '.join(METRIC_MODES)}, got {options.metric!r}")
    if options.metric == METRIC and base.knn_train is None:
        raise UsageError(f"--metric {METRIC} needs --knn-train and --knn-val (labelled image folders)")
    if options.in9 is not None and options.workers_per_trial != 0:
        raise UsageError("--in9 evaluates one-process trials only (--workers-per-trial 0)")
    if options.in9 is not None and options.scheduler != "fifo":
        raise UsageError("--in9 needs --scheduler fifo: ASHA stops a trial before its evaluation")
    # Every grid point's option bags and the masks, checked now: inside Ray each would fail every trial.
    from bgaug.core.maskbank import check_bank_fits_images, open_mask_bank
    from bgaug.launch.pretrain import check_local_gpus
    from bgaug.launch.worker import check_options

    check_local_gpus(options.gpus_per_worker, address)
    for config in trial_configs(base, grid):
        check_options(config)
    check_bank_fits_images(base.data, open_mask_bank(base.data, base.masks))
    out = out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    storage = storage or str(out / "tune")
    connect(address)

    max_concurrent = options.max_concurrent_trials or None
    tuner = ray.tune.Tuner(
        ray.tune.with_resources(run_trial, _trial_resources(options)),
        param_space={
            "base": base.to_dict(),
            "grid": {key: ray.tune.grid_search(values) for key, values in grid.items()},
            "workers_per_trial": options.workers_per_trial,
            "gpus_per_worker": options.gpus_per_worker,
            "storage": storage,
            "max_failures": 1,
            "in9": dict(options.in9) if options.in9 is not None else None,
        },
        tune_config=ray.tune.TuneConfig(
            metric=options.metric,
            mode=mode,
            scheduler=_scheduler(options, base.epochs),
            max_concurrent_trials=max_concurrent,
        ),
        run_config=ray.tune.RunConfig(name="sweep", storage_path=storage),
    )
    results = tuner.fit()
    rows = result_rows(results, grid, options.metric, mode)
    write_table(out, rows)
    what = heatmap_subtitle(base, grid)
    plot_heatmap(out / "heatmap.png", rows, list(grid), options.metric, what)
    if options.in9 is not None:
        for name in IN9_METRICS:
            plot_heatmap(out / f"heatmap_{name}.png", rows, list(grid), name, what)
    best = best_row(rows, mode)
    if best is not None:
        save_config(out / "best_config.json", base.updated(**best["grid"]))
    return rows


def result_rows(results: Any, grid: dict[str, list[Any]], metric: str, mode: str) -> list[dict[str, Any]]:
    """One row per trial, failed ones included (status ERROR and the error's first line)."""
    rows: list[dict[str, Any]] = []
    for result in results:
        config = result.config or {}
        values = {key: config.get("grid", {}).get(key) for key in grid}
        history = result.metrics_dataframe
        series = []
        if history is not None and metric in history:
            series = [
                float(v) for v in history[metric].tolist() if v is not None and not math.isnan(float(v))
            ]
        error = result.error
        reported = result.metrics or {}
        row: dict[str, Any] = {
            "grid": values,
            "status": "ERROR" if error is not None else "OK",
            "epochs": int(reported.get("epoch", len(series)) or 0),
            "final": series[-1] if series else None,
            "best": (max(series) if mode == "max" else min(series)) if series else None,
            "error": str(error).strip().splitlines()[-1] if error is not None else None,
            "path": result.path,
        }
        row.update({name: float(reported[name]) for name in IN9_METRICS if name in reported})
        rows.append(row)
    rows.sort(key=lambda r: [r["grid"][k] for k in grid])
    return rows


def best_row(rows: list[dict[str, Any]], mode: str) -> dict[str, Any] | None:
    """The trial with the best *final* metric (an early-stopped trial's final value counts too)."""
    scored = [r for r in rows if r["status"] == "OK" and r["final"] is not None]
    if not scored:
        return None
    pick = max if mode == "max" else min
    return pick(scored, key=lambda r: float(r["final"]))


def write_table(out: Path, rows: list[dict[str, Any]]) -> None:
    """``results.json`` and ``results.csv``: one row per trial, failed ones included."""
    atomic_write_json(out / "results.json", rows)
    keys = list(rows[0]["grid"]) if rows else []
    in9 = [name for name in IN9_METRICS if any(name in r for r in rows)]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([*keys, "status", "epochs", "final", "best", *in9, "error"])
    for r in rows:
        writer.writerow(
            [*(r["grid"][k] for k in keys), r["status"], r["epochs"], r["final"], r["best"]]
            + [r.get(name) for name in in9]
            + [r["error"]]
        )
    atomic_write_text(out / "results.csv", buffer.getvalue())


HEATMAP_TITLES = {
    "in9_original": "ImageNet-9 Original top-1 (%) after pretraining",
    "in9_only_fg": "ImageNet-9 Only-FG top-1 (%)",
    "in9_mixed_same": "ImageNet-9 Mixed-Same top-1 (%)",
    "in9_mixed_rand": "ImageNet-9 Mixed-Rand top-1 (%)",
    "in9_bg_gap": "BG-Gap = Mixed-Same − Mixed-Rand (points)",
}
HEATMAP_UNITS = {name: "points" if name == "in9_bg_gap" else "top-1 (%)" for name in IN9_METRICS}


def heatmap_subtitle(base: PretrainConfig, grid: Mapping[str, Any]) -> str:
    """What every cell shares: method, background augmentation, epochs and seed (unless swept)."""
    parts = [f"{base.method} + {base.bg_aug}"]
    parts += [f"{base.epochs} epochs"] if "epochs" not in grid else []
    parts += [f"seed {base.seed}"] if "seed" not in grid else []
    return ", ".join(parts)


def plot_heatmap(
    path: Path, rows: list[dict[str, Any]], keys: list[str], metric: str, what: str = ""
) -> None:
    """The final metric over the first two grid keys (one row of cells for a one-key grid); ``what``
    (e.g. "moco_v2 + bg_swaps, 80 epochs") is the title's second line: which runs the grid varied."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from bgaug.core.io import atomic_write

    y_key = keys[0]
    x_key = keys[1] if len(keys) > 1 else None
    ys = sorted({r["grid"][y_key] for r in rows})
    xs = sorted({r["grid"][x_key] for r in rows}) if x_key else [None]
    values = np.full((len(ys), len(xs)), np.nan)
    column = metric if metric in IN9_METRICS else "final"
    for r in rows:
        value = r.get(column)
        if value is None:
            continue
        i = ys.index(r["grid"][y_key])
        j = xs.index(r["grid"][x_key]) if x_key else 0
        # Several rows per cell (a third grid key): show the best one.
        values[i, j] = value if np.isnan(values[i, j]) else max(values[i, j], value)
    fig, ax = plt.subplots(figsize=(1.2 * len(xs) + 2.5, 0.9 * len(ys) + 1.8))
    image = ax.imshow(values, cmap="viridis", aspect="auto")
    for i in range(len(ys)):
        for j in range(len(xs)):
            missing = bool(np.isnan(values[i, j]))
            text = "no result" if missing else f"{values[i, j]:.2f}"
            # dark text on viridis' bright (green-yellow) end, white on its dark end
            bright = missing or float(np.asarray(image.norm(values[i, j]))) > 0.6
            ax.text(j, i, text, ha="center", va="center", color="black" if bright else "white", fontsize=9)
    ax.set_yticks(range(len(ys)), [str(y) for y in ys])
    ax.set_xticks(range(len(xs)), [str(x) for x in xs] if x_key else [""])
    ax.set_ylabel(y_key)
    ax.set_xlabel(x_key or "")
    title = HEATMAP_TITLES.get(metric, f"{metric} (final epoch)")
    ax.set_title(f"{title}\n{what}" if what else title, fontsize=10)
    fig.colorbar(image, ax=ax, label=HEATMAP_UNITS.get(metric, metric))
    fig.tight_layout()
    with atomic_write(path, "wb") as handle:
        fig.savefig(handle, format="png", dpi=120)
    plt.close(fig)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from bgaug.launch.pretrain import add_config_arguments

    add_config_arguments(parser)
    parser.add_argument(
        "--grid",
        action="append",
        default=[],
        metavar="KEY=V1,V2,...",
        help=f"values of one config field to sweep (repeatable; keys: {', '.join(GRID_FIELDS)})",
    )
    parser.add_argument("--scheduler", choices=("fifo", "asha"), default="fifo", help="trial scheduler")
    parser.add_argument("--grace-period", type=int, default=1, help="ASHA: epochs before a trial may stop")
    parser.add_argument(
        "--metric",
        default=METRIC,
        help=f"metric to optimise: {', '.join(METRIC_MODES)} (default %(default)s)",
    )
    parser.add_argument(
        "--workers-per-trial",
        type=int,
        default=0,
        help="Ray Train workers per trial (0: the trial's own process)",
    )
    parser.add_argument("--cpus-per-trial", type=float, default=1.0, help="CPUs per one-process trial")
    parser.add_argument("--gpus-per-worker", type=float, default=0.0, help="GPUs per training worker")
    parser.add_argument("--max-concurrent-trials", type=int, default=0, help="0: as many as resources allow")
    parser.add_argument("--address", help="Ray cluster to join ('auto' or HOST:PORT; default local)")
    parser.add_argument("--storage", help="Ray Tune storage, shared across nodes (default OUT/tune)")
    parser.add_argument(
        "--in9",
        metavar="ROOT",
        help="after each trial, evaluate its backbone on ImageNet-9 under ROOT (as `evals run "
        "--data-root`) with the fast linear probe; adds Original, Only-FG, Mixed-Same, Mixed-Rand and "
        "BG-Gap to the table and a heat map of each",
    )
    parser.add_argument(
        "--in9-train", metavar="DIR", help="labelled class folders for the --in9 probe (default ROOT/train)"
    )
    parser.add_argument(
        "--in9-mapping",
        choices=("auto", "imagenet", "identity"),
        default="auto",
        help="how IN-9 classes map to the probe's (as `evals run --in9-mapping`; "
        "the synthetic benchmark: identity)",
    )
    parser.add_argument("--out", required=True, help="sweep directory (created)")
    parser.add_argument(
        "--overwrite", action="store_true", help="replace the results of an earlier sweep in --out"
    )
    parser.add_argument("--json", metavar="FILE", help="write the results table as JSON")


def run_from_args(args: argparse.Namespace) -> int:
    from bgaug.launch.pretrain import config_from_args

    check_json_out(args.json)
    earlier = [name for name in SWEEP_RESULTS if (Path(args.out) / name).exists()]
    if earlier and not args.overwrite:
        raise UsageError(
            f"--out {args.out} holds an earlier sweep's results ({', '.join(earlier)}); pass --overwrite"
            " to replace them or choose another --out"
        )
    grid = parse_grid(args.grid)
    base = config_from_args(args)
    if args.workers_per_trial < 0:
        raise UsageError(f"--workers-per-trial must be >= 0, got {args.workers_per_trial}")
    in9 = None
    if args.in9:
        from bgaug.evals.runner import SEARCH, find_suite_folder

        root = Path(args.in9).expanduser().resolve()
        train = Path(args.in9_train).expanduser().resolve() if args.in9_train else root / "train"
        for what, folder in (("--in9", root), ("--in9-train", train)):
            if not folder.is_dir():
                raise FileNotFoundError(f"{what}: folder not found: {folder}")
        suite = find_suite_folder(root, "in9")
        if suite is None:  # checked now: otherwise every trial trains, then fails at its evaluation
            places = ", ".join(str(root / rel) for rel in SEARCH["in9"])
            raise UsageError(
                f"--in9 {root}: no ImageNet-9 variants (VARIANT/val/CLASS/) there or at {places}"
            )
        in9 = {"path": str(suite), "train": str(train), "mapping": args.in9_mapping}
    options = SweepOptions(
        in9=in9,
        workers_per_trial=args.workers_per_trial,
        cpus_per_trial=args.cpus_per_trial,
        gpus_per_worker=args.gpus_per_worker,
        max_concurrent_trials=args.max_concurrent_trials,
        scheduler=args.scheduler,
        grace_period=args.grace_period,
        metric=args.metric,
    )
    rows = sweep(base, grid, Path(args.out), options, address=args.address, storage=args.storage)
    for r in rows:
        print(json.dumps({**r["grid"], "status": r["status"], "final": r["final"], "error": r["error"]}))
    if args.json:
        atomic_write_json(args.json, rows)
    failed = [r for r in rows if r["status"] != "OK"]
    if failed:
        print(f"bgaug sweep: {len(failed)} of {len(rows)} trial(s) failed (see results.csv)")
        return 1
    return 0
