"""Centre-head decoding: cosine (Hann) window, argmax, offset and size -> box (OSTrack / CenterNet style).

Head outputs (any tracker): ``heatmap`` (B,1,Hm,Wm) logits, ``size`` (B,2,Hm,Wm) w, h as a fraction of the search
crop and ``offset`` (B,2,Hm,Wm) sub-cell centre offset in cells. A peak at cell ``(iy, ix)`` decodes to the centre
``((ix + ox) / Wm, (iy + oy) / Hm)`` in normalised search-crop coordinates, i.e. ``(ix + ox) * stride`` px with
``stride = search_px / Wm``. :func:`had_snn.tracking.crop.target_to_box` maps that to image px.
"""

from __future__ import annotations

import torch


def hann_window(size: int) -> torch.Tensor:
    """2-D Hann window (size, size) without zero borders: ``0.5 * (1 - cos(2 pi k / (size + 1)))``, k = 1..size
    (OSTrack's ``hann2d(centered=True)``)."""
    k = torch.arange(1, size + 1, dtype=torch.float32)
    w = 0.5 * (1 - torch.cos(2 * torch.pi * k / (size + 1)))
    return w[:, None] * w[None, :]


def boxes_at(out: dict, iy: torch.Tensor, ix: torch.Tensor) -> torch.Tensor:
    """Normalised ``(cx, cy, w, h)`` (B, 4) read from ``size``/``offset`` at cell ``(iy[b], ix[b])`` of each sample."""
    size, offset = out["size"], out["offset"]
    h_cells, w_cells = size.shape[-2:]
    b = torch.arange(size.shape[0], device=size.device)
    wh = size[b, :, iy, ix]
    off = offset[b, :, iy, ix]
    cx = (ix.to(off.dtype) + off[:, 0]) / w_cells
    cy = (iy.to(off.dtype) + off[:, 1]) / h_cells
    return torch.stack([cx, cy, wh[:, 0], wh[:, 1]], dim=1)


def decode(out: dict, window_influence: float = 0.25) -> tuple[torch.Tensor, torch.Tensor]:
    """Best box per sample: argmax of ``(1 - lambda) * sigmoid(heatmap) + lambda * hann`` (SiamFC's cosine-window
    penalty, ``lambda = window_influence``), then offset and size at that cell.

    Returns normalised ``(cx, cy, w, h)`` boxes (B, 4) and the sigmoid peak score (B,) at the chosen cell.
    """
    if not 0.0 <= window_influence <= 1.0:
        raise ValueError(f"window_influence must be in [0, 1], got {window_influence}")
    hm = out["heatmap"]
    if hm.dim() != 4 or hm.shape[1] != 1 or hm.shape[2] != hm.shape[3]:
        raise ValueError(f"heatmap must be (B, 1, Hm, Hm), got {tuple(hm.shape)}")
    prob = torch.sigmoid(hm[:, 0])
    win = hann_window(hm.shape[-1]).to(prob)
    score = (1 - window_influence) * prob + window_influence * win
    flat = score.flatten(1).argmax(dim=1)
    iy, ix = flat // hm.shape[-1], flat % hm.shape[-1]
    peak = prob.flatten(1).gather(1, flat[:, None])[:, 0]
    return boxes_at(out, iy, ix), peak
