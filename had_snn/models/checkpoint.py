"""Model checkpoints, written atomically by training and read by everything that rebuilds a model: they load with
``torch.load(weights_only=True)`` and rebuild their model.

:func:`load_checkpoint` is the one place a checkpoint file is opened: anything that is not a had-snn checkpoint (a
text file, an HDF5 file, a zip that is not a torch archive, a truncated ``.pt``, a pickle holding arbitrary Python
objects, a dict without ``kind``/``model_config``/``model``) raises :class:`CheckpointError` whose one-line message
names the file and what was expected. Torch's own advice (loading with ``weights_only=False``) is never shown: a
checkpoint that needs it is refused.
"""

from __future__ import annotations

import os
import pickle
import warnings
import zipfile
from pathlib import Path

import torch
from torch import nn

from had_snn.models import build_model
from had_snn.util.atomic import atomic_path
from had_snn.util.errors import UserError

#: Keys every had-snn checkpoint holds (see :func:`model_state`).
REQUIRED_KEYS = ("kind", "model_config", "model")
_EXPECTED = "expected a checkpoint written by `had-snn train` (last.pt / best.pt)"
_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


class CheckpointError(UserError, ValueError):
    """A file that is not a loadable had-snn checkpoint (the message names it and what was expected)."""


def save_checkpoint(path: str | os.PathLike, state: dict) -> None:
    """Save ``state`` (tensors, numbers, strings, lists, dicts only) via a temp file and ``os.replace``."""
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def _what_it_is(path: Path) -> str | None:
    """A short description of a file that cannot be a torch checkpoint archive, or None if it might be one."""
    with path.open("rb") as fh:
        head = fh.read(8)
    if not head:
        return "an empty file"
    if head.startswith(_HDF5_MAGIC):
        return "an HDF5 file (a sequence or a converted network?), not a checkpoint"
    if head.startswith(b"PK"):
        try:
            with zipfile.ZipFile(path) as zf:
                names = zf.namelist()
        except (zipfile.BadZipFile, OSError, UnicodeDecodeError, ValueError, EOFError):  # a garbled directory
            return "a truncated or corrupt zip archive"
        if not any(n.endswith("/data.pkl") or n == "data.pkl" for n in names):
            return "a zip archive that is not a torch checkpoint (no data.pkl inside)"
        return None
    if head[:1] == b"\x80":  # a bare pickle (torch's legacy format, or pickle.dump)
        return None
    return "not a torch checkpoint archive (a text file or another format?)"


def _load_error(path: Path, exc: Exception) -> CheckpointError:
    """Turn torch's load failure into one line that names the file (never torch's ``weights_only`` advice)."""
    text = str(exc)
    if "Weights only load failed" in text or isinstance(exc, pickle.UnpicklingError) and "Unsupported" in text:
        why = ("holds Python objects other than tensors, numbers, strings, lists and dicts, which are refused for "
               "safety")
    elif isinstance(exc, (RuntimeError, EOFError, zipfile.BadZipFile)) and ("zip" in text.lower() or
                                                                             isinstance(exc, EOFError)):
        why = "is truncated or corrupt"
    else:
        why = f"cannot be read ({type(exc).__name__})"
    return CheckpointError(f"{path}: not a had-snn checkpoint: the file {why}; {_EXPECTED}")


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict:
    """Load a checkpoint dict safely (``weights_only=True``).

    Raises FileNotFoundError when ``path`` is missing, :class:`CheckpointError` (a ValueError) naming the file and
    what was expected for anything that is not a had-snn checkpoint.
    """
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"{path}: is a folder; {_EXPECTED}")
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    what = _what_it_is(path)
    if what is not None:
        raise CheckpointError(f"{path}: not a had-snn checkpoint: {what}; {_EXPECTED}")
    try:
        with warnings.catch_warnings():  # torch's legacy-format warnings would precede our one-line error
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises several types for corrupt/unsafe files
        raise _load_error(path, exc) from None
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: not a had-snn checkpoint: it holds a {type(state).__name__}, not a dict; "
                              f"{_EXPECTED}")
    missing = [k for k in REQUIRED_KEYS if k not in state]
    if missing:
        raise CheckpointError(f"{path}: not a had-snn checkpoint: it lacks {missing}; {_EXPECTED}")
    if not isinstance(state["model_config"], dict) or not isinstance(state["model"], dict):
        raise CheckpointError(f"{path}: not a had-snn checkpoint: model_config and model must be dicts; {_EXPECTED}")
    return state


def model_state(model: nn.Module) -> dict:
    """The checkpoint fields that describe a model: kind, config and weights."""
    from dataclasses import asdict

    return {"kind": model.kind, "model_config": asdict(model.config), "model": model.state_dict()}


def saved_model_config(state: dict, where: str = "checkpoint") -> dict:
    """The model config of a loaded checkpoint as the model is rebuilt. A student saved before the chip's timing
    became the only mode (no ``loihi_faithful`` key in its model config) is refused, naming the field: its float
    semantics are no longer run."""
    config = dict(state["model_config"])
    if state.get("kind") == "student" and "loihi_faithful" not in config:
        raise CheckpointError(f"{where}: a student saved before model_config.loihi_faithful existed (trained "
                              "without the chip's timing), which had-snn no longer runs; retrain it")
    return config


def model_from_state(state: dict, map_location: str | torch.device = "cpu", where: str = "checkpoint") -> nn.Module:
    """Rebuild the model of a loaded checkpoint dict (:func:`load_checkpoint`) with its weights (eval mode).

    A kind/config the models do not know, or weights that do not fit the config, raise :class:`CheckpointError`
    naming ``where`` (the file), as does a student older than the chip's timing (:func:`saved_model_config`).
    """
    config = saved_model_config(state, where)
    try:
        model = build_model(state["kind"], **config)
    except (TypeError, ValueError, RuntimeError) as exc:  # RuntimeError: torch refusing e.g. a negative width
        raise CheckpointError(f"{where}: its model (kind {state['kind']!r}) cannot be rebuilt from its config "
                              f"({' '.join(str(exc).split())})") from None
    bad = [k for k, v in state["model"].items()
           if isinstance(v, torch.Tensor) and v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad:
        raise CheckpointError(f"{where}: weights hold NaN or infinite values in {len(bad)} tensor(s) (e.g. {bad[0]}): "
                              "a diverged or corrupt training; use an earlier checkpoint")
    misfit = weight_misfit(model, state["model"])
    if misfit:
        raise CheckpointError(f"{where}: its weights do not fit its model_config: {misfit} tensor(s); {_EXPECTED}")
    model.load_state_dict(state["model"])
    return model.to(map_location).eval()


def weight_misfit(model: nn.Module, weights: dict) -> str | None:
    """How ``weights`` (a state dict) fail to fit ``model`` ("2 missing (e.g. head.0.weight), 1 of another shape
    (e.g. backbone.0.weight (8, 2, 3, 3) vs (4, 2, 3, 3))"), or None when they fit."""
    want = model.state_dict()
    missing, unexpected = sorted(set(want) - set(weights)), sorted(set(weights) - set(want))
    shapes = [f"{k} {tuple(weights[k].shape)} vs {tuple(want[k].shape)}" for k in want
              if k in weights and hasattr(weights[k], "shape") and weights[k].shape != want[k].shape]
    parts = [f"{len(v)} {what} (e.g. {v[0]})" for what, v in
             (("missing", missing), ("unexpected", unexpected), ("of another shape", shapes)) if v]
    return ", ".join(parts) or None


def load_model(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> nn.Module:
    """Rebuild the model stored in a checkpoint from its config and load its weights (eval mode)."""
    return model_from_state(load_checkpoint(path, map_location), map_location, str(path))
