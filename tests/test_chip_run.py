"""The chip-run service: every backend fed and aligned the same way (the Lava backends: test_lava_agreement.py,
test_lavadl_netx.py); here the emulator backend against the emulator's own frame-by-frame modes."""

from __future__ import annotations

import numpy as np
import pytest

from had_snn.conversion.chip_run import BACKENDS, chip_input, compare, run_network
from had_snn.conversion.emulator import LoihiEmulator
from had_snn.conversion.random_net import random_network, random_spikes
from had_snn.hardware.netx import write_netx

T, B = 4, 3


@pytest.fixture(scope="module")
def net():
    layers = random_network(2, in_shape=(2, 8, 8), channels=(3, 4), hidden=6, vth_range=(1, 60))
    return layers, random_spikes(7, T, B, layers[0].shape, rate=0.3)


def test_chip_input_flushes_each_window_or_chains_the_windows() -> None:
    frames = np.arange(T * B).reshape(T, B, 1, 1, 1) % 2
    reset, stream = chip_input(frames, 2, "reset"), chip_input(frames, 2, "stream")
    assert reset.shape == (T + 2, B, 1, 1, 1) and not reset[T:].any()
    np.testing.assert_array_equal(reset[:T], frames)
    assert stream.shape == (B * T + 2, 1, 1, 1, 1) and not stream[B * T:].any()
    np.testing.assert_array_equal(stream[T:2 * T, 0], frames[:, 1])  # frame 1 follows frame 0
    with pytest.raises(ValueError, match="chip mode"):
        chip_input(frames, 2, "burst")


def test_reset_run_is_the_emulators_per_window_run(net) -> None:
    layers, x = net
    run = run_network(layers, x, "emulator", "reset")
    fill = LoihiEmulator(layers).fill_steps
    assert (run.steps, run.fill_steps, run.billed_steps_per_frame) == (T + fill, fill, T + fill)
    aligned = LoihiEmulator(layers).run_aligned(x)
    np.testing.assert_array_equal(run.readout_aligned(), aligned.readout_v.numpy())
    for k, v in run.billed_counts().items():
        np.testing.assert_array_equal(v, aligned.counts[k].numpy(), err_msg=k)
    assert all(s.any() for s in run.spikes[:-1])


def test_stream_run_is_the_emulators_frame_by_frame_stream(net, tmp_path) -> None:
    layers, x = net
    write_netx(tmp_path / "net.h5", layers)
    run = run_network(tmp_path / "net.h5", x, "emulator", "stream")  # from the file, as deploy runs it
    emu = LoihiEmulator(layers)
    assert run.steps == B * T + emu.fill_steps and run.v_out.shape[1] == 1 and run.billed_steps_per_frame == T
    state, billed = emu.zero_state(1), run.billed_counts()
    for k in range(B):
        frame = emu.run_aligned(x[:, k:k + 1], state)
        state = frame.state
        np.testing.assert_array_equal(run.readout_aligned()[:, k:k + 1], frame.readout_v.numpy())
        for name, v in billed.items():  # each frame billed its T committed steps
            np.testing.assert_array_equal(v[:, :, k], frame.counts[name][:, :, 0].numpy(), err_msg=name)
    # the stream carries state: frame 1 differs from frame 1 run alone
    alone = run_network(layers, x, "emulator", "reset").readout_aligned()
    assert not np.array_equal(run.readout_aligned()[:, 1], alone[:, 1])


def test_compare_finds_the_first_mismatch(net) -> None:
    layers, x = net
    a, b = run_network(layers, x, "emulator", "reset"), run_network(layers, x, "emulator", "reset")
    assert compare(a, b)["identical"]
    b.spikes[1][2, 1] = ~b.spikes[1][2, 1]
    verdict = compare(a, b, names=("lava", "emulator"))
    row = verdict["layers"][1]
    assert not verdict["identical"] and row["mismatches"] == b.spikes[1][2, 1].size
    assert (row["first_mismatch"]["step"], row["first_mismatch"]["sample"]) == (2, 1)
    with pytest.raises(ValueError, match="different inputs"):
        compare(a, run_network(layers, x, "emulator", "stream"))


def test_bad_backend_and_input_are_refused(net) -> None:
    layers, x = net
    assert BACKENDS == ("emulator", "lava", "lava-dl")
    with pytest.raises(ValueError, match="chip backend must be one of"):
        run_network(layers, x, "loihi3")
    with pytest.raises(ValueError, match=r"input windows must be \(T, B, 2, 8, 8\)"):
        run_network(layers, x[:, :, :1])
