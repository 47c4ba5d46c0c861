"""``had-snn info FILE``: what an event or sequence file holds (validating it on the way)."""

from __future__ import annotations

import argparse
import json

NAME = "info"
HELP = "summarise an event/sequence file (.h5/.hdf5, .npz, .txt/.csv, .aedat4): counts, time span, rates, frames, boxes"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", help="event or sequence file")
    parser.add_argument("--json", action="store_true", help="print the summary as one JSON object")


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, dict):
        return ", ".join(f"{k}={_fmt(v)}" for k, v in value.items()) or "-"
    if isinstance(value, list):
        return " x ".join(str(v) for v in value) if value and all(isinstance(v, int) for v in value) else (
            ", ".join(_fmt(v) for v in value) or "-")
    return "-" if value is None else str(value)


def run(args: argparse.Namespace) -> int:
    from had_snn.data.io import file_summary

    info = file_summary(args.file)
    if args.json:
        print(json.dumps(info))
        return 0
    width = max(len(k) for k in info)
    for key, value in info.items():
        print(f"{key:<{width}}  {_fmt(value)}")
    return 0
