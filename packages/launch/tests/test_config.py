from __future__ import annotations

import json
from pathlib import Path

import pytest

from bgaug.launch.config import PretrainConfig, load_config, save_config


def _config(**changes: object) -> PretrainConfig:
    base: dict[str, object] = {"method": "moco_v2", "bg_aug": "bg_swaps", "data": "/d", "masks": "/m"}
    base.update(changes)
    return PretrainConfig.from_dict(base)


def test_round_trip_through_a_file(tmp_path: Path) -> None:
    config = _config(p_pos=0.3, p_neg=0.1, epochs=3, augment_options={"fg_min": 0.1})
    save_config(tmp_path / "c.json", config)
    assert json.loads((tmp_path / "c.json").read_text())["format"] == "bgaug-pretrain/1"
    assert PretrainConfig.from_dict(load_config(tmp_path / "c.json")) == config


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"p_pos": 1.5}, "p_pos"),
        ({"method": "dino"}, "method"),
        ({"bg_aug": "bg_rm", "p_neg": 0.2}, "p_neg"),
        ({"masks": None}, "masks"),
        ({"epochs": 0}, "epochs"),
        ({"arch": "vit"}, "arch"),
        ({"knn_train": "/t"}, "knn_train"),
    ],
)
def test_bad_values_name_the_field(changes: dict[str, object], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        _config(**changes)


def test_unknown_field_is_refused() -> None:
    with pytest.raises(ValueError, match="p_poss"):
        PretrainConfig.from_dict({"method": "moco_v2", "bg_aug": "none", "data": "/d", "p_poss": 0.1})


def test_global_batch_splits_over_workers() -> None:
    config = _config(batch_size=64)
    assert config.per_worker_batch(4) == 16
    with pytest.raises(ValueError, match="split evenly"):
        config.per_worker_batch(3)


def test_augment_options_carry_the_probabilities() -> None:
    assert _config(p_pos=0.3).augment_kwargs() == {"p_pos": 0.3}
    assert _config(augment_options={"fg_min": 0.2}, p_neg=0.1).augment_kwargs() == {
        "fg_min": 0.2,
        "p_neg": 0.1,
    }


def test_load_config_rejects_other_formats(tmp_path: Path) -> None:
    (tmp_path / "c.json").write_text(json.dumps({"format": "other/1"}))
    with pytest.raises(ValueError, match="unsupported config format"):
        load_config(tmp_path / "c.json")
    (tmp_path / "d.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_config(tmp_path / "d.json")


def test_every_config_field_has_its_flag() -> None:
    """The pretrain / sweep flags and PretrainConfig are one source: a new field needs a flag."""
    import argparse
    from dataclasses import fields

    from bgaug.launch.pretrain import add_config_arguments

    parser = argparse.ArgumentParser()
    add_config_arguments(parser)
    dests = {action.dest for action in parser._actions}
    assert {f.name for f in fields(PretrainConfig)} <= dests
