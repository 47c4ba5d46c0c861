"""``had-snn deploy``: run a converted network (netx HDF5) in Lava or in the bit-exact torch emulator."""

from __future__ import annotations

import argparse
from pathlib import Path

from had_snn.util.atomic import atomic_path, write_json_atomic

NAME = "deploy"
HELP = "Run a converted network (NET_DIR/student.h5 or a .h5 file) in Lava (fixed_pt) or the torch emulator"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("net", help="folder written by `had-snn convert` (uses student.h5) or a netx .h5 file")
    parser.add_argument("--input", required=True, help="npz with spikes (T, B, C, H, W) or search_spikes")
    parser.add_argument("--backend", choices=("lava", "emulator"), default="emulator")
    parser.add_argument("--device", default="cpu", help="emulator device (cpu, cuda)")
    parser.add_argument("--out", help="output folder (default: NET_DIR/deploy_<backend>)")


def _load_input(path: str):
    import numpy as np

    if not Path(path).exists():
        raise FileNotFoundError(f"input not found: {path}")
    with np.load(path) as f:
        key = next((k for k in ("spikes", "search_spikes") if k in f), None)
        if key is None:
            raise ValueError(f"{path}: expected an array 'spikes' or 'search_spikes' (T, B, C, H, W), has {f.files}")
        x = f[key]
    if x.ndim != 5:
        raise ValueError(f"{path}: {key} must be (T, B, C, H, W), got shape {x.shape}")
    return (x != 0).astype(np.uint8)


def run(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from had_snn.conversion.emulator import LoihiEmulator
    from had_snn.hardware.energy import counts_from_emulator
    from had_snn.hardware.netx import read_netx

    net = Path(args.net)
    h5 = net / "student.h5" if net.is_dir() else net
    layers, attrs = read_netx(h5)
    spikes = _load_input(args.input)
    if tuple(spikes.shape[2:]) != tuple(layers[0].shape):
        raise ValueError(f"{args.input}: spikes are {spikes.shape[2:]} per step but {h5} expects {layers[0].shape}")
    emu = LoihiEmulator(layers, device=args.device)
    if args.backend == "lava":
        from had_snn.hardware.deploy import LavaUnavailable, run_lava

        try:
            res = run_lava(h5, spikes)
        except LavaUnavailable as exc:
            raise ValueError(f"--backend lava: {exc}") from exc
        layer_spikes = [res[f"spikes_{i}"] for i in range(1, len(emu.synapses) + 1)]
        v_out = res["v_out"]
        timing = {k: float(res[k].sum()) for k in ("build_s", "first_step_s", "run_s")}
    else:
        import time

        t0 = time.perf_counter()
        r = emu.run(spikes)
        timing = {"run_s": time.perf_counter() - t0}
        layer_spikes = [s.cpu().numpy() for s in r.spikes]
        v_out = r.v_out.cpu().numpy()
    counts = {k: v.cpu().numpy() for k, v in emu.count_ops(torch.as_tensor(spikes), layer_spikes).items()}
    out = Path(args.out) if args.out else (h5.parent / f"deploy_{args.backend}")
    out.mkdir(parents=True, exist_ok=True)
    arrays = {f"spikes_{i}": s for i, s in enumerate(layer_spikes, start=1)}
    arrays.update(v_out=v_out, **{f"count_{k}": v for k, v in counts.items()})
    readout_scale = float(attrs.get("readout_scale", 0.0))
    if readout_scale:
        arrays["readout_float"] = v_out / readout_scale
    with atomic_path(out / "outputs.npz") as tmp:
        np.savez_compressed(tmp, **arrays)
    summary = {
        "backend": args.backend, "network": str(h5), "input": args.input, "steps": int(spikes.shape[0]),
        "batch": int(spikes.shape[1]), "timing_s": timing, "layers": emu.layer_names,
        "counts_per_sample": {k: (v.sum(axis=(1, 2)) / spikes.shape[1]).tolist() for k, v in counts.items()},
    }
    write_json_atomic(out / "summary.json", summary)
    # The same counts in the format `had-snn energy --counts` reads (one batch item per frame).
    write_json_atomic(out / "counts.json", counts_from_emulator(emu.layer_names, counts))
    rates = [float(s.mean()) for s in layer_spikes]
    print(f"{args.backend}: {spikes.shape[0]} steps x {spikes.shape[1]} samples; firing rates "
          + ", ".join(f"{n} {r:.3f}" for n, r in zip(emu.layer_names, rates, strict=True)) + f"; wrote {out}")
    return 0
