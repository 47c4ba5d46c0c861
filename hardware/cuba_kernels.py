"""Compiled (numba) CPU kernels of the chip's integer dynamics, beside their one definition in :mod:`cuba`.

The emulator (:mod:`had_snn.conversion.emulator`) and the QAT neuron (:mod:`had_snn.models.lif_autograd`) call them,
bit-exact with the emulator's torch path. numba is not in the Lava venv: the modules Lava runs never import this one.

Each call covers one layer over a block of time steps and all samples, so no per-step Python or tensor-dispatch
overhead remains:

* :func:`lif_block`: Lava's ``PyLifModelBitAcc`` step per neuron, :func:`had_snn.hardware.cuba.lif_step_int` (the one
  definition: sign-magnitude decay shift, single 24-bit wrap of ``u``, clip of ``v``, strict threshold, reset of ``v``
  only) compiled by numba on scalar int64.
* :func:`spike_counts`: spikes and spikes x fan-out per step and sample.
"""

from __future__ import annotations

import hashlib
import inspect
import types

import numba
import numpy as np

from had_snn.hardware import cuba


def _compiled(fn: types.FunctionType, helpers: tuple[str, ...] = ()) -> numba.core.registry.CPUDispatcher:
    """``fn`` of :mod:`had_snn.hardware.cuba` compiled by numba, the cuba functions it calls (``helpers``) too."""
    env = dict(fn.__globals__)
    env.update({name: _compiled(getattr(cuba, name)) for name in helpers})
    return numba.njit(inline="always")(types.FunctionType(fn.__code__, env, fn.__name__, fn.__defaults__))


#: the chip's LIF step (:func:`had_snn.hardware.cuba.lif_step_int`), compiled: one definition for both paths
_lif_step = _compiled(cuba.lif_step_int, ("decay_int", "wrap_u", "clip_v"))
#: numba's on-disk cache checks only this file for changes, not cuba.py, whose step is compiled into lif_block: the
#: cache entry is named after a hash of cuba.py, so an edit there compiles afresh instead of reusing stale code
try:
    _CUBA_KEY: str | None = hashlib.sha256(inspect.getsource(cuba).encode()).hexdigest()[:12]
except (OSError, TypeError):  # no source on disk: compile in every process rather than risk a stale cache
    _CUBA_KEY = None


def _lif_block(
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
    ``u``, ``v`` (B, N) int64 state, updated in place; ``keep_u = 4096 - iDecay``, ``keep_v = 4096 - vDecay``;
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
                a = np.int64(a_in[src, b, n]) if src >= 0 else np.int64(0)
                un, vn, fired = _lif_step(u[b, n], v[b, n], a, keep_u, keep_v, bias[n], vth)
                u[b, n] = un
                v[b, n] = vn
                spikes_out[t, b, n] = fired
                if record_v:
                    v_out[t, b, n] = vn


_lif_block.__qualname__ = f"lif_block_cuba_{_CUBA_KEY}"
lif_block = numba.njit(cache=_CUBA_KEY is not None, nogil=True)(_lif_block)


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


def _chip_lif_layer(a_in: np.ndarray, inner: int, sample_stride: int, batch: int, keep_u: int, keep_v: int,
                    bias: np.ndarray, vth: np.ndarray, spiking: bool, out: np.ndarray) -> None:
    """The chip's LIF (:func:`had_snn.hardware.cuba.lif_step_int`) of one layer from the zero state, for the
    quantisation-aware student's forward (:class:`had_snn.models.lif_autograd.ChipLIFFunction`).

    ``a_in`` (S, N) float holding exact integers: the synaptic sums in memory order (any dense layout of a step:
    neuron i has channel ``(i // inner) % C`` and sample ``(i // sample_stride) % batch``); step 0 gets no input (one
    step of synaptic delay) and step t >= 1 gets ``a_in[t - 1]``. ``bias`` (rows, C) int64 already shifted
    (``bias_mant << 6``) and ``vth`` (rows,) already shifted, one row per sample or a single row for all. Writes
    ``out`` (S + 1, N): 0/1 spikes when ``spiking``, else ``v`` after the reset (what the emulator reads out)."""
    steps_in, n = a_in.shape
    channels = bias.shape[1]
    per_sample = bias.shape[0] > 1
    for i in range(n):
        c = (i // inner) % channels
        row = (i // sample_stride) % batch if per_sample else 0
        b_sh = bias[row, c]
        th = vth[row]
        u = np.int64(0)
        v = np.int64(0)
        for t in range(steps_in + 1):
            a = np.int64(a_in[t - 1, i]) if t > 0 else np.int64(0)
            u, v, fired = _lif_step(u, v, a, keep_u, keep_v, b_sh, th)
            if spiking:
                out[t, i] = 1.0 if fired else 0.0
            else:
                out[t, i] = v


_chip_lif_layer.__qualname__ = f"chip_lif_layer_cuba_{_CUBA_KEY}"
chip_lif_layer = numba.njit(cache=_CUBA_KEY is not None, nogil=True)(_chip_lif_layer)
