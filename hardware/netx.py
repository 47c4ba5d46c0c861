"""Read and write the netx-compatible HDF5 description of a fixed-point spiking network (numpy + h5py only).

Schema (lava-dl ``netx`` hdf5, see docs/loihi.md): group ``layer`` with sub-groups ``'0'..'n-1'``; each has ``type``
(``input`` | ``conv`` | ``flatten`` | ``dense``), ``shape`` (C, H, W of the layer's output), and for synaptic layers
``weight`` (torch layout: conv ``(C_out, C_in/groups, kH, kW)``, dense ``(N_out, N_in)`` with inputs flattened in
C, H, W order), ``bias`` (mantissa per output channel for conv, per neuron for dense; scaled by ``bias_exp = 6``),
``stride`` / ``padding`` / ``dilation`` (H, W), ``groups`` and ``neuron/{type, iDecay, vDecay, vThMant, refDelay,
gradedSpike}``; the ``input`` layer has only ``type`` and ``shape`` (files written before may hold a relay
``neuron`` there: still read and range-checked, never used). Our own optional key ``weightExp`` (Dense only; Lava's
Conv ignores it) defaults to 0; ``name`` is an attribute.
Sum pooling is a ``conv`` with ``groups = C`` and a kernel of ones. ``weight`` and ``bias`` are written with
HDF5's fletcher32 checksum, which h5py (and so Lava's and lava-dl's readers) verifies on read: a corrupted file is
refused naming the layer and dataset. Every dataset's declared size is checked against ``MAX_DATASET_ELEMENTS``
before it is read.

CUBA maps to Lava's LIF as ``du = iDecay - 1``, ``dv = vDecay``, ``vth = vThMant``, ``bias_exp = 6``; the field ranges
and constants come from :mod:`had_snn.hardware.cuba` (import them from there).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from had_snn.hardware.cuba import BIAS_MANT_RANGE, I_DECAY_RANGE, V_DECAY_RANGE, VTH_MANT_RANGE, WEIGHT_RANGE
from had_snn.util.atomic import atomic_path

__all__ = [
    "LAYER_TYPES", "LEGACY_READOUT_VTH_MANT", "CubaNeuron", "NetxLayer", "conv_output_size", "frame_steps", "int_pair",
    "pipeline_fill_steps", "read_netx", "relay_neuron", "sum_pool_layer", "validate_layers", "write_netx",
]

LAYER_TYPES = ("input", "conv", "flatten", "dense")
#: Read-out threshold mantissa written before the Loihi-faithful change: ``2**17``, one bit wider than the 17-bit
#: hardware field (simulator-only: Lava stores it as int32). Files holding it still read and run (the read-out then
#: never fires); :func:`write_netx` writes only values inside the field.
LEGACY_READOUT_VTH_MANT = 1 << 17
#: Most values one dataset of a layer may declare (2^26: a Loihi 1 chip's 128 cores hold about 2^27 bits of synapses).
MAX_DATASET_ELEMENTS = 1 << 26


@dataclass
class CubaNeuron:
    """netx ``CUBA`` neuron parameters (integers, Loihi units)."""

    i_decay: int
    v_decay: int
    vth_mant: int
    ref_delay: int = 1
    graded_spike: bool = False

    @property
    def du(self) -> int:
        """Lava LIF ``du`` (current decay)."""
        return self.i_decay - 1

    @property
    def dv(self) -> int:
        """Lava LIF ``dv`` (voltage decay)."""
        return self.v_decay


@dataclass
class NetxLayer:
    """One layer of the fixed-point network; ``shape`` is the layer's output (C, H, W)."""

    type: str
    shape: tuple[int, int, int]
    weight: np.ndarray | None = None
    bias: np.ndarray | None = None
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    dilation: tuple[int, int] = (1, 1)
    groups: int = 1
    weight_exp: int = 0
    neuron: CubaNeuron | None = None
    name: str = ""

    @property
    def has_synapse(self) -> bool:
        return self.type in ("conv", "dense")

    @property
    def num_neurons(self) -> int:
        return int(np.prod(self.shape))


def int_pair(value: Any, what: str, where: str) -> tuple[int, int]:
    """A per-axis (H, W) conv parameter (``stride``, ``padding``, ``dilation``) as two ints.

    ``value``: an int or a 1- or 2-element sequence/array (torch modules and netx files both store pairs). Raises
    ValueError prefixed with ``where`` for strings (torch's ``padding='same'``) and for any other length.
    """
    if isinstance(value, str):
        raise ValueError(f"{where}: {what}={value!r} unsupported, use explicit integers")
    arr = np.atleast_1d(np.asarray(value)).astype(np.int64).ravel()
    if arr.size == 1:
        return int(arr[0]), int(arr[0])
    if arr.size == 2:
        return int(arr[0]), int(arr[1])
    raise ValueError(f"{where}: {what} must be an int or a pair, got {value!r}")


def conv_output_size(size_px: int, kernel: int, stride: int, padding: int, dilation: int) -> int:
    """Output length of a zero-padded convolution along one axis (torch's, Lava's and netx's formula)."""
    return (size_px + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def _check_range(where: str, what: str, value: np.ndarray | int, lo: int, hi: int) -> None:
    arr = np.asarray(value)
    if arr.size and (arr.min() < lo or arr.max() > hi):
        raise ValueError(f"{where}: {what} must lie in [{lo}, {hi}], got [{arr.min()}, {arr.max()}]")


def _as_int(where: str, what: str, value: np.ndarray) -> np.ndarray:
    """Round to the nearest integer (netx truncates with astype(int)); reject non-finite values."""
    arr = np.asarray(value)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{where}: {what} contains non-finite values")
    return np.rint(arr).astype(np.int64)


def validate_layers(layers: list[NetxLayer], where: str = "network", hardware_fields: bool = False) -> None:
    """Check layer order, shapes and Loihi field ranges; raise ValueError naming the layer and the limit.

    ``hardware_fields`` (what :func:`write_netx` uses): ``vThMant`` must fit the 17-bit field; otherwise the legacy
    read-out value :data:`LEGACY_READOUT_VTH_MANT` (``2**17``, files written before) is accepted too."""
    vth_max = VTH_MANT_RANGE[1] if hardware_fields else LEGACY_READOUT_VTH_MANT
    if not layers or layers[0].type != "input":
        raise ValueError(f"{where}: layer 0 must be of type 'input'")
    prev_shape = layers[0].shape
    for i, layer in enumerate(layers):
        tag = f"{where} layer {i} ({layer.name or layer.type})"
        if layer.type not in LAYER_TYPES:
            raise ValueError(f"{tag}: unsupported type {layer.type!r}, expected one of {LAYER_TYPES}")
        if len(layer.shape) != 3 or min(layer.shape) < 1:
            raise ValueError(f"{tag}: shape must be 3 positive ints (C, H, W), got {layer.shape}")
        if i and layer.type == "input":
            raise ValueError(f"{tag}: only layer 0 may be 'input'")
        if layer.type == "flatten" and layer.num_neurons != int(np.prod(prev_shape)):
            raise ValueError(f"{tag}: flatten of {prev_shape} cannot have shape {layer.shape}")
        if layer.has_synapse:
            _validate_synapse(tag, layer, prev_shape)
        # a spike input needs only its shape (the form lava-dl's netx loads); an old file's relay neuron is checked
        needs_neuron = layer.type in ("conv", "dense") or (layer.type == "input" and layer.neuron is not None)
        if needs_neuron:
            if layer.neuron is None:
                raise ValueError(f"{tag}: missing neuron parameters")
            n = layer.neuron
            _check_range(tag, "iDecay", n.i_decay, *I_DECAY_RANGE)
            _check_range(tag, "vDecay", n.v_decay, *V_DECAY_RANGE)
            _check_range(tag, "vThMant", n.vth_mant, VTH_MANT_RANGE[0], vth_max)
        prev_shape = layer.shape


def _validate_synapse(tag: str, layer: NetxLayer, in_shape: tuple[int, int, int]) -> None:
    if layer.weight is None:
        raise ValueError(f"{tag}: missing weight")
    w = layer.weight
    _check_range(tag, "weight", w, *WEIGHT_RANGE)
    c_out = layer.shape[0]
    if layer.type == "dense":
        expected = (layer.num_neurons, int(np.prod(in_shape)))
        if layer.shape[1:] != (1, 1) or w.shape != expected:
            raise ValueError(f"{tag}: dense weight must be {expected} with shape (N, 1, 1), got {w.shape}")
    else:
        if w.ndim != 4 or w.shape[0] != c_out or w.shape[1] * layer.groups != in_shape[0]:
            raise ValueError(
                f"{tag}: conv weight must be (C_out={c_out}, C_in/groups={in_shape[0] // max(layer.groups, 1)}, kH, kW)"
                f", got {w.shape}"
            )
        h_out, w_out = (
            conv_output_size(size, k, st, pad, dil)
            for size, k, st, pad, dil in zip(
                in_shape[1:], w.shape[2:], layer.stride, layer.padding, layer.dilation, strict=True
            )
        )
        if (h_out, w_out) != tuple(layer.shape[1:]):
            raise ValueError(f"{tag}: conv output is {(c_out, h_out, w_out)} for input {in_shape}, not {layer.shape}")
    if layer.bias is not None:
        n_bias = c_out if layer.type == "conv" else layer.num_neurons
        if layer.bias.shape != (n_bias,):
            raise ValueError(f"{tag}: bias must have shape ({n_bias},), got {layer.bias.shape}")
        _check_range(tag, "bias mantissa", layer.bias, *BIAS_MANT_RANGE)


def write_netx(path: str | os.PathLike, layers: list[NetxLayer], attrs: dict | None = None) -> None:
    """Validate (every field within its hardware width) and write ``layers`` atomically (temp file then os.replace).

    The ``input`` layer is written with its ``shape`` only (no ``neuron`` group), as lava-dl's SLAYER exports spike
    inputs: lava-dl's ``netx.hdf5.Network`` then feeds the input straight into the first synapse instead of building
    an input-neuron block."""
    validate_layers(layers, str(path), hardware_fields=True)
    with atomic_path(path) as tmp, h5py.File(tmp, "w", libver=("v108", "latest")) as f:  # checksummed metadata
        for k, v in (attrs or {}).items():
            f.attrs[k] = v
        root = f.create_group("layer")
        for i, layer in enumerate(layers):
            _write_layer(root.create_group(str(i)), layer)


def _write_layer(g: h5py.Group, layer: NetxLayer) -> None:
    g.attrs["name"] = layer.name
    g["type"] = layer.type
    g["shape"] = np.asarray(layer.shape, dtype=np.int64)
    if layer.has_synapse:
        g.create_dataset("weight", data=_as_int(layer.name, "weight", layer.weight), fletcher32=True)
        if layer.bias is not None:
            g.create_dataset("bias", data=_as_int(layer.name, "bias", layer.bias), fletcher32=True)
        if layer.type == "conv":
            g["stride"] = np.asarray(layer.stride, dtype=np.int64)
            g["padding"] = np.asarray(layer.padding, dtype=np.int64)
            g["dilation"] = np.asarray(layer.dilation, dtype=np.int64)
            g["groups"] = int(layer.groups)
        if layer.weight_exp:
            g["weightExp"] = int(layer.weight_exp)
    if layer.neuron is not None and layer.type != "input":
        n = g.create_group("neuron")
        n["type"] = "CUBA"
        n["iDecay"] = int(layer.neuron.i_decay)
        n["vDecay"] = int(layer.neuron.v_decay)
        n["vThMant"] = int(layer.neuron.vth_mant)
        n["refDelay"] = int(layer.neuron.ref_delay)
        n["gradedSpike"] = bool(layer.neuron.graded_spike)


def _dataset(g: h5py.Group, key: str, where: str) -> np.ndarray:
    """The value of dataset ``g[key]`` as a numpy array; errors name ``where`` and the key."""
    if key not in g:
        raise ValueError(f"{where}: missing dataset {key!r}")
    item = g[key]
    if not isinstance(item, h5py.Dataset):
        raise ValueError(f"{where}: {key!r} must be a dataset, found a group")
    if item.size is not None and item.size > MAX_DATASET_ELEMENTS:  # from the header, before anything is read
        raise ValueError(f"{where}: dataset {key!r} declares shape {item.shape} ({item.size} values), more than the "
                         f"{MAX_DATASET_ELEMENTS} a layer of the chip can hold")
    try:
        return np.asarray(item[()])
    except (OSError, TypeError, ValueError) as exc:
        corrupt = any(w in str(exc).lower() for w in ("fletcher32", "filter returned failure"))
        reason = "checksum mismatch or broken compression: the file is corrupt" if corrupt else str(exc)
        raise ValueError(f"{where}: dataset {key!r} cannot be read ({' '.join(reason.split())})") from None


def _string(g: h5py.Group, key: str, where: str) -> str:
    value = _dataset(g, key, where)
    if value.ndim != 0:
        raise ValueError(f"{where}: {key!r} must be a scalar string, got shape {value.shape}")
    value = value.item()
    if isinstance(value, bytes):
        try:
            return value.decode()
        except UnicodeDecodeError:
            raise ValueError(f"{where}: {key!r} is not a UTF-8 string") from None
    if not isinstance(value, str):
        raise ValueError(f"{where}: {key!r} must be a string, got {type(value).__name__} {value!r}")
    return value


def _int_array(g: h5py.Group, key: str, where: str) -> np.ndarray:
    """An integer-valued dataset as int64: integer or bool dtypes, or floats holding whole numbers (lava-dl writes
    float32 weights). Non-numeric dtypes, non-finite and fractional values are errors (netx would truncate them)."""
    value = _dataset(g, key, where)
    kind = value.dtype.kind
    if kind in "iub":
        return value.astype(np.int64)
    if kind != "f":
        raise ValueError(f"{where}: {key!r} must hold integers, got dtype {value.dtype}")
    if not np.all(np.isfinite(value)):
        raise ValueError(f"{where}: {key!r} contains non-finite values")
    frac = value != np.rint(value)
    if frac.any():
        first = tuple(int(i) for i in np.argwhere(frac)[0])
        raise ValueError(f"{where}: {key!r} must hold integers, got {value[first].item():g} at index {first} "
                         f"({int(frac.sum())} non-integer values; reading would truncate them)")
    if value.size and np.abs(value).max() >= 2**62:
        raise ValueError(f"{where}: {key!r} values are out of the integer range")
    return value.astype(np.int64)


def _int_scalar(g: h5py.Group, key: str, where: str) -> int:
    value = _int_array(g, key, where)
    if value.size != 1:
        raise ValueError(f"{where}: {key!r} must be one integer, got shape {value.shape}")
    return int(value.reshape(-1)[0])


def _layer_keys(root: h5py.Group, path: Path) -> list[str]:
    """Names of the layer groups in network order; they must be '0'..'n-1' (netx reads them in that order)."""
    names = list(root.keys())
    if not names:
        raise ValueError(f"{path}: group 'layer' is empty (no layers)")
    bad = [k for k in names if not (k.isascii() and k.isdigit()) or (len(k) > 1 and k.startswith("0"))]
    if bad:
        raise ValueError(f"{path}: malformed layer name(s) {sorted(bad)} under 'layer': expected the groups "
                         f"'0'..'{len(names) - 1}'")
    keys = sorted(names, key=int)
    if keys != [str(i) for i in range(len(keys))]:
        missing = sorted(set(range(len(keys))) - {int(k) for k in keys})
        raise ValueError(f"{path}: layer groups must be numbered '0'..'{len(keys) - 1}' without gaps, got {keys} "
                         f"(missing {[str(i) for i in missing]})")
    for k in keys:
        if not isinstance(root[k], h5py.Group):
            raise ValueError(f"{path} layer {k}: must be a group, found a dataset")
    return keys


def read_netx(path: str | os.PathLike) -> tuple[list[NetxLayer], dict]:
    """Read and validate a netx HDF5 file; returns the layers and the file attributes.

    Every structural problem raises ValueError naming the file and the layer: a file that is not HDF5, a missing or
    malformed ``layer`` group, layer names other than ``'0'..'n-1'``, missing datasets, non-numeric or fractional
    integer fields (never truncated), wrong shapes and out-of-range Loihi fields.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"netx file not found: {path}")
    if path.is_dir():
        raise ValueError(f"{path}: is a folder, expected a netx HDF5 file")
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise ValueError(f"{path}: not a readable HDF5 file, expected a netx network "
                         f"({' '.join(str(exc).split())})") from None
    with f:
        try:
            return _read_layers(f, path)
        except (KeyError, RuntimeError, OSError) as exc:  # h5py on a corrupt object header, heap or symbol table
            raise ValueError(f"{path}: corrupt HDF5 structure ({' '.join(str(exc).split())[:200]})") from None


def _read_layers(f: h5py.File, path: Path) -> tuple[list[NetxLayer], dict]:
    """The layers and attributes of an open netx file, validated (:func:`read_netx`)."""
    if "layer" not in f:
        raise ValueError(f"{path}: no 'layer' group (not a netx HDF5 file)")
    root = f["layer"]
    if not isinstance(root, h5py.Group):
        raise ValueError(f"{path}: 'layer' must be a group of layers '0'..'n-1', found a dataset")
    layers = [_read_layer(root[k], f"{path} layer {k}") for k in _layer_keys(root, path)]
    attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}
    validate_layers(layers, str(path))
    return layers, attrs


def _read_layer(g: h5py.Group, where: str) -> NetxLayer:
    name = g.attrs.get("name", "")
    name = name.decode(errors="replace") if isinstance(name, bytes) else str(name)
    if name:
        where = f"{where} ({name})"
    layer_type = _string(g, "type", where)
    shape = _int_array(g, "shape", where)
    if shape.shape != (3,) or shape.min() < 1:
        raise ValueError(f"{where}: 'shape' must be 3 positive integers (C, H, W), got {shape.tolist()}")
    layer = NetxLayer(type=layer_type, shape=tuple(int(s) for s in shape), name=name)
    if "weight" in g:
        layer.weight = _int_array(g, "weight", where)
    if "bias" in g:
        layer.bias = _int_array(g, "bias", where).reshape(-1)
    for key in ("stride", "padding", "dilation"):
        if key in g:
            value = _int_array(g, key, where).reshape(-1)
            if value.size not in (1, 2):
                raise ValueError(f"{where}: {key!r} must be one integer or an (H, W) pair, got {value.tolist()}")
            setattr(layer, key, tuple(int(s) for s in np.broadcast_to(value, (2,))))
    if "groups" in g:
        layer.groups = _int_scalar(g, "groups", where)
        if layer.groups < 1:
            raise ValueError(f"{where}: 'groups' must be >= 1, got {layer.groups}")
    if "weightExp" in g:
        layer.weight_exp = _int_scalar(g, "weightExp", where)
    if "neuron" in g:
        n = g["neuron"]
        if not isinstance(n, h5py.Group):
            raise ValueError(f"{where}: 'neuron' must be a group, found a dataset")
        nwhere = where + "/neuron"
        neuron_type = _string(n, "type", nwhere)
        if neuron_type not in ("CUBA", "LOIHI"):
            raise ValueError(f"{nwhere}: neuron type {neuron_type!r} unsupported, expected 'CUBA'")
        layer.neuron = CubaNeuron(
            i_decay=_int_scalar(n, "iDecay", nwhere),
            v_decay=_int_scalar(n, "vDecay", nwhere),
            vth_mant=_int_scalar(n, "vThMant", nwhere),
            ref_delay=_int_scalar(n, "refDelay", nwhere) if "refDelay" in n else 1,
            graded_spike=bool(_int_scalar(n, "gradedSpike", nwhere)) if "gradedSpike" in n else False,
        )
    return layer


def pipeline_fill_steps(n_synaptic_layers: int) -> int:
    """Steps by which the read-out trails the input: one per synaptic (conv/dense) layer, since Lava's Conv and Dense
    deliver their output one step later. The one definition behind ``had-snn convert`` (``pipeline_fill_steps`` in
    quantization.json), ``had-snn deploy`` (how many zero steps flush the input) and ``had-snn energy`` (the report)."""
    if n_synaptic_layers < 1:
        raise ValueError(f"a network needs at least one synaptic layer, got {n_synaptic_layers}")
    return int(n_synaptic_layers)


def frame_steps(input_steps: int, n_synaptic_layers: int) -> int:
    """Steps the chip runs per frame: the ``input_steps`` of a spike window, then the pipeline fill (zero input)
    until the read-out has seen the last input step. This is the ``steps`` of a counts file and of the latency."""
    if input_steps < 1:
        raise ValueError(f"input_steps must be >= 1, got {input_steps}")
    return int(input_steps) + pipeline_fill_steps(n_synaptic_layers)


def relay_neuron() -> CubaNeuron:
    """(Legacy input neuron, never written) Neuron that re-emits each binary input spike in the same step (u = a_in
    << 6, v > 0 fires)."""
    return CubaNeuron(i_decay=4096, v_decay=4095, vth_mant=0)


def sum_pool_layer(channels: int, in_hw: tuple[int, int], kernel: int, neuron: CubaNeuron, name: str = "") -> NetxLayer:
    """Sum pooling (kernel = stride) as a grouped conv with a kernel of ones."""
    out_hw = (in_hw[0] // kernel, in_hw[1] // kernel)
    return NetxLayer(
        type="conv",
        shape=(channels, *out_hw),
        weight=np.ones((channels, 1, kernel, kernel), dtype=np.int64),
        stride=(kernel, kernel),
        groups=channels,
        neuron=neuron,
        name=name,
    )


# --- the outputs of a run (Lava runner, `had-snn deploy`): every synaptic layer's spikes and the read-out v -----------

def spike_key(layer: int) -> str:
    """The key of synaptic layer ``layer``'s spikes (1-based, as netx numbers the layers after the input)."""
    return f"spikes_{layer}"


def spike_arrays(layer_spikes: list) -> dict:
    """``{spikes_1: ..., spikes_L: ...}`` of the per-layer spike arrays (T, B, C, H, W), in layer order."""
    return {spike_key(i): s for i, s in enumerate(layer_spikes, start=1)}


def layer_spikes(outputs: dict) -> list[np.ndarray]:
    """The per-layer spike arrays (bool) of a run's outputs, in layer order (:func:`spike_arrays`'s inverse)."""
    n = sum(1 for key in outputs if str(key).startswith("spikes_"))
    missing = [spike_key(i) for i in range(1, n + 1) if spike_key(i) not in outputs]
    if missing:
        raise ValueError(f"run outputs lack {missing} (layers must be numbered 1..{n})")
    return [np.asarray(outputs[spike_key(i)]).astype(bool) for i in range(1, n + 1)]
