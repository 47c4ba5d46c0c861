"""Layer geometry, core mapping under per-core limits, netx reading and the core-map grid."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from had_snn.hardware.report import build_report
from had_snn.hardware.report_plots import core_grid
from had_snn.hardware.resources import (
    ChipSpec,
    LayerMapping,
    conv_geometry,
    dense_geometry,
    destination_cores,
    geometries_from_netx,
    input_axons,
    map_network,
    split_layer,
    weight_bits_of,
)
from had_snn.hardware.table import load_table


@pytest.fixture(scope="module")
def loihi1() -> ChipSpec:
    return ChipSpec.from_table(load_table(), "loihi1")


@pytest.fixture(scope="module")
def loihi2() -> ChipSpec:
    return ChipSpec.from_table(load_table(), "loihi2")


def _chip(**limits) -> ChipSpec:
    base = dict(compartments_per_core=1024, synaptic_memory_bytes_per_core=None, fan_in_axons_per_core=None,
                fan_out_axons_per_core=None, cores_per_chip=128, cores_per_tile=4, mesh_tiles_x=8, mesh_tiles_y=4)
    return ChipSpec(name="test", **{**base, **limits})


def _connections(w: np.ndarray, in_shape, stride, padding, dilation, groups):
    """Brute force: list of (output index, input index) pairs with a nonzero weight, C-H-W flat indices."""
    c_in, h_in, w_in = in_shape
    c_out, c_in_g, kh, kw = w.shape
    h_out = (h_in + 2 * padding - dilation * (kh - 1) - 1) // stride + 1
    w_out = (w_in + 2 * padding - dilation * (kw - 1) - 1) // stride + 1
    pairs = []
    for co, oy, ox in itertools.product(range(c_out), range(h_out), range(w_out)):
        g = co // (c_out // groups)
        for ci, ky, kx in itertools.product(range(c_in_g), range(kh), range(kw)):
            iy, ix = oy * stride - padding + ky * dilation, ox * stride - padding + kx * dilation
            if 0 <= iy < h_in and 0 <= ix < w_in and w[co, ci, ky, kx] != 0:
                cin = g * c_in_g + ci
                pairs.append(((co * h_out + oy) * w_out + ox, (cin * h_in + iy) * w_in + ix))
    return pairs, (c_out, h_out, w_out)


def test_conv_synapses_hand_count() -> None:
    w = np.ones((1, 1, 3, 3), dtype=np.int64)
    g = conv_geometry("c", w, (1, 3, 3), padding=1)
    # corners read 4 inputs, edges 6, centre 9: 4*4 + 4*6 + 9 = 49
    assert (g.out_shape, g.n_synapses, g.fan_in, g.fan_out, g.weight_bits) == ((1, 3, 3), 49, 9, 9, 1)
    w[0, 0, 1, 1] = 0  # the centre tap is in bounds for all 9 outputs
    assert conv_geometry("c", w, (1, 3, 3), padding=1).n_synapses == 40


def test_conv_geometry_matches_brute_force(rng: np.random.Generator) -> None:
    w = rng.integers(-3, 4, size=(4, 2, 3, 3))
    pairs, out_shape = _connections(w, (4, 9, 8), stride=2, padding=1, dilation=2, groups=2)
    g = conv_geometry("c", w, (4, 9, 8), stride=2, padding=1, dilation=2, groups=2)
    assert g.out_shape == out_shape
    assert g.n_synapses == len(pairs)
    outs = np.bincount([o for o, _ in pairs])
    ins = np.bincount([i for _, i in pairs])
    assert outs.max() <= g.fan_in
    assert ins.max() <= g.fan_out
    # every run of n consecutive output neurons reads at most input_axons(n) distinct inputs
    by_out: dict[int, set[int]] = {}
    for o, i in pairs:
        by_out.setdefault(o, set()).add(i)
    c_out, h_out, w_out = out_shape

    def reads(outs) -> int:
        return len(set().union(*(by_out.get(o, set()) for o in outs)))

    for n in range(1, w_out):  # part of one row
        worst = max(reads(range(r * w_out + x, r * w_out + x + n)) for r in range(c_out * h_out)
                    for x in range(w_out - n + 1))
        assert worst <= input_axons(g, n)
    for rows in range(1, h_out):  # whole rows of one channel
        worst = max(reads(range((c * h_out + y) * w_out, (c * h_out + y + rows) * w_out)) for c in range(c_out)
                    for y in range(h_out - rows + 1))
        assert worst <= input_axons(g, rows * w_out)
    for k in (1, 2, 3):  # whole channels
        worst = max(reads(range(c * h_out * w_out, (c + k) * h_out * w_out)) for c in range(c_out - k + 1))
        assert worst <= input_axons(g, k * h_out * w_out)


def test_conv_shape_and_weight_errors_name_the_layer() -> None:
    with pytest.raises(ValueError, match="layer 'bad'.*groups=2"):
        conv_geometry("bad", np.ones((4, 3, 3, 3)), (3, 8, 8), groups=2)
    with pytest.raises(ValueError, match="layer 'bad'.*stored shape"):
        conv_geometry("bad", np.ones((4, 3, 3, 3)), (3, 8, 8), out_shape=(4, 8, 8))
    with pytest.raises(ValueError, match="layer 'fc'.*expects 10 inputs"):
        dense_geometry("fc", np.ones((4, 10)), (12,))


def test_weight_bits() -> None:
    assert weight_bits_of(np.array([0, 1])) == 1
    assert weight_bits_of(np.array([0, 255])) == 8
    assert weight_bits_of(np.array([-256, 255])) == 10
    assert weight_bits_of(np.array([-3, 2])) == 3


def test_dense_layer_limited_by_synaptic_memory(loihi1: ChipSpec) -> None:
    g = dense_geometry("fc", np.ones((3000, 2000), dtype=np.int64), (2000,), weight_bits=8)
    m = map_network([g], loihi1)
    lm = m.layers[0]
    # 128 KB = 1,048,576 bits; one neuron holds 2000 x 8 = 16,000 bits -> 65 neurons per core
    # (47 cores, the fullest holding ceil(3000 / 47) = 64)
    assert (lm.neurons_per_core, lm.cores, lm.limiting) == (64, 47, "synaptic_memory")
    assert (m.total_cores, m.chips, m.tiles) == (47, 1, 12)
    assert lm.usage["synaptic_memory"] == pytest.approx(64 * 16000 / 1048576)


def test_conv_layer_limited_by_fan_in_axons(loihi1: ChipSpec, loihi2: ChipSpec) -> None:
    g = conv_geometry("conv", np.ones((16, 16, 3, 3), dtype=np.int64), (16, 32, 32), padding=1, weight_bits=8)
    # a core with r whole output rows reads 16 channels x 32 columns x (r + 2) input rows <= 4096 -> r <= 6, so up
    # to 6 x 32 + 31 = 223 neurons; blocks of 6 rows: each 32-row channel takes ceil(32 / 6) = 6 cores of 192
    assert input_axons(g, 223) == 4096 and input_axons(g, 224) > 4096
    lm = map_network([g], loihi1).layers[0]
    assert (lm.neurons_per_core, lm.cores, lm.limiting) == (192, 16 * 6, "fan_in_axons")
    assert lm.usage["fan_in_axons"] == pytest.approx(1.0)
    # part of a row: 5 neurons read 16 x 3 x 7 inputs
    assert input_axons(g, 5) == 16 * 3 * 7
    # Loihi 2 does not check fan-in (unpublished); 192 KB of memory holds 1,572,864 bits
    assert g.n_synapses == 94 * 94 * 16 * 16  # per axis 31 + 32 + 31 in-bounds taps
    # -> 1424 neurons per core, rounded down to whole 1024-neuron channels: 16 cores
    assert int(1572864 // (g.n_synapses / 16384 * 8)) == 1424
    lm2 = map_network([g], loihi2).layers[0]
    assert (lm2.neurons_per_core, lm2.cores, lm2.limiting) == (1024, 16, "synaptic_memory")


def test_compartments_limit_and_small_layers(loihi1: ChipSpec) -> None:
    a = dense_geometry("a", np.ones((3000, 10), dtype=np.int64), (10,))
    b = dense_geometry("b", np.ones((4, 3000), dtype=np.int64), (3000,))
    m = map_network([a, b], loihi1)
    assert [(lm.cores, lm.neurons_per_core, lm.limiting) for lm in m.layers] == [
        (3, 1000, "compartments"), (1, 4, "layer_size")]
    assert [lm.first_core for lm in m.layers] == [0, 3]
    assert m.layers[0].dest_cores_per_neuron == 1  # b has a single core


def test_fan_out_limit_and_destination_cores() -> None:
    a = dense_geometry("a", np.ones((10, 10), dtype=np.int64), (10,), weight_bits=8)
    b = dense_geometry("b", np.ones((40, 10), dtype=np.int64), (10,), weight_bits=8)
    m = map_network([a, b], _chip(synaptic_memory_bytes_per_core=80, fan_out_axons_per_core=8))
    # b: 80 bytes = 640 bits hold 8 neurons of 10 x 8 bits -> 5 cores; each neuron of a reaches all 5 of them,
    # so a core of a can hold 8 // 5 = 1 neuron
    assert (m.layers[1].cores, m.layers[1].neurons_per_core, m.layers[1].limiting) == (5, 8, "synaptic_memory")
    assert (m.layers[0].dest_cores_per_neuron, m.layers[0].neurons_per_core, m.layers[0].cores) == (5, 1, 10)
    assert m.layers[0].limiting == "fan_out_axons"
    # with 4 output axons b needs 10 cores and one neuron of a would need 10 output axons
    with pytest.raises(ValueError, match="layer 'a'.*reach 10 cores.*cannot fix"):
        map_network([a, b], _chip(synaptic_memory_bytes_per_core=80, fan_out_axons_per_core=4))


def test_unsplittable_limits_raise_with_layer_name(loihi1: ChipSpec) -> None:
    wide = dense_geometry("wide_fc", np.ones((2, 5000), dtype=np.int64), (5000,))
    with pytest.raises(ValueError, match="layer 'wide_fc'.*5000 input axons.*4096.*cannot fix"):
        map_network([wide], loihi1)
    small_mem = _chip(synaptic_memory_bytes_per_core=100)
    fc = dense_geometry("fc", np.ones((2, 200), dtype=np.int64), (200,), weight_bits=8)
    with pytest.raises(ValueError, match="layer 'fc'.*1600 bits.*800 bits"):
        map_network([fc], small_mem)


def test_geometries_from_netx_match_emulator_names(tmp_path) -> None:
    from had_snn.conversion.random_net import random_network
    from had_snn.hardware.netx import write_netx

    layers = random_network(3)
    write_netx(tmp_path / "net.h5", layers)
    geoms = geometries_from_netx(tmp_path / "net.h5")
    synaptic = [lay for lay in layers if lay.has_synapse]
    assert [g.name for g in geoms] == [lay.name or f"{lay.type}{i}" for i, lay in enumerate(synaptic, 1)]
    assert [g.out_shape for g in geoms] == [tuple(lay.shape) for lay in synaptic]
    for g, lay in zip(geoms, synaptic, strict=True):
        if lay.type == "dense":
            assert g.n_synapses == int((lay.weight != 0).sum())
            assert g.n_inputs == lay.weight.shape[1]
    with pytest.raises(FileNotFoundError):
        geometries_from_netx(tmp_path / "missing.h5")


def test_core_grid_places_every_core(loihi1: ChipSpec) -> None:
    table = load_table()
    a = dense_geometry("a", np.ones((3000, 10), dtype=np.int64), (10,))
    b = dense_geometry("b", np.ones((700, 3000), dtype=np.int64), (3000,), weight_bits=1)
    report = build_report([a, b], table)
    m = report["mapping"]["loihi1"]
    grid = core_grid(m)
    assert grid.shape == (4, 32)
    assert [(grid == i).sum() for i in range(2)] == [lm["cores"] for lm in m["layers"]]
    assert (grid == -1).sum() == 128 - m["total_cores"]


@pytest.mark.parametrize("max_per_core", [3, 8, 20, 70])
def test_destination_cores_bound_brute_force(rng: np.random.Generator, max_per_core: int) -> None:
    w = rng.integers(1, 4, size=(6, 2, 3, 3))
    pairs, (c_out, h_out, w_out) = _connections(w, (4, 10, 12), stride=1, padding=1, dilation=1, groups=2)
    g = conv_geometry("c", w, (4, 10, 12), padding=1, groups=2)
    cores, n = split_layer(g, max_per_core)
    lm = LayerMapping("c", cores, n, "compartments")

    def core_of(o: int) -> int:  # the block layout split_layer describes
        c, rest = divmod(o, h_out * w_out)
        y, x = divmod(rest, w_out)
        if n < w_out:
            return (c * h_out + y) * -(-w_out // n) + x // n
        if n < h_out * w_out:
            return c * -(-h_out // (n // w_out)) + y // (n // w_out)
        return c // (n // (h_out * w_out))

    assert len({core_of(o) for o in range(c_out * h_out * w_out)}) == cores
    reached: dict[int, set[int]] = {}
    for o, i in pairs:
        reached.setdefault(i, set()).add(core_of(o))
    worst = max(len(s) for s in reached.values())
    assert worst <= destination_cores(g, lm) <= cores
    assert destination_cores(g, lm) <= 2 * worst  # the bound stays tight
