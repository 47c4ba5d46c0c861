"""Bit-exact torch emulator of a netx fixed-point network as Lava 0.10 runs it in ``Loihi2SimCfg("fixed_pt")``.

Integer semantics copied from lava/proc/{lif,dense,conv}/models.py (explained in docs/loihi.md):

* LIF (PyLifModelBitAcc): ``u = sgn(u*(4096-(du+1))) * (|u*(4096-(du+1))| >> 12) + (a_in << 6)`` then a single
  24-bit wrap (``> 2**23`` subtracts ``2**24``, ``<= -2**23`` adds it); ``v = sgn(v*(4096-dv)) * (|..| >> 12) + u +
  (bias_mant << 6)`` clipped to ``+-(2**23 - 1)``; spike iff ``v > vth << 6``; spiking neurons reset ``v = 0``, u kept.
* Dense (PyDenseModelBitAcc): weights clipped by sign mode (mixed ``[-256, 255]``) and, for mixed sign, the lowest
  bit truncated; output ``sum(w[:, spikes])`` shifted by ``weight_exp``; delivered one step later.
* Conv (PyConvModelFixed): a true convolution (netx flips torch kernels, so here it is torch's correlation on the
  stored torch-layout weights), output wrapped to signed 24 bit, ``weight_exp`` ignored; also delivered one step later.

Each synaptic layer therefore adds one step of latency: layer ``l`` sees the input of step ``t`` at step ``t + l``.
Runs batched (B) on CPU or CUDA, layer by layer over blocks of steps (see :class:`LoihiEmulator`); integer state is
int64; synaptic sums use float32 on CPU when the largest possible sum of |weights| is below 2**24 and float64
otherwise, so they are exact.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from had_snn.hardware.netx import BIAS_EXP, NetxLayer, pipeline_fill_steps, validate_layers

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


def _exact_float(max_abs_sum: int, device: torch.device) -> torch.dtype:
    """float32 when every partial sum of integer weights is exactly representable (< 2**24) and the backend sums
    directly (CPU: oneDNN/GEMM direct convolution), else float64 (CUDA: cuDNN may pick Winograd/FFT for float32)."""
    return torch.float32 if max_abs_sum < (1 << 24) and device.type == "cpu" else torch.float64


def _as_bool(spikes: torch.Tensor | np.ndarray, device: torch.device) -> torch.Tensor:
    """Spikes as a bool tensor on ``device`` (no copy when they already are)."""
    x = torch.as_tensor(spikes, device=device)
    return x if x.dtype == torch.bool else x != 0


class _Synapse:
    """One conv/dense layer prepared for the emulator: weights, fan-out map, neuron constants.

    Synaptic sums are float convolutions/matmuls, exact for integer weights (see :func:`_exact_float`); on CPU the
    LIF recurrence and the counters run as compiled loops (:mod:`emulator_cpu`).
    """

    def __init__(self, layer: NetxLayer, in_shape: tuple[int, int, int], index: int, device: torch.device):
        self.layer = layer
        self.in_shape = in_shape
        self.on_cpu = device.type == "cpu"
        n = layer.neuron
        self.du, self.dv, self.vth_mant = n.du, n.dv, n.vth_mant
        self.keep_u, self.keep_v = DECAY_UNITY - (n.du + 1), DECAY_UNITY - n.dv
        if layer.type == "dense":
            w = lava_dense_weights(layer.weight)
            max_act = max(int(np.clip(w, 0, None).sum(1).max()), int(-np.clip(w, None, 0).sum(1).min()))
            max_act = max_act << layer.weight_exp if layer.weight_exp > 0 else max_act >> -layer.weight_exp
            if (max_act << ACT_SHIFT) + UV_LIMIT > INT32_MAX:
                raise ValueError(
                    f"layer {index} ({layer.name or 'dense'}): largest input {max_act} << 6 overflows Lava's int32 "
                    f"current (limit {(INT32_MAX - UV_LIMIT) >> ACT_SHIFT}); reduce the fan-in or the weights"
                )
            self.weight = torch.as_tensor(w, dtype=_exact_float(np.abs(w).sum(1).max(), device), device=device)
            self.fanout = torch.full((int(np.prod(in_shape)),), w.shape[0], dtype=torch.float64, device=device)
            self.conv_wraps = False
        else:
            per_out = int(np.abs(layer.weight).reshape(layer.weight.shape[0], -1).sum(1).max())
            self.weight = torch.as_tensor(layer.weight, dtype=_exact_float(per_out, device), device=device)
            self.fanout = self._conv_fanout(in_shape, device)
            self.conv_wraps = per_out >= UV_LIMIT  # below, no sum can leave the signed 24-bit range: wrap is identity
        self.fanout_np = self.fanout.cpu().numpy().astype(np.int64).reshape(-1)
        bias = np.zeros(layer.shape[0], np.int64) if layer.bias is None else np.asarray(layer.bias, np.int64)
        self.bias_np = np.repeat(bias << BIAS_EXP, layer.num_neurons // layer.shape[0])  # (N,), channel-major
        self.bias = torch.as_tensor(self.bias_np, device=device)

    def _conv(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        lay = self.layer
        return F.conv2d(x, weight, stride=lay.stride, padding=lay.padding, dilation=lay.dilation, groups=lay.groups)

    def _conv_fanout(self, in_shape: tuple[int, int, int], device: torch.device) -> torch.Tensor:
        """Number of synapses leaving each input neuron (structural, zero weights included)."""
        with torch.inference_mode(False), torch.enable_grad():
            x = torch.zeros((1, *in_shape), dtype=torch.float64, device=device, requires_grad=True)
            self._conv(x, torch.ones(self.weight.shape, dtype=torch.float64, device=device)).sum().backward()
        return x.grad[0].detach()

    def synaptic_input(self, spikes_in: torch.Tensor) -> torch.Tensor:
        """Integer activation Lava delivers for ``spikes_in`` (S, B, C, H, W) bool, shaped (S, B, N_out): dense sums
        shifted by ``weight_exp`` (floor), conv sums wrapped to signed 24 bit. On CPU, when neither applies, the
        exact float sums are returned as they are (the compiled LIF loop converts them)."""
        n_steps, batch = spikes_in.shape[:2]
        lay = self.layer
        x = spikes_in.flatten(0, 1).to(self.weight.dtype)
        a = x.flatten(1) @ self.weight.T if lay.type == "dense" else self._conv(x, self.weight)
        a = a.view(n_steps, batch, lay.num_neurons)
        e = lay.weight_exp if lay.type == "dense" else 0
        if self.on_cpu and not e and not self.conv_wraps:
            return a
        a = a.round().to(torch.int64)  # exact already; rounding guards non-CPU backends' summation algorithms
        if e:
            a = a << e if e > 0 else a >> -e
        return signed_wrap(a, 24) if self.conv_wraps else a

    def synaptic_ops(self, spikes_in: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Input spikes and spikes x fan-out for input spikes (T, B, C, H, W), each shaped (T, B) int64."""
        if self.on_cpu:
            from had_snn.conversion.emulator_cpu import spike_counts

            n_steps, batch = spikes_in.shape[:2]
            n_spikes, ops = np.zeros((n_steps, batch), np.int64), np.zeros((n_steps, batch), np.int64)
            spike_counts(spikes_in.reshape(n_steps, batch, -1).contiguous().numpy(), self.fanout_np, n_spikes, ops)
            return torch.from_numpy(n_spikes), torch.from_numpy(ops)
        x = spikes_in.flatten(2)
        return x.sum(2), (x.to(torch.float64) @ self.fanout.flatten()).to(torch.int64)

    def lif(self, a_in: torch.Tensor, lead_zero_steps: int, state: tuple[torch.Tensor, torch.Tensor],
            spikes_out: torch.Tensor, v_out: torch.Tensor | None) -> None:
        """Run LIF steps in place: ``a_in`` (S, B, N) integers feeds the steps after ``lead_zero_steps`` empty ones;
        ``state`` (u, v) (B, N) int64 is updated; ``spikes_out`` (T, B, N) bool and ``v_out`` (same, or None) are
        written with the spikes and the post-reset ``v`` of every step."""
        u, v = state
        if self.on_cpu:
            from had_snn.conversion.emulator_cpu import lif_block

            v_np = v_out.numpy() if v_out is not None else np.empty((0, *spikes_out.shape[1:]), np.int64)
            lif_block(a_in.numpy(), lead_zero_steps, u.numpy(), v.numpy(), self.keep_u, self.keep_v, self.bias_np,
                      self.vth_mant << VTH_SHIFT, spikes_out.numpy(), v_np)
            return
        zeros = torch.zeros_like(u)
        for t in range(spikes_out.shape[0]):
            src = t - lead_zero_steps
            u_new, v_new, spikes = lif_step(u, v, a_in[src] if src >= 0 else zeros, self.du, self.dv, self.bias,
                                            self.vth_mant)
            u.copy_(u_new)
            v.copy_(v_new)
            spikes_out[t] = spikes
            if v_out is not None:
                v_out[t] = v_new


class LoihiEmulator:
    """Bit-exact fixed-point emulator of a validated netx layer list (layer 0 is the input).

    ``run`` goes layer by layer over blocks of time steps: thanks to the one-step synaptic delay, a layer's input for
    a whole block is known once the previous layer has run it, so each conv/dense runs once per block on all of its
    steps and samples, and the LIF recurrence runs in a compiled loop (CPU) or a torch loop (other devices).
    ``max_block_bytes`` bounds the temporary synaptic input of a block (the block shrinks for big layers/batches).
    """

    def __init__(self, layers: list[NetxLayer], device: str | torch.device = "cpu", max_block_bytes: int = 1 << 28):
        validate_layers(layers)
        self.device = torch.device(device)
        self.input_shape = layers[0].shape
        self.max_block_bytes = max_block_bytes
        self.synapses: list[_Synapse] = []
        prev = layers[0].shape
        for i, layer in enumerate(layers[1:], start=1):
            if layer.has_synapse:
                self.synapses.append(_Synapse(layer, prev, i, self.device))
            prev = layer.shape
        if not self.synapses:
            raise ValueError("network has no conv/dense layer to emulate")
        self.layer_names = [s.layer.name or f"{s.layer.type}{i}" for i, s in enumerate(self.synapses, start=1)]

    @property
    def fill_steps(self) -> int:
        """Pipeline fill: the read-out of input step t appears at step t + fill_steps (one per synaptic layer)."""
        return pipeline_fill_steps(len(self.synapses))

    def flushed(self, spikes: torch.Tensor | np.ndarray) -> torch.Tensor:
        """``spikes`` (T, B, C, H, W) followed by :attr:`fill_steps` zero steps, so every input step reaches the
        read-out (T + fill_steps steps, as the tracker, ``had-snn deploy`` and the energy counts run a frame)."""
        x = torch.as_tensor(np.asarray(spikes) if isinstance(spikes, np.ndarray) else spikes)
        return torch.cat([x, torch.zeros((self.fill_steps, *x.shape[1:]), dtype=x.dtype, device=x.device)])

    def block_steps(self, batch: int) -> int:
        """Time steps per block: the synaptic input (int64 plus its float sum) of the widest layer fits the budget."""
        widest = max(s.layer.num_neurons for s in self.synapses)
        return max(1, self.max_block_bytes // (16 * batch * widest))

    @torch.inference_mode()
    def run(self, spikes: torch.Tensor | np.ndarray) -> EmulatorResult:
        """Run ``spikes`` (T, B, C, H, W) of 0/1 through the network for T steps from the zero state."""
        x = torch.as_tensor(np.asarray(spikes) if isinstance(spikes, np.ndarray) else spikes, device=self.device)
        if x.dim() != 5 or tuple(x.shape[2:]) != tuple(self.input_shape):
            shape = ", ".join(map(str, self.input_shape))
            raise ValueError(f"input spikes must be (T, B, {shape}), got {tuple(x.shape)}")
        x = _as_bool(x, self.device)
        n_steps, batch = x.shape[:2]
        flat = [(n_steps, batch, s.layer.num_neurons) for s in self.synapses]
        out_spikes = [torch.zeros(shape, dtype=torch.bool, device=self.device) for shape in flat]
        v_out = torch.zeros(flat[-1], dtype=torch.int64, device=self.device)
        state = [(torch.zeros(shape[1:], dtype=torch.int64, device=self.device),
                  torch.zeros(shape[1:], dtype=torch.int64, device=self.device)) for shape in flat]
        block = self.block_steps(batch)
        for t0 in range(0, n_steps, block):
            t1 = min(n_steps, t0 + block)
            lead = 1 if t0 == 0 else 0  # step 0 has no delivered input; step t gets the synapses of step t - 1
            s_prev = x
            for li, syn in enumerate(self.synapses):
                src = s_prev[t0 + lead - 1:t1 - 1]
                a_in = syn.synaptic_input(src.reshape(len(src), batch, *syn.in_shape))
                last = li == len(self.synapses) - 1
                syn.lif(a_in, lead, state[li], out_spikes[li][t0:t1], v_out[t0:t1] if last else None)
                s_prev = out_spikes[li]
        shaped = [s.view(n_steps, batch, *syn.layer.shape) for s, syn in zip(out_spikes, self.synapses, strict=True)]
        v_out = v_out.view(n_steps, batch, *self.synapses[-1].layer.shape)
        return EmulatorResult(self.layer_names, shaped, v_out, self.count_ops(x, shaped))

    @torch.inference_mode()
    def count_ops(self, spikes_in: torch.Tensor, layer_spikes: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        """Per layer, per step, per sample (L, T, B): input spikes, synaptic ops (spikes x fan-out), neuron updates,
        output spikes, from the network input and every synaptic layer's output spikes (emulator's or Lava's)."""
        spikes_in, layer_spikes = _as_bool(spikes_in, self.device), [_as_bool(s, self.device) for s in layer_spikes]
        n_steps, batch = spikes_in.shape[:2]
        counts = {k: torch.zeros((len(self.synapses), n_steps, batch), dtype=torch.int64, device=self.device)
                  for k in COUNT_NAMES}
        for li, syn in enumerate(self.synapses):
            s_prev = spikes_in if li == 0 else layer_spikes[li - 1]
            counts["input_spikes"][li], counts["synaptic_ops"][li] = syn.synaptic_ops(s_prev)
            counts["neuron_updates"][li] = syn.layer.num_neurons
        counts["output_spikes"][:-1] = counts["input_spikes"][1:]
        counts["output_spikes"][-1] = layer_spikes[-1].flatten(2).sum(2)
        return counts
