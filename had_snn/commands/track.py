"""``had-snn track``: track one object through a recording from a given initial box with a trained checkpoint.

The recording is any file :func:`had_snn.data.io.read_events` reads, a native HDF5 sequence or an ``.aedat4`` file
(with APS frames when it has them). The tracker reports a box at every frame time of a recording with frames, else
on a grid at ``--rate-hz`` (:mod:`had_snn.tracking.recording`); the checkpoint is a teacher or student ``.pt``, the
student in Loihi fixed point (``--fixed-point``) or a ``student.h5`` written by ``had-snn convert``
(:mod:`had_snn.tracking.online`); ``--loihi-mode reset|stream`` says how the emulated chip runs the frames and
``--backend lava`` runs the fixed-point network in Lava itself (stream mode, one graph for the whole recording).
Writes ``boxes.txt`` (OTB), ``times_us.txt``, ``track.json`` and optionally a video.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from had_snn.commands.box_update import add_box_update_arguments, positive_float, positive_int
from had_snn.util.threads import THREADS_HELP

#: frames per second of ``--video``: a 30 Hz track plays at a third of real time (real time flashes by)
DEFAULT_VIDEO_FPS = 10.0

NAME = "track"
HELP = ("track an object through a recording (events, sequence .h5, .aedat4...) from an initial box with a teacher, "
        "student or Loihi fixed-point checkpoint: OTB boxes, times, track.json, optional .gif/.mp4")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("recording", type=Path,
                        help="an event file read_events reads (.h5, .npz, .txt/.csv, .aedat4, ...), a native HDF5 "
                             "sequence (events + frames) or an .aedat4 with APS frames")
    parser.add_argument("--init", type=float, nargs=4, required=True, metavar=("X", "Y", "W", "H"),
                        help="initial box in px (top-left x, y, width, height) at the first output time")
    parser.add_argument("--checkpoint", type=Path, default=None, metavar="CKPT",
                        help="teacher or student .pt (`had-snn train`), or a student.h5 from `had-snn convert` (the "
                             "Loihi fixed-point student; its 'source' attribute or --source names the student .pt); "
                             "a folder means its best.pt, else last.pt (a training run), else student.h5 (a convert "
                             "output). Default: the small student shipped with had-snn (trained on the synthetic "
                             "benchmark by `make bundled-student`), for a first look without training")
    parser.add_argument("--source", type=Path, metavar="CKPT",
                        help="with a student.h5: the float student .pt it was converted from, instead of the one its "
                             "'source' attribute names (for a file without one, or moved away from it)")
    parser.add_argument("--fixed-point", action="store_true",
                        help="run a student .pt in Loihi fixed point through the bit-exact emulator")
    parser.add_argument("--weight-percentile", type=float, default=None,
                        help="with --fixed-point: |w| percentile mapped to the largest 8-bit weight (default 100, "
                             "as `had-snn convert`); a student.h5 uses the percentile it was converted at")
    parser.add_argument("--loihi-mode", choices=("reset", "stream"), default=None,
                        help="how the emulated chip runs the frames of a fixed-point student (--fixed-point or a "
                             "student.h5): reset (default; each frame T + L steps from the zero state, L = one step "
                             "per synaptic layer) or stream (continuous, T steps per frame, no reset; a frame's crop "
                             "then follows the box of the newest frame whose read-out was complete when it started)")
    parser.add_argument("--backend", choices=("emulator", "lava"), default="emulator",
                        help="what runs a fixed-point student's network: emulator (default; bit-exact with Lava) or "
                             "lava (Lava 0.10 fixed_pt in the Python 3.10 venv, stream mode only: one graph for the "
                             "whole recording, fed frame by frame; about 0.1-0.2 s per step for the student)")
    parser.add_argument("--sensor", type=positive_int, nargs=2, metavar=("W", "H"),
                        help="sensor size in px, for files that do not record it")
    parser.add_argument("--t0-us", type=int, default=None, metavar="T",
                        help="start time in us: the first output is the first frame at or after T (default: the "
                             "first frame); without frames the first output is at T (default: one period after the "
                             "first event, so the template's window is full)")
    parser.add_argument("--rate-hz", type=positive_float, default=None,
                        help="output rate of a recording without frames (default 30); ignored when it has frames")
    parser.add_argument("--steps", type=positive_int, default=None,
                        help="spike steps T per output window (default: the checkpoint's training config, else 8; "
                             "the output says when this overrides the checkpoint's T)")
    parser.add_argument("--device", default="cpu",
                        help="cpu, cuda, cuda:N or auto (CUDA when available; falls back to CPU with a warning)")
    parser.add_argument("--threads", type=int, help=THREADS_HELP)
    parser.add_argument("--out", type=Path, default=None,
                        help="output folder (default: runs/track-<recording stem>)")
    parser.add_argument("--video", type=Path, default=None, metavar="OUT.gif|OUT.mp4",
                        help="also render the event frame of every output window (and the RGB frame beside it) with "
                             "the box; .mp4 needs imageio-ffmpeg (pip install had-snn[video])")
    parser.add_argument("--video-max-frames", type=positive_int, default=300, metavar="N",
                        help="at most N video frames: longer tracks show every k-th output (default 300)")
    parser.add_argument("--video-fps", type=positive_float, default=DEFAULT_VIDEO_FPS, metavar="FPS",
                        help=f"frames per second of the video (default {DEFAULT_VIDEO_FPS:g}: a 30 Hz track at a "
                             "third of real time; the output rate plays it in real time; a .gif plays at most 50)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    add_box_update_arguments(parser.add_argument_group("box update (as `had-snn eval`)"))


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from had_snn.commands.box_update import box_update_from_args
    from had_snn.demo.config import resolve_device
    from had_snn.tracking.crop import event_window_us
    from had_snn.tracking.online import build_tracker, checkpoint_crop, open_checkpoint, resolve_steps, track_online
    from had_snn.tracking.recording import check_init_box, load_recording, output_times, tracking_sequence
    from had_snn.tracking.tracker import write_otb
    from had_snn.util.atomic import write_json_atomic, write_text_atomic
    from had_snn.util.runlock import check_folder_kind, run_folder_lock
    from had_snn.util.threads import set_threads

    set_threads(args.threads)
    progress = not args.no_progress
    if not args.recording.is_file():
        raise FileNotFoundError(f"{args.recording}: no such recording")
    if args.out is not None and args.out.exists() and not args.out.is_dir():
        raise ValueError(f"--out {args.out} is an existing file; expected an output folder")
    if args.video is not None:
        from had_snn.tracking.video import check_video_path, video_indices

        check_video_path(args.video)
        video_indices(1, args.video_max_frames)  # checks the option before any work
    if not 0.0 <= args.window_influence <= 1.0:
        raise ValueError(f"--window-influence must be in [0, 1], got {args.window_influence}")
    box_update = box_update_from_args(args)
    device = resolve_device(args.device)
    checkpoint = args.checkpoint
    if checkpoint is None:
        from had_snn.models.bundled import bundled_description, bundled_student
        from had_snn.models.checkpoint import load_checkpoint

        checkpoint = bundled_student()
        print(f"no --checkpoint: {bundled_description(load_checkpoint(checkpoint))}")
    ckpt = open_checkpoint(checkpoint, args.fixed_point, device, args.weight_percentile, args.source)
    print(f"checkpoint {ckpt.describe()}")

    rec = load_recording(args.recording, tuple(args.sensor) if args.sensor else None, progress=progress)
    print(f"recording {rec.describe()}")
    out = args.out if args.out is not None else Path("runs") / f"track-{rec.name}"
    check_folder_kind(out, "track")  # before tracking: a folder of another kind is refused, not overwritten
    if ckpt.needs_frames and not rec.has_frames:
        raise ValueError(f"the {ckpt.kind} checkpoint {checkpoint} needs RGB frames, but {args.recording} has "
                         "none (event-only recording); track it with a student checkpoint")
    if rec.frame_t_us is not None and args.rate_hz is not None:
        print(f"note: --rate-hz {args.rate_hz:g} ignored, the recording has frame times", file=sys.stderr)
    times, times_from = output_times(rec, args.t0_us, 30.0 if args.rate_hz is None else args.rate_hz)
    box = check_init_box(args.init, rec.sensor_size)
    seq = tracking_sequence(rec, times)

    steps, steps_from = resolve_steps(ckpt, args.steps)
    crop, crop_line = checkpoint_crop(ckpt, args.steps)
    print(f"{crop_line}; {len(times)} outputs at "
          + ("the frame times" if times_from == "frames" else f"{1e6 / np.median(np.diff(times)):.4g} Hz")
          + f" from t = {int(times[0])} us; device {device}")
    tracker, facts = build_tracker(ckpt, crop, args.window_influence, box_update, device, seq=seq, box=box,
                                   loihi_mode=args.loihi_mode, backend=args.backend)
    try:
        if "loihi_mode" in facts:
            print(f"Loihi mode {facts['loihi_mode']} on the {facts['chip_backend']}: "
                  f"{facts['billed_steps_per_frame']} steps billed per frame; the crop of frame k follows the box of "
                  f"frame k - {facts['crop_lag_frames']}")
        if facts.get("silent_template"):
            print("warning: the template cut around --init gives an all-zero correlation kernel (no stage-3 spikes); "
                  "the fixed-point tracker keeps the initial box", file=sys.stderr)
        result = track_online(tracker, seq, box, progress=progress)
        lava_timing = getattr(tracker, "lava_timing_s", None)
    finally:
        tracker.close()
    if lava_timing is not None:
        print("Lava: " + ", ".join(f"{k.removesuffix('_s')} {v:.1f} s" for k, v in lava_timing.items()))

    with run_folder_lock(out, kind="track"):
        write_otb(out / "boxes.txt", result.boxes)
        write_text_atomic(out / "times_us.txt", "".join(f"{int(t)}\n" for t in times))
        summary = {
            "recording": str(args.recording), "recording_kind": rec.kind, "checkpoint": str(ckpt.path),
            "kind": ckpt.kind, "model_kind": ckpt.model_kind,
            "source": None if ckpt.source is None else str(ckpt.source),
            "weight_percentile": ckpt.weight_percentile if ckpt.mode != "float" else None,
            "init_box": [float(v) for v in box], "sensor": list(rec.sensor_size),
            "T": steps, "T_from": steps_from,
            "crop": {"template_px": crop.template_px, "search_px": crop.search_px,
                     "template_context": crop.template_context, "search_context": crop.search_context,
                     "voxel_bins": crop.voxel_bins, "window_frames": crop.window_frames},
            "times_from": times_from, "rate_hz": None if times_from == "frames" else float(args.rate_hz or 30.0),
            "t0_us": int(times[0]), "t_end_us": int(times[-1]), "outputs": len(times),
            "window_us": int(np.diff(event_window_us(seq, 1, crop))[0]),
            "seconds": round(result.seconds, 4), "fps": round(result.fps, 3) if math.isfinite(result.fps) else None,
            "device": device, "box_update": box_update.key(), "window_influence": args.window_influence,
            "silent_template": bool(facts.get("silent_template", False)),
            "loihi_mode": facts.get("loihi_mode"), "crop_lag_frames": facts.get("crop_lag_frames"),
            "billed_steps_per_frame": facts.get("billed_steps_per_frame"),
            "chip_backend": facts.get("chip_backend"),
            "lava_timing_s": None if lava_timing is None else {k: round(v, 3) for k, v in lava_timing.items()},
            "boxes": "boxes.txt", "times": "times_us.txt", "video": None if args.video is None else str(args.video),
            # the penalised peak score behind each box (None for the initial box): how sure the tracker was
            "scores": [round(float(v), 4) if math.isfinite(v) else None for v in result.scores],
        }
        if args.video is not None:
            from had_snn.tracking.video import render_track

            windows = [event_window_us(seq, k, crop) for k in range(seq.num_frames)]
            info = render_track(seq, result.boxes, args.video, windows, args.video_max_frames,
                                title=ckpt.kind, progress=progress, fps=args.video_fps, scores=result.scores)
            summary["video_frames"], summary["video_fps"] = info.frames, round(info.fps, 3)
        write_json_atomic(out / "track.json", summary)
    print(f"tracked {len(times)} outputs in {result.seconds:.2f} s ({result.fps:.1f} outputs/s); wrote "
          f"{out / 'boxes.txt'}, {out / 'times_us.txt'}, {out / 'track.json'}"
          + (f", {args.video}" if args.video is not None else ""))
    return 0
