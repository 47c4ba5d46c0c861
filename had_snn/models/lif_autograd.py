"""The CUBA LIF over all T steps as single autograd nodes, on the recurrence of :func:`~had_snn.models.lif_functional.
lif_step`.

:class:`CubaLIFFunction` runs all T steps as one node that keeps only the pre-reset membrane (plus the current when
the decays learn) for a backward in one reverse loop, instead of an autograd graph of ~10 nodes per step. On CPU the
loops are numba kernels (:mod:`had_snn.models.lif_cpu`, one pass over memory each); elsewhere, or with
``HAD_SNN_TORCH_LIF=1``, whole-tensor torch ops (:func:`~had_snn.models.lif_functional.lif_states`).

The chip's timing (:mod:`had_snn.hardware.cuba`): :func:`delayed_current` builds the current of a synaptic layer with
the chip's one step of delay (a zero step prepended) and a voltage bias folded in through an exact identity (a
voltage bias ``b`` equals a current bias of ``b`` at step 0 and ``(1 - alpha) b`` at every later step);
:class:`DelayedCubaLIFFunction` fuses that current into the LIF on the CPU (the current is never stored).

Quantisation-aware training: :class:`ChipLIFFunction` runs the chip's own integer arithmetic on the synaptic sums of
the integer weight mantissas, the step of :func:`had_snn.hardware.cuba.lif_step_int` that the emulator runs (numba on
the CPU, int64 torch ops elsewhere), so its spikes and read-out equal the emulator's bit for bit; its backward is the
float layer's surrogate gradient (straight-through).
"""

from __future__ import annotations

import os

import numpy as np
import torch
from torch.autograd.function import once_differentiable

try:  # numba is in the train extra; without it (or on CUDA) the torch path runs
    from had_snn.models import lif_cpu
except ImportError:  # pragma: no cover - exercised only where numba is missing
    lif_cpu = None

from had_snn.models.lif_functional import atan_surrogate_denominator, lif_states, memory_order


class CubaLIFFunction(torch.autograd.Function):
    """CUBA LIF over T steps as one autograd node: ``apply(current, alpha, beta, threshold, slope)``.

    ``alpha``/``beta`` are 0-dim tensors (already clamped); ``threshold=None`` returns the membrane (non-spiking
    read-out), otherwise float 0/1 spikes. Backward, one reverse loop (g = dL/d, s' the surrogate, keep = 1 - spk)::

        g_mem[t] = g_out[t] * s'[t] + beta * g_mem[t+1] * (keep[t] - mem[t] * s'[t])
        g_syn[t] = g_mem[t] + alpha * g_syn[t+1];   g_input = g_syn
        g_alpha = sum g_syn[t] * syn[t-1];          g_beta = sum g_mem[t] * mem[t-1] * keep[t-1]
    """

    @staticmethod
    def forward(ctx, current: torch.Tensor, alpha: torch.Tensor, beta: torch.Tensor,  # type: ignore[override]
                threshold: float | None, slope: float) -> torch.Tensor:
        a, b = float(alpha), float(beta)
        ctx.decays, ctx.threshold, ctx.slope = (a, b), threshold, slope
        compiled = use_compiled(current)
        if compiled:
            syn, mem, spikes = _compiled_forward(current, a, b, threshold)
        else:
            syn, mem = lif_states(current, a, b, threshold)
            spikes = None if threshold is None else torch.gt(mem, threshold, out=torch.empty_like(mem))
        ctx.compiled = compiled
        ctx.save_for_backward(syn if ctx.needs_input_grad[1] else None, mem)
        return mem if threshold is None else spikes

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out: torch.Tensor):  # type: ignore[override]
        syn, mem = ctx.saved_tensors
        if ctx.compiled:
            g_in, g_alpha, g_beta = _compiled_backward(ctx, grad_out, syn, mem)
        else:
            g_in, g_alpha, g_beta = _torch_backward(ctx, grad_out, syn, mem)
        return (g_in, g_alpha if ctx.needs_input_grad[1] else None, g_beta if ctx.needs_input_grad[2] else None,
                None, None)


def use_compiled(current: torch.Tensor) -> bool:
    """Whether the numba kernels run this input: CPU float32/float64, numba importable, not disabled."""
    return (lif_cpu is not None and current.device.type == "cpu" and current.dtype in (torch.float32, torch.float64)
            and os.environ.get("HAD_SNN_TORCH_LIF", "0") != "1")


def _rows(x: torch.Tensor) -> np.ndarray:
    """A dense (T, ...) tensor whose time axis is outermost in memory as a (T, N) numpy view (no copy)."""
    return memory_order(x).view(x.shape[0], -1).numpy()


def _dense_time_major(x: torch.Tensor) -> torch.Tensor:
    """``x`` itself when dense with time outermost in memory (any layout per step), else a contiguous copy."""
    order = sorted(range(x.dim()), key=lambda d: x.stride(d), reverse=True)
    dense = torch.empty_like(x).stride() == x.stride()
    return x if dense and (order[0] == 0 or x.shape[0] == 1) else x.contiguous()


def _compiled_forward(current: torch.Tensor, a: float, b: float, threshold: float | None):
    current = _dense_time_major(current.detach())
    syn, mem = torch.empty_like(current), torch.empty_like(current)
    spikes = torch.empty_like(current) if threshold is not None else None
    lif_cpu.lif_forward(_rows(current), a, b, 0.0 if threshold is None else threshold, threshold is not None,
                        _rows(syn), _rows(mem), _rows(mem if spikes is None else spikes))
    return syn, mem, spikes


def _compiled_backward(ctx, grad_out: torch.Tensor, syn: torch.Tensor | None, mem: torch.Tensor):
    a, b = ctx.decays
    th = ctx.threshold
    if grad_out.stride() != mem.stride():
        grad_out = torch.empty_like(mem).copy_(grad_out)
    grad_in = torch.empty_like(mem)
    rows = _rows(mem)
    sums = np.zeros((lif_cpu.num_blocks(rows.shape[1]), 2))
    syn_rows = _rows(syn) if syn is not None else np.zeros((0, 0), rows.dtype)
    lif_cpu.lif_backward(_rows(grad_out.detach()), syn_rows, rows, a, b, 0.0 if th is None else th, th is not None,
                         ctx.slope, _rows(grad_in), sums)
    g_alpha, g_beta = torch.from_numpy(sums.sum(0)).to(mem.dtype)
    return grad_in, g_alpha, g_beta


def _torch_backward(ctx, grad_out: torch.Tensor, syn: torch.Tensor | None, mem: torch.Tensor):
    """The backward as whole-tensor torch ops and one reverse loop (any device)."""
    a, b = ctx.decays
    th = ctx.threshold
    steps = grad_out.shape[0]
    if th is None:
        g_mem = torch.empty_like(mem).copy_(grad_out)  # d out / d mem = 1 (no reset), in the states' layout
        for t in range(steps - 2, -1, -1):
            g_mem[t].add_(g_mem[t + 1], alpha=b)
        mem_after_reset = mem
    else:
        keep = torch.le(mem, th, out=torch.empty_like(mem))
        inv = atan_surrogate_denominator(mem, th, ctx.slope)
        half_slope = ctx.slope / 2
        g_mem = torch.mul(grad_out, inv, out=torch.empty_like(mem)).mul_(half_slope)  # g_out * s'
        reset_grad = torch.addcmul(keep, mem, inv, value=-half_slope, out=inv)  # keep - mem * s'
        for t in range(steps - 2, -1, -1):
            g_mem[t].addcmul_(g_mem[t + 1], reset_grad[t], value=b)
        mem_after_reset = keep.mul_(mem) if ctx.needs_input_grad[2] else None
    g_beta = torch.dot(memory_order(g_mem[1:]), memory_order(mem_after_reset[:-1])) if ctx.needs_input_grad[2] else None
    g_syn = g_mem  # in place from here on: g_mem is no longer needed
    for t in range(steps - 2, -1, -1):
        g_syn[t].add_(g_syn[t + 1], alpha=a)
    g_alpha = torch.dot(memory_order(g_syn[1:]), memory_order(syn[:-1])) if ctx.needs_input_grad[1] else None
    return g_syn, g_alpha, g_beta


def _channel_view(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """A per-channel (C,) or per-sample-and-channel (B, C) tensor viewed to broadcast over a (T, B, C, H, W) ``like``
    (any number of trailing spatial dims)."""
    spatial = like.dim() - 3
    if x.dim() == 1:
        return x.view(x.shape[0], *([1] * spatial))
    if x.dim() == 2:
        return x.view(*x.shape, *([1] * spatial))
    raise ValueError(f"a voltage bias / scale must be (C,) or (B, C), got {tuple(x.shape)}")


def delayed_current(y: torch.Tensor, voltage_bias: torch.Tensor | None, alpha: torch.Tensor,
                    scale: torch.Tensor | None = None) -> torch.Tensor:
    """The (S+1, B, C, ...) current of a chip layer whose synaptic input is ``scale * y`` (S, B, C, ...), delayed by
    one step, with ``voltage_bias`` (C,) or (B, C) entering the voltage every step (through the bias identity).

    Step 0 is ``voltage_bias`` alone; step t >= 1 is ``scale * y[t-1] + (1 - alpha) * voltage_bias``. One autograd
    node (:class:`DelayedCurrent`), one pass over memory each way; the steps keep ``y``'s per-step memory layout
    (channels-last stays channels-last).
    """
    if voltage_bias is None:
        voltage_bias = y.new_zeros(y.shape[2])
    if scale is None:
        scale = y.new_ones(y.shape[2])
    elif scale.dim() != 1:
        raise ValueError(f"the current scale must be per channel (C,), got {tuple(scale.shape)}")
    return DelayedCurrent.apply(y, voltage_bias, alpha, scale)


class DelayedCurrent(torch.autograd.Function):
    """``apply(y, voltage_bias, alpha, scale)``: see :func:`delayed_current`. Backward (g the gradient of the
    current): ``dy = scale g[1:]``, ``dscale = sum g[1:] y``, ``dbias = sum g[0] + (1 - alpha) sum g[1:]``,
    ``dalpha = -sum bias g[1:]`` (sums over every axis but the bias's)."""

    @staticmethod
    def forward(ctx, y: torch.Tensor, bias: torch.Tensor, alpha: torch.Tensor,  # type: ignore[override]
                scale: torch.Tensor) -> torch.Tensor:
        vb, sc = _channel_view(bias, y), _channel_view(scale, y)
        out = _empty_like_steps(y, y.shape[0] + 1)
        out[0].copy_(vb.expand(y.shape[1:]))
        torch.addcmul((1 - alpha) * vb, y, sc, out=out[1:])
        ctx.save_for_backward(y if ctx.needs_input_grad[3] else None, bias, alpha, scale)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        y, bias, alpha, scale = ctx.saved_tensors
        body = grad[1:]
        keep = (2,) if bias.dim() == 1 else (1, 2)  # the bias's axes in (S, B, C, ...): (C,) or (B, C)
        axes = [d for d in range(body.dim()) if d not in keep]
        g_y = body * _channel_view(scale, body) if ctx.needs_input_grad[0] else None
        g_scale = None
        if ctx.needs_input_grad[3]:
            g_scale = (body * y).sum([d for d in range(body.dim()) if d != 2])
        g_bias = g_alpha = None
        if ctx.needs_input_grad[1] or ctx.needs_input_grad[2]:
            body_sum = body.sum(axes)
            first_axes = [d - 1 for d in axes if d > 0]
            g_bias = grad[0].sum(first_axes) + (1 - alpha) * body_sum
            g_alpha = -(bias * body_sum).sum()
        return g_y, g_bias, g_alpha, g_scale


def _empty_like_steps(x: torch.Tensor, steps: int, dtype: torch.dtype | None = None) -> torch.Tensor:
    """An empty (steps, ...) tensor, time outermost, each step in the memory layout of the dense ``x[0]`` (NCHW,
    channels-last or any other order of the axes stays as it is). On CPU the memory comes from numpy, which asks the
    kernel for transparent huge pages on large arrays: the first touch of fresh memory then costs a fraction of
    torch's page faults (the chip-layer states are large and short-lived)."""
    step = x[0]
    order = sorted(range(step.dim()), key=lambda d: step.stride(d), reverse=True)  # outermost axis first
    shape = [step.shape[d] for d in order]
    dtype = x.dtype if dtype is None else dtype
    if x.device.type == "cpu" and dtype in (torch.float32, torch.float64):
        flat = torch.from_numpy(np.empty(steps * step.numel(), dtype=np.float32 if dtype == torch.float32
                                         else np.float64))
    else:
        flat = x.new_empty(steps * step.numel(), dtype=dtype)
    inverse = [order.index(d) for d in range(step.dim())]
    return flat.view(steps, *shape).permute(0, *(1 + i for i in inverse))


def _channel_layout(x: torch.Tensor) -> tuple[int, int, int]:
    """(inner, sample_stride, batch) of a (T, B, C, ...) tensor whose steps are dense (any order of the axes in
    memory, e.g. NCHW, channels-last, or (H, W, B, C) after a channels-last depthwise convolution): neuron i of a
    step has channel ``(i // inner) % C`` and sample ``(i // sample_stride) % batch``."""
    step = x[0]
    batch, channels = step.shape[0], step.shape[1]
    inner = step.stride(1) if channels > 1 else 1  # a size-1 axis may carry any stride
    sample_stride = step.stride(0) if batch > 1 else 1
    return inner, sample_stride, batch


def _parallel_blocks(n: int, run) -> None:
    """Run ``run(worker, blk_lo, blk_hi)`` over the neuron blocks of ``n`` neurons, split across torch's intra-op
    thread count (the kernels release the GIL; each worker owns its own accumulators)."""
    blocks = lif_cpu.num_blocks(n)
    workers = max(1, min(torch.get_num_threads(), blocks))
    bounds = [blocks * w // workers for w in range(workers + 1)]
    if workers == 1:
        run(0, 0, blocks)
        return
    pool = _pool(workers)
    list(pool.map(lambda w: run(w, bounds[w], bounds[w + 1]), range(workers)))


_POOLS: dict[int, object] = {}


def _pool(workers: int):
    from concurrent.futures import ThreadPoolExecutor

    if workers not in _POOLS:
        _POOLS[workers] = ThreadPoolExecutor(workers, thread_name_prefix="had-snn-lif")
    return _POOLS[workers]


class DelayedCubaLIFFunction(torch.autograd.Function):
    """A chip layer's LIF on its synaptic input as one autograd node (numba, CPU):
    ``apply(y, voltage_bias, scale, alpha, beta, threshold, slope)`` equals
    ``CubaLIFFunction.apply(delayed_current(y, voltage_bias, alpha, scale), alpha, beta, ...)`` without storing the
    current or the states: S + 1 steps out for S in. The forward writes only the output; the backward recomputes the
    states block by block from the saved ``y`` (in cache), so each pass moves two arrays instead of four.
    Gradients reach ``y``, ``voltage_bias``, ``scale``, ``alpha`` and ``beta``."""

    @staticmethod
    def forward(ctx, y: torch.Tensor, bias: torch.Tensor, scale: torch.Tensor, alpha: torch.Tensor,  # type: ignore[override]
                beta: torch.Tensor, threshold: float | None, slope: float) -> torch.Tensor:
        a, b = float(alpha), float(beta)
        y = _dense_time_major(y.detach())
        inner, sample_stride, batch = _channel_layout(y)
        bias2 = bias.detach().to(y.dtype).reshape(-1, y.shape[2]).contiguous()
        scale1 = scale.detach().to(y.dtype).contiguous()
        out = _empty_like_steps(y, y.shape[0] + 1)
        rows_y, rows_out = _rows(y), _rows(out)
        th = 0.0 if threshold is None else threshold
        s_np, b_np = scale1.numpy(), bias2.numpy()

        def run(_worker: int, lo: int, hi: int) -> None:
            lif_cpu.lif_forward_delayed(rows_y, s_np, b_np, inner, sample_stride, batch, a, b, th,
                                        threshold is not None, rows_out, lo, hi)

        _parallel_blocks(rows_y.shape[1], run)
        ctx.decays, ctx.threshold, ctx.slope = (a, b), threshold, slope
        ctx.layout = inner, sample_stride, batch
        ctx.bias_shape = bias.shape
        ctx.save_for_backward(y, scale1, bias2)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out: torch.Tensor):  # type: ignore[override]
        y, scale, bias = ctx.saved_tensors
        a, b = ctx.decays
        th = ctx.threshold
        inner, sample_stride, batch = ctx.layout
        need_scale = bool(ctx.needs_input_grad[2])
        grad_y = _empty_like_steps(y, y.shape[0])
        if grad_out[0].stride() != y[0].stride() or grad_out.stride(0) != y[0].numel():
            grad_out = _empty_like_steps(y, y.shape[0] + 1).copy_(grad_out)  # the output's layout
        n = y[0].numel()
        workers = max(1, min(torch.get_num_threads(), lif_cpu.num_blocks(n)))  # as _parallel_blocks splits
        sums = np.zeros((lif_cpu.num_blocks(n), 2))
        rows_g, rows_y, rows_gy = _rows(grad_out.detach()), _rows(y), _rows(grad_y)
        s_np, b_np = scale.numpy(), bias.numpy()
        acc_scale = np.zeros((workers, scale.shape[0]))  # float64 accumulators, one row per worker
        acc_bias = np.zeros((workers, *bias.shape))

        def run(worker: int, lo: int, hi: int) -> None:
            lif_cpu.lif_backward_delayed(rows_g, rows_y, s_np, b_np, inner, sample_stride, batch, a, b,
                                         0.0 if th is None else th, th is not None, ctx.slope, need_scale, rows_gy,
                                         sums, acc_scale[worker], acc_bias[worker], lo, hi)

        _parallel_blocks(n, run)
        g_alpha, g_beta = torch.from_numpy(sums.sum(0)).to(y.dtype)
        grad_scale = torch.from_numpy(acc_scale.sum(0)).to(y.dtype) if need_scale else None
        grad_bias = torch.from_numpy(acc_bias.sum(0)).to(y.dtype).reshape(ctx.bias_shape)
        return (grad_y, grad_bias if ctx.needs_input_grad[1] else None, grad_scale, g_alpha, g_beta, None, None)


def _chip_fields(alpha: torch.Tensor, beta: torch.Tensor, bias: torch.Tensor, k: torch.Tensor,
                 threshold: float | None) -> tuple[int, int, torch.Tensor, torch.Tensor]:
    """The chip's integer fields of a layer: ``keep_u``, ``keep_v`` (4096 - decay), the shifted voltage bias
    ``bias_mant << 6`` (rows, C) and the shifted threshold ``vth_mant << 6`` (rows,), int64 on the CPU; ``bias`` is
    on the grid (``bias_mant / k``), ``k`` (rows,) the scale of each row (one per sample, or one for all)."""
    from had_snn.hardware import cuba

    keep_u = cuba.keep_of(cuba.i_decay_of(float(alpha)))
    keep_v = cuba.keep_of(cuba.v_decay_of(float(beta)))
    k64 = k.detach().double().cpu().reshape(-1)
    bias2 = bias.detach().double().cpu().reshape(-1, bias.shape[-1])
    if bias2.shape[0] != k64.shape[0]:
        bias2 = bias2.expand(k64.shape[0], -1)
    bias_sh = cuba.bias_mantissa(bias2 * k64[:, None], 1.0).to(torch.int64) << cuba.BIAS_EXP
    vth = torch.tensor([cuba.vth_mantissa(threshold, float(kk)) for kk in k64], dtype=torch.int64)
    return keep_u, keep_v, bias_sh.contiguous(), vth << cuba.VTH_SHIFT


def _chip_lif_torch(a: torch.Tensor, keep_u: int, keep_v: int, bias_sh: torch.Tensor, vth_sh: torch.Tensor,
                    spiking: bool) -> torch.Tensor:
    """The torch (any device) path of :func:`chip_lif_forward_int`: int64 steps of :func:`cuba.lif_step_int`."""
    from had_snn.hardware import cuba

    a_int = a.detach().round().to(torch.int64)
    rows = bias_sh.shape[0]
    spatial = a.dim() - 3
    bias = bias_sh.to(a.device).view(rows, -1, *([1] * spatial))
    vth = vth_sh.to(a.device).view(rows, *([1] * (spatial + 1)))
    u = torch.zeros_like(a_int[0])
    v = torch.zeros_like(a_int[0])
    out = torch.empty((a.shape[0] + 1, *a.shape[1:]), dtype=torch.float64, device=a.device)
    for t in range(a.shape[0] + 1):
        u, v, fired = cuba.lif_step_int(u, v, a_int[t - 1] if t > 0 else torch.zeros_like(u), keep_u, keep_v, bias,
                                        vth)
        out[t] = fired if spiking else v
    return out


def chip_lif_forward_int(a: torch.Tensor, keep_u: int, keep_v: int, bias_sh: torch.Tensor, vth_sh: torch.Tensor,
                         spiking: bool) -> torch.Tensor:
    """The chip's integer LIF of one layer on its synaptic sums ``a`` (S, B, C, ...) (exact integers, any dense
    step layout), from the zero state with one step of delay: (S + 1, ...) float64 spikes (0/1) or post-reset ``v``
    (integer units). Numba on the CPU (unless ``HAD_SNN_TORCH_LIF=1``), else int64 torch ops; both run
    :func:`had_snn.hardware.cuba.lif_step_int`, the emulator's own step."""
    if not use_compiled(a):
        return _chip_lif_torch(a, keep_u, keep_v, bias_sh, vth_sh, spiking)
    from had_snn.hardware.cuba_kernels import chip_lif_layer

    y = _dense_time_major(a.detach())
    inner, sample_stride, batch = _channel_layout(y)
    out = _empty_like_steps(y, y.shape[0] + 1, torch.float64)
    chip_lif_layer(_rows(y), inner, sample_stride, batch, keep_u, keep_v, bias_sh.numpy(), vth_sh.numpy(), spiking,
                   _rows(out))
    return out


class ChipLIFFunction(torch.autograd.Function):
    """A chip layer in the chip's own integer arithmetic (quantisation-aware forward), straight-through backward:
    ``apply(a, bias, k, alpha, beta, threshold, slope)``.

    ``a`` (S, B, C, ...): the synaptic sums in integer units (a convolution of 0/1 spikes with the integer weight
    mantissas: exact integers); ``bias`` (C,) or (B, C): the voltage bias on the grid (``bias_mant / k``); ``k``
    (0-dim, or (B,) for one scale per sample): integer units per float unit; ``alpha``/``beta`` on the chip's decay
    grid. The forward runs :func:`had_snn.hardware.cuba.lif_step_int` (decays with the chip's truncation toward zero,
    the 24-bit wrap of ``u``, the clip of ``v``, ``bias_mant`` and ``vth_mant``) exactly as the emulator does and
    returns S + 1 steps: 0/1 spikes, or for a read-out (``threshold=None``) the chip's ``v / (64 k)`` in float64 (the
    emulator's dequantisation). The backward is that of the float layer with the same parameters
    (:class:`DelayedCubaLIFFunction` on ``a / k``): the surrogate gradient of the float dynamics that the integer
    dynamics approximate to their rounding."""

    @staticmethod
    def forward(ctx, a: torch.Tensor, bias: torch.Tensor, k: torch.Tensor, alpha: torch.Tensor,  # type: ignore[override]
                beta: torch.Tensor, threshold: float | None, slope: float) -> torch.Tensor:
        from had_snn.hardware.cuba import ACT_SHIFT

        keep_u, keep_v, bias_sh, vth_sh = _chip_fields(alpha, beta, bias, k, threshold)
        out = chip_lif_forward_int(a, keep_u, keep_v, bias_sh, vth_sh, threshold is not None)
        ctx.threshold, ctx.slope = threshold, slope
        ctx.save_for_backward(a, bias, k, alpha, beta)
        if threshold is not None:
            return out.to(a.dtype)
        k64 = k.detach().double().to(out.device)
        scale = k64 * (1 << ACT_SHIFT) if k64.dim() == 0 else (k64 * (1 << ACT_SHIFT)).view(
            1, -1, *([1] * (out.dim() - 2)))
        return out / scale

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out: torch.Tensor):  # type: ignore[override]
        a, bias, k, alpha, beta = ctx.saved_tensors
        with torch.enable_grad():
            inputs = [x.detach().requires_grad_(need) for x, need in
                      zip((a, bias, alpha, beta), (ctx.needs_input_grad[i] for i in (0, 1, 3, 4)), strict=True)]
            a_, bias_, alpha_, beta_ = inputs
            inv_k = (1.0 / k.detach().double()).to(a.dtype)
            y = a_ * (inv_k if inv_k.dim() == 0 else inv_k.view(1, -1, *([1] * (a.dim() - 2))))
            b_ = bias_.to(a.dtype)
            if use_compiled(y) and y.dim() >= 3:
                out = DelayedCubaLIFFunction.apply(y, b_, y.new_ones(y.shape[2]), alpha_, beta_, ctx.threshold,
                                                   ctx.slope)
            else:
                out = CubaLIFFunction.apply(delayed_current(y, b_, alpha_), alpha_, beta_, ctx.threshold, ctx.slope)
            wanted = [x for x in inputs if x.requires_grad]
            grads = iter(torch.autograd.grad(out, wanted, grad_out.to(out.dtype), allow_unused=True)) if wanted \
                else iter(())
            g = [next(grads) if x.requires_grad else None for x in inputs]
        return g[0], g[1], None, g[2], g[3], None, None
