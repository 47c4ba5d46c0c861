"""Read and write the netx-compatible HDF5 description of a fixed-point spiking network (numpy + h5py only).

Schema (lava-dl ``netx`` hdf5, see docs/loihi.md): group ``layer`` with sub-groups ``'0'..'n-1'``; each has ``type``
(``input`` | ``conv`` | ``flatten`` | ``dense``), ``shape`` (C, H, W of the layer's output), and for synaptic layers
``weight`` (torch layout: conv ``(C_out, C_in/groups, kH, kW)``, dense ``(N_out, N_in)`` with inputs flattened in
C, H, W order), ``bias`` (mantissa per output channel for conv, per neuron for dense; scaled by ``bias_exp = 6``),
``stride`` / ``padding`` / ``dilation`` (H, W), ``groups`` and ``neuron/{type, iDecay, vDecay, vThMant, refDelay,
gradedSpike}``. Our own optional key ``weightExp`` (Dense only; Lava's Conv ignores it) defaults to 0; ``name`` is an
attribute. Sum pooling is a ``conv`` with ``groups = C`` and a kernel of ones.

CUBA maps to Lava's LIF as ``du = iDecay - 1``, ``dv = vDecay``, ``vth = vThMant``, ``bias_exp = 6``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from had_snn.util.atomic import atomic_path

LAYER_TYPES = ("input", "conv", "flatten", "dense")
BIAS_EXP = 6
#: Lava LIF field limits (lava/proc/lif/models.py, PyLifModelBitAcc docstring): du/dv unsigned 12 bit, bias_mant
#: signed 13 bit, vth unsigned 17 bit. iDecay = du + 1 so it may reach 4096.
I_DECAY_RANGE = (1, 4096)
V_DECAY_RANGE = (0, 4095)
BIAS_MANT_RANGE = (-4096, 4095)
VTH_MANT_RANGE = (0, (1 << 17) - 1)
#: Threshold mantissa of a non-spiking read-out layer: (1 << 17) << 6 = 2**23 exceeds the largest v (2**23 - 1, v is
#: clipped), so it never fires. One above the 17-bit hardware field; Lava's Python model stores it as int32.
READOUT_VTH_MANT = 1 << 17
#: Weight range after Lava's Dense clip for mixed-sign 8-bit weights (lava/utils/weightutils.py clip_weights).
WEIGHT_RANGE = (-256, 255)


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


def validate_layers(layers: list[NetxLayer], where: str = "network") -> None:
    """Check layer order, shapes and Loihi field ranges; raise ValueError naming the layer and the limit."""
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
        if layer.type != "flatten":
            if layer.neuron is None:
                raise ValueError(f"{tag}: missing neuron parameters")
            n = layer.neuron
            _check_range(tag, "iDecay", n.i_decay, *I_DECAY_RANGE)
            _check_range(tag, "vDecay", n.v_decay, *V_DECAY_RANGE)
            _check_range(tag, "vThMant", n.vth_mant, VTH_MANT_RANGE[0], READOUT_VTH_MANT)
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
    """Validate and write ``layers`` atomically (temp file then os.replace)."""
    validate_layers(layers, str(path))
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
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
        g["weight"] = _as_int(layer.name, "weight", layer.weight)
        if layer.bias is not None:
            g["bias"] = _as_int(layer.name, "bias", layer.bias)
        if layer.type == "conv":
            g["stride"] = np.asarray(layer.stride, dtype=np.int64)
            g["padding"] = np.asarray(layer.padding, dtype=np.int64)
            g["dilation"] = np.asarray(layer.dilation, dtype=np.int64)
            g["groups"] = int(layer.groups)
        if layer.weight_exp:
            g["weightExp"] = int(layer.weight_exp)
    if layer.neuron is not None:
        n = g.create_group("neuron")
        n["type"] = "CUBA"
        n["iDecay"] = int(layer.neuron.i_decay)
        n["vDecay"] = int(layer.neuron.v_decay)
        n["vThMant"] = int(layer.neuron.vth_mant)
        n["refDelay"] = int(layer.neuron.ref_delay)
        n["gradedSpike"] = bool(layer.neuron.graded_spike)


def _scalar(g: h5py.Group, key: str, where: str):
    if key not in g:
        raise ValueError(f"{where}: missing key {key!r}")
    value = g[key][()]
    return value.decode() if isinstance(value, bytes) else value


def read_netx(path: str | os.PathLike) -> tuple[list[NetxLayer], dict]:
    """Read and validate a netx HDF5 file; returns the layers and the file attributes."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"netx file not found: {path}")
    layers = []
    with h5py.File(path, "r") as f:
        if "layer" not in f:
            raise ValueError(f"{path}: no 'layer' group (not a netx HDF5 file)")
        root = f["layer"]
        keys = sorted(root.keys(), key=int)
        if keys != [str(i) for i in range(len(keys))]:
            raise ValueError(f"{path}: layer groups must be '0'..'{len(keys) - 1}', got {keys}")
        for k in keys:
            layers.append(_read_layer(root[k], f"{path} layer {k}"))
        attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}
    validate_layers(layers, str(path))
    return layers, attrs


def _read_layer(g: h5py.Group, where: str) -> NetxLayer:
    layer_type = _scalar(g, "type", where)
    layer = NetxLayer(type=layer_type, shape=tuple(int(s) for s in _scalar(g, "shape", where)))
    layer.name = str(g.attrs.get("name", ""))
    if "weight" in g:
        layer.weight = np.asarray(g["weight"][()], dtype=np.int64)
    if "bias" in g:
        layer.bias = np.asarray(g["bias"][()], dtype=np.int64).reshape(-1)
    for key in ("stride", "padding", "dilation"):
        if key in g:
            setattr(layer, key, tuple(int(s) for s in np.broadcast_to(g[key][()], (2,))))
    if "groups" in g:
        layer.groups = int(g["groups"][()])
    if "weightExp" in g:
        layer.weight_exp = int(g["weightExp"][()])
    if "neuron" in g:
        n = g["neuron"]
        neuron_type = _scalar(n, "type", where + "/neuron")
        if neuron_type not in ("CUBA", "LOIHI"):
            raise ValueError(f"{where}: neuron type {neuron_type!r} unsupported, expected 'CUBA'")
        layer.neuron = CubaNeuron(
            i_decay=int(_scalar(n, "iDecay", where)),
            v_decay=int(_scalar(n, "vDecay", where)),
            vth_mant=int(_scalar(n, "vThMant", where)),
            ref_delay=int(n["refDelay"][()]) if "refDelay" in n else 1,
            graded_spike=bool(n["gradedSpike"][()]) if "gradedSpike" in n else False,
        )
    return layer


def relay_neuron() -> CubaNeuron:
    """Neuron that re-emits each binary input spike in the same step (u = a_in << 6, v > 0 fires)."""
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
