"""Distillation wired into training: the ``distill:`` section of a student config -> frozen teacher + HAD loss.

The section maps onto :class:`had_snn.distill.config.DistillConfig` plus one key of its own, ``teacher`` (path
of a teacher checkpoint written by ``had-snn train teacher``; a relative path resolves against the folder of the
config file, and ``had-snn train --teacher PATH`` overrides it), and accepts ``mode: vanilla`` for ``vanilla_kd``::

    distill:
      mode: had                 # none | vanilla (= vanilla_kd) | had | hdetrack | had_authors
      teacher: ../runs/teacher/last.pt   # relative to this config file's folder; --teacher PATH overrides it
      stages: [stage1, stage2, stage3]
      stage_weights: [0.5, 1.0, 1.0]
      temporal: true            # ablation switches (mode had only)

:func:`build_distillation` returns what :func:`had_snn.train.loop.train` takes: an ``extra_loss(out, batch)`` that
runs the frozen teacher (eval mode, no autograd) on the same batch and applies the mode's loss module
(:data:`LOSSES`: :class:`HADLoss` for had / vanilla_kd, :class:`HDETrackLoss`, :class:`AuthorsHADLoss`), and that
module as the one extra module (its adapters - temporal folds, projections, trainable token GRUs - train with the
student; it is saved whole, frozen token GRUs included, in the checkpoint's ``extra_modules``, never in its
``model``, so nothing of it is exported or converted). The loss's :class:`~had_snn.distill.balance.TermCombiner`
is ``Distillation.combiner`` (None without distillation), for the loop's gradient diagnostics.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from had_snn.distill.authors import AuthorsHADLoss
from had_snn.distill.balance import TermCombiner
from had_snn.distill.config import DistillConfig
from had_snn.distill.had_loss import HADLoss, teacher_distill_hook
from had_snn.distill.hdetrack import HDETrackLoss
from had_snn.models import build_model
from had_snn.models.checkpoint import load_model
from had_snn.tracking.config import CropConfig
from had_snn.train.config import TrainConfig

MODE_ALIASES = {"vanilla": "vanilla_kd"}
TEACHER_KEY = "teacher"
# Crop fields a teacher's inputs depend on: they must match between the teacher's model and the student's data.
_TEACHER_CROP_FIELDS = ("template_px", "search_px", "voxel_bins")
# The loss module of each distilling mode; each takes (config, teacher_channels, student_channels).
LOSSES: dict[str, type[nn.Module]] = {
    "had": HADLoss, "vanilla_kd": HADLoss, "hdetrack": HDETrackLoss, "had_authors": AuthorsHADLoss,
}


@dataclass
class DistillSection:
    """A parsed ``distill:`` section: the loss config and the teacher checkpoint (None when mode is none)."""

    config: DistillConfig
    teacher_path: Path | None

    @property
    def enabled(self) -> bool:
        return self.config.mode != "none"


def parse_distill_section(raw: Mapping | None, where: str = "distill") -> DistillSection:
    """Validate a ``distill:`` mapping; ValueError names ``where`` and the field."""
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise ValueError(f"{where}: expected a mapping, got {type(raw).__name__}")
    data = dict(raw)
    teacher = data.pop(TEACHER_KEY, None)
    mode = data.get("mode", "none" if teacher is None and not data else "had")
    data["mode"] = MODE_ALIASES.get(mode, mode)
    config = DistillConfig.from_dict(data, source=where)
    if config.mode == "none":
        return DistillSection(config, None)
    if not isinstance(teacher, (str, os.PathLike)) or not str(teacher):
        raise ValueError(f"{where}.teacher: mode {mode!r} needs the path of a teacher checkpoint, got {teacher!r}")
    return DistillSection(config, Path(teacher))


def stage_channels(model: nn.Module) -> dict[str, int]:
    """``{stage1: C1, stage2: C2, stage3: C3}`` from a teacher's or student's ``config.widths``."""
    widths = getattr(getattr(model, "config", None), "widths", None)
    if widths is None:
        raise ValueError(f"{type(model).__name__} has no config.widths; cannot size the distillation adapters")
    return {f"stage{i}": int(w) for i, w in enumerate(widths, start=1)}


def check_teacher_inputs(teacher: nn.Module, crop: CropConfig, teacher_path: Path) -> None:
    """The student's data pipeline must produce the crops the teacher was built for."""
    for name in _TEACHER_CROP_FIELDS:
        want = getattr(teacher.config, name, None)
        if want is not None and int(want) != int(getattr(crop, name)):
            raise ValueError(f"{teacher_path}: teacher expects {name}={want} but data.crop gives "
                             f"{getattr(crop, name)}; set data.crop.{name}: {want} in the student config")


def _following_device(loss: nn.Module, teacher: nn.Module):
    """``teacher_distill_hook`` whose teacher moves to the batch's device on first use (the loop moves the batch,
    the student and the extra modules, but does not know about the teacher)."""
    hook = teacher_distill_hook(loss, teacher)

    def extra_loss(student_out: dict, batch: dict) -> tuple[torch.Tensor, dict[str, float]]:
        device = next(iter(batch.values())).device
        if next(teacher.parameters()).device != device:
            teacher.to(device)
        return hook(student_out, batch)

    return extra_loss


@dataclass
class Distillation:
    """What the training loop needs: ``extra_loss`` (None without distillation), ``extra_modules`` (the loss
    module: all distillation adapters, one group) and ``combiner`` (the loss's TermCombiner, or None)."""

    section: DistillSection
    teacher: nn.Module | None = None
    loss: nn.Module | None = None

    def __post_init__(self) -> None:
        self.extra_loss = None if self.loss is None else _following_device(self.loss, self.teacher)
        self.extra_modules: list[nn.Module] = [] if self.loss is None else [self.loss]

    @property
    def needs_frames(self) -> bool:
        """True when the teacher reads RGB, so training sequences must be loaded with their frames."""
        return self.teacher is not None and getattr(self.teacher, "rgb_stem", None) is not None

    @property
    def combiner(self) -> TermCombiner | None:
        """The TermCombiner every distillation term goes through (None when mode is none)."""
        return None if self.loss is None else getattr(self.loss, "combiner", None)


def resolve_teacher_path(value: str | os.PathLike, where: str | os.PathLike | None = None,
                         from_cli: bool = False) -> Path:
    """The absolute path of a teacher checkpoint named in a config or on the command line.

    A relative ``distill.teacher`` resolves against the folder of the config file ``where`` (when ``where`` is an
    existing file; else against the current folder); a ``--teacher`` path (``from_cli``) against the current folder.
    Transitional: a relative config path found only relative to the current folder (how it resolved before) is used
    with a UserWarning naming both places.
    FileNotFoundError names the key or option, the value, the resolved path and suggests ``--teacher``.
    """
    path = Path(os.path.expanduser(str(value)))
    base = Path.cwd()
    config_file = Path(where) if where is not None and not from_cli and Path(where).is_file() else None
    if not path.is_absolute() and config_file is not None:
        base = config_file.parent
    resolved = Path(os.path.abspath(base / path))
    if resolved.is_file():
        return resolved
    from_cwd = Path(os.path.abspath(path))
    if config_file is not None and not path.is_absolute() and from_cwd.is_file():
        # Transitional: configs written when distill.teacher resolved against the current folder keep working,
        # loudly. Callers that build configs in code should pass absolute paths (or teacher=).
        warnings.warn(f"{where}: distill.teacher {str(value)!r} is not at {resolved} (relative to the config "
                      f"file's folder) but is at {from_cwd} (relative to the current folder): using that; write "
                      f"the path relative to the config file, an absolute path, or give --teacher PATH",
                      UserWarning, stacklevel=3)
        return from_cwd
    state = "is a folder" if resolved.is_dir() else "does not exist"
    if from_cli:
        raise FileNotFoundError(f"--teacher {value}: {resolved} {state}; expected a teacher checkpoint written by "
                                f"`had-snn train teacher` (e.g. runs/teacher/last.pt)")
    origin = (f"relative paths resolve against the config file's folder {os.path.abspath(config_file.parent)}"
              if config_file is not None else "relative paths resolve against the current folder")
    prefix = f"{where}: " if where else ""
    raise FileNotFoundError(f"{prefix}distill.teacher: {str(value)!r} resolves to {resolved}, which {state} "
                            f"({origin}); train the teacher first, fix distill.teacher, or give --teacher PATH")


def build_distillation(cfg: TrainConfig, where: str | os.PathLike = "config",
                       teacher: str | os.PathLike | None = None) -> Distillation:
    """Read ``cfg.distill``, load the frozen teacher (``weights_only``) and build the mode's distillation loss
    (:data:`LOSSES`) for ``cfg``'s student.

    ``where`` is the config file's path (named in errors; a relative ``distill.teacher`` resolves against its
    folder, or against the current folder when ``where`` is not a file); ``teacher`` (the ``--teacher`` option)
    overrides ``distill.teacher`` and resolves against the current folder. The resolved absolute path is written
    back into ``cfg.distill["teacher"]``, so the run's saved ``config.yaml`` resumes from any folder.
    Seeds torch with ``cfg.seed`` before building the adapters, so a run is reproducible (and the authors' frozen
    token GRUs get the same random weights in every run of that seed).
    """
    from had_snn.models.checkpoint import CheckpointError

    raw = dict(cfg.distill or {})
    if teacher is not None and not raw:
        raise ValueError(f"--teacher {teacher}: {where} does not distill (no distill: section); add one with mode "
                         f"had, vanilla, hdetrack or had_authors")
    if teacher is not None:
        raw[TEACHER_KEY] = str(teacher)
    section = parse_distill_section(raw, f"{where}: distill")
    if not section.enabled:
        if teacher is not None:
            raise ValueError(f"--teacher {teacher}: {where} does not distill (distill.mode "
                             f"{section.config.mode!r}); add a distill: section with mode had, vanilla, hdetrack "
                             f"or had_authors")
        return Distillation(section)
    if cfg.model != "student":
        raise ValueError(f"{where}: distill.mode {section.config.mode!r} trains a student, but model is {cfg.model!r}")
    path = resolve_teacher_path(section.teacher_path, where, from_cli=teacher is not None)
    section.teacher_path = path
    cfg.distill = {**(cfg.distill or {}), TEACHER_KEY: str(path)}
    origin = "--teacher" if teacher is not None else f"{where}: distill.teacher"
    try:
        teacher_model = load_model(path)
    except CheckpointError as exc:
        raise CheckpointError(f"{origin}: {exc}") from None
    if teacher_model.kind == "student":
        raise ValueError(f"{origin}: {path} holds a student checkpoint; distill.teacher must be a teacher "
                         f"(`had-snn train teacher`)")
    check_teacher_inputs(teacher_model, cfg.data.crop_config(), path)
    student_shape = build_model("student", **cfg.model_config)
    teacher_stages = stage_channels(teacher_model)
    for stage in section.config.stages:
        if stage not in teacher_stages or stage not in stage_channels(student_shape):
            raise ValueError(f"{where}: distill.stages: unknown stage {stage!r}; the teacher and the student have "
                             f"{sorted(set(teacher_stages) & set(stage_channels(student_shape)))}")
    torch.manual_seed(cfg.seed)
    loss = LOSSES[section.config.mode](section.config, stage_channels(teacher_model), stage_channels(student_shape))
    return Distillation(section, teacher_model, loss)
