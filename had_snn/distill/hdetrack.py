"""HDETrack-style hierarchical knowledge distillation (HAD's direct ancestor), for a CNN teacher and a spiking student.

Three kinds of terms, each handed unweighted to one :class:`~had_snn.distill.balance.TermCombiner`
(``self.combiner``; weights ``distill.hdetrack_*``):

- ``mse/<stage>`` (weight ``hdetrack_feature_weight * stage_weight``): the student's per-step map averaged over the
  T steps, a 1x1 projection to the teacher's channels, bilinear resize to the teacher's grid, plain mean squared
  error against the teacher map (HDETrack's token MSE; unlike vanilla KD's loss the maps are not unit-normalised).
- ``similarity`` (weight ``hdetrack_similarity_weight``, 10 as released): at the last active stage, the (N x N)
  cosine-similarity matrices of the teacher's and of the student's tokens (the student's T-averaged, projected map
  resized to the teacher's grid; both average-pooled to at most ``ot_max_grid`` x ``ot_max_grid`` tokens); the
  loss is the mean over rows and batch of the L2 distance between corresponding rows, as the released code compares
  its last-block attention maps (``PairwiseDistance``). The projection (with its bias) keeps tokens away from 0:
  a silent student pixel is an all-zero token, whose normalisation would have a gradient of 1 / eps.
- ``response_focal`` (weight ``hdetrack_response_weight``): a focal loss of the student's heat-map logits against
  the teacher's sigmoid map as a soft target, both logits softened by ``temperature`` (2 as released):
  :func:`had_snn.distill.response.response_soft_focal_loss` (``|p_t - p_s|^focal_gamma`` x BCE, the quality focal
  loss of Generalized Focal Loss). The released code feeds the teacher map / 2 as the target of its CenterNet focal
  loss; that target is never 1, so its loss only pushes the student map down; the soft-target focal loss used here
  pulls the student map towards the teacher's and is 0 where they agree.

``distill.teacher_norm: channel`` standardises each teacher channel over space before the feature, similarity (and,
in ``had_authors``, token-GRU) terms (:func:`had_snn.distill.spatial.standardize_channels`). The teacher's tensors
are detached: no gradient reaches it.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn

from had_snn.distill.balance import TermCombiner
from had_snn.distill.config import DistillConfig
from had_snn.distill.response import response_soft_focal_loss
from had_snn.distill.spatial import standardize_channels
from had_snn.distill.temporal import check_step_maps

FEATURES_KEY = "features"
HEATMAP_KEY = "heatmap"
SIMILARITY_TERM = "similarity"
RESPONSE_TERM = "response_focal"
SIMILARITY_EPS = 1e-6  # norm floor of the similarity tokens


def get_output(out: Mapping, key: str, who: str) -> object:
    """``out[key]``; ValueError naming ``who`` and the keys present when it is missing."""
    if key not in out:
        raise ValueError(f"{who} output: missing key {key!r}; got keys {sorted(out)}")
    return out[key]


def resize_to(fmap: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize of (B, C, H, W) to ``size`` (no-op when it already has that size)."""
    if tuple(fmap.shape[-2:]) == tuple(size):
        return fmap
    return F.interpolate(fmap, size=size, mode="bilinear", align_corners=False)


def map_tokens(fmap: torch.Tensor, max_grid: int) -> torch.Tensor:
    """(B, C, H, W) -> (B, N, C) raw tokens, row-major, after average pooling to at most max_grid x max_grid."""
    h, w = fmap.shape[-2:]
    if h > max_grid or w > max_grid:
        fmap = F.adaptive_avg_pool2d(fmap, (min(h, max_grid), min(w, max_grid)))
    return fmap.flatten(2).transpose(1, 2)


def similarity_matrix(fmap: torch.Tensor, max_grid: int) -> torch.Tensor:
    """(B, N, N) cosine similarities between the tokens of a (B, C, H, W) map pooled to <= max_grid^2 tokens
    (a zero token has similarity 0 with every token)."""
    tokens = F.normalize(map_tokens(fmap, max_grid), dim=2, eps=SIMILARITY_EPS)
    return torch.bmm(tokens, tokens.transpose(1, 2))


def similarity_loss(student_map: torch.Tensor, teacher_map: torch.Tensor, max_grid: int) -> torch.Tensor:
    """Mean row-wise L2 distance between the token similarity matrices of student (B, Cs, Hs, Ws) and teacher
    (B, Ct, Ht, Wt) maps; the student map is resized to the teacher's grid first (channel counts may differ)."""
    if student_map.dim() != 4 or teacher_map.dim() != 4 or student_map.shape[0] != teacher_map.shape[0]:
        raise ValueError(f"similarity_loss: expected (B, C, H, W) maps with equal B, got student "
                         f"{tuple(student_map.shape)} and teacher {tuple(teacher_map.shape)}")
    s_sim = similarity_matrix(resize_to(student_map, teacher_map.shape[-2:]), max_grid)
    t_sim = similarity_matrix(teacher_map, max_grid)
    return F.pairwise_distance(s_sim.flatten(0, 1), t_sim.flatten(0, 1)).mean()


class HDETrackLoss(nn.Module):
    """``forward(student_out, teacher_out) -> (total, logs)``: HDETrack-style KD (module docstring).

    Trainable adapters: one 1x1 projection per active stage (``self.projections``). Term names: ``mse/<stage>``,
    ``similarity``, ``response_focal``; the logs add ``distill`` (the total).
    """

    def __init__(self, config: DistillConfig, teacher_channels: Mapping[str, int],
                 student_channels: Mapping[str, int]) -> None:
        super().__init__()
        if not config.active_stages:
            raise ValueError("distill.stages: expected at least one stage name, got an empty list")
        self.config = config
        projections = {}
        for stage, _ in config.active_stages:
            for who, channels in (("teacher_channels", teacher_channels), ("student_channels", student_channels)):
                if stage not in channels:
                    raise ValueError(f"{type(self).__name__}: {who} has no stage {stage!r} (has {sorted(channels)})")
            projections[stage] = nn.Conv2d(int(student_channels[stage]), int(teacher_channels[stage]), 1)
        self.projections = nn.ModuleDict(projections)
        self.last_stage = config.active_stages[-1][0]
        self.combiner = TermCombiner(config)

    def stage_maps(self, student_out: Mapping, teacher_out: Mapping) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """``{stage: (student map averaged over T (B, Cs, Hs, Ws), detached teacher map (B, Ct, Ht, Wt))}``."""
        s_feats = get_output(student_out, FEATURES_KEY, "student")
        t_feats = get_output(teacher_out, FEATURES_KEY, "teacher")
        maps = {}
        for stage, _ in self.config.active_stages:
            steps = get_output(s_feats, stage, "student features")
            check_step_maps(steps, f"student features[{stage!r}]")
            teacher_map = get_output(t_feats, stage, "teacher features").detach()
            if teacher_map.dim() != 4:
                raise ValueError(f"teacher features[{stage!r}]: expected (B, C, H, W), got {tuple(teacher_map.shape)}")
            if self.config.teacher_norm == "channel":
                teacher_map = standardize_channels(teacher_map)
            maps[stage] = (steps.mean(dim=0), teacher_map)
        return maps

    def feature_loss(self, stage: str, student_map: torch.Tensor, teacher_map: torch.Tensor) -> torch.Tensor:
        """Unweighted ``mse/<stage>``: project, resize to the teacher's grid, mean squared error."""
        projected = resize_to(self.projections[stage](student_map), teacher_map.shape[-2:])
        return F.mse_loss(projected, teacher_map)

    def response_loss(self, student_heatmap: torch.Tensor, teacher_heatmap: torch.Tensor) -> torch.Tensor:
        """Unweighted ``response_focal`` between (B, 1, H, W) logits softened by ``temperature``."""
        cfg = self.config
        return response_soft_focal_loss(student_heatmap / cfg.temperature, teacher_heatmap / cfg.temperature,
                                        cfg.focal_gamma)

    def terms(self, student_out: Mapping, teacher_out: Mapping) -> dict[str, tuple[float, torch.Tensor]]:
        """``{name: (weight, unweighted scalar)}`` of the HDETrack terms."""
        return self.hdetrack_terms(self.stage_maps(student_out, teacher_out), student_out, teacher_out)

    def hdetrack_terms(self, maps: Mapping[str, tuple[torch.Tensor, torch.Tensor]], student_out: Mapping,
                       teacher_out: Mapping) -> dict[str, tuple[float, torch.Tensor]]:
        """The HDETrack terms from :meth:`stage_maps`'s ``maps`` and the outputs' heat maps."""
        cfg = self.config
        terms: dict[str, tuple[float, torch.Tensor]] = {}
        for stage, weight in cfg.active_stages:
            terms[f"mse/{stage}"] = (cfg.hdetrack_feature_weight * weight, self.feature_loss(stage, *maps[stage]))
        student_map, teacher_map = maps[self.last_stage]
        projected = self.projections[self.last_stage](student_map)
        terms[SIMILARITY_TERM] = (cfg.hdetrack_similarity_weight,
                                  similarity_loss(projected, teacher_map, cfg.ot_max_grid))
        s_heat = get_output(student_out, HEATMAP_KEY, "student")
        t_heat = get_output(teacher_out, HEATMAP_KEY, "teacher").detach()
        terms[RESPONSE_TERM] = (cfg.hdetrack_response_weight, self.response_loss(s_heat, t_heat))
        return terms

    def forward(self, student_out: Mapping, teacher_out: Mapping) -> tuple[torch.Tensor, dict[str, float]]:
        return self.combiner(self.terms(student_out, teacher_out))

