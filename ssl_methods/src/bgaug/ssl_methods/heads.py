"""Projection, prediction and classification heads (widths always configurable)."""

from __future__ import annotations

from torch import Tensor, nn


class MLPHead(nn.Module):
    """Linear -> [BN] -> ReLU -> Linear (-> [BN]).

    MoCo-v2 uses it without batch norm; BYOL, SwAV and SimCLR with batch norm after the hidden layer.
    """

    def __init__(
        self, in_dim: int, hidden_dim: int, out_dim: int, *, batch_norm: bool = True, last_bn: bool = False
    ):
        super().__init__()
        if min(in_dim, hidden_dim, out_dim) <= 0:
            raise ValueError(f"head widths must be > 0, got {in_dim}-{hidden_dim}-{out_dim}")
        layers: list[nn.Module] = [nn.Linear(in_dim, hidden_dim, bias=not batch_norm)]
        if batch_norm:
            layers.append(nn.BatchNorm1d(hidden_dim))
        layers += [nn.ReLU(inplace=True), nn.Linear(hidden_dim, out_dim, bias=not last_bn)]
        if last_bn:
            layers.append(nn.BatchNorm1d(out_dim, affine=False))
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        out: Tensor = self.net(x)
        return out


def linear_head(in_dim: int, out_dim: int) -> nn.Linear:
    """A linear classifier (RotNet's rotation head, the supervised baseline's fc)."""
    if in_dim <= 0 or out_dim <= 0:
        raise ValueError(f"head widths must be > 0, got {in_dim}-{out_dim}")
    return nn.Linear(in_dim, out_dim)
