"""Render a track as a video: per output time, the event frame of its window (and the RGB frame beside it when the
recording has one) with the tracker's box drawn on it.

``.gif`` is written by matplotlib's ``PillowWriter`` (Pillow, always installed); ``.mp4`` (H.264) by matplotlib's
``FFMpegWriter`` with the ffmpeg binary that the ``imageio-ffmpeg`` package ships (``pip install had-snn[video]``).
Figures are built with :class:`matplotlib.figure.Figure` (Agg canvas, no pyplot state, no display). The file is
written under a temporary name and renamed when complete.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from had_snn.data.sequence import Sequence

VIDEO_SUFFIXES = (".gif", ".mp4")
VIDEO_EXTRA_HINT = "pip install had-snn[video] (imageio-ffmpeg), or write a .gif instead"
BOX_COLOR = "darkorange"
GIF_MAX_FPS = 50.0  # GIF delays are whole centiseconds and viewers slow down anything shorter than 2 cs
PANEL_PX = 480  # each panel is scaled up to at least this width
LABEL_BAND_PX = 36  # the caption's two lines above the panels (the caption never covers the image or the box)


@dataclass
class VideoInfo:
    path: Path
    frames: int  # frames written
    stride: int  # every stride-th output time is a frame
    fps: float


def ffmpeg_exe() -> str:
    """The ffmpeg binary shipped by ``imageio-ffmpeg``; ValueError suggesting the extra (or a .gif) when missing."""
    try:
        import imageio_ffmpeg
    except ImportError:
        raise ValueError(f"writing .mp4 needs the ffmpeg binary of imageio-ffmpeg: {VIDEO_EXTRA_HINT}") from None
    try:
        return imageio_ffmpeg.get_ffmpeg_exe()
    except RuntimeError as exc:  # the package is there but its binary is not (unsupported platform)
        raise ValueError(f"writing .mp4: imageio-ffmpeg has no ffmpeg binary here ({exc}); "
                         f"{VIDEO_EXTRA_HINT}") from None


def check_video_path(path: str | os.PathLike, option: str = "--video") -> Path:
    """A writable video path: ``.gif`` or ``.mp4`` (which needs ffmpeg); ValueError naming ``option`` otherwise."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in VIDEO_SUFFIXES:
        raise ValueError(f"{option} {path}: unknown video suffix {path.suffix!r}; expected one of "
                         f"{list(VIDEO_SUFFIXES)}")
    if path.is_dir():
        raise ValueError(f"{option} {path}: is a folder; expected a video file name")
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise ValueError(f"{option} {path}: cannot write there ({parent} is not a writable folder)")
    if suffix == ".mp4":
        ffmpeg_exe()
    return path


def video_indices(n: int, max_frames: int) -> tuple[list[int], int]:
    """Output indices rendered when at most ``max_frames`` of ``n`` fit: every ``stride``-th one from the first."""
    if max_frames < 1:
        raise ValueError(f"--video-max-frames must be >= 1, got {max_frames}")
    stride = max(1, math.ceil(n / max_frames))
    return list(range(0, n, stride)), stride


def render_track(
    seq: Sequence,
    boxes: np.ndarray,
    path: str | os.PathLike,
    windows_us: list[tuple[int, int]],
    max_frames: int = 300,
    title: str = "",
    progress: bool = False,
    fps: float | None = None,
    scores: np.ndarray | None = None,
) -> VideoInfo:
    """Write the video of ``boxes`` (one per frame of ``seq``, i.e. per output time) to ``path`` (.gif or .mp4).

    ``windows_us[k]`` is the event window ``[t0, t1)`` of output ``k`` (what the tracker saw); the caption above the
    panels gives its time, its event window and ``scores[k]`` (the tracker's peak score) when given. With more than
    ``max_frames`` outputs every ``stride``-th one is drawn. ``fps``: frames per second of the video (None: real
    time, output rate / stride); a GIF plays at most :data:`GIF_MAX_FPS`.
    """
    import matplotlib as mpl
    from matplotlib import animation
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle
    from tqdm import tqdm

    from had_snn.data.binning import event_frame
    from had_snn.data.events import time_window
    from had_snn.util.atomic import atomic_path

    path = check_video_path(path)
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    n = seq.num_frames
    if len(boxes) != n or len(windows_us) != n:
        raise ValueError(f"render_track: {len(boxes)} boxes and {len(windows_us)} windows for {n} output times")
    if fps is not None and not (math.isfinite(fps) and fps > 0):
        raise ValueError(f"--video-fps must be a positive number, got {fps}")
    indices, stride = video_indices(n, max_frames)
    period_us = float(np.median(np.diff(seq.frame_t_us))) if n > 1 else 1e6 / 30
    fps = 1e6 / period_us / stride if fps is None else float(fps)
    if path.suffix.lower() == ".gif":
        fps = min(fps, GIF_MAX_FPS)

    w_px, h_px = seq.sensor_size
    rgb = seq.frames is not None
    panels = 2 if rgb else 1
    scale = max(1.0, PANEL_PX / w_px)
    dpi = 100
    fig_h = h_px * scale + LABEL_BAND_PX
    fig = Figure(figsize=(panels * w_px * scale / dpi, fig_h / dpi), dpi=dpi)
    image_h = h_px * scale / fig_h
    axes = [fig.add_axes((i / panels, 0.0, 1.0 / panels, image_h)) for i in range(panels)]
    images, rects = [], []
    for i, ax in enumerate(axes):
        ax.set_axis_off()
        if rgb and i == 0:
            images.append(ax.imshow(seq.frames[0], interpolation="nearest"))
        else:
            images.append(ax.imshow(np.zeros((h_px, w_px), np.float32), cmap="bwr", vmin=-1, vmax=1,
                                    interpolation="nearest"))  # ON (+1) red, OFF (-1) blue, as the caption says
        ax.set_xlim(-0.5, w_px - 0.5)
        ax.set_ylim(h_px - 0.5, -0.5)
        rects.append(ax.add_patch(Rectangle((0, 0), 1, 1, fill=False, edgecolor=BOX_COLOR, linewidth=2)))
    label = fig.text(0.005, (1 + image_h) / 2, "", va="center", ha="left", fontsize=8, family="monospace",
                     linespacing=1.3)

    if path.suffix.lower() == ".mp4":
        writer = animation.FFMpegWriter(fps=fps, codec="h264")
        rc = {"animation.ffmpeg_path": ffmpeg_exe()}
    else:
        writer = animation.PillowWriter(fps=fps)
        rc = {}
    t_first = int(seq.frame_t_us[0])
    with mpl.rc_context(rc), atomic_path(path) as tmp:
        with writer.saving(fig, str(tmp), dpi):
            for k in tqdm(indices, desc="video", unit="frame", disable=not progress):
                t0, t1 = (int(v) for v in windows_us[k])
                signed = event_frame(time_window(seq.events, t0, t1), seq.sensor_size, signed=True, t0_us=t0,
                                     t1_us=t1)
                lim = max(float(np.percentile(np.abs(signed[signed != 0]), 99)) if np.any(signed) else 1.0, 1.0)
                images[-1].set_data(signed)
                images[-1].set_clim(-lim, lim)
                if rgb:
                    images[0].set_data(seq.frames[k])
                box = boxes[k]
                for rect in rects:
                    rect.set_visible(bool(np.all(np.isfinite(box))))
                    if rect.get_visible():
                        rect.set_bounds(*box)
                rel = [(v - t_first) / 1e3 for v in (int(seq.frame_t_us[k]), t0, t1)]
                score = scores[k] if scores is not None and k < len(scores) else float("nan")
                what = "init box" if k == 0 else (f"score {score:.2f}" if math.isfinite(score) else "box")
                label.set_text(f"{title}{'  ' if title else ''}{k}/{n - 1}  t={rel[0]:.1f} ms  {what}\n"
                               f"events [{rel[1]:.1f}, {rel[2]:.1f}) ms: ON red, OFF blue")
                writer.grab_frame()
    fig.clear()
    return VideoInfo(path, len(indices), stride, fps)
