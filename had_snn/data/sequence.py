"""A tracking sequence: events, RGB frames, ground-truth boxes and the continuous trajectory.

Boxes are ``x, y, w, h`` in pixels with a top-left origin (OTB / pytracking convention).

Validation at the edges shared by every reader: :func:`check_sensor_size` (a sensor size is two integers in
``1..MAX_SENSOR_PX`` with at most ``MAX_SENSOR_PIXELS`` pixels, checked before anything is allocated) and
:func:`sanitize_boxes` (ground-truth boxes that cannot be a target on the sensor become absent NaN rows, counted and
logged; see :func:`valid_box_mask`).
"""

from __future__ import annotations

import logging
import numbers
from dataclasses import dataclass, field

import numpy as np

from had_snn.data.events import EVENT_DTYPE

log = logging.getLogger(__name__)

#: Largest sensor side accepted anywhere (px): larger values are corrupt headers, not cameras (the biggest event
#: sensors are a few thousand px wide).
MAX_SENSOR_PX = 16_384
#: Largest sensor area (W x H px) accepted: 2^24, 4096 x 4096 (the largest event sensors have about 1.2 million px);
#: bounds every per-pixel grid a reader or a plot allocates.
MAX_SENSOR_PIXELS = 1 << 24
#: A ground-truth box wider (taller) than this many sensor widths (heights) is not an annotation of a target seen
#: by the sensor.
MAX_BOX_SCALE = 2.0


def check_sensor_size(size, where: str) -> tuple[int, int]:
    """``(W, H)`` px as two ints, each an integer in ``1..MAX_SENSOR_PX``; else ValueError naming ``where``.

    ``where`` names the file and field (e.g. ``"a.h5: attribute 'sensor_size'"``). Integral floats (``640.0``)
    are accepted; fractions, NaN, booleans and strings are not.
    """
    try:
        values = list(np.asarray(size, dtype=object).ravel())
    except Exception:  # noqa: BLE001 - anything that is not a pair of numbers
        values = []
    expected = f"expected two integers (W, H) in 1..{MAX_SENSOR_PX} px"
    shown = [v.item() if isinstance(v, np.generic) else v for v in values] if values else size
    if len(values) != 2:
        raise ValueError(f"{where}: sensor size {shown!r} is not (W, H); {expected}")
    out = []
    for v in values:
        ok = isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_))
        ok = ok and bool(np.isfinite(float(v))) and float(v) == int(v)
        if not ok or not 1 <= int(v) <= MAX_SENSOR_PX:
            raise ValueError(f"{where}: sensor size {shown!r} is not valid; {expected}")
        out.append(int(v))
    if out[0] * out[1] > MAX_SENSOR_PIXELS:
        raise ValueError(f"{where}: sensor size {out[0]} x {out[1]} px has {out[0] * out[1]} pixels, more than the "
                         f"{MAX_SENSOR_PIXELS} (4096 x 4096) accepted")
    return out[0], out[1]


def valid_box_mask(boxes: np.ndarray, sensor_wh: tuple[int, int]) -> np.ndarray:
    """Per row of ``(N, 4)`` boxes ``x, y, w, h`` px: True where the box can be a target on a ``(W, H)`` sensor.

    Valid: all four values finite, ``w > 0`` and ``h > 0``, overlapping the sensor ``[0, W) x [0, H)`` (a box only
    partly on the sensor is valid), and ``w <= MAX_BOX_SCALE * W``, ``h <= MAX_BOX_SCALE * H``.
    """
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    w_px, h_px = float(sensor_wh[0]), float(sensor_wh[1])
    with np.errstate(invalid="ignore", over="ignore"):
        ok = np.isfinite(b).all(axis=1) & (b[:, 2] > 0) & (b[:, 3] > 0)
        ok &= (b[:, 0] < w_px) & (b[:, 1] < h_px) & (b[:, 0] + b[:, 2] > 0) & (b[:, 1] + b[:, 3] > 0)
        ok &= (b[:, 2] <= MAX_BOX_SCALE * w_px) & (b[:, 3] <= MAX_BOX_SCALE * h_px)
    return ok


def sanitize_boxes(boxes: np.ndarray, sensor_wh: tuple[int, int], where: str) -> tuple[np.ndarray, int]:
    """Boxes with every invalid row (see :func:`valid_box_mask`) set to NaN (target absent), and how many were.

    Rows that are already all-NaN (absent) are not counted. When some are, one warning names ``where`` (the file or
    sequence), the count, the first such frame and its box. Returns a float32 copy ``(N, 4)``.
    """
    out = np.array(boxes, dtype=np.float32).reshape(-1, 4)
    absent = np.isnan(out).all(axis=1)
    bad = ~valid_box_mask(out, sensor_wh) & ~absent
    n_invalid = int(bad.sum())
    if n_invalid:
        k = int(np.flatnonzero(bad)[0])
        log.warning("%s: %d ground-truth box(es) with non-positive size, non-finite values or outside the %dx%d px "
                    "sensor are treated as absent (first: frame %d, box %s)", where, n_invalid, int(sensor_wh[0]),
                    int(sensor_wh[1]), k, [float(v) for v in out[k]])
        out[bad] = np.nan
    return out, n_invalid



@dataclass
class Sequence:
    """One RGB+event tracking sequence.

    Attributes:
        name: sequence name (unique within a split).
        events: EVENT_DTYPE array sorted by ``t`` (microseconds).
        sensor_size: ``(width_px, height_px)``.
        frame_t_us: (N,) int64 box times, microseconds: the synthetic benchmark uses the centre of exposure; real
            datasets the end of the event window the authors cut for that box (see docs/datasets.md).
        boxes: (N, 4) float32 ground truth ``x, y, w, h`` px at ``frame_t_us``; NaN rows where the target is absent
            (readers turn invalid boxes into NaN rows with :func:`sanitize_boxes`).
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
        self.sensor_size = check_sensor_size(self.sensor_size, f"sequence {self.name!r}")
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
