"""Read and write event streams and tracking sequences.

Native sequence file (HDF5; README.md "Formats" has the summary)::

    events/x u2, events/y u2, events/t i8 (us), events/p i1     one row per event, sorted by t
    events/ms_to_idx u8 (M,)   as DSEC: ms_to_idx[m] = index of the first event with t >= origin + m * 1000 us,
                               origin = attr events/ms_to_idx.origin_us (0 unless the stream starts before 0 or
                               after 1 s: then the first event's millisecond, so epoch timestamps stay small);
                               M = (t_last - origin) // 1000 + 2, so the last entry is the number of events
    frames u1 (N, H, W, 3)     optional RGB, chunked per frame and gzip-compressed
    frame_t_us i8 (N,), boxes f4 (N, 4) x, y, w, h px
    trajectory/t_us i8 (M,), trajectory/boxes f4 (M, 4)   optional dense ground truth
    attrs: format, format_version, name, sensor_size (W, H), attributes (strings)
    meta/ (group) attrs: one JSON-encoded value per key

An events-only HDF5 file has the ``events`` group and the ``format``/``format_version``/``sensor_size`` attrs.

Other formats for :func:`read_events` / :func:`write_events`: ``.npz`` (arrays x, y, t, p, sensor_size), text
``.txt``/``.csv`` (integer columns separated by whitespace, commas or semicolons, ``#`` comment lines; a
``# sensor_size W H`` comment line gives the sensor size). A text file with a header line is read **by column
name**, in any order: ``x``, ``y``, ``t``/``ts``/``time``/``timestamp`` and ``p``/``pol``/``polarity``
(case-insensitive); the t name may carry its unit, ``t_us``/``t[us]``/``t (us)`` (the default), ``t_ns`` (floored
to us) or ``t_ms``; any other name is an error naming the file and the columns found and expected. The header is a
non-comment line before the data, or a ``#`` line starting with three or more column names (``# t x y p``; the
``# x y t p`` line :func:`write_events` writes). Without a header the columns are ``x y t p`` by position, t in
microseconds. Read only:
``.aedat4`` (iniVation DV, through :func:`had_snn.data.aedat.read_aedat4`; extra ``had-snn[aedat]``), Prophesee
``.raw`` (EVT 2.0 / EVT 3.0, the encoding from the ``% evt`` header line) and ``.dat`` (through
:mod:`had_snn.data.prophesee`, decoded in chunks: EVT 3.0 with numpy, EVT 2.0 and DAT by expelliarmus, extra
``had-snn[prophesee]``), and ``.npy`` structured arrays with integer or bool fields ``t, x, y, p`` in any order
(tonic / expelliarmus style; loaded with ``allow_pickle=False``).

Sensor size: HDF5, ``.npz`` and ``.aedat4`` files store it; Prophesee files when their header has ``% geometry WxH``,
``% format ...;height=H;width=W`` or ``% Width``/``% Height`` lines; a text file without a ``# sensor_size`` line
falls back to ``(max x + 1, max y + 1)``. A Prophesee file without geometry and a ``.npy`` array need the
``sensor_size`` argument (``--sensor W H`` on the command line); a given size that disagrees with the file's is an
error.

Every writer is atomic (temporary file in the same folder, then ``os.replace``); the native file's datasets carry
HDF5's fletcher32 checksum, verified on every read (a flipped bit is refused, not decoded). Every reader validates and
raises ValueError naming the file and the key/field at fault (FileNotFoundError when the file does not exist, a
ValueError "is a folder, expected a file" for a folder); a missing optional extra is a ValueError naming the
``pip install`` command. Sensor sizes, from files or arguments, must be integers in 1..100000 px
(:func:`had_snn.data.sequence.check_sensor_size`), checked before any array is sized from them; events outside the
sensor are an error. Ground-truth boxes that cannot be on the sensor are read as absent, counted in a warning
(:func:`had_snn.data.sequence.sanitize_boxes`).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import h5py
import numpy as np

from had_snn.data.events import (
    EVENT_DTYPE,
    EVENT_FIELDS,
    check_event_gaps,
    events_from_columns,
    make_events,
    time_window,
    validate_events,
)
from had_snn.data.sequence import Sequence, check_sensor_size, sanitize_boxes
from had_snn.data.text_events import read_text_events
from had_snn.util.atomic import atomic_path
from had_snn.util.paths import existing_file

#: what an input path of the readers should be (named in their errors)
EVENT_FILE = "an event or sequence file"

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
SEQUENCE_FORMAT = "had-snn-sequence"
#: HDF5 format range of the files written here: the HDF5 1.8 structures, whose metadata carry checksums (a corrupt
#: object header or attribute is refused on read, rather than decoded).
H5_LIBVER = ("v108", "latest")
EVENTS_FORMAT = "had-snn-events"
HDF5_SUFFIXES = (".h5", ".hdf5")
TEXT_SUFFIXES = (".txt", ".csv")
PROPHESEE_SUFFIXES = (".raw", ".dat")
READ_SUFFIXES = (*HDF5_SUFFIXES, ".npz", *TEXT_SUFFIXES, ".npy", ".aedat4", *PROPHESEE_SUFFIXES)


# ---------------------------------------------------------------------------------------------------------- helpers
def ms_index_origin_us(t_us: np.ndarray) -> int:
    """Origin of ``ms_to_idx``: 0 (DSEC) for streams starting within [0, 1 s), else the first event's millisecond."""
    if len(t_us) == 0 or 0 <= int(t_us[0]) < 1_000_000:
        return 0
    return (int(t_us[0]) // 1000) * 1000


def ms_to_idx(t_us: np.ndarray, origin_us: int = 0) -> np.ndarray:
    """DSEC-style millisecond index: entry m is the index of the first event with ``t >= origin_us + m * 1000``."""
    t_us = np.ascontiguousarray(t_us)
    n_ms = (int(t_us[-1]) - origin_us) // 1000 + 2 if len(t_us) else 1
    if n_ms < 1:
        raise ValueError(f"ms_to_idx: origin {origin_us} us is after the last event t={int(t_us[-1])} us")
    starts = origin_us + np.arange(n_ms, dtype=np.int64) * 1000
    return np.searchsorted(t_us, starts, side="left").astype(np.uint64)


@contextmanager
def _open_h5(path: Path) -> Iterator[h5py.File]:
    """Open an HDF5 file read-only; corrupt/truncated files and read errors become ValueError naming the file."""
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise ValueError(f"{path}: not a readable HDF5 file ({exc})") from None
    try:
        yield f
    except (KeyError, RuntimeError) as exc:  # h5py's errors on a corrupt object header or symbol table
        raise ValueError(f"{path}: corrupt HDF5 structure ({' '.join(str(exc).split())[:200]})") from None
    except OSError as exc:
        if any(w in str(exc).lower() for w in ("fletcher32", "filter returned failure")):
            raise ValueError(f"{path}: corrupt HDF5 data (a dataset's checksum or compression does not match its "
                             "contents)") from None
        raise ValueError(f"{path}: corrupt or truncated HDF5 data ({exc})") from None
    finally:
        f.close()


def _dataset(f: h5py.File, key: str, path: Path, kind: str, ndim: int) -> h5py.Dataset:
    """The dataset ``key``, checked for existence, dtype kind ('i' integer, 'f' float, 'u1' uint8) and rank."""
    if key not in f or not isinstance(f[key], h5py.Dataset):
        raise ValueError(f"{path}: missing dataset '{key}'")
    d = f[key]
    ok = {"i": d.dtype.kind in "iu", "f": d.dtype.kind == "f", "u1": d.dtype == np.uint8}[kind]
    if not ok:
        want = {"i": "an integer dtype", "f": "a float dtype", "u1": "uint8"}[kind]
        raise ValueError(f"{path}: dataset '{key}' has dtype {d.dtype}, expected {want}")
    if d.ndim != ndim:
        raise ValueError(f"{path}: dataset '{key}' has shape {d.shape}, expected {ndim} dimension(s)")
    return d


def _sensor_size_attr(f: h5py.File, path: Path) -> tuple[int, int]:
    if "sensor_size" not in f.attrs:
        raise ValueError(f"{path}: missing attribute 'sensor_size' (W, H)")
    s = np.asarray(f.attrs["sensor_size"]).ravel()
    if s.dtype.kind not in "iu":
        raise ValueError(f"{path}: attribute 'sensor_size' has dtype {s.dtype}, expected two integers (W, H) px")
    return check_sensor_size(s, f"{path}: attribute 'sensor_size'")


def _check_format(f: h5py.File, path: Path, allowed: tuple[str, ...]) -> str:
    fmt = f.attrs.get("format", None)
    fmt = fmt.decode() if isinstance(fmt, bytes) else fmt
    if fmt not in allowed:
        raise ValueError(f"{path}: attribute 'format' is {fmt!r}, expected one of {list(allowed)}")
    version = int(f.attrs.get("format_version", -1))
    if version > FORMAT_VERSION:
        raise ValueError(f"{path}: format_version {version} is newer than supported ({FORMAT_VERSION})")
    return fmt


def _as_str(v) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def _fixed_str(values: str | tuple[str, ...] | list[str]) -> np.ndarray:
    """UTF-8 text as a fixed-length string value for an HDF5 attribute. It is stored in the (checksummed) object
    header; h5py's default variable-length strings live in the global heap, which has no checksum, and a corrupt
    heap entry can hang the HDF5 library when the attribute is read."""
    data = np.asarray([v.encode() for v in values] if isinstance(values, (tuple, list)) else values.encode(),
                      dtype=np.bytes_)
    return data.astype(f"S{max(data.dtype.itemsize, 1)}")


# ------------------------------------------------------------------------------------------------------ HDF5 events
def _write_events_group(f: h5py.File, ev: np.ndarray, path: Path) -> None:
    g = f.create_group("events")
    for name in EVENT_FIELDS:
        g.create_dataset(name, data=ev[name], chunks=True if len(ev) else None, compression="gzip",
                         compression_opts=1, shuffle=True, fletcher32=bool(len(ev)))
    origin_us = ms_index_origin_us(ev["t"])
    index = ms_to_idx(ev["t"], origin_us)
    g.create_dataset("ms_to_idx", data=index, fletcher32=True, chunks=True)
    g["ms_to_idx"].attrs["origin_us"] = origin_us


def _read_events_group(f: h5py.File, path: Path, sensor_size: tuple[int, int]) -> np.ndarray:
    cols = {name: _dataset(f, f"events/{name}", path, "i", 1) for name in EVENT_FIELDS}
    lengths = {name: len(d) for name, d in cols.items()}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"{path}: datasets events/x,y,t,p have different lengths {lengths}")
    ev = events_from_columns({name: d[()] for name, d in cols.items()}, path, "dataset 'events/{}'")
    validate_events(ev, sensor_size, source=f"{path}: events")
    index = _dataset(f, "events/ms_to_idx", path, "i", 1)
    origin_us = int(index.attrs.get("origin_us", 0))
    expected = ((int(ev["t"][-1]) - origin_us) // 1000 + 2) if len(ev) else 1
    if origin_us not in (0, ms_index_origin_us(ev["t"])) or index.shape[0] != expected:  # before sizing an index
        raise ValueError(f"{path}: dataset 'events/ms_to_idx' ({index.shape[0]} entries, origin {origin_us} us) does "
                         f"not match events/t ({expected} expected): a stale or corrupt index")
    if not np.array_equal(index[()], ms_to_idx(ev["t"], origin_us)):
        raise ValueError(f"{path}: dataset 'events/ms_to_idx' does not match events/t (stale or corrupt index)")
    return ev


class EventFile:
    """An open native HDF5 file for fast windowed event reads (training loaders keep one per sequence).

    Use as a context manager or call :meth:`close`. :meth:`window` reads only the slice that ``ms_to_idx`` points at.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = existing_file(path, EVENT_FILE)
        try:
            self._f = h5py.File(self.path, "r")
        except OSError as exc:
            raise ValueError(f"{self.path}: not a readable HDF5 file ({exc})") from None
        try:
            _check_format(self._f, self.path, (SEQUENCE_FORMAT, EVENTS_FORMAT))
            self.sensor_size = _sensor_size_attr(self._f, self.path)
            self._cols = {n: _dataset(self._f, f"events/{n}", self.path, "i", 1) for n in EVENT_FIELDS}
            index = _dataset(self._f, "events/ms_to_idx", self.path, "i", 1)
            self._origin_us = int(index.attrs.get("origin_us", 0))
            self._index = index[()].astype(np.int64)
        except BaseException:
            self._f.close()
            raise
        if len(self._index) == 0 or self._index[-1] != len(self._cols["t"]):
            self._f.close()
            raise ValueError(f"{self.path}: dataset 'events/ms_to_idx' must end with the event count")

    def __len__(self) -> int:
        return len(self._cols["t"])

    def __enter__(self) -> EventFile:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._f.close()

    def window(self, t0_us: int, t1_us: int) -> np.ndarray:
        """Events with ``t0_us <= t < t1_us``; reads only the millisecond blocks covering the window."""
        last = len(self._index) - 1
        a = int(np.clip((t0_us - self._origin_us) // 1000, 0, last))
        b = int(np.clip(-(-(t1_us - self._origin_us) // 1000), 0, last))
        lo, hi = int(self._index[a]), int(self._index[b])
        if hi <= lo:
            return np.empty(0, dtype=EVENT_DTYPE)
        try:
            ev = make_events(*(self._cols[n][lo:hi] for n in EVENT_FIELDS))
        except OSError as exc:
            raise ValueError(f"{self.path}: corrupt or truncated HDF5 data ({exc})") from None
        return time_window(ev, t0_us, t1_us)


def read_events_window(path: str | os.PathLike, t0_us: int, t1_us: int) -> np.ndarray:
    """Events of a native HDF5 file with ``t0_us <= t < t1_us``, reading only that slice (via ``ms_to_idx``)."""
    with EventFile(path) as f:
        return f.window(t0_us, t1_us)


# --------------------------------------------------------------------------------------------------- HDF5 sequence
def write_sequence(path: str | os.PathLike, seq: Sequence) -> None:
    """Write a :class:`Sequence` to the native HDF5 layout (module docstring), atomically."""
    path = Path(path)
    validate_events(seq.events, seq.sensor_size, source=f"sequence {seq.name!r}")
    with atomic_path(path) as tmp, h5py.File(tmp, "w", libver=H5_LIBVER) as f:
        f.attrs["format"] = _fixed_str(SEQUENCE_FORMAT)
        f.attrs["format_version"] = FORMAT_VERSION
        f.attrs["name"] = _fixed_str(seq.name)
        f.attrs["sensor_size"] = np.asarray(seq.sensor_size, dtype=np.int64)
        f.attrs["attributes"] = _fixed_str(list(seq.attributes))
        _write_events_group(f, seq.events, path)
        frame_t_us = np.asarray(seq.frame_t_us, dtype=np.int64)
        f.create_dataset("frame_t_us", data=frame_t_us, fletcher32=bool(len(frame_t_us)))
        f.create_dataset("boxes", data=np.asarray(seq.boxes, dtype=np.float32), fletcher32=bool(len(frame_t_us)))
        if seq.frames is not None:
            frames = np.asarray(seq.frames)
            if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
                raise ValueError(f"sequence {seq.name!r}: frames must be uint8 (N, H, W, 3), got "
                                 f"{frames.dtype} {frames.shape}")
            chunks = (1, *frames.shape[1:]) if len(frames) else None
            f.create_dataset("frames", data=frames, chunks=chunks, compression="gzip", compression_opts=4,
                             fletcher32=bool(len(frames)))
        if seq.trajectory_t_us is not None:
            g = f.create_group("trajectory")
            n = len(seq.trajectory_t_us)
            g.create_dataset("t_us", data=np.asarray(seq.trajectory_t_us, dtype=np.int64), fletcher32=bool(n))
            g.create_dataset("boxes", data=np.asarray(seq.trajectory_boxes, dtype=np.float32).reshape(-1, 4),
                             fletcher32=bool(n))
        meta = f.create_group("meta")
        for key, value in seq.meta.items():
            try:
                meta.attrs[str(key)] = _fixed_str(json.dumps(value))
            except TypeError as exc:
                raise ValueError(f"sequence {seq.name!r}: meta[{key!r}] is not JSON-serialisable ({exc})") from None


def read_sequence(path: str | os.PathLike, load_frames: bool = True) -> Sequence:
    """Read and validate a native HDF5 sequence file; ``load_frames=False`` skips the RGB frames (frames=None).

    Ground-truth boxes (and trajectory boxes) that cannot be a target on the sensor (non-positive size, non-finite,
    outside it or far larger: :func:`had_snn.data.sequence.valid_box_mask`) are read as absent (NaN rows); a
    warning names the file and counts them.
    """
    path = existing_file(path, "a native .h5 sequence file")
    with _open_h5(path) as f:
        _check_format(f, path, (SEQUENCE_FORMAT,))
        sensor_size = _sensor_size_attr(f, path)
        events = _read_events_group(f, path, sensor_size)
        frame_t_us = _dataset(f, "frame_t_us", path, "i", 1)[()]
        boxes = _dataset(f, "boxes", path, "f", 2)[()]
        if boxes.shape[1] != 4 or len(boxes) != len(frame_t_us):
            raise ValueError(f"{path}: dataset 'boxes' has shape {boxes.shape}, expected ({len(frame_t_us)}, 4)")
        if np.any(np.diff(frame_t_us) <= 0):
            raise ValueError(f"{path}: dataset 'frame_t_us' must be strictly increasing")
        boxes, _ = sanitize_boxes(boxes, sensor_size, f"{path}: dataset 'boxes'")
        frames = None
        if load_frames and "frames" in f:
            d = _dataset(f, "frames", path, "u1", 4)
            if d.shape[0] != len(frame_t_us) or d.shape[-1] != 3:
                raise ValueError(f"{path}: dataset 'frames' has shape {d.shape}, expected ({len(frame_t_us)}, H, W, 3)")
            frames = d[()]
        traj_t = traj_b = None
        if "trajectory" in f:
            traj_t = _dataset(f, "trajectory/t_us", path, "i", 1)[()]
            traj_b = _dataset(f, "trajectory/boxes", path, "f", 2)[()]
            if traj_b.shape != (len(traj_t), 4):
                raise ValueError(f"{path}: dataset 'trajectory/boxes' has shape {traj_b.shape}, "
                                 f"expected ({len(traj_t)}, 4)")
            if np.any(np.diff(traj_t) <= 0):
                raise ValueError(f"{path}: dataset 'trajectory/t_us' must be strictly increasing")
            traj_b, _ = sanitize_boxes(traj_b, sensor_size, f"{path}: dataset 'trajectory/boxes'")
        meta = {}
        if "meta" in f:
            for key, value in f["meta"].attrs.items():
                try:
                    meta[key] = json.loads(_as_str(value))
                except json.JSONDecodeError:
                    raise ValueError(f"{path}: attribute meta/{key} is not valid JSON") from None
        attributes = tuple(_as_str(a) for a in np.atleast_1d(f.attrs.get("attributes", np.array([], dtype=object))))
        return Sequence(
            name=_as_str(f.attrs.get("name", path.stem)), events=events, sensor_size=sensor_size,
            frame_t_us=frame_t_us, boxes=boxes, frames=frames, trajectory_t_us=traj_t, trajectory_boxes=traj_b,
            attributes=attributes, meta=meta,
        )


# ------------------------------------------------------------------------------------------- any-format events IO
def read_events(
    path: str | os.PathLike, sensor_size: tuple[int, int] | None = None, progress: bool = False
) -> tuple[np.ndarray, tuple]:
    """Read events from any supported file (suffix dispatch; the module docstring lists the formats).

    Returns ``(events, (W, H))``. The sensor size comes from the file (see the module docstring); ``sensor_size``
    must agree with it, and is required where the file has none (Prophesee files without geometry, ``.npy``).
    Events are validated (sorted t, polarity, bounds). ``progress`` shows a progress bar while decoding Prophesee
    files (they are read in chunks).
    """
    ev, size, _, _ = read_events_and_frames(path, sensor_size=sensor_size, progress=progress, load_frames=False)
    return ev, size


def read_events_and_frames(
    path: str | os.PathLike,
    sensor_size: tuple[int, int] | None = None,
    progress: bool = False,
    load_frames: bool = True,
) -> tuple[np.ndarray, tuple[int, int], np.ndarray | None, np.ndarray | None]:
    """:func:`read_events` plus the APS frames of an ``.aedat4`` file: ``(events, (W, H), frames, frame_t_us)``.

    ``frames`` is (N, H, W, 3) uint8 RGB and ``frame_t_us`` (N,) int64 for an ``.aedat4`` file with a frame stream
    (and ``load_frames``), else both are None. Native sequence files: use :func:`read_sequence` for their frames.
    """
    path = existing_file(path, EVENT_FILE)
    if sensor_size is not None:  # checked before anything is read or allocated
        sensor_size = check_sensor_size(sensor_size, f"{path}: requested sensor size (--sensor W H)")
    suffix = path.suffix.lower()
    frames = frame_t_us = None
    no_size = None  # why the file has no sensor size, when it may have none
    if suffix in HDF5_SUFFIXES:
        with _open_h5(path) as f:
            _check_format(f, path, (SEQUENCE_FORMAT, EVENTS_FORMAT))
            file_size = _sensor_size_attr(f, path)
            ev = _read_events_group(f, path, file_size)
    elif suffix == ".npz":
        ev, file_size = _read_npz(path)
    elif suffix in TEXT_SUFFIXES:
        ev, file_size = read_text_events(path)
    elif suffix == ".npy":
        ev, file_size = _read_npy(path), None
        no_size = "a .npy event array carries no sensor size"
    elif suffix == ".aedat4":
        from had_snn.data.aedat import read_aedat4

        try:
            ev, frames, frame_t_us, file_size = read_aedat4(path)
        except ImportError as exc:  # the optional dv-processing extra is missing
            raise ValueError(f"{path}: {exc}") from None
        file_size = check_sensor_size(file_size, f"{path}: AEDAT4 event resolution")
        backwards = int(np.count_nonzero(np.diff(ev["t"]) < 0)) if len(ev) else 0
        if backwards:  # DV writes packets in arrival order; sort them as the dataset loaders do
            ev = ev[np.argsort(ev["t"], kind="stable")]
            log.warning("%s: %d events were out of time order and have been sorted", path, backwards)
        if frames is None or len(frames) == 0 or not load_frames:
            frames = frame_t_us = None
        elif frames.shape[1:3] != (file_size[1], file_size[0]):
            raise ValueError(f"{path}: frames are {frames.shape[2]}x{frames.shape[1]} px but the event sensor is "
                             f"{file_size[0]}x{file_size[1]} px")
    elif suffix in PROPHESEE_SUFFIXES:
        from had_snn.data.prophesee import read_header, read_prophesee

        header = read_header(path)
        no_size = ("the header has no sensor geometry (no '% geometry WxH', '% format ...;height=H;width=W' or "
                   "'% Width'/'% Height' line, and no '% plugin_name' of a known camera)")
        if header.sensor_size is None and sensor_size is None:  # say so before decoding a large file
            raise ValueError(f"{path}: {no_size}; give the sensor size (--sensor W H)")
        try:
            ev, file_size, _ = read_prophesee(path, progress=progress, header=header)
        except ImportError as exc:  # the optional expelliarmus extra is missing
            raise ValueError(f"{path}: {exc}") from None
    else:
        raise ValueError(f"{path}: unknown event file suffix {path.suffix!r}; expected one of {list(READ_SUFFIXES)}")
    if sensor_size is not None:
        if file_size is not None and file_size != sensor_size:
            raise ValueError(f"{path}: file sensor size {file_size} differs from the requested {sensor_size}")
        file_size = sensor_size
    if file_size is None and no_size is not None:
        raise ValueError(f"{path}: {no_size}; give the sensor size (--sensor W H)")
    if file_size is None:
        file_size = (int(ev["x"].max()) + 1, int(ev["y"].max()) + 1) if len(ev) else (1, 1)
    validate_events(ev, file_size, source=str(path))
    check_event_gaps(ev, source=str(path))
    return ev, file_size, frames, frame_t_us


def write_events(path: str | os.PathLike, ev: np.ndarray, sensor_size: tuple[int, int]) -> None:
    """Write events (atomically) as ``.h5/.hdf5`` (events-only native file), ``.npz`` or ``.txt/.csv``."""
    path = Path(path)
    sensor_size = check_sensor_size(sensor_size, f"{path}: sensor size")
    validate_events(ev, sensor_size, source=str(path))
    suffix = path.suffix.lower()
    if suffix in HDF5_SUFFIXES:
        with atomic_path(path) as tmp, h5py.File(tmp, "w", libver=H5_LIBVER) as f:
            f.attrs["format"] = _fixed_str(EVENTS_FORMAT)
            f.attrs["format_version"] = FORMAT_VERSION
            f.attrs["sensor_size"] = np.asarray(sensor_size, dtype=np.int64)
            _write_events_group(f, ev, path)
    elif suffix == ".npz":
        with atomic_path(path) as tmp:
            np.savez_compressed(tmp, sensor_size=np.asarray(sensor_size, dtype=np.int64),
                                **{n: ev[n] for n in EVENT_FIELDS})
    elif suffix in TEXT_SUFFIXES:
        sep = "," if suffix == ".csv" else " "
        header = f"sensor_size {sensor_size[0]} {sensor_size[1]}\nx{sep}y{sep}t{sep}p (t in microseconds)"
        cols = np.stack([ev[n].astype(np.int64) for n in EVENT_FIELDS], axis=1)
        with atomic_path(path) as tmp:
            np.savetxt(tmp, cols, fmt="%d", delimiter=sep, header=header, comments="# ")
    else:
        raise ValueError(f"{path}: cannot write events as {path.suffix!r}; expected one of "
                         f"{list(HDF5_SUFFIXES + ('.npz',) + TEXT_SUFFIXES)}")


def _read_npz(path: Path) -> tuple[np.ndarray, tuple[int, int] | None]:
    try:
        with np.load(path, allow_pickle=False) as z:
            missing = [n for n in EVENT_FIELDS if n not in z.files]
            if missing:
                raise ValueError(f"{path}: missing array(s) {missing}; expected x, y, t, p (and sensor_size)")
            cols = {n: z[n] for n in EVENT_FIELDS}
            size = z["sensor_size"] if "sensor_size" in z.files else None
    except ValueError as exc:
        if str(exc).startswith(str(path)):  # ours, naming the file
            raise
        if "pickle" in str(exc):  # numpy's pickle refusal says nothing of the file
            raise ValueError(f"{path}: not a .npz event file (numpy reads it as pickled data, which is never loaded; "
                             "expected arrays x, y, t, p)") from None
        raise ValueError(f"{path}: not a readable .npz file ({' '.join(str(exc).split())[:200]})") from None
    except Exception as exc:  # noqa: BLE001 - zip, zlib and .npy-header failures of a corrupt archive
        raise ValueError(f"{path}: not a readable .npz file ({type(exc).__name__}: "
                         f"{' '.join(str(exc).split())[:200]})") from None
    for n, c in cols.items():
        if c.dtype.kind not in "iu" or c.ndim != 1:
            raise ValueError(f"{path}: array '{n}' has dtype {c.dtype} shape {c.shape}, expected 1-D integers")
    if len({len(c) for c in cols.values()}) != 1:
        raise ValueError(f"{path}: arrays x, y, t, p have different lengths")
    if size is not None:
        size = check_sensor_size(size, f"{path}: array 'sensor_size'")
    return events_from_columns(cols, path, "array '{}'"), size


def _read_npy(path: Path) -> np.ndarray:
    """A structured ``.npy`` array with integer/bool fields t, x, y, p (any order, any extra fields ignored)."""
    expected = "a 1-D structured array with integer fields t (us), x, y, p (0/1)"
    try:
        arr = np.load(path, allow_pickle=False)
    except Exception as exc:  # noqa: BLE001 - any failure to parse the header or the data of a corrupt file
        raise ValueError(f"{path}: not a readable .npy file ({type(exc).__name__}: "
                         f"{' '.join(str(exc).split())[:200]}); expected {expected}") from None
    if not isinstance(arr, np.ndarray):  # np.load returns an NpzFile for a zip archive
        raise ValueError(f"{path}: not a .npy array (a zip archive?); expected {expected}")
    if arr.dtype.names is None:
        raise ValueError(f"{path}: array of dtype {arr.dtype} shape {arr.shape} is not structured; expected {expected}")
    missing = [n for n in EVENT_FIELDS if n not in arr.dtype.names]
    if missing:
        raise ValueError(f"{path}: missing field(s) {missing} (has {list(arr.dtype.names)}); expected {expected}")
    if arr.ndim != 1:
        raise ValueError(f"{path}: array has shape {arr.shape}; expected {expected}")
    cols = {}
    for n in EVENT_FIELDS:
        c = arr[n]
        if c.dtype.kind not in "iub":
            raise ValueError(f"{path}: field '{n}' has dtype {c.dtype}; expected {expected}")
        cols[n] = c
    return events_from_columns(cols, path, "field '{}'")


#: Column names a text header may use (case-insensitive) -> event field.
