"""Compiled (numba) inner loop of the event camera model (:mod:`had_snn.data.event_sim`), used when numba imports.

:func:`run_pixels` steps each active pixel through a chunk of log-intensity images with exactly the arithmetic of
the numpy path of :meth:`had_snn.data.event_sim.EventCamera._run` (same operations in the same order, float64), so
both give the same events; only their order differs (pixel-major here), and
:func:`had_snn.data.event_sim.canonical_order` sorts either into one order. numba is optional (the ``train``
extra); without it the numpy path runs.
"""

from __future__ import annotations

import math

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def run_pixels(sub_logs, c_on, c_off, ref, log_prev, last, t_us, t_start, refractory_us):  # pragma: no cover
    """Events of the pixels (columns of ``sub_logs`` (T, A)) over the render times ``t_us`` (T,) after ``t_start``.

    ``ref``, ``log_prev`` and ``last`` (A,) are updated in place. Returns (column index, t_us, polarity 0/1)
    arrays of the events.
    """
    T, A = sub_logs.shape
    cap = 1024
    pix = np.empty(cap, np.int64)
    times = np.empty(cap, np.int64)
    pol = np.empty(cap, np.int8)
    n_ev = 0
    for a in range(A):
        r, lp, la = ref[a], log_prev[a], last[a]
        con, coff = c_on[a], c_off[a]
        t_prev = t_start
        for k in range(T):
            log_now = sub_logs[k, a]
            t_now = t_us[k]
            diff = log_now - r
            r_on = diff / con
            r_off = -diff / coff
            if r_on >= 1.0 or r_off >= 1.0:
                if r_on >= 1.0:
                    sign, c, n = 1, con, int(math.floor(r_on))
                else:
                    sign, c, n = -1, coff, int(math.floor(r_off))
                span = log_now - lp
                if abs(span) < 1e-12:
                    span = sign * 1e-12
                dur = t_now - t_prev
                for j in range(1, n + 1):
                    frac = (r + sign * j * c - lp) / span
                    frac = min(max(frac, 0.0), 1.0)
                    t = t_prev + np.int64(np.rint(frac * dur))
                    t = min(max(t, t_prev + 1), t_now)
                    if t - la >= refractory_us:
                        la = t
                        if n_ev == cap:
                            cap *= 2
                            pix2, times2 = np.empty(cap, np.int64), np.empty(cap, np.int64)
                            pol2 = np.empty(cap, np.int8)
                            pix2[:n_ev], times2[:n_ev], pol2[:n_ev] = pix[:n_ev], times[:n_ev], pol[:n_ev]
                            pix, times, pol = pix2, times2, pol2
                        pix[n_ev], times[n_ev], pol[n_ev] = a, t, 1 if sign > 0 else 0
                        n_ev += 1
                r = r + sign * (n * c)
            lp = log_now
            t_prev = t_now
        ref[a], log_prev[a], last[a] = r, lp, la
    return pix[:n_ev], times[:n_ev], pol[:n_ev]


def warm_up() -> None:
    """Compile (or load from numba's cache) :func:`run_pixels` now, e.g. once before a process pool starts, so
    the workers find it cached instead of each compiling it."""
    logs = np.zeros((1, 1))
    run_pixels(logs, np.ones(1), np.ones(1), np.zeros(1), np.zeros(1), np.zeros(1, np.int64),
               np.ones(1, np.int64), np.int64(0), np.int64(0))
