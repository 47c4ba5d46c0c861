"""Events -> dense tensors: count/spike frames ``(T, 2, H, W)``, voxel grids (bilinear in time), event frames.

Compiled loops (:mod:`had_snn.data.binning_kernel`, numba) add each event to its cell in one pass; without numba,
numpy (``np.bincount`` on flat indices). Time bins come from a binary search either way. Both give tonic's numbers
where the definitions coincide (``bench/bench_binning.py`` compares them and times them against tonic).

Time bins. A window ``[t0_us, t1_us)`` of duration ``D`` is split into ``T`` equal bins; an event goes to bin
``floor((t - t0) * T / D)`` (exact integer arithmetic). With ``t0_us``/``t1_us`` left out, :func:`to_frames` uses
tonic's ``ToFrame(n_time_bins=T)`` rule: ``t0`` = first event, bin width ``(t_last - t0) // T`` microseconds, window
end ``t0 + T * width`` (so, as in tonic, the last event(s) fall outside). :func:`voxel_grid` defaults to
``[t_first, t_last)`` as tonic's ``ToVoxelGrid`` does.

Polarity channels follow tonic: channel 0 holds ``p == 0`` (OFF) events, channel 1 holds ``p == 1`` (ON) events.

Regions. ``region=(x0, y0, w, h)`` px (floats allowed; may extend outside the sensor, which acts as zero padding)
selects a rectangle and ``out_hw=(H_out, W_out)`` the grid it is resampled to. An event at pixel ``(x, y)`` is
placed by its pixel centre: ``col = floor((x + 0.5 - x0) * W_out / w)``, ``row = floor((y + 0.5 - y0) * H_out / h)``,
and dropped when outside ``[0, W_out) x [0, H_out)``. Counts are summed, never interpolated or renormalised, so a
downscaled grid conserves the number of events in the region (each output cell is an area sum). For an integer
region with ``out_hw == (h, w)`` this is exactly :func:`had_snn.data.events.crop_events` followed by binning.
Without ``out_hw`` the output size is ``(round(h), round(w))``.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from had_snn.data.events import search_t
from had_snn.data.sequence import MAX_SENSOR_PX, check_sensor_size

Region = tuple[float, float, float, float]
_CHUNK_EVENTS = 1 << 15


def _grid_shape(sensor_size: tuple[int, int], region: Region | None, out_hw: tuple[int, int] | None) -> tuple[int, int]:
    if out_hw is not None:
        h_out, w_out = int(out_hw[0]), int(out_hw[1])
    elif region is not None:
        h_out, w_out = int(round(region[3])), int(round(region[2]))
    else:
        w_out, h_out = check_sensor_size(tuple(sensor_size)[:2], "sensor_size")  # tonic: (W, H, 2)
    if not (0 < h_out <= MAX_SENSOR_PX and 0 < w_out <= MAX_SENSOR_PX):
        raise ValueError(f"output grid must be 1..{MAX_SENSOR_PX} px per side, got (H, W)=({h_out}, {w_out})")
    return h_out, w_out


def _pixel_index(
    ev: np.ndarray,
    sensor_size: tuple[int, int],
    region: Region | None,
    out_hw: tuple[int, int] | None,
    with_polarity: bool = False,
    out: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray | None, tuple[int, int]]:
    """Flat ``(p * H_out + row) * W_out + col`` index of each event (``p`` term only ``with_polarity``) and a
    keep-mask (None when every event is kept). Without region/out_hw the index is computed in place in ``out``
    (an intp array of ``len(ev)``) when given."""
    h_out, w_out = _grid_shape(sensor_size, region, out_hw)
    if region is None and out_hw is None:  # in-place passes over the strided fields: no temporaries
        idx = np.empty(len(ev), dtype=np.intp) if out is None else out
        if with_polarity:
            idx[...] = ev["p"]
            idx *= h_out
            idx += ev["y"]
        else:
            idx[...] = ev["y"]
        idx *= w_out
        idx += ev["x"]
        return idx, None, (h_out, w_out)
    x0, y0, w, h = region if region is not None else (0.0, 0.0, float(sensor_size[0]), float(sensor_size[1]))
    if w <= 0 or h <= 0:
        raise ValueError(f"region width and height must be positive, got w={w}, h={h}")
    col = np.floor((ev["x"] + (0.5 - x0)) * (w_out / w)).astype(np.intp)
    row = np.floor((ev["y"] + (0.5 - y0)) * (h_out / h)).astype(np.intp)
    keep = (col >= 0) & (col < w_out) & (row >= 0) & (row < h_out)
    if with_polarity:
        row += ev["p"].astype(np.intp) * h_out
    return row * w_out + col, keep, (h_out, w_out)


def _kernel():
    """The compiled loops (:mod:`had_snn.data.binning_kernel`), or None where numba is not installed."""
    try:
        from had_snn.data import binning_kernel
    except ImportError:
        return None
    return binning_kernel


def _region_args(sensor_size: tuple[int, int], region: Region | None,
                 out_hw: tuple[int, int] | None) -> tuple[bool, float, float, float, float]:
    """``(resampled, 0.5 - x0, 0.5 - y0, W_out / w, H_out / h)``: the placement rule of the module docstring, for
    the compiled loops (the numpy path's own operands)."""
    if region is None and out_hw is None:
        return False, 0.0, 0.0, 1.0, 1.0
    h_out, w_out = _grid_shape(sensor_size, region, out_hw)
    x0, y0, w, h = region if region is not None else (0.0, 0.0, float(sensor_size[0]), float(sensor_size[1]))
    if w <= 0 or h <= 0:
        raise ValueError(f"region width and height must be positive, got w={w}, h={h}")
    return True, 0.5 - x0, 0.5 - y0, w_out / w, h_out / h


#: Windows with more events are split in two halves, accumulated in two threads (the loop releases the GIL) into
#: two grids that are then added: the same split on every machine, so the same sums.
VOXEL_SPLIT_EVENTS = 1 << 20


def _compiled_voxels(kernel, win: np.ndarray, shape: tuple[int, int, int], t0_us: int, duration_us: int,
                     region_args: tuple) -> np.ndarray | None:
    """float64 voxel grid of ``win`` by :func:`had_snn.data.binning_kernel.add_voxels`; None: an event lies outside
    the sensor."""
    parts = [win] if len(win) <= VOXEL_SPLIT_EVENTS else [win[: len(win) // 2], win[len(win) // 2:]]
    grids = [np.zeros(shape) for _ in parts]

    def run(i: int) -> int:
        return kernel.add_voxels(parts[i], grids[i], t0_us, duration_us, *region_args)

    if len(parts) == 1 or (os.cpu_count() or 1) < 2:
        codes = [run(i) for i in range(len(parts))]
    else:
        with ThreadPoolExecutor(len(parts)) as pool:
            codes = list(pool.map(run, range(len(parts))))
    if any(c == kernel.OUTSIDE_SENSOR for c in codes):
        return None
    for g in grids[1:]:
        grids[0] += g
    return grids[0]


def _outside(sensor_size: tuple[int, int]) -> ValueError:
    return ValueError(f"event coordinates outside the sensor size (W, H)={tuple(sensor_size)}")


def _bin_edges(ev: np.ndarray, n_bins: int, t0_us: int, t1_us: int) -> np.ndarray:
    """Event index where each of the ``n_bins`` bins of ``[t0, t1)`` starts, plus the end index (n_bins + 1)."""
    dur = t1_us - t0_us
    i = np.arange(n_bins + 1, dtype=np.int64)
    # bin k = floor((t - t0) * T / D) starts at the first t with (t - t0) >= ceil(k * D / T)
    starts = t0_us + -((-i * dur) // n_bins)
    return search_t(ev, starts)


def _check(ev: np.ndarray, n_bins: int) -> None:
    if not {"x", "y", "t", "p"} <= set(ev.dtype.names or ()):
        raise ValueError(f"events need fields x, y, t, p; got {ev.dtype.names}")
    if n_bins <= 0:
        raise ValueError(f"number of time bins must be >= 1, got {n_bins}")


def to_frames(
    ev: np.ndarray,
    sensor_size: tuple[int, int],
    n_time_bins: int,
    t0_us: int | None = None,
    t1_us: int | None = None,
    region: Region | None = None,
    out_hw: tuple[int, int] | None = None,
    binary: bool = False,
) -> np.ndarray:
    """Count events per (time bin, polarity, pixel): float32 ``(T, 2, H, W)``.

    Args:
        ev: EVENT_DTYPE events sorted by ``t``.
        sensor_size: ``(W, H)`` px; tonic's ``sensor_size=(W, H, 2)``.
        n_time_bins: ``T``.
        t0_us, t1_us: the window ``[t0, t1)``; both default to tonic's ``n_time_bins`` rule (module docstring).
        region, out_hw: crop/resample the pixel grid (module docstring).
        binary: clip counts to 0/1 spikes.
    """
    _check(ev, n_time_bins)
    h_out, w_out = _grid_shape(sensor_size, region, out_hw)
    plane = h_out * w_out
    out = np.zeros((n_time_bins, 2, h_out, w_out), dtype=np.float32)
    if len(ev) == 0:
        return out
    t = ev["t"]
    if t0_us is None:
        t0_us = int(t[0])
    if t1_us is None:
        t1_us = t0_us + n_time_bins * ((int(t[-1]) - t0_us) // n_time_bins)
    if t1_us <= t0_us:
        return out
    edges = _bin_edges(ev, n_time_bins, int(t0_us), int(t1_us))
    kernel = _kernel()
    if kernel is not None:
        code = kernel.count_frames(ev, edges, out, *_region_args(sensor_size, region, out_hw))
        if code == kernel.OUTSIDE_SENSOR:
            raise _outside(sensor_size)
        if binary:
            np.minimum(out, 1.0, out=out)
        return out
    flat = out.reshape(n_time_bins, 2 * plane)
    buf = np.empty(int(np.diff(edges).max()), dtype=np.intp)
    for k in range(n_time_bins):
        n = 0
        # cache-sized chunks: the strided field reads and the index arithmetic stay in L2; one bincount per bin
        for a in range(int(edges[k]), int(edges[k + 1]), _CHUNK_EVENTS):
            part = ev[a:min(a + _CHUNK_EVENTS, int(edges[k + 1]))]
            idx, keep, _ = _pixel_index(part, sensor_size, region, out_hw, True, out=buf[n:n + len(part)])
            if keep is not None:
                idx = idx[keep]
                buf[n:n + len(idx)] = idx
            n += len(idx)
        counts = np.bincount(buf[:n], minlength=2 * plane)
        if len(counts) > 2 * plane:
            raise _outside(sensor_size)
        flat[k] = counts
    if binary:
        np.minimum(out, 1.0, out=out)
    return out


def voxel_grid(
    ev: np.ndarray,
    sensor_size: tuple[int, int],
    n_bins: int,
    t0_us: int | None = None,
    t1_us: int | None = None,
    region: Region | None = None,
    out_hw: tuple[int, int] | None = None,
) -> np.ndarray:
    """Event volume with bilinear interpolation in time (Zhu et al. 2019): float32 ``(n_bins, H, W)``.

    Each event in ``[t0, t1)`` has normalised time ``s = n_bins * (t - t0) / (t1 - t0)`` and adds its polarity
    (+1 ON, -1 OFF) weighted ``1 - frac(s)`` to bin ``floor(s)`` and ``frac(s)`` to bin ``floor(s) + 1`` (dropped
    past the last bin). Defaults ``t0 = t_first``, ``t1 = t_last`` reproduce tonic's ``ToVoxelGrid`` (its output
    has shape ``(n_bins, 1, H, W)``).
    """
    _check(ev, n_bins)
    h_out, w_out = _grid_shape(sensor_size, region, out_hw)
    plane = h_out * w_out
    out = np.zeros(n_bins * plane, dtype=np.float64)
    if len(ev) == 0:
        return out.reshape(n_bins, h_out, w_out).astype(np.float32)
    t = ev["t"]
    t0_us = int(t[0]) if t0_us is None else int(t0_us)
    t1_us = int(t[-1]) if t1_us is None else int(t1_us)
    if t1_us > t0_us:
        win = ev[slice(*search_t(ev, [t0_us, t1_us]))]
        kernel = _kernel()
        if kernel is not None:
            grid = _compiled_voxels(kernel, win, (n_bins, h_out, w_out), t0_us, t1_us - t0_us,
                                    _region_args(sensor_size, region, out_hw))
            if grid is None:
                raise _outside(sensor_size)
            return grid.astype(np.float32)
        idx, keep, _ = _pixel_index(win, sensor_size, region, out_hw)
        frac = (win["t"] - t0_us).astype(np.float64)
        frac *= n_bins  # same operation order as tonic: n * (t - t0) / D
        frac /= t1_us - t0_us
        base = frac.astype(np.intp)  # time bin, < n_bins inside [t0, t1)
        frac -= base
        w_right = win["p"].astype(np.float64)
        w_right *= 2.0
        w_right -= 1.0  # polarity +1 / -1
        if keep is not None:
            idx, base, frac, w_right = idx[keep], base[keep], frac[keep], w_right[keep]
        w_left = w_right * (1.0 - frac)
        w_right *= frac
        base *= plane
        base += idx
        out += np.bincount(base, weights=w_left, minlength=n_bins * plane)
        # the right neighbour of bin k is bin k + 1; weights that would land past the last bin are dropped
        out[plane:] += np.bincount(base, weights=w_right, minlength=n_bins * plane)[:-plane]
    return out.reshape(n_bins, h_out, w_out).astype(np.float32)


def event_frame(
    ev: np.ndarray,
    sensor_size: tuple[int, int],
    signed: bool = False,
    t0_us: int | None = None,
    t1_us: int | None = None,
    region: Region | None = None,
    out_hw: tuple[int, int] | None = None,
) -> np.ndarray:
    """All events of ``[t0, t1)`` (default: every event) in one image, for plots and quick looks.

    Returns float32 ``(2, H, W)`` counts (channel 0 OFF, channel 1 ON), or with ``signed=True`` the ``(H, W)``
    image ``ON - OFF``.
    """
    if t0_us is None:
        t0_us = int(ev["t"][0]) if len(ev) else 0
    if t1_us is None:
        t1_us = int(ev["t"][-1]) + 1 if len(ev) else 1
    counts = to_frames(ev, sensor_size, 1, t0_us=t0_us, t1_us=t1_us, region=region, out_hw=out_hw)[0]
    return counts[1] - counts[0] if signed else counts
