"""Run the student's NIR export (:mod:`had_snn.conversion.export_nir`) in snnTorch or norse.

The libraries' own importers cannot run it as written (snnTorch 1.0's ``import_from_nir`` and norse 1.1's
``from_nir`` map no Delay and no CubaLI, build a grouped Conv2d with ``in_channels = weight.shape[1]``, snnTorch
refuses ``v_leak`` and norse leaks the synaptic current towards it too), so :func:`to_snntorch` and :func:`to_norse`
map each node onto the library's own neuron (snnTorch's ``Synaptic``, norse's ``LIBoxCell`` / ``LIFBoxCell``) and
wire the graph with ``nirtorch.nir_to_torch``. The result is called once per time step as ``out, state = net(x_t,
state)`` (``state`` None at the first step); ``out`` is the read-out's membrane. :func:`run_window` runs one window
with the chip's timing (T steps, then ``pipeline_fill_steps`` zero steps) and returns the read-out aligned to the
input steps, which equals the float student's.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch
from torch import nn

from had_snn.conversion.export_nir import NIR_DT


def read_student_nir(path: str | os.PathLike):
    """Read a NIR file; grouped convs get their true input type (nir 1.0 infers ``weight.shape[1]`` channels), then
    the graph's types are checked. ValueError naming the file when it is not a NIR graph or its types disagree."""
    import nir

    try:
        graph = nir.read(str(path), type_check=False)
    except (OSError, KeyError, TypeError, ValueError, AssertionError) as exc:
        raise ValueError(f"{path}: not a readable NIR graph ({type(exc).__name__}: {exc})") from None
    if not isinstance(graph, nir.NIRGraph):
        raise ValueError(f"{path}: holds a single {type(graph).__name__} node, expected a NIR graph")
    for node in graph.nodes.values():
        if isinstance(node, nir.Conv2d) and int(node.groups) > 1 and node.input_shape is not None:
            node.input_type = {"input": np.array([node.weight.shape[1] * int(node.groups), *node.input_shape])}
    try:
        graph.check_types()
    except (ValueError, KeyError) as exc:
        raise ValueError(f"{path}: inconsistent NIR graph: {exc}") from None
    return graph


def _graph(graph_or_path: Any):
    import nir

    return graph_or_path if isinstance(graph_or_path, nir.NIRGraph) else read_student_nir(graph_or_path)


def _one(values: np.ndarray, what: str) -> float:
    """The single value a per-neuron array holds (the importers' neurons take one decay per layer)."""
    unique = np.unique(np.asarray(values, dtype=np.float64))
    if unique.size != 1:
        raise ValueError(f"{what} differs between neurons ({unique.size} values); expected one per layer")
    return float(unique[0])


def _torch_conv2d(node) -> nn.Conv2d:
    """nir.Conv2d as torch's, grouped convs included."""
    groups = int(node.groups)
    conv = nn.Conv2d(node.weight.shape[1] * groups, node.weight.shape[0], tuple(node.weight.shape[2:]),
                     stride=tuple(np.atleast_1d(node.stride).astype(int)),
                     padding=tuple(np.atleast_1d(node.padding).astype(int)),
                     dilation=tuple(np.atleast_1d(node.dilation).astype(int)), groups=groups)
    conv.weight.data = torch.as_tensor(np.asarray(node.weight, dtype=np.float32))
    conv.bias.data = torch.as_tensor(np.asarray(node.bias, dtype=np.float32))
    return conv


def _decays(node, dt: float) -> tuple[float, float]:
    """(alpha, beta) of a CubaLI/CubaLIF written in the ``w_in = tau_syn / dt``, ``r = tau_mem / dt`` convention."""
    if not (np.allclose(node.w_in, node.tau_syn / dt) and np.allclose(node.r, node.tau_mem / dt)):
        raise ValueError(f"{type(node).__name__}: expected w_in = tau_syn / dt and r = tau_mem / dt (dt = {dt:g} s), "
                         "as had-snn's export writes them")
    return 1.0 - dt / _one(node.tau_syn, "tau_syn"), 1.0 - dt / _one(node.tau_mem, "tau_mem")


def _voltage_bias(node, beta: float) -> torch.Tensor:
    """The per-step voltage bias ``b = (1 - beta) v_leak`` (C, H, W)."""
    return torch.as_tensor((1.0 - beta) * np.asarray(node.v_leak, dtype=np.float64), dtype=torch.float32)


class Delay(nn.Module):
    """nir.Delay of a whole number of steps (``delay / dt``): the input of ``steps`` calls ago (zeros before)."""

    def __init__(self, node, dt: float) -> None:
        super().__init__()
        steps = _one(node.delay, "delay") / dt
        if steps < 0 or abs(steps - round(steps)) > 1e-6:
            raise ValueError(f"Delay: {_one(node.delay, 'delay'):g} s is not a whole number of {dt:g} s steps")
        self.steps = int(round(steps))

    def forward(self, x: torch.Tensor, state: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        if self.steps == 0:
            return x, x
        queue = torch.zeros(self.steps, *x.shape, dtype=x.dtype, device=x.device) if state is None else state
        return queue[0], torch.cat([queue[1:], x.unsqueeze(0)])


def _snntorch_neuron(node) -> nn.Module:
    """nir.CubaLIF / CubaLI as snnTorch's ``Synaptic`` with the voltage bias added in its membrane update."""
    import nir
    import snntorch as snn

    class BiasedSynaptic(snn.Synaptic):
        """``syn = alpha syn + x``, ``mem = beta mem + syn + bias``; spikes and reset as snnTorch's own."""

        def __init__(self, bias: torch.Tensor, **kwargs) -> None:
            super().__init__(**kwargs)
            self.register_buffer("bias", bias)

        def _base_state_function(self, input_):
            syn, mem = super()._base_state_function(input_)
            return syn, mem + self.bias

    alpha, beta = _decays(node, NIR_DT)
    spiking = isinstance(node, nir.CubaLIF)
    if spiking and not np.allclose(node.v_reset, 0.0):
        raise ValueError("CubaLIF: v_reset must be 0 (the chip resets v to 0)")
    neuron = BiasedSynaptic(_voltage_bias(node, beta), alpha=alpha, beta=beta,
                            threshold=_one(node.v_threshold, "v_threshold") if spiking else float("inf"),
                            reset_mechanism="zero" if spiking else "none", init_hidden=True, reset_delay=False)
    return neuron if spiking else SnnTorchReadout(neuron)


class SnnTorchReadout(nn.Module):
    """The read-out: a threshold-less snnTorch neuron whose membrane is returned each step."""

    def __init__(self, neuron: nn.Module) -> None:
        super().__init__()
        self.neuron = neuron

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.neuron(x)
        return self.neuron.mem


class NorseCuba(nn.Module):
    """nir.CubaLIF / CubaLI as norse boxes at ``dt``: ``LIBoxCell`` for the current (no leak potential), then
    ``LIFBoxCell`` (spiking, reset to 0) or ``LIBoxCell`` (read-out: returns the membrane) with ``v_leak``, both
    starting from 0 as on the chip."""

    def __init__(self, node, dt: float) -> None:
        import nir
        from norse.torch import LIBoxCell, LIBoxParameters, LIFBoxCell, LIFBoxParameters

        super().__init__()
        _decays(node, dt)
        self.w_in, self.r = _one(node.w_in, "w_in"), _one(node.r, "r")
        v_leak = torch.as_tensor(np.asarray(node.v_leak, dtype=np.float32))
        self.synapse = LIBoxCell(LIBoxParameters(tau_mem_inv=torch.tensor(1 / _one(node.tau_syn, "tau_syn")),
                                                 v_leak=torch.zeros(())), dt=dt)
        tau_mem_inv = torch.tensor(1 / _one(node.tau_mem, "tau_mem"))
        self.spiking = isinstance(node, nir.CubaLIF)
        if self.spiking:
            self.membrane = LIFBoxCell(LIFBoxParameters(
                tau_mem_inv=tau_mem_inv, v_leak=v_leak, v_th=torch.tensor(_one(node.v_threshold, "v_threshold")),
                v_reset=torch.zeros(())), dt=dt)
        else:
            self.membrane = LIBoxCell(LIBoxParameters(tau_mem_inv=tau_mem_inv, v_leak=v_leak), dt=dt)

    def forward(self, x: torch.Tensor, state: tuple | None = None) -> tuple[torch.Tensor, tuple]:
        if state is None:  # the chip starts at v = 0; norse's own initial state would be v = v_leak
            from norse.torch.functional.leaky_integrator_box import LIBoxState
            from norse.torch.functional.lif_box import LIFBoxFeedForwardState

            zero = torch.zeros_like(x)
            state = (LIBoxState(v=zero), LIFBoxFeedForwardState(v=zero) if self.spiking else LIBoxState(v=zero))
        syn_state, mem_state = state
        u, syn_state = self.synapse(self.w_in * x, syn_state)
        out, mem_state = self.membrane(self.r * u, mem_state)
        return out, (syn_state, mem_state)


def to_snntorch(graph_or_path: Any) -> nn.Module:
    """The graph (or NIR file) as a snnTorch network (``init_hidden`` neurons: :func:`run_window` resets them)."""
    import nir
    import nirtorch

    node_map = {nir.Conv2d: _torch_conv2d, nir.Delay: lambda n: Delay(n, NIR_DT),
                nir.CubaLIF: _snntorch_neuron, nir.CubaLI: _snntorch_neuron}
    return nirtorch.nir_to_torch(_graph(graph_or_path), node_map)


def to_norse(graph_or_path: Any, dt: float = NIR_DT) -> nn.Module:
    """The graph (or NIR file) as a norse network at ``dt`` (NIR_DT: norse's forward-Euler boxes then equal our
    recurrence; norse's default 1e-3 would not)."""
    import nir
    import nirtorch

    node_map = {nir.Conv2d: _torch_conv2d, nir.Delay: lambda n: Delay(n, dt),
                nir.CubaLIF: lambda n: NorseCuba(n, dt), nir.CubaLI: lambda n: NorseCuba(n, dt)}
    return nirtorch.nir_to_torch(_graph(graph_or_path), node_map)


def run_window(net: nn.Module, spikes: torch.Tensor, fill_steps: int) -> torch.Tensor:
    """Run an imported network over one window ``spikes`` (T, B, C, H, W) from a fresh state, then ``fill_steps``
    zero steps (the graph's ``metadata["pipeline_fill_steps"]``); the read-out aligned to the T input steps
    (T, B, 5, Hm, Wm), as the chip and the float student report it."""
    import snntorch.utils

    if fill_steps < 0:
        raise ValueError(f"fill_steps must be >= 0, got {fill_steps}")
    snntorch.utils.reset(net)  # snnTorch's hidden state; norse's and the delays' are the explicit ``state``
    steps = spikes.shape[0]
    padded = torch.cat([spikes.float(), spikes.new_zeros(fill_steps, *spikes.shape[1:]).float()])
    state, out = None, []
    with torch.no_grad():
        for x in padded:
            y, state = net(x, state)
            out.append(y)
    return torch.stack(out)[fill_steps:fill_steps + steps]
