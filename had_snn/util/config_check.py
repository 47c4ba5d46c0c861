"""Checks of raw config values against dataclass fields: type hints, ranges and unknown keys, with errors that name the
dotted field (``model_config.widths[1]``), the value and what was expected, and the one YAML reader
(:func:`read_yaml`). Every config reader calls these."""

from __future__ import annotations

import math
import os
import re
import types
from collections.abc import Mapping
from dataclasses import fields, is_dataclass
from typing import Any, Union, get_args, get_origin, get_type_hints

import yaml

from had_snn.util.paths import existing_file

# PyYAML (YAML 1.1) reads 1e-3 (no dot) as a string: such strings are accepted as numbers where a float belongs.
_YAML11_FLOAT = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+$")


def shown(value: Any) -> str:
    """``value`` as a config error shows it: its repr and its YAML-level type."""
    kind = {bool: "a boolean", int: "an integer", float: "a decimal number", str: "a string", list: "a list",
            dict: "a mapping", type(None): "null"}.get(type(value), type(value).__name__)
    return f"{value!r} ({kind})"


def describe(hint: Any) -> str:
    if hint is bool:
        return "true or false"
    if hint is int:
        return "an integer"
    if hint is float:
        return "a number"
    if hint is str:
        return "a string"
    if hint is dict or get_origin(hint) is dict:
        return "a mapping"
    origin, args = get_origin(hint), get_args(hint)
    if origin in (Union, types.UnionType):
        return " or ".join("null" if a is type(None) else describe(a) for a in args)
    if origin in (tuple, list):
        item = describe(args[0]).removeprefix("an ").removeprefix("a ")
        n = f"{len(args)} " if origin is tuple and Ellipsis not in args else ""
        return f"a list of {n}{item}s"
    return getattr(hint, "__name__", str(hint))


def check_value(value: Any, hint: Any, name: str) -> Any:
    """Check one raw config value against a field's type hint; returns it (YAML 1.1 exponent strings as floats).

    Booleans are not integers; an integer is fine where a number is expected; numbers must be finite. ValueError
    names the dotted field (``model_config.widths[1]``), the value and what was expected.
    """
    def bad() -> ValueError:
        return ValueError(f"{name}: expected {describe(hint)}, got {shown(value)}")

    origin, args = get_origin(hint), get_args(hint)
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return value
        others = [a for a in args if a is not type(None)]
        if len(others) == 1:
            try:
                return check_value(value, others[0], name)
            except ValueError:
                raise bad() from None
        raise bad()
    if hint is bool:
        if not isinstance(value, bool):
            raise bad()
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad()
        return value
    if hint is float:
        if isinstance(value, str) and _YAML11_FLOAT.match(value.strip()):
            value = float(value)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad()
        if not math.isfinite(value):
            raise ValueError(f"{name}: expected a finite number, got {value!r}")
        return value
    if hint is str:
        if not isinstance(value, str):
            raise bad()
        return value
    if hint is dict or origin is dict:
        if not isinstance(value, dict):
            raise bad()
        return value
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise bad()
        if origin is tuple and Ellipsis not in args and len(value) != len(args):
            raise ValueError(f"{name}: expected {describe(hint)}, got {len(value)} value(s): {value!r}")
        item = args[0]
        return type(value)(check_value(v, item, f"{name}[{i}]") for i, v in enumerate(value))
    return value


def check_range(value: Any, rng: tuple[float, bool, float | None], name: str) -> None:
    low, inclusive, high = rng
    items = value if isinstance(value, (list, tuple)) else [value]
    for i, v in enumerate(items):
        field_name = f"{name}[{i}]" if isinstance(value, (list, tuple)) else name
        too_low = v < low if inclusive else v <= low
        if too_low or (high is not None and v > high):
            want = f"{'>=' if inclusive else '>'} {low}" + (f" and <= {high}" if high is not None else "")
            raise ValueError(f"{field_name}: expected a value {want}, got {v!r}")


def check_known(cls: type, raw: Mapping, prefix: str) -> None:
    """ValueError naming the unknown keys of ``raw`` (and the known ones) for dataclass ``cls``."""
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ValueError(f"{prefix + ': ' if prefix else ''}unknown field(s) {unknown}; expected some of "
                         f"{sorted(known)}")


def check_fields(cls: type, raw: Mapping, prefix: str, ranges: Mapping[str, tuple] | None = None,
                 positive_ints: bool = False, int_high: int | None = None) -> dict:
    """Check a raw mapping against dataclass ``cls``: a mapping, known field names, each value's type and range.

    ``prefix`` is the dotted name of the mapping (``data.crop``); ``ranges`` maps field names to (lowest, lowest
    allowed?, highest); ``positive_ints`` requires every integer field (and integer list item) to be in
    ``[1, int_high]``. Returns a copy with YAML 1.1 exponent strings turned into floats.
    """
    label = f"{prefix}: " if prefix else ""
    if not isinstance(raw, Mapping):
        raise ValueError(f"{label}expected a mapping of {cls.__name__} fields, got {shown(raw)}")
    check_known(cls, raw, prefix)
    hints = get_type_hints(cls)
    out = dict(raw)
    for key, value in raw.items():
        name = f"{prefix}.{key}" if prefix else key
        hint = hints[key]
        if is_dataclass(hint):
            continue  # nested sections are checked by their own call
        out[key] = value = check_value(value, hint, name)
        if ranges and key in ranges and value is not None:
            check_range(value, ranges[key], name)
        elif positive_ints and (hint is int or int in get_args(hint)):
            check_range(value, (1, True, int_high), name)
    return out


def read_yaml(path: str | os.PathLike, what: str = "training config") -> dict:
    """Read a YAML mapping; FileNotFoundError / ValueError name the file (``what`` says what kind of file it is)."""
    path = existing_file(path, f"a YAML {what}")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not a text file; expected a YAML {what}") from None
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML ({' '.join(str(exc).split())})") from None
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: expected a mapping of config fields, got {type(raw).__name__}")
    return raw
