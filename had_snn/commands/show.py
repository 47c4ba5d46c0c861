"""``had-snn show``: render an RGB frame with its ground-truth box beside the event frame of the window before it."""

from __future__ import annotations

import argparse
from pathlib import Path

NAME = "show"
HELP = "plot a sequence frame with its box beside the preceding event frame, to PNG"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("sequence", help="native HDF5 sequence file (SEQ.h5)")
    parser.add_argument("--frame", type=int, default=None, help="frame index (default: the middle frame)")
    parser.add_argument("--window-ms", type=float, default=None,
                        help="event window before the frame in ms (default: one frame period)")
    parser.add_argument("--out", default=None, help="output PNG (default: SEQ_frameK.png next to the sequence)")


def run(args: argparse.Namespace) -> int:
    from had_snn.data.io import read_sequence
    from had_snn.data.plots import plot_frame_and_events
    from had_snn.util.atomic import save_figure

    seq = read_sequence(args.sequence)
    k = seq.num_frames // 2 if args.frame is None else args.frame
    if not 0 <= k < seq.num_frames:
        raise ValueError(f"{args.sequence}: --frame {k} out of range, the sequence has {seq.num_frames} frames")
    window_us = None if args.window_ms is None else int(round(args.window_ms * 1000))
    if window_us is not None and window_us <= 0:
        raise ValueError(f"--window-ms must be > 0, got {args.window_ms}")
    out = Path(args.out) if args.out else Path(args.sequence).with_name(f"{Path(args.sequence).stem}_frame{k}.png")
    save_figure(plot_frame_and_events(seq, k, window_us=window_us), out)
    print(f"wrote {out}")
    return 0
