from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bgaug.launch.config import PretrainConfig
from bgaug.launch.worker import load_size, resolve_sync_bn, sync_bn_groups


def test_sync_bn_groups_are_consecutive_ranks() -> None:
    assert sync_bn_groups(16, 8) == [list(range(8)), list(range(8, 16))]
    assert sync_bn_groups(4, 4) == [[0, 1, 2, 3]]
    with pytest.raises(ValueError, match="does not divide"):
        sync_bn_groups(6, 4)


def test_sync_bn_auto_follows_each_methods_published_setup() -> None:
    def mode(method: str, workers: int, on_gpu: bool = True, **fields: Any) -> str:
        config = PretrainConfig(method=method, bg_aug="none", data="unused", **fields)
        return resolve_sync_bn(config, workers, on_gpu)

    assert mode("byol", 16) == "group"  # the paper: groups of 8 GPUs
    assert mode("byol", 4) == "global"  # fewer workers than a group: one group of all
    assert mode("byol", 12) == "global"  # 8 does not divide 12
    assert mode("swav", 16) == "global"
    assert mode("moco_v2", 16) == "none"  # MoCo shuffles its keys' BatchNorm instead
    assert mode("byol", 16, on_gpu=False) == "none"  # SyncBatchNorm needs CUDA
    assert mode("byol", 1) == "none"
    assert mode("moco_v2", 16, sync_bn="global") == "global"  # an explicit choice stands
    assert mode("byol", 16, sync_bn="none") == "none"


def test_load_size_keeps_the_imagenet_ratio() -> None:
    assert load_size(224) == 256
    assert load_size(32) == 37


def test_knn_monitor_matches_itself(synth_root: Path) -> None:
    import torch

    from bgaug.core.backbones import build_resnet
    from bgaug.launch.monitor import KnnMonitor

    torch.manual_seed(0)
    backbone = build_resnet("resnet10", small_stem=True)
    train = str(synth_root / "train")
    monitor = KnnMonitor(train, train, image_size=32, k=1, device=torch.device("cpu"))
    assert monitor(backbone) == {"knn_top1": 100.0}  # every image is its own nearest neighbour
    assert backbone.training  # the monitor restores the mode it found


@pytest.mark.slow
def test_in_process_run_without_ray(synth_root: Path, tmp_path: Path) -> None:
    import json

    from bgaug.core.backbones import load_backbone
    from bgaug.launch.config import PretrainConfig
    from bgaug.launch.pretrain import pretrain

    from .conftest import tiny_config

    config = PretrainConfig.from_dict(
        tiny_config(synth_root, epochs=1, bg_aug="bg_rm", knn_train=None, knn_val=None)
    )
    run = pretrain(config, tmp_path / "run", workers=0)
    assert run.metrics["epoch"] == 1.0 and "knn_top1" not in run.metrics
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert records[-1]["event"] == "epoch_end"
    _, state = load_backbone(tmp_path / "run" / "backbone.pt")
    assert state["preprocess"]["crop"] == 32  # evaluated at the view size it was trained at
    assert state["preprocess"]["resize"] == 37  # ... from the 256-for-224 load size
    again = pretrain(config, tmp_path / "run", workers=0, resume=True)  # finished: nothing left to train
    assert again.metrics == run.metrics


def test_in_process_run_on_the_device_data_path(synth_root: Path, tmp_path: Path) -> None:
    """data_path 'device' (JPEG/PNG bytes + a mask pack, decoded and augmented on a loader thread)
    trains like the worker path; without a pack it is refused with the command that makes one."""
    import json

    from bgaug.launch.config import PretrainConfig
    from bgaug.launch.pretrain import pretrain
    from bgaug.launch.run_record import RunRecord
    from bgaug.saliency.pack import pack_folder

    from .conftest import tiny_config

    pack = tmp_path / "pack"
    pack_folder(synth_root / "pretrain", synth_root / "masks" / "pretrain", pack, progress=False)
    config = PretrainConfig.from_dict(
        tiny_config(synth_root, epochs=1, masks=str(pack), data_path="device", knn_train=None, knn_val=None)
    )
    run = pretrain(config, tmp_path / "run", workers=0)
    assert run.metrics["epoch"] == 1.0
    # run.json is the returned record, and reads back as it
    written = json.loads((tmp_path / "run" / "run.json").read_text(encoding="utf-8"))
    assert written == run.to_json()
    assert set(written) == {"workers", "out", "metrics", "config", "backbone"}  # no Ray keys in-process
    assert RunRecord.from_json(written) == run
    refused = PretrainConfig.from_dict(
        tiny_config(synth_root, epochs=1, data_path="device", knn_train=None, knn_val=None)
    )
    with pytest.raises(ValueError, match="mask pack"):
        pretrain(refused, tmp_path / "refused", workers=0)


def test_run_record_round_trips_through_run_json() -> None:
    """A Ray run's record keeps its storage URI as written (not a Path); an in-process one writes no
    Ray keys; a record with only some of the Ray fields is refused."""
    import dataclasses
    import json

    from bgaug.launch.run_record import RunRecord

    config = PretrainConfig(method="byol", bg_aug="none", data="/data").to_dict()
    ray = RunRecord(
        workers=2,
        out=Path("/runs/a"),
        metrics={"epoch": 2.0, "knn_top1": 41.5},
        config=config,
        backbone=Path("/runs/a/backbone.pt"),
        storage="s3://bucket/ray",
        name="a",
        checkpoint="s3://bucket/ray/a/checkpoint_000001",
    )
    data = json.loads(json.dumps(ray.to_json()))  # through JSON text, as run.json is read back
    assert data["storage"] == "s3://bucket/ray" and data["out"] == "/runs/a"
    assert RunRecord.from_json(data) == ray and RunRecord.from_json(data).to_json() == data
    local = RunRecord(
        workers=0, out=Path("/runs/b"), metrics={}, config=config, backbone=Path("/runs/b/backbone.pt")
    )
    assert list(local.to_json()) == ["workers", "out", "metrics", "config", "backbone"]
    assert RunRecord.from_json(local.to_json()) == local and not local.on_ray
    with pytest.raises(ValueError, match="checkpoint"):
        dataclasses.replace(local, storage="/s", name="b")


def test_pretraining_starts_from_the_methods_published_recipe() -> None:
    """Each method trains with its own recipe (BYOL: LARS at 0.2 with warm-up), fitted to the run's
    length; --base-lr and train options still override it."""
    import torch

    from bgaug.launch.config import PretrainConfig
    from bgaug.launch.worker import build_train_config

    def fitted(method: str, **changes: object) -> object:
        config = PretrainConfig.from_dict(
            {"method": method, "bg_aug": "none", "data": "x", "epochs": 30, **changes}
        )
        return build_train_config(config, 10, torch.device("cpu"), main=False)

    byol = fitted("byol")
    assert (byol.optimizer, byol.base_lr, byol.warmup_epochs) == ("lars", 0.2, 1.0)  # 10 of 300 -> 1 of 30
    assert fitted("moco_v2").base_lr == 0.03 and fitted("swav").base_lr == 0.6
    supervised = fitted("supervised")
    assert supervised.schedule == "step" and supervised.milestones == (10, 20, 27)  # 30/60/80 of 90
    assert fitted("byol", base_lr=0.5).base_lr == 0.5
    assert fitted("byol", train_options={"optimizer": "sgd", "warmup_epochs": 0}).optimizer == "sgd"


def test_the_cpu_recipe_sets_adam_and_its_method_options_under_the_users() -> None:
    import torch

    from bgaug.launch.config import PretrainConfig
    from bgaug.launch.worker import build_train_config

    def config(**changes: object) -> PretrainConfig:
        return PretrainConfig.from_dict(
            {"method": "moco_v2", "bg_aug": "none", "data": "x", "epochs": 30, "recipe": "cpu", **changes}
        )

    train = build_train_config(config(), 10, torch.device("cpu"), main=False)
    assert (train.optimizer, train.schedule, train.warmup_epochs) == ("adamw", "constant", 0.0)
    assert train.peak_lr == pytest.approx(2e-3 * 256 / 256)  # batch 256 here: base_lr per 256 images
    options = config(method_options={"queue_size": 512}).all_method_options()
    assert options["queue_size"] == 512 and options["bn_splits"] == 4 and options["temperature"] == 0.07
    assert config(recipe="paper").all_method_options() == {}
    with pytest.raises(ValueError, match="recipe"):
        config(recipe="gpu")


def test_recipe_cpu_fills_its_defaults_and_flags_still_win(tmp_path: Path) -> None:
    import argparse

    from bgaug.launch.pretrain import add_arguments, config_from_args

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    base = ["--method", "moco_v2", "--bg-aug", "none", "--data", str(tmp_path)]
    cpu = config_from_args(parser.parse_args([*base, "--recipe", "cpu"]))
    assert (cpu.arch, cpu.image_size, cpu.batch_size, cpu.epochs) == ("cnn5_w16", 24, 128, 100)
    mine = config_from_args(parser.parse_args([*base, "--recipe", "cpu", "--image-size", "32"]))
    assert mine.image_size == 32 and mine.arch == "cnn5_w16"
    paper = config_from_args(parser.parse_args(base))
    assert (paper.recipe, paper.arch, paper.image_size) == ("paper", "resnet50", 224)
