"""The float CUBA LIF step: the one definition of the recurrence every float path runs.

:func:`lif_step` is written with operators only, so the same function runs on Python floats, numpy arrays and torch
tensors, and numba compiles it unchanged into every CPU forward kernel (:mod:`had_snn.models.lif_cpu`: the plain
layer and the chip layer with its delayed, biased current; their cache is keyed on this function's source), as
:func:`had_snn.hardware.cuba.lif_step_int` is for the chip's integer step. The per-step autograd reference
(:meth:`had_snn.models.neurons.CubaLIF.step`) calls it too; the one loop that cannot call it, the torch loop of
:func:`lif_states` (whole-tensor ops with ``out=``), is checked against it step for step, as are the compiled
kernels and the backward passes (``tests/test_lif_step.py``).

This is ``snntorch.Synaptic(reset_mechanism="zero", reset_delay=False)``, and Loihi's order of decay and input:
``alpha = 1 - du/4096``, ``beta = 1 - dv/4096``, a strict threshold ``v > vth``, and a reset of ``v`` (not ``u``) to
zero in the step that fires.
"""

from __future__ import annotations

import math

import torch


def lif_step(syn, mem, spk, current, alpha, beta):
    """One step: ``(syn, mem)`` of the next step from the previous step's current ``syn``, its pre-reset membrane
    ``mem`` and its spikes ``spk`` (0/1, or the surrogate spike function's output, whose gradient then flows through
    the reset as in snntorch)::

        syn' = alpha * syn + current
        mem' = beta * (mem - spk * mem) + syn'

    From the zero state (``syn = mem = spk = 0``) the first step gives ``syn = mem = current``. The output spikes of
    a step are ``mem > threshold`` (strict); a non-spiking read-out keeps ``spk = 0`` and returns ``mem``.
    """
    syn = alpha * syn + current
    return syn, beta * (mem - spk * mem) + syn


def atan_surrogate_denominator(mem: torch.Tensor, threshold: float, slope: float) -> torch.Tensor:
    """1 / (1 + (pi/2 * slope * (mem - threshold))^2); snntorch's ``surrogate.atan(slope)`` gradient is slope/2 x it."""
    x = torch.sub(mem, threshold)
    return torch.addcmul(torch.ones((), dtype=x.dtype), x, x, value=(math.pi / 2 * slope) ** 2, out=x).reciprocal_()


def memory_order(x: torch.Tensor) -> torch.Tensor:
    """A dense tensor as a 1-D view in memory order (no copy for channels-last); equal strides pair elements alike."""
    order = sorted(range(x.dim()), key=lambda d: x.stride(d), reverse=True)
    return x.permute(order).reshape(-1)


def lif_states(current: torch.Tensor, alpha: float, beta: float,
               threshold: float | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Run all T steps of a (T, ...) current from zero state; returns (syn, pre-reset mem), both (T, ...).

    ``threshold=None`` integrates without reset. The reset multiplies by a float keep mask (bool masks are ~10x
    slower than arithmetic on CPU); ``(beta * mem) * keep`` equals snntorch's ``beta * (mem - spk * mem)`` bit for bit,
    keep being 0 or 1. The states keep the memory layout of a dense ``current`` (e.g. channels-last per step).
    """
    syn = torch.empty_like(current)
    if syn.stride() != current.stride():  # not dense: work on a contiguous copy
        current = current.contiguous()
        syn = torch.empty_like(current)
    mem = torch.empty_like(current)
    syn[0].copy_(current[0])
    mem[0].copy_(current[0])
    keep = torch.empty_like(current[0]) if threshold is not None else None
    for t in range(1, current.shape[0]):
        torch.mul(syn[t - 1], alpha, out=syn[t]).add_(current[t])
        if keep is None:
            torch.mul(mem[t - 1], beta, out=mem[t]).add_(syn[t])
        else:
            torch.le(mem[t - 1], threshold, out=keep)
            torch.addcmul(syn[t], mem[t - 1], keep, value=beta, out=mem[t])
    return syn, mem
