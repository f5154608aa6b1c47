"""The error a user's input causes: every bgaug command prints it as one line and exits with 2.

``UsageError`` subclasses ``ValueError`` so that library callers who catch ``ValueError`` keep
working, but the command lines catch only ``UsageError`` (``cli.USER_ERRORS``): any other
``ValueError``, such as one raised deep inside torch by a bug, keeps its traceback.
"""

from __future__ import annotations


class UsageError(ValueError):
    """A bad argument, option or input file, named in one line (exit status 2)."""


def one_line(exc: BaseException, limit: int | None = 300) -> str:
    """An exception's message on one line, cut at ``limit`` characters unless ``limit`` is None
    (torch's messages run to pages: a state-dict error lists every key on its own line)."""
    text = " ".join(str(exc).split())
    return text if limit is None or len(text) <= limit else text[: limit - 3] + "..."
