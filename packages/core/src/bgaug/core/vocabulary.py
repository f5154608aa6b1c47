"""The names every bgaug package shares, written once: the methods and their traits, the background
augmentations, and the on-disk layout of mask banks and mask packs.

Adding an SSL method is one ``MethodTraits`` entry here, one module in ``bgaug.ssl_methods.methods``
registered in ``ssl_methods.registry``, its views in ``augment.recipes.method_views`` and its
optimisation recipe in ``ssl_methods.recipes`` (docs/architecture.md has the worked example). Every
other list of names is derived from this module; ``packages/core/tests/test_vocabulary.py`` fails
if a package keeps a private copy of one.
"""

from __future__ import annotations

from dataclasses import dataclass

from bgaug.core.errors import UsageError

BG_AUGS: tuple[str, ...] = ("none", "bg_rm", "bg_random", "bg_swaps")
"""Background augmentations (paper section 2.2): none, BG_RM (gray), BG_Random (another image's
tiled background), BG_Swaps (BG_Random in query and key plus background-matched negatives)."""
TILED_BG_AUGS: tuple[str, ...] = tuple(a for a in BG_AUGS if a in {"bg_random", "bg_swaps"})
"""The augmentations that paste another image's tiled background (they need a bank's backgrounds)."""


@dataclass(frozen=True)
class MethodTraits:
    """What the other packages need to know about a method, without importing it.

    ``negatives``: the loss contrasts against negatives, so BG_Swaps' matched negatives apply.
    ``global_views``: views a background augmentation may touch (multi-crop's local crops never).
    ``multi_crop``: the method adds local crops. ``labels``: trains on class labels.
    ``rotations``: the pretext task predicts a rotation of the first view.
    """

    name: str
    label: str
    negatives: bool = False
    global_views: int = 2
    multi_crop: bool = False
    labels: bool = False
    rotations: bool = False

    @property
    def bg_augs(self) -> tuple[str, ...]:
        """The background augmentations that apply: BG_Swaps needs negatives and two global views."""
        usable_swaps = self.negatives and self.global_views >= 2
        return tuple(a for a in BG_AUGS if a != "bg_swaps" or usable_swaps)


_TRAITS: tuple[MethodTraits, ...] = (
    MethodTraits("moco_v2", "MoCo-v2", negatives=True),
    MethodTraits("byol", "BYOL"),
    MethodTraits("swav", "SwAV", multi_crop=True),
    MethodTraits("rotnet", "RotNet", global_views=1, rotations=True),
    MethodTraits("supervised", "Supervised", global_views=1, labels=True),
    MethodTraits("simclr", "SimCLR", negatives=True),
)
METHODS: dict[str, MethodTraits] = {t.name: t for t in _TRAITS}
"""Every method by name, in the paper's order (then SimCLR, the method the paper leaves as future work)."""
METHOD_NAMES: tuple[str, ...] = tuple(METHODS)
METHODS_WITH_NEGATIVES: tuple[str, ...] = tuple(n for n, t in METHODS.items() if t.negatives)


def method_traits(name: str) -> MethodTraits:
    """The traits of method ``name``; an unknown name raises ``ValueError`` listing the known ones."""
    try:
        return METHODS[name]
    except KeyError:
        raise UsageError(f"method must be one of {', '.join(METHOD_NAMES)}, got {name!r}") from None


# -- mask banks and packs on disk ------------------------------------------------------------------
BANK_FORMAT = "bgaug-maskbank/1"
BANK_CONFIG = "bank.json"
"""A mask bank's build settings (detector, threshold, options), written when the build starts."""
BANK_MANIFEST = "manifest.json"
"""Written last: its presence marks a finished mask bank (one entry per image, dataset-index order)."""
BANK_JOURNAL = "journal.jsonl"
"""Present while a bank is being built (one line per finished image); removed at the end."""
BANK_SUBDIRS: dict[str, str] = {"mask": "masks", "background": "backgrounds", "soft": "soft"}
"""Where each kind of bank file lives: ``BANK/<subdir>/<image's relative path>.png``."""
PACK_CONFIG = "pack.json"
"""The file that marks a directory as a mask pack (the GPU data path's memory-mapped store)."""


def bank_file(kind: str, relpath: str) -> str:
    """A bank file's path relative to the bank root: the image's relative path plus ``.png``
    (``masks/c0/0001.jpg.png``), so images differing only in their extension keep apart."""
    return f"{BANK_SUBDIRS[kind]}/{relpath}.png"
