"""Counted operations the energy models bill, read and validated: the SNN's per-frame operation counts (from the
emulator or a counts file), the teacher's MACs and its memory traffic.

Counts file (JSON) accepted by :func:`load_counts`, one entry per synaptic layer, **per frame summed over steps**::

    {"steps": 14,               # time steps billed per frame, every one counted (required)
     "input_steps": 8,          # optional: how many of them carry the spike window; the rest (here 6) are the
                                # pipeline fill (zero input, one step per synaptic layer) that lets the read-out
                                # see the last input step. `had-snn deploy` and the tracker run and count
                                # input_steps + fill steps (had_snn.hardware.netx.frame_steps) and write both.
     "mode": "reset",           # optional, default "reset": how the chip ran the frames (below)
     "frames": 4,               # optional, default 1: the layer numbers are totals over this many frames
     "layers": [{"name": "1_conv", "in_spikes": 1200, "synops": 52000, "neuron_updates": 65536,
                 "out_spikes": 900, "active_neuron_updates": 30000}, ...]}

Modes (the timing contract of :mod:`had_snn.conversion.emulator`; L = synaptic layers, T = input steps per frame):

* ``reset``: every frame starts from the zero state and runs T + L steps (its T input steps, then L zero "flush"
  steps so the read-out sees the last input step); all T + L are billed: ``steps = input_steps + L``.
* ``stream``: the chip runs continuously, frame k occupies steps [kT, kT + T) with no reset and no flush (its
  read-out drains during the next frame's steps); a frame bills its T committed steps: ``steps = input_steps = T``.
  The numbers are per-frame averages over a continuous run (:func:`stream_frame_counts`).

``active_neuron_updates`` (updates of neurons that received input that step) is optional; without it every update is
billed as active (an upper bound), and the report says so. Layer names must match the network's layer names.

Teacher MACs file (JSON) accepted by :func:`load_teacher_macs`: ``[["conv1", 118013952], ...]``,
``[{"name": "conv1", "macs": 118013952}, ...]`` or ``{"conv1": 118013952, ...}`` (MACs per frame).

Teacher traffic file (JSON) accepted by :func:`load_teacher_traffic` (``had-snn energy --teacher`` writes it as
``teacher_traffic.json``), values per frame::

    [{"name": "stage1.0.0", "macs": 2359296, "weights": 2304, "in_acts": 65536, "out_acts": 16384}, ...]
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from had_snn.hardware.resources import LayerGeometry


@dataclass(frozen=True)
class LayerCounts:
    """Operations of one layer for one frame, summed over its time steps."""

    name: str
    in_spikes: float
    synops: float
    neuron_updates: float
    out_spikes: float
    active_neuron_updates: float | None = None


@dataclass(frozen=True)
class FrameCounts:
    """Counted operations per frame; ``steps`` counted steps, of which ``input_steps`` carried input (None: the
    counts file does not say) and the rest were pipeline fill."""

    steps: int
    layers: list[LayerCounts]
    input_steps: int | None = None

    @property
    def fill_steps(self) -> int | None:
        """Counted steps without input (the pipeline fill), when the counts file says how many had input."""
        return None if self.input_steps is None else self.steps - self.input_steps

    @property
    def active_known(self) -> bool:
        return all(c.active_neuron_updates is not None for c in self.layers)


    mode: str = "reset"

    @property
    def billed_steps(self) -> int:
        """Chip steps billed per frame: T + L in reset mode, T in streaming mode (the ``steps`` of the counts)."""
        return self.steps


#: how a counts file's frames were run: ``reset`` (T + L steps from the zero state) or ``stream`` (T steps, no reset)
MODES = ("reset", "stream")
#: the mode the chip runs a tracker in: continuously, since it has no free reset of every neuron between frames
CHIP_MODE = "stream"

_COUNT_FIELDS = ("in_spikes", "synops", "neuron_updates", "out_spikes")


def parse_counts(data: Any, geoms: Sequence[LayerGeometry], where: str = "counts") -> FrameCounts:
    """Validate a counts mapping (format in the module docstring) against the network's layers."""
    if not isinstance(data, dict) or "layers" not in data or "steps" not in data:
        raise ValueError(f"{where}: expected an object with 'steps' and 'layers'")
    steps, frames, input_steps = data["steps"], data.get("frames", 1), data.get("input_steps")
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
        raise ValueError(f"{where}: 'steps' must be a positive integer, got {steps!r}")
    if input_steps is not None and (not isinstance(input_steps, int) or isinstance(input_steps, bool)
                                    or not 1 <= input_steps <= steps):
        raise ValueError(f"{where}: 'input_steps' must be an integer in [1, steps={steps}], got {input_steps!r}")
    if not isinstance(data["layers"], list):
        raise ValueError(f"{where}: 'layers' must be a list of per-layer objects, got {type(data['layers']).__name__}")
    if isinstance(frames, bool) or not isinstance(frames, (int, float)) or not math.isfinite(frames) or frames <= 0:
        raise ValueError(f"{where}: 'frames' must be a positive number, got {frames!r}")
    mode = data.get("mode", "reset")
    if mode not in MODES:
        raise ValueError(f"{where}: 'mode' must be one of {list(MODES)}, got {mode!r}")
    if mode == "stream":
        if input_steps is None:
            input_steps = steps
        elif input_steps != steps:
            raise ValueError(f"{where}: a 'stream' counts file bills only the input steps of each frame (no flush), "
                             f"so 'steps' ({steps}) must equal 'input_steps' ({input_steps})")
    by_name: dict[str, dict[str, Any]] = {}
    for i, entry in enumerate(data["layers"]):
        if not isinstance(entry, dict) or "name" not in entry:
            raise ValueError(f"{where}: layers[{i}] must be an object with a 'name'")
        by_name[str(entry["name"])] = entry
    names = [g.name for g in geoms]
    missing, extra = [n for n in names if n not in by_name], [n for n in by_name if n not in names]
    if missing or extra:
        raise ValueError(f"{where}: layer names do not match the network (missing {missing}, unknown {extra}); "
                         f"network layers are {names}")
    layers = []
    for g in geoms:
        e = by_name[g.name]
        vals: dict[str, float | None] = {}
        for k in (*_COUNT_FIELDS, "active_neuron_updates"):
            if k not in e:
                if k == "active_neuron_updates":
                    vals[k] = None
                    continue
                raise ValueError(f"{where}: layer {g.name!r} has no field {k!r}")
            v = e[k]
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                raise ValueError(f"{where}: layer {g.name!r} field {k!r} must be a finite non-negative number, "
                                 f"got {v!r}")
            vals[k] = float(v) / frames
        c = LayerCounts(name=g.name, **vals)  # type: ignore[arg-type]
        _check_consistent(c, g, steps, where)
        layers.append(c)
    return FrameCounts(steps=steps, layers=layers, input_steps=input_steps, mode=mode)


def _check_consistent(c: LayerCounts, g: LayerGeometry, steps: int, where: str) -> None:
    tol = 1e-6
    if c.synops > c.in_spikes * g.fan_out * (1 + tol):
        raise ValueError(f"{where}: layer {g.name!r} synops {c.synops:g} > in_spikes x fan_out "
                         f"({c.in_spikes:g} x {g.fan_out}); counts do not belong to this network")
    if c.out_spikes > g.n_neurons * steps * (1 + tol):
        raise ValueError(f"{where}: layer {g.name!r} out_spikes {c.out_spikes:g} > neurons x steps "
                         f"({g.n_neurons} x {steps})")
    if c.neuron_updates > g.n_neurons * steps * (1 + tol):
        raise ValueError(f"{where}: layer {g.name!r} neuron_updates {c.neuron_updates:g} > neurons x steps "
                         f"({g.n_neurons} x {steps}); counts do not belong to this network")
    if c.active_neuron_updates is not None and c.active_neuron_updates > c.neuron_updates * (1 + tol):
        raise ValueError(f"{where}: layer {g.name!r} active_neuron_updates > neuron_updates")


#: counter names of the emulator / Lava runner (arrays shaped (layers, steps, batch)) -> counts-file field names
EMULATOR_COUNT_FIELDS = {
    "input_spikes": "in_spikes", "synaptic_ops": "synops", "neuron_updates": "neuron_updates",
    "output_spikes": "out_spikes",
}


def counts_from_emulator(layer_names: Sequence[str], counts: dict[str, Any], input_steps: int | None = None,
                         mode: str | None = None) -> dict[str, Any]:
    """Build the counts-file object from emulator counters (numpy arrays (L, S, B), one batch item per frame).

    ``S`` counted steps per frame; ``input_steps`` (optional) says how many of them carried the spike window (the
    rest being the pipeline fill, see :func:`had_snn.hardware.netx.frame_steps`) and is written to the file.
    ``mode`` (``reset`` or ``stream``, module docstring) is written too; a ``stream`` file bills S = input steps.
    ``mode=None`` infers it: ``stream`` when every counted step carried input (``input_steps == S``: no flush, which a
    reset frame always has), else ``reset``."""
    n_counted = np.asarray(counts["input_spikes"]).shape[1] if "input_spikes" in counts else None
    if mode is None:
        mode = "stream" if input_steps is not None and input_steps == n_counted else "reset"
    if mode not in MODES:
        raise ValueError(f"mode must be one of {list(MODES)}, got {mode!r}")
    arrays = {}
    for src in EMULATOR_COUNT_FIELDS:
        if src not in counts:
            raise ValueError(f"emulator counts lack {src!r}; expected keys {sorted(EMULATOR_COUNT_FIELDS)}")
        arr = np.asarray(counts[src])
        if arr.ndim != 3 or arr.shape[0] != len(layer_names):
            raise ValueError(
                f"emulator counts {src!r} must be (layers={len(layer_names)}, steps, batch), got {arr.shape}"
            )
        arrays[src] = arr
    n_steps, batch = arrays["input_spikes"].shape[1:]
    layers = [
        {"name": name, **{dst: int(arrays[src][i].sum()) for src, dst in EMULATOR_COUNT_FIELDS.items()}}
        for i, name in enumerate(layer_names)
    ]
    out: dict[str, Any] = {"steps": int(n_steps)}
    if mode == "stream":
        input_steps = n_steps if input_steps is None else input_steps
        if input_steps != n_steps:
            raise ValueError(f"stream counts bill only each frame's input steps: got {n_steps} counted steps for "
                             f"input_steps={input_steps}")
    if input_steps is not None:
        if not 1 <= input_steps <= n_steps:
            raise ValueError(f"input_steps must be in [1, {n_steps}] (the counted steps), got {input_steps}")
        out["input_steps"] = int(input_steps)
    return {**out, "mode": mode, "frames": int(batch), "layers": layers}


def stream_frame_counts(counts: dict[str, Any], input_steps: int) -> dict[str, np.ndarray]:
    """Per-frame counters of continuous (streaming) runs: ``(L, F * T, B)`` over F frames of T = ``input_steps``
    steps each -> ``(L, T, B * F)`` (item ``b * F + k`` is stream b's frame k), one batch item per frame. Frame k
    bills the steps [kT, kT + T) it committed, so the per-frame totals add up to the whole run's."""
    out = {}
    for name, value in counts.items():
        arr = np.asarray(value)
        if arr.ndim != 3 or arr.shape[1] % input_steps:
            raise ValueError(f"stream counts {name!r} must be (layers, frames x {input_steps} steps, streams), "
                             f"got {arr.shape}")
        n_layers, n_steps, batch = arr.shape
        frames = n_steps // input_steps
        out[name] = arr.reshape(n_layers, frames, input_steps, batch).transpose(0, 2, 3, 1).reshape(
            n_layers, input_steps, batch * frames)
    return out


def count_modes(emulator: Any, frames: Any, modes: Sequence[str] = MODES) -> dict[str, dict[str, Any]]:
    """Counts-file objects per mode for ``frames`` (F, T, B, C, H, W) 0/1 spikes: B streams of F consecutive frames,
    billed as :meth:`~had_snn.conversion.emulator.LoihiEmulator.run_aligned` runs them.

    ``reset``: each frame runs T + L steps from the zero state (its input then L zero steps), all billed.
    ``stream``: each stream runs its frames one after another from the zero state without reset or flush, and frame
    k bills the T steps [kT, kT + T) it commits. ``emulator`` is a :class:`~had_snn.conversion.emulator.LoihiEmulator`.
    """
    import torch

    x = torch.as_tensor(np.asarray(frames) if isinstance(frames, np.ndarray) else frames)
    if x.dim() != 6:
        raise ValueError(f"frames must be (frames, steps, streams, C, H, W), got {tuple(x.shape)}")
    n_frames, n_steps, batch = x.shape[:3]
    out = {}
    for mode in modes:
        if mode == "reset":
            windows = x.permute(1, 0, 2, 3, 4, 5).reshape(n_steps, n_frames * batch, *x.shape[3:])
            arrays = {k: v.cpu().numpy() for k, v in emulator.run_aligned(windows).counts.items()}
        elif mode == "stream":
            state, per_frame = emulator.zero_state(batch), []
            for k in range(n_frames):
                res = emulator.run_aligned(x[k], stream=state)
                state = res.state
                per_frame.append({name: v.cpu().numpy() for name, v in res.counts.items()})
            arrays = {name: np.concatenate([c[name] for c in per_frame], axis=2) for name in per_frame[0]}
        else:
            raise ValueError(f"mode must be one of {list(MODES)}, got {mode!r}")
        out[mode] = counts_from_emulator(emulator.layer_names, arrays, input_steps=n_steps, mode=mode)
    return out


def _read_json(path: str | Path, what: str) -> tuple[Any, str]:
    """The parsed JSON of ``path`` and its name; a missing file or invalid JSON is an error naming the file."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{what} file not found: {p}")
    try:
        return json.loads(p.read_text()), str(p)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{p}: not valid JSON ({exc})") from exc


def load_counts(path: str | Path, geoms: Sequence[LayerGeometry]) -> FrameCounts:
    """Read and validate a counts JSON file (:func:`parse_counts`)."""
    data, where = _read_json(path, "counts")
    return parse_counts(data, geoms, where)


def parse_teacher_macs(data: Any, where: str = "teacher MACs") -> list[tuple[str, int]]:
    """Normalise the accepted MAC formats to ``[(layer name, MACs per frame), ...]``."""
    if isinstance(data, dict):
        items = list(data.items())
    elif isinstance(data, list):
        items = []
        for i, e in enumerate(data):
            if isinstance(e, dict) and "name" in e and "macs" in e:
                items.append((e["name"], e["macs"]))
            elif isinstance(e, (list, tuple)) and len(e) == 2:
                items.append((e[0], e[1]))
            else:
                raise ValueError(f"{where}: entry {i} must be [name, macs] or {{'name', 'macs'}}, got {e!r}")
    else:
        raise ValueError(f"{where}: expected a list of [name, macs] or a name -> macs object")
    out = []
    for name, macs in items:
        if (isinstance(macs, bool) or not isinstance(macs, (int, float)) or not math.isfinite(macs) or macs < 0
                or macs != int(macs)):
            raise ValueError(f"{where}: MACs of {name!r} must be a non-negative integer, got {macs!r}")
        out.append((str(name), int(macs)))
    if not out:
        raise ValueError(f"{where}: no layers")
    return out


def load_teacher_macs(path: str | Path) -> list[tuple[str, int]]:
    """Read and validate a teacher-MACs JSON file (:func:`parse_teacher_macs`)."""
    return parse_teacher_macs(*_read_json(path, "teacher MACs"))


# An ANN compared with the student must do at least this fraction of the student's synapses as MACs per frame
# (one dense step of the student); below it the file is not the MAC count of a network doing the student's task.
MIN_TEACHER_MACS_PER_STUDENT_SYNAPSE = 0.01


def check_teacher_scale(macs: Sequence[tuple[str, int]], student_synapses: int, where: str) -> None:
    """Refuse a teacher whose MACs per frame are below :data:`MIN_TEACHER_MACS_PER_STUDENT_SYNAPSE` x the
    student's synapses (e.g. ``{"x": 1}``, which would make a 1e7x headline); ValueError names ``where``."""
    total = sum(m for _, m in macs)
    floor = MIN_TEACHER_MACS_PER_STUDENT_SYNAPSE * student_synapses
    if total < floor:
        raise ValueError(f"{where}: the teacher does {total:,} MACs per frame in all, fewer than "
                         f"{MIN_TEACHER_MACS_PER_STUDENT_SYNAPSE:.0%} of the student's {student_synapses:,} synapses "
                         f"({floor:,.0f}); the ratio against it would be meaningless. Expected the MACs of one "
                         f"frame of the teacher, per layer (`had-snn energy --teacher CKPT` counts them)")


_TRAFFIC_FIELDS = ("macs", "weights", "in_acts", "out_acts")


@dataclass(frozen=True)
class LayerTraffic:
    """What one ANN layer call does per frame: ``macs`` multiply-accumulates, ``weights`` parameters read (weights
    + bias, values), ``in_acts`` activation values read (its input tensor), ``out_acts`` activation values written
    (its output tensor). Counted by :func:`had_snn.conversion.macs.count_traffic` in the same hook pass as the MACs."""

    name: str
    macs: int
    weights: int
    in_acts: int
    out_acts: int


def parse_teacher_traffic(data: Any, where: str = "teacher traffic") -> list[LayerTraffic]:
    """Validate a teacher-traffic JSON object: ``[{"name", "macs", "weights", "in_acts", "out_acts"}, ...]`` (values
    per frame; what ``had-snn energy --teacher`` writes to ``teacher_traffic.json``)."""
    if not isinstance(data, list) or not data:
        raise ValueError(f"{where}: expected a non-empty list of {{'name', {', '.join(map(repr, _TRAFFIC_FIELDS))}}} "
                         "objects (as `had-snn energy --teacher` writes teacher_traffic.json; a MACs-only file goes "
                         "to --teacher-macs)")
    out = []
    for i, e in enumerate(data):
        if not isinstance(e, dict) or "name" not in e:
            raise ValueError(f"{where}: entry {i} must be an object with 'name' and {list(_TRAFFIC_FIELDS)}")
        vals = {}
        for k in _TRAFFIC_FIELDS:
            v = e.get(k)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0 or v != int(v):
                raise ValueError(f"{where}: layer {e['name']!r} field {k!r} must be a non-negative integer, got {v!r}")
            vals[k] = int(v)
        out.append(LayerTraffic(name=str(e["name"]), **vals))
    return out


def load_teacher_traffic(path: str | Path) -> list[LayerTraffic]:
    """Read and validate a teacher-traffic JSON file (:func:`parse_teacher_traffic`)."""
    return parse_teacher_traffic(*_read_json(path, "teacher traffic"))
