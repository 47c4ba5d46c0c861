"""Any supported recording as a :class:`~had_snn.data.sequence.Sequence` whose frame times are the output times.

:func:`load_recording` reads

- a native HDF5 sequence (:func:`had_snn.data.io.read_sequence`): events, RGB frames (when stored) and frame times;
- anything else :func:`had_snn.data.io.read_events_and_frames` reads: events, and for an ``.aedat4`` file from a
  DAVIS also its APS frames. ``sensor_size`` passes through for files that carry no geometry.

:func:`output_times` picks when the tracker reports a box: at the recording's frame times when it has them (the
first at or after ``t0_us``), otherwise on a grid at ``rate_hz``. :func:`tracking_sequence` then builds a
:class:`Sequence` with those times as ``frame_t_us`` (NaN boxes, the frames when present), so the tracker's crops and
event windows (:mod:`had_snn.tracking.crop`: the window of output ``k`` is the frame interval ending at its time) apply
unchanged.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from had_snn.data.events import EVENT_DTYPE
from had_snn.data.sequence import MAX_BOX_SCALE, Sequence


@dataclass
class Recording:
    """Events of one recording, with its frames and frame times when it has them.

    ``kind`` is ``sequence`` (native HDF5 sequence), ``aedat4`` or ``events`` (any other event file). ``frame_t_us``
    is set whenever the file has frame times (a native sequence always has them, even without stored RGB frames);
    ``frames`` (N, H, W, 3) uint8 RGB only when images are stored.
    """

    path: Path
    kind: str
    events: np.ndarray
    sensor_size: tuple[int, int]
    frames: np.ndarray | None = None
    frame_t_us: np.ndarray | None = None

    @property
    def name(self) -> str:
        return self.path.stem

    @property
    def has_frames(self) -> bool:
        """True when the recording stores RGB (or grey) images."""
        return self.frames is not None

    def describe(self) -> str:
        """One line: events, time span, sensor and frames."""
        ev = self.events
        span = f"{(int(ev['t'][-1]) - int(ev['t'][0])) / 1e6:.3f} s" if len(ev) else "empty"
        frames = (f", {len(self.frames)} frames" if self.frames is not None
                  else f", {len(self.frame_t_us)} frame times (no images)" if self.frame_t_us is not None
                  else ", no frames")
        return (f"{self.path.name}: {len(ev):,} events over {span}, sensor {self.sensor_size[0]}x{self.sensor_size[1]}"
                f"{frames}")


def _is_native_sequence(path: Path) -> bool:
    import h5py

    from had_snn.data.io import SEQUENCE_FORMAT

    try:
        with h5py.File(path, "r") as f:
            fmt = f.attrs.get("format", None)
    except OSError:
        return False  # not HDF5: read_events names the problem
    return (fmt.decode() if isinstance(fmt, bytes) else fmt) == SEQUENCE_FORMAT


def load_recording(path: str | os.PathLike, sensor_size: tuple[int, int] | None = None,
                   progress: bool = False) -> Recording:
    """Read a recording (see the module docstring); FileNotFoundError / ValueError name the file.

    ``sensor_size`` (W, H) is for files without geometry; for files that have one it must agree. ``progress`` is
    passed on to :func:`~had_snn.data.io.read_events` where that reader supports it.
    """
    from had_snn.data.io import HDF5_SUFFIXES, read_events_and_frames, read_sequence

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such recording")
    if path.suffix.lower() in HDF5_SUFFIXES and _is_native_sequence(path):
        seq = read_sequence(path)
        if sensor_size is not None and tuple(int(v) for v in sensor_size) != tuple(seq.sensor_size):
            raise ValueError(f"{path}: the file's sensor is {seq.sensor_size[0]}x{seq.sensor_size[1]} px but "
                             f"--sensor says {int(sensor_size[0])}x{int(sensor_size[1])}")
        return Recording(path, "sequence", seq.events, seq.sensor_size, seq.frames, seq.frame_t_us)
    events, size, frames, frame_t_us = read_events_and_frames(path, sensor_size, progress)
    kind = "aedat4" if path.suffix.lower() == ".aedat4" else "events"
    return Recording(path, kind, events, size, frames,
                     None if frame_t_us is None else np.asarray(frame_t_us, dtype=np.int64))


#: Most output times one ``track`` run makes (each is a crop, a network run and a row of track.json).
MAX_OUTPUT_TIMES = 1_000_000


def output_times(rec: Recording, t0_us: int | None = None, rate_hz: float = 30.0) -> tuple[np.ndarray, str]:
    """The tracker's output times (int64 us) and where they come from (``frames`` or ``rate``).

    With frame times: the frame times from the first one at or after ``t0_us`` (default: all of them). Without: a
    grid of period ``1 / rate_hz`` whose first time is ``t0_us`` (default: one period after the first event, so the
    first window, which the template is cut from, is full of events), up to the last event. The first output time is
    where the tracker starts from the initial box. At least two output times are needed (ValueError otherwise).
    """
    ev_t = rec.events["t"]
    if len(ev_t) == 0:
        raise ValueError(f"{rec.path}: the recording has no events")
    first, last = int(ev_t[0]), int(ev_t[-1])
    if rec.frame_t_us is not None:
        times = np.asarray(rec.frame_t_us, dtype=np.int64)
        if np.any(np.diff(times) <= 0):
            k = int(np.flatnonzero(np.diff(times) <= 0)[0])
            raise ValueError(f"{rec.path}: frame times are not increasing at frame {k + 1} ({times[k]} -> "
                             f"{times[k + 1]} us)")
        if t0_us is not None:
            times = times[times >= int(t0_us)]
        if len(times) < 2:
            raise ValueError(f"{rec.path}: {len(times)} frame(s) at or after --t0-us {t0_us} (frames span "
                             f"{int(rec.frame_t_us[0])}..{int(rec.frame_t_us[-1])} us); need at least 2 to track")
        return times, "frames"
    if not (np.isfinite(rate_hz) and rate_hz > 0):
        raise ValueError(f"--rate-hz must be > 0, got {rate_hz}")
    period_us = 1e6 / float(rate_hz)
    start = first + int(round(period_us)) if t0_us is None else int(t0_us)
    n = int(np.floor((last - start) / period_us)) + 1 if last >= start else 0
    if n > MAX_OUTPUT_TIMES:
        raise ValueError(f"--rate-hz {rate_hz:g}: the events' {(last - start) / 1e6:.3g} s at {rate_hz:g} Hz are {n} "
                         f"output times, more than the {MAX_OUTPUT_TIMES} one run tracks; lower --rate-hz")
    if n < 2:
        raise ValueError(f"{rec.path}: events span {first}..{last} us; from t0 = {start} us at {rate_hz:g} Hz that is "
                         f"{max(n, 0)} output time(s), need at least 2 (lower --t0-us or raise --rate-hz)")
    return start + np.round(np.arange(n) * period_us).astype(np.int64), "rate"


def tracking_sequence(rec: Recording, times_us: np.ndarray) -> Sequence:
    """A :class:`Sequence` over ``rec`` whose frames are the output times ``times_us`` (NaN boxes; the recording's
    frames at those times when it has images, which requires ``times_us`` to be a subset of its frame times)."""
    times_us = np.asarray(times_us, dtype=np.int64)
    frames = None
    if rec.frames is not None:
        idx = np.searchsorted(rec.frame_t_us, times_us)
        idx = np.clip(idx, 0, len(rec.frame_t_us) - 1)
        if not np.array_equal(rec.frame_t_us[idx], times_us):
            raise ValueError(f"{rec.path}: output times must be frame times of a recording with frames")
        frames = rec.frames[idx[0]: idx[-1] + 1] if np.all(np.diff(idx) == 1) else rec.frames[idx]
    if rec.events.dtype != EVENT_DTYPE:
        raise ValueError(f"{rec.path}: events must have dtype {EVENT_DTYPE}, got {rec.events.dtype}")
    return Sequence(name=rec.name, events=rec.events, sensor_size=rec.sensor_size, frame_t_us=times_us,
                    boxes=np.full((len(times_us), 4), np.nan, dtype=np.float32), frames=frames,
                    meta={"recording": str(rec.path)})


def check_init_box(box, sensor_size: tuple[int, int], option: str = "--init") -> np.ndarray:
    """The initial ``x, y, w, h`` px box as float64, checked: finite, positive size, centre inside the sensor, at most
    ``MAX_BOX_SCALE`` times the sensor's width and height (the bound ground-truth boxes have).

    ValueError names ``option``, the box and the sensor size.
    """
    b = np.asarray(box, dtype=np.float64).reshape(-1)
    w_px, h_px = int(sensor_size[0]), int(sensor_size[1])
    text = " ".join(f"{v:g}" for v in b)
    sensor = f"the sensor is {w_px}x{h_px} px"
    if b.size != 4 or not np.isfinite(b).all():
        raise ValueError(f"{option} {text}: expected four finite numbers X Y W H ({sensor})")
    if b[2] <= 0 or b[3] <= 0:
        raise ValueError(f"{option} {text}: width and height must be > 0 ({sensor})")
    cx, cy = b[0] + b[2] / 2, b[1] + b[3] / 2
    if not (0 <= cx < w_px and 0 <= cy < h_px):
        raise ValueError(f"{option} {text}: the box centre ({cx:g}, {cy:g}) lies outside the sensor ({sensor})")
    if b[2] > MAX_BOX_SCALE * w_px or b[3] > MAX_BOX_SCALE * h_px:
        raise ValueError(f"{option} {text}: the box is more than {MAX_BOX_SCALE:g}x the sensor ({sensor}); give the "
                         "target's box")
    return b
