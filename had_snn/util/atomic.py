"""Atomic file writes: write a temporary file in the target's folder, then ``os.replace`` it over the target.

A reader never sees a half-written file, and an interrupted writer leaves the previous version in place. Standard
library only, so the Lava venv (no torch) can use it too.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it over ``path`` only if the block succeeds.

    The temporary name ends with the target's suffix (``.h5``, ``.npz``, ``.aedat4``...), so writers that check or
    append an extension behave as for the target. On error the temporary file is removed and the target is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}")
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files; give the result the usual permissions
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` atomically; returns the path."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def json_safe(obj: Any) -> Any:
    """``obj`` with every non-finite float (NaN, +-inf) replaced by None, so strict JSON parsers read the file."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [json_safe(v) for v in obj]
    return obj


def write_json_atomic(path: str | os.PathLike, obj: Any, indent: int | None = 2) -> Path:
    """Write ``obj`` as strict JSON (non-finite floats as null, a trailing newline) to ``path`` atomically."""
    return write_text_atomic(path, json.dumps(json_safe(obj), indent=indent, allow_nan=False) + "\n")


def save_figure(fig: Any, path: str | os.PathLike, dpi: int = 120, **savefig_kwargs: Any) -> Path:
    """Save a matplotlib figure to ``path`` atomically, then close it (frees pyplot's reference); returns the path.

    ``savefig_kwargs`` go to ``Figure.savefig`` (e.g. ``bbox_inches="tight"``); the format follows the suffix.
    """
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, **savefig_kwargs)
    import matplotlib.pyplot as plt  # only here: the Lava venv imports this module without matplotlib

    plt.close(fig)
    return Path(path)
