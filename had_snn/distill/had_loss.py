"""Hierarchical asymmetric distillation loss: temporal fold, spatial OT alignment and response KD over stages.

Model outputs are dicts: ``out["features"][stage]`` is (B, Ct, Ht, Wt) for the teacher and per-step (T, B, Cs, Hs, Ws)
for the student; ``out["heatmap"]`` is (B, 1, H, W) logits for both. The teacher is the target: its tensors are
detached, so no gradient reaches it whether or not it is frozen. Every trainable parameter of this module (temporal
adapters, projections) is a training-time adapter; none belongs to the exported student.

The terms go through one :class:`~had_snn.distill.balance.TermCombiner` (``self.combiner``): weights, optional
running-magnitude balancing (``distill.balance``) and warm-up (``distill.warmup_steps``). With spatial OT, on the
training loop's diagnostic steps (``combiner.diagnose``), it also logs per stage the plan's normalised entropy
``ot_entropy/<stage>`` (1 = uniform plan, 0 = one-to-one matching) and mean transport distance
``ot_distance/<stage>`` (teacher token-grid cells). ``distill.teacher_norm: channel`` standardises each teacher
channel over space before the alignment.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
from torch import nn

from had_snn.distill.balance import TermCombiner
from had_snn.distill.config import DistillConfig
from had_snn.distill.response import response_focal_mse_loss, response_kl_loss
from had_snn.distill.spatial import (
    ot_alignment_loss,
    plan_distance,
    plan_entropy,
    resized_mse_loss,
    standardize_channels,
    token_grid,
)
from had_snn.distill.temporal import ConvGRUFold, MeanFold, check_step_maps

FEATURES_KEY = "features"
HEATMAP_KEY = "heatmap"


def _get(out: Mapping, key: str, who: str) -> object:
    if key not in out:
        raise ValueError(f"{who} output: missing key {key!r}; got keys {sorted(out)}")
    return out[key]


class HADLoss(nn.Module):
    """``forward(student_out, teacher_out) -> (total, terms)``; ``terms`` maps each unweighted term to a float.

    Term names: ``ot/<stage>`` (spatial OT) or ``mse/<stage>`` (resize + MSE), ``response_kl`` or
    ``response_focal_mse``, and ``distill`` (the weighted total that is returned); with OT and
    ``self.combiner.diagnose`` set also the log-only ``ot_entropy/<stage>`` and ``ot_distance/<stage>``.
    """

    def __init__(
        self,
        config: DistillConfig,
        teacher_channels: Mapping[str, int],
        student_channels: Mapping[str, int],
    ) -> None:
        super().__init__()
        self.config = config
        folds, projections = {}, {}
        for stage, _ in config.active_stages:
            for who, channels in (("teacher_channels", teacher_channels), ("student_channels", student_channels)):
                if stage not in channels:
                    raise ValueError(f"HADLoss: {who} has no stage {stage!r} (has {sorted(channels)})")
            cs, ct = int(student_channels[stage]), int(teacher_channels[stage])
            folds[stage] = ConvGRUFold(cs, config.gru_kernel_size) if config.use_gru else MeanFold()
            projections[stage] = nn.Conv2d(cs, ct, kernel_size=1)
        self.folds = nn.ModuleDict(folds)
        self.projections = nn.ModuleDict(projections)
        self.combiner = TermCombiner(config)

    def align_stage(self, stage: str, student_steps: torch.Tensor, teacher_map: torch.Tensor) -> torch.Tensor:
        """Unweighted feature-alignment loss of one stage (fold over T, project, then OT or resize + MSE)."""
        check_step_maps(student_steps, f"student features[{stage!r}]")
        if teacher_map.dim() != 4:
            raise ValueError(f"teacher features[{stage!r}]: expected (B, C, H, W), got {tuple(teacher_map.shape)}")
        cfg = self.config
        if cfg.teacher_norm == "channel":
            teacher_map = standardize_channels(teacher_map)
        student_map = self.projections[stage](self.folds[stage](student_steps))
        if not cfg.use_ot:
            return resized_mse_loss(student_map, teacher_map)
        loss, plan = ot_alignment_loss(
            student_map,
            teacher_map,
            epsilon=cfg.ot_epsilon,
            n_iters=cfg.ot_iterations,
            feature_cost_weight=cfg.ot_feature_cost_weight,
            position_cost_weight=cfg.ot_position_cost_weight,
            max_grid=cfg.ot_max_grid,
            differentiate_plan=cfg.ot_differentiate_plan,
        )
        if self.combiner.diagnose:
            grids = [token_grid(*m.shape[-2:], cfg.ot_max_grid) for m in (student_map, teacher_map)]
            self.combiner.log_extra(f"ot_entropy/{stage}", plan_entropy(plan))
            self.combiner.log_extra(f"ot_distance/{stage}", plan_distance(plan, *grids))
        return loss

    def response_loss(self, student_heatmap: torch.Tensor, teacher_heatmap: torch.Tensor) -> torch.Tensor:
        """Unweighted response-distillation loss between (B, 1, H, W) logits."""
        cfg = self.config
        if cfg.effective_response_loss == "kl":
            return response_kl_loss(student_heatmap, teacher_heatmap, cfg.temperature)
        return response_focal_mse_loss(student_heatmap, teacher_heatmap, cfg.focal_alpha, cfg.focal_gamma)

    def forward(self, student_out: Mapping, teacher_out: Mapping) -> tuple[torch.Tensor, dict[str, float]]:
        cfg = self.config
        terms: dict[str, tuple[float, torch.Tensor]] = {}
        if cfg.active_stages:
            s_feats = _get(student_out, FEATURES_KEY, "student")
            t_feats = _get(teacher_out, FEATURES_KEY, "teacher")
        for stage, weight in cfg.active_stages:
            loss = self.align_stage(stage, _get(s_feats, stage, "student features"),
                                    _get(t_feats, stage, "teacher features").detach())
            terms[f"{'ot' if cfg.use_ot else 'mse'}/{stage}"] = (cfg.feature_weight * weight, loss)
        if cfg.use_response:
            loss = self.response_loss(_get(student_out, HEATMAP_KEY, "student"),
                                      _get(teacher_out, HEATMAP_KEY, "teacher").detach())
            terms[f"response_{cfg.effective_response_loss}"] = (cfg.response_weight, loss)
        return self.combiner(terms)


def teacher_distill_hook(
    loss: HADLoss, teacher: nn.Module
) -> Callable[[Mapping, Mapping], tuple[torch.Tensor, dict[str, float]]]:
    """Training-loop hook ``extra_loss(student_out, batch) -> (loss, terms)``: runs the frozen teacher (eval mode,
    no autograd) on the same batch and applies ``loss``. Freezes ``teacher`` in place."""
    teacher.eval()
    teacher.requires_grad_(False)

    def extra_loss(student_out: Mapping, batch: Mapping) -> tuple[torch.Tensor, dict[str, float]]:
        with torch.no_grad():
            teacher_out = teacher(batch)
        return loss(student_out, teacher_out)

    return extra_loss
