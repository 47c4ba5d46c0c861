"""``had-snn eval``: one-pass evaluation of trackers on a benchmark split (SR / PR / NPR table and plots).

A tracker is ``[NAME=]PATH`` or ``static``. PATH is a checkpoint written by ``had-snn train`` (a run folder means
its ``best.pt``, else its ``last.pt``) or a converted network (a ``had-snn convert`` output folder or its
``student.h5``), which tracks in Loihi fixed point through the bit-exact emulator (``--loihi-mode reset|stream``).
Each tracker's T (spike steps per
window) and crop sizes come from its checkpoint (:func:`had_snn.tracking.online.checkpoint_crop`, as ``had-snn
track``); ``--steps`` overrides T for every tracker and the output says so. Boxes go to ``OUT/boxes/NAME/`` (NAME
defaults to the run folder's name); a different tracker under a name that already has boxes in ``OUT`` is refused
unless ``--force``. The table (``results.json``, ``results.md``, plots) also scores the trackers evaluated into
``OUT`` earlier (their stored boxes), so evaluations added one at a time end in one table.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from had_snn.commands.box_update import add_box_update_arguments, box_update_from_args, positive_int
from had_snn.util.threads import THREADS_HELP

if TYPE_CHECKING:
    from had_snn.tracking.tracker import BoxUpdate

NAME = "eval"
RESUMES = True  # Ctrl-C keeps finished work and the same command continues from it
HELP = ("Evaluate trackers (checkpoints, run folders, converted networks or the 'static' baseline) on a split: OTB "
        "boxes, SR/PR/NPR table, plots.")
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tracker", action="append", required=True, metavar="[NAME=]PATH|static",
                        help="a checkpoint written by `had-snn train` or its run folder (best.pt, else last.pt), a "
                             "converted network (`had-snn convert` output folder or its student.h5; tracked by the "
                             "bit-exact Loihi emulator), or 'static' (the box stays where it started). NAME labels "
                             "the tracker's boxes and table row (default: the run folder's name, or the file stem "
                             "of another file name); repeat to compare several trackers in one table")
    parser.add_argument("--data", type=Path, required=True, help="benchmark root holding index.json")
    parser.add_argument("--split", default="test", help="split to evaluate (default: test)")
    parser.add_argument("--out", type=Path, required=True,
                        help="output directory: results.json, results.md, plots/ and boxes/NAME/ per tracker (a "
                             "different tracker's boxes already stored under NAME are refused unless --force); the "
                             "table also scores the trackers evaluated into OUT before")
    add_box_update_arguments(parser)
    parser.add_argument("--threads", type=int, help=THREADS_HELP)
    parser.add_argument("--steps", type=positive_int, default=None,
                        help="student time steps T per frame interval (default: each checkpoint's training config, "
                             "else 8); overriding a checkpoint's T is reported")
    parser.add_argument("--loihi-mode", choices=("reset", "stream"), default=None,
                        help="how the emulated chip runs the frames of every converted network among the trackers: "
                             "reset (default; each frame T + L steps from the zero state) or stream (continuous, T "
                             "steps per frame; a frame's crop follows the newest box whose read-out was complete)")
    parser.add_argument("--backend", choices=("emulator", "lava"), default="emulator",
                        help="what runs every converted network among the trackers: emulator (default; bit-exact "
                             "with Lava) or lava (Lava 0.10 fixed_pt, stream mode only, one graph per sequence; "
                             "slow: about 0.1-0.2 s per chip step for the student)")
    parser.add_argument("--source", type=Path, metavar="CKPT",
                        help="the float student .pt of the converted networks among the trackers, instead of the "
                             "one their 'source' attribute names (for a file without one, or moved away from it)")
    parser.add_argument("--device", default="cpu",
                        help="cpu, cuda, cuda:N or auto (CUDA when available; falls back to CPU with a warning); "
                             "default cpu")
    parser.add_argument("--no-resume", action="store_true", help="re-track sequences even if their boxes exist")
    parser.add_argument("--force", action="store_true",
                        help="replace the boxes of a different tracker stored under the same name in --out")
    parser.add_argument("--latency-aware", action="store_true",
                        help="also score every box against the ground truth at the time it exists: the end of its "
                             "event window + the tracker's latency (the Loihi 1 model for a converted network, the "
                             "measured time per frame on this machine for the others); a real-time SR beside SR")
    parser.add_argument("--no-plots", action="store_true", help="skip the PNG plots")


def parse_tracker_spec(spec: str) -> tuple[str | None, str]:
    """``NAME=PATH`` -> (NAME, PATH); a plain PATH (or an existing path containing '=') -> (None, PATH)."""
    if "=" in spec and not Path(spec).exists():
        name, path = spec.split("=", 1)
        if not NAME_RE.fullmatch(name):
            raise ValueError(f"--tracker {spec}: NAME {name!r} must be letters, digits, '.', '_', '+' or '-' "
                             "(starting with a letter or digit)")
        if not path:
            raise ValueError(f"--tracker {spec}: no PATH after {name}=")
        return name, path
    if not spec:
        raise ValueError("--tracker: empty PATH")
    return None, spec


def default_tracker_name(given: Path, resolved: Path) -> str:
    """The run folder's name for a folder or a run file in it (``best.pt``, ``last.pt``, ``student.h5``), else the
    file stem."""
    from had_snn.tracking.online import RUN_FILES

    if given.is_dir():
        name = given.resolve().name
    elif resolved.name in RUN_FILES:
        name = resolved.resolve().parent.name
    else:
        name = resolved.stem
    return name if NAME_RE.fullmatch(name) else re.sub(r"[^A-Za-z0-9._+-]", "_", name).lstrip("._+-") or "tracker"


def build_trackers(specs: list[str], window_influence: float, steps: int | None, device: str,
                   box_update: BoxUpdate | None = None, loihi_mode: str | None = None,
                   source: Path | None = None, backend: str = "emulator") -> list:
    """Trackers for ``--tracker`` specs, each with its crop from its checkpoint (:func:`checkpoint_crop`), an
    ``identity`` (the file's hash) and a fingerprint of identity and settings; prints one line per tracker.
    ``loihi_mode`` (``--loihi-mode``) and ``source`` (``--source``, the float student) apply to every converted
    network; they are refused when there is none, as is ``backend`` ``lava`` (``--backend``). Lava trackers hold a
    Lava session each: :func:`close_trackers` ends them (here too, when a later spec fails)."""
    trackers: list = []
    try:
        _add_trackers(trackers, specs, window_influence, steps, device, box_update, loihi_mode, source, backend)
    except BaseException:
        close_trackers(trackers)
        raise
    return trackers


def close_trackers(trackers: list) -> None:
    """End what the trackers hold (a Lava tracker's session)."""
    for tracker in trackers:
        close = getattr(tracker, "close", None)
        if close is not None:
            close()


def _add_trackers(trackers: list, specs: list[str], window_influence: float, steps: int | None, device: str,
                  box_update: BoxUpdate | None, loihi_mode: str | None, source: Path | None, backend: str) -> None:
    """:func:`build_trackers`' loop, appending to ``trackers`` as each one is built."""
    from had_snn.evaluation.evaluate import file_fingerprint
    from had_snn.tracking.online import (
        NETX_SUFFIXES,
        build_tracker,
        checkpoint_crop,
        open_checkpoint,
        resolve_checkpoint_path,
    )
    from had_snn.tracking.tracker import StaticTracker

    taken: dict[str, str] = {}
    for spec in specs:
        name, path_text = parse_tracker_spec(spec)
        if path_text == "static":
            tracker = StaticTracker()
            tracker.name = name or "static"
            print(f"tracker {tracker.name}: static baseline (the box stays where it started)")
        else:
            netx = resolve_checkpoint_path(path_text).suffix.lower() in NETX_SUFFIXES
            ckpt = open_checkpoint(path_text, device=device, source=source if netx else None)
            name = name or default_tracker_name(Path(path_text), ckpt.path)
            crop, crop_line = checkpoint_crop(ckpt, steps)
            identity = file_fingerprint(ckpt.path)
            if ckpt.source is not None:
                identity += f"+{file_fingerprint(ckpt.source)}"
            fingerprint = (f"{identity}:w={window_influence}:T={crop.student_steps}:crop="
                           + ",".join(f"{k}={v}" for k, v in sorted(crop.as_dict().items())))
            mode = loihi_mode if ckpt.mode != "float" else None
            tracker, facts = build_tracker(ckpt, crop, window_influence, box_update, device, name=name,
                                           fingerprint=fingerprint, loihi_mode=mode,
                                           backend=backend if ckpt.mode != "float" else "emulator")
            tracker.identity, tracker.source = identity, str(ckpt.path)
            emulated = "" if "loihi_mode" not in facts else (
                f"; Loihi mode {facts['loihi_mode']} on the {facts['chip_backend']} ({facts['billed_steps_per_frame']} "
                f"steps per frame, crop lag {facts['crop_lag_frames']} frame(s))")
            print(f"tracker {name}: {ckpt.describe()}; {crop_line}{emulated}")
        trackers.append(tracker)
        if tracker.name in taken:
            raise ValueError(f"--tracker {spec}: the name {tracker.name!r} is already used by --tracker "
                             f"{taken[tracker.name]}; name them apart with --tracker NAME=PATH")
        taken[tracker.name] = spec
    if source is not None and not any(hasattr(t, "crop_lag_frames") for t in trackers):
        raise ValueError(f"--source {source}: none of the trackers is a converted network (a `had-snn convert` output "
                         "folder or its student.h5) whose float student it could name")
    if loihi_mode is not None and not any(hasattr(t, "crop_lag_frames") for t in trackers):
        raise ValueError(f"--loihi-mode {loihi_mode}: none of the trackers is a converted network (a `had-snn convert` "
                         "output folder or its student.h5) run by the Loihi emulator")
    if backend != "emulator" and not any(hasattr(t, "crop_lag_frames") for t in trackers):
        raise ValueError(f"--backend {backend}: none of the trackers is a converted network (a `had-snn convert` "
                         "output folder or its student.h5) that Lava could run")


def run(args: argparse.Namespace) -> int:
    from had_snn.demo.config import resolve_device
    from had_snn.util.runlock import check_folder_kind
    from had_snn.util.threads import set_threads

    set_threads(args.threads)
    if not 0.0 <= args.window_influence <= 1.0:
        raise ValueError(f"--window-influence must be in [0, 1], got {args.window_influence}")
    if args.out.exists() and not args.out.is_dir():
        raise ValueError(f"--out {args.out} is an existing file; expected an output folder")
    check_folder_kind(args.out, "eval")
    box_update = box_update_from_args(args)
    device = resolve_device(args.device)
    trackers = build_trackers(args.tracker, args.window_influence, args.steps, device, box_update, args.loihi_mode,
                              args.source, args.backend)
    try:
        return _evaluate(args, trackers)
    finally:
        close_trackers(trackers)


def _evaluate(args: argparse.Namespace, trackers: list) -> int:
    """Track and score ``trackers`` on the split (``run``'s body once the trackers exist)."""
    from had_snn.data.dataset import load_split
    from had_snn.evaluation.evaluate import check_box_folders, check_frames, evaluate
    from had_snn.util.runlock import run_folder_lock

    needs_frames = any(getattr(t, "needs_frames", False) for t in trackers)
    sequences = load_split(args.data, args.split, load_frames=needs_frames)
    check_frames(trackers, sequences, f"split {args.split!r} of {args.data}")
    with run_folder_lock(args.out, kind="eval"):  # a second eval into OUT waits for none: it is refused at once
        for name in check_box_folders(trackers, args.out, args.force):
            print(f"--force: deleted the boxes of another tracker stored as {args.out / 'boxes' / name}",
                  file=sys.stderr)
        report = evaluate(trackers, sequences, args.out, split=args.split, resume=not args.no_resume,
                          plots=not args.no_plots, force=args.force, include_stored=True,
                          latency_aware=args.latency_aware)
    earlier = [n for n in report["trackers"] if n not in {t.name for t in trackers}]
    if earlier:
        print(f"the table also scores the trackers evaluated into {args.out} before: {', '.join(earlier)}")
    for name, why in report["stored_not_included"].items():
        print(f"note: {args.out / 'boxes' / name} left out of the table: {why}", file=sys.stderr)
    for tracker in trackers:
        silent = getattr(tracker, "silent_sequences", None)
        if silent:
            print(f"note: tracker {tracker.name!r} kept the initial box on {len(silent)} sequence(s) whose template "
                  f"gives no stage-3 spikes: {', '.join(silent)}", file=sys.stderr)
    print((args.out / "results.md").read_text(), end="")
    boxes = ", ".join(f"{args.out / 'boxes' / name}" for name in report["trackers"])
    print(f"wrote {args.out / 'results.json'}, {args.out / 'results.md'}, boxes ({boxes}) and plots under {args.out}")
    return 0
