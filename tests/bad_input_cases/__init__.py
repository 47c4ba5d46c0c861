"""Rows of the bad-input table run by ``tests/test_bad_input.py``: one module per area, each exporting ``CASES``.

A row is a :class:`Case`: the command line (``{data}``, ``{student}``, ``{teacher}``, ``{tmp}`` are filled in), the
files to prepare first, the expected exit code, the words the one-line message must contain, and a check of the
output folder afterwards.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Env:
    """Where a row runs: ``tmp`` is its own empty folder; the rest are shared, read-only fixtures (copy to change)."""

    tmp: Path
    data: Path  # a tiny synthetic benchmark (ROOT/index.json, train/val/test with 2 sequences each, 64x48 px)
    student: Path  # a tiny student checkpoint (widths 4/8/8, 16/32 px crops)
    teacher: Path  # a tiny RGB+event teacher checkpoint
    seq: Path  # one native sequence file (data/test/<name>.h5)


@dataclass(frozen=True)
class Case:
    """One bad input and what must happen."""

    id: str
    argv: tuple[str, ...]
    code: int  # expected exit code (argparse usage errors: 2)
    words: tuple[str, ...] = ()  # all must appear (case-insensitive) in the output; for code != 0 in the error line
    setup: Callable[[Env], None] | None = None
    check: Callable[[Env], None] | None = None  # asserts the state of the output folder afterwards
