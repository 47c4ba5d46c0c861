"""Emulator vs Lava fixed_pt: same network, same inputs, one run; prints time per step for both and the ratio.

    .venv/bin/python bench/bench_emulator_vs_lava.py [--steps 32] [--batch 1] [--device cpu]

Lava time per step excludes graph build and compilation (first step); the emulator's is its full run over T steps.
Outputs are asserted identical at every step.
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
from had_snn.hardware.netx import write_netx


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=32)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(1)
    layers = random_network(0, in_shape=(2, 32, 32), channels=(8, 16), hidden=32)
    spikes = random_spikes(1, args.steps, args.batch, layers[0].shape, rate=0.2)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "net.h5"
        write_netx(path, layers)
        lava = run_lava(path, spikes)
    emu = LoihiEmulator(layers, device=args.device)
    emu.run(spikes[:2])  # warm-up
    t0 = time.perf_counter()
    res = emu.run(spikes)
    if args.device != "cpu":
        torch.cuda.synchronize()
    emu_s = time.perf_counter() - t0
    for i, s in enumerate(res.spikes, start=1):
        assert np.array_equal(lava[f"spikes_{i}"], s.cpu().numpy()), f"layer {i} spikes differ"
    assert np.array_equal(lava["v_out"], res.v_out.cpu().numpy()), "read-out v differs"
    samples_steps = args.batch * args.steps
    lava_step = float(lava["run_s"].sum()) / (args.batch * (args.steps - 1))
    emu_step = emu_s / samples_steps
    print(f"network: {[lay.name for lay in layers]}, {args.steps} steps x {args.batch} samples, outputs identical")
    print(f"lava fixed_pt : {lava_step * 1e3:9.3f} ms/step (build {lava['build_s'].sum():.2f} s, "
          f"compile+step1 {lava['first_step_s'].sum():.2f} s)")
    print(f"emulator {args.device:5s}: {emu_step * 1e3:9.3f} ms/step")
    print(f"ratio lava/emulator: {lava_step / emu_step:.0f}x")


if __name__ == "__main__":
    main()
