"""Results are never replaced without --overwrite, and inputs and outputs are checked before compute."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from bgaug.core.io import sha256_file
from bgaug.evals.cli import main

from .conftest import FAST, save_test_checkpoint


def _run(ckpt: Path, root: Path, out: Path, *extra: str) -> int:
    argv = ["run", "--checkpoint", str(ckpt), "--data-root", str(root), "--out", str(out), "--suites", "in9"]
    return main([*argv, *FAST, *extra])


def _one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    assert err and "\n" not in err and "Traceback" not in err, err
    return err


def test_results_of_another_checkpoint_are_kept_unless_overwrite(
    tmp_path: Path, synth_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = save_test_checkpoint(tmp_path / "a.pt", head=True, seed=0)
    second = save_test_checkpoint(tmp_path / "b.pt", head=True, seed=1)
    out = tmp_path / "out"
    assert _run(first, synth_root, out) == 0
    kept = {name: (out / name).read_bytes() for name in ("results.json", "results.md", "results.png")}
    assert _run(second, synth_root, out) == 2
    err = _one_line_error(capsys)
    assert "--overwrite" in err and str(out) in err
    assert {name: (out / name).read_bytes() for name in kept} == kept
    assert _run(first, synth_root, out) == 0  # the same checkpoint again: allowed
    assert _run(second, synth_root, out, "--overwrite") == 0
    assert json.loads((out / "results.json").read_text())["checkpoint_sha256"] == sha256_file(second)


def test_results_of_unknown_origin_are_kept_unless_overwrite(
    tmp_path: Path, synth_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ckpt = save_test_checkpoint(tmp_path / "a.pt", head=True)
    out = tmp_path / "out"
    out.mkdir()
    (out / "classifier.pt").write_bytes(b"someone's head")
    assert _run(ckpt, synth_root, out) == 2
    assert "--overwrite" in _one_line_error(capsys)
    assert (out / "classifier.pt").read_bytes() == b"someone's head"
    (out / "results.json").write_text("{not json")
    assert _run(ckpt, synth_root, out) == 2
    assert "--overwrite" in _one_line_error(capsys)
    assert _run(ckpt, synth_root, out, "--overwrite") == 0
    assert not (out / "classifier.pt").exists()  # not this checkpoint's head: never left beside its results


def _no_compute(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any model load, evaluation or benchmark fails the test: the checks must come first."""

    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("compute started before the inputs and outputs were checked")

    for target in (
        "bgaug.core.backbones.load_backbone",
        "bgaug.evals.runner.prepare_classifier",
        "bgaug.evals.suites.real.real_accuracy",
        "bgaug.evals.bench.bench",
    ):
        monkeypatch.setattr(target, forbidden)


Case = Callable[[Path, Path, Path], list[str]]
"""(checkpoint, synthetic root, scratch folder) -> argv."""


def _run_argv(ckpt: Path, root: Path, tmp: Path, *extra: str) -> list[str]:
    return ["run", "--checkpoint", str(ckpt), "--data-root", str(root), "--out", str(tmp / "out"), *extra]


def _train_val_argv(command: str, ckpt: Path, root: Path, *extra: str) -> list[str]:
    """``linear`` / ``knn`` on the synthetic train and val splits."""
    return [
        command,
        "--checkpoint",
        str(ckpt),
        "--train",
        str(root / "train"),
        "--val",
        str(root / "val"),
        *extra,
    ]


def _finetune_argv(ckpt: Path, tmp: Path, *extra: str) -> list[str]:
    split = tmp / "split.txt"
    split.write_text("n01440764_1.JPEG\n")
    (tmp / "imagenet-train").mkdir(exist_ok=True)
    fixed = ["--split", str(split), "--fraction", "1pct", "--imagenet-train", str(tmp / "imagenet-train")]
    return ["finetune", "--checkpoint", str(ckpt), *fixed, "--val", str(tmp / "imagenet-train"), *extra]


def _existing(tmp: Path, name: str) -> str:
    path = tmp / name
    path.write_bytes(b"a result of yours")
    return str(path)


def _json_file(tmp: Path, name: str, content: object) -> str:
    path = tmp / name
    path.write_text(json.dumps(content))
    return str(path)


BLOCKED = "blocked"  # a regular file: nothing can be written below it
CASES: dict[str, Case] = {
    "run: checkpoint missing": lambda c, r, t: _run_argv(t / "nope.pt", r, t),
    "run: --path missing": lambda c, r, t: _run_argv(c, r, t, "--path", f"in9={t / 'nope'}"),
    "run: --train-data missing": lambda c, r, t: _run_argv(c, r, t, "--train-data", str(t / "nope")),
    "run: --real-labels missing": lambda c, r, t: _run_argv(c, r, t, "--real-labels", str(t / "nope.json")),
    "run: --imagenet-a-masks missing": lambda c, r, t: _run_argv(
        c, r, t, "--imagenet-a-masks", str(t / "nope")
    ),
    "run: --out unwritable": lambda c, r, t: [*_run_argv(c, r, t)[:-2], "--out", str(t / BLOCKED / "out")],
    "run: --json unwritable": lambda c, r, t: _run_argv(c, r, t, "--json", str(t / BLOCKED / "r.json")),
    "linear: --train missing": lambda c, r, t: _train_val_argv("linear", c, t / "nope"),
    "linear: --out exists": lambda c, r, t: _train_val_argv("linear", c, r, "--out", _existing(t, "head.pt")),
    "linear: --cache unwritable": lambda c, r, t: _train_val_argv(
        "linear", c, r, "--cache", str(t / BLOCKED / "c")
    ),
    "linear: --json unwritable": lambda c, r, t: _train_val_argv(
        "linear", c, r, "--json", str(t / BLOCKED / "r.json")
    ),
    "finetune: --split missing": lambda c, r, t: [*_finetune_argv(c, t), "--split", str(t / "nope.txt")],
    "finetune: --out exists": lambda c, r, t: _finetune_argv(c, t, "--out", _existing(t, "ft.pt")),
    "knn: --val missing": lambda c, r, t: _train_val_argv("knn", c, r, "--val", str(t / "nope")),
    "knn: --json unwritable": lambda c, r, t: _train_val_argv(
        "knn", c, r, "--json", str(t / BLOCKED / "r.json")
    ),
    "transfer: --root missing": lambda c, r, t: [
        "transfer",
        "--checkpoint",
        str(c),
        "--source",
        "folder",
        "--root",
        str(t / "nope"),
    ],
    "transfer: --cache unwritable": lambda c, r, t: [
        "transfer",
        "--checkpoint",
        str(c),
        "--source",
        "folder",
        "--root",
        str(r),
        "--cache",
        str(t / BLOCKED),
    ],
    "real-score: --predictions missing": lambda c, r, t: [
        "real-score",
        "--predictions",
        str(t / "nope.json"),
        "--real",
        _json_file(t, "real.json", [[1]] * 50000),
    ],
    "real-score: --json unwritable": lambda c, r, t: [
        "real-score",
        "--predictions",
        _json_file(t, "p.json", {"ILSVRC2012_val_00000001.JPEG": 1}),
        "--real",
        _json_file(t, "real.json", [[1]] * 50000),
        "--json",
        str(t / BLOCKED / "r.json"),
    ],
    "bench: --json unwritable": lambda c, r, t: ["bench", "--json", str(t / BLOCKED / "r.json")],
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_inputs_and_outputs_fail_in_one_line_before_any_compute(
    case: str,
    tmp_path: Path,
    synth_root: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ckpt = save_test_checkpoint(tmp_path / "model.pt", head=True)
    (tmp_path / BLOCKED).write_text("a file, not a folder")
    argv = CASES[case](ckpt, synth_root, tmp_path)
    _no_compute(monkeypatch)
    assert main(argv) == 2
    _one_line_error(capsys)
    assert not (tmp_path / "out" / "results.json").exists()
    for kept in ("head.pt", "ft.pt"):
        if (tmp_path / kept).exists():
            assert (tmp_path / kept).read_bytes() == b"a result of yours"


def test_linear_out_is_replaced_only_with_overwrite(tmp_path: Path, synth_root: Path) -> None:
    ckpt = save_test_checkpoint(tmp_path / "model.pt", head=False)
    out = tmp_path / "with_head.pt"
    argv = _train_val_argv("linear", ckpt, synth_root, "--epochs", "1", "--out", str(out), *FAST)
    assert main(argv) == 0
    before = out.read_bytes()
    assert main(argv) == 2
    assert out.read_bytes() == before
    assert main([*argv, "--overwrite"]) == 0


def test_help_says_when_overwrite_is_needed(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--overwrite" in text and "same checkpoint" in text and "sha256" in text
