"""AEDAT4 (iniVation DV) files through ``dv-processing``: events, APS frames and their timestamps.

FE108, VisEvent and COESOT distribute their DAVIS346 recordings as ``.aedat4`` files (see the module docstrings in
:mod:`had_snn.data.datasets`). ``dv-processing`` is an optional
extra (``pip install had-snn[aedat]``) and is imported only inside the functions here.

API used (dv-processing 2.x, https://dv-processing.inivation.com): ``dv.io.MonoCameraRecording`` with
``getEventResolution``, ``getNextEventBatch`` (``EventStore.numpy()`` -> fields ``timestamp, x, y, polarity``),
``getNextFrame`` (``Frame.timestamp`` = start of exposure in us, ``Frame.exposure`` a ``timedelta``, ``Frame.image``
grayscale (H, W) or BGR (H, W, 3)); ``dv.io.MonoCameraWriter`` with ``DAVISConfig`` / ``EventOnlyConfig`` for writing.

dv-processing gives each APS frame its start of exposure and its exposure duration only: the start-of-frame and
end-of-frame times that the older ``dv`` package also reports (``timestamp_start_of_frame``) are not available through
it, so the dataset loaders use the start of exposure as the frame boundary (see ``docs/datasets.md``).
"""

from __future__ import annotations

import os
import re
import struct
from pathlib import Path
from typing import NamedTuple

import numpy as np

from had_snn.data.events import EVENT_DTYPE, make_events
from had_snn.util.atomic import atomic_path

AEDAT_EXTRA_HINT = "reading .aedat4 files needs dv-processing: pip install had-snn[aedat]"


class MissingExtraError(ImportError):
    """An optional dependency (an ``had-snn[extra]``) is not installed."""


def dv_reason(exc: BaseException) -> str:
    """dv-processing's error text without its C++ source location and stack trace (one short line)."""
    text = str(exc).split("Stacktrace")[0]
    text = re.sub(r"^\S+\.[ch]pp\(\d+\):.*?\]\(\)\s*", "", text.strip(), flags=re.S)
    text = " ".join(text.split())
    return text[:200] + ("..." if len(text) > 200 else "")


def _dv():
    try:
        import dv_processing
    except ImportError as exc:  # pragma: no cover - exercised only where the extra is missing
        raise MissingExtraError(AEDAT_EXTRA_HINT) from exc
    return dv_processing


def _to_rgb(image: np.ndarray) -> np.ndarray:
    """DV frame image (grayscale (H, W) / (H, W, 1) or OpenCV BGR (H, W, 3)) -> (H, W, 3) uint8 RGB."""
    img = np.asarray(image)
    if img.dtype != np.uint8:  # 16-bit APS frames: keep the 8 most significant bits
        img = (img >> 8).astype(np.uint8) if img.dtype == np.uint16 else img.astype(np.uint8)
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if img.ndim == 2:
        return np.repeat(img[:, :, None], 3, axis=2)
    if img.ndim == 3 and img.shape[2] in (3, 4):
        return np.ascontiguousarray(img[:, :, 2::-1])  # BGR(A) -> RGB
    raise ValueError(f"unsupported frame image shape {img.shape}")


class AedatRecording(NamedTuple):
    """An AEDAT4 recording: events, APS frames and when each frame was exposed."""

    events: np.ndarray  # EVENT_DTYPE, file order
    frames: np.ndarray | None  # (N, H, W, 3) uint8 RGB, None without a frame stream
    exposure_start_us: np.ndarray  # (N,) int64, start of exposure of each frame
    exposure_us: np.ndarray  # (N,) int64, exposure duration of each frame (0 where the file records none)
    sensor_size: tuple[int, int]  # (W, H) px of the event stream


AEDAT4_MAGIC = b"#!AER-DAT4.0\r\n"


def _flatbuffer_int64(buf: bytes, base: int, field: int) -> int | None:
    """Field ``field`` (an int64) of the root table of the flatbuffer at ``buf[base:]``; None when absent."""
    root = base + struct.unpack_from("<I", buf, base)[0]
    vtable = root - struct.unpack_from("<i", buf, root)[0]
    vsize = struct.unpack_from("<H", buf, vtable)[0]
    if 4 + 2 * field + 2 > vsize:
        return None
    offset = struct.unpack_from("<H", buf, vtable + 4 + 2 * field)[0]
    return struct.unpack_from("<q", buf, root + offset)[0] if offset else None


def check_aedat4_structure(path: Path) -> None:
    """Walk an AEDAT4 file's packet headers before dv-processing opens it (it loops forever on some corrupt files).

    Layout: the magic line, an int32-size-prefixed IOHeader flatbuffer (field 1: ``dataTablePosition``, -1 when the
    file has no data table), then packets of an int32 stream id and an int32 size, which must end exactly where the
    data table starts (or at the end of the file). ValueError naming the file and the byte otherwise.
    """
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(len(AEDAT4_MAGIC) + 4)
        if len(head) < len(AEDAT4_MAGIC) + 4 or not head.startswith(AEDAT4_MAGIC):
            raise ValueError(f"{path}: not a readable AEDAT4 file (no '#!AER-DAT4.0' header line)")
        header_bytes = struct.unpack_from("<i", head, len(AEDAT4_MAGIC))[0]
        start = len(head) + header_bytes
        if not 8 <= header_bytes or start > size:
            raise ValueError(f"{path}: corrupt AEDAT4 file: header size {header_bytes} does not fit a {size}-byte file")
        header = f.read(header_bytes)
        try:
            table = _flatbuffer_int64(header, 0, 1)
        except struct.error:
            raise ValueError(f"{path}: corrupt AEDAT4 file: its header cannot be decoded") from None
        end = size if table is None or table < 0 else table
        if not start <= end <= size:
            raise ValueError(f"{path}: corrupt AEDAT4 file: its data table position {table} lies outside the "
                             f"{size}-byte file")
        pos = start
        while pos < end:
            f.seek(pos)
            word = f.read(8)
            stream, n = struct.unpack("<ii", word) if len(word) == 8 else (-1, -1)
            if stream < 0 or n <= 0 or pos + 8 + n > end:
                raise ValueError(f"{path}: corrupt AEDAT4 file: the packet at byte {pos} (stream {stream}, {n} bytes) "
                                 f"does not end by byte {end}, where the packets should end")
            pos += 8 + n


def read_aedat4_recording(path: str | os.PathLike) -> AedatRecording:
    """Read an AEDAT4 recording with the exposure timing of its APS frames (events in file order, not re-sorted:
    the dataset checks count and repair disorder)."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{path}: is a folder, expected a file (an .aedat4 recording)")
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such AEDAT4 file")
    _dv()
    check_aedat4_structure(path)
    return _decode_with_watchdog(path)


def aedat4_timeout_s(path: Path) -> float:
    """How long decoding may take: ``HAD_SNN_AEDAT_TIMEOUT_S`` when set, else 30 s + 2 s per MB of file (dv-processing
    decodes about 10 MB/s here)."""
    given = os.environ.get("HAD_SNN_AEDAT_TIMEOUT_S")
    if given:
        return float(given)
    return 30.0 + 2.0 * path.stat().st_size / 1e6


def _decode_in_child(path: Path, fd: int) -> None:
    """The forked child: decode and write ``(status, value)`` pickled to ``fd``; never returns."""
    import pickle

    try:
        try:
            message = ("ok", _decode(path))
        except ValueError as exc:  # already names the file
            message = ("value", str(exc))
        except Exception as exc:  # noqa: BLE001 - sent to the parent, which raises it as a ValueError naming the file
            message = ("error", dv_reason(exc))
        with os.fdopen(fd, "wb") as out:
            pickle.dump(message, out, protocol=pickle.HIGHEST_PROTOCOL)
    finally:
        os._exit(0)


def _decode_with_watchdog(path: Path) -> AedatRecording:
    """:func:`_decode` in a forked child process, killed after :func:`aedat4_timeout_s`: dv-processing 1.7 loops
    forever inside C++ on some corrupt packets, which no Python-level timeout can interrupt. (``os.fork`` rather than
    multiprocessing, which refuses children of the dataset importer's daemonic workers.)"""
    import pickle
    import select
    import signal
    import time

    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child, measured by the parent's result
        os.close(read_fd)
        _decode_in_child(path, write_fd)
    os.close(write_fd)
    timeout = aedat4_timeout_s(path)
    deadline = time.monotonic() + timeout
    chunks = []
    try:
        with os.fdopen(read_fd, "rb") as inp:
            while True:
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([inp], [], [], left)[0]:
                    raise ValueError(f"{path}: not a readable AEDAT4 file (dv-processing did not finish decoding it "
                                     f"within {timeout:.0f} s: a corrupt packet makes it loop; set "
                                     "HAD_SNN_AEDAT_TIMEOUT_S to allow more for a very large file)")
                chunk = inp.read1(1 << 20)
                if not chunk:
                    break
                chunks.append(chunk)
    finally:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        _, status = os.waitpid(pid, 0)
    try:
        kind, value = pickle.loads(b"".join(chunks))  # noqa: S301 - our own child's bytes, never a file's
    except Exception:  # noqa: BLE001 - the child died before it could answer
        raise ValueError(f"{path}: not a readable AEDAT4 file (dv-processing ended while decoding it, status "
                         f"{status})") from None
    if kind == "value":
        raise ValueError(value)
    if kind == "error":
        raise ValueError(f"{path}: not a readable AEDAT4 file ({value})")
    return value


def _decode(path: Path) -> AedatRecording:
    """The recording as dv-processing decodes it (checked by :func:`check_aedat4_structure` first)."""
    dv = _dv()
    rec = dv.io.MonoCameraRecording(str(path))
    if not rec.isEventStreamAvailable():
        raise ValueError(f"{path}: AEDAT4 file has no event stream")
    width, height = (int(v) for v in rec.getEventResolution())
    chunks = []
    while (batch := rec.getNextEventBatch()) is not None:
        arr = batch.numpy()
        if len(arr):
            chunks.append(make_events(arr["x"], arr["y"], arr["timestamp"], arr["polarity"]))
    events = np.concatenate(chunks) if chunks else np.empty(0, dtype=EVENT_DTYPE)
    frames, starts, exposures = [], [], []
    if rec.isFrameStreamAvailable():
        while (frame := rec.getNextFrame()) is not None:
            frames.append(_to_rgb(frame.image))
            starts.append(int(frame.timestamp))
            exposures.append(round(frame.exposure.total_seconds() * 1e6))  # a datetime.timedelta in dv-processing 2.x
    return AedatRecording(events, np.stack(frames) if frames else None, np.asarray(starts, dtype=np.int64),
                          np.asarray(exposures, dtype=np.int64), (width, height))


def read_aedat4(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray | None, np.ndarray, tuple[int, int]]:
    """Read an AEDAT4 recording.

    Returns ``(events, frames, frame_t_us, sensor_size)``: events as :data:`EVENT_DTYPE` in file order (not re-sorted:
    the dataset checks count and repair disorder), frames (N, H, W, 3) uint8 RGB or None when the file has no frame
    stream, frame_t_us (N,) int64 at the centre of exposure (``timestamp + exposure / 2``), sensor_size (W, H) px.
    :func:`read_aedat4_recording` gives the start and duration of each exposure instead.
    """
    rec = read_aedat4_recording(path)
    return rec.events, rec.frames, rec.exposure_start_us + rec.exposure_us // 2, rec.sensor_size


def write_aedat4(
    path: str | os.PathLike,
    events: np.ndarray,
    sensor_size: tuple[int, int],
    frames: np.ndarray | None = None,
    frame_t_us: np.ndarray | None = None,
    camera_name: str = "DAVIS346_had-snn",
    exposure_us: np.ndarray | None = None,
) -> None:
    """Write events (EVENT_DTYPE) and optional RGB frames to an AEDAT4 file with dv-processing's writer.

    Frame k starts its exposure at ``frame_t_us[k]`` and lasts ``exposure_us[k]`` us (default 0, so that
    :func:`read_aedat4` returns ``frame_t_us`` itself). The file is written to a temporary name first and then renamed.
    """
    dv = _dv()
    path = Path(path)
    if events.dtype != EVENT_DTYPE:
        raise ValueError(f"{path}: events must have dtype {EVENT_DTYPE}, got {events.dtype}")
    res = (int(sensor_size[0]), int(sensor_size[1]))
    if frames is not None:
        if frame_t_us is None or len(frame_t_us) != len(frames):
            raise ValueError(f"{path}: frame_t_us must give one timestamp per frame")
        if exposure_us is not None and len(exposure_us) != len(frames):
            raise ValueError(f"{path}: exposure_us must give one duration per frame")
        config = dv.io.MonoCameraWriter.DAVISConfig(camera_name, res)
    else:
        config = dv.io.MonoCameraWriter.EventOnlyConfig(camera_name, res)
    with atomic_path(path) as tmp:  # the temporary name keeps .aedat4: dv's writer aborts on other suffixes
        writer = dv.io.MonoCameraWriter(str(tmp), config)
        store = dv.EventStore()
        for e in events:
            store.push_back(int(e["t"]), int(e["x"]), int(e["y"]), bool(e["p"]))
        if len(events):
            writer.writeEvents(store)
        if frames is not None:
            exposures = np.zeros(len(frames), dtype=np.int64) if exposure_us is None else exposure_us
            for t, exp, img in zip(frame_t_us, exposures, frames, strict=True):
                bgr = np.ascontiguousarray(np.asarray(img, dtype=np.uint8)[:, :, ::-1])
                writer.writeFrame(dv.Frame(int(t), int(exp), 0, 0, bgr, dv.FrameSource.SENSOR))
        del writer  # flushes and closes the file
