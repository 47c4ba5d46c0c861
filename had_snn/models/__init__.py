"""The ANN teacher (RGB + events) and the spiking event-only student.

``build_model(kind, **cfg)`` builds any tracker from its config fields; kinds: ``teacher`` (RGB + events),
``teacher_rgb``, ``teacher_events``, ``student`` and ``student_ann`` (the student's ANN twin, a diagnostic).
"""

from __future__ import annotations

from dataclasses import fields

from torch import nn

from had_snn.models.student import SpikingStudent, StudentConfig
from had_snn.models.student_ann import StudentANN
from had_snn.models.teacher import Teacher, TeacherConfig

MODEL_KINDS = ("teacher", "teacher_rgb", "teacher_events", "student", "student_ann")
_TEACHER_MODALITIES = {"teacher": "rgb+events", "teacher_rgb": "rgb", "teacher_events": "events"}


def _make_config(cls: type, kind: str, cfg: dict):
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(cfg) - known)
    if unknown:
        raise ValueError(f"unknown {kind} model config field(s) {unknown}; expected some of {sorted(known)}")
    return cls(**cfg)


def build_model(kind: str, **cfg) -> nn.Module:
    """Build a tracker of ``kind`` (one of :data:`MODEL_KINDS`) from config fields (unset ones take defaults)."""
    if kind == "student":
        return SpikingStudent(_make_config(StudentConfig, kind, cfg))
    if kind == "student_ann":
        return StudentANN(_make_config(StudentConfig, kind, cfg))
    if kind in _TEACHER_MODALITIES:
        modalities = cfg.pop("modalities", _TEACHER_MODALITIES[kind])
        if modalities != _TEACHER_MODALITIES[kind]:
            raise ValueError(f"model kind {kind!r} implies modalities {_TEACHER_MODALITIES[kind]!r}, "
                             f"config says {modalities!r}")
        return Teacher(_make_config(TeacherConfig, kind, {**cfg, "modalities": modalities}))
    raise ValueError(f"unknown model kind {kind!r}; expected one of {MODEL_KINDS}")


__all__ = ["MODEL_KINDS", "SpikingStudent", "StudentANN", "StudentConfig", "Teacher", "TeacherConfig", "build_model"]
