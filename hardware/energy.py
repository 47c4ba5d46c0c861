"""Energy per frame from counted operations: Loihi 1 per-operation figures and the 45 nm MAC/AC model, and the ANN
teacher on the 45 nm model compute-only (MACs) and with memory access (:func:`ann_memory_energy_pj`: weights and
activations read and written, per-access SRAM/DRAM energies of the same source). Loihi 2 has no published
per-operation energies: the table marks them null and nothing is billed for it (:func:`loihi2_energy_published`).

All figures come from a YAML hardware table (default: ``energy_table.yaml`` next to this module); every figure read
is remembered so reports can cite exactly the figures they used.

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
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources as importlib_resources
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from had_snn.hardware.resources import LayerGeometry, NetworkMapping

DEFAULT_TABLE = "energy_table.yaml"


@dataclass(frozen=True)
class Figure:
    """One cited number of the hardware table."""

    key: str
    value: float | None
    unit: str
    source: str
    citation: str
    uncertain: bool = False
    note: str = ""


class HardwareTable:
    """A loaded hardware table; :meth:`value` reads a figure and records it as used."""

    def __init__(self, data: dict[str, Any], path: str) -> None:
        if not isinstance(data, dict) or not isinstance(data.get("sources"), dict):
            raise ValueError(f"{path}: hardware table must be a mapping with a 'sources' mapping of citations")
        self.data = data
        self.path = path
        self.used: dict[str, Figure] = {}

    def figure(self, *keys: str) -> Figure:
        node: Any = self.data
        for i, k in enumerate(keys):
            if not isinstance(node, dict) or k not in node:
                raise ValueError(f"{self.path}: missing figure {'.'.join(keys[: i + 1])}")
            node = node[k]
        key = ".".join(keys)
        if not isinstance(node, dict) or "value" not in node or "source" not in node:
            raise ValueError(f"{self.path}: figure {key} must be a mapping with 'value' and 'source'")
        value = node["value"]
        if value is not None and (not isinstance(value, (int, float)) or value < 0):
            raise ValueError(f"{self.path}: figure {key} value must be a non-negative number or null, got {value!r}")
        source = str(node["source"])
        if source not in self.data["sources"]:
            raise ValueError(f"{self.path}: figure {key} cites unknown source {source!r}")
        fig = Figure(
            key=key, value=None if value is None else float(value), unit=str(node.get("unit", "")), source=source,
            citation=" ".join(str(self.data["sources"][source]).split()), uncertain=bool(node.get("uncertain", False)),
            note=" ".join(str(node.get("note", "")).split()),
        )
        self.used[key] = fig
        return fig

    def value(self, *keys: str) -> float | None:
        """The value of a figure (None when the table marks it unpublished)."""
        return self.figure(*keys).value

    def required(self, *keys: str) -> float:
        v = self.value(*keys)
        if v is None:
            raise ValueError(f"{self.path}: figure {'.'.join(keys)} is null but the model needs a number")
        return v


def load_table(path: str | Path | None = None) -> HardwareTable:
    """Load a hardware table from ``path`` or the packaged default."""
    if path is None:
        text = importlib_resources.files("had_snn.hardware").joinpath(DEFAULT_TABLE).read_text()
        where = f"had_snn.hardware/{DEFAULT_TABLE}"
    else:
        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"hardware table not found: {p}")
        text, where = p.read_text(), str(p)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValueError(f"{where}: not valid YAML ({exc})") from exc
    return HardwareTable(data, where)


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
    if not isinstance(frames, (int, float)) or frames <= 0:
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
            if not isinstance(v, (int, float)) or v < 0:
                raise ValueError(f"{where}: layer {g.name!r} field {k!r} must be a non-negative number, got {v!r}")
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


def load_counts(path: str | Path, geoms: Sequence[LayerGeometry]) -> FrameCounts:
    """Read and validate a counts JSON file."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"counts file not found: {p}")
    try:
        data = json.loads(p.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{p}: not valid JSON ({exc})") from exc
    return parse_counts(data, geoms, str(p))


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
        if isinstance(macs, bool) or not isinstance(macs, (int, float)) or macs < 0 or macs != int(macs):
            raise ValueError(f"{where}: MACs of {name!r} must be a non-negative integer, got {macs!r}")
        out.append((str(name), int(macs)))
    if not out:
        raise ValueError(f"{where}: no layers")
    return out


def load_teacher_macs(path: str | Path) -> list[tuple[str, int]]:
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"teacher MACs file not found: {p}")
    try:
        return parse_teacher_macs(json.loads(p.read_text()), str(p))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{p}: not valid JSON ({exc})") from exc


def _mean_hops(mapping: NetworkMapping, src_first: int, src_n: int, dst_first: int, dst_n: int) -> tuple[float, float]:
    """Mean east-west and north-south tile hops between every source and destination core (same-chip mesh)."""
    src = np.array([mapping.core_xy(c) for c in range(src_first, src_first + src_n)])
    dst = np.array([mapping.core_xy(c) for c in range(dst_first, dst_first + dst_n)])
    dx = np.abs(src[:, None, 1] - dst[None, :, 1]).mean()
    dy = np.abs(src[:, None, 2] - dst[None, :, 2]).mean()
    return float(dx), float(dy)


def loihi1_energy(
    geoms: Sequence[LayerGeometry], counts: FrameCounts, mapping: NetworkMapping, table: HardwareTable
) -> list[dict[str, float]]:
    """Per-layer Loihi 1 energy (pJ per frame) split into synaptic ops, neuron updates and spike routing.

    Each output spike is sent as one packet to each destination core (``dest_cores_per_neuron`` of the mapping);
    a packet costs the within-tile energy plus the mean E-W and N-S hops between the two layers' cores. Spikes of the
    last layer go to one core (the output port). Input-event injection and static power are not modelled.
    """
    e_syn = table.required("loihi1", "energy", "synaptic_op_pj")
    e_act = table.required("loihi1", "energy", "neuron_update_active_pj")
    e_inact = table.required("loihi1", "energy", "neuron_update_inactive_pj")
    e_tile = table.required("loihi1", "energy", "spike_within_tile_pj")
    e_ew = table.required("loihi1", "energy", "hop_east_west_pj")
    e_ns = table.required("loihi1", "energy", "hop_north_south_pj")
    rows = []
    for i, (g, c) in enumerate(zip(geoms, counts.layers, strict=True)):
        m = mapping.layer(g.name)
        active = c.neuron_updates if c.active_neuron_updates is None else c.active_neuron_updates
        if i + 1 < len(geoms):
            nxt = mapping.layer(geoms[i + 1].name)
            hx, hy = _mean_hops(mapping, m.first_core, m.cores, nxt.first_core, nxt.cores)
        else:
            hx = hy = 0.0
        packets = c.out_spikes * m.dest_cores_per_neuron
        row = {
            "synaptic_pj": c.synops * e_syn,
            "neuron_pj": active * e_act + (c.neuron_updates - active) * e_inact,
            "routing_pj": packets * (e_tile + hx * e_ew + hy * e_ns),
        }
        row["total_pj"] = row["synaptic_pj"] + row["neuron_pj"] + row["routing_pj"]
        rows.append(row)
    return rows


def snn_45nm_energy_pj(counts: FrameCounts, table: HardwareTable) -> list[float]:
    """45 nm estimate of the SNN per layer: one accumulate (AC) per synaptic op, pJ per frame."""
    e_ac = table.required("cmos45nm", "ac_pj")
    return [c.synops * e_ac for c in counts.layers]


def ann_45nm_energy_pj(macs: Sequence[tuple[str, int]], table: HardwareTable) -> list[float]:
    """45 nm estimate of the ANN per layer: one 32-bit float MAC per multiply-accumulate, pJ per frame."""
    e_mac = table.required("cmos45nm", "mac_pj")
    return [m * e_mac for _, m in macs]


# --- the ANN teacher with memory access (45 nm, Horowitz 2014) -------------------------------------------------------

#: bits of every teacher value (weights and activations): 32-bit float, as the 45 nm MAC figure (fp32 mult + add)
ANN_VALUE_BITS = 32
#: bits moved per memory access in the 45 nm memory figures (Horowitz quotes energy per 64-bit access)
ACCESS_BITS = 64
#: on-chip SRAM size classes of the table (``cmos45nm.memory.<key>``) with their capacity in bytes, smallest first;
#: a tensor larger than the last one lives in DRAM (``cmos45nm.memory.dram_64bit_pj``)
SRAM_LEVELS = (("sram_8kb_64bit_pj", 8 * 1024), ("sram_32kb_64bit_pj", 32 * 1024),
               ("sram_1mb_64bit_pj", 1024 * 1024))
DRAM_LEVEL = "dram_64bit_pj"
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
            if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0 or v != int(v):
                raise ValueError(f"{where}: layer {e['name']!r} field {k!r} must be a non-negative integer, got {v!r}")
            vals[k] = int(v)
        out.append(LayerTraffic(name=str(e["name"]), **vals))
    return out


def load_teacher_traffic(path: str | Path) -> list[LayerTraffic]:
    """Read and validate a teacher-traffic JSON file (:func:`parse_teacher_traffic`)."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"teacher traffic file not found: {p}")
    try:
        return parse_teacher_traffic(json.loads(p.read_text()), str(p))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{p}: not valid JSON ({exc})") from exc


def memory_level(n_bytes: int) -> str:
    """The table key of the smallest memory holding a tensor of ``n_bytes``: an SRAM size class, else DRAM."""
    for key, capacity in SRAM_LEVELS:
        if n_bytes <= capacity:
            return key
    return DRAM_LEVEL


def _access_pj(n_values: int, table: HardwareTable) -> tuple[str, int, float]:
    """(memory level, 64-bit accesses, pJ) to read or write one tensor of ``n_values`` values once."""
    n_bytes = n_values * ANN_VALUE_BITS // 8
    level = memory_level(n_bytes)
    accesses = -(-n_bytes * 8 // ACCESS_BITS)  # whole 64-bit accesses
    return level, accesses, accesses * table.required("cmos45nm", "memory", level)


def ann_memory_energy_pj(traffic: Sequence[LayerTraffic], table: HardwareTable) -> list[dict[str, Any]]:
    """Per-layer 45 nm energy of the ANN with memory access, pJ per frame.

    Model (stated in the report): values are 32-bit floats moved in 64-bit accesses; each layer reads its weights once
    per frame, reads its input activations once and writes its output activations once (a tensor read by two layers
    is billed to each: once per consuming layer); BN, ReLU and pooling are fused into the write (no extra traffic).
    Each tensor sits in the smallest memory of the table that holds it (SRAM 8 KB / 32 KB / 1 MB, else DRAM), and a
    write costs what a read does. Rows: ``mac_pj`` (MACs x MAC energy, the compute-only figure), ``weight_pj``,
    ``act_read_pj``, ``act_write_pj`` with their accesses and levels, ``memory_pj`` and ``total_pj``."""
    e_mac = table.required("cmos45nm", "mac_pj")
    rows = []
    for t in traffic:
        row: dict[str, Any] = {"name": t.name, "macs": t.macs, "mac_pj": t.macs * e_mac}
        for part, values in (("weight", t.weights), ("act_read", t.in_acts), ("act_write", t.out_acts)):
            level, accesses, pj = _access_pj(values, table)
            row.update({f"{part}_values": values, f"{part}_level": level, f"{part}_accesses": accesses,
                        f"{part}_pj": pj})
        row["memory_pj"] = row["weight_pj"] + row["act_read_pj"] + row["act_write_pj"]
        row["total_pj"] = row["mac_pj"] + row["memory_pj"]
        rows.append(row)
    return rows


def loihi2_energy_published(table: HardwareTable) -> bool:
    """Whether the table gives Loihi 2 per-operation energies (``loihi2.energy.*`` all non-null). The packaged table
    marks them null: Intel has published no per-operation energies for Loihi 2, so nothing is billed for it."""
    values = [table.value("loihi2", "energy", k) for k in ("synaptic_op_pj", "neuron_update_pj")]  # both cited
    return all(v is not None for v in values)
