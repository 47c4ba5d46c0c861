"""The block-wise emulator (compiled CPU LIF loop, torch loop elsewhere) equals a step-by-step reference built from
``lif_step`` and plain integer convolutions, including wrap/clip edge cases and any block size."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from had_snn.conversion.emulator import LoihiEmulator, lava_dense_weights, lif_step, signed_wrap
from had_snn.conversion.random_net import random_network, random_spikes
from had_snn.hardware.cuba_kernels import lif_block, spike_counts
from had_snn.hardware.netx import NetxLayer


def _reference(layers, spikes: np.ndarray) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Step-major int64 reference: every layer at step t gets last step's synaptic sum of the layer below."""
    x = torch.as_tensor(spikes).to(torch.int64)
    syn_layers = [lay for lay in layers[1:] if lay.has_synapse]
    in_shapes = [layers[i - 1].shape for i, lay in enumerate(layers) if i and lay.has_synapse]  # a flatten included
    n_steps, batch = x.shape[:2]
    state = [[torch.zeros((batch, *lay.shape), dtype=torch.int64)] * 3 for lay in syn_layers]
    out = [torch.zeros((n_steps, batch, *lay.shape), dtype=torch.bool) for lay in syn_layers]
    v_out = torch.zeros((n_steps, batch, *syn_layers[-1].shape), dtype=torch.int64)
    for t in range(n_steps):
        s = x[t]
        for li, lay in enumerate(syn_layers):
            u, v, a_in = state[li]
            s = s.reshape(batch, *in_shapes[li])
            if lay.type == "dense":
                w = torch.as_tensor(lava_dense_weights(lay.weight))
                buf = (s.flatten(1) @ w.T).view(-1, *lay.shape)
            else:
                w = torch.as_tensor(lay.weight, dtype=torch.float64)
                conv = F.conv2d(s.double(), w, stride=lay.stride, padding=lay.padding, groups=lay.groups)
                buf = signed_wrap(conv.round().to(torch.int64), 24)
            bias = torch.zeros(lay.shape[0], dtype=torch.int64) if lay.bias is None else torch.as_tensor(lay.bias)
            n = lay.neuron
            u, v, spk = lif_step(u, v, a_in, n.du, n.dv, (bias << 6).view(1, -1, 1, 1), n.vth_mant)
            state[li] = [u, v, buf]
            out[li][t] = spk
            s = spk.to(torch.int64)
        v_out[t] = state[-1][1]
    return out, v_out


@pytest.mark.parametrize(("max_block_bytes", "steps_per_block"),
                         [(1, 1), (60_000, 2), (1 << 28, 9709), (1 << 25, 1213)])
def test_blocks_equal_step_by_step_reference(max_block_bytes, steps_per_block) -> None:
    layers = random_network(3, weight_max=255, vth_range=(1, 20))  # small thresholds: u wraps, v clips
    x = random_spikes(8, 9, 3, layers[0].shape, rate=0.4)
    emu = LoihiEmulator(layers, max_block_bytes=max_block_bytes)
    res = emu.run(x)
    ref_spikes, ref_v = _reference(layers, x)
    assert [torch.equal(a, b) for a, b in zip(res.spikes, ref_spikes, strict=True)] == [True] * 5
    assert torch.equal(res.v_out, ref_v)
    assert all(s.any() for s in res.spikes[:-1]) and res.v_out.abs().max() > 0
    assert emu.block_steps(3) == steps_per_block  # widest layer: 4 x 12 x 12 neurons, 16 bytes each per sample


@pytest.mark.parametrize("compiled", [True, False])
def test_conv_after_flatten_and_channel_orders_equal_reference(compiled: bool) -> None:
    """The emulator runs neurons channel-last inside: a 1x1 conv over a flatten (its channels are the flattened conv
    neurons, channel-first) and a dense after it see the channel-first order; outputs and states come back so."""
    layers = random_network(5, weight_max=255, vth_range=(1, 20))
    fc1 = layers[5]
    n_in = layers[4].num_neurons
    layers[5] = NetxLayer(type="conv", shape=fc1.shape, weight=fc1.weight.reshape(-1, n_in, 1, 1), bias=fc1.bias,
                          neuron=fc1.neuron, name="fc1_as_conv")
    x = random_spikes(2, 7, 2, layers[0].shape, rate=0.4)
    emu = LoihiEmulator(layers, compiled=compiled)
    res = emu.run(x)
    ref_spikes, ref_v = _reference(layers, x)
    assert [torch.equal(a, b) for a, b in zip(res.spikes, ref_spikes, strict=True)] == [True] * 5
    assert torch.equal(res.v_out, ref_v) and res.v_out.abs().max() > 0
    # the state is channel-first: continuing equals running the whole input
    first = emu.run(x[:3])
    second = emu.run(x[3:], first.state)
    assert torch.equal(torch.cat([first.v_out, second.v_out]), res.v_out)
    st = second.state
    assert all(torch.equal(last, s[-1].reshape(2, -1)) for last, s in zip(st.last_spikes, res.spikes, strict=True))
    assert torch.equal(st.v[-1], res.v_out[-1].reshape(2, -1))  # the read-out's v, channel-first
    counts = emu.count_ops(x, [s.contiguous() for s in res.spikes])
    assert all(torch.equal(counts[k], res.counts[k]) for k in counts)


def test_compiled_lif_equals_lif_step_at_wrap_and_clip_limits() -> None:
    rng = np.random.default_rng(0)
    n_steps, batch, n = 7, 2, 64
    a_in = rng.integers(-(1 << 18), 1 << 18, size=(n_steps - 1, batch, n))  # << 6 reaches past the 24-bit limits
    a_in[:, :, :4] = [(1 << 17), -(1 << 17), (1 << 17) + 1, -(1 << 17) - 1]  # exactly +-2**23 and one past
    bias = (rng.integers(-4096, 4096, size=n) << 6).astype(np.int64)
    u, v = np.zeros((batch, n), np.int64), np.zeros((batch, n), np.int64)
    spikes, v_rec = np.zeros((n_steps, batch, n), bool), np.zeros((n_steps, batch, n), np.int64)
    du, dv, vth_mant = 410, 3, 900
    lif_block(a_in, 1, u, v, 4096 - (du + 1), 4096 - dv, bias, vth_mant << 6, spikes, v_rec)
    tu = tv = torch.zeros((batch, n), dtype=torch.int64)
    for t in range(n_steps):
        a = torch.as_tensor(a_in[t - 1]) if t else torch.zeros_like(tu)
        tu, tv, ts = lif_step(tu, tv, a, du, dv, torch.as_tensor(bias), vth_mant)
        assert torch.equal(torch.as_tensor(spikes[t]), ts) and torch.equal(torch.as_tensor(v_rec[t]), tv), t
    assert np.array_equal(u, tu.numpy()) and np.array_equal(v, tv.numpy())
    assert spikes.any() and (np.abs(v_rec) == (1 << 23) - 1).any()  # fired and clipped
    assert (np.abs(u) > (1 << 22)).any()


def test_spike_counts_weight_by_fanout() -> None:
    spikes = np.array([[[1, 0, 1], [0, 0, 0]], [[1, 1, 1], [0, 1, 0]]], dtype=bool)
    n_spikes, ops = np.zeros((2, 2), np.int64), np.zeros((2, 2), np.int64)
    spike_counts(spikes, np.array([2, 3, 5]), n_spikes, ops)
    assert n_spikes.tolist() == [[2, 0], [3, 1]] and ops.tolist() == [[7, 0], [10, 3]]


def test_counts_accept_lava_style_uint8_spikes() -> None:
    layers = random_network(1)
    x = random_spikes(2, 6, 2, layers[0].shape, rate=0.3)
    emu = LoihiEmulator(layers)
    res = emu.run(x)
    again = emu.count_ops(x, [s.numpy().astype(np.uint8) for s in res.spikes])
    assert all(torch.equal(res.counts[k], again[k]) for k in res.counts)
    assert torch.equal(res.counts["output_spikes"][:-1], res.counts["input_spikes"][1:])
    assert res.counts["synaptic_ops"][0].sum() > res.counts["input_spikes"][0].sum() > 0


def _equal_runs(a, b) -> bool:
    return (all(torch.equal(x, y) for x, y in zip(a.spikes, b.spikes, strict=True)) and torch.equal(a.v_out, b.v_out)
            and all(torch.equal(a.counts[k], b.counts[k]) for k in a.counts))


@pytest.mark.parametrize("compiled", [True, False], ids=["numba", "torch"])
def test_run_continues_from_its_state_bit_for_bit(compiled) -> None:
    layers = random_network(5, vth_range=(1, 40))
    x = random_spikes(9, 11, 2, layers[0].shape, rate=0.35)
    emu = LoihiEmulator(layers, compiled=compiled, max_block_bytes=60_000)  # blocks of 2 steps: seams inside runs
    full = emu.run(x)
    first = emu.run(x[:4])
    kept = first.state.clone()
    second = emu.run(x[4:], first.state)
    assert first.state.steps == 4 and second.state.steps == 11
    joined = type(full)(full.layer_names, [torch.cat([a, b]) for a, b in zip(first.spikes, second.spikes, strict=True)],
                        torch.cat([first.v_out, second.v_out]),
                        {k: torch.cat([first.counts[k], second.counts[k]], dim=1) for k in full.counts})
    assert _equal_runs(full, joined)
    assert all(torch.equal(a, b) for a, b in zip(kept.u + kept.v, first.state.u + first.state.v, strict=True))
    assert all(torch.equal(a, b) for a, b in zip(full.state.u + full.state.v, second.state.u + second.state.v,
                                                 strict=True))
    assert all(s.any() for s in full.spikes[:-1])  # every hidden layer spikes: the seam carries real activity
    other = LoihiEmulator(layers, compiled=not compiled).run(x)
    assert _equal_runs(full, other)  # numba and torch loops agree
    with pytest.raises(ValueError, match="state holds 2 streams, the input has batch 1"):
        emu.run(x[:, :1], first.state)


@pytest.mark.parametrize("compiled", [True, False], ids=["numba", "torch"])
def test_run_aligned_reset_is_the_flushed_run_sliced(compiled) -> None:
    layers = random_network(6, vth_range=(1, 40))
    x = random_spikes(10, 4, 3, layers[0].shape, rate=0.35)
    emu = LoihiEmulator(layers, compiled=compiled)
    fill = emu.fill_steps
    ref = emu.run(emu.flushed(torch.as_tensor(x)))
    res = emu.run_aligned(x)
    assert res.state is None and res.billed_steps == 4 + fill
    assert torch.equal(res.readout_v, ref.v_out[fill:fill + 4])
    for li, (a, b) in enumerate(zip(res.spikes, ref.spikes, strict=True), start=1):
        assert torch.equal(a, b[li:li + 4]), li
    assert all(torch.equal(res.counts[k], ref.counts[k]) for k in ref.counts)


@pytest.mark.parametrize("compiled", [True, False], ids=["numba", "torch"])
@pytest.mark.parametrize("n_steps", [3, 7])  # fewer and more input steps than the 5 pipeline steps
def test_streaming_frames_equal_one_continuous_run(compiled, n_steps) -> None:
    layers = random_network(7, vth_range=(1, 40))
    n_frames = 3
    x = random_spikes(11, n_frames * n_steps, 2, layers[0].shape, rate=0.35)
    emu = LoihiEmulator(layers, compiled=compiled)
    fill = emu.fill_steps
    cont = emu.run(emu.flushed(torch.as_tensor(x)))  # the frames back to back, then the drain
    stream = emu.zero_state(2)
    per_frame = []
    for k in range(n_frames):
        res = emu.run_aligned(x[k * n_steps:(k + 1) * n_steps], stream)
        assert res.billed_steps == n_steps and res.state.steps == (k + 1) * n_steps
        stream = res.state
        t0 = k * n_steps
        assert torch.equal(res.readout_v, cont.v_out[t0 + fill:t0 + fill + n_steps]), k
        for li, s in enumerate(res.spikes, start=1):
            assert torch.equal(s, cont.spikes[li - 1][t0 + li:t0 + li + n_steps]), (k, li)
        per_frame.append(res.counts)
    for key in cont.counts:
        assert torch.equal(torch.cat([c[key] for c in per_frame], dim=1), cont.counts[key][:, :n_frames * n_steps])
    reset = emu.run_aligned(x[n_steps:2 * n_steps])  # frame 1 from the zero state differs from frame 1 in the stream
    assert not torch.equal(reset.readout_v, cont.v_out[n_steps + fill:2 * n_steps + fill])
