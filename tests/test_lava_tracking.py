"""Whole sequences tracked in stream mode with the network in real Lava (one graph per sequence): boxes, scores and
billed counts identical to the emulated stream tracker's; the session's errors are named."""

from __future__ import annotations

import json

import numpy as np
import pytest

from had_snn.conversion.random_net import random_network
from had_snn.data.synthetic import SynthConfig, generate_sequence
from had_snn.hardware.deploy import LavaRunFailed, lava_available
from had_snn.hardware.lava_stream import LavaStream
from had_snn.tracking.lava_tracker import LavaStreamStudent, LavaStreamTracker
from had_snn.tracking.loihi import EmulatedStudent, EmulatedTracker
from had_snn.tracking.online import base_network, template_spikes
from had_snn.tracking.tracker import crop_config_for, init_box
from tests.conftest import tiny_student
from tests.test_track import STEPS, _track, converted, work  # noqa: F401, F811 - fixtures shared with the track tests

LAVA_OK, LAVA_REASON = lava_available()
pytestmark = [pytest.mark.lava, pytest.mark.skipif(not LAVA_OK, reason=f"Lava venv unavailable: {LAVA_REASON}")]


@pytest.fixture(scope="module")
def setup():
    """Two tiny synthetic sequences (7 frames, 64x48 px) and a tiny student whose convs are scaled so it fires."""
    seqs = [generate_sequence(SynthConfig(width_px=64, height_px=48, duration_s=0.22, fps=30), seed=s,
                              attributes=("fast_motion",), name=f"s{s}") for s in (3, 4)]
    student = tiny_student(conv_gain=8)
    crop = crop_config_for(student, int(STEPS))
    from had_snn.conversion.quantize import template_kernel_for

    kernel = template_kernel_for(student, template_spikes(seqs[0], init_box(seqs[0]), crop))
    assert kernel.abs().max() > 0, "the template must not be silent for this test to mean something"
    return seqs, student, crop, base_network(student, 100.0, kernel)


@pytest.mark.slow
def test_lava_tracks_whole_sequences_as_the_emulated_stream_tracker(setup) -> None:
    seqs, student, crop, qnet = setup
    emulated = EmulatedTracker(EmulatedStudent(student, qnet, mode="stream"), crop)
    with LavaStream(timeout_s=300) as lava:
        tracker = LavaStreamTracker(LavaStreamStudent(student, qnet, lava), crop)
        assert tracker.crop_lag_frames == emulated.crop_lag_frames == 3 and tracker.windows_ahead == 2
        for seq in seqs:
            ours = np.empty((seq.num_frames, 4))
            ours[0] = tracker.initialize(seq)
            theirs = emulated.track(seq)
            scores = []
            for k in range(1, seq.num_frames):
                ours[k] = tracker.update(k)
                scores.append(tracker.last_score)
            assert seq.num_frames >= 6
            np.testing.assert_array_equal(ours, theirs)
            assert np.isfinite(scores).all()
            assert lava.steps_open == 0  # the sequence's graph was closed after its last frame
        timing = dict(lava.timing_s)
    ours_counts, theirs_counts = tracker.emulated.counts(), emulated.emulated.counts()
    for key in ours_counts:
        np.testing.assert_array_equal(ours_counts[key], theirs_counts[key], err_msg=key)
    assert ours_counts["synaptic_ops"].sum() > 0
    assert timing["build_s"] > 0 and timing["start_s"] > 0 and timing["run_s"] > 0


def test_frames_must_come_in_order(setup) -> None:
    seqs, student, crop, qnet = setup
    with LavaStream(timeout_s=300) as lava:
        tracker = LavaStreamTracker(LavaStreamStudent(student, qnet, lava), crop)
        tracker.initialize(seqs[0])
        with pytest.raises(ValueError, match="expected frame 1, got 2"):
            tracker.update(2)


def test_session_errors_name_what_was_wrong(tmp_path) -> None:
    layers = random_network(0)
    with LavaStream(timeout_s=300) as lava:
        lava.open(layers, steps=3)
        spikes, v = lava.feed(np.zeros((2, *layers[0].shape), np.uint8))
        assert v.shape[0] == 2 and len(spikes) == sum(layer.has_synapse for layer in layers)
        with pytest.raises(ValueError, match=r"\(steps, C, H, W\)"):
            lava.feed(np.zeros(layers[0].shape, np.uint8))
        with pytest.raises(LavaRunFailed, match="opened for 3 steps; 2 fed, 2 more given"):
            lava.feed(np.zeros((2, *layers[0].shape), np.uint8))
        with pytest.raises(LavaRunFailed, match="had ended before feed"):  # the session cannot go on after that
            lava.feed(np.zeros((1, *layers[0].shape), np.uint8))


@pytest.mark.slow
def test_track_and_eval_with_backend_lava_write_the_emulated_stream_boxes(work, converted, tmp_path,  # noqa: F811
                                                                          capsys) -> None:
    """`track --backend lava` and `eval --backend lava` on a converted network: the boxes of the emulated stream
    tracker, written the same way; track.json names the backend and Lava's timings."""
    from had_snn.cli import main
    from had_snn.tracking.tracker import read_otb

    assert main(_track(work, tmp_path / "emu", "--checkpoint", str(converted), "--loihi-mode", "stream")) == 0
    capsys.readouterr()
    assert main(_track(work, tmp_path / "lava", "--checkpoint", str(converted), "--backend", "lava")) == 0
    out = capsys.readouterr().out
    assert "Loihi mode stream on the lava: 4 steps billed per frame" in out and "Lava: startup" in out
    assert (tmp_path / "lava" / "boxes.txt").read_text() == (tmp_path / "emu" / "boxes.txt").read_text()
    meta = json.loads((tmp_path / "lava" / "track.json").read_text())
    assert meta["chip_backend"] == "lava" and meta["loihi_mode"] == "stream"
    assert meta["lava_timing_s"]["run_s"] > 0 and meta["lava_timing_s"]["start_s"] > 0
    bench = work["root"] / "bench"
    assert main(["eval", "--tracker", f"lava={converted}", "--data", str(bench), "--out", str(tmp_path / "ev"),
                 "--steps", STEPS, "--backend", "lava", "--no-plots"]) == 0
    np.testing.assert_array_equal(read_otb(tmp_path / "ev" / "boxes" / "lava" / "s.txt"),
                                  read_otb(tmp_path / "emu" / "boxes.txt"))


def test_backend_lava_refuses_reset_mode_and_float_checkpoints(work, converted, tmp_path, capsys) -> None:  # noqa: F811
    from had_snn.cli import main

    capsys.readouterr()
    assert main(_track(work, tmp_path / "r", "--checkpoint", str(converted), "--backend", "lava",
                       "--loihi-mode", "reset")) == 1
    assert "--backend lava runs the chip's stream mode" in capsys.readouterr().err
    assert main(_track(work, tmp_path / "f", "--checkpoint", str(work["student"]), "--backend", "lava")) == 1
    assert "not the float student" in capsys.readouterr().err
