"""Float student vs its fixed-point emulation on the same inputs: read-out error and per-layer firing rates."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from had_snn.conversion.emulator import LoihiEmulator
from had_snn.conversion.quantize import QuantizedNetwork, template_kernel_for
from had_snn.hardware.netx import frame_steps
from had_snn.util.atomic import save_figure


@torch.no_grad()
def float_trace(student: nn.Module, search_spikes: torch.Tensor, kernel: torch.Tensor) -> dict[str, torch.Tensor]:
    """Float spikes of every deployed layer and the read-out membrane (T, B, 5, H, W) for a fixed kernel (C, k, k)."""
    search = search_spikes.float()
    trace = student.search_path(search, kernel.float().unsqueeze(0).expand(search.shape[1], -1, -1, -1))
    return {"spikes": trace.spikes, "membrane": trace.membrane}


def compare_float_fixed(
    student: nn.Module, qnet: QuantizedNetwork, search_spikes: torch.Tensor, template_spikes: torch.Tensor
) -> dict:
    """Run the float student and the emulator on the same search windows and compare them on the aligned steps.

    The emulator's :meth:`~had_snn.conversion.emulator.LoihiEmulator.run_aligned` (reset mode: ``T + L`` steps from
    zero, ``L`` = one step of delay per synaptic layer) returns every layer's spikes and the read-out ``v`` aligned to
    the ``T`` input steps, which is how the student's ``search_path`` reports its traces (layer ``l``'s spikes of
    steps ``[l, l + T)``). Reported: per-layer firing rates and spike agreement, the read-out's relative
    and largest error (time-averaged, float units), heat-map peak agreement, ``input_steps``, ``pipeline_fill_steps``
    and ``frame_steps`` (T + L, what ``had-snn deploy`` runs and ``had-snn energy`` bills per frame in reset mode;
    ``latency_steps`` is the same L, kept for old readers) and the emulator's counts.
    """
    kernel = template_kernel_for(student, template_spikes)
    ref = float_trace(student, search_spikes, kernel)
    n_steps = search_spikes.shape[0]
    emu = LoihiEmulator(qnet.layers)
    res = emu.run_aligned(search_spikes)
    fixed_v = res.readout_v.double() / qnet.readout_scale
    float_v = ref["membrane"].double()
    fixed_mean, float_mean = fixed_v.mean(0), float_v.mean(0)
    denom = float(float_mean.norm()) or 1.0
    rates = []
    for li, ((name, fspk), q) in enumerate(zip(ref["spikes"].items(), qnet.layers[1:-1], strict=True)):
        fixed = res.spikes[li].float()
        rates.append({
            "name": q.name or name, "float_rate": float(fspk.mean()), "fixed_rate": float(fixed.mean()),
            "spike_agreement": float((fixed == fspk).float().mean()),
        })
    heat_f, heat_q = float_mean[:, 0].flatten(1), fixed_mean[:, 0].flatten(1)
    return {
        "readout_rel_error": float((fixed_mean - float_mean).norm()) / denom,
        "readout_max_abs_error": float((fixed_mean - float_mean).abs().max()),
        "readout_step_max_abs_error": float((fixed_v - float_v).abs().max()),
        "heatmap_peak_agreement": float((heat_f.argmax(1) == heat_q.argmax(1)).double().mean()),
        "min_spike_agreement": min(r["spike_agreement"] for r in rates) if rates else 1.0,
        "layers": rates,
        "input_steps": n_steps,
        "pipeline_fill_steps": emu.fill_steps,
        "frame_steps": frame_steps(n_steps, len(emu.synapses)),
        "latency_steps": emu.fill_steps,
        "emulator_counts": {k: v.sum(1).tolist() for k, v in res.counts.items()},
    }


def weight_histograms(float_weights: list[np.ndarray], qnet: QuantizedNetwork, path) -> None:
    """Per-layer histograms of float weights (in integer units, w * k) and the quantised integers, saved to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    layers = qnet.layers[1:]
    cols = min(len(layers), 3)
    rows = -(-len(layers) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 2.8 * rows), squeeze=False, layout="constrained")
    bins = np.arange(-257, 257, 4)
    for ax, w, q, k in zip(axes.flat, float_weights, layers, qnet.scales, strict=False):
        # the chip's integers filled, the float weights on the same scale as an outline over them
        ax.hist(q.weight.ravel(), bins=bins, color="tab:orange", alpha=0.8, label="int8 on the chip (even)")
        ax.hist((w * k).ravel(), bins=bins, histtype="step", color="k", lw=1.0, label="float weight x k")
        ax.set_title(f"{q.name} (scale k = {k:.3g})", fontsize=9)
        ax.set_yscale("log")
        ax.set_xlabel("weight, integer units", fontsize=8)
        ax.set_ylabel("weights per bin (log)", fontsize=8)
        ax.tick_params(which="both", labelsize=7)
    for ax in axes.flat[len(layers):]:
        ax.set_visible(False)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside upper center", ncol=2, fontsize=8)
    save_figure(fig, path, dpi=100)
