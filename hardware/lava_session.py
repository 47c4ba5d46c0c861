"""A Lava process graph that stays up for a whole stream, fed step by step from the host (Lava venv side).

Only runs inside the Python 3.10 Lava venv, started by :class:`had_snn.hardware.lava_stream.LavaStream`::

    python -u -m had_snn.hardware.lava_session

Once Lava is imported it answers ``{"reply": "ready"}``; then it reads commands from stdin, one JSON object per
line, and answers each with one stdout line ``had-snn-reply {json}`` (other stdout lines are Lava's own):

- ``{"cmd": "open", "net": NET.h5, "steps": N}``: build one graph for the netx network (an ``Injector`` -> per layer
  ``Conv`` or ``Dense`` + ``LIF`` (:func:`~had_snn.hardware.lava_runner.build_chain`) -> an ``Extractor`` on every
  LIF's spikes and a ``VarWire`` on the read-out LIF's ``v``), compile it and start N steps of
  ``Loihi2SimCfg(select_tag="fixed_pt")`` without blocking; each step waits for its input. Answer ``{"reply":
  "opened", "build_s", "start_s"}`` (graph construction; compile and runtime start).
- ``{"cmd": "feed", "input": IN.npy, "output": OUT.npz}``: the next S steps' input spikes (S, C, H, W) of 0/1 go in;
  their outputs come back as they are computed and are written to OUT.npz (atomically): ``spikes_<i>`` (S, C, H, W)
  bool per synaptic layer (1-based) and ``v_out`` (S, C, H, W) int64, the read-out ``v`` after each step. Answer
  ``{"reply": "fed", "steps": S, "done": steps fed so far, "run_s"}``. The state carries over between feeds: nothing
  is reset until the graph is closed.
- ``{"cmd": "close"}``: once all N steps have been fed, wait for the run to end and stop it (``{"reply": "closed",
  "stop_s"}``); a graph closed early is stopped where it is. Another ``open`` may follow.
- ``{"cmd": "quit"}``: stop any open graph and exit.

An error answers ``{"reply": "error", "message": ...}`` and the session exits at once with status 1 (a graph
waiting for input cannot be stopped cleanly; the host kills the session's process group, Lava's workers with it).
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

import numpy as np

from had_snn.hardware.lava_runner import build_chain, readout_taps, run_config, step_chw
from had_snn.hardware.netx import NetxLayer, read_netx, spike_arrays
from had_snn.util.atomic import atomic_path

#: prefix of the answer lines on stdout (parsed by :class:`had_snn.hardware.lava_stream.LavaStream`)
REPLY_PREFIX = "had-snn-reply "


def reply(message: dict) -> None:
    """Print one answer line for the host (flushed at once)."""
    print(REPLY_PREFIX + json.dumps(message), flush=True)


class StreamGraph:
    """One Lava graph of a netx network running ``n_steps`` steps, fed and read step by step."""

    def __init__(self, layers: list[NetxLayer], n_steps: int) -> None:
        from lava.magma.core.run_conditions import RunSteps
        from lava.proc.io.injector import Injector

        if n_steps < 1:
            raise ValueError(f"a stream needs at least 1 step, got {n_steps}")
        self.in_shape = tuple(layers[0].shape)
        self.synaptic = [layer for layer in layers if layer.has_synapse]
        self.n_steps, self.fed, self.buffer = int(n_steps), 0, 64
        t0 = time.perf_counter()
        self.injector = Injector(shape=self.in_shape[::-1], buffer_size=self.buffer)  # Lava order (W, H, C)
        lifs = build_chain(layers, self.injector.out_port, self.in_shape[::-1])
        self.extractors, self.v_wire = readout_taps([lif.s_out for lif in lifs], lifs[-1].v, self.buffer)
        t1 = time.perf_counter()
        self.injector.run(condition=RunSteps(num_steps=self.n_steps, blocking=False), run_cfg=run_config())
        self.build_s, self.start_s = t1 - t0, time.perf_counter() - t1

    def feed(self, spikes_tchw: np.ndarray) -> dict[str, np.ndarray]:
        """Run the steps of ``spikes_tchw`` (S, C, H, W); their per-layer spikes and read-out ``v``."""
        if spikes_tchw.ndim != 4 or tuple(spikes_tchw.shape[1:]) != self.in_shape:
            raise ValueError(f"input steps must be (S, {', '.join(map(str, self.in_shape))}), got {spikes_tchw.shape}")
        n = int(spikes_tchw.shape[0])
        if self.fed + n > self.n_steps:
            raise ValueError(f"the graph was opened for {self.n_steps} steps; {self.fed} fed, {n} more given")
        spikes = [np.zeros((n, *layer.shape), bool) for layer in self.synaptic]
        v_out = np.zeros((n, *self.synaptic[-1].shape), np.int64)
        for start in range(0, n, self.buffer):  # never more steps in flight than the channels hold
            stop = min(n, start + self.buffer)
            for t in range(start, stop):
                self.injector.send(np.ascontiguousarray(spikes_tchw[t].transpose(2, 1, 0), dtype=float))
            for t in range(start, stop):
                for out, extractor, layer in zip(spikes, self.extractors, self.synaptic, strict=True):
                    out[t] = step_chw(extractor.receive(), layer.shape) != 0
                v_out[t] = step_chw(self.v_wire.receive(), self.synaptic[-1].shape).astype(np.int64)
        self.fed += n
        arrays = spike_arrays(spikes)
        arrays["v_out"] = v_out
        return arrays

    def close(self) -> None:
        """Wait for the run's end when every step was fed, then stop the runtime."""
        if self.fed == self.n_steps:
            self.injector.wait()
        self.injector.stop()


def serve(stdin: Any = sys.stdin) -> int:
    """Answer the commands on ``stdin`` until ``quit`` or its end; 0, or 1 after an error."""
    graph: StreamGraph | None = None
    import lava.proc.io.injector  # noqa: F401 - "ready" means Lava is imported
    import lava.proc.lif.process  # noqa: F401

    reply({"reply": "ready"})
    try:
        for line in stdin:
            if not line.strip():
                continue
            cmd = json.loads(line)
            kind = cmd.get("cmd")
            if kind == "open":
                if graph is not None:
                    graph.close()
                layers, _ = read_netx(cmd["net"])
                graph = StreamGraph(layers, int(cmd["steps"]))
                reply({"reply": "opened", "build_s": graph.build_s, "start_s": graph.start_s})
            elif kind == "feed":
                if graph is None:
                    raise ValueError("feed before open")
                t0 = time.perf_counter()
                arrays = graph.feed(np.load(cmd["input"]))
                run_s = time.perf_counter() - t0
                with atomic_path(cmd["output"]) as tmp:
                    np.savez(tmp, **arrays)
                reply({"reply": "fed", "steps": int(arrays["v_out"].shape[0]), "done": graph.fed, "run_s": run_s})
            elif kind == "close":
                t0 = time.perf_counter()
                if graph is not None:
                    graph.close()
                graph = None
                reply({"reply": "closed", "stop_s": time.perf_counter() - t0})
            elif kind == "quit":
                break
            else:
                raise ValueError(f"unknown command {kind!r} (expected open, feed, close or quit)")
    except Exception as exc:  # the host shows the message; the session cannot go on after a failed step
        reply({"reply": "error", "message": f"{type(exc).__name__}: {exc}"})
        # a graph waiting for input cannot be stopped cleanly: end at once (the host then kills Lava's workers)
        os._exit(1)
    if graph is not None:
        graph.close()
    return 0


if __name__ == "__main__":
    sys.exit(serve())
