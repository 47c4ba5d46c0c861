"""The dataset-level checks every loader ends with: :func:`checked_sequence` never repairs silently.

Missing files and malformed ground truth raise ``FileNotFoundError`` / ``ValueError`` naming the file; disorder that
has an unambiguous fix is repaired, counted in a :class:`LoadReport` (stored in ``Sequence.meta`` as ``repair_*``
keys) and logged.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

import numpy as np

from had_snn.data.events import EVENT_DTYPE
from had_snn.data.sequence import Sequence, check_sensor_size, valid_box_mask

log = logging.getLogger(__name__)


@dataclass
class LoadReport:
    """Counted repairs made while loading one sequence (all zero for a clean sequence)."""

    events_reordered: int = 0  # events whose timestamp went backwards; fixed by a stable sort on t
    events_out_of_bounds: int = 0  # events with x >= W or y >= H; dropped
    polarity_remapped: int = 0  # events with polarity -1 (Prophesee/-1,1 convention); mapped to 0
    boxes_clipped: int = 0  # boxes reaching outside the sensor; clipped to it
    boxes_absent: int = 0  # target absent (absent flag; zero-size, non-finite, fully outside or oversized box) -> NaN
    frames_unannotated: int = 0  # recorded frames without a ground-truth line; dropped
    gt_rows_clipped: int = 0  # ground-truth rows past the last frame (COESOT aligns from frame 0); dropped
    csv_first_line_dropped: int = 0  # a headerless event CSV's first row, consumed as a header as its authors do
    empty_windows: int = 0  # box event windows without a single event (kept, reported)

    def as_meta(self) -> dict[str, int]:
        return {f"repair_{k}": int(v) for k, v in asdict(self).items()}

    def nonzero(self) -> dict[str, int]:
        return {k: int(v) for k, v in asdict(self).items() if v}


def checked_sequence(
    name: str,
    events: np.ndarray,
    sensor_size: tuple[int, int],
    frame_t_us: np.ndarray,
    boxes: np.ndarray,
    *,
    source: str,
    frames: np.ndarray | None = None,
    present: np.ndarray | None = None,
    report: LoadReport | None = None,
    meta: dict | None = None,
    trajectory: tuple[np.ndarray, np.ndarray, np.ndarray | None] | None = None,
    window_start_us: np.ndarray | None = None,
) -> Sequence:
    """Validate and (countably) repair one sequence, then build the :class:`Sequence`.

    ``frame_t_us`` is the end of each box's event window (see :mod:`~had_snn.data.datasets.loader`). ``trajectory``
    ``(t_us, boxes, present)`` is a ground truth denser than the frames (FE108 at several rows per image); its boxes
    are clipped like the frame boxes but not counted in the report. ``window_start_us`` (per box) makes the empty-window
    count use each box's window ``[window_start_us, frame_t_us)`` instead of the interval since the previous box.

    Errors (``ValueError`` naming ``source``): box count != frame count, frames of another size than the sensor, frame
    timestamps going backwards, no events at all. Counted repairs: see :class:`LoadReport`.
    """
    report = report or LoadReport()
    width, height = check_sensor_size(sensor_size, f"{source}: sensor size")
    frame_t_us = np.asarray(frame_t_us, dtype=np.int64)
    boxes = np.array(boxes, dtype=np.float64).reshape(-1, 4)
    if len(boxes) != len(frame_t_us):
        raise ValueError(f"{source}: {len(boxes)} ground-truth boxes but {len(frame_t_us)} frames")
    if len(frame_t_us) == 0:
        raise ValueError(f"{source}: no annotated frames")
    if np.any(np.diff(frame_t_us) <= 0):
        k = int(np.flatnonzero(np.diff(frame_t_us) <= 0)[0])
        raise ValueError(f"{source}: frame timestamps not increasing at frame {k + 1} ({frame_t_us[k]} -> "
                         f"{frame_t_us[k + 1]} us)")
    if frames is not None:
        if len(frames) != len(frame_t_us):
            raise ValueError(f"{source}: {len(frames)} frames but {len(frame_t_us)} ground-truth boxes")
        if frames.shape[1:3] != (height, width):
            raise ValueError(f"{source}: frames are {frames.shape[2]}x{frames.shape[1]} px but the event sensor is "
                             f"{width}x{height} px")

    if events.dtype != EVENT_DTYPE:
        raise ValueError(f"{source}: events must have dtype {EVENT_DTYPE}, got {events.dtype}")
    if len(events) == 0:
        raise ValueError(f"{source}: no events")
    backwards = int(np.count_nonzero(np.diff(events["t"]) < 0))
    if backwards:
        events = events[np.argsort(events["t"], kind="stable")]
        report.events_reordered += backwards
    oob = (events["x"] >= width) | (events["y"] >= height)
    if oob.all():
        raise ValueError(f"{source}: all {len(events)} events lie outside the {width}x{height} px sensor (x up to "
                         f"{int(events['x'].max())}, y up to {int(events['y'].max())}): the events do not belong to "
                         "this sensor, or its size is wrong")
    if oob.any():
        report.events_out_of_bounds += int(oob.sum())
        events = events[~oob]
    neg = events["p"] == -1
    if neg.any():
        events = events.copy()
        events["p"][neg] = 0
        report.polarity_remapped += int(neg.sum())
    if not np.isin(events["p"], (0, 1)).all():
        raise ValueError(f"{source}: event polarities must be 0/1 (or -1/1)")

    boxes = _clip_boxes(boxes, width, height, report)
    if present is not None:
        gone = ~present & ~np.isnan(boxes[:, 0])
        boxes[gone] = np.nan
        report.boxes_absent += int(gone.sum())

    if window_start_us is None:
        edges = np.searchsorted(events["t"], frame_t_us, side="right")
        report.empty_windows += int(np.count_nonzero(np.diff(edges) == 0))
    else:
        counts = (np.searchsorted(events["t"], frame_t_us, side="left")
                  - np.searchsorted(events["t"], np.asarray(window_start_us, dtype=np.int64), side="left"))
        report.empty_windows += int(np.count_nonzero(counts <= 0))

    traj_t = traj_boxes = None
    if trajectory is not None:
        traj_t = np.asarray(trajectory[0], dtype=np.int64)
        if np.any(np.diff(traj_t) <= 0):
            raise ValueError(f"{source}: ground-truth trajectory times not increasing")
        traj_boxes = _clip_boxes(np.array(trajectory[1], dtype=np.float64).reshape(-1, 4), width, height, LoadReport())
        if trajectory[2] is not None:
            traj_boxes[~np.asarray(trajectory[2], dtype=bool)] = np.nan

    repairs = report.nonzero()
    if repairs:
        log.warning("%s: repaired %s", source, ", ".join(f"{k}={v}" for k, v in repairs.items()))
    return Sequence(
        name=name,
        events=events,
        sensor_size=(width, height),
        frame_t_us=frame_t_us,
        boxes=boxes.astype(np.float32),
        frames=frames,
        trajectory_t_us=traj_t,
        trajectory_boxes=None if traj_boxes is None else traj_boxes.astype(np.float32),
        meta={**(meta or {}), **report.as_meta()},
    )


def _clip_boxes(boxes: np.ndarray, width: int, height: int, report: LoadReport) -> np.ndarray:
    """Boxes that cannot be a target on the sensor (:func:`~had_snn.data.sequence.valid_box_mask`: zero or negative
    size, non-finite, fully outside, or over twice the sensor's size) become NaN rows (target absent, counted);
    valid boxes reaching outside the sensor are clipped to it (counted)."""
    out = boxes.copy()
    was_absent = np.isnan(out).all(axis=1)
    valid = valid_box_mask(out, (width, height))
    report.boxes_absent += int((~valid & ~was_absent).sum())
    out[~valid] = np.nan
    with np.errstate(invalid="ignore"):
        x0, y0 = out[:, 0], out[:, 1]
        x1, y1 = x0 + out[:, 2], y0 + out[:, 3]
        cx0, cy0 = np.clip(x0, 0, width), np.clip(y0, 0, height)
        cx1, cy1 = np.clip(x1, 0, width), np.clip(y1, 0, height)
        changed = valid & ((cx0 != x0) | (cy0 != y0) | (cx1 != x1) | (cy1 != y1))
    report.boxes_clipped += int(changed.sum())
    out[:, 0], out[:, 1], out[:, 2], out[:, 3] = cx0, cy0, cx1 - cx0, cy1 - cy0
    return out
