"""The authors' HAD objective as released (github.com/Taxalfer/HAD), on our CNN teacher and spiking student.

Total = the HDETrack terms (:class:`~had_snn.distill.hdetrack.HDETrackLoss`: ``mse/<stage>``, ``similarity``,
``response_focal``) + two terms, all through one :class:`~had_snn.distill.balance.TermCombiner` (``self.combiner``):

- ``ta`` (temporal alignment L_TA, weight ``authors_ta_weight`` = 10): a GRU (hidden 512) runs over the teacher's
  TOKEN sequence and a GRU (hidden 256) over the student's, each followed by a linear layer to a common width (the
  teacher's channels, as the released code maps both back to the teacher's 768); the outputs at the last token are
  compared by MSE. Tokens: the last active stage's maps (the student's averaged over T and resized to the teacher's
  grid), average-pooled to at most ``ot_max_grid`` x ``ot_max_grid``, row-major. **As released the GRUs (and their
  linear layers) are not in the optimiser: they stay at their seeded random init**, so L_TA shapes the student only
  through fixed random recurrent projections. This is the default (``authors_train_gru: false``); their weights are
  non-trainable parameters of this module, so they are saved in the checkpoint's ``extra_modules`` and a resumed run
  uses the same random weights. ``authors_train_gru: true`` makes them trainable adapters.
- ``ot_response`` (spatial alignment L_OT, weight ``authors_ot_weight`` = 3): Sinkhorn (log-domain,
  :func:`had_snn.distill.spatial.sinkhorn_log`), Euclidean cost (``torch.cdist``), epsilon ``authors_ot_epsilon`` =
  0.01, ``authors_ot_iterations`` = 100, uniform marginals, on ``softmax(response / 2)`` of the student's (resized to
  the teacher's grid) and the teacher's heat maps; the loss is the transport cost ``<P, C>``. ``authors_ot_cost``
  picks what is transported:

  - ``"released"`` (default): what the released code computes. It passes the maps as ``(B, 1, H*W)``, so each map
    is ONE point whose H*W features are its probabilities: the cost is 1 x 1, the plan is 1, and L_OT is the
    Euclidean distance between the two probability vectors (the released comment says "treat the response map as a
    2-D spatial distribution", the code does not). Its kernel-space iterations with ``1e-8`` guards also make the
    term collapse to ~0 once that distance exceeds about 0.35 (``exp(-C / 0.01)`` against ``1e-8``); that numerical
    artefact is not reproduced (the log-domain solver keeps ``<P, C> = C``).
  - ``"position"``: the maps as distributions over pixel positions (marginals = the two maps), cost = distance
    between pixel centres in normalised coordinates [0, 1]^2 (in pixel units epsilon 0.01 would be a hard
    assignment), maps pooled (as logits) to at most ``ot_max_grid`` squared pixels, float64. Measured: with
    epsilon 0.01 on a 16 x 16 grid, 100 iterations leave the plan close to its start (mass stays where the student
    has it, neighbours are coupled by ``exp(-0.0625 / 0.01)`` = 0.2 %), so overlapping maps give a near-zero term.
    Gradient: with ``ot_differentiate_plan: false`` (default) the conditional plan ``P_ij / a_i`` is held fixed, so
    the student's mass at pixel i is pushed by its expected transport cost ``sum_j P_ij C_ij / a_i``; ``true``
    differentiates through the Sinkhorn iterations. On the training loop's diagnostic steps it logs the plan's
    normalised entropy ``ot_entropy/ot_response`` (:func:`marginal_plan_entropy`: 1 = independent plan, 0 =
    deterministic matching) and mean transport distance ``ot_distance/ot_response`` (heat-map cells after pooling).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn

from had_snn.distill.config import DistillConfig
from had_snn.distill.hdetrack import HEATMAP_KEY, HDETrackLoss, get_output, map_tokens, resize_to
from had_snn.distill.response import match_maps
from had_snn.distill.spatial import grid_positions, plan_distance, sinkhorn_log, token_grid

TA_TERM = "ta"
OT_TERM = "ot_response"
TEACHER_GRU_HIDDEN = 512
STUDENT_GRU_HIDDEN = 256
RESPONSE_OT_TEMPERATURE = 2.0  # softmax(response / 2), as released


class TokenGRU(nn.Module):
    """GRU over a token sequence (B, N, C_in) -> linear layer on the output at the last token -> (B, C_out)."""

    def __init__(self, in_channels: int, hidden: int, out_channels: int) -> None:
        super().__init__()
        self.gru = nn.GRU(in_channels, hidden, batch_first=True)
        self.linear = nn.Linear(hidden, out_channels)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        if tokens.dim() != 3 or tokens.shape[2] != self.gru.input_size:
            raise ValueError(f"TokenGRU: expected tokens (B, N, {self.gru.input_size}), got {tuple(tokens.shape)}")
        out, _ = self.gru(tokens)
        return self.linear(out[:, -1])


def released_response_ot_loss(student: torch.Tensor, teacher: torch.Tensor, *, epsilon: float, n_iters: int,
                              temperature: float = RESPONSE_OT_TEMPERATURE) -> torch.Tensor:
    """L_OT as the released code runs it (``authors_ot_cost: released``, module docstring): Sinkhorn between ONE
    point per map, the (H*W)-vector ``softmax(logits / temperature)``; = mean over B of the Euclidean distance
    between the student's (resized to the teacher's grid) and the teacher's softened maps."""
    student = match_maps(student, teacher)
    a = torch.softmax(student.flatten(1) / temperature, dim=1).unsqueeze(1)  # (B, 1, H*W): one point per map
    b = torch.softmax(teacher.flatten(1) / temperature, dim=1).unsqueeze(1).detach()
    cost = torch.cdist(a, b)  # (B, 1, 1)
    with torch.no_grad():
        plan = sinkhorn_log(cost, epsilon, n_iters)  # uniform marginals over one point: the plan is 1
    return (plan * cost).sum(dim=(1, 2)).mean()


def response_ot_loss(
    student: torch.Tensor,
    teacher: torch.Tensor,
    *,
    epsilon: float,
    n_iters: int,
    temperature: float = RESPONSE_OT_TEMPERATURE,
    max_grid: int = 16,
    differentiate_plan: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Positional L_OT (``authors_ot_cost: position``): transport cost between ``softmax(logits / temperature)`` of
    student and teacher (B, 1, H, W) heat maps as distributions over pixel positions.

    The student map is resized to the teacher's grid; both are pooled to at most ``max_grid`` squared pixels; the
    cost is the Euclidean distance between pixel centres in [0, 1]^2. Returns (mean over B of ``<P, C>``, plan
    (B, N, N) in float64, rows = student pixels). See the module docstring for the gradient.
    """
    student = match_maps(student, teacher)
    h, w = teacher.shape[-2:]
    if h > max_grid or w > max_grid:
        size = (min(h, max_grid), min(w, max_grid))
        student, teacher = F.adaptive_avg_pool2d(student, size), F.adaptive_avg_pool2d(teacher, size)
    a = torch.softmax(student.flatten(1).double() / temperature, dim=1)
    b = torch.softmax(teacher.flatten(1).double() / temperature, dim=1).detach()
    pos = grid_positions(*teacher.shape[-2:], device=teacher.device, dtype=torch.float64)
    cost = torch.cdist(pos, pos).expand(a.shape[0], -1, -1)
    tiny = torch.finfo(torch.float64).tiny
    if differentiate_plan and torch.is_grad_enabled():
        plan = sinkhorn_log(cost, epsilon, n_iters, a.clamp_min(tiny), b.clamp_min(tiny))
        loss = (plan * cost).sum(dim=(1, 2)).mean()
    else:
        with torch.no_grad():
            a_safe = a.detach().clamp_min(tiny)
            plan = sinkhorn_log(cost, epsilon, n_iters, a_safe, b.clamp_min(tiny))
            row_cost = (plan * cost).sum(dim=2) / a_safe  # expected transport cost of each student pixel
        loss = (a * row_cost).sum(dim=1).mean()
    return loss.to(student.dtype), plan


def marginal_plan_entropy(plan: torch.Tensor) -> float:
    """Normalised entropy of plans (B, N, M) with any marginals a, b, averaged over B, in [0, 1]:
    ``(H(P) - max(H(a), H(b))) / (H(a) + H(b) - max(H(a), H(b)))``; 1 for the independent plan ``a b^T`` (a blur),
    0 for a deterministic matching (equals :func:`had_snn.distill.spatial.plan_entropy` for uniform marginals)."""
    p = plan.detach().double()
    p = p / p.sum(dim=(1, 2), keepdim=True).clamp_min(1e-300)

    def entropy(q: torch.Tensor, dims: tuple[int, ...]) -> torch.Tensor:
        return -(q * q.clamp_min(1e-300).log()).sum(dim=dims)

    h_p, h_a, h_b = entropy(p, (1, 2)), entropy(p.sum(dim=2), (1,)), entropy(p.sum(dim=1), (1,))
    floor = torch.maximum(h_a, h_b)
    span = (h_a + h_b - floor).clamp_min(1e-12)
    return float(((h_p - floor) / span).clamp(0.0, 1.0).mean())


class AuthorsHADLoss(HDETrackLoss):
    """``forward(student_out, teacher_out) -> (total, logs)``: the authors' released HAD objective (module docstring).

    Term names: the HDETrack ones plus ``ta`` and ``ot_response``. Adapters: the HDETrack projections (trainable),
    ``teacher_gru`` / ``student_gru`` (frozen at their seeded init unless ``authors_train_gru``).
    """

    def __init__(self, config: DistillConfig, teacher_channels: Mapping[str, int],
                 student_channels: Mapping[str, int]) -> None:
        super().__init__(config, teacher_channels, student_channels)
        width = int(teacher_channels[self.last_stage])
        self.teacher_gru = TokenGRU(width, TEACHER_GRU_HIDDEN, width)
        self.student_gru = TokenGRU(int(student_channels[self.last_stage]), STUDENT_GRU_HIDDEN, width)
        for gru in (self.teacher_gru, self.student_gru):
            gru.requires_grad_(config.authors_train_gru)

    def ta_loss(self, student_map: torch.Tensor, teacher_map: torch.Tensor) -> torch.Tensor:
        """Unweighted L_TA: MSE between the token GRUs' last outputs (student map resized to the teacher's grid)."""
        max_grid = self.config.ot_max_grid
        student_tokens = map_tokens(resize_to(student_map, teacher_map.shape[-2:]), max_grid)
        teacher_tokens = map_tokens(teacher_map, max_grid)
        return F.mse_loss(self.student_gru(student_tokens), self.teacher_gru(teacher_tokens))

    def terms(self, student_out: Mapping, teacher_out: Mapping) -> dict[str, tuple[float, torch.Tensor]]:
        cfg = self.config
        maps = self.stage_maps(student_out, teacher_out)
        terms = self.hdetrack_terms(maps, student_out, teacher_out)
        terms[TA_TERM] = (cfg.authors_ta_weight, self.ta_loss(*maps[self.last_stage]))
        s_heat = get_output(student_out, HEATMAP_KEY, "student")
        t_heat = get_output(teacher_out, HEATMAP_KEY, "teacher").detach()
        if cfg.authors_ot_cost == "released":
            terms[OT_TERM] = (cfg.authors_ot_weight, released_response_ot_loss(
                s_heat, t_heat, epsilon=cfg.authors_ot_epsilon, n_iters=cfg.authors_ot_iterations))
            return terms
        ot, plan = response_ot_loss(s_heat, t_heat, epsilon=cfg.authors_ot_epsilon, n_iters=cfg.authors_ot_iterations,
                                    max_grid=cfg.ot_max_grid, differentiate_plan=cfg.ot_differentiate_plan)
        terms[OT_TERM] = (cfg.authors_ot_weight, ot)
        if self.combiner.diagnose:
            grid = token_grid(*get_output(teacher_out, HEATMAP_KEY, "teacher").shape[-2:], cfg.ot_max_grid)
            self.combiner.log_extra(f"ot_entropy/{OT_TERM}", marginal_plan_entropy(plan))
            self.combiner.log_extra(f"ot_distance/{OT_TERM}", plan_distance(plan, grid, grid))
        return terms
