"""Emulator vs Lava fixed_pt: same network, same inputs, one run; prints time per sample-step for both and the ratio.

    .venv/bin/python bench/bench_emulator_vs_lava.py [--network random|student] [--steps 16] [--batch 1 32]
        [--lava-samples 2] [--device cpu]

Lava runs one sample per process graph, so its time per sample-step does not depend on the batch: it is Lava's own
run time of steps 2..T (``run_s``, one step per ``run`` call so the runner can report progress; graph build,
compile+step 1 and the whole subprocess's wall time are excluded and printed), averaged over ``--lava-samples``
samples. The emulator runs each batch size as one batch (after a warm-up that compiles its
kernels) and is timed over the whole ``run`` (all T steps, counters included). Emulator outputs of the samples Lava
ran are asserted identical to Lava's at every step and layer. ``random``: a seeded conv/pool/dense net;
``student``: the default spiking student (freshly initialised, conv weights x3 so every layer spikes), quantised.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from had_snn.conversion.emulator import LoihiEmulator
from had_snn.conversion.random_net import random_network, random_spikes
from had_snn.hardware.deploy import run_lava
from had_snn.hardware.netx import NetxLayer, write_netx


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
    torch.set_num_threads(1)
    layers = bench_layers(args.network)
    spikes = random_spikes(1, args.steps, max(args.batch), layers[0].shape, rate=0.2)
    lava_in = spikes[:, : args.lava_samples]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "net.h5"
        write_netx(path, layers)
        lava = run_lava(path, lava_in)
    lava_step = float(lava["run_s"].sum()) / (lava_in.shape[1] * (args.steps - 1))
    emu = LoihiEmulator(layers, device=args.device)
    emu.run(spikes[:2, :1])  # warm-up: compiles the CPU kernels (numba caches them on disk)
    print(f"network {args.network}: {[lay.name for lay in layers]}, {args.steps} steps")
    print(f"lava fixed_pt     : {lava_step * 1e3:9.3f} ms/sample-step over {lava_in.shape[1]} samples "
          f"(build {lava['build_s'].mean():.2f} s, compile+step1 {lava['first_step_s'].mean():.2f} s per sample; "
          f"whole Lava call {float(lava['wall_s']):.1f} s wall incl. process start and read-back)")
    for batch in args.batch:
        emu_s, res = time_emulator(emu, spikes[:, :batch], args.device)
        n = min(batch, lava_in.shape[1])
        for i, s in enumerate(res.spikes, start=1):
            assert np.array_equal(lava[f"spikes_{i}"][:, :n], s[:, :n].cpu().numpy()), f"layer {i} spikes differ"
        assert np.array_equal(lava["v_out"][:, :n], res.v_out[:, :n].cpu().numpy()), "read-out v differs"
        emu_step = emu_s / (batch * args.steps)
        print(f"emulator {args.device:4s} B={batch:<3d}: {emu_step * 1e3:9.3f} ms/sample-step "
              f"(outputs of {n} sample(s) identical to Lava)  ratio lava/emulator: {lava_step / emu_step:.0f}x")


if __name__ == "__main__":
    main()
