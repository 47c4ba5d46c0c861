"""Input paths checked before they are opened, with errors that name the path and what was expected."""

from __future__ import annotations

import os
from pathlib import Path


class FolderNotFileError(IsADirectoryError, ValueError):
    """A path that should be a file is a folder (an ``OSError`` and a ``ValueError``, as readers raise both)."""


def existing_file(path: str | os.PathLike, what: str) -> Path:
    """``path`` as a Path if it is a file; a folder raises :class:`FolderNotFileError`, a missing path
    ``FileNotFoundError``; both messages name the path and ``what`` it should have been."""
    p = Path(path)
    if p.is_dir():
        raise FolderNotFileError(f"{p}: is a folder, expected a file ({what})")
    if not p.is_file():
        raise FileNotFoundError(f"{p}: no such file ({what})")
    return p
