"""Box jitter: how far the box centre moves per frame and how often it turns back (numpy only).

A tracker whose box hops between two heat-map cells scores a reasonable success rate on a slow target while its
box shakes; these two figures show it, beside the same figures of the ground truth:

* **median step** (px): the median over frames of the centre's displacement ``|c_k - c_{k-1}|`` between
  consecutive frames (both valid);
* **reversal rate**: among consecutive pairs of steps that both move (length > ``min_step_px``), the fraction whose
  directions are more than 90 degrees apart (``d_k . d_{k-1} < 0``). A still or steadily moving box scores 0, a box
  hopping back and forth between two places 1.

Frames count only where the box is usable: for predictions a finite box, for the ground truth a valid one (NaN or
empty marks an absent target, :func:`had_snn.evaluation.metrics.valid_gt_mask`); a step needs both its frames,
a pair all three.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

MIN_STEP_PX = 0.01  # a centre moving less than this between frames counts as still (no direction)


@dataclass(frozen=True)
class Jitter:
    """Centre steps and direction reversals of one box track (or several pooled)."""

    steps_px: np.ndarray  # (S,) lengths of the usable steps
    reversals: int  # usable step pairs that turn back
    pairs: int  # usable step pairs that both move

    @property
    def median_step_px(self) -> float:
        return float(np.median(self.steps_px)) if self.steps_px.size else float("nan")

    @property
    def reversal_rate(self) -> float:
        return self.reversals / self.pairs if self.pairs else float("nan")

    def as_dict(self) -> dict:
        """JSON-safe: NaN (no usable step) becomes ``None``."""
        def num(v: float) -> float | None:
            return v if np.isfinite(v) else None

        return {"median_step_px": num(self.median_step_px), "reversal_rate": num(self.reversal_rate),
                "num_steps": int(self.steps_px.size), "num_step_pairs": int(self.pairs)}


def box_jitter(boxes: np.ndarray, usable: np.ndarray | None = None, min_step_px: float = MIN_STEP_PX) -> Jitter:
    """:class:`Jitter` of ``boxes`` (N, 4) ``x, y, w, h`` px; ``usable`` (N,) bool marks the frames that count
    (default: finite boxes)."""
    b = np.asarray(boxes, dtype=np.float64)
    if b.ndim != 2 or b.shape[1] != 4:
        raise ValueError(f"boxes must be (N, 4) x, y, w, h, got shape {b.shape}")
    ok = np.isfinite(b).all(axis=1) if usable is None else np.asarray(usable, dtype=bool) & np.isfinite(b).all(axis=1)
    centre = b[:, :2] + b[:, 2:] / 2
    step = np.diff(centre, axis=0)  # step k goes from frame k to k + 1
    step_ok = ok[1:] & ok[:-1]
    length = np.sqrt((step**2).sum(axis=1))
    moving = step_ok & (length > min_step_px)
    pair_ok = moving[1:] & moving[:-1]
    dots = (step[1:] * step[:-1]).sum(axis=1)
    return Jitter(steps_px=length[step_ok], reversals=int((pair_ok & (dots < 0)).sum()), pairs=int(pair_ok.sum()))


def pooled(parts: Iterable[Jitter]) -> Jitter:
    """One :class:`Jitter` over several tracks (every step and pair weighs the same)."""
    parts = list(parts)
    steps = np.concatenate([p.steps_px for p in parts]) if parts else np.zeros(0)
    return Jitter(steps_px=steps, reversals=sum(p.reversals for p in parts), pairs=sum(p.pairs for p in parts))
