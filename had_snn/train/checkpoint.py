"""Atomic training checkpoints that load with ``torch.load(weights_only=True)`` and rebuild their model."""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from had_snn.models import build_model
from had_snn.util.atomic import atomic_path


def save_checkpoint(path: str | os.PathLike, state: dict) -> None:
    """Save ``state`` (tensors, numbers, strings, lists, dicts only) via a temp file and ``os.replace``."""
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict:
    """Load a checkpoint dict safely (``weights_only=True``); errors name the file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises several types for corrupt/unsafe files
        raise ValueError(f"{path}: not a loadable had-snn checkpoint ({type(exc).__name__}: {exc})") from None
    missing = [k for k in ("kind", "model_config", "model") if k not in state]
    if missing:
        raise ValueError(f"{path}: checkpoint lacks {missing}; expected one written by `had-snn train`")
    return state


def model_state(model: nn.Module) -> dict:
    """The checkpoint fields that describe a model: kind, config and weights."""
    from dataclasses import asdict

    return {"kind": model.kind, "model_config": asdict(model.config), "model": model.state_dict()}


def model_from_state(state: dict, map_location: str | torch.device = "cpu") -> nn.Module:
    """Rebuild the model of a loaded checkpoint dict (:func:`load_checkpoint`) with its weights (eval mode)."""
    model = build_model(state["kind"], **state["model_config"])
    model.load_state_dict(state["model"])
    return model.to(map_location).eval()


def load_model(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> nn.Module:
    """Rebuild the model stored in a checkpoint from its config and load its weights (eval mode)."""
    return model_from_state(load_checkpoint(path, map_location), map_location)
