"""Compiled (numba) inner loops of :mod:`had_snn.data.binning`, used when numba imports.

One pass over the events, each added to its output cell in place: no index, weight or count arrays. The pixel and
time arithmetic is that of the numpy path (same operations in the same order, float64), so the cells are the same;
voxel sums may differ from the numpy path's in the last bits of float64 (another order of additions), far below
float32's resolution. numba is optional (the ``train`` extra); without it the numpy path runs.
"""

from __future__ import annotations

import math

import numba
import numpy as np

OK, OUTSIDE_SENSOR = 0, 1


@numba.njit(cache=True, nogil=True, inline="always")
def _cell(e, region, ox, oy, sx, sy, h_out, w_out):  # pragma: no cover - compiled
    """(row, col) of event ``e`` in the output grid; row -1: dropped (outside the region); -2: outside the sensor."""
    if region:
        col = math.floor((np.float64(e.x) + ox) * sx)
        row = math.floor((np.float64(e.y) + oy) * sy)
        if col < 0 or col >= w_out or row < 0 or row >= h_out:
            return -1, 0
        return row, col
    if e.x >= w_out or e.y >= h_out:
        return -2, 0
    return np.int64(e.y), np.int64(e.x)


@numba.njit(cache=True, nogil=True)
def count_frames(ev, edges, out, region, ox, oy, sx, sy):  # pragma: no cover - compiled
    """Add each event of bin k (``ev[edges[k]:edges[k + 1]]``) to ``out[k, p, row, col]`` (float32 (T, 2, H, W))."""
    h_out, w_out = out.shape[2], out.shape[3]
    for k in range(out.shape[0]):
        for i in range(edges[k], edges[k + 1]):
            e = ev[i]
            row, col = _cell(e, region, ox, oy, sx, sy, h_out, w_out)
            if row == -2:
                return OUTSIDE_SENSOR
            if row >= 0:
                out[k, e.p, row, col] += 1.0
    return OK


@numba.njit(cache=True, nogil=True)
def add_voxels(win, out, t0_us, duration_us, region, ox, oy, sx, sy):  # pragma: no cover - compiled
    """Bilinear-in-time voxel grid of ``win`` into ``out`` (float64 (n_bins, H, W)), as
    :func:`had_snn.data.binning.voxel_grid` defines it."""
    n_bins, h_out, w_out = out.shape
    for i in range(win.shape[0]):
        e = win[i]
        row, col = _cell(e, region, ox, oy, sx, sy, h_out, w_out)
        if row == -2:
            return OUTSIDE_SENSOR
        if row < 0:
            continue
        s = np.float64(e.t - t0_us)
        s *= n_bins
        s /= duration_us
        base = np.int64(s)
        if base < 0 or base >= n_bins:  # outside [t0, t1): the caller's window excludes these; never write past
            continue
        frac = s - base
        w = np.float64(e.p) * 2.0 - 1.0
        out[base, row, col] += w * (1.0 - frac)
        if base + 1 < n_bins:
            out[base + 1, row, col] += w * frac
    return OK
