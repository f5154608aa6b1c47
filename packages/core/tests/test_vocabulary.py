"""The shared vocabulary is written once: no package keeps a private copy of a name list.

The guard reads every package's source as text (no imports, so it runs with core alone) and fails on
a literal tuple / list / set naming two or more methods or background augmentations, or a literal
mask-bank file name, anywhere but ``bgaug/core/vocabulary.py``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from bgaug.core.vocabulary import (
    BANK_CONFIG,
    BANK_JOURNAL,
    BANK_MANIFEST,
    BG_AUGS,
    METHOD_NAMES,
    METHODS,
    METHODS_WITH_NEGATIVES,
    PACK_CONFIG,
    bank_file,
    method_traits,
)

REPO = Path(__file__).resolve().parents[3]
SOURCES = sorted(
    p
    for top in ("packages/core", "saliency", "augment", "ssl_methods", "evals", "packages/launch")
    for p in (REPO / top / "src").rglob("*.py")
)
VOCABULARY = REPO / "packages/core/src/bgaug/core/vocabulary.py"
FILE_NAMES = {BANK_CONFIG, BANK_MANIFEST, BANK_JOURNAL, PACK_CONFIG}
OTHER_FILES_OF_THAT_NAME = {
    "packages/core/src/bgaug/core/synth.py",
    "packages/core/src/bgaug/core/synth_preview.py",
}
"""The synthetic benchmark's own manifest.json: a different file that shares the name."""


def private_copies(source: str, file_names: bool = True) -> list[str]:
    """What in ``source`` repeats the vocabulary: name-list literals and (``file_names``) bank file names."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Tuple | ast.List | ast.Set):
            names = {e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)}
            for vocabulary, what in ((set(METHOD_NAMES), "methods"), (set(BG_AUGS) - {"none"}, "bg augs")):
                if len(names & vocabulary) >= 2:
                    found.append(f"line {node.lineno}: a list of {what} {sorted(names & vocabulary)}")
        if file_names and isinstance(node, ast.Constant) and node.value in FILE_NAMES:
            found.append(f"line {node.lineno}: the bank file name {node.value!r}")
    return found


def test_the_guard_finds_private_copies() -> None:
    assert private_copies('M = ("moco_v2", "byol")\n') == ["line 1: a list of methods ['byol', 'moco_v2']"]
    assert private_copies('A = ["none", "bg_rm", "bg_swaps"]\n')
    assert private_copies('open(root / "manifest.json")\n')
    assert private_copies('RUNS = (("moco_v2", "none"), ("moco_v2", "bg_rm"))\n') == []  # pairs, not lists


@pytest.mark.skipif(not SOURCES, reason="package sources are not beside this test (installed elsewhere)")
def test_no_package_keeps_a_private_copy_of_the_vocabulary() -> None:
    copies = {}
    for path in SOURCES:
        name = path.relative_to(REPO).as_posix()
        found = private_copies(path.read_text(encoding="utf-8"), name not in OTHER_FILES_OF_THAT_NAME)
        if path != VOCABULARY and found:
            copies[name] = found
    assert copies == {}, "import these names from bgaug.core.vocabulary instead"


def test_traits() -> None:
    assert METHOD_NAMES[:5] == ("moco_v2", "byol", "swav", "rotnet", "supervised")
    assert METHODS_WITH_NEGATIVES == ("moco_v2", "simclr")
    assert method_traits("moco_v2").bg_augs == BG_AUGS
    assert "bg_swaps" not in method_traits("byol").bg_augs  # no negatives to swap in
    assert "bg_swaps" not in method_traits("rotnet").bg_augs  # one global view
    assert METHODS["supervised"].labels and METHODS["rotnet"].rotations and METHODS["swav"].multi_crop
    with pytest.raises(ValueError, match="method must be one of moco_v2, byol"):
        method_traits("dino")
    assert bank_file("mask", "c0/1.jpg") == "masks/c0/1.jpg.png"
