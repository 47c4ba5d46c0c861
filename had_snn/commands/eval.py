"""``had-snn eval``: one-pass evaluation of trackers on a benchmark split (SR / PR / NPR table and plots)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from had_snn.commands.box_update import add_box_update_arguments, box_update_from_args
from had_snn.commands.threads import THREADS_HELP

if TYPE_CHECKING:
    from had_snn.tracking.tracker import BoxUpdate

NAME = "eval"
HELP = "Evaluate trackers (checkpoints or the 'static' baseline) on a split: OTB boxes, SR/PR/NPR table, plots."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tracker", action="append", required=True, metavar="CKPT|static",
                        help="a checkpoint written by `had-snn train`, or 'static' (the box stays where it started);"
                             " repeat to compare several trackers in one table")
    parser.add_argument("--data", type=Path, required=True, help="benchmark root holding index.json")
    parser.add_argument("--split", default="test", help="split to evaluate (default: test)")
    parser.add_argument("--out", type=Path, required=True, help="output directory")
    add_box_update_arguments(parser)
    parser.add_argument("--threads", type=int, help=THREADS_HELP)
    parser.add_argument("--steps", type=int, default=8, help="student time steps per frame interval (default 8)")
    parser.add_argument("--device", default="cpu", help="torch device for checkpoints (default cpu)")
    parser.add_argument("--no-resume", action="store_true", help="re-track sequences even if their boxes exist")
    parser.add_argument("--no-plots", action="store_true", help="skip the PNG plots")


def tracker_name(path: Path, taken: set[str]) -> str:
    """The checkpoint's file stem, prefixed with its folder when two checkpoints share a stem."""
    name = path.stem
    if name in taken:
        name = f"{path.parent.name}-{path.stem}"
    if name in taken:
        raise ValueError(f"two trackers would both be named {name!r}; rename one of the checkpoints ({path})")
    return name


def build_trackers(specs: list[str], window_influence: float, steps: int, device: str,
                   box_update: BoxUpdate | None = None) -> list:
    """Trackers for ``--tracker`` specs; checkpoint trackers are fingerprinted by file hash and settings."""
    from had_snn.evaluation.evaluate import file_fingerprint
    from had_snn.tracking.tracker import ModelTracker, StaticTracker, crop_config_for
    from had_snn.train.checkpoint import load_model

    trackers, taken = [], set()
    for spec in specs:
        if spec == "static":
            tracker = StaticTracker()
        else:
            path = Path(spec)
            model = load_model(path, map_location=device)
            fp = f"{file_fingerprint(path)}:w={window_influence}:T={steps}"
            tracker = ModelTracker(model, crop_config_for(model, steps), window_influence, device=device,
                                   name=tracker_name(path, taken), fingerprint=fp, box_update=box_update)
        if tracker.name in taken:
            raise ValueError(f"tracker {tracker.name!r} given twice")
        taken.add(tracker.name)
        trackers.append(tracker)
    return trackers


def run(args: argparse.Namespace) -> int:
    from had_snn.commands.threads import set_threads
    from had_snn.data.dataset import load_split
    from had_snn.evaluation.evaluate import evaluate

    set_threads(args.threads)
    trackers = build_trackers(args.tracker, args.window_influence, args.steps, args.device, box_update_from_args(args))
    needs_frames = any(getattr(t, "model", None) is not None for t in trackers)
    sequences = load_split(args.data, args.split, load_frames=needs_frames)
    evaluate(trackers, sequences, args.out, split=args.split, resume=not args.no_resume, plots=not args.no_plots)
    print((args.out / "results.md").read_text(), end="")
    print(f"wrote {args.out / 'results.json'}, {args.out / 'results.md'}, boxes and plots under {args.out}")
    return 0
