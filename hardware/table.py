"""The hardware table: every cited figure the energy models and the core mapping use (default: ``energy_table.yaml``
next to this module); every figure read is remembered so reports can cite exactly the figures they used."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources as importlib_resources
from pathlib import Path
from typing import Any

import yaml

DEFAULT_TABLE = "energy_table.yaml"


@dataclass(frozen=True)
class Figure:
    """One cited number of the hardware table."""

    key: str
    value: float | None
    unit: str
    source: str
    citation: str
    uncertain: bool = False
    note: str = ""


class HardwareTable:
    """A loaded hardware table; :meth:`value` reads a figure and records it as used."""

    def __init__(self, data: dict[str, Any], path: str) -> None:
        if not isinstance(data, dict) or not isinstance(data.get("sources"), dict):
            raise ValueError(f"{path}: hardware table must be a mapping with a 'sources' mapping of citations")
        self.data = data
        self.path = path
        self.used: dict[str, Figure] = {}

    def figure(self, *keys: str) -> Figure:
        node: Any = self.data
        for i, k in enumerate(keys):
            if not isinstance(node, dict) or k not in node:
                raise ValueError(f"{self.path}: missing figure {'.'.join(keys[: i + 1])}")
            node = node[k]
        key = ".".join(keys)
        if not isinstance(node, dict) or "value" not in node or "source" not in node:
            raise ValueError(f"{self.path}: figure {key} must be a mapping with 'value' and 'source'")
        value = node["value"]
        if value is not None and (not isinstance(value, (int, float)) or value < 0):
            raise ValueError(f"{self.path}: figure {key} value must be a non-negative number or null, got {value!r}")
        source = str(node["source"])
        if source not in self.data["sources"]:
            raise ValueError(f"{self.path}: figure {key} cites unknown source {source!r}")
        fig = Figure(
            key=key, value=None if value is None else float(value), unit=str(node.get("unit", "")), source=source,
            citation=" ".join(str(self.data["sources"][source]).split()), uncertain=bool(node.get("uncertain", False)),
            note=" ".join(str(node.get("note", "")).split()),
        )
        self.used[key] = fig
        return fig

    def value(self, *keys: str) -> float | None:
        """The value of a figure (None when the table marks it unpublished)."""
        return self.figure(*keys).value

    def required(self, *keys: str) -> float:
        v = self.value(*keys)
        if v is None:
            raise ValueError(f"{self.path}: figure {'.'.join(keys)} is null but the model needs a number")
        return v


def load_table(path: str | Path | None = None) -> HardwareTable:
    """Load a hardware table from ``path`` or the packaged default."""
    if path is None:
        text = importlib_resources.files("had_snn.hardware").joinpath(DEFAULT_TABLE).read_text()
        where = f"had_snn.hardware/{DEFAULT_TABLE}"
    else:
        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"hardware table not found: {p}")
        text, where = p.read_text(), str(p)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValueError(f"{where}: not valid YAML ({exc})") from exc
    return HardwareTable(data, where)
