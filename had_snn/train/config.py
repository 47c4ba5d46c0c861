"""Training configuration: YAML files mapped onto dataclasses, validated with errors naming the file and field.

:func:`config_from_dict` checks every field by name and type before anything is built: unknown keys, a list where a
mapping belongs, ``epochs: "ten"`` or ``1.7``, booleans where numbers belong (an integer is fine where a number is
expected), non-finite numbers, negative or absurd widths and crop sizes. Errors read
``FILE: model_config.widths[1]: expected a value >= 1 and <= 4096, got -8``. The model configs (``model_config``),
``data.crop``, ``loss_weights`` and the types of the ``distill:`` section are checked too; the distillation section's
consistency and its teacher file are checked by :func:`had_snn.train.distill_hook.build_distillation`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any, get_type_hints

import yaml

from had_snn.tracking.config import CropConfig
from had_snn.util.atomic import write_text_atomic
from had_snn.util.config_check import check_fields, check_known, check_range, check_value, read_yaml, shown

MODEL_KINDS = ("teacher", "teacher_rgb", "teacher_events", "student", "student_ann")


@dataclass
class DataConfig:
    """Where training pairs come from and how they are sampled (see ``had_snn.train.sampler.PairDataset``)."""

    dir: str | None = None
    split: str = "train"
    samples_per_epoch: int = 512
    max_gap: int = 10
    center_jitter: float = 3.0
    scale_jitter: float = 0.25
    num_workers: int = 0
    #: search frames per training item run as one stream with the state carried over (the chip's stream mode,
    #: :mod:`had_snn.train.clips`); 1: one search frame from the zero state (reset mode's training)
    clip_frames: int = 1
    crop: dict = field(default_factory=dict)

    def crop_config(self) -> CropConfig:
        return CropConfig(**self.crop)


#: where quantisation-aware fine-tuning starts (``had-snn train --qat``, ``experiments/configs/student_qat.yaml``): a
#: few epochs at a tenth of the from-scratch learning rate, so the integer grid refines a trained student instead of
#: undoing it (at a from-scratch lr of 2e-3 one epoch of QAT lost most of the student's success rate)
QAT_DEFAULTS = {"epochs": 2, "lr": 2e-4, "warmup_steps": 5}


@dataclass
class TrainConfig:
    """One training run. ``batch_size`` is per process (DDP multiplies it by the world size)."""

    model: str = "student"
    model_config: dict = field(default_factory=dict)
    data: DataConfig = field(default_factory=DataConfig)
    epochs: int = 10
    batch_size: int = 16
    lr: float = 1e-3
    weight_decay: float = 1e-4
    grad_clip: float = 5.0
    warmup_steps: int = 20
    loss_weights: dict = field(default_factory=dict)
    seed: int = 0
    distill: dict = field(default_factory=dict)  # the distill: section, read by had_snn.train.distill_hook
    #: A trained checkpoint whose weights start this run (relative to the config file's folder; ``--init`` on the
    #: command line is relative to the current folder). Needed by quantisation-aware fine-tuning
    #: (``model_config.qat: true``); the architecture must match.
    init_from: str | None = None
    #: Activity regularisation of a student (:mod:`had_snn.train.activity`): ``mode`` fanout|rate, ``weight`` (0
    #: disables), ``targets`` (rate mode). Empty: no term and nothing logged.
    activity: dict = field(default_factory=dict)
    #: From this epoch on (1-based; 0: never) every BatchNorm layer is frozen to its running statistics: it
    #: normalises with them and stops updating them, while its scale and shift still train.
    bn_freeze_epoch: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.data, dict):
            self.data = _from_dict(DataConfig, self.data, "data")
        if self.model not in MODEL_KINDS:
            raise ValueError(f"model must be one of {MODEL_KINDS}, got {self.model!r}")
        for name in ("lr", "weight_decay", "grad_clip"):
            setattr(self, name, float(getattr(self, name)))
        for name in ("epochs", "batch_size"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)!r}")
        if self.data.crop:
            self.data.crop_config()  # validate early
        if self.model_config.get("loihi_faithful", True) is not True:
            raise ValueError(f"model_config.loihi_faithful: {self.model_config['loihi_faithful']!r} is not supported: "
                             "every student trains with the chip's timing; remove the field or set it to true")
        if self.model_config.get("qat") and not self.init_from:
            raise ValueError("model_config.qat: quantisation-aware training fine-tunes a trained student; set "
                             "init_from: PATH (a student checkpoint) or pass --init PATH")

    def to_dict(self) -> dict:
        return asdict(self)


def _from_dict(cls: type, raw: dict, where: str):
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: expected a mapping, got {shown(raw)}")
    check_known(cls, raw, where)
    return cls(**raw)


# --- validation of raw YAML values by field name and type -------------------------------------------------------

#: Largest channel count / crop side accepted in a config (a typo like 16000 would allocate gigabytes).
MAX_CHANNELS = 4096
MAX_CROP_PX = 2048

# (lowest, lowest allowed?, highest) per field; fields absent here only have their type checked.
_TRAIN_RANGES: dict[str, tuple[float, bool, float | None]] = {
    "epochs": (1, True, None), "batch_size": (1, True, None), "lr": (0, False, None),
    "weight_decay": (0, True, None), "grad_clip": (0, True, None), "warmup_steps": (0, True, None),
    "seed": (0, True, 2**32 - 1), "bn_freeze_epoch": (0, True, None),
}
_DATA_RANGES = {
    "samples_per_epoch": (1, True, None), "max_gap": (1, True, None), "center_jitter": (0, True, None),
    "scale_jitter": (0, True, None), "num_workers": (0, True, None), "clip_frames": (1, True, 64),
}
_UNIT = (0, True, 1)
_MODEL_RANGES = {
    "alpha": _UNIT, "beta": _UNIT, "readout_alpha": _UNIT, "readout_beta": _UNIT, "threshold": (0, False, None),
    "surrogate_slope": (0, False, None), "search_px": (8, True, MAX_CROP_PX), "template_px": (8, True, MAX_CROP_PX),
}
_CROP_RANGES = {"template_px": (1, True, MAX_CROP_PX), "search_px": (1, True, MAX_CROP_PX)}


def _model_config_class(kind: str) -> type:
    """The model config dataclass of ``kind`` (imports torch, so only called while building a config)."""
    from had_snn.models.student import StudentConfig
    from had_snn.models.teacher import TeacherConfig

    return StudentConfig if kind in ("student", "student_ann") else TeacherConfig


def _loss_weight_names() -> list[str]:
    from had_snn.train.losses import DEFAULT_WEIGHTS

    return sorted(DEFAULT_WEIGHTS)


def validate_raw(raw: Mapping) -> dict:
    """Check every field of a raw training config by name and type; returns the normalised copy.

    ValueError messages name the dotted field, the value and what was expected (the caller adds the file).
    """
    raw = dict(check_fields(TrainConfig, raw, "", _TRAIN_RANGES))
    model = raw.get("model", "student")
    if model not in MODEL_KINDS:
        raise ValueError(f"model must be one of {MODEL_KINDS}, got {model!r}")
    if "model_config" in raw:
        raw["model_config"] = check_fields(_model_config_class(model), raw["model_config"], "model_config",
                                           _MODEL_RANGES, positive_ints=True, int_high=MAX_CHANNELS)
    if "data" in raw:
        data = check_fields(DataConfig, raw["data"], "data", _DATA_RANGES)
        if "crop" in data:
            data["crop"] = check_fields(CropConfig, data["crop"], "data.crop", _CROP_RANGES, positive_ints=True)
            for key in ("template_context", "search_context", "window_frames"):
                if key in data["crop"]:
                    check_range(data["crop"][key], (0, False, None), f"data.crop.{key}")
        raw["data"] = data
    if "loss_weights" in raw:
        names = _loss_weight_names()
        weights = raw["loss_weights"]
        unknown = sorted(set(weights) - set(names))
        if unknown:
            raise ValueError(f"loss_weights: unknown term(s) {unknown}; expected some of {names}")
        raw["loss_weights"] = {k: check_value(v, float, f"loss_weights.{k}") for k, v in weights.items()}
        for k, v in raw["loss_weights"].items():
            check_range(v, (0, True, None), f"loss_weights.{k}")
    if raw.get("distill") is not None:
        raw["distill"] = _check_distill(raw["distill"])
    if "activity" in raw:
        from had_snn.train.activity import check_activity, check_targets_layers

        raw["activity"] = check_activity(raw["activity"])
        if raw["activity"] and model != "student":
            raise ValueError(f"activity: activity regularisation applies to the spiking student (model: student), "
                             f"not to model: {model}")
        check_targets_layers(raw["activity"], raw.get("model_config", {}))
    return raw


def _check_distill(section: Any) -> dict:
    """Types of the ``distill:`` section (its consistency and the teacher file are checked when it is built)."""
    from had_snn.distill.config import DistillConfig

    if not isinstance(section, Mapping):
        raise ValueError(f"distill: expected a mapping, got {shown(section)}")
    section = dict(section)
    teacher = section.get("teacher")
    if teacher is not None and not isinstance(teacher, str):
        raise ValueError(f"distill.teacher: expected the path of a teacher checkpoint (a string), "
                         f"got {shown(teacher)}")
    rest = {k: v for k, v in section.items() if k not in ("teacher", "mode")}
    known = {f.name for f in fields(DistillConfig)}
    unknown = sorted(set(rest) - known)
    if unknown:
        raise ValueError(f"distill: unknown key(s) {unknown}; expected some of {sorted(known | {'teacher'})}")
    if "mode" in section and not isinstance(section["mode"], str):
        raise ValueError(f"distill.mode: expected a string, got {shown(section['mode'])}")
    hints = get_type_hints(DistillConfig)
    for key, value in rest.items():
        section[key] = check_value(value, hints[key], f"distill.{key}")
    return section


def config_from_dict(raw: dict, where: str = "config") -> TrainConfig:
    """Build a :class:`TrainConfig` from a plain dict, every field checked by name and type.

    Errors are ValueErrors ``WHERE: FIELD: expected ..., got VALUE (TYPE)`` naming ``where`` (the file) and the
    dotted field.
    """
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: expected a mapping of config fields, got {shown(raw)}")
    try:
        return _from_dict(TrainConfig, validate_raw(raw), where)
    except (TypeError, ValueError) as exc:
        text = str(exc)
        raise ValueError(text if text.startswith(f"{where}: ") else f"{where}: {text}") from None


def load_config(path: str | os.PathLike, overrides: dict | None = None) -> TrainConfig:
    """Read a YAML training config (optionally with top-level ``overrides``)."""
    return config_from_dict({**read_yaml(path), **(overrides or {})}, str(path))


def save_config(cfg: TrainConfig, path: str | os.PathLike) -> None:
    """Write the resolved config as YAML (atomic)."""
    write_text_atomic(path, yaml.safe_dump(cfg.to_dict(), sort_keys=False))
