"""experiments/stream_diagnostic.py: the 2 x 2 of chip mode x crop lag, each row the emulated tracker it names."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.test_eval_cli import work  # noqa: F401 - the eval CLI's benchmark and trained student

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "experiments"))
import stream_diagnostic  # noqa: E402


@pytest.fixture(scope="module")
def bench(tmp_path_factory) -> Path:
    """A two-sequence test split (the paired interval needs two)."""
    from had_snn.data.dataset import index_entry, write_index
    from had_snn.data.io import write_sequence
    from had_snn.data.synthetic import SynthConfig, generate_sequence

    root = tmp_path_factory.mktemp("sdbench")
    (root / "test").mkdir()
    entries = {}
    for s in (3, 4):
        seq = generate_sequence(SynthConfig(width_px=64, height_px=48, duration_s=0.2, fps=30), seed=s,
                                attributes=("fast_motion",), name=f"s{s}")
        write_sequence(root / "test" / f"s{s}.h5", seq)
        entries[f"s{s}"] = index_entry(seq, "test", f"test/s{s}.h5")
    write_index(root, {"test": list(entries)}, entries, {"test": True})
    return root


def test_rows_are_the_trackers_they_name(work, bench, tmp_path, capsys) -> None:  # noqa: F811
    from had_snn.data.dataset import load_split
    from had_snn.evaluation.metrics import score_sequence
    from had_snn.models.checkpoint import load_model
    from had_snn.tracking.loihi import fixed_point_trackers
    from had_snn.tracking.tracker import crop_config_for

    ckpt = work["had"] / "last.pt"
    out = tmp_path / "sd"
    assert stream_diagnostic.main(["--checkpoint", str(ckpt), "--data", str(bench), "--out", str(out),
                                   "--no-progress"]) == 0
    assert "| stream, 1-frame lag | 1 | the carried state alone" in capsys.readouterr().out
    rows = json.loads((out / "stream_diagnostic.json").read_text())["rows"]
    steps = 3  # the checkpoint's training T; L = 6 layers -> the stream lag is 1 + ceil(6 / 3) = 3 frames
    assert [(r["mode"], r["crop_lag"]) for r in rows] == [("reset", 1), ("reset", 3), ("stream", 3), ("stream", 1)]
    student = load_model(ckpt)
    seqs = load_split(bench, "test")
    trackers = fixed_point_trackers(student, seqs, crop_config_for(student, steps), 100.0, 0.25)
    for row, mode in ((rows[0], "reset"), (rows[2], "stream")):
        expected = [100 * score_sequence(trackers[mode].track(s), s.boxes, s.sensor_size).auc for s in seqs]
        np.testing.assert_allclose(row["per_sequence_SR"], expected)
    for row in rows[1:]:
        d = row["diff_vs_reference"]
        assert d["mean"] == pytest.approx(np.mean(np.subtract(row["per_sequence_SR"], rows[0]["per_sequence_SR"])))
        assert d["lo"] <= d["mean"] <= d["hi"]
    assert (out / "stream_diagnostic.md").read_text().count("\n|") == 6  # header, rule, 4 rows
    # one sequence: the differences without an interval
    one = tmp_path / "one"
    assert stream_diagnostic.main(["--checkpoint", str(ckpt), "--data", str(work["bench"]), "--out", str(one),
                                   "--no-progress"]) == 0
    assert json.loads((one / "stream_diagnostic.json").read_text())["rows"][1]["diff_vs_reference"]["lo"] is None


def test_a_teacher_checkpoint_is_refused(work, tmp_path, capsys) -> None:  # noqa: F811
    with pytest.raises(ValueError, match="expected a spiking student, got a teacher"):
        stream_diagnostic.main(["--checkpoint", str(work["teacher"] / "last.pt"), "--data", str(work["bench"]),
                                "--out", str(tmp_path / "x"), "--no-progress"])
