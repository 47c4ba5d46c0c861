"""``had-snn convert-dataset NAME ROOT --out DIR``: a real dataset -> native HDF5 sequence files + index.json."""

from __future__ import annotations

import argparse
import os

from had_snn.data.datasets import ADAPTERS

NAME = "convert-dataset"
HELP = "convert FE108 / VisEvent / COESOT / EventVOT (authors' layout) to native HDF5 sequences (resumable, parallel)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dataset", choices=sorted(ADAPTERS), help="which dataset ROOT holds")
    parser.add_argument("root", help="dataset root as distributed (holding train/ test/ ...); see docs/datasets.md")
    parser.add_argument("--out", required=True, help="output folder: OUT/<split>/<name>.h5 and OUT/index.json")
    parser.add_argument("--split", action="append", dest="splits", metavar="SPLIT",
                        help="split to convert (repeatable); default: every split present under ROOT")
    parser.add_argument("--workers", type=int, default=min(4, os.cpu_count() or 1),
                        help="parallel worker processes (default: min(4, CPUs))")


def run(args: argparse.Namespace) -> int:
    from had_snn.data.aedat import MissingExtraError
    from had_snn.data.convert_dataset import convert_dataset

    if args.workers < 1:
        raise ValueError(f"--workers must be >= 1, got {args.workers}")
    try:
        summary = convert_dataset(args.dataset, args.root, args.out, splits=args.splits, workers=args.workers)
    except MissingExtraError as exc:
        raise ValueError(str(exc)) from exc
    for line in summary.lines():
        print(line)
    print(f"index: {os.path.join(args.out, 'index.json')}")
    return 0
