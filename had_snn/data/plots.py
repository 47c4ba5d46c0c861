"""Quick-look plots: an RGB frame with its boxes beside the event frame of the window before it (sequences), and the
event frame of one time window (event-only recordings).

Figures are built with :class:`matplotlib.figure.Figure` directly (rendered by the Agg canvas, no pyplot state, no
display needed); reused by the demo report for predicted vs ground-truth boxes.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle

from had_snn.data.binning import event_frame
from had_snn.data.events import time_window
from had_snn.data.sequence import Sequence

GT_COLOR = "lime"
PRED_COLOR = "red"


def _draw_box(ax, box: np.ndarray, color: str, label: str, style: str = "-") -> None:
    if box is not None and np.all(np.isfinite(box)):
        x, y, w, h = (float(v) for v in box)
        ax.add_patch(Rectangle((x, y), w, h, fill=False, edgecolor=color, linewidth=1.5, linestyle=style, label=label))


def _draw_event_frame(ax, ev: np.ndarray, sensor_size: tuple[int, int], t0_us: int, t1_us: int) -> int:
    """Draw the signed event frame (ON red, OFF blue) of ``[t0_us, t1_us)`` on ``ax``; returns the event count."""
    ev = time_window(ev, t0_us, t1_us)
    signed = event_frame(ev, sensor_size, signed=True, t0_us=t0_us, t1_us=t1_us)
    lim = max(float(np.percentile(np.abs(signed[signed != 0]), 99)) if np.any(signed) else 1.0, 1.0)
    ax.imshow(signed, cmap="bwr", vmin=-lim, vmax=lim, interpolation="nearest")  # ON (+1) red, OFF (-1) blue
    ax.legend(handles=[Patch(color="red", label="ON"), Patch(color="blue", label="OFF")], loc="lower right",
              fontsize=7, framealpha=0.85, handlelength=1.0)
    return len(ev)


def plot_event_window(
    ev: np.ndarray,
    sensor_size: tuple[int, int],
    t0_us: int,
    t1_us: int,
    title: str | None = None,
):
    """The event frame of ``[t0_us, t1_us)`` over the whole sensor (ON red, OFF blue); returns a new figure.

    The title (default: the window and its event count) gets the window in ms relative to the first event; a window
    past the last event ends there (the label never claims time the recording does not hold).
    """
    if len(ev):
        t1_us = min(int(t1_us), int(ev["t"][-1]) + 1)
    width, height = int(sensor_size[0]), int(sensor_size[1])
    fig = Figure(figsize=(7.0, max(2.0, 7.0 * height / width + 0.5)), layout="constrained")
    ax = fig.subplots()
    n = _draw_event_frame(ax, ev, (width, height), t0_us, t1_us)
    origin = int(ev["t"][0]) if len(ev) else 0
    window = f"[{(t0_us - origin) / 1e3:.1f}, {(t1_us - origin) / 1e3:.1f}) ms: {n} events"
    ax.set_title(f"{title}  {window}" if title else f"events {window}", fontsize=9)
    ax.set_xlim(-0.5, width - 0.5)
    ax.set_ylim(height - 0.5, -0.5)
    ax.set_xticks([])
    ax.set_yticks([])
    return fig


def plot_frame_and_events(
    seq: Sequence,
    k: int,
    pred_box: np.ndarray | None = None,
    axes: tuple | None = None,
    window_us: int | None = None,
):
    """Draw frame ``k`` with its GT box (and ``pred_box`` if given) beside the event frame of the window before it.

    The event window is ``[frame_t_us[k] - window_us, frame_t_us[k])`` (default: one frame period, or 33 ms for a
    single frame); ON events are red, OFF events blue. Returns the figure (new unless ``axes`` is given).
    """
    if not 0 <= k < seq.num_frames:
        raise ValueError(f"sequence {seq.name!r}: frame index {k} out of range 0..{seq.num_frames - 1}")
    t_us = int(seq.frame_t_us[k])
    if window_us is None:
        window_us = int(np.median(np.diff(seq.frame_t_us))) if seq.num_frames > 1 else 33_000
    if axes is None:
        fig = Figure(figsize=(9.0, 3.6), layout="constrained")
        axes = fig.subplots(1, 2)
    else:
        fig = axes[0].figure
    ax_rgb, ax_ev = axes
    if seq.frames is not None:
        ax_rgb.imshow(seq.frames[k])
    else:
        ax_rgb.imshow(np.zeros((seq.height, seq.width, 3), np.uint8))
    ax_rgb.set_title(f"{seq.name}  frame {k}  t={t_us / 1e3:.1f} ms", fontsize=9)
    t0_us = t_us - window_us
    n = _draw_event_frame(ax_ev, seq.events, seq.sensor_size, t0_us, t_us)
    ax_ev.set_title(f"events [{t0_us / 1e3:.1f}, {t_us / 1e3:.1f}) ms: {n}", fontsize=9)
    for ax in axes:
        _draw_box(ax, seq.boxes[k], GT_COLOR, "ground truth")
        if pred_box is not None:
            _draw_box(ax, np.asarray(pred_box, dtype=np.float64), PRED_COLOR, "prediction", "--")
        ax.set_xlim(-0.5, seq.width - 0.5)
        ax.set_ylim(seq.height - 0.5, -0.5)
        ax.set_xticks([])
        ax.set_yticks([])
    if seq.attributes:
        fig.suptitle(", ".join(seq.attributes), fontsize=9)
    if pred_box is not None:
        ax_rgb.legend(loc="lower right", fontsize=7)
    return fig
