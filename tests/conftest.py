"""Shared pytest fixtures."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


def tiny_student(conv_gain: float = 8.0, seed: int = 0):
    """A tiny (widths 4/8/8, 16/32 px crops) untrained student in eval mode, seeded, whose convs are scaled by
    ``conv_gain`` so it fires on sparse events."""
    import torch

    from had_snn.models import build_model

    torch.manual_seed(seed)
    student = build_model("student", widths=(4, 8, 8), head_channels=8, search_px=32, template_px=16).eval()
    with torch.no_grad():
        for mod in student.modules():
            if isinstance(mod, torch.nn.Conv2d):
                mod.weight.mul_(conv_gain)
    return student


def randomise_student(model, decays: bool = False, conv_gain: float = 1.0):
    """Random BN statistics and affine terms (so every layer has a voltage bias), optionally random LIF decays
    (alpha in [0.3, 0.8], beta in [0.5, 0.95]) and convs scaled by ``conv_gain``; draws from torch's global
    generator (seed it first). Returns ``model``."""
    import torch

    from had_snn.models.neurons import CubaLIF

    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.8, 1.5)
                m.bias.uniform_(-0.3, 0.3)
            if decays and isinstance(m, CubaLIF) and m.spiking:
                m.alpha.uniform_(0.3, 0.8)
                m.beta.uniform_(0.5, 0.95)
            if conv_gain != 1.0 and isinstance(m, torch.nn.Conv2d):
                m.weight.mul_(conv_gain)
    return model


def save_firing_tiny_student(path):
    """Save :func:`tiny_student` (convs x8) as a checkpoint; returns ``path``."""
    from had_snn.models.checkpoint import model_state, save_checkpoint

    save_checkpoint(path, model_state(tiny_student()))
    return path


@pytest.fixture(scope="session")
def firing_tiny_student():
    """:func:`save_firing_tiny_student` as a fixture (call it with the checkpoint path)."""
    return save_firing_tiny_student
