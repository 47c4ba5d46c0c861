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
from had_snn.data.sequence import Sequence

log = logging.getLogger(__name__)


@dataclass
class LoadReport:
    """Counted repairs made while loading one sequence (all zero for a clean sequence)."""

    events_reordered: int = 0  # events whose timestamp went backwards; fixed by a stable sort on t
    events_out_of_bounds: int = 0  # events with x >= W or y >= H; dropped
    polarity_remapped: int = 0  # events with polarity -1 (Prophesee/-1,1 convention); mapped to 0
    boxes_clipped: int = 0  # boxes reaching outside the sensor; clipped to it
    boxes_absent: int = 0  # frames where the target is absent (absent flag, zero-size or fully outside box) -> NaN
    frames_unannotated: int = 0  # recorded frames without a ground-truth line; dropped
    empty_windows: int = 0  # inter-frame windows without a single event (kept, reported)

    def as_meta(self) -> dict[str, int]:
        return {f"repair_{k}": int(v) for k, v in asdict(self).items()}

    def nonzero(self) -> dict[str, int]:
        return {k: int(v) for k, v in asdict(self).items() if v}


def align_annotated_frames(frame_t_us: np.ndarray, n_boxes: int, source: str, report: LoadReport,
                           start: int = 0) -> np.ndarray:
    """Timestamps of the ``n_boxes`` annotated frames: recorded frames ``start .. start+n_boxes-1``.

    Fewer recorded frames than boxes is an error; recorded frames after the last annotated one are dropped and
    counted in ``report.frames_unannotated``.
    """
    if start < 0 or start + n_boxes > len(frame_t_us):
        raise ValueError(
            f"{source}: {n_boxes} ground-truth boxes from frame {start} but the recording has {len(frame_t_us)} frames"
        )
    report.frames_unannotated += len(frame_t_us) - n_boxes
    return np.asarray(frame_t_us[start:start + n_boxes], dtype=np.int64)


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
) -> Sequence:
    """Validate and (countably) repair one sequence, then build the :class:`Sequence`.

    Errors (``ValueError`` naming ``source``): box count != frame count, frames of another size than the sensor, frame
    timestamps going backwards, no events at all. Counted repairs: see :class:`LoadReport`.
    """
    report = report or LoadReport()
    width, height = int(sensor_size[0]), int(sensor_size[1])
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

    edges = np.searchsorted(events["t"], frame_t_us, side="right")
    report.empty_windows += int(np.count_nonzero(np.diff(edges) == 0))

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
        meta={**(meta or {}), **report.as_meta()},
    )


def _clip_boxes(boxes: np.ndarray, width: int, height: int, report: LoadReport) -> np.ndarray:
    """Clip boxes to the sensor; zero-size or fully-outside boxes become NaN rows (target absent)."""
    out = boxes.copy()
    valid = ~np.isnan(out).any(axis=1)
    x0, y0 = out[:, 0], out[:, 1]
    x1, y1 = x0 + out[:, 2], y0 + out[:, 3]
    cx0, cy0 = np.clip(x0, 0, width), np.clip(y0, 0, height)
    cx1, cy1 = np.clip(x1, 0, width), np.clip(y1, 0, height)
    changed = valid & ((cx0 != x0) | (cy0 != y0) | (cx1 != x1) | (cy1 != y1))
    empty = valid & ((cx1 - cx0 <= 0) | (cy1 - cy0 <= 0))
    report.boxes_clipped += int((changed & ~empty).sum())
    report.boxes_absent += int(empty.sum())
    out[:, 0], out[:, 1], out[:, 2], out[:, 3] = cx0, cy0, cx1 - cx0, cy1 - cy0
    out[empty | ~valid] = np.nan
    return out
