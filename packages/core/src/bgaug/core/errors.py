"""The error a user's input causes: every bgaug command prints it as one line and exits with 2.

``UsageError`` subclasses ``ValueError`` so that library callers who catch ``ValueError`` keep
working, but the command lines catch only ``UsageError`` (``cli.USER_ERRORS``): any other
``ValueError``, such as one raised deep inside torch by a bug, keeps its traceback.
"""

from __future__ import annotations


class UsageError(ValueError):
    """A bad argument, option or input file, named in one line (exit status 2)."""
