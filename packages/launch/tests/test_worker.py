from __future__ import annotations

import pytest

from bgaug.launch.worker import load_size, sync_bn_groups


def test_sync_bn_groups_are_consecutive_ranks() -> None:
    assert sync_bn_groups(16, 8) == [list(range(8)), list(range(8, 16))]
    assert sync_bn_groups(4, 4) == [[0, 1, 2, 3]]
    with pytest.raises(ValueError, match="does not divide"):
        sync_bn_groups(6, 4)


def test_load_size_keeps_the_imagenet_ratio() -> None:
    assert load_size(224) == 256
    assert load_size(32) == 37
