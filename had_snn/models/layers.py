"""Depthwise cross-correlation shared by the teacher and the student (the Siamese matching step)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def template_kernel(template_features: torch.Tensor) -> torch.Tensor:
    """Correlation kernel from template features (B, C, Ht, Wt): 2x2 mean with stride 1 -> (B, C, Ht-1, Wt-1).

    An even Ht (8 for a 64 px template at stride 8) becomes odd (7), so the correlation with symmetric padding
    keeps the search size (16 x 16) and stays centred.
    """
    return F.avg_pool2d(template_features, 2, stride=1)


def depthwise_xcorr(search: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Depthwise cross-correlation of search features with a per-sample kernel, 'same' output size.

    Args:
        search: (N, B, C, H, W) features (N = time steps, 1 for an ANN) or (B, C, H, W).
        kernel: (B, C, k, k) with odd k.
    Returns: same shape as ``search``.
    """
    squeeze = search.dim() == 4
    if squeeze:
        search = search.unsqueeze(0)
    n, b, c, h, w = search.shape
    k = kernel.shape[-1]
    if kernel.shape[:2] != (b, c) or k % 2 == 0 or kernel.shape[-2] != k:
        raise ValueError(f"xcorr kernel must be (B={b}, C={c}, k, k) with odd k, got {tuple(kernel.shape)}")
    # oneDNN's fast depthwise path takes channels-last (N, H, W, B*C) memory: one copy into it (none if the search
    # already lies so), then a view as (N, B*C, H, W)
    hwbc = search.permute(0, 3, 4, 1, 2)
    if not hwbc.is_contiguous():
        hwbc = hwbc.contiguous()
    folded = hwbc.permute(0, 3, 4, 1, 2).reshape(n, b * c, h, w)
    out = F.conv2d(folded, kernel.reshape(b * c, 1, k, k), padding=k // 2, groups=b * c)
    out = out.reshape(n, b, c, h, w)
    return out[0] if squeeze else out
