"""``had-snn show FILE``: a quick-look PNG of any supported event file.

Native sequences (and ``.aedat4`` files with APS frames): an RGB frame, with its ground-truth box, beside the event
frame of the window before it. Event-only files (``.raw``/``.dat``, ``.npy``, ``.npz``, text, events-only HDF5,
``.aedat4`` without frames): the event frame of one time window, ``--t0-ms`` after the first event.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from had_snn.commands.box_update import finite_float, nonnegative_int, positive_float, positive_int

NAME = "show"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".pdf", ".svg")
HELP = ("plot a sequence frame with its box beside the preceding event frame, or the event frame of a time window "
        "of any event file (.h5, .npz, .npy, .txt/.csv, .aedat4, Prophesee .raw/.dat), to PNG")
DEFAULT_WINDOW_MS = 33.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("sequence", metavar="FILE", help="native HDF5 sequence (SEQ.h5) or any event file")
    parser.add_argument("--sensor", type=positive_int, nargs=2, metavar=("W", "H"), default=None,
                        help="sensor size in px, for files that do not store it (Prophesee .raw/.dat without "
                             "geometry, .npy); checked against the file's where it has one")
    parser.add_argument("--frame", type=nonnegative_int, default=None,
                        help="frame index, for files with frames (default: the middle frame)")
    parser.add_argument("--t0-ms", type=finite_float, default=None,
                        help="event-window view: window start in ms after the first event (default 0 for files "
                             "without frames; on a file with APS frames it selects this view instead of a frame)")
    parser.add_argument("--window-ms", type=positive_float, default=None,
                        help="event window in ms (default: one frame period before the frame; "
                             f"{DEFAULT_WINDOW_MS:g} ms for the event-window view)")
    parser.add_argument("--out", default=None,
                        help="output PNG (default next to FILE: FILE_frameK.png or FILE_events_T0ms.png)")


def _window_us(window_ms: float | None) -> int | None:
    if window_ms is None:
        return None
    window_us = int(round(window_ms * 1000))
    if window_us <= 0:
        raise ValueError(f"--window-ms must be > 0, got {window_ms}")
    return window_us


def _frame_index(path: Path, frame: int | None, num_frames: int) -> int:
    k = num_frames // 2 if frame is None else frame
    if not 0 <= k < num_frames:
        raise ValueError(f"{path}: --frame {k} out of range, the file has {num_frames} frames")
    return k


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from had_snn.data.io import (
        EVENT_FILE,
        HDF5_SUFFIXES,
        SEQUENCE_FORMAT,
        _open_h5,
        read_events_and_frames,
        read_sequence,
    )
    from had_snn.data.plots import plot_event_window, plot_frame_and_events
    from had_snn.data.sequence import Sequence
    from had_snn.util.atomic import save_figure
    from had_snn.util.paths import existing_file

    path = existing_file(args.sequence, EVENT_FILE)
    if args.out and Path(args.out).is_dir():
        raise ValueError(f"--out {args.out} is a folder; expected a .png file name")
    if args.out and Path(args.out).suffix.lower() not in IMAGE_SUFFIXES:
        raise ValueError(f"--out {args.out}: unknown image suffix {Path(args.out).suffix or '(none)'!r}; expected one "
                         f"of {', '.join(IMAGE_SUFFIXES)}")
    window_us = _window_us(args.window_ms)
    sensor = None if args.sensor is None else (int(args.sensor[0]), int(args.sensor[1]))
    is_sequence = False
    if path.suffix.lower() in HDF5_SUFFIXES:
        with _open_h5(path) as f:
            fmt = f.attrs.get("format", None)
            is_sequence = (fmt.decode() if isinstance(fmt, bytes) else fmt) == SEQUENCE_FORMAT
    if is_sequence:
        if args.t0_ms is not None:
            raise ValueError(f"{path}: --t0-ms is for event files; a sequence is shown at a frame (--frame)")
        seq = read_sequence(path)
        if sensor is not None and sensor != seq.sensor_size:
            raise ValueError(f"{path}: file sensor size {seq.sensor_size} differs from the requested {sensor}")
    else:
        ev, size, frames, frame_t_us = read_events_and_frames(path, sensor_size=sensor, progress=True,
                                                              load_frames=args.t0_ms is None)
        seq = None
        if frames is not None:  # .aedat4 with APS frames: frame view, no ground truth
            seq = Sequence(name=path.stem, events=ev, sensor_size=size, frame_t_us=frame_t_us,
                           boxes=np.full((len(frame_t_us), 4), np.nan, np.float32), frames=frames)
    if seq is not None:
        k = _frame_index(path, args.frame, seq.num_frames)
        out = Path(args.out) if args.out else path.with_name(f"{path.stem}_frame{k}.png")
        save_figure(plot_frame_and_events(seq, k, window_us=window_us), out)
        print(f"wrote {out}")
        return 0
    if args.frame is not None:
        raise ValueError(f"{path}: --frame given but the file has no frames; use --t0-ms / --window-ms")
    if len(ev) == 0:
        raise ValueError(f"{path}: no events to show")
    t0_ms = 0.0 if args.t0_ms is None else float(args.t0_ms)
    span_ms = (int(ev["t"][-1]) - int(ev["t"][0])) / 1e3
    if not 0 <= t0_ms <= span_ms:
        raise ValueError(f"{path}: --t0-ms {t0_ms:g} is outside the recording (0 .. {span_ms:g} ms after the "
                         f"first event)")
    t0_us = int(ev["t"][0]) + int(round(t0_ms * 1000))
    t1_us = t0_us + (window_us if window_us is not None else int(DEFAULT_WINDOW_MS * 1000))
    out = Path(args.out) if args.out else path.with_name(f"{path.stem}_events_{t0_ms:g}ms.png")
    save_figure(plot_event_window(ev, size, t0_us, t1_us, title=f"{path.name}  {size[0]}x{size[1]}"), out)
    print(f"wrote {out}")
    return 0
