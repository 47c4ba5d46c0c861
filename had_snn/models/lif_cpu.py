"""Compiled (numba) CPU kernels of the CUBA LIF time loop used by :class:`had_snn.models.lif_autograd.CubaLIFFunction`.

Each kernel reads and writes every element once: the neurons are cut into blocks that stay in cache while the block
walks over T, instead of ~10 whole-tensor passes per step of the torch path. Arrays are (T, N) in memory order
(N = neurons of one step), float32 or float64. The forward does the same float operations in the same order as
``snntorch.Synaptic`` (no fused multiply-add), so spikes and states equal the torch path bit for bit; the backward
equals it up to summation order. Single-threaded: the loops are memory-bound, and numba's threading layers can clash
with torch's OpenMP runtime. The chip-layer backward runs its per-step row loops in small helper functions
(:func:`_forward_row`, :func:`_reverse_row`, :func:`_accumulate_row`) because inside one large kernel LLVM does not
vectorise them (too many arrays to check for aliasing); each helper loop touches a few arrays and compiles to AVX.
"""

from __future__ import annotations

import hashlib
import inspect
import math

import numba
import numpy as np

from had_snn.models.lif_functional import lif_step

BLOCK = 2048  # neurons per block: (T=8) x 2048 x 4 arrays x 4 B = 256 KiB, inside L2
#: the one float step (:func:`had_snn.models.lif_functional.lif_step`), compiled for the kernels
_lif_step = numba.njit(inline="always")(lif_step)
try:  # numba caches a kernel by its own file only: the step's source is part of the cached kernel's name
    _STEP_KEY: str | None = hashlib.sha256(inspect.getsource(lif_step).encode()).hexdigest()[:12]
except (OSError, TypeError):  # no source on disk: compile in every process rather than risk a stale cache
    _STEP_KEY = None


@numba.njit(inline="always")
def _spiking_mem_grad(grad_spk, v, g_mem_next, b, th, k, half_slope, one, zero):
    """dL/d mem of one spiking neuron and step in the reverse loop: the atan surrogate ``half_slope / (1 + x^2)``,
    ``x = k (v - th)``, on the output spike's gradient, plus the next step's through the decay and the zero reset."""
    x = k * (v - th)
    sg = half_slope / (one + x * x)
    keep = one if v <= th else zero
    return grad_spk * sg + b * g_mem_next * (keep - v * sg)


def _lif_forward(current: np.ndarray, alpha: float, beta: float, threshold: float, spiking: bool,
                 syn: np.ndarray, mem: np.ndarray, spikes: np.ndarray) -> None:
    """Fill ``syn``, the pre-reset ``mem`` and (when ``spiking``) 0/1 ``spikes``, all (T, N), from ``current``: the
    steps of :func:`~had_snn.models.lif_functional.lif_step`."""
    steps, n = current.shape
    dtype = current.dtype.type
    a, b, th, zero, one = dtype(alpha), dtype(beta), dtype(threshold), dtype(0), dtype(1)
    for blk in range((n + BLOCK - 1) // BLOCK):
        lo, hi = blk * BLOCK, min(n, (blk + 1) * BLOCK)
        for i in range(lo, hi):
            syn[0, i] = current[0, i]
            mem[0, i] = current[0, i]
        for t in range(1, steps):
            for i in range(lo, hi):
                v = mem[t - 1, i]
                s, m = _lif_step(syn[t - 1, i], v, one if spiking and v > th else zero, current[t, i], a, b)
                syn[t, i] = s
                mem[t, i] = m
        if spiking:
            for t in range(steps):
                for i in range(lo, hi):
                    spikes[t, i] = one if mem[t, i] > th else zero


def _with_step(kernel, **options):
    """``kernel`` (which calls the float step) compiled by numba, cached under a name that holds the step's source
    hash: numba keys its cache by the kernel's own file only, so a changed :func:`lif_step` recompiles it."""
    kernel.__qualname__ = f"{kernel.__name__.lstrip('_')}_step_{_STEP_KEY}"
    return numba.njit(cache=_STEP_KEY is not None, nogil=True, **options)(kernel)


lif_forward = _with_step(_lif_forward)


@numba.njit(cache=True, nogil=True)
def lif_backward(grad_out: np.ndarray, syn: np.ndarray, mem: np.ndarray, alpha: float, beta: float,
                 threshold: float, spiking: bool, slope: float, grad_in: np.ndarray,
                 partial_sums: np.ndarray) -> None:
    """Reverse loop of the LIF: ``grad_in`` (T, N) = dL/d current; ``partial_sums[block] = (dL/d alpha, dL/d beta)``.

    ``syn`` may be empty (0, 0) when alpha needs no gradient; its partial sum is then 0. ``mem`` is the pre-reset
    membrane from :func:`lif_forward`.
    """
    steps, n = grad_out.shape
    dtype = grad_out.dtype.type
    a, b, th, one = dtype(alpha), dtype(beta), dtype(threshold), dtype(1)
    k, half_slope = dtype(math.pi / 2 * slope), dtype(slope / 2)
    with_syn = syn.shape[0] == steps
    for blk in range((n + BLOCK - 1) // BLOCK):
        lo, hi = blk * BLOCK, min(n, (blk + 1) * BLOCK)
        g_mem_next = np.zeros(hi - lo, dtype=grad_out.dtype)
        g_syn_next = np.zeros(hi - lo, dtype=grad_out.dtype)
        sum_alpha, sum_beta = 0.0, 0.0
        for t in range(steps - 1, -1, -1):
            for j in range(hi - lo):
                i = lo + j
                v = mem[t, i]
                if spiking:
                    g_mem = _spiking_mem_grad(grad_out[t, i], v, g_mem_next[j], b, th, k, half_slope, one, dtype(0))
                else:
                    g_mem = grad_out[t, i] + b * g_mem_next[j]
                g_syn = g_mem + a * g_syn_next[j]
                grad_in[t, i] = g_syn
                if t > 0:
                    prev = mem[t - 1, i]
                    if not spiking or prev <= th:
                        sum_beta += g_mem * prev
                    if with_syn:
                        sum_alpha += g_syn * syn[t - 1, i]
                g_mem_next[j] = g_mem
                g_syn_next[j] = g_syn
        partial_sums[blk, 0] = sum_alpha
        partial_sums[blk, 1] = sum_beta


def num_blocks(n: int) -> int:
    """Blocks of :data:`BLOCK` neurons covering ``n`` (rows of ``partial_sums``)."""
    return (n + BLOCK - 1) // BLOCK


@numba.njit(cache=True, nogil=True)
def _sum64(x: np.ndarray) -> float:
    """The float64 sum of a row in four interleaved partial sums (four independent add chains instead of one)."""
    s0 = s1 = s2 = s3 = 0.0
    n4 = x.shape[0] - x.shape[0] % 4
    for j in range(0, n4, 4):
        s0 += x[j]
        s1 += x[j + 1]
        s2 += x[j + 2]
        s3 += x[j + 3]
    for j in range(n4, x.shape[0]):
        s0 += x[j]
    return (s0 + s1) + (s2 + s3)


@numba.njit(cache=True, nogil=True)
def _gather_row(bias: np.ndarray, scale: np.ndarray, rows: np.ndarray, chan: np.ndarray, vbias: np.ndarray,
                gain: np.ndarray) -> None:
    """Per-neuron voltage bias ``bias[rows, chan]`` and gain ``scale[chan]`` of a block."""
    for j in range(chan.shape[0]):
        vbias[j] = bias[rows[j], chan[j]]
        gain[j] = scale[chan[j]]


@numba.njit(cache=True, nogil=True)
def _setup_rows(vbias: np.ndarray, late: np.ndarray, syn0: np.ndarray, mem0: np.ndarray, one_minus_a: float) -> None:
    """A block's step-0 states (the bias alone) and its later-step current term ``(1 - alpha) * bias``."""
    for j in range(vbias.shape[0]):
        vb = vbias[j]
        late[j] = one_minus_a * vb
        syn0[j] = vb
        mem0[j] = vb


@numba.njit(cache=True, nogil=True)
def _count_index(lo: int, stride: int, n: int, out: np.ndarray) -> None:
    """``out[j] = ((lo + j) // stride) % n`` by counting: two integer divisions per block instead of two per neuron
    (64-bit division is slow; it dominated the block set-up)."""
    i, r = (lo // stride) % n, lo % stride
    for j in range(out.shape[0]):
        out[j] = i
        r += 1
        if r == stride:
            r = 0
            i += 1
            if i == n:
                i = 0


@numba.njit(cache=True, nogil=True)
def _block_index(lo: int, width: int, inner: int, channels: int, sample_stride: int, batch: int, per_sample: bool,
                 chan: np.ndarray, row: np.ndarray) -> None:
    """``chan[j] = ((lo + j) // inner) % channels`` and ``row[j] = ((lo + j) // sample_stride) % batch`` (0 unless
    ``per_sample``) for the ``width`` neurons of a block starting at neuron ``lo``."""
    _count_index(lo, inner, channels, chan[:width])
    if per_sample:
        _count_index(lo, sample_stride, batch, row[:width])
    else:
        row[:width] = 0


def lif_forward_delayed(y: np.ndarray, scale: np.ndarray, bias: np.ndarray, inner: int, sample_stride: int,
                        batch: int, alpha: float, beta: float, threshold: float, spiking: bool, out: np.ndarray,
                        blk_lo: int, blk_hi: int) -> None:
    """:func:`lif_forward` of a chip layer on its synaptic input ``y`` (S, N), over blocks [blk_lo, blk_hi).

    The current is built on the fly (never stored): step 0 is the voltage bias ``bias[b, c]`` (one step of synaptic
    delay), step t >= 1 is ``scale[c] * y[t-1] + (1 - alpha) * bias[b, c]`` (a constant voltage bias through the exact
    current identity). Neuron i has channel ``c = (i // inner) % C`` and sample ``b = (i // sample_stride) % batch``
    (any dense layout of a step; ``bias`` has one row per sample, or a single row for all). Only ``out`` (S+1, N)
    is written: 0/1 spikes when ``spiking``, else the membrane; the states live in per-block registers
    (:func:`lif_backward_delayed` recomputes them from ``y``).
    """
    steps_in, n = y.shape
    dtype = y.dtype.type
    a, b, th, zero, one = dtype(alpha), dtype(beta), dtype(threshold), dtype(0), dtype(1)
    channels = scale.shape[0]
    per_sample = bias.shape[0] > 1
    gain = np.empty(BLOCK, dtype=y.dtype)
    late = np.empty(BLOCK, dtype=y.dtype)
    syn = np.empty(BLOCK, dtype=y.dtype)
    mem = np.empty(BLOCK, dtype=y.dtype)
    vbias = np.empty(BLOCK, dtype=y.dtype)
    chan = np.empty(BLOCK, dtype=np.int64)
    rows = np.empty(BLOCK, dtype=np.int64)
    for blk in range(blk_lo, blk_hi):
        lo, hi = blk * BLOCK, min(n, (blk + 1) * BLOCK)
        _block_index(lo, hi - lo, inner, channels, sample_stride, batch, per_sample, chan, rows)
        width = hi - lo  # per-neuron constants once per block (no divisions in the time loop)
        _gather_row(bias, scale, rows[:width], chan[:width], vbias[:width], gain[:width])
        _setup_rows(vbias[:width], late[:width], syn[:width], mem[:width], one - a)
        out0 = out[0, lo:hi]
        if spiking:
            for j in range(width):
                out0[j] = one if vbias[j] > th else zero
        else:
            out0[:] = vbias[:width]
        for t in range(1, steps_in + 1):
            _forward_out_row(y[t - 1, lo:hi], gain[:width], late[:width], syn[:width], mem[:width], out[t, lo:hi],
                             a, b, th, spiking)


lif_forward_delayed = _with_step(lif_forward_delayed)


def _forward_out_row(y: np.ndarray, gain: np.ndarray, late: np.ndarray, syn: np.ndarray, mem: np.ndarray,
                     out: np.ndarray, a: float, b: float, th: float, spiking: bool) -> None:
    """One :func:`lif_step` of :func:`lif_forward_delayed` over a row of neurons (current ``gain * y + late``),
    updating the states in place and writing the step's output (its own function, branch-free selects: the loop
    vectorises)."""
    zero, one = mem.dtype.type(0), mem.dtype.type(1)
    if spiking:
        for j in range(mem.shape[0]):
            prev = mem[j]
            s, v = _lif_step(syn[j], prev, one if prev > th else zero, gain[j] * y[j] + late[j], a, b)
            syn[j] = s
            mem[j] = v
            out[j] = one if v > th else zero
    else:
        for j in range(mem.shape[0]):
            s, v = _lif_step(syn[j], mem[j], zero, gain[j] * y[j] + late[j], a, b)
            syn[j] = s
            mem[j] = v
            out[j] = v


_forward_out_row = _with_step(_forward_out_row, error_model="numpy")


def _forward_row(y: np.ndarray, syn_prev: np.ndarray, mem_prev: np.ndarray, gain: np.ndarray, late: np.ndarray,
                 syn: np.ndarray, mem: np.ndarray, a: float, b: float, th: float, spiking: bool) -> None:
    """One :func:`lif_step` of :func:`lif_forward_delayed` over a row of neurons: the current ``syn`` and the
    pre-reset ``mem``."""
    zero, one = mem.dtype.type(0), mem.dtype.type(1)
    for j in range(mem.shape[0]):
        prev = mem_prev[j]
        s, m = _lif_step(syn_prev[j], prev, one if spiking and prev > th else zero, gain[j] * y[j] + late[j], a, b)
        syn[j] = s
        mem[j] = m


_forward_row = _with_step(_forward_row)


@numba.njit(cache=True, nogil=True)
def _accumulate_row(g_syn: np.ndarray, g_mem: np.ndarray, y_prev: np.ndarray, syn_prev: np.ndarray,
                    mem_prev: np.ndarray, gain: np.ndarray, vbias: np.ndarray, grad_y: np.ndarray,
                    acc_late: np.ndarray, acc_alpha: np.ndarray, acc_y: np.ndarray, acc_beta: np.ndarray, th: float,
                    spiking: bool, need_scale: bool) -> None:
    """Step t >= 1's share of the gradients over a row of neurons, a few arrays per loop (each vectorises):
    ``grad_y`` (of y[t-1]) and the per-neuron sums of the bias, alpha, scale and beta gradients."""
    zero = g_syn.dtype.type(0)
    for j in range(g_syn.shape[0]):
        grad_y[j] = g_syn[j] * gain[j]
    for j in range(g_syn.shape[0]):
        acc_late[j] += g_syn[j]
        acc_alpha[j] += g_syn[j] * (syn_prev[j] - vbias[j])  # d current[t] / d alpha = -bias
    if need_scale:
        for j in range(g_syn.shape[0]):
            acc_y[j] += g_syn[j] * y_prev[j]
    if spiking:
        for j in range(g_syn.shape[0]):
            prev = mem_prev[j]
            acc_beta[j] += g_mem[j] * (prev if prev <= th else zero)
    else:
        for j in range(g_syn.shape[0]):
            acc_beta[j] += g_mem[j] * mem_prev[j]


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _reverse_row(grad_out: np.ndarray, mem: np.ndarray, g_mem_next: np.ndarray, g_syn_next: np.ndarray,
                 g_mem: np.ndarray, g_syn: np.ndarray, a: float, b: float, th: float, k: float, half_slope: float,
                 spiking: bool) -> None:
    """One step of the LIF's reverse recurrences over a row of neurons (its own function: the loop vectorises)."""
    one, zero = mem.dtype.type(1), mem.dtype.type(0)
    if spiking:
        for j in range(mem.shape[0]):
            gm = _spiking_mem_grad(grad_out[j], mem[j], g_mem_next[j], b, th, k, half_slope, one, zero)
            g_mem[j] = gm
            g_syn[j] = gm + a * g_syn_next[j]
    else:
        for j in range(mem.shape[0]):
            gm = grad_out[j] + b * g_mem_next[j]
            g_mem[j] = gm
            g_syn[j] = gm + a * g_syn_next[j]


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _reverse_accumulate_row(grad_out: np.ndarray, mem: np.ndarray, g_mem: np.ndarray, g_syn: np.ndarray,
                            y_prev: np.ndarray, syn_prev: np.ndarray, mem_prev: np.ndarray, gain: np.ndarray,
                            vbias: np.ndarray, grad_y: np.ndarray, acc_late: np.ndarray, acc_alpha: np.ndarray,
                            acc_y: np.ndarray, acc_beta: np.ndarray, a: float, b: float, th: float, k: float,
                            half_slope: float, need_scale: bool) -> None:
    """Step t >= 1 of a spiking layer's reverse loop over a row of neurons in one pass: ``g_mem``/``g_syn`` hold
    step t + 1's gradients and are overwritten with step t's (as :func:`_reverse_row`), and step t's shares of
    :func:`_accumulate_row` are added."""
    one, zero = mem.dtype.type(1), mem.dtype.type(0)
    for j in range(mem.shape[0]):
        gm = _spiking_mem_grad(grad_out[j], mem[j], g_mem[j], b, th, k, half_slope, one, zero)
        gs = gm + a * g_syn[j]
        g_mem[j] = gm
        g_syn[j] = gs
        grad_y[j] = gs * gain[j]
        acc_late[j] += gs
        acc_alpha[j] += gs * (syn_prev[j] - vbias[j])
        prev = mem_prev[j]
        acc_beta[j] += gm * (prev if prev <= th else zero)
    if need_scale:
        for j in range(mem.shape[0]):
            acc_y[j] += g_syn[j] * y_prev[j]


def lif_backward_delayed(grad_out: np.ndarray, y: np.ndarray, scale: np.ndarray, bias: np.ndarray, inner: int,
                         sample_stride: int, batch: int, alpha: float, beta: float, threshold: float, spiking: bool,
                         slope: float,
                         need_scale: bool, grad_y: np.ndarray, partial_sums: np.ndarray, grad_scale: np.ndarray,
                         grad_bias: np.ndarray, blk_lo: int, blk_hi: int) -> None:
    """Reverse loop of :func:`lif_forward_delayed` over blocks [blk_lo, blk_hi): ``grad_y`` (S, N) = dL/dy;
    ``partial_sums[block] = (dL/d alpha, dL/d beta)``; ``grad_scale`` (C,, only when ``need_scale``) and
    ``grad_bias`` (rows of ``bias``, C) are accumulated (+=). Each block first recomputes its current and pre-reset
    membrane from ``y`` into block-local arrays that stay in cache (the same float operations as the forward, so the
    same values bit for bit), then walks back over the steps storing dL/d mem and dL/d syn per step (block-local),
    then accumulates the parameter gradients step by step."""
    steps, n = grad_out.shape
    dtype = grad_out.dtype.type
    a, b, th, one = dtype(alpha), dtype(beta), dtype(threshold), dtype(1)
    k, half_slope = dtype(math.pi / 2 * slope), dtype(slope / 2)
    channels = scale.shape[0]
    per_sample = bias.shape[0] > 1
    zero = dtype(0)
    gain = np.empty(BLOCK, dtype=grad_out.dtype)
    vbias = np.empty(BLOCK, dtype=grad_out.dtype)
    late = np.empty(BLOCK, dtype=grad_out.dtype)
    syn = np.empty((steps, BLOCK), dtype=grad_out.dtype)  # this block's states, recomputed
    mem = np.empty((steps, BLOCK), dtype=grad_out.dtype)
    g_mems = np.empty((steps + 1, BLOCK), dtype=grad_out.dtype)  # this block's dL/d mem and dL/d syn per step
    g_syns = np.empty((steps + 1, BLOCK), dtype=grad_out.dtype)
    # Per-neuron accumulators (no scalar reduction inside the time loop, so the neuron loop vectorises).
    acc_late = np.zeros(BLOCK, dtype=grad_out.dtype)  # sum over t >= 1 of g_syn (the bias's later steps)
    acc_y = np.zeros(BLOCK, dtype=grad_out.dtype)  # sum over t >= 1 of g_syn * y[t-1] (the scale)
    acc_alpha = np.zeros(BLOCK, dtype=grad_out.dtype)  # sum over t >= 1 of g_syn * (syn[t-1] - bias)
    acc_beta = np.zeros(BLOCK, dtype=grad_out.dtype)  # sum over t >= 1 of g_mem * mem[t-1] * keep[t-1]
    g_syn_next = np.zeros(BLOCK, dtype=grad_out.dtype)
    chan = np.empty(BLOCK, dtype=np.int64)
    rows = np.empty(BLOCK, dtype=np.int64)
    for blk in range(blk_lo, blk_hi):
        lo, hi = blk * BLOCK, min(n, (blk + 1) * BLOCK)
        width = hi - lo
        _block_index(lo, width, inner, channels, sample_stride, batch, per_sample, chan, rows)
        _gather_row(bias, scale, rows[:width], chan[:width], vbias[:width], gain[:width])
        _setup_rows(vbias[:width], late[:width], syn[0, :width], mem[0, :width], one - a)
        acc_late[:width] = zero
        acc_y[:width] = zero
        acc_alpha[:width] = zero
        acc_beta[:width] = zero
        for t in range(1, steps):  # the forward again, as lif_forward_delayed computes it
            _forward_row(y[t - 1, lo:hi], syn[t - 1, :width], mem[t - 1, :width], gain[:width], late[:width],
                         syn[t, :width], mem[t, :width], a, b, th, spiking)
        for j in range(width):
            g_mems[steps, j] = zero
            g_syns[steps, j] = zero
        if spiking:  # one pass per step: the reverse recurrences and the step's gradient shares together
            gm_row, gs_row = g_mems[steps, :width], g_syns[steps, :width]
            for t in range(steps - 1, 0, -1):
                _reverse_accumulate_row(grad_out[t, lo:hi], mem[t, :width], gm_row, gs_row, y[t - 1, lo:hi],
                                        syn[t - 1, :width], mem[t - 1, :width], gain[:width], vbias[:width],
                                        grad_y[t - 1, lo:hi], acc_late[:width], acc_alpha[:width], acc_y[:width],
                                        acc_beta[:width], a, b, th, k, half_slope, need_scale)
            _reverse_row(grad_out[0, lo:hi], mem[0, :width], gm_row, gs_row, g_mems[0, :width], g_syns[0, :width],
                         a, b, th, k, half_slope, spiking)
        else:
            for t in range(steps - 1, -1, -1):  # the reverse recurrences alone, one vectorised row at a time
                _reverse_row(grad_out[t, lo:hi], mem[t, :width], g_mems[t + 1, :width], g_syns[t + 1, :width],
                             g_mems[t, :width], g_syns[t, :width], a, b, th, k, half_slope, spiking)
            for t in range(1, steps):  # then the gradients that only exist for t >= 1, a few arrays per pass
                _accumulate_row(g_syns[t, :width], g_mems[t, :width], y[t - 1, lo:hi], syn[t - 1, :width],
                                mem[t - 1, :width], gain[:width], vbias[:width], grad_y[t - 1, lo:hi],
                                acc_late[:width], acc_alpha[:width], acc_y[:width], acc_beta[:width], th, spiking,
                                need_scale)
        for j in range(width):
            g_syn_next[j] = g_syns[0, j]
        for j in range(width):  # g_syn_next now holds g_syn of step 0 (the bias alone)
            c = chan[j]
            grad_bias[rows[j], c] += g_syn_next[j] + (1.0 - a) * acc_late[j]
            if need_scale:
                grad_scale[c] += acc_y[j]
        partial_sums[blk, 0] = _sum64(acc_alpha[:width])
        partial_sums[blk, 1] = _sum64(acc_beta[:width])


lif_backward_delayed = _with_step(lif_backward_delayed, error_model="numpy")


@numba.njit(cache=True, nogil=True)
def depthwise_grad_weight(x: np.ndarray, g: np.ndarray, k: int, pad: int, out: np.ndarray) -> None:
    """Weight gradient of a stride-1 depthwise correlation with ``k`` x ``k`` kernels and 'same' padding ``pad``, on
    channels-last arrays: ``x`` (N, H, W, C) the input, ``g`` (N, H, W, C) the output's gradient; accumulates
    ``out[ky, kx, c] += sum over n, y, x of x[n, y + ky - pad, x + kx - pad, c] * g[n, y, x, c]`` (in the arrays'
    dtype, summed over n, then rows, then columns). The channel loop is innermost and contiguous (it vectorises);
    oneDNN's own weight gradient of this grouped convolution takes ~3x longer on one core."""
    n, h, w, c = x.shape
    for b in range(n):
        for oy in range(h):
            for ky in range(k):
                iy = oy + ky - pad
                if iy < 0 or iy >= h:
                    continue
                for kx in range(k):
                    acc = out[ky, kx]
                    for ox in range(max(0, pad - kx), min(w, w + pad - kx)):
                        xr = x[b, iy, ox + kx - pad]
                        gr = g[b, oy, ox]
                        for ch in range(c):
                            acc[ch] += xr[ch] * gr[ch]
