"""`had-snn windows` cuts real spike windows that convert and deploy accept (the README's Loihi tour)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from had_snn.cli import main
from had_snn.data.io import write_sequence
from had_snn.data.synthetic import SynthConfig, generate_sequence


@pytest.fixture(scope="module")
def seq_path(tmp_path_factory):
    cfg = SynthConfig(width_px=64, height_px=48, duration_s=0.2, fps=30)
    path = tmp_path_factory.mktemp("seq") / "s.h5"
    write_sequence(path, generate_sequence(cfg, seed=3, attributes=("fast_motion",), name="s"))
    return path


def test_windows_convert_deploy_energy(tmp_path, seq_path, firing_tiny_student) -> None:
    firing_tiny_student(tmp_path / "s.pt")  # an untrained student is nearly silent on sparse real events
    win = tmp_path / "win.npz"
    assert main(["windows", str(seq_path), "--out", str(win), "--frames", "1", "3", "--checkpoint",
                 str(tmp_path / "s.pt"), "--steps", "4"]) == 0
    with np.load(win) as f:
        assert f["template_spikes"].shape == (4, 1, 2, 16, 16)
        assert f["search_spikes"].shape == (4, 2, 2, 32, 32)
        assert f["frames"].tolist() == [1, 3]
        assert set(np.unique(f["search_spikes"])) <= {0, 1} and f["search_spikes"].sum() > 0
    assert main(["convert", str(tmp_path / "s.pt"), "--out", str(tmp_path / "cv"), "--to", "netx", "--steps", "4",
                 "--template", str(win), "--search", str(win)]) == 0
    report = json.loads((tmp_path / "cv" / "quantization.json").read_text())
    assert report["inputs"]["template"] == str(win)
    assert main(["deploy", str(tmp_path / "cv"), "--input", str(win)]) == 0
    counts = json.loads((tmp_path / "cv" / "deploy_emulator" / "counts.json").read_text())
    # T = 4 steps carry the windows (newer counts files add the pipeline's fill steps to "steps")
    assert counts["frames"] == 2 and counts.get("input_steps", counts["steps"]) == 4


def test_windows_errors_name_the_problem(tmp_path, seq_path, capsys) -> None:
    assert main(["windows", str(seq_path), "--out", str(tmp_path / "w.npz"), "--frames", "99"]) == 1
    assert "--frames [99]" in capsys.readouterr().err
    assert main(["windows", str(tmp_path / "missing.h5"), "--out", str(tmp_path / "w.npz")]) == 1
    assert "missing.h5" in capsys.readouterr().err


def test_spike_windows_cut_around_the_gt_boxes(seq_path) -> None:
    from had_snn.data.io import read_sequence
    from had_snn.tracking.config import CropConfig
    from had_snn.tracking.crop import crop_inputs
    from had_snn.tracking.windows import spike_windows

    seq, crop = read_sequence(seq_path), CropConfig(template_px=16, search_px=32, student_steps=4)
    template, search = spike_windows(seq, crop, [2, 1])
    assert template.shape == (4, 1, 2, 16, 16) and search.shape == (4, 2, 2, 32, 32)
    by_hand = crop_inputs(seq, 1, seq.boxes[1].astype(np.float64), crop.search_context, crop.search_px, crop)
    np.testing.assert_array_equal(search[:, 1], by_hand["spikes"])
    only_template, empty = spike_windows(seq, crop)
    np.testing.assert_array_equal(only_template, template)
    assert empty.shape == (4, 0, 2, 32, 32)
    with pytest.raises(ValueError, match=r"frames \[-1\]"):
        spike_windows(seq, crop, [-1])
