"""A tracking sequence: events, RGB frames, ground-truth boxes and the continuous trajectory.

Boxes are ``x, y, w, h`` in pixels with a top-left origin (OTB / pytracking convention).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from had_snn.data.events import EVENT_DTYPE

ATTRIBUTES = ("fast_motion", "low_light", "hdr", "occlusion", "distractor", "camera_motion")


@dataclass
class Sequence:
    """One RGB+event tracking sequence.

    Attributes:
        name: sequence name (unique within a split).
        events: EVENT_DTYPE array sorted by ``t`` (microseconds).
        sensor_size: ``(width_px, height_px)``.
        frame_t_us: (N,) int64 box times, microseconds: the synthetic benchmark uses the centre of exposure; real
            datasets the end of the event window the authors cut for that box (see docs/datasets.md).
        boxes: (N, 4) float32 ground truth ``x, y, w, h`` px at ``frame_t_us``; NaN rows where the target is absent.
        frames: (N, H, W, 3) uint8 RGB frames, or None for event-only datasets.
        trajectory_t_us: optional (M,) int64 dense timestamps of the ground-truth trajectory.
        trajectory_boxes: optional (M, 4) float32 boxes at ``trajectory_t_us``.
        attributes: tags from :data:`ATTRIBUTES` (and any dataset-specific ones).
        meta: free-form string/number metadata (dataset, generator parameters...).
    """

    name: str
    events: np.ndarray
    sensor_size: tuple[int, int]
    frame_t_us: np.ndarray
    boxes: np.ndarray
    frames: np.ndarray | None = None
    trajectory_t_us: np.ndarray | None = None
    trajectory_boxes: np.ndarray | None = None
    attributes: tuple[str, ...] = ()
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.events.dtype != EVENT_DTYPE:
            raise ValueError(f"sequence {self.name!r}: events must have dtype {EVENT_DTYPE}, got {self.events.dtype}")
        self.frame_t_us = np.asarray(self.frame_t_us, dtype=np.int64)
        self.boxes = np.asarray(self.boxes, dtype=np.float32).reshape(-1, 4)
        if len(self.boxes) != len(self.frame_t_us):
            raise ValueError(
                f"sequence {self.name!r}: {len(self.boxes)} boxes but {len(self.frame_t_us)} frame timestamps"
            )
        if self.frames is not None and len(self.frames) != len(self.frame_t_us):
            raise ValueError(f"sequence {self.name!r}: {len(self.frames)} frames but {len(self.frame_t_us)} timestamps")
        self.sensor_size = (int(self.sensor_size[0]), int(self.sensor_size[1]))
        self.attributes = tuple(self.attributes)

    @property
    def num_frames(self) -> int:
        return len(self.frame_t_us)

    @property
    def width(self) -> int:
        return self.sensor_size[0]

    @property
    def height(self) -> int:
        return self.sensor_size[1]

    def box_at(self, t_us: float | np.ndarray) -> np.ndarray:
        """Ground-truth box(es) at any time(s), linearly interpolated on the trajectory (or the frame boxes).

        Times outside the trajectory clamp to its ends. Returns shape (4,) for a scalar, (K, 4) for K times.
        """
        ts = self.trajectory_t_us if self.trajectory_t_us is not None else self.frame_t_us
        bs = self.trajectory_boxes if self.trajectory_boxes is not None else self.boxes
        t = np.atleast_1d(np.asarray(t_us, dtype=np.float64))
        out = np.stack([np.interp(t, ts, bs[:, k]) for k in range(4)], axis=-1).astype(np.float32)
        return out[0] if np.ndim(t_us) == 0 else out
