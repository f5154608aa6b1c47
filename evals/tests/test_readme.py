"""The README's bad-input table covers every command and every kind of bad input."""

from __future__ import annotations

from pathlib import Path

from bgaug.evals.cli import HANDLERS

README = Path(__file__).resolve().parents[1] / "README.md"
KINDS = (
    "corrupt or truncated image",
    "CMYK",
    "grayscale",
    "RGBA",
    "16-bit",
    "1x1",
    "missing input",
    "unwritable",
    "--device cuda",
    "existing",
)


def _bad_input_table() -> list[str]:
    text = README.read_text()
    assert "## Bad inputs" in text, "README has no 'Bad inputs' section"
    section = text.split("## Bad inputs", 1)[1].split("\n## ", 1)[0]
    return [line for line in section.splitlines() if line.startswith("|")]


def test_bad_input_table_names_every_command_and_case() -> None:
    table = "\n".join(_bad_input_table())
    for command in HANDLERS:
        assert f"`{command}`" in table, command
    for kind in KINDS:
        assert kind in table, kind
