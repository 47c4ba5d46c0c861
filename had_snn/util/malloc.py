"""glibc malloc settings for the emulator's and the trainer's large, short-lived tensors (Linux/glibc only).

Each emulator block allocates synaptic sums and float copies of spikes of a few MB to tens of MB and frees them a
moment later. glibc serves blocks above its mmap threshold (at most 32 MB, adjusted on the fly) with fresh
``mmap`` calls and trims freed memory at the top of the heap, so every block faults its pages in afresh: on the
student that cost about a quarter of an emulator run. :func:`tune_malloc` raises the mmap threshold to 256 MB,
keeps up to 1 GB of freed memory before trimming and grows the heap 64 MB at a time, so blocks reuse the memory of
the block before. The price is memory held by the process after a peak, up to about 1 GB more than glibc's
defaults would keep. ``HAD_SNN_MALLOC_TUNING=0`` leaves glibc's defaults. The ``had-snn`` command and the benches
call it; a script importing the library calls it itself if it wants it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3  # <malloc.h>
SETTINGS_MB = {M_MMAP_THRESHOLD: 256, M_TRIM_THRESHOLD: 1024, M_TOP_PAD: 64}
_applied: bool | None = None


def tune_malloc() -> bool:
    """Apply the settings above once per process; True when glibc accepted them, False when switched off by
    ``HAD_SNN_MALLOC_TUNING=0`` or not on glibc (nothing changes then)."""
    global _applied
    if _applied is not None:
        return _applied
    _applied = False
    if os.environ.get("HAD_SNN_MALLOC_TUNING", "1").strip() == "0" or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (e.g. musl has no mallopt)
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    _applied = all(mallopt(option, mb << 20) == 1 for option, mb in SETTINGS_MB.items())
    return _applied
