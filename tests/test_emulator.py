"""Emulator integer semantics vs hand-computed Loihi fixed-point traces (Lava 0.10 PyLifModelBitAcc, Dense, Conv)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from had_snn.conversion.emulator import LoihiEmulator, lava_dense_weights, lif_step, signed_wrap
from had_snn.conversion.random_net import random_network, random_spikes
from had_snn.hardware.cuba import READOUT_VTH_MANT
from had_snn.hardware.netx import CubaNeuron, NetxLayer, relay_neuron

Z = torch.zeros(1, dtype=torch.int64)
NEVER_FIRES = 1 << 17  # (1 << 17) << 6 = 2**23 is above every clipped v (one bit wider than the hardware field)


def _t(*values: int) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.int64)


def test_single_neuron_trace_with_decay_rounding_toward_zero() -> None:
    # du = 0 keeps 4095/4096 of u per step, dv = 0 keeps all of v; vth = 1 -> threshold 64 (strict >).
    u, v, s = lif_step(Z, Z, _t(1), du=0, dv=0, bias=Z, vth_mant=1)
    assert (u.item(), v.item(), s.item()) == (64, 64, False)  # 64 > 64 is false
    u, v, s = lif_step(u, v, _t(0), du=0, dv=0, bias=Z, vth_mant=1)
    assert (u.item(), v.item(), s.item()) == (63, 0, True)  # u = 64*4095 >> 12 = 63; v = 64 + 63 = 127 > 64, reset
    u, v, s = lif_step(u, v, _t(0), du=0, dv=0, bias=Z, vth_mant=1)
    assert (u.item(), v.item(), s.item()) == (62, 62, False)  # u kept through the reset, 63*4095 >> 12 = 62
    # negative values round toward zero (sign-magnitude shift), not toward -inf
    u, v, _ = lif_step(_t(-64), _t(-100), _t(0), du=0, dv=2048, bias=Z, vth_mant=1)
    assert (u.item(), v.item()) == (-63, -50 - 63)


def test_bias_is_mantissa_shifted_by_six() -> None:
    u, v, s = lif_step(Z, Z, Z, du=4095, dv=4095, bias=_t(3 << 6), vth_mant=2)
    assert (u.item(), v.item(), s.item()) == (0, 0, True)  # v = 192 > 128 fires and resets


def test_current_wraps_once_at_24_bits_as_lava() -> None:
    # du = 4095 clears u each step, so u = a_in << 6 exactly.
    a_in = _t(1 << 17, (1 << 17) + 1, -(1 << 17), -(1 << 17) - 1, (1 << 18) + 1)
    zeros = torch.zeros(5, dtype=torch.int64)
    u, v, _ = lif_step(zeros, zeros, a_in, du=4095, dv=4095, bias=zeros, vth_mant=NEVER_FIRES)
    # +2**23 is kept (Lava wraps only > 2**23); -2**23 maps to +2**23; one wrap only for 2**24 + 64
    m = 1 << 23
    assert u.tolist() == [m, m + 64 - 2 * m, m, -m - 64 + 2 * m, 2 * m + 64 - 2 * m]
    assert v.tolist() == [(1 << 23) - 1, -(1 << 23) + 64, (1 << 23) - 1, (1 << 23) - 64, 64]


def test_voltage_clips_both_ways_and_readout_fires_only_at_the_clip() -> None:
    big = _t((1 << 23) - 10, -(1 << 23) + 10)
    u, v, s = lif_step(big, big, _t(0, 0), du=-1, dv=0, bias=_t(0, 0), vth_mant=NEVER_FIRES)
    assert v.tolist() == [(1 << 23) - 1, -(1 << 23) + 1] and not s.any()
    # the 17-bit read-out threshold (2**17 - 1) << 6 = 2**23 - 64: a v clipped at 2**23 - 1 fires and resets,
    # one 64 below it does not
    assert READOUT_VTH_MANT == (1 << 17) - 1
    near = _t((1 << 23) - 64, (1 << 23) - 63)
    _, v, s = lif_step(Z, near, _t(0, 0), du=4095, dv=0, bias=_t(0, 0), vth_mant=READOUT_VTH_MANT)
    assert s.tolist() == [False, True] and v.tolist() == [(1 << 23) - 64, 0]


def test_conv_wrap_and_dense_weight_clipping() -> None:
    assert signed_wrap(_t(1 << 23, (1 << 23) - 1, -(1 << 23) - 1, 5), 24).tolist() == [
        -(1 << 23), (1 << 23) - 1, (1 << 23) - 1, 5
    ]
    assert lava_dense_weights(np.array([[3, -3], [255, -256]])).tolist() == [[2, -4], [254, -256]]
    assert lava_dense_weights(np.array([[3, 300]])).tolist() == [[3, 255]]
    assert lava_dense_weights(np.array([[-3, -300]])).tolist() == [[-3, -255]]


def _dense_net(weight: np.ndarray, vth: int, n_in: int = 3) -> list[NetxLayer]:
    return [
        NetxLayer(type="input", shape=(n_in, 1, 1), neuron=relay_neuron()),
        NetxLayer(
            type="dense", shape=(weight.shape[0], 1, 1), weight=weight, neuron=CubaNeuron(4096, 4095, vth), name="fc"
        ),
    ]


def test_dense_layer_trace_with_one_step_delay_and_counts() -> None:
    net = _dense_net(np.array([[10, 20, 0], [-5, 0, 100]]), vth=15)  # mixed sign: -5 truncates to -6
    x = np.array([[1, 1, 0], [0, 0, 1], [1, 0, 1]], dtype=np.uint8).reshape(3, 1, 3, 1, 1)
    r = LoihiEmulator(net).run(x)
    assert r.spikes[0][:, 0, :, 0, 0].int().tolist() == [[0, 0], [1, 0], [0, 1]]
    assert r.v_out[:, 0, :, 0, 0].tolist() == [[0, 0], [0, -384], [0, 0]]
    assert r.counts["input_spikes"][0, :, 0].tolist() == [2, 1, 2]
    assert r.counts["synaptic_ops"][0, :, 0].tolist() == [4, 2, 4]
    assert r.counts["neuron_updates"][0, :, 0].tolist() == [2, 2, 2]
    assert r.counts["output_spikes"][0, :, 0].tolist() == [0, 1, 1]


def test_weight_exp_shifts_dense_output_with_floor() -> None:
    net = _dense_net(np.array([[-7, 9, 0]]), vth=READOUT_VTH_MANT)
    net[1].weight_exp = -1
    r = LoihiEmulator(net).run(np.array([[1, 0, 0], [0, 0, 0]], dtype=np.uint8).reshape(2, 1, 3, 1, 1))
    assert r.v_out[1, 0, 0, 0, 0].item() == (-8 >> 1) << 6  # -7 -> -8 (truncation), >> 1 floors to -4


def test_conv_fanout_counts_respect_padding() -> None:
    net = [
        NetxLayer(type="input", shape=(1, 4, 4), neuron=relay_neuron()),
        NetxLayer(
            type="conv", shape=(2, 4, 4), weight=np.zeros((2, 1, 3, 3), int), padding=(1, 1),
            neuron=CubaNeuron(4096, 4095, 1),
        ),
    ]
    x = np.zeros((3, 1, 1, 4, 4), np.uint8)
    x[0, 0, 0, 0, 0] = 1  # corner: 4 output positions x 2 channels
    x[1, 0, 0, 0, 1] = 1  # edge: 6 x 2
    x[2, 0, 0, 1, 1] = 1  # interior: 9 x 2
    assert LoihiEmulator(net).run(x).counts["synaptic_ops"][0, :, 0].tolist() == [8, 12, 18]


def test_conv_is_torch_correlation_delivered_next_step() -> None:
    weight = np.arange(9).reshape(1, 1, 3, 3) - 4
    net = [
        NetxLayer(type="input", shape=(1, 3, 3), neuron=relay_neuron()),
        NetxLayer(type="conv", shape=(1, 1, 1), weight=weight, neuron=CubaNeuron(4096, 4095, READOUT_VTH_MANT)),
    ]
    x = np.zeros((2, 1, 1, 3, 3), np.uint8)
    x[0, 0, 0, 0, 2] = 1  # top-right pixel meets weight[0, 0, 0, 2] = -2 in a correlation
    r = LoihiEmulator(net).run(x)
    assert r.v_out[:, 0, 0, 0, 0].tolist() == [0, -2 << 6]


def test_int32_overflow_is_refused_naming_layer() -> None:
    with pytest.raises(ValueError, match=r"layer 1 \(fc\): largest input 35700000 << 6 overflows"):
        LoihiEmulator(_dense_net(np.full((1, 140000), 255), vth=1, n_in=140000))


def test_batch_samples_are_independent_and_input_shape_checked() -> None:
    emu = LoihiEmulator(random_network(4))
    x = random_spikes(5, 10, 3, (2, 12, 12))
    joint = emu.run(x)
    alone = emu.run(x[:, 1:2])
    assert torch.equal(joint.v_out[:, 1:2], alone.v_out)
    assert all(torch.equal(a[:, 1:2], b) for a, b in zip(joint.spikes, alone.spikes, strict=True))
    assert joint.spikes[0].any() and joint.spikes[3].any()
    with pytest.raises(ValueError, match=r"input spikes must be \(T, B, 2, 12, 12\)"):
        emu.run(x[:, :, :1])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu() -> None:
    layers = random_network(6)
    x = random_spikes(7, 12, 4, (2, 12, 12))
    cpu, gpu = LoihiEmulator(layers).run(x), LoihiEmulator(layers, device="cuda").run(x)
    assert torch.equal(cpu.v_out, gpu.v_out.cpu())
    assert all(torch.equal(a, b.cpu()) for a, b in zip(cpu.spikes, gpu.spikes, strict=True))
    assert all(torch.equal(cpu.counts[k], gpu.counts[k].cpu()) for k in cpu.counts)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_streaming_matches_cpu() -> None:
    layers = random_network(8, vth_range=(1, 40))
    x = random_spikes(9, 12, 3, (2, 12, 12), rate=0.35)
    cpu, gpu = LoihiEmulator(layers), LoihiEmulator(layers, device="cuda")
    s_cpu, s_gpu = cpu.zero_state(3), gpu.zero_state(3)
    for k in range(3):
        a, b = cpu.run_aligned(x[4 * k:4 * k + 4], s_cpu), gpu.run_aligned(x[4 * k:4 * k + 4], s_gpu)
        s_cpu, s_gpu = a.state, b.state
        assert torch.equal(a.readout_v, b.readout_v.cpu()), k
        assert all(torch.equal(p, q.cpu()) for p, q in zip(a.spikes, b.spikes, strict=True)), k
        assert all(torch.equal(a.counts[n], b.counts[n].cpu()) for n in a.counts), k
    assert torch.equal(s_cpu.v[-1], s_gpu.v[-1].cpu())
