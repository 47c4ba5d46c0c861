"""``had-snn synth``: write the synthetic RGB+event tracking benchmark (train/val/test HDF5 sequences + index.json).

By default 200 sequences (120/40/40) at 160x120 px, 2 s each; ``--workers N`` renders them in N processes (the files
are identical whatever N). Scene attributes: see :data:`had_snn.data.limits.ATTRIBUTES`.

Every option is checked before anything is allocated (sizes, durations, rates, counts: non-finite, negative, zero or
absurd values are refused naming the option). The output folder is locked for the run; a folder that already holds
a benchmark made with other settings is refused (naming what differs) unless ``--force``.
"""

from __future__ import annotations

import argparse
import math

from had_snn.data.limits import (
    ATTRIBUTES,
    DEFAULT_NUM_SEQUENCES,
    MAX_DURATION_S,
    MAX_RENDER_HZ,
    MAX_SEQUENCES,
    MAX_WORKERS,
    MIN_RENDER_HZ,
    SYNTH_MAX_SENSOR_PX,
    SYNTH_MIN_SENSOR_PX,
)

NAME = "synth"
RESUMES = True  # Ctrl-C keeps finished work and the same command continues from it
HELP = "generate the synthetic RGB+event tracking benchmark (resumable, deterministic per seed)"

NUM_ATTRIBUTES = len(ATTRIBUTES)


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT in pixels (e.g. 160x120), got {text!r}") from None
    return w, h


def _fractions(text: str) -> tuple[float, float, float]:
    try:
        parts = tuple(float(v) for v in text.split(","))
    except ValueError:
        parts = ()
    if len(parts) != 3:
        raise argparse.ArgumentTypeError(f"expected three comma-separated train,val,test fractions, got {text!r}")
    return parts


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, help="output root (ROOT/<split>/<name>.h5 and ROOT/index.json); "
                        "locked while synth runs")
    parser.add_argument("--sequences", type=int, default=DEFAULT_NUM_SEQUENCES,
                        help=f"total number of sequences over all splits (1..{MAX_SEQUENCES}; default "
                             f"{DEFAULT_NUM_SEQUENCES}: 120 train, 40 val, 40 test)")
    parser.add_argument("--seed", type=int, default=0, help="benchmark seed (>= 0); per-sequence seeds derive from it")
    parser.add_argument("--split-fractions", type=_fractions, default=(0.6, 0.2, 0.2),
                        help=f"train,val,test fractions (default 0.6,0.2,0.2; non-negative, positive sum). Each "
                             f"split gets at least {NUM_ATTRIBUTES} sequences when N >= {3 * NUM_ATTRIBUTES}, and "
                             f"each run of {NUM_ATTRIBUTES} sequences in a split cycles through all "
                             f"{NUM_ATTRIBUTES} attributes (fast_motion, low_light, hdr, occlusion, distractor, "
                             f"camera_motion, pause, color_distractor, textureless), so every attribute appears in "
                             f"every split")
    parser.add_argument("--size", type=_size, default=(160, 120),
                        help=f"sensor WIDTHxHEIGHT px, each {SYNTH_MIN_SENSOR_PX}..{SYNTH_MAX_SENSOR_PX} "
                             "(default 160x120)")
    parser.add_argument("--duration-s", type=float, default=2.0,
                        help=f"sequence length in seconds, (0, {MAX_DURATION_S:g}] (default 2)")
    parser.add_argument("--fps", type=float, default=30.0,
                        help="RGB frame rate, > 0 and at most half the render rate (default 30)")
    parser.add_argument("--render-hz", type=float, default=1000.0,
                        help=f"internal render rate, {MIN_RENDER_HZ:g}..{MAX_RENDER_HZ:g} (default 1000)")
    parser.add_argument("--workers", type=int, default=1, help=f"parallel worker processes, 1..{MAX_WORKERS} "
                        "(default 1)")
    parser.add_argument("--force", action="store_true",
                        help="rebuild OUT even if it holds a benchmark made with another seed, count, split or "
                             "size: sequence files the new plan does not name are deleted, the others are kept if "
                             "they match the plan and regenerated otherwise (same settings resume without it)")


def _in_range(option: str, value: float, low: float, high: float, low_inclusive: bool = True,
              what: str = "a number") -> None:
    above = value >= low if low_inclusive else value > low
    if not (math.isfinite(value) and above and value <= high):
        raise ValueError(f"{option}: expected {what} in {'[' if low_inclusive else '('}{low:g}, {high:g}], "
                         f"got {value:g}")


def check_options(args: argparse.Namespace) -> None:
    """Every option's range, checked before anything is allocated; ValueError names the option and the value."""
    if not 1 <= args.sequences <= MAX_SEQUENCES:
        raise ValueError(f"--sequences: number of sequences must be >= 1 and <= {MAX_SEQUENCES}, "
                         f"got {args.sequences}")
    if args.seed < 0:
        raise ValueError(f"--seed: expected an integer >= 0, got {args.seed}")
    w, h = args.size
    if not all(SYNTH_MIN_SENSOR_PX <= v <= SYNTH_MAX_SENSOR_PX for v in (w, h)):
        raise ValueError(f"--size: expected a width and height between {SYNTH_MIN_SENSOR_PX} and "
                         f"{SYNTH_MAX_SENSOR_PX} px, got {w}x{h}")
    fr = args.split_fractions
    if not all(math.isfinite(f) and f >= 0 for f in fr) or sum(fr) <= 0:
        raise ValueError(f"--split-fractions: expected three non-negative numbers with a positive sum, "
                         f"got {','.join(f'{f:g}' for f in fr)}")
    _in_range("--duration-s", args.duration_s, 0, MAX_DURATION_S, low_inclusive=False, what="seconds")
    _in_range("--render-hz", args.render_hz, MIN_RENDER_HZ, MAX_RENDER_HZ, what="a rate in Hz")
    _in_range("--fps", args.fps, 0, args.render_hz / 2, low_inclusive=False, what="a frame rate (at most half of "
              "--render-hz)")
    if args.duration_s * args.fps < 2:
        raise ValueError(f"--duration-s {args.duration_s:g} at --fps {args.fps:g} gives fewer than 2 frames; "
                         f"expected duration_s * fps >= 2")
    if not 1 <= args.workers <= MAX_WORKERS:
        raise ValueError(f"--workers: expected an integer in [1, {MAX_WORKERS}], got {args.workers}")


def run(args: argparse.Namespace) -> int:
    from had_snn.data.benchmark import build_benchmark
    from had_snn.data.synthetic import SynthConfig

    check_options(args)
    cfg = SynthConfig(width_px=args.size[0], height_px=args.size[1], duration_s=args.duration_s, fps=args.fps,
                      render_hz=args.render_hz)
    summary = build_benchmark(args.out, args.sequences, args.seed, args.split_fractions, cfg, workers=args.workers,
                              force=args.force)
    rate = f", {summary.seconds_per_generated:.2f} s per generated sequence" if summary.generated else ""
    removed = f", {len(summary.removed)} stray file(s) removed" if summary.removed else ""
    print(f"{len(summary.generated)} generated, {len(summary.reused)} reused (already valid){removed}{rate}; "
          f"index: {summary.index_path}")
    return 0

