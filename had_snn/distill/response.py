"""Response distillation: teacher heat-map logits to student heat-map logits."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def match_maps(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """Check (B, 1, H, W) logits and resize the student's to the teacher's H x W when they differ."""
    if student.dim() != 4 or teacher.dim() != 4 or student.shape[:2] != teacher.shape[:2]:
        raise ValueError(
            f"response maps: expected (B, 1, H, W) logits with equal B and C, got student {tuple(student.shape)} "
            f"and teacher {tuple(teacher.shape)}"
        )
    if student.shape[-2:] != teacher.shape[-2:]:
        student = F.interpolate(student, size=teacher.shape[-2:], mode="bilinear", align_corners=False)
    return student


def response_kl_loss(student: torch.Tensor, teacher: torch.Tensor, temperature: float) -> torch.Tensor:
    """``tau^2 KL(softmax(t / tau) || softmax(s / tau))`` with the softmax over all pixels, averaged over B."""
    student = match_maps(student, teacher)
    log_p_s = F.log_softmax(student.flatten(1) / temperature, dim=1)
    log_p_t = F.log_softmax(teacher.flatten(1) / temperature, dim=1)
    return temperature**2 * F.kl_div(log_p_s, log_p_t, log_target=True, reduction="batchmean")


def response_focal_mse_loss(student: torch.Tensor, teacher: torch.Tensor, alpha: float, gamma: float) -> torch.Tensor:
    """Focal-weighted MSE of sigmoid maps: ``mean w (p_s - p_t)^2`` with ``w = (1 + alpha p_t) |p_s - p_t|^gamma``
    (weights held constant), so pixels near the target and pixels the student gets wrong dominate."""
    student = match_maps(student, teacher)
    p_s, p_t = torch.sigmoid(student), torch.sigmoid(teacher)
    err = p_s - p_t
    weight = ((1 + alpha * p_t) * err.abs().pow(gamma)).detach()
    return (weight * err.square()).mean()


def response_soft_focal_loss(student: torch.Tensor, teacher: torch.Tensor, gamma: float) -> torch.Tensor:
    """Focal loss of student logits against the teacher's sigmoid map as a soft target (the quality focal loss of
    Generalized Focal Loss, Li et al. 2020): ``mean |p_t - p_s|^gamma BCE(p_s, p_t)`` over pixels and batch, with
    the focal factor held constant. 0 where the maps agree; pixels the student gets wrong dominate."""
    student = match_maps(student, teacher)
    p_t = torch.sigmoid(teacher)
    weight = (p_t - torch.sigmoid(student)).abs().pow(gamma).detach()
    return (weight * F.binary_cross_entropy_with_logits(student, p_t, reduction="none")).mean()
