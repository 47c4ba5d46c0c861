"""Fold eval-mode BatchNorm2d into the preceding convolution (weights and bias)."""

from __future__ import annotations

import torch
from torch import nn


def bn_scale_shift(bn: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel ``(scale, shift)`` with ``bn(x) == scale * x + shift`` in eval mode."""
    if bn.running_mean is None or bn.running_var is None:
        raise ValueError("BatchNorm2d without running statistics cannot be folded (track_running_stats=False)")
    scale = torch.rsqrt(bn.running_var.detach().double() + bn.eps)
    weight = bn.weight.detach().double() if bn.affine else torch.ones_like(scale)
    bias = bn.bias.detach().double() if bn.affine else torch.zeros_like(scale)
    scale = scale * weight
    return scale, bias - bn.running_mean.detach().double() * scale


def fold_conv_bn(conv_weight: torch.Tensor, conv_bias: torch.Tensor | None, bn: nn.BatchNorm2d | None):
    """Return float64 ``(weight, bias)`` of ``bn(conv(x))`` as a single convolution (bias zeros if none)."""
    w = conv_weight.detach().double()
    b = torch.zeros(w.shape[0], dtype=torch.float64) if conv_bias is None else conv_bias.detach().double()
    if bn is None:
        return w, b
    if bn.num_features != w.shape[0]:
        raise ValueError(f"BatchNorm2d has {bn.num_features} channels but the conv has {w.shape[0]} outputs")
    scale, shift = bn_scale_shift(bn)
    return w * scale.view(-1, 1, 1, 1), b * scale + shift
