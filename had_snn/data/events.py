"""Event arrays: the structured event dtype (README.md "Formats") and the small EventStream API.

Events are a numpy structured array with fields ``x:u2, y:u2, t:i8 (microseconds), p:i1 (0/1)``, sorted by ``t``
(the same field names as tonic, so tonic transforms apply). The functions here never copy when a view will do:
:func:`time_window` returns a slice of its input.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

EVENT_DTYPE = np.dtype([("x", "<u2"), ("y", "<u2"), ("t", "<i8"), ("p", "i1")])
EVENT_FIELDS = EVENT_DTYPE.names  # ("x", "y", "t", "p")


def make_events(x, y, t_us, p) -> np.ndarray:
    """Build an event array (EVENT_DTYPE) from four equal-length sequences; no sorting or validation."""
    n = len(t_us)
    ev = np.empty(n, dtype=EVENT_DTYPE)
    ev["x"], ev["y"], ev["t"], ev["p"] = x, y, t_us, p
    return ev


def _where(source: str) -> str:
    return f"{source}: " if source else ""


def validate_events(ev: np.ndarray, sensor_size: tuple[int, int] | None = None, source: str = "") -> np.ndarray:
    """Check an event array against the conventions and return it unchanged.

    Checks: dtype is :data:`EVENT_DTYPE`, ``t`` non-decreasing, ``p`` in {0, 1} and, when ``sensor_size=(W, H)`` is
    given, ``x < W`` and ``y < H``. Raises ValueError naming ``source`` (a file name or description), the field and
    the first offending row.
    """
    where = _where(source)
    if not isinstance(ev, np.ndarray) or ev.dtype != EVENT_DTYPE:
        got = ev.dtype if isinstance(ev, np.ndarray) else type(ev).__name__
        raise ValueError(f"{where}events must have dtype {EVENT_DTYPE}, got {got}")
    if ev.ndim != 1:
        raise ValueError(f"{where}events must be 1-D, got shape {ev.shape}")
    if len(ev) == 0:
        return ev
    t = ev["t"]
    bad = np.flatnonzero(t[1:] < t[:-1])
    if bad.size:
        i = int(bad[0]) + 1
        raise ValueError(f"{where}field 't' not sorted: row {i} has t={t[i]} us < previous t={t[i - 1]} us")
    bad = np.flatnonzero((ev["p"] != 0) & (ev["p"] != 1))
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"{where}field 'p' must be 0 or 1: row {i} has p={ev['p'][i]}")
    if sensor_size is not None:
        for field, limit, axis in (("x", int(sensor_size[0]), "width"), ("y", int(sensor_size[1]), "height")):
            bad = np.flatnonzero(ev[field] >= limit)
            if bad.size:
                i = int(bad[0])
                raise ValueError(
                    f"{where}field '{field}' out of bounds: row {i} has {field}={ev[field][i]} "
                    f">= sensor {axis} {limit}"
                )
    return ev


#: Longest silence between two consecutive events accepted in a recording (us): 10 min. A wrong wrap of a 32-bit
#: microsecond counter adds 71.6 min, a corrupt timestamp usually more; a live sensor's noise never pauses that long.
MAX_EVENT_GAP_US = 600_000_000


def check_event_gaps(ev: np.ndarray, source: str = "") -> None:
    """ValueError naming ``source`` and the row when two consecutive events lie more than MAX_EVENT_GAP_US apart."""
    if len(ev) < 2:
        return
    gaps = np.diff(ev["t"])
    i = int(np.argmax(gaps))
    if gaps[i] > MAX_EVENT_GAP_US:
        raise ValueError(f"{_where(source)}field 't' jumps by {gaps[i] / 60e6:.1f} min between rows {i} and {i + 1} "
                         f"(t = {int(ev['t'][i])} -> {int(ev['t'][i + 1])} us): a corrupt timestamp or a wrong counter "
                         f"wrap; events more than {MAX_EVENT_GAP_US / 60e6:.0f} min apart are refused")


def events_from_columns(cols: dict[str, np.ndarray], path: object, what: str) -> np.ndarray:
    """EVENT_DTYPE array from integer columns ``x, y, t, p``; values that would not survive the cast are a ValueError
    naming ``path`` and the column (``what`` formatted with its name)."""
    t = np.asarray(cols["t"])
    if t.dtype.kind == "u" and t.size and int(t.max()) > np.iinfo(np.int64).max:
        i = int(np.argmax(t > np.iinfo(np.int64).max))
        raise ValueError(f"{path}: {what.format('t')} row {i} holds {int(t[i])}, beyond int64 microseconds (2^63 - 1): "
                         "a corrupt timestamp")
    ev = make_events(*(cols[n] for n in EVENT_FIELDS))
    for n in ("x", "y", "p"):
        if not np.array_equal(ev[n], cols[n]):
            i = int(np.flatnonzero(ev[n] != cols[n])[0])
            raise ValueError(f"{path}: {what.format(n)} row {i} holds {cols[n][i]}, outside {EVENT_DTYPE[n]}")
    return ev


def search_t(ev: np.ndarray, t_us) -> np.ndarray:
    """Index of the first event with ``t >= t_us`` for each value (``np.searchsorted(ev["t"], t_us, "left")``).

    ``ev["t"]`` is a strided, unaligned view of the packed records, which ``np.searchsorted`` would first copy
    (8 bytes per event); for a few query times a Python binary search on the view is thousands of times cheaper.
    """
    values = np.atleast_1d(np.asarray(t_us, dtype=np.int64))
    t = ev["t"]
    if len(values) > 64 or (t.flags.c_contiguous and t.flags.aligned):
        return np.searchsorted(t, values, side="left")
    return np.array([bisect.bisect_left(t, int(v)) for v in values], dtype=np.intp)


def time_window(ev: np.ndarray, t0_us: int, t1_us: int) -> np.ndarray:
    """Events with ``t0_us <= t < t1_us`` (half-open), found by binary search; returns a view, no copy."""
    lo, hi = search_t(ev, [t0_us, t1_us])
    return ev[lo:max(lo, hi)]


def crop_events(ev: np.ndarray, x0: int, y0: int, w: int, h: int) -> np.ndarray:
    """Events inside the pixel rectangle ``[x0, x0+w) x [y0, y0+h)``, coordinates shifted to the crop origin.

    ``x0``/``y0`` may be negative or the rectangle may extend past the sensor; only events inside it are kept.
    Returns a new array (time order is preserved).
    """
    x = ev["x"].astype(np.int64)
    y = ev["y"].astype(np.int64)
    keep = (x >= x0) & (x < x0 + w) & (y >= y0) & (y < y0 + h)
    out = ev[keep]
    out["x"] = x[keep] - x0
    out["y"] = y[keep] - y0
    return out


def concat_events(parts: Iterable[np.ndarray]) -> np.ndarray:
    """Merge sorted event arrays into one array sorted by ``t``; stable (ties keep the order of ``parts``)."""
    parts = [np.asarray(p) for p in parts]
    for i, p in enumerate(parts):
        if p.dtype != EVENT_DTYPE:
            raise ValueError(f"concat_events: part {i} has dtype {p.dtype}, expected {EVENT_DTYPE}")
    if not parts:
        return np.empty(0, dtype=EVENT_DTYPE)
    ev = np.concatenate(parts)
    order = np.argsort(ev["t"], kind="stable")
    return ev[order]


@dataclass
class EventStream:
    """Events plus the sensor they came from: a thin wrapper over the functions of this module.

    Attributes:
        events: EVENT_DTYPE array sorted by ``t``.
        sensor_size: ``(width_px, height_px)``.
    """

    events: np.ndarray
    sensor_size: tuple[int, int]

    def __post_init__(self) -> None:
        self.sensor_size = (int(self.sensor_size[0]), int(self.sensor_size[1]))
        validate_events(self.events, self.sensor_size, source="EventStream")

    def __len__(self) -> int:
        return len(self.events)

    @property
    def t_span_us(self) -> tuple[int, int]:
        """First and last timestamp (microseconds); ``(0, 0)`` when empty."""
        if len(self.events) == 0:
            return (0, 0)
        return int(self.events["t"][0]), int(self.events["t"][-1])

    def window(self, t0_us: int, t1_us: int) -> EventStream:
        """Events with ``t0_us <= t < t1_us`` (a view)."""
        return EventStream(time_window(self.events, t0_us, t1_us), self.sensor_size)

    def crop(self, x0: int, y0: int, w: int, h: int) -> EventStream:
        """Events inside a rectangle, shifted to its origin; the new sensor size is ``(w, h)``."""
        return EventStream(crop_events(self.events, x0, y0, w, h), (w, h))
