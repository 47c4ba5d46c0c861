"""Quantise the float spiking student onto Loihi integers (netx layers) and measure what it costs.

Mapping per spiking layer (BN folded first). Spikes between layers are binary, so every layer has its own free scale
``k`` (integer units per float unit of current):

* weights ``w_int = 2 * round(w * k / 2)`` clipped to ``[-256, 254]``: 8-bit mixed sign exactly as Lava's Dense keeps
  it (clip to [-256, 255], lowest bit truncated), so Conv and Dense see the same values. ``k = 254 / P(|w|)`` with
  ``P`` the ``weight_percentile`` of |w| (100 = max, nothing clipped), lowered if the bias or threshold would overflow.
* current ``u_int = 64 k u`` (Lava left-shifts synaptic input by 6), so ``vth_mant = round(threshold * k)`` (17 bit).
* bias: the float student adds the conv bias to the current (``syn = alpha syn + W x + b``, from zero at each window);
  Loihi adds ``bias_mant << 6`` to ``v`` every step, from step 0, i.e. ``l`` steps before layer ``l``'s first input
  arrives (one step of synaptic delay per layer). No constant voltage bias reproduces both the float ramp
  ``b (1 - alpha^(t+1)) / (1 - alpha)`` and the empty pre-roll, so the voltage bias is ``bias_gain * b`` (13 bit).
  ``bias_gain = 1`` (the float bias of step 0) is the default: with the pre-roll, the steady-state gain
  ``1 / (1 - alpha)`` over-drives every layer (demo student, T = 4: read-out error 0.47 vs 0.31 in a float model of
  the Loihi semantics; quantised: heat-map peak agreement 0.26 -> 0.41). A greedy per-layer grid search of the gain
  for the best spike agreement on validation windows gained only 0.01 peak agreement, so it is not used. Only a
  float student trained with Loihi's bias semantics (bias into ``v``, per-layer pre-roll) would make this exact.
* decays: ``iDecay = round((1 - alpha) * 4096)`` in [1, 4096] (Lava ``du = iDecay - 1``), ``vDecay = round((1 - beta) *
  4096)`` in [0, 4095].
* ``weight_exp`` stays 0: Lava's Conv ignores it and the per-layer scale already lives in ``vth`` and ``bias``.

The deployed graph is the search path: backbone stages -> depthwise correlation (a grouped conv whose weights are the
template kernel, re-quantised per sequence by :func:`correlation_layer`) -> head -> non-spiking read-out whose ``v``
dequantises as ``v / (64 k)``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from had_snn.conversion.fold import bn_scale_shift, fold_conv_bn
from had_snn.hardware.netx import (
    BIAS_MANT_RANGE,
    READOUT_VTH_MANT,
    VTH_MANT_RANGE,
    CubaNeuron,
    NetxLayer,
    conv_output_size,
    int_pair,
    relay_neuron,
    validate_layers,
)

WEIGHT_MAX = 254  # largest even 8-bit mixed-sign weight Lava's Dense keeps
FAN_IN_LIMIT = 4096  # Loihi 1 input axons per core (Davies et al. 2018; docs/loihi.md)
ACT_SHIFT = 6


@dataclass
class FloatLayer:
    """One conv + (folded BN) + CUBA LIF layer of the float network."""

    name: str
    weight: torch.Tensor  # float64 (C_out, C_in/groups, kH, kW)
    bias: torch.Tensor  # float64 (C_out,)
    stride: tuple[int, int]
    padding: tuple[int, int]
    dilation: tuple[int, int]
    groups: int
    alpha: float
    beta: float
    threshold: float | None  # None: non-spiking read-out


@dataclass
class LayerReport:
    """Per-layer quantisation figures (JSON-serialisable)."""

    name: str
    scale: float
    bias_gain: float
    limited_by: str
    weight_bits_used: int
    clipped_weights: int
    weight_rel_error: float
    bias_rel_error: float
    vth_mant: int
    i_decay: int
    v_decay: int
    alpha_error: float
    beta_error: float
    fan_in: int
    worst_case_input: int


@dataclass
class QuantizedNetwork:
    """netx layers (layer 0 input), the scale of every synaptic layer and the per-layer report."""

    layers: list[NetxLayer]
    scales: list[float]
    reports: list[LayerReport]

    @property
    def bias_gains(self) -> list[float]:
        """Voltage bias per float current bias of every synaptic layer."""
        return [r.bias_gain for r in self.reports]

    @property
    def readout_scale(self) -> float:
        """Integer read-out ``v`` per float membrane unit."""
        return self.scales[-1] * (1 << ACT_SHIFT)

    def report_dict(self) -> list[dict]:
        return [asdict(r) for r in self.reports]


def layers_from_modules(modules: nn.ModuleList, prefix: str) -> list[FloatLayer]:
    """Walk a [Conv2d, BatchNorm2d?, CubaLIF]* module list into float layers; raise on anything else."""
    from had_snn.models.neurons import CubaLIF

    out, conv, bn = [], None, None
    for i, m in enumerate(modules):
        where = f"{prefix}.{i}"
        if isinstance(m, nn.Conv2d):
            if conv is not None:
                raise ValueError(f"{where}: two convolutions without a CubaLIF between them cannot map to Loihi")
            if m.padding_mode != "zeros":
                raise ValueError(f"{where}: padding_mode={m.padding_mode!r} unsupported (Loihi pads with zeros)")
            conv, bn = (m, where), None
        elif isinstance(m, nn.BatchNorm2d):
            if conv is None or bn is not None:
                raise ValueError(f"{where}: BatchNorm2d must directly follow a Conv2d to be folded")
            bn = m
        elif isinstance(m, CubaLIF):
            if conv is None:
                raise ValueError(f"{where}: CubaLIF without a preceding Conv2d")
            c, cname = conv
            w, b = fold_conv_bn(c.weight, c.bias, bn)
            alpha, beta = m.decays()
            out.append(
                FloatLayer(
                    cname, w, b, int_pair(c.stride, "stride", cname), int_pair(c.padding, "padding", cname),
                    int_pair(c.dilation, "dilation", cname), c.groups, alpha, beta, m.threshold,
                )
            )
            conv = None
        else:
            raise ValueError(f"{where}: unsupported module {type(m).__name__} (Loihi mapping knows Conv2d, "
                             "BatchNorm2d, CubaLIF)")
    if conv is not None:
        raise ValueError(f"{conv[1]}: Conv2d at the end of {prefix} has no CubaLIF")
    return out


def student_float_layers(student: nn.Module, kernel: torch.Tensor) -> list[FloatLayer]:
    """The student's search path as float layers, with the correlation as a grouped conv of ``kernel`` (C, k, k)."""
    if kernel.dim() != 3 or kernel.shape[-1] % 2 == 0:
        raise ValueError(f"template kernel must be (C, k, k) with odd k, got {tuple(kernel.shape)}")
    backbone = layers_from_modules(student.backbone, "backbone")
    head = layers_from_modules(student.head, "head")
    scale, shift = bn_scale_shift(student.xcorr_bn)
    k = kernel.shape[-1]
    alpha, beta = student.xcorr_lif.decays()
    xcorr = FloatLayer(
        "xcorr", kernel.detach().double().unsqueeze(1) * scale.view(-1, 1, 1, 1), shift, (1, 1), (k // 2, k // 2),
        (1, 1), kernel.shape[0], alpha, beta, student.xcorr_lif.threshold,
    )
    return [*backbone, xcorr, *head]


def _out_hw(layer: FloatLayer, hw: tuple[int, int]) -> tuple[int, int]:
    kh, kw = layer.weight.shape[2:]
    return tuple(
        conv_output_size(size, kk, s, p, d)
        for size, kk, s, p, d in zip(hw, (kh, kw), layer.stride, layer.padding, layer.dilation, strict=True)
    )


def quantize_layer(layer: FloatLayer, in_shape: tuple[int, int, int], weight_percentile: float = 100.0,
                   bias_gain: float = 1.0):
    """Map one float layer to a netx conv layer; returns ``(NetxLayer, scale, LayerReport)``.

    ``bias_gain``: Loihi's per-step voltage bias as a multiple of the float current bias (see the module docstring).
    """
    if not 0.0 <= bias_gain <= 64.0:
        raise ValueError(f"layer {layer.name}: bias_gain {bias_gain} outside [0, 64]")
    i_decay = int(np.clip(np.rint((1 - layer.alpha) * 4096), 1, 4096))
    v_decay = int(np.clip(np.rint((1 - layer.beta) * 4096), 0, 4095))
    w = layer.weight.detach().numpy()
    b = layer.bias.detach().numpy() * bias_gain  # current bias -> per-step voltage bias
    fan_in = int(np.prod(w.shape[1:]))
    if fan_in > FAN_IN_LIMIT:
        raise ValueError(f"layer {layer.name}: fan-in {fan_in} exceeds the Loihi limit of {FAN_IN_LIMIT} axons")
    if w.shape[1] * layer.groups != in_shape[0]:
        raise ValueError(f"layer {layer.name}: expects {w.shape[1] * layer.groups} input channels, got {in_shape[0]}")
    ref = float(np.percentile(np.abs(w), weight_percentile)) if w.size else 0.0
    if ref == 0.0:
        raise ValueError(f"layer {layer.name}: all weights are zero, the layer cannot be scaled")
    limits = {"weights": WEIGHT_MAX / ref}
    if np.abs(b).max() > 0:
        limits["bias (13 bit)"] = BIAS_MANT_RANGE[1] / np.abs(b).max()
    if layer.threshold is not None:
        limits["threshold (17 bit)"] = VTH_MANT_RANGE[1] / layer.threshold
    limited_by = min(limits, key=limits.get)
    k = float(limits[limited_by])
    raw = 2 * np.rint(w * k / 2)
    w_int = np.clip(raw, -WEIGHT_MAX - 2, WEIGHT_MAX).astype(np.int64)
    b_int = np.clip(np.rint(b * k), *BIAS_MANT_RANGE).astype(np.int64)
    if layer.threshold is None:
        vth = READOUT_VTH_MANT
    else:
        vth = int(np.rint(layer.threshold * k))
        if vth < 1:
            raise ValueError(f"layer {layer.name}: threshold {layer.threshold} x scale {k:.3g} rounds below 1 "
                             f"(vThMant must be in [1, {VTH_MANT_RANGE[1]}])")
    out_hw = _out_hw(layer, in_shape[1:])
    netx = NetxLayer(
        type="conv", shape=(w.shape[0], *out_hw), weight=w_int, bias=b_int, stride=layer.stride,
        padding=layer.padding, dilation=layer.dilation, groups=layer.groups,
        neuron=CubaNeuron(i_decay=i_decay, v_decay=v_decay, vth_mant=vth), name=layer.name,
    )
    norm = lambda x: float(np.linalg.norm(x)) or 1.0  # noqa: E731
    report = LayerReport(
        name=layer.name, scale=k, bias_gain=float(bias_gain), limited_by=limited_by,
        weight_bits_used=int(np.ceil(np.log2(np.abs(w_int).max() + 1))) + 1,
        clipped_weights=int((raw != w_int).sum()),
        weight_rel_error=float(np.linalg.norm(w_int / k - w) / norm(w)),
        bias_rel_error=float(np.linalg.norm(b_int / k - b) / norm(b)),
        vth_mant=vth, i_decay=i_decay, v_decay=v_decay,
        alpha_error=float(abs((1 - i_decay / 4096) - layer.alpha)),
        beta_error=float(abs((1 - v_decay / 4096) - layer.beta)),
        fan_in=fan_in,
        worst_case_input=int(np.abs(w_int).reshape(w_int.shape[0], -1).sum(1).max()),
    )
    return netx, k, report


def quantize_float_layers(
    layers: list[FloatLayer], in_shape: tuple[int, int, int], weight_percentile: float = 100.0,
    bias_gains: list[float] | None = None,
) -> QuantizedNetwork:
    """Quantise a chain of float layers fed by binary spikes of ``in_shape`` (C, H, W); ``bias_gains`` one per layer
    (default 1.0 each)."""
    gains = [1.0] * len(layers) if bias_gains is None else [float(g) for g in bias_gains]
    if len(gains) != len(layers):
        raise ValueError(f"bias_gains has {len(gains)} values for {len(layers)} layers")
    netx = [NetxLayer(type="input", shape=tuple(in_shape), neuron=relay_neuron(), name="input")]
    scales, reports = [], []
    shape = tuple(in_shape)
    for layer, gain in zip(layers, gains, strict=True):
        q, k, rep = quantize_layer(layer, shape, weight_percentile, gain)
        netx.append(q)
        scales.append(k)
        reports.append(rep)
        shape = q.shape
    validate_layers(netx, "quantised network")
    return QuantizedNetwork(netx, scales, reports)


@torch.no_grad()
def template_kernel_for(student: nn.Module, template_spikes: torch.Tensor) -> torch.Tensor:
    """Float correlation kernel (C, k, k) of one template (T, 1, C, H, W), as the student computes it at track start."""
    if template_spikes.dim() != 5 or template_spikes.shape[1] != 1:
        raise ValueError(f"template spikes must be (T, 1, C, H, W) (one sequence), got {tuple(template_spikes.shape)}")
    return student.template_kernel(template_spikes.float())[0][0]


def quantize_student(
    student: nn.Module, template_spikes: torch.Tensor, weight_percentile: float = 100.0,
    bias_gains: list[float] | None = None,
) -> QuantizedNetwork:
    """Fold, scale and round the student's search path, with the correlation kernel of ``template_spikes``."""
    cfg = student.config
    kernel = template_kernel_for(student, template_spikes)
    layers = student_float_layers(student, kernel)
    return quantize_float_layers(layers, (cfg.in_channels, cfg.search_px, cfg.search_px), weight_percentile,
                                 bias_gains)


def correlation_layer(
    student: nn.Module, qnet: QuantizedNetwork, template_spikes: torch.Tensor, weight_percentile: float = 100.0
) -> QuantizedNetwork:
    """Re-quantise only the correlation layer for a new sequence's template (what runs at track start)."""
    idx = next(i for i, lay in enumerate(qnet.layers) if lay.name == "xcorr")
    kernel = template_kernel_for(student, template_spikes)
    float_xcorr = student_float_layers(student, kernel)[idx - 1]
    q, k, rep = quantize_layer(float_xcorr, qnet.layers[idx - 1].shape, weight_percentile,
                               qnet.reports[idx - 1].bias_gain)
    layers, scales, reports = list(qnet.layers), list(qnet.scales), list(qnet.reports)
    layers[idx], scales[idx - 1], reports[idx - 1] = q, k, rep
    return QuantizedNetwork(layers, scales, reports)
