"""Run a netx HDF5 network in Lava (``Loihi2SimCfg(select_tag="fixed_pt")``) with Lava's own processes.

Only runs inside the Python 3.10 Lava venv::

    python -m had_snn.hardware.lava_runner NET.h5 INPUT.npz OUT.npz [--mode reset|stream]

``INPUT.npz`` holds ``spikes`` (T, B, C, H, W) of 0/1. ``--mode reset`` (default): each of the B samples runs as
given (the caller appends any flush steps) in a fresh process graph. ``--mode stream``: the B samples are consecutive
frames of ONE stream, run in one graph without reset: B * T steps, then L zero "drain" steps (L = synaptic layers)
so the read-out sees the last frame; the outputs then have B * T + L steps and one sample. A graph is a source
``RingBuffer`` -> per layer a ``Conv`` (torch kernel flipped and laid out as (C_out, W, H, C_in), as netx does) or
``Dense`` + ``LIF``, a sink ``RingBuffer`` on every LIF's spikes and a ``Monitor`` on the last LIF's ``v``. ``OUT.npz``
gets ``spikes_<i>`` (T, B, C, H, W) per synaptic layer i (1-based, network order), ``v_out`` (T, B, C, H, W),
``layer_names`` and per-sample timings in seconds: ``build_s`` (graph construction), ``first_step_s`` (compile +
step 1), ``run_s`` (the remaining T - 1 steps), ``read_s`` (reading the sinks and the monitor back) and ``stop_s``.

Progress goes to stdout, one line per event, ``had-snn-progress {json}`` (flushed at once, so the caller can show
it while Lava runs): ``{"event": "start", "samples": B, "steps": T}``, ``{"event": "phase", "sample": b, "phase":
"build" | "compile" | "run" | "read"}``, ``{"event": "step", "sample": b, "step": t}`` after every step and
``{"event": "sample_done", "sample": b, ...timings}``. Other stdout lines (Lava's own) are left alone.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable

import numpy as np

from had_snn.hardware.cuba import BIAS_EXP
from had_snn.hardware.netx import NetxLayer, read_netx
from had_snn.util.atomic import atomic_path

#: prefix of the progress lines the runner prints on stdout (parsed by :func:`had_snn.hardware.deploy.run_lava`)
PROGRESS_PREFIX = "had-snn-progress "
Progress = Callable[[dict], None]


def emit(event: dict) -> None:
    """Print one progress event on stdout for the parent process (flushed at once)."""
    print(PROGRESS_PREFIX + json.dumps(event), flush=True)


def _build(layers: list[NetxLayer], spikes_tchw: np.ndarray):
    """Create the Lava processes for one sample; returns (source, sinks, monitor, last LIF)."""
    from lava.proc.conv.process import Conv
    from lava.proc.dense.process import Dense
    from lava.proc.io.sink import RingBuffer as Sink
    from lava.proc.io.source import RingBuffer as Source
    from lava.proc.lif.process import LIF
    from lava.proc.monitor.process import Monitor

    n_steps = spikes_tchw.shape[0]
    source = Source(data=np.ascontiguousarray(spikes_tchw.transpose(3, 2, 1, 0)).astype(np.int32))  # (W, H, C, T)
    port, port_shape_whc = source.s_out, tuple(layers[0].shape[::-1])
    sinks, lif = [], None
    for layer in layers[1:]:
        if layer.type == "flatten":  # done below when a dense layer meets a (W, H, C) port
            continue
        n = layer.neuron
        if layer.type == "conv":
            weight = np.ascontiguousarray(layer.weight[:, :, ::-1, ::-1].transpose(0, 3, 2, 1)).astype(np.int32)
            synapse = Conv(
                weight=weight,
                input_shape=port_shape_whc,
                padding=tuple(layer.padding[::-1]),
                stride=tuple(layer.stride[::-1]),
                dilation=tuple(layer.dilation[::-1]),
                groups=layer.groups,
            )
            shape = tuple(layer.shape[::-1])  # (W, H, C)
            bias = np.zeros(shape, np.int32) if layer.bias is None else np.broadcast_to(layer.bias, shape)
        else:
            if len(port_shape_whc) == 3:  # WHC -> CHW order, as netx connects a flattened conv output to dense
                port = port.transpose([2, 1, 0]).flatten()
            synapse = Dense(weights=layer.weight.astype(np.int32), weight_exp=layer.weight_exp)
            shape = (layer.num_neurons,)
            bias = np.zeros(shape, np.int32) if layer.bias is None else layer.bias
        lif = LIF(
            shape=shape,
            du=n.du,
            dv=n.dv,
            vth=n.vth_mant,
            bias_mant=np.ascontiguousarray(bias).astype(np.int32),
            bias_exp=BIAS_EXP,
        )
        port.connect(synapse.s_in)
        synapse.a_out.connect(lif.a_in)
        sink = Sink(shape=shape, buffer=n_steps)
        lif.s_out.connect(sink.a_in)
        sinks.append(sink)
        port, port_shape_whc = lif.s_out, shape
    monitor = Monitor()
    monitor.probe(lif.v, n_steps)
    return source, sinks, monitor, lif


def _to_tchw(data: np.ndarray, shape_chw: tuple[int, int, int]) -> np.ndarray:
    """Lava (W, H, C, T) or (N, T) buffers -> (T, C, H, W)."""
    if data.ndim == 4:
        return data.transpose(3, 2, 1, 0)
    return data.T.reshape(-1, *shape_chw)


def run_sample(layers: list[NetxLayer], spikes_tchw: np.ndarray, progress: Progress | None = None,
               sample: int = 0) -> dict:
    """Run one sample (T, C, H, W) step by step; returns spikes per synaptic layer, last-layer v and timings.

    ``progress`` (optional) gets a ``phase`` event before each phase and a ``step`` event after every step.
    """
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg

    def tell(event: dict) -> None:
        if progress is not None:
            progress({"sample": sample, **event})

    n_steps = spikes_tchw.shape[0]
    if n_steps < 2:
        raise ValueError(f"need at least 2 time steps, got {n_steps}")
    tell({"event": "phase", "phase": "build"})
    t0 = time.perf_counter()
    source, sinks, monitor, lif = _build(layers, spikes_tchw)
    t1 = time.perf_counter()
    cfg = Loihi2SimCfg(select_tag="fixed_pt")
    tell({"event": "phase", "phase": "compile"})
    source.run(condition=RunSteps(num_steps=1), run_cfg=cfg)
    t2 = time.perf_counter()
    tell({"event": "step", "step": 1})
    tell({"event": "phase", "phase": "run"})
    for step in range(2, n_steps + 1):  # one step per call: no measurable overhead in Lava's Python runtime
        source.run(condition=RunSteps(num_steps=1), run_cfg=cfg)
        tell({"event": "step", "step": step})
    t3 = time.perf_counter()
    tell({"event": "phase", "phase": "read"})
    try:
        synaptic = [layer for layer in layers if layer.has_synapse]
        spikes = [_to_tchw(s.data.get(), layer.shape) != 0 for s, layer in zip(sinks, synaptic, strict=True)]
        v_raw = monitor.get_data()[lif.name]["v"]  # (T, *lava shape)
        v_out = _to_tchw(np.moveaxis(v_raw, 0, -1), synaptic[-1].shape).astype(np.int64)
        t4 = time.perf_counter()
    finally:
        source.stop()
    t5 = time.perf_counter()
    return {"spikes": spikes, "v_out": v_out, "build_s": t1 - t0, "first_step_s": t2 - t1, "run_s": t3 - t2,
            "read_s": t4 - t3, "stop_s": t5 - t4}


TIMING_KEYS = ("build_s", "first_step_s", "run_s", "read_s", "stop_s")


MODES = ("reset", "stream")


def stream_of(spikes: np.ndarray, drain_steps: int) -> np.ndarray:
    """Windows (T, B, C, H, W) as one stream (B * T + drain_steps, 1, C, H, W): window b fills steps [bT, bT + T),
    then ``drain_steps`` zero steps."""
    n_steps, batch = spikes.shape[:2]
    frames = np.ascontiguousarray(np.swapaxes(spikes, 0, 1)).reshape(batch * n_steps, 1, *spikes.shape[2:])
    return np.concatenate([frames, np.zeros((drain_steps, 1, *spikes.shape[2:]), frames.dtype)])


def run_file(net_path: str | os.PathLike, input_path: str | os.PathLike, out_path: str | os.PathLike,
             progress: Progress | None = None, mode: str = "reset") -> None:
    """Run the samples of ``input_path`` through the network (``mode`` reset: each in a fresh graph; stream: all as
    one stream plus the drain, see the module docstring) and write ``out_path`` atomically."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    layers, _ = read_netx(net_path)
    with np.load(input_path) as f:
        if "spikes" not in f:
            raise ValueError(f"{input_path}: missing array 'spikes' (T, B, C, H, W)")
        spikes = f["spikes"]
    if spikes.ndim != 5 or tuple(spikes.shape[2:]) != tuple(layers[0].shape):
        raise ValueError(f"{input_path}: spikes must be (T, B, {layers[0].shape}), got {spikes.shape}")
    synaptic = [layer for layer in layers if layer.has_synapse]
    if mode == "stream":
        spikes = stream_of(spikes, len(synaptic))
    if progress is not None:
        progress({"event": "start", "samples": int(spikes.shape[1]), "steps": int(spikes.shape[0])})
    results = []
    for b in range(spikes.shape[1]):
        results.append(run_sample(layers, spikes[:, b], progress, sample=b))
        if progress is not None:
            progress({"event": "sample_done", "sample": b, **{k: results[-1][k] for k in TIMING_KEYS}})
    out = {f"spikes_{i + 1}": np.stack([r["spikes"][i] for r in results], 1) for i in range(len(results[0]["spikes"]))}
    out["v_out"] = np.stack([r["v_out"] for r in results], 1)
    out["mode"] = np.array(mode)
    out["layer_names"] = np.array([s.name or f"{s.type}{i}" for i, s in enumerate(synaptic, start=1)])
    for key in TIMING_KEYS:
        out[key] = np.array([r[key] for r in results])
    with atomic_path(out_path) as tmp:
        np.savez(tmp, **out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("net", help="netx HDF5 file")
    parser.add_argument("input", help="npz with 'spikes' (T, B, C, H, W)")
    parser.add_argument("out", help="output npz")
    parser.add_argument("--mode", choices=MODES, default="reset",
                        help="reset: each sample in a fresh graph, as given; stream: the samples are consecutive "
                             "frames of one stream (one graph, no reset), followed by L drain steps")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stdout")
    args = parser.parse_args(argv)
    try:
        run_file(args.net, args.input, args.out, progress=None if args.quiet else emit, mode=args.mode)
    except (ValueError, FileNotFoundError) as exc:
        print(f"lava_runner: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
