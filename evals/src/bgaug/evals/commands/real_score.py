"""score a prediction file against ReaL labels

Scores --predictions, a JSON object {"ILSVRC2012_val_00000001.JPEG": index, ...} of ImageNet
validation file names and predicted ImageNet-1k indices, against ImageNet ReaL (Beyer et al. 2020;
--real, the 50,000 label lists of real.json): a prediction is correct when it is in its image's
list; images whose list is empty are excluded from numerator and denominator alike. Prints top-1
(%), the number scored and the number excluded as JSON. Loads no model.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bgaug.evals.commands.common import emit, require_inputs, require_outputs


def add_arguments(rs: argparse.ArgumentParser) -> None:
    rs.add_argument(
        "--predictions", type=Path, required=True, help='JSON {"ILSVRC2012_val_00000001.JPEG": idx}'
    )
    rs.add_argument("--real", type=Path, required=True, help="real.json")
    rs.add_argument("--json", type=Path, default=None)


def run_from_args(args: argparse.Namespace) -> int:
    from bgaug.evals.suites.real import load_real_labels, read_predictions, real_accuracy

    require_inputs(args, files=("predictions", "real"))
    require_outputs(args)
    emit(real_accuracy(read_predictions(args.predictions), load_real_labels(args.real)), args.json)
    return 0
