"""The ``python -m bgaug.augment`` commands: help, bad input, preview and a tiny bench."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from bgaug.augment.cli import main
from bgaug.core.io import load_image, save_png


def _folder(root: Path, n: int = 3, size: int = 40) -> tuple[Path, Path]:
    rng = np.random.default_rng(0)
    images, masks = root / "images" / "c0", root / "masks" / "c0"
    for i in range(n):
        image = rng.integers(0, 255, (size, size + 8, 3), dtype=np.uint8)
        mask = np.zeros((size, size + 8), dtype=bool)
        mask[10:30, 12:34] = True
        save_png(images / f"{i}.png", image)
        save_png(masks / f"{i}.png", mask)
    return root / "images", root / "masks"


@pytest.mark.parametrize("command", ["preview", "bench"])
def test_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main([command, "--help"])
    assert exc.value.code == 0
    assert "--json" in capsys.readouterr().out or command == "preview"


def test_preview_writes_grid(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    images, masks = _folder(tmp_path)
    out = tmp_path / "grid.png"
    args = ["preview", "--images", str(images), "--masks", str(masks), "--out", str(out)]
    assert main([*args, "--image-size", "32", "--load-size", "32"]) == 0
    grid = load_image(out)
    header = 14
    assert grid.shape == (header + 3 * 34 + 2, 5 * 34 + 2, 3)  # 3 rows; input, mask, q, k+, negative
    for column in range(5):  # every column has a heading: dark text pixels in its part of the band
        band = grid[:header, 2 + column * 34 : 2 + column * 34 + 32]
        assert (band < 128).any(), f"column {column} has no heading"
    assert "matched_negatives=3" in capsys.readouterr().out


def test_preview_refuses_an_out_it_cannot_write_before_loading(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    images, masks = _folder(tmp_path)
    (tmp_path / "grid.png").mkdir()  # a folder with a file's name
    argv = ["preview", "--images", str(images), "--masks", str(masks), "--out", str(tmp_path / "grid.png")]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "--out" in err and "is a folder" in err, err


def test_preview_tiles_name_every_column() -> None:
    from bgaug.augment import build_pipeline
    from bgaug.augment.preview import preview_tiles
    from bgaug.core.interfaces import MaskedImages
    from bgaug.core.seeding import torch_generator

    g = torch.Generator().manual_seed(0)
    masks = torch.zeros(3, 1, 32, 32)
    masks[:, :, 8:24, 8:24] = 1
    batch = MaskedImages(
        images=torch.rand(3, 3, 32, 32, generator=g),
        masks=masks,
        backgrounds=torch.rand(3, 3, 32, 32, generator=g),
    )
    for method, bg_aug, expected in (
        ("moco_v2", "bg_swaps", ["input", "mask", "query q", "positive key k+", "matched neg."]),
        ("byol", "bg_random", ["input", "mask", "online view", "target view"]),
    ):
        extra = {"p_neg": 1.0} if bg_aug == "bg_swaps" else {}
        views = build_pipeline(method, bg_aug, image_size=16, p_pos=1.0, **extra)(
            batch, torch_generator(0, "t")
        )
        titles, rows = preview_tiles(batch, views, method)
        assert titles == expected  # BG_Random has no matched-negative column
        assert all(len(row) == len(titles) for row in rows)


def test_bad_input_exits_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    images, _ = _folder(tmp_path)
    code = main(["preview", "--images", str(images), "--masks", str(tmp_path / "nope"), "--out", "g.png"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "mask folder not found" in err and len(err.splitlines()) == 1
    assert main(["bench", "--batches", "0"]) == 2
    assert main(["bench", "--threads", "0"]) == 2


def test_tiny_bench_writes_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "bench.json"
    args = [
        "bench",
        "--image-size",
        "32",
        "--load-size",
        "40",
        "--batch-size",
        "4",
        "--batches",
        "1",
        "--repeats",
        "2",
    ]
    assert main([*args, "--device", "cpu", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["batched_pairs_per_s"] > 0 and result["pil_pairs_per_s"] > 0
    assert 0 <= result["compositing_share"] <= 1
    assert len(result["pil_pairs_per_s_rounds"]) == len(result["batched_pairs_per_s_rounds"]) == 2
    assert result["cpu_threads_torch"] == 1
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith("ratio b/a:")
