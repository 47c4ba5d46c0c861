"""Bit-exact torch emulator of a netx fixed-point network as Lava 0.10 runs it in ``Loihi2SimCfg("fixed_pt")``.

Integer semantics copied from lava/proc/{lif,dense,conv}/models.py (explained in docs/loihi.md); the neuron step and
its constants are :mod:`had_snn.hardware.cuba` (``lif_step_int``), shared with the numba kernel:

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
otherwise, so they are exact. Inside a run every layer's neurons are kept channel-last (H, W, C order, what oneDNN
and cuDNN convolve fastest: 2.5x over channel-first for the student); inputs, outputs and states are channel-first.

The emulator owns its delay: :meth:`LoihiEmulator.run_aligned` returns a frame's read-out and spikes aligned to its
input steps, in reset mode (T + L steps from zero) or streaming mode (the frame continues an
:class:`EmulatorState`, no reset, no flush; the read-out window is read by a peek of L zero steps on a copy of the
state). ``run(A)`` then ``run(B, result.state)`` equals ``run(cat(A, B))`` bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from had_snn.hardware import cuba
from had_snn.hardware.cuba import (
    BIAS_EXP,
    CONV_WRAP_BITS,
    UV_LIMIT,
    VTH_SHIFT,
    WEIGHT_RANGE,
    keep_of,
    signed_wrap,
    wrap_u,
)
from had_snn.hardware.netx import NetxLayer, pipeline_fill_steps, validate_layers
from had_snn.models.layers import conv_fanout

__all__ = [
    "COUNT_NAMES", "AlignedResult", "EmulatorResult", "EmulatorState", "LoihiEmulator", "lava_dense_weights",
    "lif_step", "signed_wrap", "wrap_u",
]

INT32_MAX = (1 << 31) - 1
COUNT_NAMES = ("input_spikes", "synaptic_ops", "neuron_updates", "output_spikes")


def lif_step(
    u: torch.Tensor, v: torch.Tensor, a_in: torch.Tensor, du: int, dv: int, bias: torch.Tensor, vth_mant: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One PyLifModelBitAcc step in Lava's units (``du = iDecay - 1``, ``dv = vDecay``, ``bias`` already shifted by
    ``BIAS_EXP``): :func:`had_snn.hardware.cuba.lif_step_int`; returns new ``u``, new ``v`` (after reset), spikes."""
    return cuba.lif_step_int(u, v, a_in, keep_of(du + 1), keep_of(dv), bias, vth_mant << VTH_SHIFT)


def lava_dense_weights(weight: np.ndarray) -> np.ndarray:
    """Apply Lava's Dense clip and truncation (8-bit, sign mode from the matrix) to integer weights."""
    w = np.asarray(weight, dtype=np.int64)
    if w.min() >= 0:
        return np.clip(w, 0, WEIGHT_RANGE[1])
    if w.max() <= 0:
        return np.clip(w, -WEIGHT_RANGE[1], 0)
    return (np.clip(w, *WEIGHT_RANGE) >> 1) << 1


@dataclass
class EmulatorState:
    """Everything needed to continue a run: per synaptic layer the integer state ``u``, ``v`` (B, N) int64, and the
    delay buffer (what the next step's synapses deliver): ``last_input`` (B, C, H, W) bool, the input spikes of the
    last step run, and ``last_spikes`` per synaptic layer (B, N) bool, its spikes of the last step run."""

    u: list[torch.Tensor]
    v: list[torch.Tensor]
    last_input: torch.Tensor
    last_spikes: list[torch.Tensor]
    steps: int = 0  # steps run so far

    @property
    def batch(self) -> int:
        """Samples (independent streams) the state holds."""
        return int(self.last_input.shape[0])

    def clone(self) -> EmulatorState:
        """A deep copy (runs never modify the state they are given; this is for callers that do)."""
        return EmulatorState([x.clone() for x in self.u], [x.clone() for x in self.v], self.last_input.clone(),
                             [x.clone() for x in self.last_spikes], self.steps)


@dataclass
class EmulatorResult:
    """Per synaptic layer (in network order): spikes ``(T, B, C, H, W)`` bool (strided views of the run's
    channel-last buffers: ``reshape``, not ``view``), counts ``(L, T, B)`` int64 by name,
    the membrane voltage ``v`` of the last layer ``(T, B, C, H, W)`` int64 (the read-out), and ``state``, the
    state after the last step (pass it to the next :meth:`LoihiEmulator.run` to continue)."""

    layer_names: list[str]
    spikes: list[torch.Tensor]
    v_out: torch.Tensor
    counts: dict[str, torch.Tensor]
    state: EmulatorState | None = None


@dataclass
class AlignedResult:
    """One frame's outputs aligned to its T input steps (see :meth:`LoihiEmulator.run_aligned`).

    ``readout_v`` (T, B, C, H, W) int64: the read-out ``v`` of input step t (chip step t + L); ``spikes`` per synaptic
    layer l (1-based) (T, B, C, H, W) bool: its spikes of chip steps t + l; ``counts`` (L, S, B) int64 over the
    ``billed_steps`` S the chip spends on the frame (reset: T + L, streaming: T); ``state``: the stream state after
    the frame's T steps (streaming), None (reset)."""

    layer_names: list[str]
    readout_v: torch.Tensor
    spikes: list[torch.Tensor]
    counts: dict[str, torch.Tensor]
    billed_steps: int
    state: EmulatorState | None


def channel_last_order(shape: tuple[int, int, int]) -> np.ndarray | None:
    """Index of each neuron of a (C, H, W) layer in the emulator's run order (H, W, C): ``internal = chw[..., order]``;
    None when the two orders agree (C == 1 or H * W == 1)."""
    c, h, w = shape
    if c == 1 or h * w == 1:
        return None
    return np.arange(c * h * w).reshape(c, h, w).transpose(1, 2, 0).ravel()


def _exact_float(max_abs_sum: int, device: torch.device) -> torch.dtype:
    """float32 when every partial sum of integer weights is exactly representable (< 2**24) and the backend sums
    directly (CPU: oneDNN/GEMM direct convolution), else float64 (CUDA: cuDNN may pick Winograd/FFT for float32)."""
    return torch.float32 if max_abs_sum < (1 << 24) and device.type == "cpu" else torch.float64


def _run_order(x: torch.Tensor, shape: tuple[int, int, int]) -> torch.Tensor:
    """Neurons of a (C, H, W) layer, given as (..., C, H, W) or (..., C*H*W) channel-first, as (..., N) in the run
    order (channel-last), contiguous."""
    c, h, w = shape
    lead = x.shape[:-3] if x.dim() >= 3 and tuple(x.shape[-3:]) == tuple(shape) else x.shape[:-1]
    return x.reshape(*lead, c, h, w).movedim(-3, -1).reshape(*lead, c * h * w)


def _channel_first(x: torch.Tensor, shape: tuple[int, int, int], copy: bool = True) -> torch.Tensor:
    """(..., N) neurons in the run order as a (..., C, H, W) channel-first tensor: contiguous, or with ``copy=False``
    a strided view of ``x`` (no copy)."""
    c, h, w = shape
    out = x.reshape(*x.shape[:-1], h, w, c).movedim(-1, -3)
    return out.contiguous() if copy else out


def _as_bool(spikes: torch.Tensor | np.ndarray, device: torch.device) -> torch.Tensor:
    """Spikes as a bool tensor on ``device`` (no copy when they already are)."""
    x = torch.as_tensor(spikes, device=device)
    return x if x.dtype == torch.bool else x != 0


class _Synapse:
    """One conv/dense layer prepared for the emulator: weights, fan-out map, neuron constants.

    Synaptic sums are float convolutions/matmuls, exact for integer weights (see :func:`_exact_float`); with
    ``compiled`` (CPU) the LIF recurrence and the counters run as numba loops
    (:mod:`had_snn.hardware.cuba_kernels`), else as torch loops. Its input is the spikes of ``src_shape`` (the
    previous synaptic layer's, or the network input's, neurons), and its neurons, in the run order
    (:func:`channel_last_order`); ``fanout`` stays channel-first (the public counting order).
    """

    def __init__(self, layer: NetxLayer, in_shape: tuple[int, int, int], src_shape: tuple[int, int, int], index: int,
                 device: torch.device, compiled: bool):
        self.layer = layer
        self.in_shape = in_shape
        src_order = channel_last_order(src_shape)
        #: a flatten lies between (src_shape != in_shape): the conv input is the source's channel-first order, viewed
        #: as ``in_shape`` (gathered from the run order when that differs)
        self.reshaped = tuple(src_shape) != tuple(in_shape)
        self.gather = None if src_order is None else torch.as_tensor(np.argsort(src_order), device=device)
        self.compiled = compiled
        n = layer.neuron
        self.du, self.dv, self.vth_mant = n.du, n.dv, n.vth_mant
        self.keep_u, self.keep_v = keep_of(n.i_decay), keep_of(n.v_decay)
        if layer.type == "dense":
            w = lava_dense_weights(layer.weight)
            max_act = max(int(np.clip(w, 0, None).sum(1).max()), int(-np.clip(w, None, 0).sum(1).min()))
            max_act = max_act << layer.weight_exp if layer.weight_exp > 0 else max_act >> -layer.weight_exp
            if (max_act << cuba.ACT_SHIFT) + UV_LIMIT > INT32_MAX:
                raise ValueError(
                    f"layer {index} ({layer.name or 'dense'}): largest input {max_act} << {cuba.ACT_SHIFT} overflows "
                    f"Lava's int32 current (limit {(INT32_MAX - UV_LIMIT) >> cuba.ACT_SHIFT}); reduce the fan-in or "
                    "the weights"
                )
            w_run = w if src_order is None else w[:, src_order]  # columns in the run order of the source neurons
            self.weight = torch.as_tensor(w_run, dtype=_exact_float(np.abs(w).sum(1).max(), device), device=device)
            self.fanout = torch.full((int(np.prod(in_shape)),), w.shape[0], dtype=torch.float64, device=device)
            self.conv_wraps = False
        else:
            per_out = int(np.abs(layer.weight).reshape(layer.weight.shape[0], -1).sum(1).max())
            self.weight = torch.as_tensor(layer.weight, dtype=_exact_float(per_out, device), device=device)
            self.fanout = conv_fanout(in_shape, tuple(self.weight.shape), layer.stride, layer.padding, layer.dilation,
                                      layer.groups, device)
            self.weight = self.weight.contiguous(memory_format=torch.channels_last)
            self.conv_wraps = per_out >= 1 << (CONV_WRAP_BITS - 1)  # below, no sum leaves the wrap range: identity
        flat = self.fanout.flatten()
        self.fanout_run = flat if src_order is None else flat[torch.as_tensor(src_order, device=device)]
        #: fan-out per input neuron as int64 for the compiled counter, by order (False: channel-first, True: run order)
        self.fanout_np = {run: f.cpu().numpy().astype(np.int64) for run, f in ((False, flat), (True, self.fanout_run))}
        bias = np.zeros(layer.shape[0], np.int64) if layer.bias is None else np.asarray(layer.bias, np.int64)
        self.bias_np = np.tile(bias << BIAS_EXP, layer.num_neurons // layer.shape[0])  # (N,), run order (channel-last)
        self.bias = torch.as_tensor(self.bias_np, device=device)

    def _conv(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        lay = self.layer
        return F.conv2d(x, weight, stride=lay.stride, padding=lay.padding, dilation=lay.dilation, groups=lay.groups)

    def synaptic_input(self, spikes_in: torch.Tensor) -> torch.Tensor:
        """Integer activation Lava delivers for ``spikes_in`` (S, B, N_src) bool (run order), shaped (S, B, N_out) in
        the run order: dense sums shifted by ``weight_exp`` (floor), conv sums wrapped to signed 24 bit. For the
        compiled loop, when neither applies, the exact float sums are returned as they are (the loop converts them)."""
        n_steps, batch = spikes_in.shape[:2]
        lay = self.layer
        x = spikes_in.flatten(0, 1).view(torch.uint8)  # bool -> float via uint8 is 10x faster in torch
        if lay.type == "dense":
            a = x.to(self.weight.dtype) @ self.weight.T
        else:
            c, h, w = self.in_shape
            if self.reshaped:
                x = (x if self.gather is None else x[:, self.gather]).reshape(-1, c, h, w)
            else:
                x = x.view(-1, h, w, c).permute(0, 3, 1, 2)
            a = self._conv(x.to(self.weight.dtype), self.weight).permute(0, 2, 3, 1)  # channel-last: no copy
        a = a.reshape(n_steps, batch, lay.num_neurons)
        e = lay.weight_exp if lay.type == "dense" else 0
        if self.compiled and not e and not self.conv_wraps:
            return a
        a = a.round().to(torch.int64)  # exact already; rounding guards non-CPU backends' summation algorithms
        if e:
            a = a << e if e > 0 else a >> -e
        return signed_wrap(a, CONV_WRAP_BITS) if self.conv_wraps else a

    def synaptic_ops(self, spikes_in: torch.Tensor, run_order: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """Input spikes and spikes x fan-out for input spikes (T, B, C, H, W) (or (T, B, N) in the run order with
        ``run_order``), each shaped (T, B) int64."""
        n_steps, batch = spikes_in.shape[:2]
        x = spikes_in.reshape(n_steps, batch, -1)
        if self.compiled:
            from had_snn.hardware.cuba_kernels import spike_counts

            n_spikes, ops = np.zeros((n_steps, batch), np.int64), np.zeros((n_steps, batch), np.int64)
            spike_counts(x.contiguous().numpy(), self.fanout_np[run_order], n_spikes, ops)
            return torch.from_numpy(n_spikes), torch.from_numpy(ops)
        fanout = self.fanout_run if run_order else self.fanout.flatten()
        return x.sum(2), (x.to(torch.float64) @ fanout).to(torch.int64)

    def lif(self, a_in: torch.Tensor, lead_zero_steps: int, u: torch.Tensor, v: torch.Tensor,
            spikes_out: torch.Tensor, v_out: torch.Tensor | None) -> None:
        """Run LIF steps in place: ``a_in`` (S, B, N) integers feeds the steps after ``lead_zero_steps`` empty ones;
        ``u``, ``v`` (B, N) int64 are updated; ``spikes_out`` (T, B, N) bool and ``v_out`` (same, or None) are
        written with the spikes and the post-reset ``v`` of every step."""
        vth = self.vth_mant << VTH_SHIFT
        if self.compiled:
            from had_snn.hardware.cuba_kernels import lif_block

            v_np = v_out.numpy() if v_out is not None else np.empty((0, *spikes_out.shape[1:]), np.int64)
            lif_block(a_in.numpy(), lead_zero_steps, u.numpy(), v.numpy(), self.keep_u, self.keep_v, self.bias_np,
                      vth, spikes_out.numpy(), v_np)
            return
        zeros = torch.zeros_like(u)
        for t in range(spikes_out.shape[0]):
            src = t - lead_zero_steps
            u_new, v_new, spikes = cuba.lif_step_int(u, v, a_in[src] if src >= 0 else zeros, self.keep_u,
                                                     self.keep_v, self.bias, vth)
            u.copy_(u_new)
            v.copy_(v_new)
            spikes_out[t] = spikes
            if v_out is not None:
                v_out[t] = v_new


class LoihiEmulator:
    """Bit-exact fixed-point emulator of a validated netx layer list (layer 0 is the input).

    ``run`` goes layer by layer over blocks of time steps: thanks to the one-step synaptic delay, a layer's input for
    a whole block is known once the previous layer has run it, so each conv/dense runs once per block on all of its
    steps and samples, and the LIF recurrence runs in a compiled loop (CPU) or a torch loop (other devices, or
    ``compiled=False``). ``max_block_bytes`` bounds the temporary synaptic input of a block (the block shrinks for
    big layers/batches); the default 32 MB keeps a block's buffers near the caches (a 256 MB block ran the student's
    batch of 32 about 1.5x slower per sample than one sample did).

    A run starts from an :class:`EmulatorState` (default: the zero state) and returns the state after its last step,
    so ``run(A)`` then ``run(B, state)`` equals ``run(cat(A, B))`` bit for bit; :meth:`run_aligned` runs one frame in
    reset or streaming mode and returns its outputs aligned to the input steps.
    """

    def __init__(self, layers: list[NetxLayer], device: str | torch.device = "cpu", max_block_bytes: int = 1 << 25,
                 compiled: bool | None = None):
        validate_layers(layers)
        self.device = torch.device(device)
        self.compiled = self.device.type == "cpu" if compiled is None else bool(compiled)
        if self.compiled and self.device.type != "cpu":
            raise ValueError(f"the compiled (numba) emulator runs on the CPU only, not on {self.device}")
        self.input_shape = layers[0].shape
        self.max_block_bytes = max_block_bytes
        self.synapses: list[_Synapse] = []
        prev = src = layers[0].shape
        for i, layer in enumerate(layers[1:], start=1):
            if layer.has_synapse:
                self.synapses.append(_Synapse(layer, prev, src, i, self.device, self.compiled))
                src = layer.shape
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
        read-out (T + fill_steps steps). Prefer :meth:`run_aligned`, which also realigns the outputs."""
        x = torch.as_tensor(np.asarray(spikes) if isinstance(spikes, np.ndarray) else spikes)
        return torch.cat([x, torch.zeros((self.fill_steps, *x.shape[1:]), dtype=x.dtype, device=x.device)])

    def block_steps(self, batch: int) -> int:
        """Time steps per block: the synaptic input (int64 plus its float sum) of the widest layer fits the budget."""
        widest = max(s.layer.num_neurons for s in self.synapses)
        return max(1, self.max_block_bytes // (16 * batch * widest))

    def zero_state(self, batch: int) -> EmulatorState:
        """The state of a network that has run no step (everything zero), for ``batch`` independent streams."""
        if batch < 1:
            raise ValueError(f"batch must be >= 1, got {batch}")

        def zeros(n: int, dtype: torch.dtype) -> torch.Tensor:
            return torch.zeros((batch, n), dtype=dtype, device=self.device)

        ns = [s.layer.num_neurons for s in self.synapses]
        return EmulatorState(
            u=[zeros(n, torch.int64) for n in ns], v=[zeros(n, torch.int64) for n in ns],
            last_input=torch.zeros((batch, *self.input_shape), dtype=torch.bool, device=self.device),
            last_spikes=[zeros(n, torch.bool) for n in ns], steps=0,
        )

    def _input(self, spikes: torch.Tensor | np.ndarray) -> torch.Tensor:
        x = torch.as_tensor(np.asarray(spikes) if isinstance(spikes, np.ndarray) else spikes, device=self.device)
        if x.dim() != 5 or tuple(x.shape[2:]) != tuple(self.input_shape) or x.shape[0] < 1 or x.shape[1] < 1:
            shape = ", ".join(map(str, self.input_shape))
            raise ValueError(f"input spikes must be (T, B, {shape}) with T, B >= 1, got {tuple(x.shape)}")
        return _as_bool(x, self.device)

    def _check_state(self, state: EmulatorState, batch: int) -> EmulatorState:
        """A copy of ``state`` on this emulator's device, after checking it fits the network and the batch."""
        ns = [s.layer.num_neurons for s in self.synapses]
        if state.batch != batch:
            raise ValueError(f"emulator state holds {state.batch} streams, the input has batch {batch}")
        shapes = [tuple(x.shape) for x in (*state.u, *state.v, *state.last_spikes)]
        if shapes != [(batch, n) for n in ns] * 3 or tuple(state.last_input.shape[1:]) != tuple(self.input_shape):
            raise ValueError("emulator state does not belong to this network (layer sizes differ)")
        dev = self.device
        return EmulatorState([x.to(dev).clone() for x in state.u], [x.to(dev).clone() for x in state.v],
                             state.last_input.to(dev).clone(), [x.to(dev).clone() for x in state.last_spikes],
                             state.steps)

    @torch.inference_mode()
    def run(self, spikes: torch.Tensor | np.ndarray, state: EmulatorState | None = None) -> EmulatorResult:
        """Run ``spikes`` (T, B, C, H, W) of 0/1 for T steps from ``state`` (None: the zero state); the state given is
        not modified, the one after the last step is ``result.state``."""
        x = self._input(spikes)
        n_steps, batch = x.shape[:2]
        st = self.zero_state(batch) if state is None else self._check_state(state, batch)
        fresh = st.steps == 0  # step 0 of a fresh network gets no synaptic input: its conv on zeros can be skipped
        shapes = [s.layer.shape for s in self.synapses]
        u = [_run_order(a, sh) for a, sh in zip(st.u, shapes, strict=True)]
        v = [_run_order(a, sh) for a, sh in zip(st.v, shapes, strict=True)]
        # row 0: the spikes of the step before this run (the delay buffer); row t + 1: the spikes of step t
        x_hist = _run_order(torch.cat([st.last_input[None], x]), self.input_shape)
        hist = [torch.cat([_run_order(last, sh)[None],
                           torch.zeros((n_steps, batch, last.shape[-1]), dtype=torch.bool, device=self.device)])
                for last, sh in zip(st.last_spikes, shapes, strict=True)]
        v_out = torch.zeros((n_steps, batch, self.synapses[-1].layer.num_neurons), dtype=torch.int64,
                            device=self.device)
        block = self.block_steps(batch)
        for t0 in range(0, n_steps, block):
            t1 = min(n_steps, t0 + block)
            lead = 1 if t0 == 0 and fresh else 0
            s_prev = x_hist
            for li, syn in enumerate(self.synapses):
                # spikes of steps t0 - 1 + lead .. t1 - 2, delivered at t0 + lead .. t1 - 1
                a_in = syn.synaptic_input(s_prev[t0 + lead:t1])
                last = li == len(self.synapses) - 1
                syn.lif(a_in, lead, u[li], v[li], hist[li][t0 + 1:t1 + 1], v_out[t0:t1] if last else None)
                s_prev = hist[li]
        counts = self._counts(x_hist[1:], [h[1:] for h in hist], run_order=True)
        shaped = [_channel_first(h[1:], sh, copy=False) for h, sh in zip(hist, shapes, strict=True)]
        v_out = _channel_first(v_out, shapes[-1])
        st.u = [_channel_first(a, sh).flatten(1) for a, sh in zip(u, shapes, strict=True)]
        st.v = [_channel_first(a, sh).flatten(1) for a, sh in zip(v, shapes, strict=True)]
        st.last_input = x[-1].clone()
        st.last_spikes = [s[-1].reshape(batch, -1).clone() for s in shaped]
        st.steps += n_steps
        return EmulatorResult(self.layer_names, shaped, v_out, counts, st)

    @torch.inference_mode()
    def run_aligned(self, spikes: torch.Tensor | np.ndarray, stream: EmulatorState | None = None) -> AlignedResult:
        """Run one frame of ``spikes`` (T, B, C, H, W) and return its outputs aligned to the T input steps.

        ``stream=None`` (reset mode): T + L steps from the zero state (L = :attr:`fill_steps` zero steps flush the
        pipeline), all T + L billed. ``stream=state`` (streaming mode): the T steps continue the stream from
        ``state`` (the returned ``state`` holds them) and only they are billed; the read-out window, chip steps
        [T, T + L) after the frame start, needs no later input, so it is read from L zero steps run on a copy of the
        state (a "peek" that the stream does not keep)."""
        x = self._input(spikes)
        n_steps, fill = x.shape[0], self.fill_steps
        zeros = torch.zeros((fill, *x.shape[1:]), dtype=torch.bool, device=self.device)
        if stream is None:
            res = self.run(torch.cat([x, zeros]))
            v_full, spikes_full, counts, billed, state = res.v_out, res.spikes, res.counts, n_steps + fill, None
        else:
            res = self.run(x, stream)
            peek = self.run(zeros, res.state)
            v_full = torch.cat([res.v_out, peek.v_out])
            spikes_full = [torch.cat([a, b]) for a, b in zip(res.spikes, peek.spikes, strict=True)]
            counts, billed, state = res.counts, n_steps, res.state
        return AlignedResult(
            layer_names=self.layer_names, readout_v=v_full[fill:fill + n_steps],
            spikes=[s[li:li + n_steps] for li, s in enumerate(spikes_full, start=1)], counts=counts,
            billed_steps=billed, state=state,
        )

    @torch.inference_mode()
    def count_ops(self, spikes_in: torch.Tensor, layer_spikes: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        """Per layer, per step, per sample (L, T, B): input spikes, synaptic ops (spikes x fan-out), neuron updates,
        output spikes, from the network input and every synaptic layer's output spikes (emulator's or Lava's)."""
        spikes_in, layer_spikes = _as_bool(spikes_in, self.device), [_as_bool(s, self.device) for s in layer_spikes]
        return self._counts(spikes_in, layer_spikes, run_order=False)

    def _counts(self, spikes_in: torch.Tensor, layer_spikes: list[torch.Tensor], run_order: bool
                ) -> dict[str, torch.Tensor]:
        """:meth:`count_ops` of bool spikes, channel-first (T, B, C, H, W) or, with ``run_order``, (T, B, N)."""
        n_steps, batch = spikes_in.shape[:2]
        counts = {k: torch.zeros((len(self.synapses), n_steps, batch), dtype=torch.int64, device=self.device)
                  for k in COUNT_NAMES}
        for li, syn in enumerate(self.synapses):
            s_prev = spikes_in if li == 0 else layer_spikes[li - 1]
            counts["input_spikes"][li], counts["synaptic_ops"][li] = syn.synaptic_ops(s_prev, run_order)
            counts["neuron_updates"][li] = syn.layer.num_neurons
        counts["output_spikes"][:-1] = counts["input_spikes"][1:]
        counts["output_spikes"][-1] = layer_spikes[-1].flatten(2).sum(2)
        return counts
