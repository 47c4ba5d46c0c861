"""Tracking losses: CenterNet focal loss on the Gaussian heat map, L1 and GIoU on the box (OSTrack's weights).

The box is decoded at the ground-truth centre cell (CenterNet: size and offset are regressed where the target is),
so box losses train size/offset even while the heat map is still wrong.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from had_snn.tracking.decode import boxes_at

DEFAULT_WEIGHTS = {"focal": 1.0, "l1": 5.0, "giou": 2.0}


def focal_loss(logits: torch.Tensor, target: torch.Tensor, alpha: float = 2.0, beta: float = 4.0) -> torch.Tensor:
    """CenterNet penalty-reduced focal loss (Zhou et al. 2019, eq. 1), averaged over the number of peaks.

    Positives are cells where ``target == 1``: ``-(1 - p)^alpha log p``; every other cell adds
    ``-(1 - target)^beta p^alpha log(1 - p)``. ``p = sigmoid(logits)``, computed with log-sigmoid for stability.
    """
    if logits.shape != target.shape:
        raise ValueError(f"heatmap logits {tuple(logits.shape)} and target {tuple(target.shape)} differ in shape")
    pos = target.eq(1).to(logits.dtype)
    p = torch.sigmoid(logits)
    log_p, log_1mp = F.logsigmoid(logits), F.logsigmoid(-logits)
    pos_term = (1 - p) ** alpha * log_p * pos
    neg_term = (1 - target) ** beta * p**alpha * log_1mp * (1 - pos)
    return -(pos_term.sum() + neg_term.sum()) / pos.sum().clamp(min=1.0)


def cxcywh_to_xyxy(b: torch.Tensor) -> torch.Tensor:
    return torch.cat([b[..., :2] - b[..., 2:] / 2, b[..., :2] + b[..., 2:] / 2], dim=-1)


def giou(pred: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-box generalised IoU and IoU (Rezatofighi et al. 2019) of ``(N, 4)`` ``(cx, cy, w, h)`` boxes."""
    p, t = cxcywh_to_xyxy(pred), cxcywh_to_xyxy(target)
    inter_wh = (torch.minimum(p[:, 2:], t[:, 2:]) - torch.maximum(p[:, :2], t[:, :2])).clamp(min=0)
    inter = inter_wh.prod(dim=1)
    union = (p[:, 2:] - p[:, :2]).prod(dim=1) + (t[:, 2:] - t[:, :2]).prod(dim=1) - inter
    iou = inter / union.clamp(min=1e-12)
    hull = (torch.maximum(p[:, 2:], t[:, 2:]) - torch.minimum(p[:, :2], t[:, :2])).prod(dim=1)
    return iou - (hull - union) / hull.clamp(min=1e-12), iou


def target_cells(target_box: torch.Tensor, hm_px: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Heat-map cell ``(iy, ix)`` holding each normalised target centre (same rule as the Gaussian target)."""
    ix = (target_box[:, 0] * hm_px).floor().long().clamp(0, hm_px - 1)
    iy = (target_box[:, 1] * hm_px).floor().long().clamp(0, hm_px - 1)
    return iy, ix


def tracking_loss(
    out: dict, batch: dict, weights: dict[str, float] | None = None
) -> tuple[torch.Tensor, dict[str, float]]:
    """Weighted ``focal + l1 + giou`` loss; returns the total and the detached terms plus the mean ``iou``.

    Needs ``out['heatmap'|'size'|'offset']`` and ``batch['target_heatmap'|'target_box']``; ``weights`` overrides
    :data:`DEFAULT_WEIGHTS` per term (unknown keys are an error).
    """
    w = dict(DEFAULT_WEIGHTS)
    if weights:
        unknown = sorted(set(weights) - set(w))
        if unknown:
            raise ValueError(f"unknown tracking loss weight(s) {unknown}; expected some of {sorted(w)}")
        w.update(weights)
    tgt = batch["target_box"].to(out["size"].dtype)
    iy, ix = target_cells(tgt, out["heatmap"].shape[-1])
    pred = boxes_at(out, iy, ix)
    g, iou = giou(pred, tgt)
    terms = {
        "focal": focal_loss(out["heatmap"], batch["target_heatmap"].to(out["heatmap"].dtype)),
        "l1": F.l1_loss(pred, tgt),
        "giou": (1 - g).mean(),
    }
    total = sum(w[k] * v for k, v in terms.items())
    logs = {k: float(v.detach()) for k, v in terms.items()}
    logs["iou"] = float(iou.detach().mean())
    return total, logs
