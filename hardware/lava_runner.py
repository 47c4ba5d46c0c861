"""Run a netx HDF5 network in Lava (``Loihi2SimCfg(select_tag="fixed_pt")``) with Lava's own processes.

Only runs inside the Python 3.10 Lava venv::

    python -m had_snn.hardware.lava_runner NET.h5 INPUT.npz OUT.npz [--mode reset|stream] [--netx]

``INPUT.npz`` holds ``spikes`` (T, B, C, H, W) of 0/1. ``--mode reset`` (default): each of the B samples runs as
given (the caller appends any flush steps) in a fresh process graph. ``--mode stream``: the B samples are consecutive
frames of ONE stream, run in one graph without reset: B * T steps, then L zero "drain" steps (L = synaptic layers)
so the read-out sees the last frame; the outputs then have B * T + L steps and one sample. ``--netx``: the graph is
lava-dl's ``netx.hdf5.Network`` loaded from NET.h5 (:func:`import_lavadl_netx`). Otherwise a graph is a source
``RingBuffer`` -> per layer a ``Conv`` (torch kernel flipped and laid out as (C_out, W, H, C_in), as netx does) or
``Dense`` + ``LIF``; either graph gets an ``Extractor`` on every layer's spikes and a ``VarWire`` on the last
layer's ``v`` (:func:`readout_taps`), so each step's outputs reach the runner right after the step, with no
read-back at the end. ``OUT.npz`` gets ``spikes_<i>`` (T, B, C, H, W) per synaptic layer i (1-based, network
order), ``v_out`` (T, B, C, H, W), ``layer_names`` and per-sample timings in seconds: ``build_s`` (graph
construction), ``first_step_s`` (compile + step 1), ``run_s`` (the remaining T - 1 steps), ``read_s`` (receiving
every step's outputs) and ``stop_s``.

Progress goes to stdout, one line per event, ``had-snn-progress {json}`` (flushed at once, so the caller can show
it while Lava runs): ``{"event": "start", "samples": B, "steps": T}``, ``{"event": "phase", "sample": b, "phase":
"build" | "compile" | "run"}``, ``{"event": "step", "sample": b, "step": t}`` after every step and
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
from had_snn.hardware.netx import NetxLayer, read_netx, spike_arrays
from had_snn.util.atomic import atomic_path

#: prefix of the progress lines the runner prints on stdout (parsed by :func:`had_snn.hardware.deploy.run_lava`)
PROGRESS_PREFIX = "had-snn-progress "
Progress = Callable[[dict], None]


def emit(event: dict) -> None:
    """Print one progress event on stdout for the parent process (flushed at once)."""
    print(PROGRESS_PREFIX + json.dumps(event), flush=True)


def build_chain(layers: list[NetxLayer], port, port_shape_whc: tuple[int, ...]) -> list:
    """Per synaptic layer of ``layers`` a ``Conv`` (torch kernel flipped and laid out as (C_out, W, H, C_in), as
    netx does) or ``Dense`` and a ``LIF``, fed from ``port`` (of Lava shape ``port_shape_whc``); returns the LIFs."""
    from lava.proc.conv.process import Conv
    from lava.proc.dense.process import Dense
    from lava.proc.lif.process import LIF

    lifs = []
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
        lifs.append(lif)
        port, port_shape_whc = lif.s_out, shape
    return lifs


def readout_taps(spike_ports: list, v, buffer: int):
    """An ``Extractor`` on every port of ``spike_ports`` (each layer's spikes) and a ``VarWire`` on the read-out's
    ``v``: the host receives each step's outputs as Lava computes them (no read-back of ring buffers or monitors,
    which Lava 0.10 sends element by element). Returns (extractors, v_wire)."""
    from lava.proc.io.extractor import Extractor, VarWire

    extractors = []
    for port in spike_ports:
        extractor = Extractor(shape=port.shape, buffer_size=buffer)
        port.connect(extractor.in_port)
        extractors.append(extractor)
    v_wire = VarWire(buffer_size=buffer)
    v_wire.connect_var(v)
    return extractors, v_wire


def run_config():
    """``Loihi2SimCfg(select_tag="fixed_pt")`` with the host I/O processes' (untagged) Python models named."""
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.io.extractor import Extractor, PyLoihiExtractorModel, PyLoihiVarWireModel, VarWire
    from lava.proc.io.injector import Injector, PyLoihiInjectorModel

    return Loihi2SimCfg(select_tag="fixed_pt", exception_proc_model_map={
        Injector: PyLoihiInjectorModel, Extractor: PyLoihiExtractorModel, VarWire: PyLoihiVarWireModel})


def _source(spikes_tchw: np.ndarray):
    from lava.proc.io.source import RingBuffer as Source

    return Source(data=np.ascontiguousarray(spikes_tchw.transpose(3, 2, 1, 0)).astype(np.int32))  # (W, H, C, T)


def _build(layers: list[NetxLayer], spikes_tchw: np.ndarray):
    """Create the Lava processes for one sample; returns (source, extractors, v_wire)."""
    source = _source(spikes_tchw)
    lifs = build_chain(layers, source.s_out, tuple(layers[0].shape[::-1]))
    return (source, *readout_taps([lif.s_out for lif in lifs], lifs[-1].v, buffer=2))


def import_lavadl_netx():
    """lava-dl's ``lava.lib.dl.netx.hdf5`` module, the netx loader Lava users have, importable without torch.

    lava-dl 0.6.0 is installed with ``--no-deps`` (``make setup-lava``): torch is not in the Lava venv. Two imports
    of lava-dl need it and neither is used for a CUBA network: ``netx/sequential_modules.py`` (torch models, imported by
    the package ``__init__`` and by Lava's compiler, which imports every module beside ``hdf5.py`` looking for
    process models), and ``netx/hdf5.py``'s import of ``slayer.neuron.rf.neuron_params`` (slayer imports torch), used
    for resonate-and-fire neurons only. Without torch, the ``netx`` package is set up without running its
    ``__init__``, ``sequential_modules`` is an empty module and ``neuron_params`` a stub that refuses RF neurons; the
    loader itself (``hdf5.py``, ``blocks/``, ``utils.py``) is lava-dl's, unmodified. With torch present the plain
    import is used."""
    import importlib.util
    import types

    try:
        import torch  # noqa: F401
    except ImportError:
        try:
            spec = importlib.util.find_spec("lava.lib.dl.netx")
        except ImportError:
            spec = None
        if spec is None:
            raise ImportError("lava-dl is not installed in the Lava venv (make setup-lava installs lava-dl 0.6.0)") \
                from None
        if "lava.lib.dl.netx" not in sys.modules:
            pkg = types.ModuleType("lava.lib.dl.netx")
            pkg.__path__, pkg.__spec__ = list(spec.submodule_search_locations), spec
            sys.modules["lava.lib.dl.netx"] = pkg
        # Lava's compiler imports every module beside a process's own to find process models: sequential_modules
        # (torch models of lava-dl's own, none for netx.hdf5.Network) becomes an empty module
        dl_dir = os.path.dirname(list(spec.submodule_search_locations)[0])  # .../lava/lib/dl
        for name, rel in (("lava.lib.dl.slayer", "slayer/__init__.py"),
                          ("lava.lib.dl.slayer.neuron", "slayer/neuron/__init__.py"),
                          ("lava.lib.dl.slayer.neuron.rf", "slayer/neuron/rf.py"),
                          ("lava.lib.dl.netx.sequential_modules", "netx/sequential_modules.py")):
            if name not in sys.modules:
                stub = types.ModuleType(name)
                stub.__path__, stub.__file__ = [], os.path.join(dl_dir, rel)  # the compiler asks modules for a file
                sys.modules[name] = stub

        def neuron_params(*_args: object, **_kwargs: object) -> dict:
            raise NotImplementedError("resonate-and-fire neurons need lava-dl's slayer, which needs torch")

        sys.modules["lava.lib.dl.slayer.neuron.rf"].neuron_params = neuron_params
    from lava.lib.dl.netx import hdf5

    return hdf5


def _build_lavadl(net_path: str | os.PathLike, spikes_tchw: np.ndarray):
    """lava-dl's ``netx.hdf5.Network`` built from the file as it is, fed by a source ring buffer, with the read-out
    taps of :func:`readout_taps` on its blocks' neurons. Returns (source, extractors, v_wire)."""
    hdf5 = import_lavadl_netx()
    net = hdf5.Network(net_config=str(net_path))
    source = _source(spikes_tchw)
    source.s_out.connect(net.inp)
    return (source, *readout_taps([block.out for block in net.layers], net.layers[-1].neuron.v, buffer=2))


def step_chw(data: np.ndarray, shape_chw: tuple[int, ...]) -> np.ndarray:
    """One step of a Lava (W, H, C) or (N,) array -> (C, H, W)."""
    return data.transpose(2, 1, 0) if data.ndim == 3 else data.reshape(shape_chw)


def run_sample(layers: list[NetxLayer], spikes_tchw: np.ndarray, progress: Progress | None = None,
               sample: int = 0, lavadl_net: str | os.PathLike | None = None) -> dict:
    """Run one sample (T, C, H, W) step by step; returns spikes per synaptic layer, last-layer v and timings.

    Each step's outputs are received from the read-out taps (:func:`readout_taps`) right after the step; the time
    spent receiving is ``read_s``, the steps themselves ``first_step_s`` (compile + step 1) and ``run_s``.
    ``progress`` (optional) gets a ``phase`` event before each phase and a ``step`` event after every step.
    ``lavadl_net`` (the file ``layers`` were read from): build the graph with lava-dl's ``netx.hdf5.Network`` instead
    of our own Lava processes.
    """
    from lava.magma.core.run_conditions import RunSteps

    def tell(event: dict) -> None:
        if progress is not None:
            progress({"sample": sample, **event})

    n_steps = spikes_tchw.shape[0]
    if n_steps < 2:
        raise ValueError(f"need at least 2 time steps, got {n_steps}")
    synaptic = [layer for layer in layers if layer.has_synapse]
    spikes = [np.zeros((n_steps, *layer.shape), bool) for layer in synaptic]
    v_out = np.zeros((n_steps, *synaptic[-1].shape), np.int64)
    tell({"event": "phase", "phase": "build"})
    t0 = time.perf_counter()
    if lavadl_net is None:
        source, extractors, v_wire = _build(layers, spikes_tchw)
    else:
        source, extractors, v_wire = _build_lavadl(lavadl_net, spikes_tchw)
    t1 = time.perf_counter()
    cfg, read_s = run_config(), 0.0

    def receive(t: int) -> float:
        start = time.perf_counter()
        for out, extractor, layer in zip(spikes, extractors, synaptic, strict=True):
            out[t] = step_chw(extractor.receive(), layer.shape) != 0
        v_out[t] = step_chw(v_wire.receive(), synaptic[-1].shape).astype(np.int64)
        return time.perf_counter() - start

    try:
        tell({"event": "phase", "phase": "compile"})
        source.run(condition=RunSteps(num_steps=1), run_cfg=cfg)
        t2 = time.perf_counter()
        read_s += receive(0)
        tell({"event": "step", "step": 1})
        tell({"event": "phase", "phase": "run"})
        for step in range(2, n_steps + 1):  # one step per call: no measurable overhead in Lava's Python runtime
            source.run(condition=RunSteps(num_steps=1), run_cfg=cfg)
            read_s += receive(step - 1)
            tell({"event": "step", "step": step})
        t3 = time.perf_counter()
    finally:
        source.stop()
    t4 = time.perf_counter()
    return {"spikes": spikes, "v_out": v_out, "build_s": t1 - t0, "first_step_s": t2 - t1,
            "run_s": t3 - t2 - read_s, "read_s": read_s, "stop_s": t4 - t3}


TIMING_KEYS = ("build_s", "first_step_s", "run_s", "read_s", "stop_s")


MODES = ("reset", "stream")


def stream_of(spikes: np.ndarray, drain_steps: int) -> np.ndarray:
    """Windows (T, B, C, H, W) as one stream (B * T + drain_steps, 1, C, H, W): window b fills steps [bT, bT + T),
    then ``drain_steps`` zero steps."""
    n_steps, batch = spikes.shape[:2]
    frames = np.ascontiguousarray(np.swapaxes(spikes, 0, 1)).reshape(batch * n_steps, 1, *spikes.shape[2:])
    return np.concatenate([frames, np.zeros((drain_steps, 1, *spikes.shape[2:]), frames.dtype)])


def run_file(net_path: str | os.PathLike, input_path: str | os.PathLike, out_path: str | os.PathLike,
             progress: Progress | None = None, mode: str = "reset", lavadl: bool = False) -> None:
    """Run the samples of ``input_path`` through the network (``mode`` reset: each in a fresh graph; stream: all as
    one stream plus the drain, see the module docstring) and write ``out_path`` atomically. ``lavadl``: the graph is
    lava-dl's ``netx.hdf5.Network`` loaded from the file (:func:`import_lavadl_netx`), not our processes."""
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
        results.append(run_sample(layers, spikes[:, b], progress, sample=b, lavadl_net=net_path if lavadl else None))
        if progress is not None:
            progress({"event": "sample_done", "sample": b, **{k: results[-1][k] for k in TIMING_KEYS}})
    out = spike_arrays([np.stack([r["spikes"][i] for r in results], 1) for i in range(len(results[0]["spikes"]))])
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
    parser.add_argument("--netx", action="store_true",
                        help="build the graph with lava-dl's netx.hdf5.Network from the file instead of our own "
                             "Lava processes (lava-dl 0.6.0, installed by make setup-lava)")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stdout")
    args = parser.parse_args(argv)
    try:
        run_file(args.net, args.input, args.out, progress=None if args.quiet else emit, mode=args.mode,
                 lavadl=args.netx)
    except (ValueError, FileNotFoundError, ImportError) as exc:
        print(f"lava_runner: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
