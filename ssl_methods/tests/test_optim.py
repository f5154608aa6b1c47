from __future__ import annotations

import pytest
import torch
from torch import nn

from bgaug.ssl_methods.optim import LARS, build_optimizer, learning_rate, param_groups


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3), nn.Linear(3, 2))


def test_bias_and_norm_are_excluded_from_decay_and_adaptation() -> None:
    net = _net()
    groups = param_groups(net, 1e-4)
    decayed = {id(p) for p in groups[0]["params"]}
    excluded = {id(p) for p in groups[1]["params"]}
    assert decayed == {id(net[0].weight), id(net[2].weight)}
    assert excluded == {id(net[0].bias), id(net[1].weight), id(net[1].bias), id(net[2].bias)}
    assert groups[1]["weight_decay"] == 0.0 and groups[1]["lars_adapt"] is False
    assert len(param_groups(net, 1e-4, exclude_bias_and_norm=False)) == 1


def test_lars_step_matches_formula() -> None:
    net = _net()
    opt = build_optimizer(net, "lars", lr=0.5, momentum=0.9, weight_decay=0.01, lars_eta=0.02)
    assert isinstance(opt, LARS)
    x = torch.randn(8, 4)
    net(x).pow(2).sum().backward()
    w, b = net[0].weight, net[0].bias
    w0, gw, b0, gb = w.detach().clone(), w.grad.clone(), b.detach().clone(), b.grad.clone()
    opt.step()
    u = gw + 0.01 * w0
    trust = 0.02 * w0.norm() / u.norm()
    assert torch.allclose(w, w0 - 0.5 * trust * u, atol=1e-6)
    assert torch.allclose(b, b0 - 0.5 * gb, atol=1e-6)  # excluded: plain SGD, no decay, no trust ratio


def test_sgd_and_bad_names() -> None:
    net = _net()
    opt = build_optimizer(net, "sgd", lr=0.1, momentum=0.9, weight_decay=1e-4)
    assert isinstance(opt, torch.optim.SGD)
    with pytest.raises(ValueError, match="optimizer"):
        build_optimizer(net, "adam", lr=0.1, momentum=0.9, weight_decay=0)


def test_adamw_decays_weights_but_not_biases_and_norms() -> None:
    net = _net()
    opt = build_optimizer(net, "adamw", lr=0.1, momentum=0.9, weight_decay=0.5)
    assert isinstance(opt, torch.optim.AdamW)
    decays = {p.ndim: group["weight_decay"] for group in opt.param_groups for p in group["params"]}
    assert decays[2] == 0.5 and decays[1] == 0.0
    before = [p.detach().clone() for p in net.parameters()]
    for p in net.parameters():
        p.grad = torch.zeros_like(p)  # no gradient: only the decoupled decay moves the weights
    opt.step()
    for p, b in zip(net.parameters(), before, strict=True):
        expected = b * (1 - 0.1 * 0.5) if p.ndim > 1 else b
        assert torch.allclose(p, expected)


def test_warmup_cosine_and_step_schedules() -> None:
    common = {"peak_lr": 1.0, "steps_per_epoch": 10, "epochs": 10}
    assert learning_rate(0, warmup_epochs=1, **common) == pytest.approx(0.1)
    assert learning_rate(9, warmup_epochs=1, **common) == pytest.approx(1.0)
    assert learning_rate(10, warmup_epochs=1, **common) == pytest.approx(1.0)
    assert learning_rate(55, warmup_epochs=1, **common) == pytest.approx(0.5)
    assert learning_rate(99, **common) < 0.01
    step = {"schedule": "step", "milestones": (3, 6)}
    assert learning_rate(29, **common, **step) == pytest.approx(1.0)
    assert learning_rate(30, **common, **step) == pytest.approx(0.1)
    assert learning_rate(65, **common, **step) == pytest.approx(0.01)
    constant = {"schedule": "constant", "warmup_epochs": 2}
    assert learning_rate(9, **common, **constant) == pytest.approx(0.5)  # warm-up still applies
    assert [learning_rate(s, **common, **constant) for s in (20, 55, 99)] == [1.0, 1.0, 1.0]


def test_recipes_follow_the_papers() -> None:
    from bgaug.ssl_methods.recipes import recipe

    sup = recipe("supervised", batch_size=1024, steps_per_epoch=10)
    assert sup.peak_lr == pytest.approx(0.4)  # 0.1 x 1024 / 256
    assert (sup.warmup_epochs, sup.schedule, sup.milestones, sup.epochs) == (5, "step", (30, 60, 80), 90)
    assert sup.exclude_bias_and_norm
    assert recipe("byol").optimizer == "lars" and recipe("moco_v2").base_lr == 0.03
    with pytest.raises(ValueError, match="method must be one of"):
        recipe("dino")
    with pytest.raises(ValueError, match="unknown TrainConfig field"):
        recipe("swav", epoch=3)


def test_lr_scales_give_a_submodule_its_own_groups() -> None:
    net = _net()
    groups = param_groups(net, 1e-4, lr_scales={"2": 10.0})
    by_scale = {(g["lr_scale"], g["lars_adapt"]): {id(p) for p in g["params"]} for g in groups}
    assert by_scale[(10.0, True)] == {id(net[2].weight)}
    assert by_scale[(10.0, False)] == {id(net[2].bias)}
    assert by_scale[(1.0, True)] == {id(net[0].weight)}
    assert {g["weight_decay"] for g in groups if not g["lars_adapt"]} == {0.0}
    with pytest.raises(ValueError, match="names no submodule"):
        param_groups(net, 1e-4, lr_scales={"predictor": 10.0})
    with pytest.raises(ValueError, match="finite number > 0"):
        param_groups(net, 1e-4, lr_scales={"2": 0.0})
