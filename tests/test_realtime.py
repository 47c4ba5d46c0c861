"""Real-time (latency-aware) scoring: each box against the ground truth at the time it exists."""

from __future__ import annotations

import json

import numpy as np
import pytest

from had_snn.cli import main
from had_snn.data.synthetic import SynthConfig, generate_sequence
from had_snn.evaluation.realtime import (
    Latency,
    availability_us,
    chip_latency,
    measured_latency,
    realtime_score,
    tracker_latency,
)
from had_snn.tracking.loihi import EmulatedStudent, EmulatedTracker
from had_snn.tracking.online import base_network, template_spikes
from had_snn.tracking.tracker import StaticTracker, crop_config_for, init_box
from tests.conftest import tiny_student
from tests.test_eval_cli import _eval, work  # noqa: F401 - the eval CLI's benchmark and checkpoints


@pytest.fixture(scope="module")
def seq():
    return generate_sequence(SynthConfig(width_px=64, height_px=48, duration_s=0.3, fps=30), seed=3,
                             attributes=("fast_motion",), name="s")


def test_a_box_is_scored_against_the_ground_truth_when_it_exists(seq) -> None:
    t = availability_us(seq, 5000.0)
    assert t[0] == seq.frame_t_us[0] and np.array_equal(t[1:], seq.frame_t_us[1:] + 5000.0)
    # boxes that are the ground truth 5 ms later score perfectly at 5 ms latency, less at none
    later = seq.box_at(t)
    assert realtime_score(later, seq, 5000.0).auc == pytest.approx(realtime_score(seq.boxes, seq, 0.0).auc)
    assert realtime_score(later, seq, 0.0).auc < realtime_score(later, seq, 5000.0).auc
    # the frame boxes themselves lose as the latency grows (the target moves)
    sr = [realtime_score(seq.boxes, seq, lat).auc for lat in (0.0, 20000.0, 60000.0)]
    assert sr[0] > sr[1] > sr[2]


def test_latency_sources() -> None:
    assert measured_latency(float("nan")) is None and measured_latency(0.0) is None
    lat = measured_latency(25.0)
    assert lat.us == pytest.approx(40000.0) and "1 / 25 frames/s" in lat.source
    static = tracker_latency(StaticTracker(), float("nan"), 33333.0)
    assert static == Latency(0.0, "none: the baseline runs no model")


def test_chip_latency_of_an_emulated_tracker_per_mode(seq) -> None:
    student = tiny_student(conv_gain=8)
    crop = crop_config_for(student, 4)
    from had_snn.conversion.quantize import template_kernel_for

    qnet = base_network(student, 100.0, template_kernel_for(student, template_spikes(seq, init_box(seq), crop)))
    lat = {}
    for mode in ("reset", "stream"):
        tracker = EmulatedTracker(EmulatedStudent(student, qnet, mode=mode), crop)
        assert chip_latency(tracker, 33333.0) is None  # nothing billed yet
        tracker.track(seq)
        lat[mode] = chip_latency(tracker, 33333.0)
    # reset: T + L = 10 chip steps of tens of us; stream: L = 6 steps paced by the events (33.3 ms / 4 each)
    assert "reset: 10 steps x" in lat["reset"].source and 10 * 1.0 < lat["reset"].us < 10 * 1000.0
    step_us = float(lat["stream"].source.rsplit("one ", 1)[1].split(" us")[0])
    assert lat["stream"].us == pytest.approx(6 * 33333.0 / 4 + step_us, rel=1e-3)


def test_eval_latency_aware_reports_realtime_sr_and_keeps_it_on_resume(work, tmp_path, capsys) -> None:  # noqa: F811
    out = tmp_path / "ev"
    cv = tmp_path / "loihi"
    assert main(["convert", str(work["had"] / "last.pt"), "--out", str(cv), "--to", "netx"]) == 0
    assert _eval(work, out, "static", str(work["had"]), f"chip={cv}", extra=("--latency-aware",)) == 0
    report = json.loads((out / "results.json").read_text())
    rt = {name: t["realtime"] for name, t in report["trackers"].items()}
    assert rt["static"]["latency_us"] == 0.0
    assert rt["static"]["SR_AUC"] == pytest.approx(report["trackers"]["static"]["subsets"]["all"]["SR_AUC"])
    assert rt["had"]["latency_from"].startswith("measured on this machine")
    assert rt["had"]["latency_us"] == pytest.approx(1e6 / report["trackers"]["had"]["fps"])
    assert rt["chip"]["latency_from"].startswith("Loihi 1 model, reset")
    assert all(0.0 <= r["SR_AUC"] <= 1.0 for r in rt.values())
    table = (out / "results.md").read_text()
    assert "| Tracker | latency (ms) | latency from | SR (AUC) | real-time SR | real-time PR@20 |" in table
    stored = json.loads((out / "boxes" / "chip" / "tracker.json").read_text())["latency"]
    assert stored == {k: rt["chip"][k] for k in ("latency_us", "latency_from")}
    # resumed: no window runs, the latency kept in tracker.json scores the same boxes the same way
    assert _eval(work, out, f"chip={cv}", extra=("--latency-aware",)) == 0
    again = json.loads((out / "results.json").read_text())["trackers"]
    assert again["chip"]["realtime"] == rt["chip"] and again["had"]["realtime"]["SR_AUC"] == rt["had"]["SR_AUC"]
    # without the flag, no real-time block
    assert _eval(work, tmp_path / "plain", "static") == 0
    assert "realtime" not in json.loads((tmp_path / "plain" / "results.json").read_text())["trackers"]["static"]
