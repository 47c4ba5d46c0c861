"""Spatial alignment: teacher and student maps as token sets matched by entropy-regularised optimal transport.

Also holds the "no spatial alignment" ablation (resize + MSE), which is the vanilla-KD feature loss.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def sinkhorn_log(
    cost: torch.Tensor,
    epsilon: float,
    n_iters: int,
    a: torch.Tensor | None = None,
    b: torch.Tensor | None = None,
) -> torch.Tensor:
    """Batched log-domain Sinkhorn: plan (B, N, M) of ``min <P, C> - epsilon H(P)`` with marginals a, b.

    ``cost`` is (B, N, M); ``a`` (B, N) and ``b`` (B, M) default to uniform. Differentiable by autograd. Same
    iterates as ``ot.sinkhorn(a, b, C, epsilon, method="sinkhorn_log")`` (POT), for every batch element at once.
    """
    if cost.dim() != 3:
        raise ValueError(f"sinkhorn_log: expected cost (B, N, M), got shape {tuple(cost.shape)}")
    bsz, n, m = cost.shape
    if a is None:
        a = cost.new_full((bsz, n), 1.0 / n)
    if b is None:
        b = cost.new_full((bsz, m), 1.0 / m)
    log_a, log_b = a.log().unsqueeze(2), b.log().unsqueeze(1)
    log_k = -cost / epsilon
    # Scaled dual potentials: P = exp(u_i + log_k_ij + v_j).
    u = torch.zeros_like(log_a)
    v = torch.zeros_like(log_b)
    for _ in range(n_iters):  # v then u, as POT does, so equal iteration counts give the same plan
        v = log_b - torch.logsumexp(log_k + u, dim=1, keepdim=True)
        u = log_a - torch.logsumexp(log_k + v, dim=2, keepdim=True)
    return torch.exp(u + log_k + v)


def grid_positions(
    height: int, width: int, device: torch.device | None = None, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """Cell-centre positions in [0, 1]^2 of an H x W grid, (H*W, 2) as (x, y), row-major like ``flatten(2)``."""
    ys = (torch.arange(height, device=device, dtype=dtype) + 0.5) / height
    xs = (torch.arange(width, device=device, dtype=dtype) + 0.5) / width
    yy, xx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([xx.flatten(), yy.flatten()], dim=1)


def to_tokens(fmap: torch.Tensor, max_grid: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, C, H, W) -> unit-norm tokens (B, N, C) and their positions (N, 2); maps are average-pooled to at most
    ``max_grid`` x ``max_grid`` tokens so the transport problem stays small."""
    h, w = fmap.shape[-2:]
    if h > max_grid or w > max_grid:
        fmap = F.adaptive_avg_pool2d(fmap, (min(h, max_grid), min(w, max_grid)))
    tokens = F.normalize(fmap.flatten(2).transpose(1, 2), dim=2)
    return tokens, grid_positions(fmap.shape[-2], fmap.shape[-1], fmap.device, fmap.dtype)


def ot_alignment_loss(
    student: torch.Tensor,
    teacher: torch.Tensor,
    *,
    epsilon: float,
    n_iters: int,
    feature_cost_weight: float = 1.0,
    position_cost_weight: float = 0.5,
    max_grid: int = 16,
    differentiate_plan: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Transport-weighted feature distance between projected student map (B, C, Hs, Ws) and teacher (B, C, Ht, Wt).

    Tokens are unit-normalised; feature cost ``1 - cos`` (in [0, 2]), position cost ``|p_s - p_t|^2 / 2`` (in
    [0, 1]); the plan solves entropic OT on ``wf * feature + wp * position`` and the loss is
    ``mean_b sum_ij P_ij feature_ij``. Returns (loss, plan).
    """
    if student.dim() != 4 or teacher.dim() != 4 or student.shape[:2] != teacher.shape[:2]:
        raise ValueError(
            f"ot_alignment_loss: expected (B, C, H, W) maps with equal B and C, got student {tuple(student.shape)} "
            f"and teacher {tuple(teacher.shape)}"
        )
    s_tok, s_pos = to_tokens(student, max_grid)
    t_tok, t_pos = to_tokens(teacher, max_grid)
    feature_cost = 1.0 - torch.bmm(s_tok, t_tok.transpose(1, 2))
    position_cost = 0.5 * torch.cdist(s_pos, t_pos).square()
    with torch.set_grad_enabled(differentiate_plan and torch.is_grad_enabled()):
        cost = feature_cost_weight * feature_cost + position_cost_weight * position_cost
        plan = sinkhorn_log(cost, epsilon, n_iters)
    loss = (plan * feature_cost).sum(dim=(1, 2)).mean()
    return loss, plan


def resized_mse_loss(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """Squared error ``mean_px |s - t|^2 / 2`` of channel-normalised maps (= mean ``1 - cos``, the OT feature cost
    on aligned pixels) after resizing the student (B, C, Hs, Ws) to the teacher's H x W."""
    if student.dim() != 4 or teacher.dim() != 4 or student.shape[:2] != teacher.shape[:2]:
        raise ValueError(
            f"resized_mse_loss: expected (B, C, H, W) maps with equal B and C, got student {tuple(student.shape)} "
            f"and teacher {tuple(teacher.shape)}"
        )
    if student.shape[-2:] != teacher.shape[-2:]:
        student = F.interpolate(student, size=teacher.shape[-2:], mode="bilinear", align_corners=False, antialias=True)
    return 0.5 * (F.normalize(student, dim=1) - F.normalize(teacher, dim=1)).square().sum(dim=1).mean()
