"""Bit-exact agreement of the torch emulator with Lava 0.10 ``Loihi2SimCfg(select_tag="fixed_pt")``."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from had_snn.conversion.chip_run import compare, run_network
from had_snn.conversion.emulator import LoihiEmulator
from had_snn.conversion.quantize import quantize_student
from had_snn.conversion.random_net import random_network, random_spikes
from had_snn.hardware.cuba import READOUT_VTH_MANT
from had_snn.hardware.deploy import lava_available
from had_snn.hardware.netx import CubaNeuron, NetxLayer, write_netx
from tests.conftest import tiny_student

LAVA_OK, LAVA_REASON = lava_available()
pytestmark = [pytest.mark.lava, pytest.mark.skipif(not LAVA_OK, reason=f"Lava venv unavailable: {LAVA_REASON}")]


def _assert_identical(layers: list[NetxLayer], spikes: np.ndarray, tmp_path) -> dict:
    """Lava and the emulator run ``spikes`` in reset mode through the chip-run service and agree at every step."""
    path = tmp_path / "net.h5"
    write_netx(path, layers)
    events: list[dict] = []
    lava = run_network(path, spikes, "lava", "reset", timeout_s=300, on_event=events.append)
    n_input, batch = spikes.shape[:2]
    n_steps = n_input + lava.fill_steps
    # the runner's progress arrived while it ran: start, then per window its phases and every step in order
    assert events[0] == {"event": "start", "samples": batch, "steps": n_steps}
    steps = [(e["sample"], e["step"]) for e in events if e["event"] == "step"]
    assert steps == [(b, t) for b in range(batch) for t in range(1, n_steps + 1)]
    assert [e["sample"] for e in events if e["event"] == "sample_done"] == list(range(batch))
    t = lava.timing_s
    assert t["wall_s"] >= t["first_step_s"] + t["run_s"]  # the parent timed the whole child
    emu = run_network(layers, spikes, "emulator", "reset")
    verdict = compare(lava, emu)
    bad = [(r["name"], r["first_mismatch"]) for r in verdict["layers"] if r["mismatches"]]
    assert verdict["identical"], f"first mismatches per layer: {bad}, read-out v: {verdict['v_out']}"
    assert all(np.array_equal(a, b) for a, b in zip(lava.spikes, emu.spikes, strict=True))
    np.testing.assert_array_equal(lava.v_out, emu.v_out)
    for k in lava.counts:  # counted from Lava's spikes: the emulator's own counts
        np.testing.assert_array_equal(lava.counts[k], emu.counts[k], err_msg=k)
    return {"lava": lava, "emu": emu}


@pytest.mark.parametrize("seed", [0, 1])
def test_random_conv_pool_dense_networks_agree_every_step(seed, tmp_path) -> None:
    layers = random_network(seed)
    spikes = random_spikes(100 + seed, 12, 2, layers[0].shape, rate=0.3)
    res = _assert_identical(layers, spikes, tmp_path)
    emu = res["emu"]
    assert all(s.any() for s in emu.spikes[:-1]), "every hidden layer should spike for the test to mean something"
    assert np.abs(emu.v_out).max() > 0


def test_wrap_and_clip_edge_cases_agree(tmp_path) -> None:
    # Dense from 64 always-on inputs with weight 254 (255 truncates): u grows by 254*64*64 per step and wraps past
    # 2**23 after 8 steps; v reaches the clip at 2**23 - 1, where the 17-bit read-out threshold (2**23 - 64) fires
    # and resets it; the second neuron is inhibitory-heavy and saturates at -(2**23 - 1).
    weight = np.stack([np.full(64, 255), np.r_[np.full(48, -256), np.full(16, 255)]])
    layers = [
        NetxLayer(type="input", shape=(64, 1, 1)),
        NetxLayer(
            type="dense", shape=(2, 1, 1), weight=weight, neuron=CubaNeuron(1, 0, READOUT_VTH_MANT), name="acc"
        ),
    ]
    spikes = np.ones((10, 1, 64, 1, 1), np.uint8)
    res = _assert_identical(layers, spikes, tmp_path)
    v = res["emu"].v_out[:, 0, :, 0, 0]
    assert res["emu"].spikes[0][:, 0, 0, 0, 0].any()  # neuron 0 reached the positive clip and fired
    assert v[:, 1].min() == -(1 << 23) + 1  # negative clip reached
    assert (v[:, 0] < 0).any()  # only the wrap of u can drive the purely excitatory neuron 0 negative


def test_quantised_student_search_window_agrees(tmp_path) -> None:
    student = tiny_student(conv_gain=3)
    g = torch.Generator().manual_seed(1)
    template = (torch.rand(8, 1, 2, 16, 16, generator=g) < 0.3).float()
    qnet = quantize_student(student, template)
    spikes = random_spikes(3, 10, 1, qnet.layers[0].shape, rate=0.3)
    res = _assert_identical(qnet.layers, spikes, tmp_path)
    assert [bool(s.any()) for s in res["emu"].spikes[:3]] == [True, True, True]


def test_stream_mode_agrees_with_the_emulator_stream(tmp_path) -> None:
    """Three frames in one Lava graph without reset (then the drain) equal the emulator's continuous run, and each
    frame's streaming ``run_aligned`` read-out is Lava's read-out at that frame's place in the stream."""
    layers = random_network(2, vth_range=(1, 60))
    write_netx(tmp_path / "net.h5", layers)
    frames = random_spikes(12, 4, 3, layers[0].shape, rate=0.3)
    lava = run_network(tmp_path / "net.h5", frames, "lava", "stream", timeout_s=300)
    ref = run_network(layers, frames, "emulator", "stream")
    fill = ref.fill_steps
    assert lava.v_out.shape[:2] == (3 * 4 + fill, 1)
    assert compare(lava, ref)["identical"]
    emu = LoihiEmulator(layers)
    state = emu.zero_state(1)
    for k in range(3):
        res = emu.run_aligned(frames[:, k:k + 1], state)
        state = res.state
        np.testing.assert_array_equal(res.readout_v.numpy(), lava.readout_aligned()[:, k:k + 1])
    assert all(s.any() for s in ref.spikes[:-1])
