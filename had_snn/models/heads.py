"""Centre-head output decoding shared by all trackers (CenterNet / OSTrack centre head style)."""

from __future__ import annotations

import math

import torch
from torch import nn

HEAD_CHANNELS = 5  # heatmap logit, size (w, h), offset (x, y)
HEATMAP_PRIOR = 0.1  # initial heat-map probability (CenterNet's bias init -log((1 - p) / p) = -2.19)


def init_head_bias(conv: nn.Conv2d) -> None:
    """Start the heat-map channel at probability :data:`HEATMAP_PRIOR` so the focal loss starts stable."""
    with torch.no_grad():
        conv.bias[0] = -math.log((1 - HEATMAP_PRIOR) / HEATMAP_PRIOR)


def split_head(raw: torch.Tensor) -> dict[str, torch.Tensor]:
    """Split a (B, 5, Hm, Wm) raw head output into ``heatmap`` logits, ``size`` and ``offset`` in [0, 1]."""
    if raw.dim() != 4 or raw.shape[1] != HEAD_CHANNELS:
        raise ValueError(f"head output must be (B, {HEAD_CHANNELS}, Hm, Wm), got {tuple(raw.shape)}")
    return {
        "heatmap": raw[:, :1],
        "size": torch.sigmoid(raw[:, 1:3]),
        "offset": torch.sigmoid(raw[:, 3:5]),
    }
