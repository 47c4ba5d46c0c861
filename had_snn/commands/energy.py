"""``had-snn energy``: map a converted network onto Loihi cores and report energy and latency."""

from __future__ import annotations

import argparse
from pathlib import Path

NAME = "energy"
HELP = ("Map a netx network onto Loihi 1/2 cores; estimate energy (Loihi 1, 45 nm) and latency per frame from "
        "operation counts (`had-snn deploy` writes them); write a report")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("network", type=Path, help="netx HDF5 file, or a directory holding exactly one *.h5")
    parser.add_argument("--counts", type=Path,
                        help="per-layer operation counts JSON, e.g. NET_DIR/deploy_emulator/counts.json (format: "
                             "the docstring of had_snn.hardware.energy); without it only the core map is computed")
    teacher = parser.add_mutually_exclusive_group()
    teacher.add_argument("--teacher", type=Path, help="ANN teacher checkpoint: count its search-path MACs exactly "
                         "(written to OUT/teacher_macs.json) for the 45 nm comparison")
    teacher.add_argument("--teacher-macs", type=Path, help="teacher MACs per layer JSON ([[name, macs], ...])")
    parser.add_argument("--fps", type=float, default=30.0, help="frame rate for energy per second (default 30)")
    parser.add_argument("--table", type=Path, help="hardware figures YAML (default: the packaged energy_table.yaml)")
    parser.add_argument("--out", type=Path, required=True, help="output directory for report.md/.json and plots")


def resolve_network(path: Path) -> Path:
    """The netx file itself, or the single ``*.h5`` inside a directory."""
    if path.is_dir():
        found = sorted(path.glob("*.h5"))
        if len(found) != 1:
            raise ValueError(f"{path}: expected exactly one *.h5 netx file in the directory, found {len(found)}")
        return found[0]
    if not path.is_file():
        raise FileNotFoundError(f"network not found: {path}")
    return path


def _count_teacher_macs(checkpoint: Path, out: Path) -> Path:
    """Count a teacher checkpoint's search-path MACs (torch) and write them to ``out/teacher_macs.json``."""
    from had_snn.conversion.macs import teacher_search_macs, write_macs_json
    from had_snn.models.teacher import Teacher
    from had_snn.tracking.tracker import crop_config_for
    from had_snn.train.checkpoint import load_model

    teacher = load_model(checkpoint)
    if not isinstance(teacher, Teacher):
        raise ValueError(f"--teacher {checkpoint}: not an ANN teacher checkpoint ({type(teacher).__name__})")
    path = out / "teacher_macs.json"
    write_macs_json(path, teacher_search_macs(teacher, crop_config_for(teacher)))
    return path


def run(args: argparse.Namespace) -> int:
    from had_snn.hardware.energy import load_counts, load_table, load_teacher_macs
    from had_snn.hardware.report import build_report, write_report
    from had_snn.hardware.resources import geometries_from_netx
    from had_snn.util.errors import UserError

    if args.out.exists() and not args.out.is_dir():
        raise UserError(f"--out {args.out}: is a file, expected an output folder")
    if not args.fps > 0:
        raise UserError(f"--fps must be > 0, got {args.fps:g}")
    net = resolve_network(args.network)
    geoms = geometries_from_netx(net)
    table = load_table(args.table)
    counts = load_counts(args.counts, geoms) if args.counts else None
    if args.teacher:
        args.teacher_macs = _count_teacher_macs(args.teacher, args.out)
    macs = load_teacher_macs(args.teacher_macs) if args.teacher_macs else None
    report = build_report(geoms, table, counts, macs, fps=args.fps, network=str(net))
    paths = write_report(report, args.out)
    for chip, m in report["mapping"].items():
        print(f"{chip}: {m['total_cores']} cores on {m['chips']} chip(s)")
    if report["counts"] is not None:
        e, lat = report["energy"], report["latency"]
        n, t_in = lat["steps"], lat["input_steps"]
        steps = f"{n} counted steps" if t_in is None else f"{n} steps = {t_in} input + {n - t_in} pipeline fill"
        print(f"Loihi 1: {e['loihi1']['per_frame_uj']:.4g} uJ/frame, {lat['frame_latency_us']:.4g} us/frame ({steps})")
    for k, v in report["energy"]["ratios"].items():
        print(f"{k}: {v:.3g}x")
    print("wrote " + ", ".join(str(p) for p in paths))
    return 0
