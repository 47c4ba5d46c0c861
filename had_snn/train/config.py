"""Training configuration: YAML files mapped onto dataclasses, validated with errors naming the file and field."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import yaml

from had_snn.tracking.config import CropConfig
from had_snn.util.atomic import write_text_atomic

MODEL_KINDS = ("teacher", "teacher_rgb", "teacher_events", "student")


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
    crop: dict = field(default_factory=dict)

    def crop_config(self) -> CropConfig:
        return CropConfig(**self.crop)


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

    def to_dict(self) -> dict:
        return asdict(self)


def _from_dict(cls: type, raw: dict, where: str):
    if not isinstance(raw, dict):
        raise ValueError(f"{where} must be a mapping, got {type(raw).__name__}")
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {unknown}; expected some of {sorted(known)}")
    return cls(**raw)


def config_from_dict(raw: dict, where: str = "config") -> TrainConfig:
    """Build a :class:`TrainConfig` from a plain dict; errors name ``where`` and the field."""
    try:
        return _from_dict(TrainConfig, raw, where)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{where}: {exc}") from None


def read_yaml(path: str | os.PathLike, what: str = "training config") -> dict:
    """Read a YAML mapping; FileNotFoundError / ValueError name the file (``what`` says what kind of file it is)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} {path} does not exist")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: expected a mapping of config fields, got {type(raw).__name__}")
    return raw


def load_config(path: str | os.PathLike, overrides: dict | None = None) -> TrainConfig:
    """Read a YAML training config (optionally with top-level ``overrides``)."""
    return config_from_dict({**read_yaml(path), **(overrides or {})}, str(path))


def save_config(cfg: TrainConfig, path: str | os.PathLike) -> None:
    """Write the resolved config as YAML (atomic)."""
    write_text_atomic(path, yaml.safe_dump(cfg.to_dict(), sort_keys=False))
