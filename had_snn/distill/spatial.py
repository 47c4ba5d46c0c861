"""Spatial alignment: teacher and student maps as token sets matched by entropy-regularised optimal transport.

Also holds the "no spatial alignment" ablation (resize + MSE), which is the vanilla-KD feature loss, the optional
per-channel standardisation of teacher maps (``teacher_norm: channel``) and the transport-plan diagnostics
(:func:`plan_entropy`, :func:`plan_distance`, both from the plan already computed: no extra Sinkhorn).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

#: Bound on the potentials' spread (natural log units) under which the kernel-domain iteration of
#: :func:`sinkhorn_log` runs, per float type: exp's range (about 708 in float64) less a margin that keeps the terms
#: it may flush to zero below 1e-11 of the sum's largest term. Wider problems take the logsumexp iteration. Only
#: float64: in float32 the iteration's gradients were 4x less accurate than the float32 logsumexp's.
KERNEL_SPREAD_LIMITS = ((torch.float64, 680.0),)


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

    Each log-sum-exp over ``log K + v`` is computed as ``r + max(v) + log(K_r @ exp(v - max(v)))``, with the
    kernel ``K_r = exp(log K - r)`` shifted by its row (column) maxima ``r`` once: a batched matrix-vector product
    per half-iteration instead of an exp per entry. The largest term of each sum is at least ``exp(-spread of the
    potentials)``, and that spread is at most the spreads of ``log K``, ``log a`` and ``log b`` plus ``log(N M)``;
    below :data:`KERNEL_SPREAD_LIMITS` the iteration runs in float64 (the plan is returned in the cost's type),
    above it the plain logsumexp.
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
    dtype = _kernel_dtype(log_k, log_a, log_b)
    if dtype is not None:
        return _sinkhorn_kernel_domain(log_k.to(dtype), log_a.to(dtype), log_b.to(dtype), n_iters).to(cost.dtype)
    # Scaled dual potentials: P = exp(u_i + log_k_ij + v_j).
    u = torch.zeros_like(log_a)
    v = torch.zeros_like(log_b)
    for _ in range(n_iters):  # v then u, as POT does, so equal iteration counts give the same plan
        v = log_b - torch.logsumexp(log_k + u, dim=1, keepdim=True)
        u = log_a - torch.logsumexp(log_k + v, dim=2, keepdim=True)
    return torch.exp(u + log_k + v)


def _kernel_dtype(log_k: torch.Tensor, log_a: torch.Tensor, log_b: torch.Tensor) -> torch.dtype | None:
    """The narrowest float type in which :func:`_sinkhorn_kernel_domain` is exact enough (see
    :func:`sinkhorn_log`), or None: take the logsumexp iteration."""
    def spread(x: torch.Tensor) -> torch.Tensor:
        return x.amax(dim=(1, 2)) - x.amin(dim=(1, 2))

    bound = float((spread(log_k) + spread(log_a) + spread(log_b)).amax().detach())
    bound += math.log(log_k.shape[1] * log_k.shape[2])
    if not math.isfinite(bound):
        return None
    allowed = [d for d, limit in KERNEL_SPREAD_LIMITS if bound < limit and d.itemsize >= log_k.dtype.itemsize]
    return allowed[0] if allowed else None


def _sinkhorn_kernel_domain(log_k: torch.Tensor, log_a: torch.Tensor, log_b: torch.Tensor,
                            n_iters: int) -> torch.Tensor:
    """The iteration of :func:`sinkhorn_log` with shifted kernels and batched vector-matrix products (potentials
    as row vectors: torch's CPU ``bmm`` is several times faster for (1, N) @ (N, M) than for (M, N) @ (N, 1))."""
    row = log_k.amax(dim=2, keepdim=True)  # (B, N, 1)
    col = log_k.amax(dim=1, keepdim=True)  # (B, 1, M)
    k_col = torch.exp(log_k - col)  # (B, N, M): v from u
    k_row_t = torch.exp(log_k - row).transpose(1, 2).contiguous()  # (B, M, N): u from v
    row, log_a = row.transpose(1, 2), log_a.transpose(1, 2)  # (B, 1, N)
    u = torch.zeros_like(log_a)  # (B, 1, N)
    v = torch.zeros_like(log_b)  # (B, 1, M)
    for _ in range(n_iters):  # v then u, as POT does
        mu = u.amax(dim=2, keepdim=True)
        v = log_b - (col + mu + torch.log(torch.exp(u - mu) @ k_col))
        nu = v.amax(dim=2, keepdim=True)
        u = log_a - (row + nu + torch.log(torch.exp(v - nu) @ k_row_t))
    return torch.exp(u.transpose(1, 2) + log_k + v)


def grid_positions(
    height: int, width: int, device: torch.device | None = None, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """Cell-centre positions in [0, 1]^2 of an H x W grid, (H*W, 2) as (x, y), row-major like ``flatten(2)``."""
    ys = (torch.arange(height, device=device, dtype=dtype) + 0.5) / height
    xs = (torch.arange(width, device=device, dtype=dtype) + 0.5) / width
    yy, xx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([xx.flatten(), yy.flatten()], dim=1)


def token_grid(height: int, width: int, max_grid: int) -> tuple[int, int]:
    """The (rows, columns) of the token grid :func:`to_tokens` makes from an H x W map."""
    return min(height, max_grid), min(width, max_grid)


def to_tokens(fmap: torch.Tensor, max_grid: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, C, H, W) -> unit-norm tokens (B, N, C) and their positions (N, 2); maps are average-pooled to at most
    ``max_grid`` x ``max_grid`` tokens so the transport problem stays small."""
    h, w = fmap.shape[-2:]
    if h > max_grid or w > max_grid:
        fmap = F.adaptive_avg_pool2d(fmap, token_grid(h, w, max_grid))
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


def standardize_channels(fmap: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """(B, C, H, W) -> each channel of each sample standardised over space (zero mean, unit std), detached.

    Used on teacher maps (``distill.teacher_norm: channel``) so no channel dominates the alignment by scale alone.
    """
    if fmap.dim() != 4:
        raise ValueError(f"standardize_channels: expected (B, C, H, W), got shape {tuple(fmap.shape)}")
    fmap = fmap.detach()
    mean = fmap.mean(dim=(2, 3), keepdim=True)
    std = fmap.std(dim=(2, 3), keepdim=True, unbiased=False)
    return (fmap - mean) / (std + eps)


def plan_entropy(plan: torch.Tensor) -> float:
    """Normalised entropy of transport plans (B, N, M) with uniform marginals, averaged over B, in [0, 1].

    ``(H(P) - log max(N, M)) / log min(N, M)``: 1 for the uniform (independent) plan ``1 / (N M)``, where OT
    spreads every student token over all teacher tokens (a blur), 0 for a one-to-one matching (a permutation when
    N = M). Equivalently ``H(P) / log(N M)`` rescaled so that its lowest reachable value maps to 0. A plan with
    min(N, M) = 1 is forced: 1.
    """
    if plan.dim() != 3:
        raise ValueError(f"plan_entropy: expected plans (B, N, M), got shape {tuple(plan.shape)}")
    n, m = plan.shape[1:]
    if min(n, m) <= 1:
        return 1.0
    p = plan.detach().double()
    mass = p.sum(dim=(1, 2), keepdim=True).clamp_min(1e-300)
    p = p / mass
    entropy = -(p * p.clamp_min(1e-300).log()).sum(dim=(1, 2))
    return float(((entropy - math.log(max(n, m))) / math.log(min(n, m))).mean())


def plan_distance(plan: torch.Tensor, student_grid: tuple[int, int], teacher_grid: tuple[int, int]) -> float:
    """Mean transport distance of plans (B, N, M) in teacher token-grid cells, averaged over B.

    ``sum_ij P_ij |p_i - q_j|`` with positions in cells of the teacher's token grid (``teacher_grid`` = (rows,
    columns); student positions are mapped onto the same [0, 1]^2 extent): 0 when every student token is matched
    to the teacher token at the same place, about 1 when matches are off by one cell.
    """
    if plan.dim() != 3:
        raise ValueError(f"plan_distance: expected plans (B, N, M), got shape {tuple(plan.shape)}")
    p = plan.detach()
    s_pos = grid_positions(*student_grid, device=p.device, dtype=p.dtype)
    t_pos = grid_positions(*teacher_grid, device=p.device, dtype=p.dtype)
    if s_pos.shape[0] != p.shape[1] or t_pos.shape[0] != p.shape[2]:
        raise ValueError(f"plan_distance: plan {tuple(p.shape)} does not match grids {student_grid} and "
                         f"{teacher_grid}")
    cells = torch.tensor([teacher_grid[1], teacher_grid[0]], device=p.device, dtype=p.dtype)  # (x, y) scale
    dist = torch.cdist(s_pos * cells, t_pos * cells)
    mass = p.sum(dim=(1, 2)).clamp_min(1e-30)
    return float(((p * dist).sum(dim=(1, 2)) / mass).mean())
