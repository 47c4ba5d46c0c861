"""Current-based (CUBA) leaky integrate-and-fire neurons with snntorch's arctan surrogate gradient.

:class:`CubaLIF` is a thin module over the one float step (:func:`had_snn.models.lif_functional.lif_step`) and its
fused autograd nodes (:mod:`had_snn.models.lif_autograd`). Decays are scalars per layer (one ``du``/``dv`` per Loihi
layer), clamped to [0, 1] in the forward pass like snntorch does; with ``on_grid`` they sit on the chip's 1/4096 grid
(straight-through). :meth:`CubaLIF.step` is the plain per-step autograd reference; ``tests/test_neurons.py`` and
``bench/bench_student_step.py`` compare the fused paths with it and with snntorch.
"""

from __future__ import annotations

import torch
from snntorch import surrogate
from torch import nn

from had_snn.models.lif_autograd import (
    ChipLIFFunction,
    CubaLIFFunction,
    DelayedCubaLIFFunction,
    _channel_view,
    delayed_current,
    use_compiled,
)
from had_snn.models.lif_functional import lif_step


class CubaLIF(nn.Module):
    """A layer of CUBA LIF neurons stepping over the leading time axis of a (T, B, ...) input current.

    Args:
        alpha: synaptic current decay (0..1).
        beta: membrane voltage decay (0..1).
        threshold: firing threshold; ``None`` makes a non-spiking read-out layer that returns the membrane trace.
        learn_decay: make ``alpha`` and ``beta`` trainable.
        surrogate_slope: slope of snntorch's arctan surrogate gradient.
        on_grid: use the decays the chip applies (``iDecay``/``vDecay`` on the 1/4096 grid, straight-through
            gradients; :func:`had_snn.hardware.cuba.decays_on_grid`).
    """

    def __init__(
        self,
        alpha: float = 0.5,
        beta: float = 0.8,
        threshold: float | None = 1.0,
        learn_decay: bool = True,
        surrogate_slope: float = 2.0,
        on_grid: bool = False,
    ) -> None:
        super().__init__()
        for name, value in (("alpha", alpha), ("beta", beta)):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"CubaLIF {name} must be in [0, 1], got {value}")
        if threshold is not None and threshold <= 0:
            raise ValueError(f"CubaLIF threshold must be > 0 (Loihi vth is positive), got {threshold}")
        self.alpha = nn.Parameter(torch.tensor(float(alpha)), requires_grad=learn_decay)
        self.beta = nn.Parameter(torch.tensor(float(beta)), requires_grad=learn_decay)
        self.threshold = threshold
        self.surrogate_slope = surrogate_slope
        self.on_grid = on_grid
        self.spike_fn = surrogate.atan(alpha=surrogate_slope)

    @property
    def spiking(self) -> bool:
        return self.threshold is not None

    def decay_tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The (alpha, beta) of the forward pass as 0-dim tensors carrying gradients: clamped to [0, 1], on the chip's
        grid when ``on_grid``."""
        alpha, beta = self.alpha.clamp(0, 1), self.beta.clamp(0, 1)
        if self.on_grid:
            from had_snn.hardware.cuba import decays_on_grid

            alpha, beta = decays_on_grid(alpha, beta)
        return alpha, beta

    def decays(self) -> tuple[float, float]:
        """The effective (alpha, beta) used in the forward pass."""
        alpha, beta = self.decay_tensors()
        return float(alpha.detach()), float(beta.detach())

    def step(self, current: torch.Tensor, syn: torch.Tensor, mem: torch.Tensor,
             spk: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """One time step with plain autograd (:func:`~had_snn.models.lif_functional.lif_step`): the state is the
        previous step's current, pre-reset membrane and spikes (zeros at the start); returns ``(output, syn, mem,
        spk)``, the output being the spikes, or the membrane of a non-spiking read-out (whose ``spk`` stays 0)."""
        alpha, beta = self.decay_tensors()
        syn, mem = lif_step(syn, mem, spk, current, alpha, beta)
        if not self.spiking:
            return mem, syn, mem, torch.zeros_like(mem)
        spk = self.spike_fn(mem - self.threshold)
        return spk, syn, mem, spk

    def forward(self, current: torch.Tensor, voltage_bias: torch.Tensor | None = None) -> torch.Tensor:
        """Run all T steps of a (T, B, ...) current from zero state; returns (T, B, ...) spikes (or membrane).

        ``voltage_bias`` (C,) or (B, C) for a (T, B, C, ...) current: added to the voltage at every step from step 0
        (Loihi's ``bias_mant``), through the exact current identity of the module docstring.
        """
        if current.dim() < 1 or current.shape[0] == 0:
            raise ValueError(f"CubaLIF input must be (T, ...) with T >= 1, got {tuple(current.shape)}")
        alpha, beta = self.decay_tensors()
        if voltage_bias is not None:
            if current.dim() < 3:
                raise ValueError(f"a voltage bias needs a (T, B, C, ...) current, got {tuple(current.shape)}")
            vb = _channel_view(voltage_bias, current)
            current = torch.cat([current[:1] + vb, current[1:] + (1 - alpha) * vb], 0)
        return CubaLIFFunction.apply(current, alpha, beta, self.threshold, self.surrogate_slope)

    def forward_delayed(self, y: torch.Tensor, voltage_bias: torch.Tensor | None,
                        scale: torch.Tensor | None = None) -> torch.Tensor:
        """One chip layer: synaptic input ``scale * y`` (S, B, C, ...) delayed one step, voltage bias (C,) or (B, C)
        every step; returns S+1 steps of spikes (or membrane), see :func:`delayed_current`. On CPU one fused node
        (:class:`DelayedCubaLIFFunction`: the current is never stored)."""
        alpha, beta = self.decay_tensors()
        if use_compiled(y) and y.dim() >= 3:
            bias = y.new_zeros(y.shape[2]) if voltage_bias is None else voltage_bias
            gain = y.new_ones(y.shape[2]) if scale is None else scale
            return DelayedCubaLIFFunction.apply(y, bias, gain, alpha, beta, self.threshold, self.surrogate_slope)
        current = delayed_current(y, voltage_bias, alpha, scale)
        return CubaLIFFunction.apply(current, alpha, beta, self.threshold, self.surrogate_slope)

    def forward_chip(self, a: torch.Tensor, voltage_bias: torch.Tensor, k: torch.Tensor | float) -> torch.Tensor:
        """One chip layer in the chip's integer arithmetic (quantisation-aware training, :class:`ChipLIFFunction`):
        ``a`` (S, B, C, ...) the synaptic sums of the integer weight mantissas (exact integers), ``voltage_bias``
        (C,) or (B, C) on the grid (``bias_mant / k``), ``k`` the layer's scale (a float, or (B,) per sample).
        Returns S + 1 steps of spikes, or of the read-out ``v / (64 k)`` (float64), exactly as the emulator runs
        them; straight-through gradients."""
        alpha, beta = self.decay_tensors()
        k_t = torch.as_tensor(k, dtype=torch.float64)
        return ChipLIFFunction.apply(a, voltage_bias, k_t, alpha, beta, self.threshold, self.surrogate_slope)

    def extra_repr(self) -> str:
        a, b = self.decays()
        return f"alpha={a:.3f}, beta={b:.3f}, threshold={self.threshold}"
