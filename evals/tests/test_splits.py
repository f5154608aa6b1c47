from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from bgaug.evals.splits import read_split, split_items


def test_one_percent_split_has_12811_files_over_1000_classes(shared_data: Path) -> None:
    split = read_split(shared_data / "reference" / "simclr_1percent.txt")
    assert len(split) == 12_811
    assert len({name for name, _ in split}) == 12_811
    counts = Counter(wnid for _, wnid in split)
    assert len(counts) == 1000
    assert all(name.startswith(wnid + "_") for name, wnid in split)


def test_ten_percent_split_has_128116_files(shared_data: Path) -> None:
    split = read_split(shared_data / "reference" / "simclr_10percent.txt")
    assert len(split) == 128_116
    assert len({w for _, w in split}) == 1000


def test_split_items_resolve_under_train_tree_and_take_imagenet_labels(tmp_path: Path, write_images) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "split.txt").write_text("n01440764_1.png\nn01443537_7.png\n\n")
    write_images(tmp_path / "train" / "n01440764", 1, name="n01440764_{}.png")
    (tmp_path / "train" / "n01440764" / "n01440764_0.png").rename(
        tmp_path / "train" / "n01440764" / "n01440764_1.png"
    )
    write_images(tmp_path / "train" / "n01443537", 1, name="n01443537_7.png")
    items = split_items(tmp_path / "split.txt", tmp_path / "train")
    assert [i.label for i in items] == [0, 1]
    (tmp_path / "bad.txt").write_text("cat_1.jpg\n")
    with pytest.raises(ValueError, match="wnid"):
        read_split(tmp_path / "bad.txt")
    (tmp_path / "missing.txt").write_text("n01484850_3.png\n")
    with pytest.raises(FileNotFoundError, match="missing"):
        split_items(tmp_path / "missing.txt", tmp_path / "train")
