"""The demo config: a YAML (``experiments/configs/demo*.yaml``) that names the training configs of the three trackers
(paths relative to the demo config) plus overrides, so the demo trains exactly what ``had-snn train`` would, and the
quantisation-aware fine-tuning of the HAD student (``train.student_had_qat.overrides``, merged onto the HAD student's
resolved config, with ``model_config.qat: true`` and ``init_from`` its checkpoint: ``had-snn train --qat --init``).

:func:`load_demo_config` reads and validates it and resolves every training config (YAML read, overrides merged with
:func:`deep_merge`, crop geometry and seed applied), so a step config holds everything that decides its result.
"""

from __future__ import annotations

import copy
import os
import warnings
from pathlib import Path
from typing import Any

CONFIG_DIR = Path(__file__).resolve().parents[2] / "experiments" / "configs"
DEFAULT_CONFIG = CONFIG_DIR / "demo.yaml"
FULL_CONFIG = CONFIG_DIR / "demo_full.yaml"
TRACKERS = ("teacher", "student", "student_had")
SECTIONS = {"seed", "data", "crop", "train", "eval", "loihi", "hardware", "report", "frontier"}
#: sections a saved config may lack (written before they existed)
OPTIONAL_SECTIONS = {"frontier"}
CROP_KEYS = {"template_px", "search_px", "student_steps"}
#: the QAT fine-tuning of student_had: the float model the Loihi network is converted from
QAT_NAME = "student_had_qat"
TRAINED = (*TRACKERS, QAT_NAME)
#: the emulated (Loihi fixed point) tracker of the QAT student, per mode
EMULATED_NAME = "student_had_loihi"
EMULATED_STREAM_NAME = "student_had_loihi_stream"
EMULATED_NAMES = {"reset": EMULATED_NAME, "stream": EMULATED_STREAM_NAME}


def deep_merge(base: dict, override: dict) -> dict:
    """Copy of ``base`` with ``override`` merged in (mappings recursively, anything else replaced)."""
    out = copy.deepcopy(base)
    for k, v in override.items():
        out[k] = deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else copy.deepcopy(v)
    return out


def _section(raw: dict, name: str, where: str) -> dict:
    value = raw.get(name, {})
    if not isinstance(value, dict):
        raise ValueError(f"{where}: '{name}' must be a mapping, got {type(value).__name__}")
    return value


def _training_config(spec: Any, name: str, crop: dict, seed: int, base_dir: Path, where: str) -> dict:
    """Read a tracker's training YAML, apply the demo's overrides and crop geometry; returns the raw config dict."""
    from had_snn.train.config import config_from_dict
    from had_snn.util.config_check import read_yaml

    if not isinstance(spec, dict) or "config" not in spec:
        raise ValueError(f"{where}: train.{name} must be a mapping with 'config' (a training YAML) and optional "
                         f"'overrides', got {spec!r}")
    unknown = sorted(set(spec) - {"config", "overrides"})
    if unknown:
        raise ValueError(f"{where}: train.{name}: unknown key(s) {unknown}; expected 'config' and 'overrides'")
    path = Path(spec["config"])
    path = path if path.is_absolute() else base_dir / path
    raw = deep_merge(read_yaml(path), spec.get("overrides") or {})
    kind = "teacher" if name == "teacher" else "student"
    if raw.get("model", kind) != kind:
        raise ValueError(f"{path}: trains model {raw['model']!r}, but the demo's {name} must be a {kind}")
    raw["model"] = kind
    raw["seed"] = seed
    raw.setdefault("model_config", {}).update(template_px=crop["template_px"], search_px=crop["search_px"])
    data = raw.setdefault("data", {})
    data["crop"] = {**data.get("crop", {}), "template_px": crop["template_px"], "search_px": crop["search_px"]}
    if kind == "student":
        data["crop"]["student_steps"] = crop["student_steps"]
    data["dir"], data["split"] = None, "train"  # set by the pipeline to the synthesised benchmark
    distill = raw.get("distill") or {}
    if name == "student_had":
        if distill.get("mode", "had") != "had":
            raise ValueError(f"{path}: train.student_had needs distill.mode had, got {distill.get('mode')!r}")
        raw["distill"] = {**distill, "mode": "had", "teacher": None}  # the pipeline's teacher checkpoint
    elif distill and distill.get("mode", "had") != "none":
        raise ValueError(f"{path}: train.{name} must not distill (distill.mode {distill.get('mode', 'had')!r})")
    else:
        raw.pop("distill", None)
    checked = {k: v for k, v in raw.items() if k != "distill"}
    config_from_dict({**checked, "data": {**data, "dir": "unset"}}, f"{path} (+ demo overrides)")
    return {"source": str(path), "config": raw}


def _qat_config(spec: Any, had: dict, where: str) -> dict:
    """The QAT fine-tuning config: the HAD student's resolved config, the overrides, ``model_config.qat: true`` and
    ``init_from`` (set by the pipeline to the HAD student's checkpoint)."""
    from had_snn.train.config import config_from_dict

    if not isinstance(spec, dict) or set(spec) - {"overrides"}:
        raise ValueError(f"{where}: train.{QAT_NAME} must be a mapping with only 'overrides' (merged onto the "
                         f"student_had config), got {spec!r}")
    overrides = spec.get("overrides") or {}
    if not isinstance(overrides, dict):
        raise ValueError(f"{where}: train.{QAT_NAME}.overrides must be a mapping, got {type(overrides).__name__}")
    raw = deep_merge(had["config"], overrides)
    raw["model_config"] = {**raw.get("model_config", {}), "qat": True}
    raw["init_from"] = None  # the pipeline's student_had checkpoint
    checked = {k: v for k, v in raw.items() if k != "distill"}
    config_from_dict({**checked, "init_from": "unset", "data": {**raw["data"], "dir": "unset"}},
                     f"{where}: train.{QAT_NAME}")
    return {"source": had["source"], "config": raw}


def _frontier_section(section: Any, where: str) -> dict | None:
    """The optional ``frontier:`` section: ``{activity_weight: W > 0, epochs: E >= 1}`` fine-tunes the QAT student
    E more QAT epochs with activity regularisation of weight W (:mod:`had_snn.train.activity`) for the report's
    compact accuracy-energy frontier; absent or null: no such step."""
    if section is None:
        return None
    if not isinstance(section, dict) or set(section) != {"activity_weight", "epochs"}:
        raise ValueError(f"{where}: frontier must be a mapping with exactly activity_weight and epochs, got "
                         f"{section!r}")
    weight, epochs = section["activity_weight"], section["epochs"]
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not weight > 0:
        raise ValueError(f"{where}: frontier.activity_weight must be a number > 0, got {weight!r}")
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"{where}: frontier.epochs must be an integer >= 1, got {epochs!r}")
    return {"activity_weight": float(weight), "epochs": epochs}


def load_demo_config(path: str | os.PathLike) -> dict:
    """Read and resolve a demo config: sections validated, training configs read and merged. Errors name the file."""
    from had_snn.util.config_check import read_yaml

    path = Path(path)
    raw = read_yaml(path, "demo config")
    unknown = sorted(set(raw) - SECTIONS)
    if unknown:
        raise ValueError(f"{path}: unknown section(s) {unknown}; expected some of {sorted(SECTIONS)}")
    where = str(path)
    seed = raw.get("seed", 0)
    if not isinstance(seed, int):
        raise ValueError(f"{where}: seed must be an integer, got {seed!r}")
    crop = _section(raw, "crop", where)
    if set(crop) != CROP_KEYS or not all(isinstance(v, int) and v > 0 for v in crop.values()):
        raise ValueError(f"{where}: crop must give positive integers for exactly {sorted(CROP_KEYS)}, got {crop}")
    data = _section(raw, "data", where)
    if not isinstance(data.get("sequences"), int) or data["sequences"] < 3:
        raise ValueError(f"{where}: data.sequences must be an integer >= 3 (one per split), got "
                         f"{data.get('sequences')!r}")
    train = _section(raw, "train", where)
    missing = [t for t in TRAINED if t not in train]
    if missing or set(train) - set(TRAINED):
        raise ValueError(f"{where}: train must define exactly {list(TRAINED)}, got {sorted(train)}")
    resolved_train = {name: _training_config(train[name], name, crop, seed, path.parent, where) for name in TRACKERS}
    resolved_train[QAT_NAME] = _qat_config(train[QAT_NAME], resolved_train["student_had"], where)
    resolved = {
        "source": str(path),
        "seed": seed,
        "data": {"sequences": data["sequences"], "split_fractions": list(data.get("split_fractions", [0.6, 0.2, 0.2])),
                 "workers": int(data.get("workers", 1)), "synth": dict(data.get("synth", {}))},
        "crop": dict(crop),
        "train": resolved_train,
        "eval": {"split": "test", "window_influence": 0.25, **_section(raw, "eval", where)},
        "loihi": {"weight_percentile": 100.0, "lava_frames": 2, "lava_timeout_s": 900, **_section(raw, "loihi", where)},
        "hardware": {"fps": 30.0, **_section(raw, "hardware", where)},
        "report": {"example_frames": 3, **_section(raw, "report", where)},
        "frontier": _frontier_section(raw.get("frontier"), where),
    }
    from had_snn.data.synthetic import SynthConfig

    try:
        SynthConfig.from_dict(resolved["data"]["synth"])
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{where}: data.synth: {exc}") from None
    return resolved


def resolve_device(requested: str) -> str:
    """``cpu``, ``cuda`` (falls back to CPU with a warning when CUDA is unavailable) or ``auto``."""
    import torch

    if requested not in ("cpu", "cuda", "auto") and not requested.startswith("cuda:"):
        raise ValueError(f"--device must be cpu, cuda, cuda:N or auto, got {requested!r}")
    if requested == "cpu":
        return "cpu"
    if torch.cuda.is_available():
        return "cuda" if requested == "auto" else requested
    if requested != "auto":
        warnings.warn(f"--device {requested}: CUDA is not available here, running on CPU", stacklevel=2)
    return "cpu"


SAVED_CONFIG_NAME = "demo_config.yaml"
RESOLVED_KEYS = SECTIONS | {"source"}


def read_saved_config(run_dir: str | os.PathLike) -> dict | None:
    """The resolved config a demo run saved in ``RUN/demo_config.yaml``; None when the folder has none.

    Raises ValueError naming the file when it is not a config written by ``had-snn demo``.
    """
    from had_snn.util.config_check import read_yaml

    path = Path(run_dir) / SAVED_CONFIG_NAME
    if not path.exists():
        return None
    cfg = read_yaml(path, "saved demo config")
    keys_ok = RESOLVED_KEYS - OPTIONAL_SECTIONS <= set(cfg) <= RESOLVED_KEYS
    if not keys_ok or set(cfg.get("train") or {}) != set(TRAINED):
        raise ValueError(f"{path}: not a resolved config written by `had-snn demo` (expected the keys "
                         f"{sorted(RESOLVED_KEYS)}, got {sorted(cfg)}); move it away or choose another run folder")
    cfg.setdefault("frontier", None)  # saved before the section existed: no frontier step
    return cfg


def _without_sources(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_sources(v) for k, v in value.items() if k != "source"}
    return value


def config_differences(saved: dict, new: dict, limit: int = 6) -> list[str]:
    """Dotted paths where two resolved demo configs differ (``source`` paths ignored: only what decides results)."""
    out: list[str] = []

    def walk(a: Any, b: Any, where: str) -> None:
        if isinstance(a, dict) and isinstance(b, dict):
            for k in sorted(set(a) | set(b), key=str):
                walk(a.get(k, "<absent>"), b.get(k, "<absent>"), f"{where}.{k}" if where else str(k))
        elif a != b and not (isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)) and list(a) == list(b)):
            out.append(f"{where} ({a!r} -> {b!r})")

    walk(_without_sources(saved), _without_sources(new), "")
    return out[:limit] if len(out) <= limit else out[:limit] + [f"... {len(out) - limit} more"]
