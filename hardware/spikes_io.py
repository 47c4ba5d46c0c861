"""Read spike tensors from a user's ``.npz`` (``had-snn windows`` output, or any (T, B, C, H, W) 0/1 array) with
errors that name the option, the file and what was expected (numpy + stdlib only)."""

from __future__ import annotations

import os
import zipfile
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

_READ_ERRORS = (zipfile.BadZipFile, zlib.error, ValueError, OSError, EOFError, KeyError)


def load_spikes_npz(path: str | os.PathLike, keys: Sequence[str], option: str,
                    chw: tuple[int, int, int] | None = None) -> tuple[np.ndarray, str]:
    """The first of ``keys`` found in the ``.npz`` at ``path``, as uint8 0/1 spikes (T, B, C, H, W), and that key.

    ``option`` (e.g. ``--input``) prefixes every error; ``chw`` is the (C, H, W) the network expects per step.
    Refused: a missing file or folder, anything but an ``.npz`` archive of plain arrays, a missing array, a
    non-numeric dtype, a shape other than 5-D with non-empty axes, a per-step shape other than ``chw``, and values
    other than 0 and 1 (the Lava source would send them as graded spikes while the emulator reads them as 1).
    """
    p = Path(path)
    where = f"{option} {p}"
    if not p.exists():
        raise FileNotFoundError(f"{where}: file not found")
    if p.is_dir():
        raise ValueError(f"{where}: is a folder, expected an .npz file")
    wanted = " or ".join(repr(k) for k in keys)
    try:
        archive = np.load(p, allow_pickle=False)
    except _READ_ERRORS as exc:
        raise ValueError(f"{where}: not a readable .npz archive of arrays ({_reason(exc, whole_file=True)})") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise ValueError(f"{where}: is a single .npy array, expected an .npz archive holding {wanted} "
                         "(T, B, C, H, W)")
    with archive:
        key = next((k for k in keys if k in archive.files), None)
        if key is None:
            raise ValueError(f"{where}: expected an array {wanted} (T, B, C, H, W), the archive has {archive.files}")
        try:
            x = archive[key]
        except _READ_ERRORS as exc:
            raise ValueError(f"{where}: array {key!r} cannot be read ({_reason(exc)})") from None
    if x.dtype.kind not in "biuf":
        raise ValueError(f"{where}: {key!r} must hold numbers (0/1 spikes), got dtype {x.dtype}")
    if x.ndim != 5 or 0 in x.shape:
        raise ValueError(f"{where}: {key!r} must be (T, B, C, H, W) with no empty axis, got shape {x.shape}")
    if chw is not None and tuple(x.shape[2:]) != tuple(chw):
        raise ValueError(f"{where}: {key!r} has (C, H, W) = {tuple(x.shape[2:])} per step, the network expects "
                         f"{tuple(chw)}")
    binary = (x == 0) | (x == 1)
    if not binary.all():
        bad = x[~binary]
        raise ValueError(f"{where}: {key!r} must hold 0/1 spikes, found {bad.size} other values (e.g. "
                         f"{bad.flat[0].item()!r})")
    return x.astype(np.uint8), key


def _reason(exc: BaseException, whole_file: bool = False) -> str:
    """A one-line reason that never suggests unpickling (numpy's message asks for ``allow_pickle=True``): numpy
    falls back to unpickling a file that is neither a zip archive nor a .npy array, and needs it for object arrays."""
    text = " ".join(str(exc).split())
    if "pickle" in text.lower():
        return "neither a zip archive nor a .npy array" if whole_file else "it holds Python objects, not plain arrays"
    return text or type(exc).__name__
