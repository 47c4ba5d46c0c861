"""Exact multiply-accumulate counts and memory traffic of a torch model's Conv2d / Linear layers, for the 45 nm ANN
energy estimates (compute-only, and with memory access).

``count_macs`` gives ``[(layer name, MACs per sample), ...]``, the teacher-MACs format that ``had-snn energy
--teacher-macs`` reads (:func:`had_snn.hardware.counts.parse_teacher_macs`); ``count_traffic`` gives, from the same hook
pass, a :class:`~had_snn.hardware.counts.LayerTraffic` per call (MACs, parameters read, input activations read,
output activations written), the format ``--teacher-traffic`` reads (:func:`~had_snn.hardware.counts.
parse_teacher_traffic`) and :func:`~had_snn.hardware.energy.ann_memory_energy_pj` bills.
"""

from __future__ import annotations

from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from had_snn.hardware.counts import LayerTraffic
from had_snn.util.atomic import write_json_atomic


def count_traffic(model: nn.Module, *inputs: Any, **kwargs: Any) -> list[LayerTraffic]:
    """Run one forward pass and count, per Conv2d/Linear call and per sample (divided by the batch size), the MACs
    and the values the call moves: parameters read (weight + bias), input activations read, output activations
    written (:class:`~had_snn.hardware.counts.LayerTraffic`).

    Conv2d: output elements x (C_in / groups) x kH x kW MACs. Linear: output elements x in_features. A module called
    several times (e.g. a shared backbone on template and search) is counted once per call, named ``name#k``.
    """
    counts: list[LayerTraffic] = []
    calls: dict[str, int] = {}

    def hook(name: str, module: nn.Module, args: tuple, output: torch.Tensor) -> None:
        if isinstance(module, nn.Conv2d):
            per_out = module.in_channels // module.groups * module.kernel_size[0] * module.kernel_size[1]
            samples = output.shape[0] if output.dim() == 4 else 1
        else:
            per_out = module.in_features
            samples = output.shape[0] if output.dim() > 1 else 1
        k = calls.get(name, 0)
        calls[name] = k + 1
        params = module.weight.numel() + (module.bias.numel() if module.bias is not None else 0)
        counts.append(LayerTraffic(name=name if k == 0 else f"{name}#{k}", macs=output.numel() // samples * per_out,
                                   weights=params, in_acts=args[0].numel() // samples,
                                   out_acts=output.numel() // samples))

    handles = [
        m.register_forward_hook(lambda mod, a, out, n=name: hook(n, mod, a, out))
        for name, m in model.named_modules()
        if isinstance(m, (nn.Conv2d, nn.Linear))
    ]
    try:
        with torch.no_grad():
            model(*inputs, **kwargs)
    finally:
        for h in handles:
            h.remove()
    if not counts:
        raise ValueError("model has no Conv2d or Linear layer that ran in the forward pass")
    return counts


def count_macs(model: nn.Module, *inputs: Any, **kwargs: Any) -> list[tuple[str, int]]:
    """MACs per Conv2d/Linear call and per sample, ``[(name, macs), ...]`` (:func:`count_traffic`'s MACs)."""
    return [(t.name, t.macs) for t in count_traffic(model, *inputs, **kwargs)]


def write_macs_json(path: str | Path, macs: list[tuple[str, int]]) -> None:
    """Write ``[[name, macs], ...]`` atomically."""
    write_json_atomic(path, [[n, m] for n, m in macs], indent=1)


def write_traffic_json(path: str | Path, traffic: list[LayerTraffic]) -> None:
    """Write ``[{"name", "macs", "weights", "in_acts", "out_acts"}, ...]`` atomically (``--teacher-traffic``)."""
    write_json_atomic(path, [asdict(t) for t in traffic], indent=1)


def teacher_search_traffic(teacher: torch.nn.Module, crop) -> list[LayerTraffic]:
    """MACs and memory traffic per frame of the teacher's search path (backbone on the search crop, correlation,
    head), one :class:`~had_snn.hardware.counts.LayerTraffic` per layer call.

    The template branch runs once per sequence, as the student's template kernel, so it is left out: for modules
    called twice (template first, then search) only the second call (``name#1``) is kept. The depthwise correlation
    (``F.conv2d``, not hooked) is added by hand: its kernel (the template features, C x k x k) is read as weights, the
    search features (C x H x W) read and the same-size response written.
    """
    c = teacher.config
    batch = {"template_rgb": torch.zeros(1, 3, crop.template_px, crop.template_px),
             "template_voxel": torch.zeros(1, c.voxel_bins, crop.template_px, crop.template_px),
             "search_rgb": torch.zeros(1, 3, crop.search_px, crop.search_px),
             "search_voxel": torch.zeros(1, c.voxel_bins, crop.search_px, crop.search_px)}
    traffic = count_traffic(teacher.cpu().eval(), batch)
    names = {t.name for t in traffic}
    out = [replace(t, name=t.name.removesuffix("#1")) for t in traffic if f"{t.name}#1" not in names]
    channels, hm = c.widths[-1], crop.search_px // crop.heatmap_stride
    kernel = crop.template_px // crop.heatmap_stride - 1
    out.append(LayerTraffic(name="xcorr", macs=channels * hm * hm * kernel * kernel, weights=channels * kernel * kernel,
                            in_acts=channels * hm * hm, out_acts=channels * hm * hm))
    return out


def teacher_search_macs(teacher: torch.nn.Module, crop) -> list[tuple[str, int]]:
    """MACs per frame of the teacher's search path (:func:`teacher_search_traffic`'s MACs): ``[(name, macs), ...]``."""
    return [(t.name, t.macs) for t in teacher_search_traffic(teacher, crop)]
