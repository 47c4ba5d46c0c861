"""Bit-exact torch emulator of a netx fixed-point network as Lava 0.10 runs it in ``Loihi2SimCfg("fixed_pt")``.

Integer semantics copied from lava/proc/{lif,dense,conv}/models.py (see DESIGN.md "Loihi fixed point"):

* LIF (PyLifModelBitAcc): ``u = sgn(u*(4096-(du+1))) * (|u*(4096-(du+1))| >> 12) + (a_in << 6)`` then a single
  24-bit wrap (``> 2**23`` subtracts ``2**24``, ``<= -2**23`` adds it); ``v = sgn(v*(4096-dv)) * (|..| >> 12) + u +
  (bias_mant << 6)`` clipped to ``+-(2**23 - 1)``; spike iff ``v > vth << 6``; spiking neurons reset ``v = 0``, u kept.
* Dense (PyDenseModelBitAcc): weights clipped by sign mode (mixed ``[-256, 255]``) and, for mixed sign, the lowest
  bit truncated; output ``sum(w[:, spikes])`` shifted by ``weight_exp``; delivered one step later.
* Conv (PyConvModelFixed): a true convolution (netx flips torch kernels, so here it is torch's correlation on the
  stored torch-layout weights), output wrapped to signed 24 bit, ``weight_exp`` ignored; also delivered one step later.

Each synaptic layer therefore adds one step of latency: layer ``l`` sees the input of step ``t`` at step ``t + l``.
Runs batched (B) on CPU or CUDA; integer state is int64; synaptic sums use float32 when the largest possible sum of
|weights| is below 2**24 and float64 otherwise, so they are exact.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from had_snn.hardware.netx import BIAS_EXP, NetxLayer, validate_layers

UV_LIMIT = 1 << 23
DECAY_UNITY = 4096
ACT_SHIFT = 6
VTH_SHIFT = 6
INT32_MAX = (1 << 31) - 1
COUNT_NAMES = ("input_spikes", "synaptic_ops", "neuron_updates", "output_spikes")


def decay_shift(x: torch.Tensor, keep: int) -> torch.Tensor:
    """``sgn(x*keep) * (|x*keep| >> 12)``: Lava's sign-magnitude decay (rounds toward zero)."""
    return torch.div(x * keep, DECAY_UNITY, rounding_mode="trunc")  # == sign * (|.| >> 12), exact on int64


def wrap_u(x: torch.Tensor) -> torch.Tensor:
    """Lava's single-step 24-bit wrap of the current ``u`` (keeps +2**23, maps -2**23 to +2**23)."""
    wrapped = torch.where(x > UV_LIMIT, x - 2 * UV_LIMIT, x)
    return torch.where(wrapped <= -UV_LIMIT, x + 2 * UV_LIMIT, wrapped)


def signed_wrap(x: torch.Tensor, bits: int) -> torch.Tensor:
    """``lava.proc.conv.utils.signed_clamp``: two's-complement wrap to ``bits``."""
    base = 1 << bits
    return (x + base // 2) % base - base // 2


def lif_step(
    u: torch.Tensor, v: torch.Tensor, a_in: torch.Tensor, du: int, dv: int, bias: torch.Tensor, vth_mant: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One PyLifModelBitAcc step; returns new ``u``, new ``v`` (after reset) and the boolean spikes."""
    u = wrap_u(decay_shift(u, DECAY_UNITY - (du + 1)) + (a_in << ACT_SHIFT))
    v = torch.clamp(decay_shift(v, DECAY_UNITY - dv) + u + bias, -(UV_LIMIT - 1), UV_LIMIT - 1)
    spikes = v > (vth_mant << VTH_SHIFT)
    return u, torch.where(spikes, torch.zeros_like(v), v), spikes


def lava_dense_weights(weight: np.ndarray) -> np.ndarray:
    """Apply Lava's Dense clip and truncation (8-bit, sign mode from the matrix) to integer weights."""
    w = np.asarray(weight, dtype=np.int64)
    if w.min() >= 0:
        return np.clip(w, 0, 255)
    if w.max() <= 0:
        return np.clip(w, -255, 0)
    return (np.clip(w, -256, 255) >> 1) << 1


@dataclass
class EmulatorResult:
    """Per synaptic layer (in network order): spikes ``(T, B, C, H, W)`` bool, counts ``(L, T, B)`` int64 by name,
    and the membrane voltage ``v`` of the last layer ``(T, B, C, H, W)`` int64 (the read-out)."""

    layer_names: list[str]
    spikes: list[torch.Tensor]
    v_out: torch.Tensor
    counts: dict[str, torch.Tensor]


def _exact_float(max_abs_sum: int) -> torch.dtype:
    """float32 when every partial sum of integer weights is exactly representable (< 2**24), else float64."""
    return torch.float32 if max_abs_sum < (1 << 24) else torch.float64


class _Synapse:
    """One conv/dense layer prepared for the emulator: weights, fan-out map, neuron constants."""

    def __init__(self, layer: NetxLayer, in_shape: tuple[int, int, int], index: int, device: torch.device):
        self.layer = layer
        self.in_shape = in_shape
        self.flatten_input = layer.type == "dense"
        n = layer.neuron
        self.du, self.dv, self.vth_mant = n.du, n.dv, n.vth_mant
        if layer.type == "dense":
            w = lava_dense_weights(layer.weight)
            max_act = max(int(np.clip(w, 0, None).sum(1).max()), int(-np.clip(w, None, 0).sum(1).min()))
            max_act = max_act << layer.weight_exp if layer.weight_exp > 0 else max_act >> -layer.weight_exp
            if (max_act << ACT_SHIFT) + UV_LIMIT > INT32_MAX:
                raise ValueError(
                    f"layer {index} ({layer.name or 'dense'}): largest input {max_act} << 6 overflows Lava's int32 "
                    f"current (limit {(INT32_MAX - UV_LIMIT) >> ACT_SHIFT}); reduce the fan-in or the weights"
                )
            self.weight = torch.as_tensor(w, dtype=_exact_float(np.abs(w).sum(1).max()), device=device)
            self.fanout = torch.full((int(np.prod(in_shape)),), w.shape[0], dtype=torch.float64, device=device)
            bias = np.zeros(layer.num_neurons, np.int64) if layer.bias is None else layer.bias
            self.bias = torch.as_tensor(bias << BIAS_EXP, device=device).view(1, -1, 1, 1)
        else:
            per_out = np.abs(layer.weight).reshape(layer.weight.shape[0], -1).sum(1).max()
            self.weight = torch.as_tensor(layer.weight, dtype=_exact_float(per_out), device=device)
            self.fanout = self._conv_fanout(in_shape, device)
            bias = np.zeros(layer.shape[0], np.int64) if layer.bias is None else layer.bias
            self.bias = torch.as_tensor(bias << BIAS_EXP, device=device).view(1, -1, 1, 1)

    def _conv(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        lay = self.layer
        return F.conv2d(x, weight, stride=lay.stride, padding=lay.padding, dilation=lay.dilation, groups=lay.groups)

    def _conv_fanout(self, in_shape: tuple[int, int, int], device: torch.device) -> torch.Tensor:
        """Number of synapses leaving each input neuron (structural, zero weights included)."""
        x = torch.zeros((1, *in_shape), dtype=torch.float64, device=device, requires_grad=True)
        self._conv(x, torch.ones_like(self.weight, dtype=torch.float64)).sum().backward()
        return x.grad[0].detach()

    def synaptic_input(self, spikes_in: torch.Tensor) -> torch.Tensor:
        """Integer activation produced by ``spikes_in`` (B, C, H, W) bool, shaped (B, *out_shape) int64."""
        x = spikes_in.to(self.weight.dtype)
        if self.flatten_input:
            a = (x.flatten(1) @ self.weight.T).to(torch.int64)
            e = self.layer.weight_exp
            a = a << e if e > 0 else a >> -e
            return a.view(-1, *self.layer.shape)
        return signed_wrap(self._conv(x, self.weight).to(torch.int64), 24)

    def synaptic_ops(self, spikes_in: torch.Tensor) -> torch.Tensor:
        """Spikes x fan-out for input spikes (T, B, C, H, W), shaped (T, B)."""
        return (spikes_in.to(torch.float64).flatten(2) @ self.fanout.flatten()).to(torch.int64)


class LoihiEmulator:
    """Bit-exact fixed-point emulator of a validated netx layer list (layer 0 is the input)."""

    def __init__(self, layers: list[NetxLayer], device: str | torch.device = "cpu"):
        validate_layers(layers)
        self.device = torch.device(device)
        self.input_shape = layers[0].shape
        self.synapses: list[_Synapse] = []
        prev = layers[0].shape
        for i, layer in enumerate(layers[1:], start=1):
            if layer.has_synapse:
                self.synapses.append(_Synapse(layer, prev, i, self.device))
            prev = layer.shape
        if not self.synapses:
            raise ValueError("network has no conv/dense layer to emulate")
        self.layer_names = [s.layer.name or f"{s.layer.type}{i}" for i, s in enumerate(self.synapses, start=1)]

    @torch.no_grad()
    def run(self, spikes: torch.Tensor | np.ndarray) -> EmulatorResult:
        """Run ``spikes`` (T, B, C, H, W) of 0/1 through the network for T steps from the zero state."""
        x = torch.as_tensor(np.asarray(spikes) if isinstance(spikes, np.ndarray) else spikes, device=self.device)
        if x.dim() != 5 or tuple(x.shape[2:]) != tuple(self.input_shape):
            shape = ", ".join(map(str, self.input_shape))
            raise ValueError(f"input spikes must be (T, B, {shape}), got {tuple(x.shape)}")
        x = x != 0
        n_steps, batch = x.shape[:2]
        state = []
        for syn in self.synapses:
            zeros = torch.zeros((batch, *syn.layer.shape), dtype=torch.int64, device=self.device)
            state.append([zeros, zeros, zeros])  # u, v, delayed synaptic buffer (replaced, never mutated)
        out_spikes = [
            torch.zeros((n_steps, batch, *s.layer.shape), dtype=torch.bool, device=self.device) for s in self.synapses
        ]
        v_out = torch.zeros((n_steps, batch, *self.synapses[-1].layer.shape), dtype=torch.int64, device=self.device)
        for t in range(n_steps):
            s_in = x[t]
            for li, syn in enumerate(self.synapses):
                u, v, a_in = state[li]  # Lava sends last step's buffered activation, then computes the new one
                buf = syn.synaptic_input(s_in)
                u, v, s_in = lif_step(u, v, a_in, syn.du, syn.dv, syn.bias, syn.vth_mant)
                state[li] = [u, v, buf]
                out_spikes[li][t] = s_in
            v_out[t] = state[-1][1]
        return EmulatorResult(self.layer_names, out_spikes, v_out, self.count_ops(x, out_spikes))

    @torch.no_grad()
    def count_ops(self, spikes_in: torch.Tensor, layer_spikes: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        """Per layer, per step, per sample (L, T, B): input spikes, synaptic ops (spikes x fan-out), neuron updates,
        output spikes, from the network input and every synaptic layer's output spikes (emulator's or Lava's)."""
        spikes_in = torch.as_tensor(spikes_in, device=self.device) != 0
        layer_spikes = [torch.as_tensor(s, device=self.device) != 0 for s in layer_spikes]
        n_steps, batch = spikes_in.shape[:2]
        counts = {k: torch.zeros((len(self.synapses), n_steps, batch), dtype=torch.int64, device=self.device)
                  for k in COUNT_NAMES}
        for li, syn in enumerate(self.synapses):
            s_prev = spikes_in if li == 0 else layer_spikes[li - 1]
            counts["input_spikes"][li] = s_prev.flatten(2).sum(2)
            counts["synaptic_ops"][li] = syn.synaptic_ops(s_prev)
            counts["neuron_updates"][li] = syn.layer.num_neurons
            counts["output_spikes"][li] = layer_spikes[li].flatten(2).sum(2)
        return counts
