"""``had-snn synth``: write the synthetic RGB+event tracking benchmark (train/val/test HDF5 sequences + index.json)."""

from __future__ import annotations

import argparse

NAME = "synth"
HELP = "generate the synthetic RGB+event tracking benchmark (resumable, deterministic per seed)"


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
    parser.add_argument("--out", required=True, help="output root (ROOT/<split>/<name>.h5 and ROOT/index.json)")
    parser.add_argument("--sequences", type=int, required=True, help="total number of sequences over all splits")
    parser.add_argument("--seed", type=int, default=0, help="benchmark seed; per-sequence seeds derive from it")
    parser.add_argument("--split-fractions", type=_fractions, default=(0.6, 0.2, 0.2),
                        help="train,val,test fractions (default 0.6,0.2,0.2). Each split gets at least 6 sequences "
                             "when N >= 18, and each run of 6 sequences in a split cycles through all 6 attributes, "
                             "so every attribute appears in every split")
    parser.add_argument("--size", type=_size, default=(160, 120), help="sensor WIDTHxHEIGHT px (default 160x120)")
    parser.add_argument("--duration-s", type=float, default=2.0, help="sequence length in seconds (default 2)")
    parser.add_argument("--fps", type=float, default=30.0, help="RGB frame rate (default 30)")
    parser.add_argument("--render-hz", type=float, default=1000.0, help="internal render rate (>= 1000, default 1000)")
    parser.add_argument("--workers", type=int, default=1, help="parallel worker processes (default 1)")


def run(args: argparse.Namespace) -> int:
    from had_snn.data.benchmark import build_benchmark
    from had_snn.data.synthetic import SynthConfig

    if args.workers < 1:
        raise ValueError(f"--workers must be >= 1, got {args.workers}")
    cfg = SynthConfig(width_px=args.size[0], height_px=args.size[1], duration_s=args.duration_s, fps=args.fps,
                      render_hz=args.render_hz)
    summary = build_benchmark(args.out, args.sequences, args.seed, args.split_fractions, cfg, workers=args.workers)
    rate = f", {summary.seconds_per_generated:.2f} s per generated sequence" if summary.generated else ""
    print(f"{len(summary.generated)} generated, {len(summary.reused)} reused (already valid){rate}; "
          f"index: {summary.index_path}")
    return 0
