"""`had-snn track`: a recording, an initial box and a checkpoint -> boxes per output time (and a video).

The key equivalence: on a native sequence from its first ground-truth box, `track` writes the boxes `eval` writes.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from had_snn.cli import main
from had_snn.data.io import read_sequence, write_events, write_sequence
from had_snn.data.synthetic import SynthConfig, generate_sequence
from had_snn.tracking.tracker import read_otb

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "samples"
DVXPLORER = SAMPLES / "dvxplorer-aedat4" / "sample.aedat4"
STEPS = "4"


@pytest.fixture(scope="module")
def work(tmp_path_factory, firing_tiny_student):
    """A tiny synthetic sequence in a one-sequence benchmark, a student and a teacher checkpoint."""
    from had_snn.data.dataset import index_entry, write_index
    from had_snn.models import build_model
    from had_snn.models.checkpoint import model_state, save_checkpoint

    root = tmp_path_factory.mktemp("track")
    seq = generate_sequence(SynthConfig(width_px=64, height_px=48, duration_s=0.2, fps=30), seed=3,
                            attributes=("fast_motion",), name="s")
    (root / "bench" / "test").mkdir(parents=True)
    write_sequence(root / "bench" / "test" / "s.h5", seq)
    write_index(root / "bench", {"test": ["s"]}, {"s": index_entry(seq, "test", "test/s.h5")}, {"test": True})
    firing_tiny_student(root / "s.pt")  # an untrained student is nearly silent on sparse real events
    teacher = build_model("teacher", widths=(4, 8, 8), stem_channels=4, convs_per_stage=1, head_channels=8,
                          search_px=32, template_px=16)
    save_checkpoint(root / "t.pt", model_state(teacher))
    return {"root": root, "seq": root / "bench" / "test" / "s.h5", "student": root / "s.pt", "teacher": root / "t.pt"}


@pytest.fixture(scope="module")
def converted(work) -> Path:
    """The student converted by `had-snn convert` (netx only): student.h5 with its 'source' attribute."""
    out = work["root"] / "cv"
    assert main(["convert", str(work["student"]), "--out", str(out), "--to", "netx", "--steps", STEPS]) == 0
    return out / "student.h5"


def _init_args(path: Path) -> list[str]:
    """The first ground-truth box, written so it parses back to exactly the float64 the evaluation starts from."""
    return ["--init", *(repr(float(v)) for v in read_sequence(path, load_frames=False).boxes[0])]


def _track(work, out: Path, *extra: str, recording: Path | None = None) -> list[str]:
    rec = work["seq"] if recording is None else recording
    return ["track", str(rec), *_init_args(work["seq"]), "--steps", STEPS, "--out", str(out), "--no-progress",
            *extra]


def test_track_writes_the_boxes_eval_writes(work, tmp_path) -> None:
    assert main(["eval", "--tracker", str(work["student"]), "--tracker", str(work["teacher"]), "--data",
                 str(work["root"] / "bench"), "--split", "test", "--out", str(tmp_path / "ev"), "--steps", STEPS,
                 "--no-plots"]) == 0
    seq = read_sequence(work["seq"])
    for ckpt in (work["student"], work["teacher"]):
        out = tmp_path / ckpt.stem
        assert main([*_track(work, out, "--checkpoint", str(ckpt))]) == 0
        ours, theirs = out / "boxes.txt", tmp_path / "ev" / "boxes" / ckpt.stem / "s.txt"
        assert ours.read_text() == theirs.read_text()  # same text, so the same boxes to the written precision
        assert len(read_otb(ours)) == seq.num_frames
        assert np.loadtxt(out / "times_us.txt", dtype=np.int64).tolist() == seq.frame_t_us.tolist()
        meta = json.loads((out / "track.json").read_text())
        assert meta["kind"] == {"s": "student", "t": "teacher"}[ckpt.stem]
        assert meta["outputs"] == seq.num_frames and meta["T"] == 4 and meta["T_from"] == "--steps"
        assert meta["sensor"] == [64, 48] and meta["times_from"] == "frames"
        assert meta["crop"]["template_px"] == 16 and meta["crop"]["search_px"] == 32
        assert meta["init_box"] == [float(v) for v in seq.boxes[0]]
        assert meta["seconds"] > 0 and meta["fps"] > 0
    # the same recording as an .aedat4 with APS frames: frame times, frames and boxes are those of the .h5
    pytest.importorskip("dv_processing", reason="writing .aedat4 needs the aedat extra (dv-processing)")
    from had_snn.data.aedat import write_aedat4

    aedat = tmp_path / "s.aedat4"
    write_aedat4(aedat, seq.events, seq.sensor_size, seq.frames, seq.frame_t_us)
    assert main([*_track(work, tmp_path / "aedat", "--checkpoint", str(work["teacher"]), recording=aedat)]) == 0
    assert (tmp_path / "aedat" / "boxes.txt").read_text() == (tmp_path / "t" / "boxes.txt").read_text()
    assert json.loads((tmp_path / "aedat" / "track.json").read_text())["recording_kind"] == "aedat4"


def test_fixed_point_student_and_converted_netx_agree(work, converted, tmp_path) -> None:
    assert main(_track(work, tmp_path / "fx", "--checkpoint", str(work["student"]), "--fixed-point")) == 0
    assert main(_track(work, tmp_path / "nx", "--checkpoint", str(converted))) == 0
    fixed, netx = read_otb(tmp_path / "fx" / "boxes.txt"), read_otb(tmp_path / "nx" / "boxes.txt")
    np.testing.assert_array_equal(fixed, netx)
    assert len(fixed) == 6 and np.isfinite(fixed).all()
    float_boxes = tmp_path / "fl"
    assert main(_track(work, float_boxes, "--checkpoint", str(work["student"]))) == 0
    # the fixed-point network tracks like its float student here (the emulator really ran: boxes differ a little)
    np.testing.assert_allclose(fixed, read_otb(float_boxes / "boxes.txt"), atol=2.0)
    meta_fx = json.loads((tmp_path / "fx" / "track.json").read_text())
    meta_nx = json.loads((tmp_path / "nx" / "track.json").read_text())
    assert (meta_fx["kind"], meta_nx["kind"]) == ("student-fixed-point", "student-netx")
    assert meta_nx["source"] == str(work["student"]) and meta_nx["weight_percentile"] == 100.0
    assert not meta_fx["silent_template"]
    assert (meta_fx["loihi_mode"], meta_fx["crop_lag_frames"], meta_fx["billed_steps_per_frame"]) == ("reset", 1, 10)


def test_converted_netx_tracks_in_streaming_mode(work, converted, tmp_path, capsys) -> None:
    """--loihi-mode stream: T steps billed per frame, the crop lags by 1 + ceil(L / T) frames; track.json says so."""
    capsys.readouterr()
    assert main(_track(work, tmp_path / "st", "--checkpoint", str(converted), "--loihi-mode", "stream")) == 0
    assert "Loihi mode stream on the emulator: 4 steps billed per frame" in capsys.readouterr().out
    meta = json.loads((tmp_path / "st" / "track.json").read_text())
    assert (meta["loihi_mode"], meta["crop_lag_frames"], meta["billed_steps_per_frame"]) == ("stream", 3, 4)
    boxes = read_otb(tmp_path / "st" / "boxes.txt")
    assert len(boxes) == 6 and np.isfinite(boxes).all()
    meta_float = tmp_path / "fl"
    assert main(_track(work, meta_float, "--checkpoint", str(work["student"]))) == 0
    assert json.loads((meta_float / "track.json").read_text())["loihi_mode"] is None


def test_netx_that_disagrees_with_its_source_is_refused(work, converted, tmp_path, capsys) -> None:
    import shutil

    import h5py

    tampered = tmp_path / "student.h5"
    shutil.copy(converted, tampered)
    with h5py.File(tampered, "r+") as f:
        w = f["layer/1/weight"]
        w[0, 0, 0, 0] = int(w[0, 0, 0, 0]) + 2
    capsys.readouterr()
    # copied away from its student: the relative 'source' attribute no longer resolves, and the error says so
    assert main(_track(work, tmp_path / "nx", "--checkpoint", str(tampered))) == 1
    err = capsys.readouterr().err
    assert "attribute 'source' names" in err and "--source CKPT" in err and err.count("\n") == 1
    assert main(_track(work, tmp_path / "nx", "--checkpoint", str(tampered), "--source", str(work["student"]))) == 1
    err = capsys.readouterr().err
    assert "disagree" in err and "layer 1" in err and "weight" in err and err.count("\n") == 1


def test_track_real_dvxplorer_recording(work, tmp_path) -> None:
    if not DVXPLORER.is_file():
        pytest.skip(f"real DVXplorer sample not found at {DVXPLORER}")
    pytest.importorskip("dv_processing", reason="reading .aedat4 needs the aedat extra (dv-processing)")
    from PIL import Image

    out, video = tmp_path / "real", tmp_path / "real" / "track.gif"
    assert main(["track", str(DVXPLORER), "--init", "140", "100", "40", "40", "--rate-hz", "100",
                 "--checkpoint", str(work["student"]), "--steps", STEPS, "--out", str(out), "--video", str(video),
                 "--video-max-frames", "20", "--no-progress"]) == 0
    boxes = read_otb(out / "boxes.txt")
    times = np.loadtxt(out / "times_us.txt", dtype=np.int64)
    assert len(boxes) == len(times) == 58  # 0.590 s of events, first output one 10 ms period after the first event
    assert np.all(np.diff(times) == 10_000) and times[0] == 1605537493718345 + 10_000
    assert np.isfinite(boxes).all()
    np.testing.assert_array_equal(boxes[0], [140, 100, 40, 40])
    centre, size = boxes[:, :2] + boxes[:, 2:] / 2, boxes[:, 2:]  # the tracker keeps the centre on the sensor
    eps = 1e-3  # boxes are written to 3 decimals
    assert np.all((centre >= -eps) & (centre <= np.add([320, 240], eps)))
    assert np.all((size > 0) & (size <= [320, 240]))
    meta = json.loads((out / "track.json").read_text())
    assert meta["sensor"] == [320, 240] and meta["recording_kind"] == "aedat4" and meta["times_from"] == "rate"
    assert meta["outputs"] == 58 and meta["rate_hz"] == 100.0 and meta["window_us"] == 10_000
    assert meta["video_frames"] == 20 and meta["video_fps"] == 10.0  # every 3rd of 58 outputs, at 10 frames/s
    assert meta["scores"][0] is None and len(meta["scores"]) == 58 and all(0 <= v <= 1 for v in meta["scores"][1:])
    with Image.open(video) as im:  # the panel and a caption strip above it (time, event window, score)
        assert im.format == "GIF" and im.n_frames == 20 and im.size == (480, 360 + 36)
        assert im.info["duration"] == 100
    assert not list(out.glob(".*tmp*"))  # atomic writes left no temporary files


def test_track_event_file_with_sensor_and_mp4(work, tmp_path) -> None:
    pytest.importorskip("imageio_ffmpeg", reason="writing .mp4 needs the video extra (imageio-ffmpeg)")
    seq = read_sequence(work["seq"])
    events = tmp_path / "ev.txt"  # text events without a sensor line: --sensor gives the geometry
    np.savetxt(events, np.stack([seq.events[n].astype(np.int64) for n in ("x", "y", "t", "p")], 1), fmt="%d")
    video = tmp_path / "out" / "v.mp4"
    assert main(_track(work, tmp_path / "out", "--checkpoint", str(work["student"]), "--sensor", "64", "48",
                       "--rate-hz", "50", "--t0-us", "30000", "--video", str(video), recording=events)) == 0
    times = np.loadtxt(tmp_path / "out" / "times_us.txt", dtype=np.int64)
    assert times[0] == 30000 and np.all(np.diff(times) == 20_000) and times[-1] <= seq.events["t"][-1]
    assert len(read_otb(tmp_path / "out" / "boxes.txt")) == len(times)
    assert video.stat().st_size > 0 and video.read_bytes()[4:8] == b"ftyp"  # an MP4 container


def test_output_times_and_tracking_sequence(work) -> None:
    from had_snn.tracking.recording import check_init_box, load_recording, output_times, tracking_sequence

    rec = load_recording(work["seq"])
    seq = read_sequence(work["seq"])
    times, source = output_times(rec, t0_us=int(seq.frame_t_us[1]) - 1)
    assert source == "frames" and times.tolist() == seq.frame_t_us[1:].tolist()
    tseq = tracking_sequence(rec, times)
    np.testing.assert_array_equal(tseq.frames, seq.frames[1:])
    assert np.isnan(tseq.boxes).all() and tseq.events is rec.events
    rec.frames = rec.frame_t_us = None  # as an event-only recording: a grid from one period after the first event
    grid, source = output_times(rec, rate_hz=100)
    assert source == "rate" and grid[0] == seq.events["t"][0] + 10_000 and np.all(np.diff(grid) == 10_000)
    assert tracking_sequence(rec, grid).frames is None
    with pytest.raises(ValueError, match="need at least 2"):
        output_times(rec, t0_us=int(seq.events["t"][-1]))
    with pytest.raises(ValueError, match=r"--init .*64x48"):
        check_init_box([0, 0, 0, 5], (64, 48))


@pytest.mark.parametrize("case", ["outside", "teacher_events_only", "video_suffix", "netx_source_missing"])
def test_bad_inputs_exit_1_with_one_line(work, converted, tmp_path, capsys, case) -> None:
    base = ["--steps", STEPS, "--out", str(tmp_path / "o"), "--no-progress"]
    if case == "outside":
        argv = ["track", str(work["seq"]), "--init", "70", "10", "8", "8", "--checkpoint", str(work["student"]), *base]
        expect = ["--init", "64x48"]
    elif case == "teacher_events_only":
        seq = read_sequence(work["seq"])
        events = tmp_path / "events.npz"
        write_events(events, seq.events, seq.sensor_size)
        argv = ["track", str(events), *_init_args(work["seq"]), "--checkpoint", str(work["teacher"]), *base]
        expect = ["teacher", str(work["teacher"]), str(events), "frames"]
    elif case == "video_suffix":
        argv = [*_track(work, tmp_path / "o", "--checkpoint", str(work["student"]), "--video",
                        str(tmp_path / "v.avi"))]
        expect = ["--video", ".avi"]
    else:
        import shutil

        import h5py

        netx, src = tmp_path / "student.h5", tmp_path / "gone.pt"
        shutil.copy(converted, netx)
        with h5py.File(netx, "r+") as f:  # as if the checkpoint it was converted from had been moved away
            f.attrs["source"] = str(src)
        argv = [*_track(work, tmp_path / "o", "--checkpoint", str(netx))]
        expect = ["'source'", str(src), str(netx)]
    capsys.readouterr()
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("had-snn track: error:") and err.count("\n") == 1, err
    for text in expect:
        assert text in err, (text, err)
    assert not (tmp_path / "o" / "boxes.txt").exists()


def test_steps_come_from_the_training_config_unless_given(work, tmp_path) -> None:
    import torch

    from had_snn.tracking.online import open_checkpoint, resolve_steps

    state = torch.load(work["student"], weights_only=True)
    state["train_config"] = {"data": {"crop": {"student_steps": 3}}}
    torch.save(state, tmp_path / "trained.pt")
    ckpt = open_checkpoint(tmp_path / "trained.pt")
    assert resolve_steps(ckpt, None) == (3, "the checkpoint's training config")
    assert resolve_steps(ckpt, 5) == (5, "--steps")
    assert resolve_steps(open_checkpoint(work["student"]), None)[0] == 8  # nothing recorded: CropConfig's default
    with pytest.raises(ValueError, match="--weight-percentile"):
        open_checkpoint(work["student"], weight_percentile=99.0)


def test_a_run_folder_as_checkpoint_tracks_with_its_best_pt(work, tmp_path, capsys) -> None:
    import shutil

    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(work["teacher"], run / "last.pt")
    shutil.copy(work["student"], run / "best.pt")  # best.pt wins over last.pt
    capsys.readouterr()
    assert main(_track(work, tmp_path / "o", "--checkpoint", str(run))) == 0
    out = capsys.readouterr().out
    assert f"{run} -> best.pt" in out
    meta = json.loads((tmp_path / "o" / "track.json").read_text())
    assert meta["checkpoint"] == str(run / "best.pt") and meta["kind"] == "student"
    assert main(_track(work, tmp_path / "s", "--checkpoint", str(work["student"]))) == 0
    assert (tmp_path / "o" / "boxes.txt").read_text() == (tmp_path / "s" / "boxes.txt").read_text()


def test_without_a_checkpoint_the_bundled_student_tracks_and_says_so(work, tmp_path, capsys) -> None:
    """The package ships a small student (`make bundled-student`): a safe-loading checkpoint that records how it was
    made and its test score; `track` without --checkpoint uses it and names it."""
    from had_snn.models.bundled import BUNDLED_STUDENT
    from had_snn.models.checkpoint import load_checkpoint

    state = load_checkpoint(BUNDLED_STUDENT)  # weights_only: no optimiser, no Python objects
    assert state["kind"] == "student" and "optimizer" not in state and BUNDLED_STUDENT.stat().st_size < 300_000
    assert state["bundled"]["command"] == "make bundled-student" and 20 < state["bundled"]["test_sr"] < 100
    assert state["train_config"]["data"]["crop"]["student_steps"] == 4
    capsys.readouterr()
    assert main(["track", str(work["seq"]), *_init_args(work["seq"]), "--out", str(tmp_path / "b"),
                 "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "no --checkpoint: the bundled student (trained on the synthetic benchmark by `make bundled-student`" in out
    meta = json.loads((tmp_path / "b" / "track.json").read_text())
    assert meta["checkpoint"] == str(BUNDLED_STUDENT) and meta["T"] == 4
    assert np.isfinite(read_otb(tmp_path / "b" / "boxes.txt")).all()
