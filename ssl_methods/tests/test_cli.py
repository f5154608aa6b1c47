from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from bgaug.ssl_methods.cli import main


def test_help_exits_cleanly(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["bench", "--help"])
    assert exc.value.code == 0
    assert "BG_Swaps" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["bench", "--methods", "dino"], "--methods must name"),
        (["bench", "--batch-size", "0", "--device", "cpu"], "--batch-size must be > 0"),
        (["bench", "--device", "cuda:7"], "device"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    try:
        import torch

        if argv[-1] == "cuda:7" and torch.cuda.is_available():
            pytest.skip("a CUDA machine may have that device")
    except ImportError:
        pass
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_tiny_bench_writes_json_and_prints_ratio_last(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "bench.json"
    argv = [
        "bench",
        "--device",
        "cpu",
        "--methods",
        "rotnet,moco_v2",
        "--arch",
        "resnet10",
        "--image-size",
        "16",
    ]
    argv += ["--batch-size", "5", "--steps", "1", "--warmup", "0", "--pairs", "2", "--json", str(out)]
    assert main(argv) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("MoCo-v2 + BG_Swaps (p_neg 0.2) / MoCo-v2 step time:")
    result = json.loads(out.read_text())
    assert set(result["methods"]) == {"rotnet", "moco_v2"}
    assert result["bg_swaps"]["matched_negatives_per_step"] == 1
    assert (
        result["bg_swaps"]["pairs"] == 2
        and result["bg_swaps"]["ratio"] > 0
        and result["methods"]["rotnet"]["steps_per_s"] > 0
    )


def test_bench_result_json_has_bg_swaps_only_once_measured() -> None:
    from bgaug.ssl_methods.bench import BgSwapsTiming, MethodTiming, SslBenchResult

    partial = SslBenchResult(
        device="cpu",
        threads=1,
        torch="x",
        arch="resnet10",
        small_stem=False,
        batch_size=5,
        image_size=16,
        amp_bf16=False,
        channels_last=False,
        methods={"rotnet": MethodTiming(step_ms=10.0, steps_per_s=100.0, images_per_s=500.0)},
    )
    assert "bg_swaps" not in partial.to_json()
    assert partial.to_json()["methods"] == {
        "rotnet": {"step_ms": 10.0, "steps_per_s": 100.0, "images_per_s": 500.0}
    }
    swaps = BgSwapsTiming(0.2, 1, 60.0, 66.0, 1.1, 1.1, 1.05, 2)
    done = dataclasses.replace(partial, bg_swaps=swaps).to_json()
    assert list(done)[-2:] == ["methods", "bg_swaps"] and done["bg_swaps"]["matched_negatives_per_step"] == 1
