"""Exact multiply-accumulate counts of a torch model's Conv2d / Linear layers, for the 45 nm ANN energy estimate.

The result, ``[(layer name, MACs per sample), ...]``, is the teacher-MACs format that ``had-snn energy --teacher-macs``
reads (:func:`had_snn.hardware.energy.parse_teacher_macs`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from had_snn.util.atomic import write_json_atomic


def count_macs(model: nn.Module, *inputs: Any, **kwargs: Any) -> list[tuple[str, int]]:
    """Run one forward pass and count MACs per Conv2d/Linear call (per sample: divided by the batch size).

    Conv2d: output elements x (C_in / groups) x kH x kW. Linear: output elements x in_features. A module called
    several times (e.g. a shared backbone on template and search) is counted once per call, named ``name#k``.
    """
    counts: list[tuple[str, int]] = []
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
        counts.append((name if k == 0 else f"{name}#{k}", output.numel() // samples * per_out))

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


def write_macs_json(path: str | Path, macs: list[tuple[str, int]]) -> None:
    """Write ``[[name, macs], ...]`` atomically."""
    write_json_atomic(path, [[n, m] for n, m in macs], indent=1)


def teacher_search_macs(teacher: torch.nn.Module, crop) -> list[tuple[str, int]]:
    """MACs per frame of the teacher's search path (backbone on the search crop, correlation, head).

    The template branch runs once per sequence, as the student's template kernel, so it is left out: for modules
    called twice (template first, then search) only the second call (``name#1``) is kept.
    """
    c = teacher.config
    batch = {"template_rgb": torch.zeros(1, 3, crop.template_px, crop.template_px),
             "template_voxel": torch.zeros(1, c.voxel_bins, crop.template_px, crop.template_px),
             "search_rgb": torch.zeros(1, 3, crop.search_px, crop.search_px),
             "search_voxel": torch.zeros(1, c.voxel_bins, crop.search_px, crop.search_px)}
    macs = count_macs(teacher.cpu().eval(), batch)
    names = {n for n, _ in macs}
    out = [(n.removesuffix("#1"), m) for n, m in macs if f"{n}#1" not in names]
    channels, hm = c.widths[-1], crop.search_px // crop.heatmap_stride
    kernel = crop.template_px // crop.heatmap_stride - 1
    out.append(("xcorr", channels * hm * hm * kernel * kernel))  # depthwise correlation (F.conv2d, not hooked)
    return out
