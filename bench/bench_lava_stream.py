"""Lava per window: the whole-sequence runner (one graph per sequence) vs the per-window runner, in one run.

    .venv/bin/python bench/bench_lava_stream.py [--frames 60] [--per-window 2] [--timeout 900]

The bundled student, in Loihi fixed point, tracks one synthetic sequence of ``--frames`` frames (the demo's sensor
size, 160 x 120 px) in stream mode with its network in Lava (:class:`~had_snn.tracking.lava_tracker.LavaStreamTracker`):
one graph built and compiled once, fed window by window through a long-lived session. Timed: the whole tracking loop
(session start, build, compile, every window's steps, the drain and the stop) divided by its N - 1 windows.

The peer is the per-window runner (``run_network(..., "lava", "reset")``, the only way to run a tracker's windows in
Lava before: the next crop depends on the last box, so every window got its own fresh graph): it runs the first
``--per-window`` of the same search windows, each in its own graph (T input + L fill steps; its subprocess start,
build, compile, steps and receiving the outputs all count), timed per window.

Checked before the ratio is printed: the Lava tracker's boxes equal the emulated stream tracker's, and the
per-window runner's outputs equal the emulator's for its windows.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from result_line import emit

from had_snn.conversion.chip_run import compare, run_network
from had_snn.data.synthetic import SynthConfig, generate_sequence
from had_snn.hardware.lava_stream import LavaStream
from had_snn.models.bundled import bundled_student
from had_snn.tracking.lava_tracker import LavaStreamStudent, LavaStreamTracker
from had_snn.tracking.loihi import EmulatedStudent, EmulatedTracker
from had_snn.tracking.online import base_network, checkpoint_crop, open_checkpoint, template_spikes
from had_snn.tracking.tracker import init_box
from had_snn.util.malloc import tune_malloc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=60,
                        help="frames of the tracked sequence (default 60: a demo sequence, 2 s at 30 Hz)")
    parser.add_argument("--per-window", type=int, default=2, help="windows the per-window runner runs (default 2)")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds any Lava call may take")
    args = parser.parse_args()
    if args.frames < 3 or args.per_window < 1:
        raise SystemExit("--frames must be >= 3 and --per-window >= 1")
    tune_malloc()
    ckpt = open_checkpoint(bundled_student(), fixed_point=True)
    crop, _ = checkpoint_crop(ckpt)
    fps = 30
    seq = generate_sequence(SynthConfig(duration_s=args.frames / fps, fps=fps), seed=7, attributes=(),
                             name="bench")
    from had_snn.conversion.quantize import template_kernel_for

    student = ckpt.model
    qnet = base_network(student, 100.0, template_kernel_for(student, template_spikes(seq, init_box(seq), crop)))
    emulated = EmulatedTracker(EmulatedStudent(student, qnet, mode="stream"), crop)
    expected = emulated.track(seq)
    n_windows = seq.num_frames - 1
    print(f"bundled student, T = {crop.student_steps}, search {crop.search_px} px, L = "
          f"{emulated.emulated.latency_steps}; sequence of {seq.num_frames} frames ({n_windows} windows)", flush=True)

    windows: list[np.ndarray] = []
    t0 = time.perf_counter()
    with LavaStream(args.timeout) as lava:
        lava_student = LavaStreamStudent(student, qnet, lava)
        feed = lava_student.feed

        def recording_feed(batch: dict) -> None:
            windows.append(batch["search_spikes"].numpy().copy())
            feed(batch)

        lava_student.feed = recording_feed
        tracker = LavaStreamTracker(lava_student, crop)
        boxes = tracker.track(seq)
        parts = dict(lava.timing_s)
    whole_s = time.perf_counter() - t0
    if not np.array_equal(boxes, expected):
        raise SystemExit("the Lava tracker's boxes differ from the emulated stream tracker's")
    print(f"whole-sequence runner: {whole_s:.1f} s for {n_windows} windows ("
          + ", ".join(f"{k.removesuffix('_s')} {v:.1f} s" for k, v in parts.items()) + ")", flush=True)

    x = np.concatenate(windows[:args.per_window], axis=1)  # (T, K, C, H, W)
    t0 = time.perf_counter()
    per_window = run_network(qnet.layers, x, "lava", "reset", timeout_s=args.timeout)
    per_window_s = time.perf_counter() - t0
    verdict = compare(per_window, run_network(qnet.layers, x, "emulator", "reset"))
    if not verdict["identical"]:
        raise SystemExit("the per-window runner's outputs differ from the emulator's")
    print(f"per-window runner: {per_window_s:.1f} s for {args.per_window} window(s) ("
          + ", ".join(f"{k.removesuffix('_s')} {v:.1f} s" for k, v in per_window.timing_s.items()) + ")", flush=True)
    peer, ours = per_window_s / args.per_window, whole_s / n_windows
    print(f"per window: per-window runner {peer:.2f} s, whole-sequence runner {ours:.2f} s: {peer / ours:.2f}x")
    emit(f"Lava whole-sequence runner, bundled student, {n_windows} windows", "Lava per-window runner", peer, ours,
         "window", "boxes equal to the emulated stream tracker; per-window outputs equal to the emulator", goal=5.0)


if __name__ == "__main__":
    main()
