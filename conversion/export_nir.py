"""Export the float student's deployed search path as a NIR graph (Input, Conv2d, CubaLIF, Output).

Each layer becomes ``<name>.conv`` (nir.Conv2d with BN folded in) and ``<name>.lif`` (nir.CubaLIF) in snntorch's
discretisation (dt = 1e-4: ``tau_syn = dt / (1 - alpha)``, ``tau_mem = dt / (1 - beta)``, ``r = tau_mem / dt``,
``w_in = tau_syn / dt``), so ``snntorch.import_nir.import_from_nir`` rebuilds ``Synaptic(alpha, beta, reset="zero")``
layers equal to our CubaLIF. The correlation is a Conv2d (block-diagonal, see :func:`_ungrouped`) whose weights
are the template kernel of the template given at export. The non-spiking read-out has ``v_threshold = inf``:
importers give its (absent) spikes, not its membrane. The decays written are the chip's (:mod:`had_snn.hardware.cuba`:
``cuba.chip_decays``, the 1/4096 grid the quantiser and a Loihi-faithful student use), so the NIR graph,
the netx file and the emulator share one neuron. Known limits: NIR has no per-layer synaptic delay or voltage bias in
this mapping, so the graph is the float recurrence without the chip's one-step delay per layer (a Loihi-faithful
student's bias is written as the conv bias); norse's importer loads the graph but
integrates CubaLIF as forward-Euler boxes with its own dt = 1e-3 (not our discrete recurrence), so only its Conv2d
layers reproduce ours; alpha = 1 or beta = 1 (no leak) has no finite NIR time constant and is refused.
"""

from __future__ import annotations

import os

import numpy as np
import torch
from torch import nn

from had_snn.conversion.quantize import FloatLayer, student_float_layers, template_kernel_for
from had_snn.hardware import cuba
from had_snn.util.atomic import atomic_path

NIR_DT = 1e-4  # snntorch's NIR convention


def _cuba(layer: FloatLayer, shape: tuple[int, ...]):
    import nir

    alpha, beta = cuba.chip_decays(layer.alpha, layer.beta)
    for what, value in (("alpha", alpha), ("beta", beta)):
        if value >= 1.0:
            raise ValueError(f"layer {layer.name}: {what}={value} (no leak) has no finite NIR time constant")
    tau_syn = np.full(shape, NIR_DT / (1 - alpha))
    tau_mem = np.full(shape, NIR_DT / (1 - beta))
    vth = np.full(shape, np.inf if layer.threshold is None else layer.threshold)
    return nir.CubaLIF(tau_syn=tau_syn, tau_mem=tau_mem, r=tau_mem / NIR_DT, v_leak=np.zeros(shape),
                       v_threshold=vth, v_reset=np.zeros(shape), w_in=tau_syn / NIR_DT)


def _ungrouped(weight: np.ndarray, groups: int) -> np.ndarray:
    """Block-diagonal (C_out, C_in, kH, kW) equivalent of a grouped kernel: nir 1.0's type inference takes the input
    channels from weight.shape[1] and ignores ``groups``, so grouped convs fail its graph check."""
    if groups == 1:
        return weight
    c_out, c_in_g = weight.shape[:2]
    full = np.zeros((c_out, c_in_g * groups, *weight.shape[2:]), dtype=weight.dtype)
    per_group = c_out // groups
    for o in range(c_out):
        g = o // per_group
        full[o, g * c_in_g : (g + 1) * c_in_g] = weight[o]
    return full


def float_layers_to_nir(layers: list[FloatLayer], in_shape: tuple[int, int, int]):
    """NIR graph of a float layer chain fed by spikes of ``in_shape`` (C, H, W)."""
    import nir

    nodes = {"input": nir.Input(input_type={"input": np.array(in_shape)})}
    edges, prev, shape = [], "input", tuple(in_shape)
    for layer in layers:
        w = _ungrouped(layer.weight.detach().numpy().astype(np.float32), layer.groups)
        conv = nir.Conv2d(input_shape=shape[1:], weight=w, stride=layer.stride, padding=layer.padding,
                          dilation=layer.dilation, groups=1,
                          bias=layer.bias.detach().numpy().astype(np.float32))
        out_hw = tuple(int(s) for s in nn.functional.conv2d(
            torch.zeros(1, *shape), torch.zeros(w.shape), stride=layer.stride, padding=layer.padding,
            dilation=layer.dilation).shape[2:])
        shape = (w.shape[0], *out_hw)
        nodes[f"{layer.name}.conv"] = conv
        nodes[f"{layer.name}.lif"] = _cuba(layer, shape)
        edges += [(prev, f"{layer.name}.conv"), (f"{layer.name}.conv", f"{layer.name}.lif")]
        prev = f"{layer.name}.lif"
    nodes["output"] = nir.Output(output_type={"output": np.array(shape)})
    edges.append((prev, "output"))
    return nir.NIRGraph(nodes=nodes, edges=edges)


def export_student_nir(student: nn.Module, template_spikes: torch.Tensor, path: str | os.PathLike):
    """Write the student's search path (correlation kernel from ``template_spikes``) to a NIR file atomically."""
    import nir

    cfg = student.config
    layers = student_float_layers(student, template_kernel_for(student, template_spikes))
    graph = float_layers_to_nir(layers, (cfg.in_channels, cfg.search_px, cfg.search_px))
    with atomic_path(path) as tmp:
        nir.write(str(tmp), graph)
    return graph
