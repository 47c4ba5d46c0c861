"""Run a converted network on a chip backend in a chip mode, with outputs aligned the same way for every backend.

Backends (:data:`BACKENDS`): ``emulator`` (the bit-exact torch emulator, :class:`~had_snn.conversion.emulator.
LoihiEmulator`), ``lava`` (Lava 0.10 ``fixed_pt`` running had-snn's own process graph in the Python 3.10 venv) and
``lava-dl`` (Lava running the graph lava-dl's ``netx.hdf5.Network`` loads from the file). Modes (:data:`MODES`), for
input windows ``frames`` (T, B, C, H, W) and L synaptic layers:

- ``reset``: every window from the zero state, T input steps then L zero steps (the pipeline fill), so the read-out
  sees every input step; outputs (T + L, B, ...), all T + L steps billed per window.
- ``stream``: the B windows are consecutive frames of one continuous run (no reset, no flush), then L drain steps;
  outputs (B * T + L, 1, ...), each frame billed the T steps it commits.

:func:`run_network` is the one place that knows how each backend is fed and timed: adding a backend means adding
its branch in :func:`_run_backend`. :func:`compare` checks two runs of the same input spike for spike.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from had_snn.hardware.lava_runner import stream_of
from had_snn.hardware.netx import NetxLayer, pipeline_fill_steps, read_netx, write_netx

BACKENDS = ("emulator", "lava", "lava-dl")
MODES = ("reset", "stream")
#: how each Lava backend builds its graph (what ``had-snn deploy`` reports as ``lava_graph``)
LAVA_GRAPHS = {"lava": "had-snn lava_runner", "lava-dl": "lava-dl netx.hdf5.Network"}


@dataclass
class ChipRun:
    """One backend's run of input windows: outputs per chip step, operation counts, and how long it took.

    ``spikes``: per synaptic layer (steps, samples, C, H, W) bool; ``v_out``: the read-out membrane (steps, samples,
    C, H, W) int64; ``counts``: per layer, step and sample (L, steps, samples) of ``input_spikes``, ``synaptic_ops``,
    ``neuron_updates``, ``output_spikes``; ``timing_s``: ``wall_s`` and, for Lava, its parts
    (:func:`had_snn.hardware.deploy.lava_timing`).
    """

    backend: str
    mode: str
    layer_names: list[str]
    spikes: list[np.ndarray]
    v_out: np.ndarray
    counts: dict[str, np.ndarray]
    input_steps: int
    frames: int
    fill_steps: int
    timing_s: dict[str, float] = field(default_factory=dict)

    @property
    def steps(self) -> int:
        """Chip steps run: T + L (reset) or B * T + L (stream)."""
        return int(self.v_out.shape[0])

    @property
    def billed_steps_per_frame(self) -> int:
        return self.input_steps + self.fill_steps if self.mode == "reset" else self.input_steps

    def readout_aligned(self) -> np.ndarray:
        """The read-out ``v`` of every input step, (T, frames, C, H, W): chip step t + L of each window (reset), or
        of each frame's place in the stream (frame k's input step t is chip step kT + t)."""
        t, fill = self.input_steps, self.fill_steps
        if self.mode == "reset":
            return self.v_out[fill:fill + t]
        return np.stack([self.v_out[k * t + fill:(k + 1) * t + fill, 0] for k in range(self.frames)], axis=1)

    def billed_counts(self) -> dict[str, np.ndarray]:
        """Counts per frame, (L, billed steps, frames): every step of each window (reset), or the T committed steps
        of each frame (stream: the drain is not billed, on the chip the next frame follows)."""
        if self.mode == "reset":
            return dict(self.counts)
        t, n = self.input_steps, self.frames
        return {k: v[:, :n * t, 0].reshape(v.shape[0], n, t).transpose(0, 2, 1) for k, v in self.counts.items()}


def chip_input(frames: np.ndarray, fill_steps: int, mode: str) -> np.ndarray:
    """The steps the chip runs for ``frames`` (T, B, C, H, W): each window plus ``fill_steps`` zero steps (reset,
    (T + L, B, ...)), or the windows back to back plus the drain (stream, (B * T + L, 1, ...))."""
    frames = np.asarray(frames, dtype=np.uint8)
    if mode == "stream":
        return stream_of(frames, fill_steps)
    if mode != "reset":
        raise ValueError(f"chip mode must be one of {MODES}, got {mode!r}")
    return np.concatenate([frames, np.zeros((fill_steps, *frames.shape[1:]), np.uint8)])


def _network(net: str | os.PathLike | list[NetxLayer]) -> tuple[list[NetxLayer], Path | None]:
    if isinstance(net, list):
        return net, None
    return read_netx(net)[0], Path(net)


def run_network(net: str | os.PathLike | list[NetxLayer], frames: np.ndarray, backend: str = "emulator",
                mode: str = "reset", *, device: str = "cpu", timeout_s: float | None = None,
                progress: bool = False, on_event: Callable[[dict], None] | None = None) -> ChipRun:
    """Run the windows ``frames`` (T, B, C, H, W) of 0/1 spikes through ``net`` (a netx file or its layers) on
    ``backend`` in ``mode`` (see the module docstring). The emulator runs on ``device``; Lava is stopped after
    ``timeout_s``, shows a progress bar over its steps when ``progress``, and passes its runner's events to
    ``on_event``. Counts are the emulator's operation counts of the spikes this backend produced."""
    if backend not in BACKENDS:
        raise ValueError(f"chip backend must be one of {BACKENDS}, got {backend!r}")
    layers, path = _network(net)
    frames = np.asarray(frames)
    if frames.ndim != 5 or tuple(frames.shape[2:]) != tuple(layers[0].shape):
        raise ValueError(f"input windows must be (T, B, {', '.join(map(str, layers[0].shape))}), got {frames.shape}")
    fill = pipeline_fill_steps(sum(layer.has_synapse for layer in layers))
    x = chip_input(frames, fill, mode)
    from had_snn.conversion.emulator import LoihiEmulator

    emu = LoihiEmulator(layers, device=device)
    spikes, v_out, counts, timing = _run_backend(backend, mode, emu, layers, path, frames, x, timeout_s, progress,
                                                 on_event)
    if counts is None:
        counts = emu.count_ops(torch.as_tensor(x, device=emu.device), spikes)
    return ChipRun(backend, mode, list(emu.layer_names), spikes, v_out,
                   {k: v.cpu().numpy() for k, v in counts.items()}, int(frames.shape[0]), int(frames.shape[1]),
                   fill, timing)


def _run_backend(backend: str, mode: str, emu: Any, layers: list[NetxLayer], path: Path | None, frames: np.ndarray,
                 x: np.ndarray, timeout_s: float | None, progress: bool, on_event: Callable[[dict], None] | None
                 ) -> tuple[list[np.ndarray], np.ndarray, dict | None, dict[str, float]]:
    """(layer spikes, read-out v, counts or None, timing) of one backend; every backend branches here only."""
    if backend == "emulator":
        t0 = time.perf_counter()
        res = emu.run(torch.as_tensor(x, device=emu.device))
        if emu.device.type == "cuda":
            torch.cuda.synchronize()
        timing = {"wall_s": time.perf_counter() - t0}
        return [s.cpu().numpy() for s in res.spikes], res.v_out.cpu().numpy(), res.counts, timing
    from had_snn.hardware.deploy import lava_timing, run_lava
    from had_snn.hardware.netx import layer_spikes

    # Lava's stream mode appends the drain itself (one graph for the whole stream); reset runs the flushed windows
    lava_in = frames.astype(np.uint8) if mode == "stream" else x
    bar, callback = _lava_progress(int(x.shape[1]), int(x.shape[0]), progress, mode == "stream", on_event)
    try:
        with tempfile.TemporaryDirectory(prefix="had_snn_net_") as tmp:
            if path is None:
                path = Path(tmp) / "net.h5"
                write_netx(path, layers)
            out = run_lava(path, lava_in, timeout_s=timeout_s, progress=callback, mode=mode,
                           lavadl_netx=backend == "lava-dl")
    finally:
        bar.close()
    return layer_spikes(out), np.asarray(out["v_out"]), None, lava_timing(out)


def _lava_progress(n_windows: int, n_steps: int, enabled: bool, stream: bool,
                   on_event: Callable[[dict], None] | None) -> tuple[Any, Callable[[dict], None]]:
    """A tqdm bar over windows x steps fed by the runner's events (which also go to ``on_event``)."""
    from tqdm import tqdm

    bar = tqdm(total=n_windows * n_steps, unit="step", desc="lava: starting Python 3.10 process", disable=not enabled,
               dynamic_ncols=True)
    phases = {"build": "building the process graph", "compile": "compiling + step 1", "run": "running"}

    def callback(event: dict) -> None:
        kind = event.get("event")
        if kind == "start":
            bar.set_description("lava")
        elif kind == "phase":
            where = "stream" if stream else f"window {event['sample'] + 1}/{n_windows}"
            bar.set_postfix_str(f"{where}: {phases.get(event['phase'], event['phase'])}")
        elif kind == "step":
            bar.update(1)
        if on_event is not None:
            on_event(event)

    return bar, callback


def compare(a: ChipRun, b: ChipRun, names: tuple[str, str] | None = None) -> dict[str, Any]:
    """Per-layer spike and read-out agreement of two runs of the same input
    (:func:`had_snn.hardware.spike_diff.compare_runs`; the runs are named ``names``, by default by their backends)."""
    from had_snn.hardware.spike_diff import compare_runs

    if (a.mode, a.input_steps, a.frames) != (b.mode, b.input_steps, b.frames):
        raise ValueError(f"runs of different inputs: {a.backend} {a.mode} {a.input_steps}x{a.frames} vs "
                         f"{b.backend} {b.mode} {b.input_steps}x{b.frames}")
    if names is None:
        names = (a.backend, b.backend) if a.backend != b.backend else (f"{a.backend} a", f"{b.backend} b")
    return compare_runs(a.layer_names, a.spikes, b.spikes, a.v_out, b.v_out, names=names)
