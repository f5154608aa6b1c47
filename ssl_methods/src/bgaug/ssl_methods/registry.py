"""``build_method``: one name in, one ready-to-train method out."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bgaug.core.backbones import build_backbone
from bgaug.core.config import config_from_dict
from bgaug.core.errors import UsageError
from bgaug.core.vocabulary import METHOD_NAMES, method_traits
from bgaug.ssl_methods.methods.base import Method
from bgaug.ssl_methods.methods.byol import Byol, ByolConfig
from bgaug.ssl_methods.methods.moco import MocoConfig, MocoV2
from bgaug.ssl_methods.methods.rotnet import RotNet, RotNetConfig
from bgaug.ssl_methods.methods.simclr import Simclr, SimclrConfig
from bgaug.ssl_methods.methods.supervised import Supervised, SupervisedConfig
from bgaug.ssl_methods.methods.swav import Swav, SwavConfig

_METHODS: dict[str, tuple[Callable[..., Method], type[Any]]] = {
    "moco_v2": (MocoV2, MocoConfig),
    "byol": (Byol, ByolConfig),
    "swav": (Swav, SwavConfig),
    "rotnet": (RotNet, RotNetConfig),
    "supervised": (Supervised, SupervisedConfig),
    "simclr": (Simclr, SimclrConfig),
}
METHODS: tuple[str, ...] = METHOD_NAMES
if set(_METHODS) != set(METHOD_NAMES):  # one implementation per name of core's vocabulary
    raise ImportError(f"ssl_methods implements {sorted(_METHODS)}; core's vocabulary: {sorted(METHOD_NAMES)}")


def method_options(name: str) -> type[Any]:
    """The options dataclass of a method (its fields are ``build_method``'s ``**options``)."""
    method_traits(name)  # an unknown name: ValueError listing the known ones
    return _METHODS[name][1]


def build_method(
    name: str,
    *,
    arch: str = "resnet18",
    small_stem: bool = False,
    num_classes: int | None = None,
    **options: Any,
) -> Method:
    """Build method ``name`` on a fresh ``arch`` backbone; ``options`` are its config fields.

    ``num_classes`` is required by (and only used by) ``supervised``. Unknown options raise
    ``ValueError`` naming them. Seed torch's global generator first for reproducible initialisation.
    """
    config_cls = method_options(name)
    method_cls = _METHODS[name][0]
    if method_traits(name).labels:
        if num_classes is None:
            raise UsageError("supervised needs num_classes")
        options = {**options, "num_classes": num_classes}
    config = config_from_dict(config_cls, options)
    backbone, feature_dim = build_backbone(
        arch, small_stem=small_stem, zero_init_residual=name == "supervised"
    )
    method: Method = method_cls(backbone, feature_dim, config, arch=arch, small_stem=small_stem)
    return method
