"""Current-based (CUBA) leaky integrate-and-fire neurons with snntorch surrogate gradients.

Per time step (the same order as Loihi's LIF and ``snntorch.Synaptic``)::

    syn[t] = alpha * syn[t-1] + input[t]          # current, Loihi: u decays by du/4096 -> alpha = 1 - du/4096
    mem[t] = beta  * mem[t-1] + syn[t]            # voltage, Loihi: v decays by dv/4096 -> beta  = 1 - dv/4096
    spk[t] = mem[t] > threshold                   # strict, as Loihi's v > vth
    mem[t] = 0 where spk[t]                       # reset to zero in the same step (Loihi), syn is kept

This equals ``snntorch.Synaptic(reset_mechanism="zero", reset_delay=False)`` step for step (forward and gradient);
``bench/bench_student_step.py`` checks it. Decays are scalars per layer (one ``du``/``dv`` per Loihi layer), clamped
to [0, 1] in the forward pass like snntorch does.
"""

from __future__ import annotations

import torch
from snntorch import surrogate
from torch import nn


class CubaLIF(nn.Module):
    """A layer of CUBA LIF neurons stepping over the leading time axis of a (T, B, ...) input current.

    Args:
        alpha: synaptic current decay (0..1).
        beta: membrane voltage decay (0..1).
        threshold: firing threshold; ``None`` makes a non-spiking read-out layer that returns the membrane trace.
        learn_decay: make ``alpha`` and ``beta`` trainable.
        surrogate_slope: slope of snntorch's arctan surrogate gradient.
    """

    def __init__(
        self,
        alpha: float = 0.5,
        beta: float = 0.8,
        threshold: float | None = 1.0,
        learn_decay: bool = True,
        surrogate_slope: float = 2.0,
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
        self.spike_fn = surrogate.atan(alpha=surrogate_slope)

    @property
    def spiking(self) -> bool:
        return self.threshold is not None

    def decays(self) -> tuple[float, float]:
        """The effective (alpha, beta) used in the forward pass."""
        return float(self.alpha.detach().clamp(0, 1)), float(self.beta.detach().clamp(0, 1))

    def step(
        self, current: torch.Tensor, syn: torch.Tensor, mem: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One time step: returns (output, syn, mem); output is spikes, or the membrane when non-spiking."""
        syn = self.alpha.clamp(0, 1) * syn + current
        mem = self.beta.clamp(0, 1) * mem + syn
        if not self.spiking:
            return mem, syn, mem
        spk = self.spike_fn(mem - self.threshold)
        mem = mem - spk * mem
        return spk, syn, mem

    def forward(self, current: torch.Tensor) -> torch.Tensor:
        """Run all T steps of a (T, B, ...) current from zero state; returns (T, B, ...) spikes (or membrane)."""
        syn = torch.zeros_like(current[0])
        mem = torch.zeros_like(current[0])
        out = []
        for t in range(current.shape[0]):
            o, syn, mem = self.step(current[t], syn, mem)
            out.append(o)
        return torch.stack(out)

    def extra_repr(self) -> str:
        a, b = self.decays()
        return f"alpha={a:.3f}, beta={b:.3f}, threshold={self.threshold}"
