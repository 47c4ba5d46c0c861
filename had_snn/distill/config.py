"""Configuration of the HAD distillation losses, mapped from the ``distill:`` section of a YAML config.

Kept free of torch so configs can be read, validated and written anywhere (CLI, experiment scripts).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_type_hints

from had_snn.util.config_check import check_value

MODES = ("had", "vanilla_kd", "none", "hdetrack", "had_authors")
BALANCES = ("none", "running")
TEACHER_NORMS = ("none", "channel")
AUTHORS_OT_COSTS = ("released", "position")
RESPONSE_LOSSES = ("kl", "focal_mse")


@dataclass
class DistillConfig:
    """Switches and hyper-parameters of the distillation loss (see docs/distillation.md for the equations).

    ``mode``: ``"had"`` uses the switches below; ``"vanilla_kd"`` is the classic baseline on the same code path
    (mean over T, resize + projected feature MSE, response KL) whatever the switches say; ``"none"`` adds nothing;
    ``"hdetrack"`` is HDETrack-style hierarchical KD (per-stage projected feature MSE + pairwise token-similarity
    matrices at the last stage + focal response, weights ``hdetrack_*``; see ``had_snn.distill.hdetrack``);
    ``"had_authors"`` is the authors' released HAD objective (the HDETrack terms + token-sequence GRU alignment
    L_TA + Sinkhorn L_OT on softened response maps, weights ``authors_*``; see ``had_snn.distill.authors``).
    The ablation switches (``temporal``, ``spatial``, ``response``) apply to mode ``"had"`` only.
    """

    mode: str = "had"
    stages: list[str] = field(default_factory=lambda: ["stage1", "stage2", "stage3"])
    stage_weights: list[float] = field(default_factory=lambda: [1.0, 1.0, 1.0])
    feature_weight: float = 1.0
    response_weight: float = 1.0
    # Ablation switches (mode "had" only).
    temporal: bool = True  # residual ConvGRU fold over T; False: mean over T
    spatial: bool = True  # entropic OT between token sets; False: resize + MSE
    response: bool = True
    # Temporal adapter.
    gru_kernel_size: int = 3
    # Spatial alignment (entropic OT).
    ot_epsilon: float = 0.05
    ot_iterations: int = 50
    ot_feature_cost_weight: float = 1.0
    ot_position_cost_weight: float = 0.5
    ot_max_grid: int = 16  # maps larger than this are average-pooled to at most ot_max_grid x ot_max_grid tokens
    ot_differentiate_plan: bool = False  # False: plan computed without autograd (envelope gradient, less memory)
    # Response distillation.
    response_loss: str = "kl"
    temperature: float = 2.0
    focal_alpha: float = 4.0
    focal_gamma: float = 2.0
    # Loss balancing and diagnostics (all modes that distil; applied by TermCombiner and the training loop).
    balance: str = "none"  # "running": each weighted term divided by a detached EMA of its own magnitude
    balance_momentum: float = 0.99  # EMA momentum of the running magnitudes, in [0, 1)
    warmup_steps: int = 0  # distillation weight ramps linearly 0 -> 1 over this many training steps (0: off)
    teacher_norm: str = "none"  # "channel": teacher maps standardised per channel over space before alignment
    adapter_lr_scale: float = 1.0  # learning rate of the distillation adapters relative to the student's
    diagnostics_every: int = 0  # 0: gradient/OT diagnostics on each epoch's first batch; N > 0: every N steps
    # HDETrack-style KD (mode "hdetrack", and the HDETrack terms of mode "had_authors").
    hdetrack_feature_weight: float = 1.0  # per-stage projected feature MSE
    hdetrack_similarity_weight: float = 10.0  # L2 between token cosine-similarity matrices (last stage)
    hdetrack_response_weight: float = 1.0  # focal loss of the student map against the softened teacher map
    # The authors' released HAD objective (mode "had_authors").
    authors_ot_weight: float = 3.0  # Sinkhorn distance between softmax(response / 2) maps
    authors_ta_weight: float = 10.0  # MSE between last GRU hidden states over the token sequences
    authors_train_gru: bool = False  # as released: False, the token GRUs stay at their seeded random init
    authors_ot_epsilon: float = 0.01  # entropic regularisation
    authors_ot_iterations: int = 100
    # "released": as the released code runs it, each softened map is ONE point (its H*W probabilities), so L_OT is
    # the Euclidean distance between the two maps; "position": the maps as distributions over pixel positions,
    # cost = distance between pixel centres in [0, 1]^2 (see had_snn.distill.authors).
    authors_ot_cost: str = "released"

    def __post_init__(self) -> None:
        self._check_types()
        self.stages = list(self.stages)
        self.stage_weights = [float(w) for w in self.stage_weights]
        self.validate()

    def _check_types(self) -> None:
        """Each field against its type hint (:func:`had_snn.util.config_check.check_value`: booleans are not numbers,
        an integer is fine where a float is expected, numbers must be finite); the error names the field
        (``distill.stage_weights[1]``), the value and what was expected."""
        hints = get_type_hints(type(self))
        for f in dataclasses.fields(self):
            setattr(self, f.name, check_value(getattr(self, f.name), hints[f.name], f"distill.{f.name}"))

    def validate(self) -> None:
        """Raise ValueError naming the field and the expected value when the config is inconsistent."""
        if self.mode not in MODES:
            raise ValueError(f"distill.mode: expected one of {MODES}, got {self.mode!r}")
        if self.balance not in BALANCES:
            raise ValueError(f'distill.balance: expected "none" or "running", got {self.balance!r}')
        if self.teacher_norm not in TEACHER_NORMS:
            raise ValueError(f'distill.teacher_norm: expected "none" or "channel", got {self.teacher_norm!r}')
        if not 0.0 <= self.balance_momentum < 1.0:
            raise ValueError(f"distill.balance_momentum: expected a number in [0, 1), got {self.balance_momentum}")
        for name in ("warmup_steps", "diagnostics_every"):
            if getattr(self, name) < 0:
                raise ValueError(f"distill.{name}: expected an integer >= 0, got {getattr(self, name)}")
        if not self.adapter_lr_scale > 0:
            raise ValueError(f"distill.adapter_lr_scale: expected > 0, got {self.adapter_lr_scale}")
        if self.authors_ot_cost not in AUTHORS_OT_COSTS:
            raise ValueError(f'distill.authors_ot_cost: expected "released" or "position", '
                             f'got {self.authors_ot_cost!r}')
        if self.response_loss not in RESPONSE_LOSSES:
            raise ValueError(f"distill.response_loss: expected one of {RESPONSE_LOSSES}, got {self.response_loss!r}")
        if self.mode != "none" and not self.stages:
            raise ValueError("distill.stages: expected at least one stage name, got an empty list")
        if len(set(self.stages)) != len(self.stages):
            raise ValueError(f"distill.stages: expected distinct names, got {self.stages}")
        if len(self.stage_weights) != len(self.stages):
            raise ValueError(
                f"distill.stage_weights: expected one weight per stage ({len(self.stages)}), "
                f"got {len(self.stage_weights)}"
            )
        positive = {"ot_epsilon": self.ot_epsilon, "temperature": self.temperature,
                    "authors_ot_epsilon": self.authors_ot_epsilon}
        for name, value in positive.items():
            if not value > 0:
                raise ValueError(f"distill.{name}: expected > 0, got {value}")
        non_negative = {
            "feature_weight": self.feature_weight,
            "response_weight": self.response_weight,
            "ot_feature_cost_weight": self.ot_feature_cost_weight,
            "ot_position_cost_weight": self.ot_position_cost_weight,
            "focal_alpha": self.focal_alpha,
            "focal_gamma": self.focal_gamma,
            "hdetrack_feature_weight": self.hdetrack_feature_weight,
            "hdetrack_similarity_weight": self.hdetrack_similarity_weight,
            "hdetrack_response_weight": self.hdetrack_response_weight,
            "authors_ot_weight": self.authors_ot_weight,
            "authors_ta_weight": self.authors_ta_weight,
            **{f"stage_weights[{i}]": w for i, w in enumerate(self.stage_weights)},
        }
        for name, value in non_negative.items():
            if value < 0:
                raise ValueError(f"distill.{name}: expected >= 0, got {value}")
        if self.ot_iterations < 1 or self.ot_max_grid < 1:
            raise ValueError("distill.ot_iterations and distill.ot_max_grid: expected >= 1")
        if self.authors_ot_iterations < 1:
            raise ValueError(f"distill.authors_ot_iterations: expected >= 1, got {self.authors_ot_iterations}")
        if self.gru_kernel_size < 1 or self.gru_kernel_size % 2 == 0:
            raise ValueError(f"distill.gru_kernel_size: expected an odd size >= 1, got {self.gru_kernel_size}")

    # Effective switches: vanilla KD and "none" override the ablation switches.
    @property
    def use_gru(self) -> bool:
        return self.mode == "had" and self.temporal

    @property
    def use_ot(self) -> bool:
        return self.mode == "had" and self.spatial

    @property
    def use_response(self) -> bool:
        return self.mode == "vanilla_kd" or (self.mode == "had" and self.response)

    @property
    def active_stages(self) -> list[tuple[str, float]]:
        """(stage, weight) pairs that contribute a feature term."""
        return [] if self.mode == "none" else list(zip(self.stages, self.stage_weights, strict=True))

    @property
    def effective_response_loss(self) -> str:
        return "kl" if self.mode == "vanilla_kd" else self.response_loss

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None, source: str = "distill") -> DistillConfig:
        """Build from a mapping (the ``distill:`` section); unknown keys and bad values raise ValueError naming
        ``source`` (e.g. ``run.yaml: distill`` gives ``run.yaml: distill.mode: expected ...``)."""
        data = dict(data or {})
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"{source}: unknown key(s) {unknown}; expected some of {sorted(known)}")
        try:
            return cls(**data)
        except ValueError as exc:  # name the file: "run.yaml: distill.mode: ..."
            text = str(exc)
            if source != "distill" and source.endswith("distill") and text.startswith("distill"):
                raise ValueError(source[: -len("distill")] + text) from None
            raise

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def load_distill_config(path: str | Path) -> DistillConfig:
    """Read the ``distill:`` section of a YAML file (missing section: defaults)."""
    from had_snn.util.config_check import read_yaml

    doc = read_yaml(path, "distill config")
    section = doc.get("distill", {})
    if not isinstance(section, dict):
        raise ValueError(f"{path}: 'distill' must be a mapping, got {type(section).__name__}")
    return DistillConfig.from_dict(section, source=f"{path}: distill")
