"""Temporal alignment: fold the student's T per-step maps into one map comparable to the teacher's frame feature.

The adapter is a training-time module owned by the loss; it never enters the exported student.
"""

from __future__ import annotations

import torch
from torch import nn


def check_step_maps(x: torch.Tensor, name: str) -> None:
    """Require per-step maps shaped (T, B, C, H, W)."""
    if x.dim() != 5:
        raise ValueError(f"{name}: expected per-step student maps (T, B, C, H, W), got shape {tuple(x.shape)}")


class MeanFold(nn.Module):
    """Average over time steps (the "no temporal alignment" ablation and the vanilla-KD fold)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_step_maps(x, "MeanFold input")
        return x.mean(dim=0)


class ConvGRUFold(nn.Module):
    """Residual ConvGRU fold: ``mean_t x_t + W_out h_T``, h the ConvGRU state after the last step.

    ``W_out`` (1x1 conv) starts at zero, so at initialisation the fold equals the mean over T and the recurrent
    path is learned from there; ``kernel_size=1`` gives an ordinary GRU shared across pixels.
    """

    def __init__(self, channels: int, kernel_size: int = 3) -> None:
        super().__init__()
        pad = kernel_size // 2
        self.channels = channels
        self.gates = nn.Conv2d(2 * channels, 2 * channels, kernel_size, padding=pad)
        self.candidate = nn.Conv2d(2 * channels, channels, kernel_size, padding=pad)
        self.out = nn.Conv2d(channels, channels, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_step_maps(x, "ConvGRUFold input")
        if x.shape[2] != self.channels:
            raise ValueError(f"ConvGRUFold: expected {self.channels} channels, got {x.shape[2]}")
        h = torch.zeros_like(x[0])
        for x_t in x:
            z, r = torch.sigmoid(self.gates(torch.cat([x_t, h], dim=1))).chunk(2, dim=1)
            n = torch.tanh(self.candidate(torch.cat([x_t, r * h], dim=1)))
            h = (1 - z) * h + z * n
        return x.mean(dim=0) + self.out(h)
