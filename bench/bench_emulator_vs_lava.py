"""Emulator vs Lava fixed_pt: same network, same inputs, one run; prints time per sample-step for both and the ratio.

    .venv/bin/python bench/bench_emulator_vs_lava.py [--network random|student] [--steps 16] [--batch 1 32]
        [--lava-samples 2] [--device cpu]

Both run the chip's reset mode through :func:`had_snn.conversion.chip_run.run_network` (each window's T steps
plus the L-step pipeline fill). Lava runs one sample per process graph, so its time per sample-step does not depend
on the batch: it is Lava's own run time of steps 2..T + L (``run_s``, one step per ``run`` call so the runner can
report progress; graph build, compile+step 1 and the whole subprocess's wall time are excluded and printed),
averaged over ``--lava-samples`` samples. The emulator runs each batch size as one batch (after a warm-up that
compiles its kernels) and is timed over the whole ``run`` (all steps, counters included). Emulator outputs of the
samples Lava ran are asserted identical to Lava's at every step and layer. ``random``: a seeded conv/pool/dense net;
``student``: the default spiking student (freshly initialised, conv weights x3 so every layer spikes), quantised.

Streaming (the chip running continuously): Lava runs the ``--lava-samples`` windows as consecutive frames of ONE
stream in one graph (``run_network(..., "lava", "stream")``: frames x T steps, then L drain steps), timed per step
as above; the emulator streams the same frames with ``run_aligned(frame, state)`` (each frame's T committed steps
plus the L-step peek that reads its read-out), for 1 and for max(--batch) parallel streams, timed per committed
sample-step. Lava's stream outputs are asserted identical to the emulator's continuous run and to every frame's
aligned read-out.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from result_line import emit

from had_snn.conversion.chip_run import ChipRun, chip_input, run_network
from had_snn.conversion.emulator import LoihiEmulator
from had_snn.conversion.random_net import random_network, random_spikes
from had_snn.hardware.netx import NetxLayer
from had_snn.util.malloc import tune_malloc


def bench_layers(network: str) -> list[NetxLayer]:
    """The network under test as netx layers."""
    if network == "random":
        return random_network(0, in_shape=(2, 32, 32), channels=(8, 16), hidden=32)
    from had_snn.conversion.quantize import quantize_student
    from had_snn.models import build_model

    torch.manual_seed(0)
    student = build_model("student").eval()
    with torch.no_grad():
        for mod in student.modules():
            if isinstance(mod, torch.nn.Conv2d):
                mod.weight.mul_(3)
    cfg = student.config
    g = torch.Generator().manual_seed(1)
    template = (torch.rand(8, 1, cfg.in_channels, cfg.template_px, cfg.template_px, generator=g) < 0.3).float()
    return quantize_student(student, template).layers


def time_emulator(emu: LoihiEmulator, spikes: np.ndarray, device: str, repeats: int = 3):
    """Best of ``repeats`` full runs (seconds) and the result of the last one."""
    x = torch.as_tensor(spikes, device=device)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        res = emu.run(x)
        if device != "cpu":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t0)
    return best, res


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--network", choices=("random", "student"), default="random")
    parser.add_argument("--steps", type=int, default=16)
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--lava-samples", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    tune_malloc()  # as the had-snn command does (Lava runs in its own process, untouched)
    torch.set_num_threads(1)
    layers = bench_layers(args.network)
    spikes = random_spikes(1, args.steps, max(args.batch), layers[0].shape, rate=0.2)
    lava_in = spikes[:, : args.lava_samples]
    lava = run_network(layers, lava_in, "lava", "reset")
    lava_stream = run_network(layers, lava_in, "lava", "stream")
    n_lava, fill = lava.frames, lava.fill_steps
    lava_step = lava.timing_s["run_s"] / (n_lava * (lava.steps - 1))
    emu = LoihiEmulator(layers, device=args.device)
    emu.run(spikes[:2, :1])  # warm-up: compiles the CPU kernels (numba caches them on disk)
    print(f"network {args.network}: {[lay.name for lay in layers]}, {args.steps} steps + {fill} pipeline fill")
    print(f"lava fixed_pt     : {lava_step * 1e3:9.3f} ms/sample-step over {n_lava} samples "
          f"(build {lava.timing_s['build_s'] / n_lava:.2f} s, compile+step1 "
          f"{lava.timing_s['first_step_s'] / n_lava:.2f} s per sample; whole Lava call "
          f"{lava.timing_s['wall_s']:.1f} s wall incl. process start and read-back)")
    for batch in args.batch:
        emu_s, res = time_emulator(emu, chip_input(spikes[:, :batch], fill, "reset"), args.device)
        n = min(batch, n_lava)
        for i, s in enumerate(res.spikes, start=1):
            assert np.array_equal(lava.spikes[i - 1][:, :n], s[:, :n].cpu().numpy()), f"layer {i} spikes differ"
        assert np.array_equal(lava.v_out[:, :n], res.v_out[:, :n].cpu().numpy()), "read-out v differs"
        emu_step = emu_s / (batch * lava.steps)
        print(f"emulator {args.device:4s} B={batch:<3d}: {emu_step * 1e3:9.3f} ms/sample-step "
              f"(outputs of {n} sample(s) identical to Lava)  ratio lava/emulator: {lava_step / emu_step:.0f}x")
        goal = {1: 300.0, 32: 200.0}.get(batch) if args.network == "student" else None
        emit(f"emulator, {args.network} net, batch {batch} ({args.device})", "Lava fixed_pt", lava_step, emu_step,
             "sample-step", f"spikes and v of {n} sample(s) identical", goal)
    bench_stream(emu, lava_stream, spikes, max(args.batch), args.device, args.network)


def bench_stream(emu: LoihiEmulator, lava: ChipRun, spikes: np.ndarray, batch: int, device: str,
                 network: str) -> None:
    """Streaming: Lava's one-graph stream of its frames vs the emulator's frame-by-frame streaming."""
    n_steps, fill, n_frames = spikes.shape[0], emu.fill_steps, lava.frames
    frames = spikes[:, :n_frames]
    lava_step = lava.timing_s["run_s"] / (lava.steps - 1)
    ref = emu.run(torch.as_tensor(chip_input(frames, fill, "stream"), device=device))
    for i, s in enumerate(ref.spikes, start=1):
        assert np.array_equal(lava.spikes[i - 1], s.cpu().numpy()), f"stream: layer {i} spikes differ"
    assert np.array_equal(lava.v_out, ref.v_out.cpu().numpy()), "stream: read-out v differs"
    print(f"lava fixed_pt stream: {lava_step * 1e3:9.3f} ms/step, one graph of {n_frames} frames x {n_steps} steps + "
          f"{fill} drain (whole Lava call {lava.timing_s['wall_s']:.1f} s wall)")
    for streams in sorted({1, batch}):
        # stream b carries the frames of column b, b + 1, ... (wrapping): stream 0 is Lava's
        x = torch.as_tensor(np.stack([np.roll(frames, -b, axis=1) for b in range(streams)], axis=2), device=device)
        best = float("inf")
        for _ in range(3):
            t0 = time.perf_counter()
            state, aligned = emu.zero_state(streams), []
            for k in range(n_frames):
                res = emu.run_aligned(x[:, k], state)
                state = res.state
                aligned.append(res.readout_v[:, 0].cpu().numpy())
            if device != "cpu":
                torch.cuda.synchronize()
            best = min(best, time.perf_counter() - t0)
        for k, v in enumerate(aligned):
            assert np.array_equal(v, lava.readout_aligned()[:, k]), f"frame {k}"
        emu_step = best / (streams * n_frames * n_steps)
        print(f"emulator {device:4s} stream x{streams:<3d}: {emu_step * 1e3:9.3f} ms/committed sample-step (incl. the "
              f"{fill}-step read-out peek per frame; frame read-outs identical to Lava's stream)  ratio "
              f"lava/emulator: {lava_step / emu_step:.0f}x")
        emit(f"emulator, {network} net, streaming x{streams} ({device})", "Lava fixed_pt stream", lava_step, emu_step,
             "sample-step", "frame read-outs identical", None)


if __name__ == "__main__":
    main()
