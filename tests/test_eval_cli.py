"""`had-snn eval` and `had-snn windows` read T and the crop from the checkpoint; trackers have names; a converted
network evaluates through the bit-exact emulator; another tracker's boxes are never silently overwritten."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from had_snn.cli import main
from had_snn.data.io import read_sequence, write_sequence
from had_snn.data.synthetic import SynthConfig, generate_sequence
from had_snn.tracking.tracker import read_otb

TRAIN_STEPS = 3  # the T recorded in the trained checkpoint's config (CropConfig's default is 8)


def _bench(root: Path, seq, name: str = "s") -> Path:
    from had_snn.data.dataset import index_entry, write_index

    (root / "test").mkdir(parents=True)
    write_sequence(root / "test" / f"{name}.h5", seq)
    write_index(root, {"test": [name]}, {name: index_entry(seq, "test", f"test/{name}.h5")}, {"test": True})
    return root


@pytest.fixture(scope="module")
def work(tmp_path_factory, firing_tiny_student):
    """A one-sequence benchmark (with frames and a copy without), a run folder whose last.pt records T = 3 in its
    training config, and a tiny RGB+event teacher run folder."""
    from had_snn.models import build_model
    from had_snn.models.checkpoint import model_state, save_checkpoint

    root = tmp_path_factory.mktemp("evalcli")
    seq = generate_sequence(SynthConfig(width_px=64, height_px=48, duration_s=0.2, fps=30), seed=3,
                            attributes=("fast_motion",), name="s")
    bench = _bench(root / "bench", seq)
    events_only = _bench(root / "bench_events", dataclasses.replace(seq, frames=None))
    plain = firing_tiny_student(root / "plain.pt")
    state = torch.load(plain, weights_only=True)
    state["train_config"] = {"data": {"crop": {"student_steps": TRAIN_STEPS}}}
    (root / "runs" / "had").mkdir(parents=True)
    torch.save(state, root / "runs" / "had" / "last.pt")
    torch.manual_seed(0)
    teacher = build_model("teacher", widths=(4, 8, 8), stem_channels=4, convs_per_stage=1, head_channels=8,
                          search_px=32, template_px=16)
    save_checkpoint(root / "runs" / "teacher" / "last.pt", model_state(teacher))
    return {"root": root, "bench": bench, "events_only": events_only, "had": root / "runs" / "had",
            "teacher": root / "runs" / "teacher", "seq": bench / "test" / "s.h5"}


def _eval(work, out: Path, *trackers: str, data: Path | None = None, extra: tuple[str, ...] = ()) -> int:
    argv = ["eval", "--data", str(data or work["bench"]), "--out", str(out), "--no-plots"]
    for t in trackers:
        argv += ["--tracker", t]
    return main([*argv, *extra])


def test_steps_come_from_the_checkpoint_and_an_override_says_so(work, tmp_path, capsys) -> None:
    capsys.readouterr()
    assert _eval(work, tmp_path / "a", str(work["had"])) == 0
    out = capsys.readouterr().out
    assert f"T = {TRAIN_STEPS} spike steps per window (from the checkpoint's training config)" in out
    assert "last.pt" in out  # the run folder resolved to its last.pt, and the output says so
    meta = json.loads((tmp_path / "a" / "boxes" / "had" / "tracker.json").read_text())
    assert f":T={TRAIN_STEPS}:" in meta["fingerprint"] and meta["source"] == str(work["had"] / "last.pt")
    # the same T given explicitly: the same boxes; another T: the output says it overrides the checkpoint
    assert _eval(work, tmp_path / "b", str(work["had"]), extra=("--steps", str(TRAIN_STEPS))) == 0
    assert (tmp_path / "a" / "boxes" / "had" / "s.txt").read_text() == \
        (tmp_path / "b" / "boxes" / "had" / "s.txt").read_text()
    capsys.readouterr()
    assert _eval(work, tmp_path / "c", str(work["had"]), extra=("--steps", "5")) == 0
    assert f"T = 5 spike steps per window (from --steps, overriding the checkpoint's training T = {TRAIN_STEPS})" \
        in capsys.readouterr().out
    assert ":T=5:" in json.loads((tmp_path / "c" / "boxes" / "had" / "tracker.json").read_text())["fingerprint"]


def test_windows_take_steps_from_the_checkpoint_and_append_npz(work, tmp_path, capsys) -> None:
    capsys.readouterr()
    assert main(["windows", str(work["seq"]), "--out", str(tmp_path / "win"), "--checkpoint", str(work["had"]),
                 "--frames", "1"]) == 0
    out, err = capsys.readouterr()
    assert "from the checkpoint's training config" in out and "writing" in err and "win.npz" in err
    assert not (tmp_path / "win").exists()  # never a 0-byte file under the name given
    assert sorted(p.name for p in tmp_path.iterdir()) == ["win.npz"]  # and no hidden temporary left behind
    with np.load(tmp_path / "win.npz") as f:
        assert f["template_spikes"].shape == (TRAIN_STEPS, 1, 2, 16, 16)
        assert f["search_spikes"].shape == (TRAIN_STEPS, 1, 2, 32, 32)
    assert main(["windows", str(work["seq"]), "--out", str(tmp_path), "--frames", "1"]) == 1
    assert "is a folder" in capsys.readouterr().err


def test_a_run_folder_means_best_pt_then_last_pt(work, tmp_path, capsys) -> None:
    run = tmp_path / "run_b"
    shutil.copytree(work["had"], run)
    shutil.copy(work["root"] / "plain.pt", run / "best.pt")  # records no T: CropConfig's default 8
    capsys.readouterr()
    assert _eval(work, tmp_path / "ev", str(run)) == 0
    out = capsys.readouterr().out
    assert "best.pt" in out and "T = 8" in out
    meta = json.loads((tmp_path / "ev" / "boxes" / "run_b" / "tracker.json").read_text())
    assert meta["source"] == str(run / "best.pt")
    empty = tmp_path / "empty"
    empty.mkdir()
    assert _eval(work, tmp_path / "ev2", str(empty)) == 1
    err = capsys.readouterr().err
    assert str(empty) in err and "best.pt" in err and "last.pt" in err and "student.h5" in err
    assert not (tmp_path / "ev2").exists()


def test_tracker_names_and_refusal_to_overwrite_another_tracker(work, tmp_path, capsys) -> None:
    out = tmp_path / "ev"
    teacher_pt, had_pt = str(work["teacher"] / "last.pt"), str(work["had"] / "last.pt")
    # two last.pt files: named by their run folders, not by argument order
    assert _eval(work, out, teacher_pt, had_pt) == 0
    assert sorted(p.name for p in (out / "boxes").iterdir()) == ["had", "teacher"]
    report = json.loads((out / "results.json").read_text())
    assert sorted(report["trackers"]) == ["had", "teacher"]
    teacher_boxes = (out / "boxes" / "teacher" / "s.txt").read_bytes()
    # the student under the teacher's name is refused before anything is written
    capsys.readouterr()
    assert _eval(work, out, f"teacher={had_pt}") == 1
    err = capsys.readouterr().err
    assert "--force" in err and str(out / "boxes" / "teacher") in err and teacher_pt in err and err.count("\n") == 1
    assert (out / "boxes" / "teacher" / "s.txt").read_bytes() == teacher_boxes
    assert json.loads((out / "boxes" / "teacher" / "tracker.json").read_text())["source"] == teacher_pt
    # the same tracker under its name resumes; a named copy goes to its own folder
    assert _eval(work, out, f"teacher={teacher_pt}", f"mine={had_pt}") == 0
    assert (out / "boxes" / "teacher" / "s.txt").read_bytes() == teacher_boxes
    assert (out / "boxes" / "mine" / "s.txt").read_text() == (out / "boxes" / "had" / "s.txt").read_text()
    # --force replaces them
    assert _eval(work, out, f"teacher={had_pt}", extra=("--force",)) == 0
    assert (out / "boxes" / "teacher" / "s.txt").read_text() == (out / "boxes" / "had" / "s.txt").read_text()
    assert json.loads((out / "boxes" / "teacher" / "tracker.json").read_text())["source"] == had_pt
    # names that collide or cannot be folder names
    capsys.readouterr()
    for trackers, words in (((had_pt, str(work["root"] / "runs" / "had")), ["'had'", "NAME=PATH"]),
                            ((f"../x={had_pt}",), ["NAME", "'../x'"]),
                            (("a=static", "a=static"), ["'a'"])):
        assert _eval(work, tmp_path / "ev3", *trackers) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and all(w in err for w in words), err
    assert not (tmp_path / "ev3").exists()


def test_teacher_on_a_dataset_without_frames_is_an_error(work, tmp_path, capsys) -> None:
    capsys.readouterr()
    assert _eval(work, tmp_path / "ev", str(work["teacher"]), data=work["events_only"]) == 1
    err = capsys.readouterr().err
    assert "'teacher'" in err and str(work["teacher"] / "last.pt") in err and "without frames" in err
    assert "(s)" in err and str(work["events_only"]) in err and err.count("\n") == 1
    assert not (tmp_path / "ev" / "boxes").exists()
    # a student needs no frames
    assert _eval(work, tmp_path / "ev", str(work["had"]), data=work["events_only"]) == 0


def test_eval_tracks_a_converted_network_as_track_does(work, tmp_path, capsys) -> None:
    cv = tmp_path / "loihi"
    assert main(["convert", str(work["had"] / "last.pt"), "--out", str(cv), "--to", "netx"]) == 0
    capsys.readouterr()
    assert _eval(work, tmp_path / "ev", str(cv)) == 0
    out = capsys.readouterr().out
    assert "student.h5" in out and "netx student (emulator)" in out and f"T = {TRAIN_STEPS}" in out
    boxes = tmp_path / "ev" / "boxes" / "loihi" / "s.txt"
    seq = read_sequence(work["seq"], load_frames=False)
    init = [repr(float(v)) for v in seq.boxes[0]]
    assert main(["track", str(work["seq"]), "--init", *init, "--checkpoint", str(cv / "student.h5"),
                 "--out", str(tmp_path / "tr"), "--no-progress"]) == 0
    assert boxes.read_text() == (tmp_path / "tr" / "boxes.txt").read_text()
    emulated = read_otb(boxes)
    assert emulated.shape == (seq.num_frames, 4) and np.isfinite(emulated).all()
    # the float student tracks close to, but not bit-identically with, its fixed-point network
    assert _eval(work, tmp_path / "ev", str(work["had"])) == 0
    np.testing.assert_allclose(emulated, read_otb(tmp_path / "ev" / "boxes" / "had" / "s.txt"), atol=2.0)
    # streaming mode: the same network tracked as `track --loihi-mode stream` does (other boxes: the crop lags)
    capsys.readouterr()
    assert _eval(work, tmp_path / "ev3", f"stream={cv}", extra=("--loihi-mode", "stream")) == 0
    lag = 1 + -(-6 // TRAIN_STEPS)  # 1 + ceil(L / T), L = 6 synaptic layers
    assert (f"Loihi mode stream on the emulator ({TRAIN_STEPS} steps per frame, crop lag {lag} frame(s))"
            in capsys.readouterr().out)
    assert main(["track", str(work["seq"]), "--init", *init, "--checkpoint", str(cv / "student.h5"),
                 "--out", str(tmp_path / "tr3"), "--no-progress", "--loihi-mode", "stream"]) == 0
    stream_boxes = tmp_path / "ev3" / "boxes" / "stream" / "s.txt"
    assert stream_boxes.read_text() == (tmp_path / "tr3" / "boxes.txt").read_text() != boxes.read_text()
    # a .h5 that is not a converted network: one line naming the file, no unpickling dump
    capsys.readouterr()
    assert _eval(work, tmp_path / "ev4", str(work["seq"])) == 1
    err = capsys.readouterr().err
    assert str(work["seq"]) in err and "had-snn convert" in err and err.count("\n") == 1
    assert "weights_only" not in err and "pickle" not in err.lower()


def test_trackers_evaluated_one_at_a_time_end_in_one_table(work, tmp_path, capsys) -> None:
    out = tmp_path / "ev"
    assert _eval(work, out, "static") == 0
    static_row = json.loads((out / "results.json").read_text())["trackers"]["static"]
    capsys.readouterr()
    assert _eval(work, out, str(work["had"])) == 0
    stdout = capsys.readouterr().out
    assert "evaluated into" in stdout and "| all | 1 | static |" in stdout and "| all | 1 | had |" in stdout
    report = json.loads((out / "results.json").read_text())
    assert list(report["trackers"]) == ["static", "had"]  # the earlier table's order, the new tracker last
    again = report["trackers"]["static"]["subsets"]["all"]  # its stored boxes (3 decimals), scored again
    for key in ("SR_AUC", "PR20", "NPR0.2"):
        assert again[key] == pytest.approx(static_row["subsets"]["all"][key], abs=1e-3)
    # boxes that do not cover the split are left out of the table, with a note
    (out / "boxes" / "static" / "s.txt").unlink()
    assert _eval(work, out, str(work["had"])) == 0
    assert "left out of the table" in capsys.readouterr().err
    report = json.loads((out / "results.json").read_text())
    assert list(report["trackers"]) == ["had"] and "static" in report["stored_not_included"]
