"""Quantise the float spiking student onto Loihi integers (netx layers) and measure what it costs.

Every constant and formula comes from :mod:`had_snn.hardware.cuba`, the one definition of the chip's CUBA neuron
(the training neuron, the QAT forward, the emulator and the exports read the same module). Per spiking layer (BN
folded first by :mod:`~had_snn.models.fold`, in float64 from the running statistics, as the QAT forward folds it);
spikes between layers are binary, so every layer has its own free scale ``k`` (integer units per float unit):

* ``k, limited_by = cuba.layer_scale(P(|w|), max |b|, threshold)`` with ``P`` the ``weight_percentile`` of |w| (100 =
  max, nothing clipped): the largest ``k`` that keeps weights, bias and threshold in their fields, lowered so that
  ``threshold * k`` is an integer (the threshold is exact on the chip).
* weights ``cuba.weight_mantissa(w, k)`` (even 8-bit mixed sign, as Lava's Dense keeps them); voltage bias
  ``cuba.bias_mantissa(b, k)`` (13 bit, enters ``v`` as ``bias << 6`` every step from step 0); ``vth_mant =
  cuba.vth_mantissa(threshold, k)``; decays ``cuba.i_decay_of(alpha)``, ``cuba.v_decay_of(beta)``.
* The student is trained with the chip's timing: its float bias already is the per-step voltage bias and each
  layer has one step of synaptic delay, so the mapping above is the chip's own arithmetic (a QAT student reproduces
  the integers exactly).
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

from had_snn.hardware import cuba
from had_snn.hardware.netx import CubaNeuron, NetxLayer, conv_output_size, int_pair, validate_layers
from had_snn.models.fold import bn_scale_shift, fold_conv_bn

FAN_IN_LIMIT = 4096  # Loihi 1 input axons per core (Davies et al. 2018; docs/loihi.md)


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
    def readout_scale(self) -> float:
        """Integer read-out ``v`` per float membrane unit."""
        return self.scales[-1] * (1 << cuba.ACT_SHIFT)

    def report_dict(self) -> list[dict]:
        return [asdict(r) for r in self.reports]


def layers_from_modules(modules: nn.ModuleList, prefix: str) -> list[FloatLayer]:
    """A [Conv2d, BatchNorm2d?, CubaLIF]* module list (:func:`~had_snn.models.student.layer_groups`) as float
    layers, BN folded; raise on what Loihi cannot run."""
    from had_snn.models.student import layer_groups

    index = {id(m): i for i, m in enumerate(modules)}
    out = []
    for c, bn, _, lif in layer_groups(modules, prefix):
        cname = f"{prefix}.{index[id(c)]}"
        if c.padding_mode != "zeros":
            raise ValueError(f"{cname}: padding_mode={c.padding_mode!r} unsupported (Loihi pads with zeros)")
        w, b = fold_conv_bn(c.weight, c.bias, bn)
        alpha, beta = lif.decays()
        out.append(FloatLayer(cname, w, b, int_pair(c.stride, "stride", cname), int_pair(c.padding, "padding", cname),
                              int_pair(c.dilation, "dilation", cname), c.groups, alpha, beta, lif.threshold))
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


def quantize_layer(layer: FloatLayer, in_shape: tuple[int, int, int], weight_percentile: float = 100.0
                   ) -> tuple[NetxLayer, float, LayerReport]:
    """Map one float layer to a netx conv layer with :mod:`~had_snn.hardware.cuba`'s mapping; returns ``(NetxLayer,
    scale k, LayerReport)``. The float bias is the per-step voltage bias (see the module docstring)."""
    i_decay, v_decay = cuba.i_decay_of(layer.alpha), cuba.v_decay_of(layer.beta)
    w = layer.weight.detach().double().numpy()
    b = layer.bias.detach().double().numpy()
    fan_in = int(np.prod(w.shape[1:]))
    if fan_in > FAN_IN_LIMIT:
        raise ValueError(f"layer {layer.name}: fan-in {fan_in} exceeds the Loihi limit of {FAN_IN_LIMIT} axons")
    if w.shape[1] * layer.groups != in_shape[0]:
        raise ValueError(f"layer {layer.name}: expects {w.shape[1] * layer.groups} input channels, got {in_shape[0]}")
    ref = float(np.percentile(np.abs(w), weight_percentile)) if w.size else 0.0
    if ref == 0.0:
        raise ValueError(f"layer {layer.name}: all weights are zero, the layer cannot be scaled")
    try:
        k, limited_by = cuba.layer_scale(ref, float(np.abs(b).max()) if b.size else 0.0, layer.threshold)
        vth = cuba.vth_mantissa(layer.threshold, k)
    except ValueError as exc:
        raise ValueError(f"layer {layer.name}: {exc}") from None
    raw = 2 * np.rint(w * k / 2)
    w_int = cuba.weight_mantissa(w, k).astype(np.int64)
    b_int = cuba.bias_mantissa(b, k).astype(np.int64)
    out_hw = _out_hw(layer, in_shape[1:])
    netx = NetxLayer(
        type="conv", shape=(w.shape[0], *out_hw), weight=w_int, bias=b_int, stride=layer.stride,
        padding=layer.padding, dilation=layer.dilation, groups=layer.groups,
        neuron=CubaNeuron(i_decay=i_decay, v_decay=v_decay, vth_mant=vth), name=layer.name,
    )
    norm = lambda x: float(np.linalg.norm(x)) or 1.0  # noqa: E731
    report = LayerReport(
        name=layer.name, scale=k, limited_by=limited_by,
        weight_bits_used=int(np.ceil(np.log2(np.abs(w_int).max() + 1))) + 1,
        clipped_weights=int((raw != w_int).sum()),
        weight_rel_error=float(np.linalg.norm(w_int / k - w) / norm(w)),
        bias_rel_error=float(np.linalg.norm(b_int / k - b) / norm(b)),
        vth_mant=vth, i_decay=i_decay, v_decay=v_decay,
        alpha_error=float(abs(cuba.alpha_of(i_decay) - layer.alpha)),
        beta_error=float(abs(cuba.beta_of(v_decay) - layer.beta)),
        fan_in=fan_in,
        worst_case_input=int(np.abs(w_int).reshape(w_int.shape[0], -1).sum(1).max()),
    )
    return netx, k, report


def quantize_float_layers(layers: list[FloatLayer], in_shape: tuple[int, int, int],
                          weight_percentile: float = 100.0) -> QuantizedNetwork:
    """Quantise a chain of float layers fed by binary spikes of ``in_shape`` (C, H, W)."""
    netx = [NetxLayer(type="input", shape=tuple(in_shape), name="input")]  # spike input: its shape only
    scales, reports = [], []
    shape = tuple(in_shape)
    for layer in layers:
        q, k, rep = quantize_layer(layer, shape, weight_percentile)
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


def quantize_student(student: nn.Module, template_spikes: torch.Tensor, weight_percentile: float = 100.0
                     ) -> QuantizedNetwork:
    """Fold, scale and round the student's search path, with the correlation kernel of ``template_spikes``."""
    cfg = student.config
    kernel = template_kernel_for(student, template_spikes)
    layers = student_float_layers(student, kernel)
    return quantize_float_layers(layers, (cfg.in_channels, cfg.search_px, cfg.search_px), weight_percentile)


def correlation_layer(
    student: nn.Module, qnet: QuantizedNetwork, template_spikes: torch.Tensor, weight_percentile: float = 100.0
) -> QuantizedNetwork:
    """Re-quantise only the correlation layer for a new sequence's template (what runs at track start)."""
    idx = next(i for i, lay in enumerate(qnet.layers) if lay.name == "xcorr")
    kernel = template_kernel_for(student, template_spikes)
    float_xcorr = student_float_layers(student, kernel)[idx - 1]
    q, k, rep = quantize_layer(float_xcorr, qnet.layers[idx - 1].shape, weight_percentile)
    layers, scales, reports = list(qnet.layers), list(qnet.scales), list(qnet.reports)
    layers[idx], scales[idx - 1], reports[idx - 1] = q, k, rep
    return QuantizedNetwork(layers, scales, reports)
