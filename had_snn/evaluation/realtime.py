"""Real-time (latency-aware) scores: every output box scored against the ground truth at the time the box exists.

Output ``k`` of a tracker exists at ``t_k + latency``, ``t_k`` being the end of its event window (the frame time;
the initial box, given at ``t_0``, is scored there). The latency is the tracker's own (:func:`tracker_latency`):

- a fixed-point student on the chip (an :class:`~had_snn.tracking.loihi.EmulatedTracker`, emulator or Lava): the
  Loihi 1 latency model (:func:`had_snn.hardware.latency.loihi1_latency`) on the operation counts it billed while
  tracking. Reset mode runs a frame's ``T + L`` steps at chip speed once its window has closed: ``(T + L)`` chip
  steps. Stream mode runs each step as soon as its 1/T of a frame interval of events is in (the chip waits for the
  events), so a frame's read-out completes ``L`` such steps after its window closed, plus one chip step.
- any other tracker that runs a model: its measured wall time per frame on this machine (1 / its evaluation FPS).
- a baseline that runs no model (``measures_speed`` False, the static box): none.

The ground truth at any time is :meth:`~had_snn.data.sequence.Sequence.box_at`: the synthetic benchmark's 1 kHz
trajectory, or a real dataset's frame boxes interpolated linearly. A tracker slower than the frame rate is still
scored on every output, each at its own time; on a live stream it would skip frames, which this score does not model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from had_snn.data.sequence import Sequence
from had_snn.evaluation.metrics import SequenceScore, score_sequence


@dataclass(frozen=True)
class Latency:
    """How long after its event window closes a tracker's box exists (us), and where the figure comes from."""

    us: float
    source: str

    def as_dict(self) -> dict:
        return {"latency_us": self.us, "latency_from": self.source}


def chip_latency(tracker: object, frame_interval_us: float) -> Latency | None:
    """The modelled Loihi 1 latency of an emulated (or Lava) student tracker from the counts it billed, its event
    windows coming every ``frame_interval_us``; None for another tracker or before it tracked anything (see the
    module docstring)."""
    emulated = getattr(tracker, "emulated", None)
    crop = getattr(tracker, "crop", None)
    if emulated is None or crop is None:
        return None
    try:
        billed = emulated.counts()
    except ValueError:  # no window run in this process (every box resumed)
        return None
    from had_snn.hardware.counts import counts_from_emulator, parse_counts
    from had_snn.hardware.latency import loihi1_latency
    from had_snn.hardware.resources import ChipSpec, geometries_from_layers, map_network
    from had_snn.hardware.table import load_table

    steps, mode = crop.student_steps, emulated.mode
    geoms = geometries_from_layers(emulated.qnet.layers)
    counts = parse_counts(counts_from_emulator(emulated.layer_names, billed, input_steps=steps, mode=mode), geoms,
                          where=f"counts of tracker {getattr(tracker, 'name', '?')}")
    table = load_table()
    lat = loihi1_latency(geoms, counts, map_network(geoms, ChipSpec.from_table(table, "loihi1")), table)
    step_us, fill = lat.step_ns / 1000.0, emulated.latency_steps
    if mode == "reset":
        return Latency((steps + fill) * step_us, f"Loihi 1 model, reset: {steps + fill} steps x {step_us:.3g} us")
    pace_us = max(frame_interval_us * crop.window_frames / steps, step_us)
    return Latency(fill * pace_us + step_us, f"Loihi 1 model, stream: {fill} steps paced at {pace_us:.4g} us by the "
                                             f"events + one {step_us:.3g} us step")


def measured_latency(fps: float) -> Latency | None:
    """Wall time per frame on this machine from an evaluation's frames per second (None when not measured)."""
    if not (isinstance(fps, (int, float)) and math.isfinite(fps) and fps > 0):
        return None
    return Latency(1e6 / fps, f"measured on this machine: 1 / {fps:.3g} frames/s")


def tracker_latency(tracker: object, fps: float, frame_interval_us: float) -> Latency | None:
    """A tracker's latency (module docstring): the chip model for a fixed-point student, none for a baseline without
    a model, else the measured time per frame (None when it could not be measured, e.g. all boxes resumed)."""
    if not getattr(tracker, "measures_speed", True):
        return Latency(0.0, "none: the baseline runs no model")
    if getattr(tracker, "emulated", None) is not None:
        return chip_latency(tracker, frame_interval_us)
    return measured_latency(fps)


def availability_us(seq: Sequence, latency_us: float) -> np.ndarray:
    """When each output of ``seq`` exists: frame time + ``latency_us``; the initial box at the first frame time."""
    t = seq.frame_t_us.astype(np.float64) + float(latency_us)
    t[0] = float(seq.frame_t_us[0])
    return t


def realtime_score(boxes: np.ndarray, seq: Sequence, latency_us: float) -> SequenceScore:
    """Scores of ``boxes`` (one per frame) against the ground truth at each box's availability time."""
    return score_sequence(boxes, seq.box_at(availability_us(seq, latency_us)), frame_size=seq.sensor_size)
