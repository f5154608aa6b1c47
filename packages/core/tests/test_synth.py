from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bgaug.core.cli import main
from bgaug.core.io import list_images, load_image, load_mask, sha256_file
from bgaug.core.synth import SynthConfig, generate
from bgaug.core.synth_in9 import VARIANTS
from bgaug.core.synth_scene import background_family, draw_scene
from bgaug.core.tiling import foreground_bbox, tiled_background

SMALL = SynthConfig(
    seed=3, image_size=32, classes=3, pretrain_per_class=4, train_per_class=3, val_per_class=4
)


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("synth") / "bench"
    manifest = generate(SMALL, out, workers=1, progress=False)
    return out, manifest


def _hashes(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): sha256_file(p) for p in sorted(root.rglob("*")) if p.is_file()}


def test_layout_and_counts(bench: tuple[Path, dict[str, Any]]) -> None:
    out, manifest = bench
    for split in ("pretrain", "train", "val"):
        images = list_images(out / split)
        assert len(images) == SMALL.classes * SMALL.per_class(split)
        assert sorted({p.split("/")[0] for p in images}) == ["c0", "c1", "c2"]
        assert list_images(out / "masks" / split) == images
    val_names = list_images(out / "val")
    for variant in (*VARIANTS, "fg_mask"):
        assert list_images(out / "in9" / variant / "val") == val_names
    assert (out / "in9/original/val/c0/000000.png").read_bytes() == (out / "val/c0/000000.png").read_bytes()
    assert manifest == json.loads((out / "manifest.json").read_text())
    assert manifest["params"]["pretrain_bg_corr"] == 0.9


def test_same_seed_is_byte_identical_across_worker_counts(
    bench: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    out, manifest = bench
    again = generate(SMALL, tmp_path / "again", workers=2, progress=False)
    assert again == manifest
    assert _hashes(tmp_path / "again") == _hashes(out)
    other = generate(SynthConfig(**{**SMALL.__dict__, "seed": 4}), tmp_path / "other", progress=False)
    assert other["images"]["train"][0]["sha256"] != manifest["images"]["train"][0]["sha256"]


def test_manifest_hashes_match_files(bench: tuple[Path, dict[str, Any]]) -> None:
    out, manifest = bench
    for record in manifest["images"]["train"] + manifest["in9"]["mixed_rand"]:
        assert sha256_file(out / record["path"]) == record["sha256"]


def test_masks_are_binary_and_nonempty_with_background(bench: tuple[Path, dict[str, Any]]) -> None:
    out, _ = bench
    for rel in list_images(out / "masks"):
        raw = np.asarray(load_image(out / "masks" / rel))[..., 0]
        assert set(np.unique(raw).tolist()) <= {0, 255}
        mask = raw == 255
        assert mask.any() and not mask.all()
        assert tiled_background(np.zeros((*mask.shape, 3), np.uint8), mask) is not None


def _read(out: Path, rel: str) -> tuple[np.ndarray, np.ndarray]:
    image = load_image(out / rel)
    return image, load_mask(out / "masks" / rel, size=image.shape[:2])


def test_in9_variants_follow_their_definitions(bench: tuple[Path, dict[str, Any]]) -> None:
    out, manifest = bench
    k = SMALL.classes
    by_path = {r["path"]: r for split in manifest["images"].values() for r in split}
    for variant in VARIANTS:
        records = manifest["in9"][variant]
        assert len(records) == k * SMALL.val_per_class
        for rec in records:
            image, mask = _read(out, rec["foreground_source"])
            got = load_image(out / rec["path"])
            gt_mask = load_mask(out / rec["path"].replace(f"in9/{variant}/", "in9/fg_mask/"))
            np.testing.assert_array_equal(gt_mask, mask)
            src = rec["background_source"]
            assert rec["background"] == by_path[src]["background"]
            assert rec["background_class"] == by_path[src]["class"]
            fg = mask[:, :, None]
            if variant == "original":
                np.testing.assert_array_equal(got, image)
            elif variant == "only_fg":
                np.testing.assert_array_equal(got, np.where(fg, image, 0))
            elif variant == "no_fg":
                np.testing.assert_array_equal(got, np.where(fg, 0, image))
            elif variant == "only_bg_b":
                bbox = foreground_bbox(mask)
                assert bbox is not None
                x0, y0, x1, y1 = bbox
                assert not got[y0:y1, x0:x1].any()
                box = np.zeros_like(mask)
                box[y0:y1, x0:x1] = True
                np.testing.assert_array_equal(got[~box], image[~box])
            elif variant == "only_bg_t":
                np.testing.assert_array_equal(got, tiled_background(image, mask))
            else:
                assert src != rec["foreground_source"]
                if variant == "mixed_same":
                    assert rec["background_class"] == rec["class"]
                if variant == "mixed_next":
                    assert rec["background_class"] == (rec["class"] + 1) % k
                background = tiled_background(*_read(out, src))
                np.testing.assert_array_equal(got, np.where(fg, image, background))
            if variant not in ("mixed_same", "mixed_rand", "mixed_next"):
                assert src == rec["foreground_source"]
    assert len(manifest["in9"]["fg_mask"]) == k * SMALL.val_per_class


def test_mixed_rand_draws_classes_other_than_own() -> None:
    from bgaug.core.synth_in9 import mixed_sources

    labels = [mixed_sources(0, 2, i, 9, 50)["mixed_rand"].label for i in range(300)]
    assert len(set(labels)) == 9


@pytest.mark.parametrize("corr", [0.0, 0.5, 0.9, 1.0])
def test_background_correlation_as_asked(corr: float) -> None:
    k, n = 9, 3000
    families = np.array([background_family(1, "pretrain", i % k, i, k, corr) for i in range(n)])
    labels = np.arange(n) % k
    assert abs((families == labels).mean() - corr) < 0.03
    others = families[families != labels]
    if others.size:  # mismatches spread over every other family
        assert set(others.tolist()) == set(range(k))


def test_bg_corr_changes_only_the_background_family() -> None:
    a = draw_scene(5, "train", 4, 7, size=48, classes=9, bg_corr=1.0)
    b = draw_scene(5, "train", 4, 7, size=48, classes=9, bg_corr=0.0)
    assert a.background_family == 4 and b.background_family != 4
    np.testing.assert_array_equal(a.mask, b.mask)
    np.testing.assert_array_equal(a.image[a.mask], b.image[b.mask])


def test_object_stands_out_from_background() -> None:
    for label in range(9):
        scene = draw_scene(0, "val", label, 0, size=64, classes=9, bg_corr=0.9)
        fg = scene.image[scene.mask].astype(float).mean(axis=0)
        bg = scene.image[~scene.mask].astype(float).mean(axis=0)
        assert np.linalg.norm(fg - bg) > 20


def test_cli_writes_json_and_preview(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out, summary, preview = tmp_path / "b", tmp_path / "s.json", tmp_path / "p.png"
    argv = ["synth", "--out", str(out), "--seed", "1", "--image-size", "32", "--classes", "2"]
    argv += ["--pretrain-per-class", "0", "--train-per-class", "2", "--val-per-class", "2", "--workers", "1"]
    argv += ["--quiet", "--json", str(summary), "--preview", str(preview)]
    assert main(argv) == 0
    data = json.loads(summary.read_text())
    assert data["splits"]["train"]["images"] == 4 and data["splits"]["pretrain"]["images"] == 0
    sheet = load_image(preview)
    assert sheet.shape[0] > 2 * 64 and sheet.shape[1] > 10 * 64
    assert "wrote" in capsys.readouterr().out
    # A second run into the same folder is refused, then allowed with --overwrite.
    assert main(argv) == 2
    assert "not empty" in capsys.readouterr().err
    assert main([*argv, "--overwrite"]) == 0


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--pretrain-bg-corr", "1.5", "pretrain_bg_corr"),
        ("--classes", "1", "classes"),
        ("--classes", "99", "classes"),
        ("--image-size", "8", "image_size"),
        ("--val-per-class", "1", "val_per_class"),
        ("--workers", "0", "--workers"),
        ("--preview", "x.jpg", "--preview"),
        ("--json", ".", "--json"),  # a folder: refused before the benchmark is drawn
    ],
)
def test_cli_refuses_bad_arguments_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flag: str, value: str, message: str
) -> None:
    assert main(["synth", "--out", str(tmp_path / "o"), flag, value, "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err
    assert not (tmp_path / "o").exists()


def test_overwrite_refuses_a_folder_that_is_not_a_benchmark(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    assert main(["synth", "--out", str(tmp_path), "--overwrite", "--quiet"]) == 2
    assert (tmp_path / "keep.txt").exists()


def test_help_exits_cleanly() -> None:
    with pytest.raises(SystemExit) as exc:
        main(["synth", "--help"])
    assert exc.value.code == 0
