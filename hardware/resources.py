"""Layer geometry of a converted network and its mapping onto Loihi 1 / Loihi 2 neuro cores.

Mapping model (stated so reports can quote it):

* One CUBA LIF neuron uses one compartment. A layer is split over cores by contiguous ranges of its output neurons
  (C, H, W order; conv layers in row / channel blocks, :func:`split_layer`); layers never share a core.
* Synaptic memory per core = synapses of the neurons it hosts x weight bits. Convolutions are **unrolled**: Loihi 1
  stores a synapse list per core and input axon and has no weight sharing across neurons, so a conv layer costs one
  synapse per (output neuron, in-bounds input, nonzero weight). We keep the same, conservative convention for Loihi 2.
  Index/format overhead of compressed synapse encodings is not counted (dense encoding).
* Input axons per core (fan-in limit): the distinct inputs read by the core's neurons (:func:`input_axons`, a
  window bound). Output axons per core (fan-out limit) = neurons x destination cores per neuron
  (:func:`destination_cores`: every core of a next dense layer, the blocks holding its targets in a next conv layer).
* A limit whose value is None (not published) is not checked. The input layer (event source) runs off the neuro cores.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from had_snn.hardware.netx import conv_output_size, int_pair

if TYPE_CHECKING:  # pragma: no cover - typing only
    from had_snn.hardware.netx import NetxLayer
    from had_snn.hardware.table import HardwareTable

Shape3 = tuple[int, int, int]
LIMIT_KEYS = (
    "compartments_per_core",
    "synaptic_memory_bytes_per_core",
    "fan_in_axons_per_core",
    "fan_out_axons_per_core",
)
CHIP_KEYS = ("cores_per_chip", "cores_per_tile", "mesh_tiles_x", "mesh_tiles_y")


@dataclass(frozen=True)
class LayerGeometry:
    """Static shape of one synaptic layer (its connection plus the neurons it drives).

    ``fan_in`` is the largest number of synapses into one output neuron, ``fan_out`` the largest number out of one
    input neuron, ``n_synapses`` the unrolled count of nonzero synapses, ``weight_bits`` the bits per stored weight.
    """

    name: str
    kind: str
    in_shape: Shape3
    out_shape: Shape3
    kernel: tuple[int, int]
    stride: tuple[int, int]
    groups: int
    fan_in: int
    fan_out: int
    n_synapses: int
    weight_bits: int
    dilation: tuple[int, int] = (1, 1)

    @property
    def n_neurons(self) -> int:
        return int(np.prod(self.out_shape))

    @property
    def n_inputs(self) -> int:
        return int(np.prod(self.in_shape))


def weight_bits_of(weight: np.ndarray) -> int:
    """Bits needed to store the integer weights (sign bit included when any weight is negative)."""
    w = np.asarray(weight)
    if w.size == 0:
        return 1
    if not np.issubdtype(w.dtype, np.integer) and not np.array_equal(w, np.round(w)):
        raise ValueError("weights must be integers (quantised Loihi mantissas)")
    magnitude = int(np.abs(w).max())
    return max(1, magnitude.bit_length()) + (1 if int(w.min()) < 0 else 0)


def _in_bounds_taps(n_out: int, n_in: int, k: int, stride: int, pad: int, dilation: int) -> np.ndarray:
    """For each kernel tap along one axis, how many output positions read an in-bounds input."""
    pos = np.arange(n_out)[:, None] * stride - pad + np.arange(k)[None, :] * dilation
    return ((pos >= 0) & (pos < n_in)).sum(axis=0)


def conv_geometry(
    name: str,
    weight: np.ndarray,
    in_shape: Sequence[int],
    out_shape: Sequence[int] | None = None,
    stride: Any = 1,
    padding: Any = 0,
    dilation: Any = 1,
    groups: int = 1,
    weight_bits: int | None = None,
) -> LayerGeometry:
    """Geometry of a 2-D (grouped) convolution with torch-layout integer weights (C_out, C_in/groups, kH, kW)."""
    w = np.asarray(weight)
    if w.ndim != 4:
        raise ValueError(f"layer {name!r}: conv weight must be 4-D (C_out, C_in/groups, kH, kW), got shape {w.shape}")
    c_in, h_in, w_in = (int(v) for v in in_shape)
    c_out, c_in_g, kh, kw = w.shape
    groups = int(groups)
    if groups < 1 or c_in % groups or c_out % groups or c_in // groups != c_in_g:
        raise ValueError(
            f"layer {name!r}: weight {w.shape} does not fit input channels {c_in} with groups={groups}"
        )
    where = f"layer {name!r}"
    sy, sx = int_pair(stride, "stride", where)
    py, px = int_pair(padding, "padding", where)
    dy, dx = int_pair(dilation, "dilation", where)
    h_out = conv_output_size(h_in, kh, sy, py, dy)
    w_out = conv_output_size(w_in, kw, sx, px, dx)
    if out_shape is not None and tuple(int(v) for v in out_shape) != (c_out, h_out, w_out):
        raise ValueError(
            f"layer {name!r}: stored shape {tuple(out_shape)} != conv output {(c_out, h_out, w_out)} "
            f"computed from input {(c_in, h_in, w_in)}, kernel {(kh, kw)}, stride {(sy, sx)}, padding {(py, px)}"
        )
    if h_out < 1 or w_out < 1:
        raise ValueError(f"layer {name!r}: kernel {(kh, kw)} larger than padded input {(h_in, w_in)}")
    nonzero = (w != 0).sum(axis=1)  # (C_out, kH, kW): nonzero input channels per tap
    taps = np.outer(_in_bounds_taps(h_out, h_in, kh, sy, py, dy), _in_bounds_taps(w_out, w_in, kw, sx, px, dx))
    n_synapses = int((nonzero * taps[None]).sum())
    # an input is read by at most ceil(k / (s / gcd(s, d))) taps per axis (taps that land on the stride grid)
    fan_out = (c_out // groups) * math.ceil(kh / (sy // math.gcd(sy, dy))) * math.ceil(kw / (sx // math.gcd(sx, dx)))
    return LayerGeometry(
        name=name, kind="conv", in_shape=(c_in, h_in, w_in), out_shape=(c_out, h_out, w_out), kernel=(kh, kw),
        stride=(sy, sx), groups=groups, fan_in=c_in_g * kh * kw, fan_out=fan_out, n_synapses=n_synapses,
        weight_bits=int(weight_bits) if weight_bits is not None else weight_bits_of(w), dilation=(dy, dx),
    )


def dense_geometry(
    name: str, weight: np.ndarray, in_shape: Sequence[int], weight_bits: int | None = None
) -> LayerGeometry:
    """Geometry of a fully connected layer with torch-layout integer weights (N_out, N_in)."""
    w = np.asarray(weight)
    if w.ndim != 2:
        raise ValueError(f"layer {name!r}: dense weight must be 2-D (N_out, N_in), got shape {w.shape}")
    shape_in = tuple(int(v) for v in in_shape)
    if int(np.prod(shape_in)) != w.shape[1]:
        raise ValueError(f"layer {name!r}: dense weight expects {w.shape[1]} inputs, previous layer gives {shape_in}")
    return LayerGeometry(
        name=name, kind="dense", in_shape=_as_chw(shape_in), out_shape=(int(w.shape[0]), 1, 1), kernel=(1, 1),
        stride=(1, 1), groups=1, fan_in=int(w.shape[1]), fan_out=int(w.shape[0]), n_synapses=int((w != 0).sum()),
        weight_bits=int(weight_bits) if weight_bits is not None else weight_bits_of(w),
    )


def _as_chw(shape: Sequence[int]) -> Shape3:
    s = [int(v) for v in shape]
    if not 1 <= len(s) <= 3:
        raise ValueError(f"shape must have 1 to 3 entries (C, H, W), got {tuple(shape)}")
    return tuple(s + [1] * (3 - len(s)))  # type: ignore[return-value]


def layer_name(layer: NetxLayer, synaptic_index: int) -> str:
    """Name of a synaptic layer as the emulator and the Lava runner report it: its name, else ``<type><index>``
    (``synaptic_index`` counts conv/dense layers from 1). Counts files must use these names."""
    return layer.name or f"{layer.type}{synaptic_index}"


def geometries_from_layers(layers: Sequence[NetxLayer]) -> list[LayerGeometry]:
    """Geometries of the conv/dense layers of a validated netx layer list (layer 0 is the input)."""
    geoms: list[LayerGeometry] = []
    prev: Shape3 = tuple(layers[0].shape)  # type: ignore[assignment]
    for layer in layers[1:]:
        if layer.type == "conv":
            geoms.append(conv_geometry(
                layer_name(layer, len(geoms) + 1), layer.weight, prev, layer.shape, stride=layer.stride,
                padding=layer.padding, dilation=layer.dilation, groups=layer.groups,
            ))
        elif layer.type == "dense":
            geoms.append(dense_geometry(layer_name(layer, len(geoms) + 1), layer.weight, prev))
        prev = tuple(layer.shape)  # type: ignore[assignment]
    if not geoms:
        raise ValueError("network has no conv/dense layer to map")
    return geoms


def geometries_from_netx(path: str | Path) -> list[LayerGeometry]:
    """Read a netx HDF5 network (see :mod:`had_snn.hardware.netx`) and return its layer geometries."""
    from had_snn.hardware.netx import read_netx

    layers, _ = read_netx(path)
    try:
        return geometries_from_layers(layers)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from exc


@dataclass(frozen=True)
class ChipSpec:
    """Per-core limits and chip layout of one Loihi generation (values from the hardware table; None = unchecked)."""

    name: str
    compartments_per_core: int | None
    synaptic_memory_bytes_per_core: int | None
    fan_in_axons_per_core: int | None
    fan_out_axons_per_core: int | None
    cores_per_chip: int
    cores_per_tile: int
    mesh_tiles_x: int
    mesh_tiles_y: int

    @classmethod
    def from_table(cls, table: HardwareTable, chip: str) -> ChipSpec:
        values = {k: table.value(chip, "limits", k) for k in LIMIT_KEYS + CHIP_KEYS}
        for k in CHIP_KEYS:
            if values[k] is None or values[k] < 1:
                raise ValueError(f"{table.path}: {chip}.limits.{k} must be a positive number, got {values[k]}")
        return cls(name=chip, **{k: None if v is None else int(v) for k, v in values.items()})


@dataclass
class LayerMapping:
    """How one layer is split over cores: ``limiting`` names the resource that set neurons per core."""

    name: str
    cores: int
    neurons_per_core: int
    limiting: str
    first_core: int = 0
    usage: dict[str, float] = field(default_factory=dict)  # per-core fraction of each checked limit (fullest core)
    dest_cores_per_neuron: int = 1


@dataclass
class NetworkMapping:
    """The whole network on one chip generation."""

    chip: ChipSpec
    layers: list[LayerMapping]

    @property
    def total_cores(self) -> int:
        return sum(m.cores for m in self.layers)

    @property
    def chips(self) -> int:
        return math.ceil(self.total_cores / self.chip.cores_per_chip)

    @property
    def tiles(self) -> int:
        return sum(math.ceil(n / self.chip.cores_per_tile) for n in self._cores_per_chip())

    def _cores_per_chip(self) -> list[int]:
        full, rest = divmod(self.total_cores, self.chip.cores_per_chip)
        return [self.chip.cores_per_chip] * full + ([rest] if rest else [])

    def core_xy(self, core: int) -> tuple[int, int, int]:
        """(chip, tile x, tile y) of a global core index under row-major tile placement."""
        chip, local = divmod(core, self.chip.cores_per_chip)
        tile = local // self.chip.cores_per_tile
        return chip, tile % self.chip.mesh_tiles_x, tile // self.chip.mesh_tiles_x

    def layer(self, name: str) -> LayerMapping:
        for m in self.layers:
            if m.name == name:
                return m
        raise KeyError(name)


def input_axons(geom: LayerGeometry, n: int) -> int:
    """Upper bound on the distinct inputs read by the ``n`` output neurons one core holds (see :func:`split_layer`).

    Dense: every input. Conv: a core holds part of one output row, ``n // W_out`` whole rows of one channel, or whole
    channels; it reads the input window under those outputs for the input channels of the groups it touches.
    """
    if geom.kind == "dense":
        return geom.n_inputs
    c_out, h_out, w_out = geom.out_shape
    c_in, h_in, w_in = geom.in_shape
    (kh, kw), (sy, sx) = geom.kernel, geom.stride
    dy, dx = geom.dilation
    per_group_in = c_in // geom.groups
    if n < w_out:
        rows, cols = min(h_in, (kh - 1) * dy + 1), min(w_in, (n - 1) * sx + (kw - 1) * dx + 1)
    elif n < h_out * w_out:
        rows, cols = min(h_in, (n // w_out - 1) * sy + (kh - 1) * dy + 1), w_in
    else:
        channels = min(c_out, n // (h_out * w_out))
        groups_touched = min(geom.groups, -(-(channels - 1) // (c_out // geom.groups)) + 1)
        return min(geom.n_inputs, groups_touched * per_group_in * h_in * w_in)
    return min(geom.n_inputs, per_group_in * rows * cols)


def split_layer(geom: LayerGeometry, max_per_core: int) -> tuple[int, int]:
    """(cores, neurons on the fullest core) when each core holds at most ``max_per_core`` neurons.

    Dense layers are cut into equal consecutive ranges. Conv layers are cut along the output grid so a core's inputs
    stay a compact window: a core holds part of one output row (a row takes ceil(W_out / max) cores), whole rows of
    one channel, or whole channels; blocks never straddle a row or channel boundary.
    """
    n = min(max_per_core, geom.n_neurons)
    if geom.kind == "dense":
        cores = math.ceil(geom.n_neurons / n)
        return cores, math.ceil(geom.n_neurons / cores)
    c_out, h_out, w_out = geom.out_shape
    if n < w_out:
        per_row = math.ceil(w_out / n)
        return c_out * h_out * per_row, math.ceil(w_out / per_row)
    if n < h_out * w_out:
        per_channel = math.ceil(h_out / (n // w_out))
        return c_out * per_channel, math.ceil(h_out / per_channel) * w_out
    cores = math.ceil(c_out / (n // (h_out * w_out)))
    return cores, math.ceil(c_out / cores) * h_out * w_out


def destination_cores(geom: LayerGeometry, mapping: LayerMapping) -> int:
    """Most cores of layer ``geom`` (split as in ``mapping``) that one of its input neurons sends spikes to.

    Dense: every core. Conv: for each output channel of the input's group, the blocks (see :func:`split_layer`) that
    contain one of the output rows / columns reading that input.
    """
    if geom.kind == "dense":
        return mapping.cores
    c_out, h_out, w_out = geom.out_shape
    (kh, kw), (sy, sx), (dy, dx) = geom.kernel, geom.stride, geom.dilation
    rows_reached = min(h_out, math.ceil(kh / (sy // math.gcd(sy, dy))))
    cols_reached = min(w_out, math.ceil(kw / (sx // math.gcd(sx, dx))))
    per_group_out = c_out // geom.groups
    n = mapping.neurons_per_core
    if n < w_out:
        per_row = math.ceil(w_out / n)
        cores = per_group_out * rows_reached * min(per_row, -(-(cols_reached - 1) // n) + 1)
    elif n < h_out * w_out:
        rows, per_channel = n // w_out, math.ceil(h_out / (n // w_out))
        cores = per_group_out * min(per_channel, -(-(rows_reached - 1) // rows) + 1)
    else:
        cores = -(-(per_group_out - 1) // (n // (h_out * w_out))) + 1
    return max(1, min(mapping.cores, cores))


def _max_neurons_per_core(geom: LayerGeometry, chip: ChipSpec, dest_cores: int) -> dict[str, int]:
    """Most neurons of this layer one core can hold, per checked resource. Raises if even one neuron does not fit."""
    caps: dict[str, int] = {}
    if chip.compartments_per_core is not None:
        caps["compartments"] = chip.compartments_per_core
    if chip.synaptic_memory_bytes_per_core is not None:
        bits_per_neuron = geom.n_synapses / geom.n_neurons * geom.weight_bits
        worst_bits = geom.fan_in * geom.weight_bits
        if worst_bits > chip.synaptic_memory_bytes_per_core * 8:
            raise ValueError(
                f"layer {geom.name!r}: one neuron needs {worst_bits} bits of synaptic memory "
                f"({geom.fan_in} synapses x {geom.weight_bits} bits) > {chip.name} core limit "
                f"{chip.synaptic_memory_bytes_per_core * 8} bits; splitting over cores cannot fix this"
            )
        caps["synaptic_memory"] = (
            int(chip.synaptic_memory_bytes_per_core * 8 // bits_per_neuron) if bits_per_neuron > 0 else geom.n_neurons
        )
    if chip.fan_in_axons_per_core is not None and geom.n_inputs > chip.fan_in_axons_per_core:
        limit = chip.fan_in_axons_per_core
        if input_axons(geom, 1) > limit:
            raise ValueError(
                f"layer {geom.name!r}: one neuron needs {input_axons(geom, 1)} input axons (fan-in) > {chip.name} "
                f"core limit {limit}; splitting over cores cannot fix this"
            )
        lo, hi = 1, geom.n_neurons  # largest n with input_axons(n) <= limit (input_axons grows with n)
        while lo < hi:
            mid = (lo + hi + 1) // 2
            lo, hi = (mid, hi) if input_axons(geom, mid) <= limit else (lo, mid - 1)
        caps["fan_in_axons"] = lo
    if chip.fan_out_axons_per_core is not None:
        if dest_cores > chip.fan_out_axons_per_core:
            raise ValueError(
                f"layer {geom.name!r}: one neuron must reach {dest_cores} cores > {chip.name} core limit "
                f"{chip.fan_out_axons_per_core} output axons; splitting over cores cannot fix this"
            )
        caps["fan_out_axons"] = chip.fan_out_axons_per_core // dest_cores
    caps["layer_size"] = geom.n_neurons
    return caps


def map_network(geoms: Sequence[LayerGeometry], chip: ChipSpec) -> NetworkMapping:
    """Split each layer over the fewest cores that respect every checked per-core limit.

    Layers are mapped last to first because a layer's fan-out depends on how many cores its successor uses.
    """
    if not geoms:
        raise ValueError("no layers to map")
    mapped: list[LayerMapping] = []
    for i in range(len(geoms) - 1, -1, -1):
        geom = geoms[i]
        # this layer's spikes feed the next layer's synapses, on the cores that hold their targets
        dest = 1 if i == len(geoms) - 1 else destination_cores(geoms[i + 1], mapped[-1])
        caps = _max_neurons_per_core(geom, chip, dest)
        limiting = min(caps, key=lambda k: caps[k])
        cores, n = split_layer(geom, caps[limiting])
        usage: dict[str, float] = {}
        if chip.compartments_per_core is not None:
            usage["compartments"] = n / chip.compartments_per_core
        if chip.synaptic_memory_bytes_per_core is not None:
            usage["synaptic_memory"] = n * geom.n_synapses / geom.n_neurons * geom.weight_bits / (
                chip.synaptic_memory_bytes_per_core * 8
            )
        if chip.fan_in_axons_per_core is not None:
            usage["fan_in_axons"] = input_axons(geom, n) / chip.fan_in_axons_per_core
        if chip.fan_out_axons_per_core is not None:
            usage["fan_out_axons"] = n * dest / chip.fan_out_axons_per_core
        mapped.append(LayerMapping(geom.name, cores, n, limiting, usage=usage, dest_cores_per_neuron=dest))
    mapped.reverse()
    first = 0
    for m in mapped:
        m.first_core = first
        first += m.cores
    return NetworkMapping(chip=chip, layers=mapped)
