"""The emulated (Loihi fixed-point) tracker in reset and streaming mode: billed steps, the streaming crop lag, and
streaming read-outs equal to one continuous emulator run."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from had_snn.data.synthetic import SynthConfig, generate_sequence
from had_snn.models import build_model
from had_snn.tracking.loihi import EmulatedStudent, EmulatedTracker
from had_snn.tracking.online import base_network, template_spikes
from had_snn.tracking.tracker import crop_config_for, init_box
from tests.conftest import tiny_student

STEPS = 4


@pytest.fixture(scope="module")
def setup():
    """A tiny synthetic sequence (6 frames, 64x48 px) and a tiny student whose convs are scaled so it fires."""
    seq = generate_sequence(SynthConfig(width_px=64, height_px=48, duration_s=0.2, fps=30), seed=3,
                            attributes=("fast_motion",), name="s")
    student = tiny_student(conv_gain=8)
    crop = crop_config_for(student, STEPS)
    from had_snn.conversion.quantize import template_kernel_for

    kernel = template_kernel_for(student, template_spikes(seq, init_box(seq), crop))
    assert kernel.abs().max() > 0, "the template must not be silent for these tests to mean something"
    return seq, student, crop, base_network(student, 100.0, kernel)


def _tracker(setup, mode: str, crop_lag: int | None = None) -> tuple[EmulatedTracker, list, list]:
    """An emulated tracker in ``mode`` whose windows (search spikes, read-out) and crop boxes are recorded."""
    seq, student, crop, qnet = setup
    emulated = EmulatedStudent(student, qnet, mode=mode)
    tracker = EmulatedTracker(emulated, crop, crop_lag=crop_lag)
    windows, crops = [], []
    run_window, track_window = emulated.run_window, tracker._track_window

    def recording_run(search: torch.Tensor):
        membrane, counts = run_window(search)
        windows.append((search.clone(), membrane.clone()))
        return membrane, counts

    def recording_track(k: int, crop_box: np.ndarray) -> np.ndarray:
        crops.append((k, crop_box.copy()))
        return track_window(k, crop_box)

    emulated.run_window, tracker._track_window = recording_run, recording_track
    return tracker, windows, crops


def test_reset_bills_t_plus_l_and_stream_bills_t_per_frame(setup) -> None:
    seq = setup[0]
    n_layers = 6  # backbone x3, xcorr, head x2
    for mode, billed in (("reset", STEPS + n_layers), ("stream", STEPS)):
        tracker, windows, _ = _tracker(setup, mode)
        boxes = tracker.track(seq)
        assert boxes.shape == (seq.num_frames, 4) and np.isfinite(boxes).all()
        emulated = tracker.emulated
        assert emulated.latency_steps == n_layers and emulated.billed_steps(STEPS) == billed
        counts = emulated.counts()
        assert counts["neuron_updates"].shape == (n_layers, billed, seq.num_frames - 1) == (
            counts["synaptic_ops"].shape)
        assert counts["synaptic_ops"].sum() > 0 and len(windows) == seq.num_frames - 1


def test_stream_crop_lags_by_the_read_out_latency(setup) -> None:
    seq = setup[0]
    reset, _, reset_crops = _tracker(setup, "reset")
    stream, _, stream_crops = _tracker(setup, "stream")
    assert reset.crop_lag_frames == 1
    assert stream.crop_lag_frames == 1 + math.ceil(6 / STEPS) == 3
    for tracker, crops in ((reset, reset_crops), (stream, stream_crops)):
        boxes = tracker.track(seq)
        lag = tracker.crop_lag_frames
        assert [k for k, _ in crops] == list(range(1, seq.num_frames))
        for k, crop_box in crops:
            np.testing.assert_array_equal(crop_box, boxes[max(0, k - lag)])
    # the lag changes what the tracker sees: the streaming boxes are not the reset ones
    assert not np.array_equal(reset.track(seq), stream.track(seq))


def test_a_given_crop_lag_replaces_the_modes_own(setup) -> None:
    """The diagnostic override: reset mode with the stream's 3-frame lag, stream mode with a 1-frame lag."""
    seq = setup[0]
    for mode, lag in (("reset", 3), ("stream", 1)):
        tracker, _, crops = _tracker(setup, mode, crop_lag=lag)
        assert tracker.crop_lag_frames == lag
        boxes = tracker.track(seq)
        for k, crop_box in crops:
            np.testing.assert_array_equal(crop_box, boxes[max(0, k - lag)])
    seq_, student, crop, qnet = setup
    with pytest.raises(ValueError, match="crop_lag must be >= 1"):
        EmulatedTracker(EmulatedStudent(student, qnet), crop, crop_lag=0)
    fingerprinted = EmulatedTracker(EmulatedStudent(student, qnet), crop, fingerprint="f", crop_lag=3)
    assert "|crop_lag=3" in fingerprinted.fingerprint


def test_stream_read_outs_equal_one_continuous_emulator_run(setup) -> None:
    seq = setup[0]
    tracker, windows, _ = _tracker(setup, "stream")
    tracker.track(seq)
    emulated = tracker.emulated
    fill = emulated.latency_steps
    spikes = torch.cat([w for w, _ in windows])
    flushed = torch.cat([spikes, torch.zeros((fill, *spikes.shape[1:]))])
    v = emulated.emulator.run(flushed).v_out.double() / emulated.qnet.readout_scale
    assert v.abs().max() > 0
    for k, (_, membrane) in enumerate(windows):
        expected = v[k * STEPS + fill:(k + 1) * STEPS + fill].mean(0).float()
        torch.testing.assert_close(membrane, expected, rtol=0, atol=0)
    # a second track starts from the zero state again: the same boxes
    first = tracker.track(seq)
    np.testing.assert_array_equal(first, tracker.track(seq))


def test_unknown_mode_is_refused(setup) -> None:
    _, student, _, qnet = setup
    with pytest.raises(ValueError, match="--loihi-mode must be one of reset, stream"):
        EmulatedStudent(student, qnet, mode="pipelined")


def test_qat_float_tracker_and_emulated_tracker_give_identical_boxes(setup) -> None:
    """The QAT student's forward is the chip's integer arithmetic: tracked in float (reset per window, as
    ``ModelTracker`` runs it) and through the emulator of the network converted from it, every box is the same."""
    from had_snn.conversion.quantize import template_kernel_for
    from had_snn.tracking.tracker import ModelTracker

    seq, student, crop, _ = setup
    qat = build_model("student", widths=(4, 8, 8), head_channels=8, search_px=32, template_px=16, qat=True).eval()
    qat.load_state_dict(student.state_dict())
    kernel = template_kernel_for(qat, template_spikes(seq, init_box(seq), crop))
    emulated = EmulatedTracker(EmulatedStudent(qat, base_network(qat, 100.0, kernel), mode="reset"), crop)
    float_boxes = ModelTracker(qat, crop).track(seq)
    fixed_boxes = emulated.track(seq)
    assert not emulated.silent_sequences
    assert np.abs(np.diff(float_boxes[:, :2], axis=0)).max() > 0  # the tracker moves: the read-out decides something
    np.testing.assert_array_equal(float_boxes, fixed_boxes)


def test_fixed_point_trackers_share_one_network_and_bill_each_mode(setup) -> None:
    from had_snn.tracking.loihi import emulator_counts, fixed_point_trackers

    seq, student, crop, _ = setup
    trackers = fixed_point_trackers(student, [seq], crop, 100.0, 0.25, names={"reset": "r"})
    assert list(trackers) == ["reset", "stream"] and [t.name for t in trackers.values()] == ["r", "fixed_stream"]
    assert trackers["reset"].emulated.base is trackers["stream"].emulated.base
    assert (trackers["reset"].mode, trackers["stream"].mode) == ("reset", "stream")
    boxes = {mode: t.track(seq) for mode, t in trackers.items()}
    assert all(np.isfinite(b).all() for b in boxes.values())
    counts = emulator_counts(trackers, STEPS)
    assert counts["reset"]["mode"] == "reset" and counts["stream"]["mode"] == "stream"
    # reset bills T + L steps per frame, stream T (the timing contract of the emulator)
    assert counts["stream"]["steps"] == STEPS < counts["reset"]["steps"]
