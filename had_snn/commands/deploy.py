"""``had-snn deploy``: run a converted network (netx HDF5) in Lava, in the bit-exact torch emulator, or in both.

``--mode reset`` (default): every window runs as the tracker's reset mode runs it, from the zero state: its T input
steps, then L zero steps (the pipeline fill, one per synaptic layer, :func:`had_snn.hardware.netx.frame_steps`), so
the read-out sees every input step; outputs and counts have T + L steps. ``--mode stream``: the B windows are
consecutive frames of one stream, as the chip runs continuously: B * T steps without reset, then L drain steps;
outputs have B * T + L steps (one sample) and each frame is billed its T steps. ``--compare`` runs Lava and the
emulator on the same input and writes the per-layer mismatch table.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

NAME = "deploy"
HELP = ("Run a converted network (NET_DIR/student.h5 or a netx .h5 file) on spike windows in Lava (fixed_pt) or the "
        "bit-exact torch emulator; --compare runs both and reports every mismatch per layer")
#: exit status of ``--compare`` when Lava and the emulator disagree (1 stays "could not run")
EXIT_DIFFERENT = 3


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("net", help="folder written by `had-snn convert` (uses its student.h5) or a netx .h5 file")
    parser.add_argument("--input", required=True,
                        help="npz with an array 'spikes' or 'search_spikes' of 0/1 spikes (T, B, C, H, W), e.g. from "
                             "`had-snn windows`: B windows of T steps. Each window runs its T steps, then L zero steps "
                             "(the pipeline fill, one per synaptic layer) so the read-out sees every input step; "
                             "outputs and counts have T + L steps (--mode reset)")
    parser.add_argument("--mode", choices=("reset", "stream"), default="reset",
                        help="reset (default): each window from the zero state, T + L steps; stream: the B windows "
                             "are consecutive frames of one stream (no reset, no per-frame flush): B * T steps, then "
                             "L drain steps; outputs have B * T + L steps and one sample, counts.json bills each "
                             "frame its T steps")
    parser.add_argument("--backend", choices=("lava", "emulator"), default="emulator",
                        help="emulator (default): the bit-exact torch emulator (--device); lava: Lava 0.10 "
                             "Loihi2SimCfg(select_tag='fixed_pt') in the .venv-lava Python 3.10 venv "
                             "(`make setup-lava`), with progress per window and step")
    parser.add_argument("--compare", action="store_true",
                        help="run Lava and the emulator on the same windows and write compare.json / compare.md "
                             f"(per layer: values compared, spikes, mismatches, first mismatching step/neuron); exit "
                             f"status {EXIT_DIFFERENT} when they differ")
    parser.add_argument("--device", default="cpu", help="emulator device (cpu, cuda)")
    parser.add_argument("--out", help="output folder (default: NET_DIR/deploy_<backend> or NET_DIR/deploy_compare, "
                                      "with _stream appended in --mode stream, so the modes never share one)")
    parser.add_argument("--timeout-s", type=float, help="stop Lava after this many seconds (default: no limit)")
    parser.add_argument("--lava-netx", action="store_true",
                        help="Lava (--backend lava, --compare) runs the graph that lava-dl 0.6.0's "
                             "netx.hdf5.Network builds from the file, as a Lava user would load it, instead of "
                             "had-snn's own Lava processes (bit-exact with the emulator for the even dense weights "
                             "had-snn convert writes)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar for the Lava run")


def default_out_name(backend: str, mode: str) -> str:
    """``deploy_<backend>`` (``emulator``, ``lava`` or ``compare``) in reset mode, ``deploy_<backend>_stream`` in
    stream mode: each backend and mode writes its own folder."""
    return f"deploy_{backend}" + ("_stream" if mode == "stream" else "")


def _network_file(net: Path) -> Path:
    if net.is_dir():
        h5 = net / "student.h5"
        if not h5.is_file():
            raise FileNotFoundError(f"{net}: no student.h5 in this folder (write one with `had-snn convert`)")
        return h5
    if not net.exists():
        raise FileNotFoundError(f"network not found: {net}")
    return net


def _describe_lava_timing(t: dict[str, float]) -> str:
    return (f"{t['wall_s']:.1f} s wall (Lava process start {t['startup_s']:.1f} s, graph build {t['build_s']:.1f} s, "
            f"compile + step 1 {t['first_step_s']:.1f} s, remaining steps {t['run_s']:.1f} s, read-back "
            f"{t['read_s']:.1f} s, stop {t['stop_s']:.1f} s, other {t['other_s']:.1f} s)")


def _outputs(run, readout_scale: float, with_counts: bool) -> dict:
    from had_snn.hardware.netx import spike_arrays

    arrays = spike_arrays(run.spikes)
    arrays.update(v_out=run.v_out, v_aligned=run.readout_aligned())
    if with_counts:
        arrays.update({f"count_{k}": v for k, v in run.counts.items()})
    if readout_scale:
        arrays["readout_float"] = run.v_out / readout_scale
    return arrays


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from had_snn.hardware.netx import read_netx
    from had_snn.hardware.spikes_io import load_spikes_npz
    from had_snn.util.errors import UserError
    from had_snn.util.runlock import run_folder_lock

    t_start = time.perf_counter()
    h5 = _network_file(Path(args.net))
    mode = "compare" if args.compare else args.backend
    out = Path(args.out) if args.out else (h5.parent / default_out_name(mode, args.mode))
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out}: is a file, expected an output folder")
    if args.timeout_s is not None and args.timeout_s <= 0:
        raise UserError(f"--timeout-s must be > 0, got {args.timeout_s}")
    if args.lava_netx and mode == "emulator":
        raise UserError("--lava-netx chooses how Lava builds its graph: it needs --backend lava or --compare")
    layers, attrs = read_netx(h5)
    try:
        readout_scale = float(attrs.get("readout_scale", 0.0))
    except (TypeError, ValueError):
        raise UserError(f"{h5}: attribute 'readout_scale' must be a number, got {attrs['readout_scale']!r}") from None
    if args.lava_netx and layers[0].neuron is not None:
        raise UserError(f"{h5}: --lava-netx: the input layer holds a 'neuron' group (a file written before had-snn "
                        "wrote spike inputs with their shape only), which lava-dl's netx builds into an input-neuron "
                        "block that lava-nc 0.10 rejects; convert the student again, or drop --lava-netx")
    spikes, _ = load_spikes_npz(args.input, ("spikes", "search_spikes"), "--input", chw=layers[0].shape)
    use_lava = mode in ("lava", "compare")
    lava_backend = "lava-dl" if args.lava_netx else "lava"
    if use_lava:
        from had_snn.hardware.deploy import LavaUnavailable, find_lava_python

        try:
            find_lava_python()
        except LavaUnavailable as exc:
            raise LavaUnavailable(f"--{'compare' if args.compare else 'backend lava'}: {exc}") from None

    from had_snn.conversion.chip_run import LAVA_GRAPHS, run_network
    from had_snn.conversion.chip_run import compare as compare_chip_runs
    from had_snn.hardware.counts import counts_from_emulator
    from had_snn.util.atomic import atomic_path, write_json_atomic

    backends = {"emulator": ["emulator"], "lava": [lava_backend], "compare": ["emulator", lava_backend]}[mode]
    with run_folder_lock(out, kind="deploy"):
        runs = {b: run_network(h5, spikes, b, args.mode, device=args.device, timeout_s=args.timeout_s,
                               progress=b != "emulator" and not args.no_progress) for b in backends}
        primary = runs[backends[-1]]  # Lava's when it ran
        for name, r in runs.items():
            target = out / ("outputs.npz" if r is primary else f"outputs_{name}.npz")
            with atomic_path(target) as tmp:
                np.savez_compressed(tmp, **_outputs(r, readout_scale, r is primary))
        billed = primary.billed_counts()
        n_input, n_frames, fill, n_steps = primary.input_steps, primary.frames, primary.fill_steps, primary.steps
        stream = args.mode == "stream"
        verdict = None
        if mode == "compare":
            from had_snn.hardware.spike_diff import compare_markdown
            from had_snn.util.atomic import write_text_atomic

            # columns "lava" and "emulator", whichever graph Lava ran (summary.json names it)
            verdict = compare_chip_runs(runs[lava_backend], runs["emulator"], names=("lava", "emulator"))
            verdict.update(network=str(h5), input=str(args.input), input_steps=n_input, pipeline_fill_steps=fill,
                           mode=args.mode)
            write_json_atomic(out / "compare.json", verdict)
            write_text_atomic(out / "compare.md", compare_markdown(verdict))
        timing = {("lava" if name != "emulator" else name): r.timing_s for name, r in runs.items()}
        summary = {
            "backend": mode, "mode": args.mode, "lava_graph": LAVA_GRAPHS[lava_backend] if use_lava else None,
            "network": str(h5), "input": str(args.input), "steps": n_steps,
            "input_steps": n_input, "pipeline_fill_steps": fill, "batch": int(primary.v_out.shape[1]),
            "frames": n_frames, "billed_steps_per_frame": primary.billed_steps_per_frame,
            "timing_s": timing,
            "timing_note": "lava.wall_s is the real time of the Lava subprocess (Python 3.10 process start and "
                           "imports, per window: graph build, compile + step 1, remaining steps, read-back, stop); "
                           "the parts are summed over windows. emulator.wall_s is the emulator run alone.",
            "command_wall_s": time.perf_counter() - t_start,
            "layers": primary.layer_names,
            "counts_per_frame": {k: (v.sum(axis=(1, 2)) / n_frames).tolist() for k, v in billed.items()},
        }
        if verdict is not None:
            summary["identical"] = verdict["identical"]
        write_json_atomic(out / "summary.json", summary)
        # The same counts in the format `had-snn energy --counts` reads (one batch item per frame).
        write_json_atomic(out / "counts.json", counts_from_emulator(primary.layer_names, billed, input_steps=n_input))
    layer_spikes, batch = primary.spikes, int(primary.v_out.shape[1])
    rates = [float(s.mean()) for s in layer_spikes]
    head = (f"one stream of {n_steps} steps ({n_frames} frames x {n_input} steps + {fill} drain)" if stream else
            f"{n_steps} steps ({n_input} input + {fill} pipeline fill) x {batch} windows")
    for name, t in timing.items():
        took = _describe_lava_timing(t) if name == "lava" else f"{t['wall_s']:.2f} s"
        print(f"{name}: {head} in {took}")
    print("firing rates " + ", ".join(f"{n} {r:.3f}" for n, r in zip(primary.layer_names, rates, strict=True))
          + f"; wrote {out}")
    if verdict is not None:
        from had_snn.hardware.spike_diff import compare_markdown

        print(compare_markdown(verdict), end="")
        if not verdict["identical"]:
            bad = [r["name"] for r in verdict["layers"] if r["mismatches"]]
            print(f"had-snn deploy: Lava and the emulator DIFFER (layers {bad}, read-out v mismatches "
                  f"{verdict['v_out']['mismatches']}); see {out / 'compare.md'}", file=sys.stderr)
            return EXIT_DIFFERENT
    return 0
