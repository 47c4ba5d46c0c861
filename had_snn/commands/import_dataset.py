"""``had-snn import-dataset NAME ROOT --out DIR``: a real dataset -> native HDF5 sequence files + index.json.

Exit status: 0 when every sequence converted (or was already done); 1 when every sequence failed, or with
``--strict`` when any failed (the summary lines say which and why, then one error line). OUT is locked for the run.
"""

from __future__ import annotations

import argparse
import os

from had_snn.data.datasets import ADAPTERS

NAME = "import-dataset"
RESUMES = True  # Ctrl-C keeps finished work and the same command continues from it
HELP = "import FE108 / VisEvent / COESOT / EventVOT (authors' layout) as native HDF5 sequences (resumable, parallel)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dataset", choices=sorted(ADAPTERS), help="which dataset ROOT holds")
    parser.add_argument("root", help="dataset root as distributed (holding train/ test/ ...); see docs/datasets.md")
    parser.add_argument("--out", required=True, help="output folder: OUT/<split>/<name>.h5 and OUT/index.json")
    parser.add_argument("--split", action="append", dest="splits", metavar="SPLIT",
                        help="split to convert (repeatable); default: every split present under ROOT")
    parser.add_argument("--strict", action="store_true",
                        help="exit non-zero when any sequence fails (default: only when every sequence fails; the "
                             "others are converted and indexed either way)")
    parser.add_argument("--workers", type=int, default=min(4, os.cpu_count() or 1),
                        help="parallel worker processes (default: min(4, CPUs))")
    parser.add_argument("--fe108-start-index", metavar="FILE",
                        help="fe108 only: start_frame_idx_FE108.txt (name,k a line: ground-truth line 1 is APS frame k "
                             "of events.aedat4); default ROOT/start_frame_idx_FE108.txt")
    parser.add_argument("--eventvot-windows", choices=("image", "voxel"),
                        help="eventvot only: how the recording is cut into one equal time window per box: 'image' "
                             "(default; (t_last-t_first)//N, from the second window, as the event images) or 'voxel' "
                             "((t_last-t_first)//(N-1) from the first event, as the voxels); see docs/datasets.md")


#: import-dataset flag (argparse dest) -> (dataset it applies to, that dataset's option name)
DATASET_FLAGS = {"fe108_start_index": ("fe108", "start_index"), "eventvot_windows": ("eventvot", "windows")}


def dataset_options(args: argparse.Namespace) -> dict:
    """The loading options the flags give for ``args.dataset``; a flag of another dataset is an error."""
    options = {}
    for dest, (dataset, option) in DATASET_FLAGS.items():
        value = getattr(args, dest, None)
        if value is None:
            continue
        if args.dataset != dataset:
            raise ValueError(f"--{dest.replace('_', '-')} applies to {dataset} only, not {args.dataset}")
        options[option] = value
    return options


def run(args: argparse.Namespace) -> int:
    from had_snn.data.aedat import MissingExtraError
    from had_snn.data.import_dataset import import_dataset
    from had_snn.util.errors import UserError

    if args.workers < 1:
        raise ValueError(f"--workers must be >= 1, got {args.workers}")
    try:
        summary = import_dataset(args.dataset, args.root, args.out, splits=args.splits, workers=args.workers,
                                  options=dataset_options(args))
    except MissingExtraError as exc:
        raise ValueError(str(exc)) from exc
    for line in summary.lines():
        print(line)
    if summary.index_written:
        print(f"index: {os.path.join(args.out, 'index.json')}")
    failed = len(summary.skipped)
    if summary.all_failed:
        raise UserError(f"{args.dataset} {args.root}: all {failed} sequence(s) failed to convert "
                        f"(reasons above){'' if summary.index_written else '; no index.json written'}")
    if failed and args.strict:
        raise UserError(f"{args.dataset} {args.root}: {failed} of {summary.total} sequence(s) failed to convert "
                        f"(--strict; reasons above); the others are in {args.out}")
    if summary.total == 0:
        raise UserError(f"{args.dataset} {args.root}: no sequences found in split(s) "
                        f"{', '.join(args.splits) if args.splits else 'present'}")
    return 0
