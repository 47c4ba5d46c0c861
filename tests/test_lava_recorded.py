"""The emulator against Lava's own fixed-point outputs, recorded once and committed, so the bit-exact check also runs
where no Lava venv can exist (never skipped).

``tests/fixtures/lava_recorded/`` holds a tiny network (input 2x6x6 -> conv 3 ch -> conv 2 ch stride 2 -> flatten ->
dense read-out; mixed-sign weights, biases, non-zero decays) as ``net.h5`` (written by ``write_netx``), 3 frames of
4 random input steps ``input.npz`` (``spikes`` (4, 3, 2, 6, 6)), and what Lava 0.10 ``Loihi2SimCfg(select_tag=
"fixed_pt")`` produced for them: ``lava_reset.npz`` (each frame from the zero state, 4 + L steps: ``spikes_<i>``
(4 + L, 3, C, H, W) per synaptic layer, ``v_out``) and ``lava_stream.npz`` (the 3 frames as one stream, 12 + L
steps, one sample).

Regenerate them (only when the network or the recording format changes on purpose) with the Lava venv present::

    .venv/bin/python -m tests.test_lava_recorded --regenerate

When the Lava venv exists, :func:`test_lava_still_matches_the_recording` re-runs Lava and checks it still produces
exactly the recorded arrays.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from had_snn.conversion.chip_run import run_network
from had_snn.conversion.emulator import LoihiEmulator
from had_snn.hardware.cuba import READOUT_VTH_MANT
from had_snn.hardware.deploy import lava_available
from had_snn.hardware.lava_runner import stream_of
from had_snn.hardware.netx import CubaNeuron, NetxLayer, read_netx, spike_arrays, write_netx

FIXTURES = Path(__file__).parent / "fixtures" / "lava_recorded"
N_STEPS, N_FRAMES = 4, 3


def tiny_network() -> list[NetxLayer]:
    """The recorded network (seeded): every hidden layer spikes on the recorded input."""
    rng = np.random.default_rng(13)
    return [
        NetxLayer(type="input", shape=(2, 6, 6), name="input"),
        NetxLayer(type="conv", shape=(3, 6, 6), weight=rng.integers(-120, 200, (3, 2, 3, 3)),
                  bias=np.array([30, -20, 5]), padding=(1, 1),
                  neuron=CubaNeuron(i_decay=1024, v_decay=512, vth_mant=600), name="conv1"),
        NetxLayer(type="conv", shape=(2, 3, 3), weight=rng.integers(-150, 220, (2, 3, 3, 3)), bias=np.array([-10, 12]),
                  padding=(1, 1), stride=(2, 2), neuron=CubaNeuron(i_decay=2048, v_decay=300, vth_mant=400),
                  name="conv2"),
        NetxLayer(type="flatten", shape=(18, 1, 1), name="flatten"),
        NetxLayer(type="dense", shape=(4, 1, 1), weight=rng.integers(-256, 255, (4, 18)), bias=np.array([3, -3, 0, 7]),
                  neuron=CubaNeuron(i_decay=700, v_decay=100, vth_mant=READOUT_VTH_MANT), name="readout"),
    ]


def tiny_input() -> np.ndarray:
    """3 frames of 4 steps, (T, frames, C, H, W) uint8."""
    return (np.random.default_rng(14).random((N_STEPS, N_FRAMES, 2, 6, 6)) < 0.35).astype(np.uint8)


def _load(name: str) -> dict[str, np.ndarray]:
    with np.load(FIXTURES / name) as f:
        return {k: f[k] for k in f.files}


def _check(recorded: dict[str, np.ndarray], spikes: list, v_out, what: str) -> None:
    for i, s in enumerate(spikes, start=1):
        s = np.asarray(s.cpu() if isinstance(s, torch.Tensor) else s)
        bad = np.argwhere(recorded[f"spikes_{i}"] != s)
        assert bad.size == 0, f"{what}: layer {i} differs from Lava first at (t, b, c, h, w) = {bad[0].tolist()}"
    v = np.asarray(v_out.cpu() if isinstance(v_out, torch.Tensor) else v_out)
    np.testing.assert_array_equal(recorded["v_out"], v, err_msg=f"{what}: read-out v differs from Lava")


def test_fixture_holds_the_network_and_input_built_here() -> None:
    layers, _ = read_netx(FIXTURES / "net.h5")
    for a, b in zip(layers, tiny_network(), strict=True):
        assert (a.type, a.shape, a.stride, a.padding, a.neuron, a.name) == (b.type, b.shape, b.stride, b.padding,
                                                                            b.neuron, b.name)
        assert (a.weight is None and b.weight is None) or np.array_equal(a.weight, b.weight)
    np.testing.assert_array_equal(_load("input.npz")["spikes"], tiny_input())
    assert sum(p.stat().st_size for p in FIXTURES.iterdir()) < 50_000


@pytest.mark.parametrize("compiled", [True, False], ids=["numba", "torch"])
def test_emulator_reproduces_lava_reset_and_stream(compiled) -> None:
    layers, _ = read_netx(FIXTURES / "net.h5")
    x = _load("input.npz")["spikes"]
    emu = LoihiEmulator(layers, compiled=compiled)
    reset, stream = _load("lava_reset.npz"), _load("lava_stream.npz")
    res = emu.run(emu.flushed(torch.as_tensor(x)))
    _check(reset, res.spikes, res.v_out, "reset")
    res = emu.run(stream_of(x, emu.fill_steps))
    _check(stream, res.spikes, res.v_out, "stream")
    assert all(reset[f"spikes_{i}"].any() for i in (1, 2)) and np.abs(stream["v_out"]).max() > 0
    # streaming frames differ from reset frames after the first: the recording tells the two modes apart
    fill = emu.fill_steps
    assert not np.array_equal(stream["v_out"][N_STEPS + fill:2 * N_STEPS + fill, 0], reset["v_out"][fill:, 1])
    # run_aligned in both modes reads the recorded read-out at each frame's place
    state = emu.zero_state(1)
    for k in range(N_FRAMES):
        r = emu.run_aligned(x[:, k:k + 1], state)
        state = r.state
        np.testing.assert_array_equal(r.readout_v.numpy(), stream["v_out"][k * N_STEPS + fill:(k + 1) * N_STEPS + fill])
    np.testing.assert_array_equal(emu.run_aligned(x).readout_v.numpy(), reset["v_out"][fill:])


LAVA_OK, LAVA_REASON = lava_available()


def _record_with_lava(net: Path, x: np.ndarray) -> dict[str, dict[str, np.ndarray]]:
    """Lava's outputs for ``x`` on the network file ``net``: reset (each frame flushed) and stream."""
    runs = {mode: run_network(net, x, "lava", mode, timeout_s=300) for mode in ("reset", "stream")}
    return {mode: {**spike_arrays(r.spikes), "v_out": r.v_out} for mode, r in runs.items()}


@pytest.mark.lava
@pytest.mark.skipif(not LAVA_OK, reason=f"Lava venv unavailable: {LAVA_REASON}")
def test_lava_still_matches_the_recording() -> None:
    runs = _record_with_lava(FIXTURES / "net.h5", _load("input.npz")["spikes"])
    for mode in ("reset", "stream"):
        recorded = _load(f"lava_{mode}.npz")
        assert sorted(recorded) == sorted(runs[mode])
        _check(recorded, [runs[mode][f"spikes_{i}"] for i in (1, 2, 3)], runs[mode]["v_out"], f"Lava now ({mode})")


def regenerate() -> None:
    """Write the network and input, run them in Lava, and store the recordings (needs the Lava venv)."""
    FIXTURES.mkdir(parents=True, exist_ok=True)
    write_netx(FIXTURES / "net.h5", tiny_network(), attrs={"purpose": "tests/test_lava_recorded.py"})
    x = tiny_input()
    np.savez_compressed(FIXTURES / "input.npz", spikes=x)
    for mode, arrays in _record_with_lava(FIXTURES / "net.h5", x).items():
        packed = {k: (v.astype(bool) if k.startswith("spikes_") else v.astype(np.int64)) for k, v in arrays.items()}
        np.savez_compressed(FIXTURES / f"lava_{mode}.npz", **packed)
        print(f"wrote {FIXTURES / f'lava_{mode}.npz'}: " + ", ".join(f"{k} {v.shape}" for k, v in packed.items()))


if __name__ == "__main__":
    if sys.argv[1:] != ["--regenerate"]:
        sys.exit("usage: python -m tests.test_lava_recorded --regenerate")
    regenerate()
