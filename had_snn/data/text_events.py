"""Event text files (``.txt``, ``.csv``): integer rows, columns by header name or as ``x y t p``, ``#`` comments and
an optional ``# sensor_size W H`` line; read by :func:`had_snn.data.io.read_events` like every other format."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np

from had_snn.data.events import EVENT_FIELDS, events_from_columns, validate_events
from had_snn.data.sequence import check_sensor_size

_SENSOR_LINE = re.compile(r"^\s*#\s*sensor_size\b\s*[:=]?\s*(.*)$", re.IGNORECASE)

TEXT_COLUMN_NAMES = {"x": "x", "y": "y", "t": "t", "ts": "t", "time": "t", "timestamp": "t",
                     "p": "p", "pol": "p", "polarity": "p"}
#: Time units a header may give for the t column (``t_us``, ``timestamp_ns``, ``t[ms]``, ``t (us)``): divisor and
#: multiplier to integer microseconds. A t column without a unit is in microseconds.
TEXT_TIME_UNITS = {"us": (1, 1), "µs": (1, 1), "μs": (1, 1), "ns": (1000, 1), "ms": (1, 1000)}
_UNIT_RE = r"us|µs|μs|ns|ms|s"
_COLUMN_TOKEN = re.compile(rf"([a-z]+)(?:_({_UNIT_RE})|\[({_UNIT_RE})\]|\(({_UNIT_RE})\))?", re.IGNORECASE)
_EXPECTED_HEADER = ("x, y, t (or ts/time/timestamp, unit suffix _us/_ns/_ms, default us) and p (or pol/polarity), "
                    "each once, in any order, e.g. 't,x,y,p'")


def _column_tokens(text: str) -> list[str]:
    """A header line's column names: separators are commas, semicolons or whitespace; ``t (us)`` is one name."""
    text = re.sub(rf"\s+([(\[](?:{_UNIT_RE})[)\]])", r"\1", text, flags=re.IGNORECASE)
    return [tok.strip("'\"") for tok in re.split(r"[,;\s]+", text.strip()) if tok.strip("'\"")]


def _column_name(token: str) -> tuple[str, str | None] | None:
    """``(field, unit)`` of a header token, or None when it is not a known column name."""
    m = _COLUMN_TOKEN.fullmatch(token)
    if not m or m.group(1).lower() not in TEXT_COLUMN_NAMES:
        return None
    unit = next((u for u in m.groups()[1:] if u), None)
    return TEXT_COLUMN_NAMES[m.group(1).lower()], unit.lower() if unit else None


def _parse_header(path: Path, lineno: int, tokens: list[str]) -> tuple[tuple[str, ...], str]:
    """Field order and time unit of a header; anything but x, y, t, p once each (t with a known unit) is an error."""
    names = [_column_name(tok) for tok in tokens]
    fields = tuple(n[0] for n in names if n)
    if None in names or sorted(fields) != sorted(EVENT_FIELDS):
        raise ValueError(f"{path}:{lineno}: header names columns {tokens}; expected {_EXPECTED_HEADER}")
    units = [n[1] for n in names if n and n[1]]
    if any(n[1] and n[0] != "t" for n in names):
        raise ValueError(f"{path}:{lineno}: header {tokens}: only the t column takes a unit")
    unit = units[0] if units else "us"
    if unit not in TEXT_TIME_UNITS:
        raise ValueError(f"{path}:{lineno}: header {tokens}: time unit {unit!r} is not supported; expected integer "
                         f"times in us, ns or ms")
    return fields, unit


def _sensor_line_size(path: Path, lineno: int, text: str) -> tuple[int, int]:
    """``(W, H)`` of a ``# sensor_size W H`` line (``W H``, ``W,H`` or ``WxH``); anything else is an error."""
    parts = [p for p in re.split(r"[\s,x]+", text.strip()) if p]
    where = f"{path}:{lineno}: '# sensor_size' line"
    if len(parts) != 2 or not all(re.fullmatch(r"[-+]?\d+", p) for p in parts):
        raise ValueError(f"{where}: {text.strip()!r} is not two integers (W, H) px; expected e.g. "
                         f"'# sensor_size 640 480'")
    return check_sensor_size((int(parts[0]), int(parts[1])), where)


def _text_layout(path: Path) -> tuple[int, str | None, tuple[tuple[str, ...], str, int] | None, tuple[int, int] | None]:
    """Lines to skip, delimiter, header ``(fields, unit, line)`` or None, and the ``# sensor_size`` of a text file.

    A non-comment line before the data that does not start with a number is a header and must name the columns. A
    ``#`` comment line whose first three or more words are column names (``# t x y p``, or the ``# x,y,t,p (t in
    microseconds)`` line :func:`write_events` writes) is a header too; other comments are skipped. Two headers that
    disagree are an error.
    """
    size = None
    skip = 0
    delimiter = None
    headers: list[tuple[tuple[str, ...], str, int]] = []
    with open(path, encoding="utf-8-sig", errors="replace") as fh:  # -sig: a BOM before the header
        for lineno, line in enumerate(fh, start=1):
            stripped = line.strip()
            m = _SENSOR_LINE.match(stripped)
            if m:
                size = _sensor_line_size(path, lineno, m.group(1))
            if stripped.startswith("#") and not m:
                tokens = _column_tokens(stripped.lstrip("#"))
                lead = []
                for tok in tokens:
                    if _column_name(tok) is None:
                        break
                    lead.append(tok)
                if len(lead) >= 3:
                    headers.append((*_parse_header(path, lineno, lead), lineno))
            if not stripped or stripped.startswith("#"):
                skip += 1
                continue
            if not re.match(r"^[-+\d]", stripped):  # a column-name header such as "t,x,y,p"
                headers.append((*_parse_header(path, lineno, _column_tokens(stripped)), lineno))
                skip += 1
                continue
            delimiter = next((d for d in ",;" if d in stripped), None)
            break
    if len({h[:2] for h in headers}) > 1:
        described = "; ".join(f"line {h[2]}: {','.join(h[0])} (t in {h[1]})" for h in headers)
        raise ValueError(f"{path}: column headers disagree ({described}); keep one")
    return skip, delimiter, headers[-1] if headers else None, size


def read_text_events(path: Path) -> tuple[np.ndarray, tuple[int, int] | None]:
    """Parse integer event rows of a ``.txt``/``.csv`` file; returns ``(events, sensor size or None)``.

    Columns are read by name when the file has a header (see :func:`_text_layout`; names in
    :data:`TEXT_COLUMN_NAMES`, the t unit from the name, :data:`TEXT_TIME_UNITS`), else by position as ``x y t p``
    with t in microseconds. ``#`` lines are comments; ``# sensor_size W H`` gives the sensor size.
    """
    skip, delimiter, header, size = _text_layout(path)
    fields, unit = (header[0], header[1]) if header else (EVENT_FIELDS, "us")
    order = " ".join(fields)
    try:
        with warnings.catch_warnings():  # an empty file is reported below, not as numpy's "no data" warning
            warnings.simplefilter("ignore", UserWarning)
            data = np.loadtxt(path, dtype=np.int64, delimiter=delimiter, comments="#", skiprows=skip, ndmin=2)
    except ValueError as exc:
        raise ValueError(f"{path}: expected integer columns '{order}' (t in {unit}): {exc}") from None
    if data.size == 0:
        raise ValueError(f"{path}: no event rows (the file is empty or holds only comments); expected integer "
                         f"columns '{order}'")
    if data.shape[1] != 4:
        raise ValueError(f"{path}: expected 4 columns '{order}', found {data.shape[1]}")
    cols = {n: data[:, k] for k, n in enumerate(fields)}
    divisor, factor = TEXT_TIME_UNITS[unit]
    if factor != 1 and np.abs(cols["t"]).max() > np.iinfo(np.int64).max // factor:
        raise ValueError(f"{path}: column t (in {unit}) holds times too large for int64 microseconds")
    cols["t"] = cols["t"] // divisor * factor
    ev = events_from_columns(cols, path, "column '{}'")
    try:
        validate_events(ev, None, source=str(path))
    except ValueError as exc:
        if header:
            raise
        raise ValueError(f"{exc} (no header line: columns were read by position as x y t p, t in us; if the file "
                         f"has another order, add a header line naming the columns, e.g. 't,x,y,p')") from None
    return ev, size
