"""Shared pytest fixtures."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


def save_firing_tiny_student(path):
    """Save a tiny (widths 4/8/8, 16/32 px crops) untrained student checkpoint whose convs are scaled x8, so it fires
    on sparse events; returns ``path``."""
    import torch

    from had_snn.models import build_model
    from had_snn.train.checkpoint import model_state, save_checkpoint

    torch.manual_seed(0)
    student = build_model("student", widths=(4, 8, 8), head_channels=8, search_px=32, template_px=16).eval()
    with torch.no_grad():
        for mod in student.modules():
            if isinstance(mod, torch.nn.Conv2d):
                mod.weight.mul_(8)
    save_checkpoint(path, model_state(student))
    return path


@pytest.fixture(scope="session")
def firing_tiny_student():
    """:func:`save_firing_tiny_student` as a fixture (call it with the checkpoint path)."""
    return save_firing_tiny_student
