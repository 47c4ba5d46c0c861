"""Compiled (numba) CPU kernels of the emulator, bit-exact with the torch path of :mod:`emulator`.

Each call covers one layer over a block of time steps and all samples, so no per-step Python or tensor-dispatch
overhead remains:

* :func:`lif_block`: Lava's ``PyLifModelBitAcc`` step per neuron (sign-magnitude decay shift, single 24-bit wrap of
  ``u``, clip of ``v``, strict threshold, reset of ``v`` only) as scalar int64 code.
* :func:`spike_counts`: spikes and spikes x fan-out per step and sample.
"""

from __future__ import annotations

import numba
import numpy as np

UV_LIMIT = 1 << 23
DECAY_SHIFT = 12
ACT_SHIFT = 6


@numba.njit(cache=True, nogil=True)
def lif_block(
    a_in: np.ndarray,
    lead_zero_steps: int,
    u: np.ndarray,
    v: np.ndarray,
    keep_u: int,
    keep_v: int,
    bias: np.ndarray,
    vth: int,
    spikes_out: np.ndarray,
    v_out: np.ndarray,
) -> None:
    """Run ``spikes_out.shape[0]`` LIF steps in place.

    ``a_in`` (S, B, N) integers (int64, or float holding exact integers): synaptic input of the steps after the
    first ``lead_zero_steps`` (which get none);
    ``u``, ``v`` (B, N) int64 state, updated in place; ``keep_u = 4096 - (du + 1)``, ``keep_v = 4096 - dv``;
    ``bias`` (N,) int64 already shifted (``bias_mant << 6``); ``vth`` already shifted (``vth_mant << 6``).
    Writes ``spikes_out`` (T, B, N) bool and, when ``v_out`` has T rows (else 0), ``v`` after the reset (what Lava's
    monitor reads).
    """
    n_steps, batch, n_neurons = spikes_out.shape
    record_v = v_out.shape[0] > 0
    for t in range(n_steps):
        src = t - lead_zero_steps
        for b in range(batch):
            for n in range(n_neurons):
                x = u[b, n] * keep_u
                un = (abs(x) >> DECAY_SHIFT) * np.sign(x)
                if src >= 0:
                    un += np.int64(a_in[src, b, n]) << ACT_SHIFT
                wrapped = un - 2 * UV_LIMIT if un > UV_LIMIT else un
                if wrapped <= -UV_LIMIT:
                    wrapped = un + 2 * UV_LIMIT
                u[b, n] = wrapped
                y = v[b, n] * keep_v
                vn = (abs(y) >> DECAY_SHIFT) * np.sign(y) + wrapped + bias[n]
                vn = min(max(vn, -(UV_LIMIT - 1)), UV_LIMIT - 1)
                fired = vn > vth
                spikes_out[t, b, n] = fired
                vn = 0 if fired else vn
                v[b, n] = vn
                if record_v:
                    v_out[t, b, n] = vn


@numba.njit(cache=True, nogil=True)
def spike_counts(spikes: np.ndarray, fanout: np.ndarray, n_spikes: np.ndarray, synaptic_ops: np.ndarray) -> None:
    """Write per step and sample the number of ``spikes`` (T, B, N) and the sum of their ``fanout`` (N,) int64."""
    n_steps, batch, n = spikes.shape
    for t in range(n_steps):
        for b in range(batch):
            count = 0
            ops = 0
            for i in range(n):
                if spikes[t, b, i]:
                    count += 1
                    ops += fanout[i]
            n_spikes[t, b] = count
            synaptic_ops[t, b] = ops
