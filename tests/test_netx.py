"""netx HDF5 schema: write/read round trip, rounding, validation errors."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from had_snn.conversion.random_net import random_network
from had_snn.hardware.netx import LEGACY_READOUT_VTH_MANT, CubaNeuron, NetxLayer, read_netx, relay_neuron, write_netx


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


def _write_tiny(path, weight=None):
    write_netx(path, _tiny(np.zeros((2, 3)) if weight is None else weight))
    return path


def _replace(path, key: str, value) -> None:
    with h5py.File(path, "a") as f:
        del f[key]
        f[key] = value


def test_reader_refuses_fractional_weights_naming_file_and_layer(tmp_path) -> None:
    path = _write_tiny(tmp_path / "net.h5")
    _replace(path, "layer/1/weight", np.array([[2.6, 0, 0], [0, 0, 0]], np.float32))
    with pytest.raises(ValueError, match=r"net\.h5 layer 1 \(fc\): 'weight' must hold integers, got 2\.6"):
        read_netx(path)
    _replace(path, "layer/1/neuron/vThMant", 10.5)
    _replace(path, "layer/1/weight", np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"layer 1 \(fc\)/neuron: 'vThMant' must hold integers"):
        read_netx(path)


def test_reader_accepts_whole_float_weights_as_lava_dl_writes_them(tmp_path) -> None:
    path = _write_tiny(tmp_path / "net.h5")
    _replace(path, "layer/1/weight", np.array([[4.0, -2.0, 0.0], [0.0, 254.0, -256.0]], np.float32))
    back, _ = read_netx(path)
    assert back[1].weight.dtype == np.int64 and back[1].weight.tolist() == [[4, -2, 0], [0, 254, -256]]


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("layer/1/weight", np.array([[b"a", b"b", b"c"], [b"d", b"e", b"f"]]),
         "'weight' must hold integers, got dtype"),
        ("layer/1/weight", np.array([[np.inf, 0, 0], [0, 0, 0]]), "'weight' contains non-finite values"),
        ("layer/1/shape", np.array([2, 1]), r"'shape' must be 3 positive integers \(C, H, W\), got \[2, 1\]"),
        ("layer/1/type", np.array([1, 2]), "'type' must be a scalar string"),
        ("layer/1/stride", np.array([1, 1, 1]), "'stride' must be one integer or an"),
        ("layer/1/bias", np.array([1, 2, 3]), r"bias must have shape \(2,\)"),
    ],
)
def test_reader_names_file_layer_and_field(tmp_path, key, value, message) -> None:
    path = _write_tiny(tmp_path / "net.h5")
    with h5py.File(path, "a") as f:
        if key in f:
            del f[key]
        f[key] = value
    with pytest.raises(ValueError, match=r"net\.h5 layer 1 \(fc\).*" + message):
        read_netx(path)


def test_reader_refuses_malformed_structure(tmp_path) -> None:
    path = _write_tiny(tmp_path / "net.h5")
    with h5py.File(path, "a") as f:
        f.move("layer/1", "layer/one")
    with pytest.raises(ValueError, match=r"net\.h5: malformed layer name\(s\) \['one'\] under 'layer'"):
        read_netx(path)
    with h5py.File(path, "a") as f:
        f.move("layer/one", "layer/2")
    with pytest.raises(ValueError, match=r"without gaps, got \['0', '2'\] \(missing \['1'\]\)"):
        read_netx(path)
    with h5py.File(path, "a") as f:
        del f["layer/2"]
        f["layer/1"] = 3
    with pytest.raises(ValueError, match="layer 1: must be a group, found a dataset"):
        read_netx(path)
    with h5py.File(path, "a") as f:
        del f["layer/1"]
        f["layer/1/shape"] = np.array([2, 1, 1])
    with pytest.raises(ValueError, match=r"net\.h5 layer 1: missing dataset 'type'"):
        read_netx(path)
    with h5py.File(path, "a") as f:
        del f["layer"]
        f["layer"] = np.zeros(3)
    with pytest.raises(ValueError, match="'layer' must be a group"):
        read_netx(path)


def test_reader_refuses_files_that_are_not_hdf5(tmp_path) -> None:
    path = tmp_path / "student.h5"
    path.write_text("not hdf5")
    with pytest.raises(ValueError, match=r"student\.h5: not a readable HDF5 file, expected a netx network"):
        read_netx(path)
    with pytest.raises(ValueError, match="is a folder"):
        read_netx(tmp_path)


def test_input_layer_is_written_with_its_shape_only_and_old_files_still_read(tmp_path) -> None:
    layers = random_network(2)
    layers[0].neuron = relay_neuron()  # an in-memory relay neuron is dropped on write (lava-dl netx rejects it)
    path = tmp_path / "net.h5"
    write_netx(path, layers)
    with h5py.File(path) as f:
        assert set(f["layer/0"].keys()) == {"type", "shape"}
    assert read_netx(path)[0][0].neuron is None
    with h5py.File(path, "a") as f:  # a file written before: relay neuron on the input, read-out vThMant 2**17
        n = f["layer/0"].create_group("neuron")
        for key, value in (("type", "CUBA"), ("iDecay", 4096), ("vDecay", 4095), ("vThMant", 0)):
            n[key] = value
        del f["layer/6/neuron/vThMant"]
        f["layer/6/neuron/vThMant"] = LEGACY_READOUT_VTH_MANT
    back, _ = read_netx(path)
    assert back[0].neuron == relay_neuron() and back[-1].neuron.vth_mant == 1 << 17
    with pytest.raises(ValueError, match=r"layer 6 \(readout\): vThMant must lie in \[0, 131071\]"):
        write_netx(tmp_path / "again.h5", back)  # written files keep every field inside its hardware width


def test_run_outputs_protocol_round_trips_and_refuses_a_gap() -> None:
    from had_snn.hardware.netx import layer_spikes, spike_arrays

    spikes = [np.zeros((3, 1, 2, 4, 4), bool), np.ones((3, 1, 4, 2, 2), np.uint8)]
    out = spike_arrays(spikes) | {"v_out": np.zeros((3, 1, 5, 2, 2))}
    assert sorted(out) == ["spikes_1", "spikes_2", "v_out"]
    back = layer_spikes(out)
    assert [b.dtype for b in back] == [bool, bool] and back[1].all() and not back[0].any()
    del out["spikes_1"]
    with pytest.raises(ValueError, match=r"lack \['spikes_1'\]"):
        layer_spikes(out)
