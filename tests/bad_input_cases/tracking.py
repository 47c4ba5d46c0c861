"""Rows: eval / track / windows / show / info with bad trackers, names, options and paths (ids ``trk-``)."""

from __future__ import annotations

import json

from tests.bad_input_cases import Case, Env

OTHER_BOXES = "1.000,2.000,3.000,4.000\n"
OTHER_SOURCE = "runs/other/last.pt"


def _mkdir(sub: str):
    def setup(env: Env) -> None:
        (env.tmp / sub).mkdir(parents=True)
    return setup


def _write(sub: str, text: str):
    def setup(env: Env) -> None:
        (env.tmp / sub).parent.mkdir(parents=True, exist_ok=True)
        (env.tmp / sub).write_text(text)
    return setup


def _nothing_at(*subs: str):
    def check(env: Env) -> None:
        for sub in subs:
            assert not (env.tmp / sub).exists(), f"{sub} was created"
    return check


def _unchanged(sub: str, text: str):
    def check(env: Env) -> None:
        assert (env.tmp / sub).read_text() == text, f"{sub} was changed"
    return check


def _student_copy(env: Env) -> None:
    """``{tmp}/student/last.pt``: a second run folder with the shared student's folder name."""
    (env.tmp / "student").mkdir()
    (env.tmp / "student" / "last.pt").write_bytes(env.student.read_bytes())


def _other_trackers_boxes(env: Env) -> None:
    """``{tmp}/ev/boxes/student/`` already holds boxes of a different tracker named 'student'."""
    box_dir = env.tmp / "ev" / "boxes" / "student"
    box_dir.mkdir(parents=True)
    (box_dir / "tracker.json").write_text(json.dumps({"name": "student", "fingerprint": "f00d:w=0.25:T=4",
                                                      "identity": "f00d", "source": OTHER_SOURCE}))
    (box_dir / "seq.txt").write_text(OTHER_BOXES)


def _other_boxes_untouched(env: Env) -> None:
    box_dir = env.tmp / "ev" / "boxes" / "student"
    assert (box_dir / "seq.txt").read_text() == OTHER_BOXES
    assert json.loads((box_dir / "tracker.json").read_text())["source"] == OTHER_SOURCE
    assert not (env.tmp / "ev" / "results.json").exists()


def _events_only_bench(env: Env) -> None:
    """``{tmp}/bench``: the shared test sequence without its RGB frames, as the only sequence of split test."""
    import dataclasses

    from had_snn.data.dataset import index_entry, write_index
    from had_snn.data.io import read_sequence, write_sequence

    seq = dataclasses.replace(read_sequence(env.seq), frames=None, name="dark")
    write_sequence(env.tmp / "bench" / "test" / "dark.h5", seq)
    write_index(env.tmp / "bench", {"test": ["dark"]}, {"dark": index_entry(seq, "test", "test/dark.h5")},
                {"test": True})


def _npz_only(env: Env) -> None:
    assert not (env.tmp / "w").exists(), "a file under the suffix-less name was left"
    assert (env.tmp / "w.npz").stat().st_size > 0
    assert sorted(p.name for p in env.tmp.iterdir()) == ["w.npz"], "temporary files left behind"


EVAL = ("eval", "--data", "{data}", "--out", "{tmp}/ev", "--no-plots")
TRACK = ("track", "{seq}", "--init", "10", "10", "8", "8", "--no-progress")
NO_EVAL_OUT = _nothing_at("ev")

CASES = [
    Case("trk-eval-missing-checkpoint", (*EVAL, "--tracker", "{tmp}/nope.pt"), 1, ("nope.pt", "does not exist"),
         check=NO_EVAL_OUT),
    Case("trk-eval-folder-without-checkpoint", (*EVAL, "--tracker", "{tmp}/run"), 1,
         ("run", "best.pt", "last.pt", "student.h5"), setup=_mkdir("run"), check=NO_EVAL_OUT),
    Case("trk-eval-sequence-h5-as-tracker", (*EVAL, "--tracker", "{seq}"), 1, ("not a netx network", "had-snn convert"),
         check=NO_EVAL_OUT),
    Case("trk-eval-text-file-as-checkpoint", (*EVAL, "--tracker", "{tmp}/x.pt"), 1, ("x.pt", "checkpoint"),
         setup=_write("x.pt", "not a checkpoint\n"), check=NO_EVAL_OUT),
    Case("trk-eval-bad-tracker-name", (*EVAL, "--tracker", "a/b={student}"), 1, ("NAME", "'a/b'"),
         check=NO_EVAL_OUT),
    Case("trk-eval-name-given-twice", (*EVAL, "--tracker", "x={student}", "--tracker", "x=static"), 1,
         ("'x'", "NAME=PATH"), check=NO_EVAL_OUT),
    Case("trk-eval-default-names-collide", (*EVAL, "--tracker", "{student}", "--tracker", "{tmp}/student"), 1,
         ("'student'", "NAME=PATH"), setup=_student_copy, check=NO_EVAL_OUT),
    Case("trk-eval-refuses-another-trackers-boxes", (*EVAL, "--tracker", "{student}"), 1,
         ("another tracker", OTHER_SOURCE, "--force"), setup=_other_trackers_boxes, check=_other_boxes_untouched),
    Case("trk-eval-steps-zero", (*EVAL, "--tracker", "{student}", "--steps", "0"), 2, ("--steps", ">= 1"),
         check=NO_EVAL_OUT),
    Case("trk-eval-window-influence-nan", (*EVAL, "--tracker", "static", "--window-influence", "nan"), 2,
         ("--window-influence", "finite"), check=NO_EVAL_OUT),
    Case("trk-eval-bad-device", (*EVAL, "--tracker", "{student}", "--device", "gpu0"), 1, ("--device", "'gpu0'"),
         check=NO_EVAL_OUT),
    Case("trk-eval-out-is-a-file", ("eval", "--data", "{data}", "--out", "{tmp}/ev", "--tracker", "static"), 1,
         ("--out", "existing file"), setup=_write("ev", "keep\n"), check=_unchanged("ev", "keep\n")),
    Case("trk-eval-teacher-without-frames",
         ("eval", "--data", "{tmp}/bench", "--out", "{tmp}/ev", "--tracker", "{teacher}"), 1,
         ("'teacher'", "frames", "dark"), setup=_events_only_bench, check=NO_EVAL_OUT),
    Case("trk-track-steps-negative", (*TRACK, "--checkpoint", "{student}", "--steps", "-1", "--out", "{tmp}/o"), 2,
         ("--steps",), check=_nothing_at("o")),
    Case("trk-track-rate-nan", (*TRACK, "--checkpoint", "{student}", "--rate-hz", "nan", "--out", "{tmp}/o"), 2,
         ("--rate-hz", "finite"), check=_nothing_at("o")),
    Case("trk-track-out-is-a-file", (*TRACK, "--checkpoint", "{student}", "--out", "{tmp}/o"), 1,
         ("--out", "existing file"), setup=_write("o", "keep\n"), check=_unchanged("o", "keep\n")),
    Case("trk-track-empty-folder-as-checkpoint", (*TRACK, "--checkpoint", "{tmp}/run", "--out", "{tmp}/o"), 1,
         ("best.pt", "last.pt"), setup=_mkdir("run"), check=_nothing_at("o")),
    Case("trk-track-loihi-mode-on-float", (*TRACK, "--checkpoint", "{student}", "--loihi-mode", "stream", "--out",
                                          "{tmp}/o"), 1, ("--loihi-mode", "float", "--fixed-point"),
         check=_nothing_at("o")),
    Case("trk-track-loihi-mode-unknown", (*TRACK, "--checkpoint", "{student}", "--fixed-point", "--loihi-mode",
                                          "pipelined", "--out", "{tmp}/o"), 2,
         ("--loihi-mode", "pipelined", "reset", "stream"), check=_nothing_at("o")),
    Case("trk-eval-loihi-mode-without-converted-network", (*EVAL, "--tracker", "{student}", "--loihi-mode", "stream"),
         1, ("--loihi-mode", "converted network"), check=NO_EVAL_OUT),
    Case("trk-windows-out-without-npz", ("windows", "{seq}", "--out", "{tmp}/w", "--frames", "1"), 0,
         ("w.npz",), check=_npz_only),
    Case("trk-windows-out-is-a-folder", ("windows", "{seq}", "--out", "{tmp}"), 1, ("--out", "is a folder")),
    Case("trk-windows-frames-negative", ("windows", "{seq}", "--out", "{tmp}/w.npz", "--frames", "-1"), 2,
         ("--frames", ">= 0"), check=_nothing_at("w.npz")),
    Case("trk-windows-frames-out-of-range", ("windows", "{seq}", "--out", "{tmp}/w.npz", "--frames", "999"), 1,
         ("--frames", "999"), check=_nothing_at("w.npz")),
    Case("trk-windows-steps-zero", ("windows", "{seq}", "--out", "{tmp}/w.npz", "--steps", "0"), 2,
         ("--steps",), check=_nothing_at("w.npz")),
    Case("trk-windows-teacher-checkpoint", ("windows", "{seq}", "--out", "{tmp}/w.npz", "--checkpoint", "{teacher}"),
         1, ("teacher", "student"), check=_nothing_at("w.npz")),
    Case("trk-show-window-ms-nan", ("show", "{seq}", "--window-ms", "nan", "--out", "{tmp}/x.png"), 2,
         ("--window-ms", "finite"), check=_nothing_at("x.png")),
    Case("trk-show-frame-out-of-range", ("show", "{seq}", "--frame", "999", "--out", "{tmp}/x.png"), 1,
         ("--frame", "999"), check=_nothing_at("x.png")),
    Case("trk-show-out-is-a-folder", ("show", "{seq}", "--out", "{tmp}"), 1, ("--out", "folder")),
    Case("trk-info-sensor-zero", ("info", "{seq}", "--sensor", "0", "48"), 2, ("--sensor", ">= 1")),
    Case("trk-info-missing-file", ("info", "{tmp}/none.h5"), 1, ("none.h5",)),
]

