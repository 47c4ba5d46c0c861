"""BatchNorm2d folded into the convolution before it, in float64 from the running statistics: the one fold that the
QAT forward trains through (gradients reach the conv and BN's gamma / beta) and the quantiser writes (detached)."""

from __future__ import annotations

import torch
from torch import nn


def bn_affine64(bn: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel float64 ``(scale, shift)`` with ``bn(x) == scale * x + shift`` in eval mode; the running
    statistics are constants, gamma and beta keep their gradients."""
    if bn.running_mean is None or bn.running_var is None:
        raise ValueError("BatchNorm2d without running statistics cannot be folded (track_running_stats=False)")
    scale = torch.rsqrt(bn.running_var.detach().double() + bn.eps)
    weight = bn.weight.double() if bn.affine else torch.ones_like(scale)
    bias = bn.bias.double() if bn.affine else torch.zeros_like(scale)
    scale = scale * weight
    return scale, bias - bn.running_mean.detach().double() * scale


def fold_bn64(conv_weight: torch.Tensor, conv_bias: torch.Tensor | None,
              bn: nn.BatchNorm2d | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Float64 ``(weight, bias)`` of ``bn(conv(x))`` as one convolution (bias zeros if none), with gradients to the
    conv and to BN's gamma / beta (:func:`bn_affine64`)."""
    w = conv_weight.double()
    b = torch.zeros(w.shape[0], dtype=torch.float64, device=w.device) if conv_bias is None else conv_bias.double()
    if bn is None:
        return w, b
    if bn.num_features != w.shape[0]:
        raise ValueError(f"BatchNorm2d has {bn.num_features} channels but the conv has {w.shape[0]} outputs")
    scale, shift = bn_affine64(bn)
    return w * scale.view(-1, 1, 1, 1), b * scale + shift


def bn_scale_shift(bn: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`bn_affine64` without gradients (what the quantiser writes)."""
    scale, shift = bn_affine64(bn)
    return scale.detach(), shift.detach()


def fold_conv_bn(conv_weight: torch.Tensor, conv_bias: torch.Tensor | None,
                 bn: nn.BatchNorm2d | None) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`fold_bn64` without gradients (what the quantiser writes)."""
    w, b = fold_bn64(conv_weight, conv_bias, bn)
    return w.detach(), b.detach()
