"""Export the float student's deployed search path as a NIR graph with the chip's timing.

Each synaptic layer becomes ``<name>.conv`` (nir.Conv2d, BN folded in, no bias), ``<name>.delay`` (nir.Delay of one
step: the chip delays every layer's input by one step) and a neuron in snntorch's discretisation (dt = 1e-4 s:
``tau_syn = dt / (1 - alpha)``, ``tau_mem = dt / (1 - beta)``, ``r = tau_mem / dt``, ``w_in = tau_syn / dt``):
``<name>.lif`` (nir.CubaLIF) for spiking layers, ``<name>.li`` (nir.CubaLI, no threshold) for the read-out, whose
membrane holds the heat-map logits and the box regression (5 channels, see :func:`had_snn.models.heads.split_head`;
the tracker decodes their mean over T). The layer's voltage bias ``b`` (BN shift, conv bias), which enters ``v`` at
every step from step 0, is the neuron's ``v_leak = b / (1 - beta)``. Integrated this way the graph is exactly our
CubaLIF with the chip's timing: ``u = alpha u + W x``, ``v = beta v + u + b``, a spike where ``v > threshold``,
then ``v = 0``; run for T + L steps (the window, then L zero steps) its read-out of steps [L, L + T) is what
:meth:`~had_snn.models.student.SpikingStudent.search_path` returns (L: ``metadata["pipeline_fill_steps"]``). The
correlation is a grouped Conv2d (depthwise: ``weight`` (C, C / groups, k, k)) holding the kernel of the template
given at export. The decays are the chip's (``cuba.chip_decays``, the 1/4096 grid), so the NIR graph, the netx file
and the emulator share one neuron. alpha = 1 or beta = 1 (no leak) has no finite NIR time constant and is refused.

The stock importers cannot run this graph as written (snnTorch 1.0 and norse 1.1 map no Delay and no CubaLI, build a
grouped conv with the wrong input channels, snnTorch refuses ``v_leak`` and norse applies it to the synaptic current
as well), and nir 1.0's type inference takes a conv's input channels from ``weight.shape[1]``: read and load it with
:mod:`had_snn.conversion.nir_import` (``read_student_nir``, ``to_snntorch``, ``to_norse``, ``run_window``).
"""

from __future__ import annotations

import os

import numpy as np
import torch
from torch import nn

from had_snn.conversion.quantize import FloatLayer, student_float_layers, template_kernel_for
from had_snn.hardware import cuba
from had_snn.util.atomic import atomic_path

NIR_DT = 1e-4  # s per step, snntorch's NIR convention
CHIP_DELAY_STEPS = 1  # per synaptic layer on Loihi


def _neuron(layer: FloatLayer, shape: tuple[int, ...]):
    """nir.CubaLIF of a spiking layer, nir.CubaLI of the non-spiking read-out (``threshold`` None); the voltage bias
    as ``v_leak``."""
    import nir

    alpha, beta = cuba.chip_decays(layer.alpha, layer.beta)
    for what, value in (("alpha", alpha), ("beta", beta)):
        if value >= 1.0:
            raise ValueError(f"layer {layer.name}: {what}={value} (no leak) has no finite NIR time constant")
    tau_syn = np.full(shape, NIR_DT / (1 - alpha))
    tau_mem = np.full(shape, NIR_DT / (1 - beta))
    bias = layer.bias.detach().double().numpy().reshape(-1, *([1] * (len(shape) - 1)))
    v_leak = np.broadcast_to(bias / (1 - beta), shape).copy()
    common = dict(tau_syn=tau_syn, tau_mem=tau_mem, r=tau_mem / NIR_DT, v_leak=v_leak, w_in=tau_syn / NIR_DT)
    if layer.threshold is None:
        return nir.CubaLI(**common)
    return nir.CubaLIF(**common, v_threshold=np.full(shape, float(layer.threshold)), v_reset=np.zeros(shape))


def _conv(layer: FloatLayer, shape: tuple[int, int, int]):
    """nir.Conv2d of ``layer`` fed by ``shape`` (C, H, W), its types set from the graph (grouped convs included)."""
    import nir

    w = layer.weight.detach().numpy().astype(np.float32)
    conv = nir.Conv2d(input_shape=shape[1:], weight=w, stride=layer.stride, padding=layer.padding,
                      dilation=layer.dilation, groups=layer.groups,
                      bias=np.zeros(w.shape[0], dtype=np.float32))
    out_hw = nn.functional.conv2d(torch.zeros(1, *shape), torch.zeros(w.shape), stride=layer.stride,
                                  padding=layer.padding, dilation=layer.dilation, groups=layer.groups).shape[2:]
    conv.input_type = {"input": np.array(shape)}
    conv.output_type = {"output": np.array([w.shape[0], *out_hw])}
    return conv


def float_layers_to_nir(layers: list[FloatLayer], in_shape: tuple[int, int, int], time_steps: int | None = None):
    """NIR graph of a float layer chain fed by spikes of ``in_shape`` (C, H, W); ``time_steps``: T per frame, for
    the metadata."""
    import nir

    nodes = {"input": nir.Input(input_type={"input": np.array(in_shape)})}
    edges, prev, shape = [], "input", tuple(in_shape)
    for layer in layers:
        conv = _conv(layer, shape)
        shape = tuple(int(s) for s in conv.output_type["output"])
        kind = "li" if layer.threshold is None else "lif"
        names = [f"{layer.name}.{part}" for part in ("conv", "delay", kind)]
        nodes.update(zip(names, (conv, nir.Delay(delay=np.full(shape, CHIP_DELAY_STEPS * NIR_DT)),
                                 _neuron(layer, shape)), strict=True))
        edges += list(zip([prev, *names[:-1]], names, strict=True))
        prev = names[-1]
    nodes["output"] = nir.Output(output_type={"output": np.array(shape)})
    edges.append((prev, "output"))
    metadata = {
        "exporter": "had-snn", "dt_s": NIR_DT, "chip_delay_steps_per_layer": CHIP_DELAY_STEPS,
        "pipeline_fill_steps": CHIP_DELAY_STEPS * len(layers), "readout": prev,
        "readout_channels": "heat-map logit, size w h and offset x y (both through a sigmoid); the tracker decodes "
                            "their mean over the T steps",
        "timing": "run T + pipeline_fill_steps steps (the window, then zeros); the read-out of input step t is "
                  "step t + pipeline_fill_steps",
    }
    if time_steps is not None:
        metadata["time_steps_per_frame"] = int(time_steps)
    graph = nir.NIRGraph(nodes=nodes, edges=edges, metadata=metadata, type_check=False)
    graph.check_types()
    return graph


def export_student_nir(student: nn.Module, template_spikes: torch.Tensor, path: str | os.PathLike):
    """Write the student's search path (correlation kernel from ``template_spikes``) to a NIR file atomically."""
    import nir

    cfg = student.config
    layers = student_float_layers(student, template_kernel_for(student, template_spikes))
    graph = float_layers_to_nir(layers, (cfg.in_channels, cfg.search_px, cfg.search_px), template_spikes.shape[0])
    with atomic_path(path) as tmp:
        nir.write(str(tmp), graph)
    return graph
