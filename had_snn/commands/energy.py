"""``had-snn energy``: map a converted network onto Loihi cores and report energy and latency."""

from __future__ import annotations

import argparse
from pathlib import Path

NAME = "energy"
HELP = ("Map a netx network onto Loihi 1/2 cores; estimate energy (Loihi 1, 45 nm) and latency per frame from "
        "operation counts (`had-snn deploy` writes them, or --input counts spike windows here), in reset and "
        "streaming mode side by side; against a teacher (compute-only MACs, and MACs + memory access) with a "
        "like-for-like table and a paragraph explaining the result; write a report")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("network", type=Path, help="netx HDF5 file, or a directory holding exactly one *.h5")
    parser.add_argument("--counts", type=Path, nargs="+", metavar="COUNTS",
                        help="per-layer operation counts JSON, e.g. NET_DIR/deploy_emulator/counts.json (format: "
                             "the docstring of had_snn.hardware.energy); one file per mode (its 'mode' field: reset, "
                             "the default, or stream), at most one of each; without it only the core map is computed")
    parser.add_argument("--input", type=Path, metavar="WINDOWS.npz",
                        help="instead of --counts: count the operations here with the bit-exact emulator on an npz "
                             "of spikes 'spikes' or 'search_spikes' (T, B, C, H, W), e.g. from `had-snn windows`: the "
                             "B windows as consecutive frames of one stream (as `had-snn deploy --mode stream`), "
                             "each from the zero state (reset) and continuously (stream); writes "
                             "OUT/counts_<mode>.json")
    parser.add_argument("--mode", choices=("reset", "stream", "both"), default="both",
                        help="which mode to bill: reset (each frame T + L steps from the zero state), stream (T steps "
                             "per frame, no reset, no flush) or both side by side (default; a mode without counts is "
                             "listed as not counted). Latency is T + L steps in both; throughput one frame per T + L "
                             "(reset) or T (stream) steps")
    teacher = parser.add_mutually_exclusive_group()
    teacher.add_argument("--teacher", type=Path, help="ANN teacher checkpoint: count its search-path MACs and memory "
                         "traffic exactly (written to OUT/teacher_macs.json and OUT/teacher_traffic.json) for the 45 "
                         "nm comparisons: compute-only MACs, and MACs + memory access (like for like with Loihi)")
    teacher.add_argument("--teacher-traffic", type=Path, help="teacher MACs and memory traffic per layer JSON "
                         "([{name, macs, weights, in_acts, out_acts}, ...], as --teacher writes it)")
    teacher.add_argument("--teacher-macs", type=Path, help="teacher MACs per layer JSON ([[name, macs], ...]): "
                         "compute-only comparison (no memory access billed)")
    parser.add_argument("--fps", type=float, default=30.0, help="frame rate for energy per second (default 30)")
    parser.add_argument("--table", type=Path, help="hardware figures YAML (default: the packaged energy_table.yaml)")
    parser.add_argument("--precision", choices=("fp32", "int8"), default="fp32",
                        help="arithmetic of the 45 nm model, for student and teacher alike: fp32 (default; float "
                             "MACs and adds, 32-bit values, the figures SNN papers quote) or int8 (8-bit weights and "
                             "activations with 32-bit accumulators, as the chip's 8-bit weights allow); Loihi 1's "
                             "figures are the chip's own either way")
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


def _count_teacher(checkpoint: Path, out: Path) -> Path:
    """Count a teacher checkpoint's search-path MACs and memory traffic (torch, one hook pass) and write them to
    ``out/teacher_macs.json`` and ``out/teacher_traffic.json``; returns the traffic file."""
    from had_snn.conversion.macs import teacher_search_traffic, write_macs_json, write_traffic_json
    from had_snn.models.checkpoint import load_model
    from had_snn.models.teacher import Teacher
    from had_snn.tracking.tracker import crop_config_for

    teacher = load_model(checkpoint)
    if not isinstance(teacher, Teacher):
        raise ValueError(f"--teacher {checkpoint}: not an ANN teacher checkpoint ({type(teacher).__name__})")
    traffic = teacher_search_traffic(teacher, crop_config_for(teacher))
    write_macs_json(out / "teacher_macs.json", [(t.name, t.macs) for t in traffic])
    write_traffic_json(out / "teacher_traffic.json", traffic)
    return out / "teacher_traffic.json"


def _counts_for_modes(paths: list[Path], mode: str, geoms: list) -> list:
    """Load the counts files (one per mode) and check they cover ``mode`` (``both`` takes what is there)."""
    from had_snn.hardware.counts import load_counts
    from had_snn.util.errors import UserError

    loaded = {}
    for path in paths:
        counts = load_counts(path, geoms)
        if counts.mode in loaded:
            raise UserError(f"--counts: {loaded[counts.mode][0]} and {path} are both {counts.mode!r} counts; give at "
                            "most one file per mode (the 'mode' field of a counts file, default reset)")
        loaded[counts.mode] = (path, counts)
    if paths and mode != "both" and mode not in loaded:
        have = ", ".join(f"{p} is {m}" for m, (p, _) in loaded.items())
        raise UserError(f"--mode {mode}: no {mode} counts among --counts ({have}); pass a counts file with "
                        f"\"mode\": \"{mode}\" or choose --mode {'/'.join(loaded)}")
    return [c for _, c in loaded.values()]


def _count_windows(net: Path, windows: Path, mode: str, geoms: list, out: Path) -> list:
    """Bill the npz's B windows (consecutive frames of one stream) in the requested modes with the emulator; the
    counts files are written to ``out`` (``counts_<mode>.json``)."""
    import numpy as np

    from had_snn.conversion.emulator import LoihiEmulator
    from had_snn.hardware.counts import MODES, count_modes, parse_counts
    from had_snn.hardware.netx import read_netx
    from had_snn.hardware.spikes_io import load_spikes_npz
    from had_snn.util.atomic import write_json_atomic

    layers, _ = read_netx(net)
    spikes, _ = load_spikes_npz(windows, ("spikes", "search_spikes"), "--input", chw=layers[0].shape)
    frames = np.ascontiguousarray(np.swapaxes(spikes, 0, 1))[:, :, None]  # (B frames, T, 1 stream, C, H, W)
    billed = count_modes(LoihiEmulator(layers), frames, MODES if mode == "both" else (mode,))
    out.mkdir(parents=True, exist_ok=True)
    loaded = []
    for name, data in billed.items():
        path = write_json_atomic(out / f"counts_{name}.json", data)
        loaded.append(parse_counts(data, geoms, str(path)))
    return loaded


def run(args: argparse.Namespace) -> int:
    from had_snn.hardware.counts import MODES, check_teacher_scale, load_teacher_macs, load_teacher_traffic
    from had_snn.hardware.report import RATIO_LABELS, build_report
    from had_snn.hardware.report_files import write_report
    from had_snn.hardware.resources import geometries_from_netx
    from had_snn.hardware.table import load_table
    from had_snn.util.errors import UserError
    from had_snn.util.runlock import check_folder_kind, run_folder_lock

    if args.out.exists() and not args.out.is_dir():
        raise UserError(f"--out {args.out}: is a file, expected an output folder")
    check_folder_kind(args.out, "energy")
    if not args.fps > 0:
        raise UserError(f"--fps must be > 0, got {args.fps:g}")
    net = resolve_network(args.network)
    geoms = geometries_from_netx(net)
    table = load_table(args.table)
    if args.input is not None and args.counts:
        raise UserError("--input and --counts: give one (--input counts the operations of WINDOWS.npz here, "
                        "--counts reads counts files)")
    with run_folder_lock(args.out, kind="energy"):  # counts, teacher traffic and the report
        if args.input is not None:
            counts = _count_windows(net, args.input, args.mode, geoms, args.out)
        else:
            counts = _counts_for_modes(args.counts or [], args.mode, geoms)
        if args.teacher:
            args.teacher_traffic = _count_teacher(args.teacher, args.out)
        traffic = load_teacher_traffic(args.teacher_traffic) if args.teacher_traffic else None
        macs = load_teacher_macs(args.teacher_macs) if args.teacher_macs else None
        synapses = sum(g.n_synapses for g in geoms)
        if traffic is not None:
            check_teacher_scale([(t.name, t.macs) for t in traffic], synapses, str(args.teacher_traffic))
        if macs is not None:
            check_teacher_scale(macs, synapses, str(args.teacher_macs))
        modes = MODES if args.mode == "both" else (args.mode,)
        report = build_report(geoms, table, counts, macs, fps=args.fps, network=str(net), modes=modes,
                              teacher_traffic=traffic, precision=args.precision)
        paths = write_report(report, args.out)
    for chip, m in report["mapping"].items():
        print(f"{chip}: {m['total_cores']} cores on {m['chips']} chip(s)")
    for mode, block in report["modes"].items():
        e, lat = block["energy"], block["latency"]
        n, t_in = lat["steps"], lat["input_steps"]
        if t_in is None:
            steps = f"{n} counted steps"
        elif mode == "stream":
            steps = f"{n} input steps billed, no flush"
        else:
            steps = f"{n} steps = {t_in} input + {n - t_in} pipeline fill billed"
        chip = " (the chip's mode)" if mode == report["chip_mode"] else ""
        print(f"Loihi 1, {mode} mode{chip}: {e['loihi1']['per_frame_uj']:.4g} uJ/frame ({steps}), latency "
              f"{lat['frame_latency_us']:.4g} us ({lat['latency_steps']} steps), {lat['throughput_fps']:.4g} frames/s")
        for k, v in e["ratios"].items():
            print(f"  {RATIO_LABELS[k]}: {v:.3g}x")
    if not report["modes"]:
        for k, v in report["energy"]["ratios"].items():
            print(f"{RATIO_LABELS[k]}: {v:.3g}x")
    e = report["energy"]
    if "ann_45nm" in e:
        print(f"teacher, 45 nm MACs (compute only, {report['precision']}): {e['ann_45nm']['per_frame_uj']:.4g} "
              "uJ/frame")
    if "ann_45nm_memory" in e:
        m = e["ann_45nm_memory"]
        print(f"teacher, 45 nm MACs + memory access: {m['per_frame_uj']:.4g} uJ/frame ({m['memory_uj']:.4g} uJ memory)")
    head = report.get("headline")
    if head:
        for model in ("loihi1", "snn_45nm"):
            h = head[model]
            print(f"headline ({head['mode']} mode): {h['label']} = {h['ratio']:.3g}x "
                  f"({'like for like' if h['like_for_like'] else 'not like for like'}; this project's goal <= "
                  f"{h['target']:g}x: {'met' if h['meets_target'] else 'not met'})")
        for c in report["comparisons"]:
            print(f"  {c['student']} vs {c['teacher']}: {c['student_over_teacher']:.3g}x "
                  f"({'like for like' if c['like_for_like'] else 'not like for like'})")
    print(report["loihi2_energy"]["statement"])
    for mode in report["modes_not_counted"]:
        print(f"{mode} mode: not counted (pass its counts file to --counts too)")
    print("wrote " + ", ".join(str(p) for p in paths))
    return 0
