"""Centre-head decoding: cosine (Hann) window, argmax, offset and size -> box (OSTrack / CenterNet style).

Head outputs (any tracker): ``heatmap`` (B,1,Hm,Wm) logits, ``size`` (B,2,Hm,Wm) w, h as a fraction of the search
crop and ``offset`` (B,2,Hm,Wm) sub-cell centre offset in cells. A peak at cell ``(iy, ix)`` decodes to the centre
``((ix + ox) / Wm, (iy + oy) / Hm)`` in normalised search-crop coordinates, i.e. ``(ix + ox) * stride`` px with
``stride = search_px / Wm``. :func:`had_snn.tracking.crop.target_to_box` maps that to image px.
"""

from __future__ import annotations

import torch


def hann_window(size: int) -> torch.Tensor:
    """2-D Hann window (size, size) without zero borders, peaking at 1 on cell ``c = size // 2``:
    ``0.5 * (1 + cos(2 pi (k - c) / (size + 1)))``, k = 0..size-1.

    ``c`` is the cell whose centre holds the previous estimate in the tracker's search crop
    (:func:`had_snn.tracking.crop.search_region`), so the window pulls towards where the target was. For an odd
    size this is OSTrack's ``hann2d(centered=True)``; for an even size it is that window moved by half a cell (the
    centred one peaks on the corner of the four middle cells, which it favours equally).
    """
    k = torch.arange(size, dtype=torch.float32)
    w = 0.5 * (1 + torch.cos(2 * torch.pi * (k - size // 2) / (size + 1)))
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


def size_change_penalty(size: torch.Tensor, prev_wh: torch.Tensor, penalty_k: float) -> torch.Tensor:
    """SiamRPN's scale / aspect-change penalty per cell, ``exp(-(r_c * s_c - 1) * k)`` in (0, 1].

    ``s_c = max(r, 1/r)`` for the ratio of padded sizes ``sqrt((w + p) * (h + p))``, ``p = (w + h) / 2``, of the
    predicted and the previous box, ``r_c`` the same for their aspect ratios (pysot
    ``pysot/tracker/siamrpn_tracker.py``, ``change``/``sz``; ``k = cfg.TRACK.PENALTY_K``, 0.04 in pysot's default
    config and mmtracking's SiamRPN++ configs). ``size`` is (B, 2, Hm, Wm), ``prev_wh`` (B, 2), both as fractions
    of the search crop; returns (B, Hm, Wm).
    """
    eps = 1e-6
    w, h = size[:, 0].clamp_min(eps), size[:, 1].clamp_min(eps)
    pw = prev_wh[:, 0, None, None].to(size).clamp_min(eps)
    ph = prev_wh[:, 1, None, None].to(size).clamp_min(eps)

    def padded(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        pad = (a + b) / 2
        return torch.sqrt((a + pad) * (b + pad))

    def change(r: torch.Tensor) -> torch.Tensor:
        return torch.maximum(r, 1 / r)

    s_c = change(padded(w, h) / padded(pw, ph))
    r_c = change((pw / ph) / (w / h))
    return torch.exp(-(r_c * s_c - 1) * penalty_k)


def decode(
    out: dict, window_influence: float = 0.25, prev_wh: torch.Tensor | None = None, penalty_k: float = 0.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Best box per sample: argmax of ``(1 - lambda) * penalty * sigmoid(heatmap) + lambda * hann`` (SiamFC's
    cosine-window penalty, ``lambda = window_influence``), then offset and size at that cell.

    ``penalty`` is :func:`size_change_penalty` against ``prev_wh`` (the previous box as fractions of the search
    crop, (B, 2)) when given and ``penalty_k > 0``, else 1 (SiamRPN applies it before the window, as here).

    Returns normalised ``(cx, cy, w, h)`` boxes (B, 4) and the penalised score ``penalty * sigmoid`` (B,) at the
    chosen cell (SiamRPN scales its size learning rate by it).
    """
    if not 0.0 <= window_influence <= 1.0:
        raise ValueError(f"window_influence must be in [0, 1], got {window_influence}")
    if penalty_k < 0:
        raise ValueError(f"penalty_k must be >= 0, got {penalty_k}")
    hm = out["heatmap"]
    if hm.dim() != 4 or hm.shape[1] != 1 or hm.shape[2] != hm.shape[3]:
        raise ValueError(f"heatmap must be (B, 1, Hm, Hm), got {tuple(hm.shape)}")
    prob = torch.sigmoid(hm[:, 0])
    if prev_wh is not None and penalty_k > 0:
        prob = prob * size_change_penalty(out["size"], prev_wh, penalty_k)
    win = hann_window(hm.shape[-1]).to(prob)
    score = (1 - window_influence) * prob + window_influence * win
    flat = score.flatten(1).argmax(dim=1)
    iy, ix = flat // hm.shape[-1], flat % hm.shape[-1]
    peak = prob.flatten(1).gather(1, flat[:, None])[:, 0]
    return boxes_at(out, iy, ix), peak
