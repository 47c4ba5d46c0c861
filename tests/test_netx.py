"""netx HDF5 schema: write/read round trip, rounding, validation errors."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from had_snn.conversion.random_net import random_network
from had_snn.hardware.netx import CubaNeuron, NetxLayer, read_netx, relay_neuron, write_netx


def test_round_trip_preserves_every_field(tmp_path) -> None:
    layers = random_network(0)
    layers[-2].weight_exp = -1
    path = tmp_path / "net.h5"
    write_netx(path, layers, attrs={"format": "had-snn-netx"})
    back, attrs = read_netx(path)
    assert attrs["format"] == "had-snn-netx"
    assert [lay.type for lay in back] == ["input", "conv", "conv", "conv", "flatten", "dense", "dense"]
    for a, b in zip(layers, back, strict=True):
        assert (a.type, a.shape, a.stride, a.padding, a.dilation, a.groups, a.weight_exp, a.name) == (
            b.type, b.shape, b.stride, b.padding, b.dilation, b.groups, b.weight_exp, b.name
        )
        assert a.neuron == b.neuron
        for key in ("weight", "bias"):
            x, y = getattr(a, key), getattr(b, key)
            assert (x is None and y is None) or np.array_equal(x, y)


def test_schema_keys_match_netx(tmp_path) -> None:
    path = tmp_path / "net.h5"
    write_netx(path, random_network(1))
    with h5py.File(path) as f:
        conv = f["layer/1"]
        assert conv["type"][()] == b"conv"
        assert list(conv["shape"][()]) == [4, 12, 12]
        assert conv["weight"].shape == (4, 2, 3, 3) and conv["weight"].dtype.kind == "i"
        assert set(conv["neuron"].keys()) == {"type", "iDecay", "vDecay", "vThMant", "refDelay", "gradedSpike"}
        assert conv["neuron/type"][()] == b"CUBA"
        pool = f["layer/2"]
        assert int(pool["groups"][()]) == 4 and np.all(pool["weight"][()] == 1)
        assert f["layer/4/type"][()] == b"flatten"


def _tiny(weight: np.ndarray) -> list[NetxLayer]:
    return [
        NetxLayer(type="input", shape=(3, 1, 1), neuron=relay_neuron()),
        NetxLayer(type="dense", shape=(2, 1, 1), weight=weight, neuron=CubaNeuron(4096, 4095, 10), name="fc"),
    ]


def test_weights_are_rounded_not_truncated(tmp_path) -> None:
    path = tmp_path / "net.h5"
    write_netx(path, _tiny(np.array([[2.6, -2.6, 0.4], [-0.5, 1.5, 254.7]])))
    back, _ = read_netx(path)
    assert back[1].weight.tolist() == [[3, -3, 0], [0, 2, 255]]


@pytest.mark.parametrize(
    ("weight", "message"),
    [
        (np.array([[300, 0, 0], [0, 0, 0]]), "layer 1 (fc): weight must lie in [-256, 255]"),
        (np.zeros((2, 4)), "layer 1 (fc): dense weight must be (2, 3)"),
        (np.array([[np.nan, 0, 0], [0, 0, 0]]), "weight contains non-finite"),
    ],
)
def test_invalid_layers_fail_naming_layer_and_limit(tmp_path, weight, message) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        write_netx(tmp_path / "bad.h5", _tiny(weight))


def test_neuron_range_errors(tmp_path) -> None:
    layers = _tiny(np.zeros((2, 3)))
    layers[1].neuron.v_decay = 4096
    with pytest.raises(ValueError, match=r"layer 1 \(fc\): vDecay must lie in \[0, 4095\]"):
        write_netx(tmp_path / "bad.h5", layers)


def test_read_errors(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="netx file not found"):
        read_netx(tmp_path / "missing.h5")
    with h5py.File(tmp_path / "empty.h5", "w") as f:
        f["x"] = 1
    with pytest.raises(ValueError, match="no 'layer' group"):
        read_netx(tmp_path / "empty.h5")
    path = tmp_path / "net.h5"
    write_netx(path, _tiny(np.zeros((2, 3))))
    with h5py.File(path, "a") as f:
        del f["layer/1/type"]
        f["layer/1/type"] = "pool"
    with pytest.raises(ValueError, match="unsupported type 'pool'"):
        read_netx(path)
