from __future__ import annotations

import dataclasses

import pytest
import torch

from bgaug.core.config import (
    check_choice,
    check_interval,
    check_positive,
    check_probability,
    config_from_dict,
    config_to_dict,
)
from bgaug.core.seeding import numpy_generator, spawn_seed, torch_generator


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan"), float("inf"), "0.2", True])
def test_probability_rejects_and_names_field(bad: object) -> None:
    with pytest.raises(ValueError, match="p_pos"):
        check_probability("p_pos", bad)  # type: ignore[arg-type]


def test_validators_accept_good_values() -> None:
    assert check_probability("p", 0) == 0.0
    assert check_positive("lr", 0.1) == 0.1
    assert check_positive("wd", 0, allow_zero=True) == 0.0
    assert check_choice("method", "byol", {"byol", "moco_v2"}) == "byol"
    assert check_interval("scale", (0.2, 1.0), 0, 1) == (0.2, 1.0)
    with pytest.raises(ValueError, match="scale"):
        check_interval("scale", (0.8, 0.2), 0, 1)
    with pytest.raises(ValueError, match="one of"):
        check_choice("method", "simsiam", {"byol"})


@dataclasses.dataclass(frozen=True)
class _Cfg:
    p: float = 0.2
    scale: tuple[float, float] = (0.2, 1.0)

    def __post_init__(self) -> None:
        check_probability("p", self.p)


def test_config_roundtrip_and_unknown_keys() -> None:
    cfg = _Cfg(p=0.3)
    assert config_from_dict(_Cfg, config_to_dict(cfg)) == cfg
    with pytest.raises(ValueError, match="unknown _Cfg field"):
        config_from_dict(_Cfg, {"p": 0.1, "pp": 3})
    with pytest.raises(ValueError, match="p must be a probability"):
        config_from_dict(_Cfg, {"p": 2.0})


def test_seeds_are_deterministic_and_independent() -> None:
    assert spawn_seed(0, 1) == spawn_seed(0, 1)
    seeds = {spawn_seed(0, rank) for rank in range(64)} | {spawn_seed(1, 0), spawn_seed(0, "x")}
    assert len(seeds) == 66
    a = torch.rand(5, generator=torch_generator(3, 0))
    b = torch.rand(5, generator=torch_generator(3, 0))
    c = torch.rand(5, generator=torch_generator(3, 1))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert numpy_generator(3, 2).integers(1 << 30) == numpy_generator(3, 2).integers(1 << 30)
    with pytest.raises(ValueError, match="seed"):
        spawn_seed(-1)


def test_only_usage_errors_are_one_line_user_errors(capsys: pytest.CaptureFixture[str]) -> None:
    """A plain ValueError (a bug deep in a library) keeps its traceback; UsageError is one line."""
    import argparse

    from bgaug.core.cli import run_cli
    from bgaug.core.errors import UsageError

    parser = argparse.ArgumentParser(prog="t")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("user")
    sub.add_parser("bug")

    def user(_: argparse.Namespace) -> int:
        raise UsageError("--x must be > 0")

    def bug(_: argparse.Namespace) -> int:
        raise ValueError("shape mismatch inside torch")

    assert run_cli(parser, {"user": user, "bug": bug}, ["user"]) == 2
    assert capsys.readouterr().err == "t: error: --x must be > 0\n"
    sub.add_parser("pages")

    def pages(_: argparse.Namespace) -> int:  # a library's multi-line text inside a user error
        raise UsageError("w.pt: not loadable (first line.\n\t(1) second line\n\nthird)")

    assert run_cli(parser, {"pages": pages}, ["pages"]) == 2
    assert capsys.readouterr().err == "t: error: w.pt: not loadable (first line. (1) second line third)\n"
    with pytest.raises(ValueError, match="shape mismatch"):
        run_cli(parser, {"user": user, "bug": bug}, ["bug"])
    with pytest.raises(UsageError):  # the config validators raise it
        from bgaug.core.config import check_probability

        check_probability("p", 2.0)
