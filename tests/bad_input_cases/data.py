"""Rows: bad data at the edges - event CSV headers, sensor sizes, folders given as files and ground-truth
boxes that cannot be on the sensor, through ``info``, ``windows``, ``eval --tracker static`` and ``train``.

Corrupted copies are made in each row's ``{tmp}``: the shared benchmark is copied (``shutil.copytree``) and its boxes
or attributes rewritten with h5py. Invalid boxes are read as absent (a warning counts them); where a valid box is
required the error names the sequence and the frame.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import h5py
import numpy as np

from tests.bad_input_cases import Case, Env

CONFIG = str(Path(__file__).resolve().parents[2] / "experiments" / "configs" / "tiny_student.yaml")
HUGE_BOX = (0.0, 0.0, 1e9, 1e9)


def _text(name: str, content: str):
    def setup(env: Env) -> None:
        (env.tmp / name).write_text(content)
    return setup


def _copy_seq(env: Env, edit) -> None:
    """``{tmp}/s.h5``: a copy of the shared test sequence, edited by ``edit(h5py.File)``."""
    shutil.copy(env.seq, env.tmp / "s.h5")
    with h5py.File(env.tmp / "s.h5", "a") as f:
        edit(f)


def _seq_boxes(rows: dict[int, tuple[float, float, float, float]]):
    def setup(env: Env) -> None:
        def edit(f: h5py.File) -> None:
            for k, box in rows.items():
                f["boxes"][k] = box
        _copy_seq(env, edit)
    return setup


def _seq_sensor(size: list[int]):
    def setup(env: Env) -> None:
        _copy_seq(env, lambda f: f.attrs.__setitem__("sensor_size", np.asarray(size, dtype=np.int64)))
    return setup


def _data_boxes(split: str, rows: slice, box: tuple[float, float, float, float]):
    """``{tmp}/data``: a copy of the shared benchmark with ``boxes[rows] = box`` in every sequence of ``split``."""
    def setup(env: Env) -> None:
        shutil.copytree(env.data, env.tmp / "data")
        for path in sorted((env.tmp / "data" / split).glob("*.h5")):
            with h5py.File(path, "a") as f:
                f["boxes"][rows] = box
    return setup


def _folder(name: str):
    def setup(env: Env) -> None:
        (env.tmp / name).mkdir()
    return setup


def _npy(env: Env) -> None:
    arr = np.zeros(3, dtype=[("t", "<i8"), ("x", "<u2"), ("y", "<u2"), ("p", "u1")])
    arr["t"] = [1, 2, 3]
    np.save(env.tmp / "e.npy", arr)


def _npz_sensor(env: Env) -> None:
    np.savez(env.tmp / "e.npz", x=np.zeros(2, np.int64), y=np.zeros(2, np.int64), t=np.arange(2), p=np.ones(2, int),
             sensor_size=np.asarray([0, 0]))


def _raw_geometry(env: Env) -> None:
    (env.tmp / "r.raw").write_bytes(b"% evt 3.0\n% geometry 999999x4\n% end\n")


def _no_file(name: str):
    def check(env: Env) -> None:
        assert not (env.tmp / name).exists(), f"a refused command wrote {name}"
    return check


def _eval_scored_valid_frames_only(env: Env) -> None:
    report = json.loads((env.tmp / "ev" / "results.json").read_text())
    overall = report["trackers"]["static"]["subsets"]["all"]
    assert overall["num_frames"] == 2 * (9 - 3), overall["num_frames"]  # 2 sequences of 9 frames, 3 invalid each


def _no_scores(env: Env) -> None:
    assert not (env.tmp / "ev" / "results.json").exists(), "absurd boxes were scored"


def _no_checkpoint(env: Env) -> None:
    assert not list((env.tmp / "run").glob("*.pt")) if (env.tmp / "run").exists() else True


CASES = [
    # --- event text files: columns by header name, never by position when a header names them
    Case("data-csv-header-read-by-name", ("info", "{tmp}/e.csv", "--json"), 0,
         ('"t_first_us": 100', '"t_last_us": 150', '"sensor_size_wh_px": [4, 3]'),
         setup=_text("e.csv", "t,x,y,p\n100,3,1,1\n150,0,2,0\n")),
    Case("data-csv-header-ns-unit", ("info", "{tmp}/e.csv", "--json"), 0, ('"t_first_us": 100', '"t_last_us": 150'),
         setup=_text("e.csv", "x,y,p,timestamp_ns\n3,1,1,100000\n0,2,0,150999\n")),
    Case("data-csv-unknown-header", ("info", "{tmp}/e.csv"), 1,
         ("e.csv:1", "header names columns ['a', 'b', 'c', 'd']", "expected x, y, t"),
         setup=_text("e.csv", "a,b,c,d\n1,2,3,1\n")),
    Case("data-csv-extra-column", ("info", "{tmp}/e.csv"), 1, ("e.csv:1", "'label'", "each once"),
         setup=_text("e.csv", "t,x,y,p,label\n1,2,3,1,7\n")),
    Case("data-csv-seconds-unit", ("info", "{tmp}/e.csv"), 1, ("e.csv:1", "time unit 's' is not supported"),
         setup=_text("e.csv", "t_s,x,y,p\n0,2,3,1\n")),
    Case("data-csv-headers-disagree", ("info", "{tmp}/e.txt"), 1, ("e.txt", "column headers disagree"),
         setup=_text("e.txt", "# x y t p\nt y x p\n1 2 3 1\n")),
    Case("data-csv-positional-unsorted-hint", ("info", "{tmp}/e.csv"), 1,
         ("e.csv", "not sorted", "read by position as x y t p", "add a header line"),
         setup=_text("e.csv", "100,3,1,1\n150,0,2,0\n90,1,1,1\n")),
    # --- sensor sizes: integers in 1..16384 px, checked before anything is sized from them
    Case("data-csv-sensor-line-zero", ("info", "{tmp}/e.csv"), 1, ("e.csv:1", "'# sensor_size' line", "1..16384"),
         setup=_text("e.csv", "# sensor_size 0 48\n1,2,3,1\n")),
    Case("data-npy-sensor-arg-huge", ("info", "{tmp}/e.npy", "--sensor", "1000000", "1000000"), 1,
         ("e.npy", "requested sensor size", "1..16384 px"), setup=_npy),
    Case("data-npy-sensor-arg-over-bound", ("info", "{tmp}/e.npy", "--sensor", "100001", "48"), 1,
         ("e.npy", "requested sensor size", "[100001, 48]"), setup=_npy),
    Case("data-npz-sensor-array-zero", ("info", "{tmp}/e.npz"), 1, ("e.npz", "array 'sensor_size'", "[0, 0]"),
         setup=_npz_sensor),
    Case("data-h5-sensor-attr-huge", ("info", "{tmp}/s.h5"), 1,
         ("s.h5", "attribute 'sensor_size'", "[1000000000, 48]", "1..16384"), setup=_seq_sensor([10**9, 48])),
    Case("data-windows-sensor-attr-zero", ("windows", "{tmp}/s.h5", "--out", "{tmp}/w.npz"), 1,
         ("s.h5", "attribute 'sensor_size'", "[0, 48]"), setup=_seq_sensor([0, 48]), check=_no_file("w.npz")),
    Case("data-raw-geometry-huge", ("info", "{tmp}/r.raw"), 1, ("r.raw", "% geometry 999999x4", "1..16384"),
         setup=_raw_geometry),
    Case("data-csv-event-outside-sensor", ("info", "{tmp}/e.csv"), 1,
         ("e.csv", "field 'y' out of bounds: row 1 has y=9 >= sensor height 6"),
         setup=_text("e.csv", "# sensor_size 8 6\nx,y,t,p\n1,2,5,1\n1,9,6,0\n")),
    # --- a folder where a file is expected
    Case("data-info-folder", ("info", "{tmp}/d.h5"), 1, ("d.h5", "is a folder, expected a file"),
         setup=_folder("d.h5")),
    Case("data-windows-folder", ("windows", "{tmp}/d.h5", "--out", "{tmp}/w.npz"), 1,
         ("d.h5", "is a folder, expected a file"), setup=_folder("d.h5"), check=_no_file("w.npz")),
    # --- ground-truth boxes against the sensor
    Case("data-info-invalid-boxes-absent", ("info", "{tmp}/s.h5", "--json"), 0, ('"count": 9, "absent": 3',),
         setup=_seq_boxes({1: HUGE_BOX, 2: (10, 10, 0, 6), 3: (64, 10, 8, 6)})),
    Case("data-windows-frame0-box-invalid", ("windows", "{tmp}/s.h5", "--out", "{tmp}/w.npz", "--frames", "1"), 1,
         ("s.h5", "sequence 'test_0000': frame 0 has no valid ground-truth box", "read as absent", "template"),
         setup=_seq_boxes({0: (10, 10, -4, 6)}), check=_no_file("w.npz")),
    Case("data-windows-frame-box-huge", ("windows", "{tmp}/s.h5", "--out", "{tmp}/w.npz", "--frames", "1", "2"), 1,
         ("s.h5", "frames [2] have no valid ground-truth box", "frame 2: target absent or an invalid box read as "
          "absent"),
         setup=_seq_boxes({2: HUGE_BOX}), check=_no_file("w.npz")),
    Case("data-eval-static-huge-boxes-not-scored",
         ("eval", "--tracker", "static", "--data", "{tmp}/data", "--out", "{tmp}/ev", "--no-plots"), 1,
         ("first ground-truth box", "cannot initialise"), setup=_data_boxes("test", slice(None), HUGE_BOX),
         check=_no_scores),
    Case("data-eval-static-invalid-frames-excluded",
         ("eval", "--tracker", "static", "--data", "{tmp}/data", "--out", "{tmp}/ev", "--no-plots"), 0,
         ("SR (AUC)",), setup=_data_boxes("test", slice(2, 5), (10, 10, 0, 6)), check=_eval_scored_valid_frames_only),
    Case("data-train-boxes-outside-sensor",
         ("train", "student", "--config", CONFIG, "--data", "{tmp}/data", "--out", "{tmp}/run", "--no-progress"), 1,
         ("no sequence has 2 or more annotated frames", "train_0000"),
         setup=_data_boxes("train", slice(1, None), (70, 10, 8, 6)), check=_no_checkpoint),
]
