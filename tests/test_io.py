"""File IO: round trips for every format, ms_to_idx, windowed reads, and clear errors on bad files."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from had_snn.data.events import EVENT_DTYPE, make_events
from had_snn.data.io import (
    EventFile,
    ms_to_idx,
    read_events,
    read_events_window,
    read_sequence,
    write_events,
    write_sequence,
)
from had_snn.data.sequence import Sequence

FIXTURES = Path(__file__).parent / "fixtures"
SIZE = (24, 16)


def _events(rng: np.random.Generator, n: int = 4000, t_max_us: int = 50_000) -> np.ndarray:
    t = np.sort(rng.integers(0, t_max_us, n))
    return make_events(rng.integers(0, SIZE[0], n), rng.integers(0, SIZE[1], n), t, rng.integers(0, 2, n))


def _sequence(rng: np.random.Generator, frames: bool = True, trajectory: bool = True) -> Sequence:
    n = 5
    frame_t = np.arange(n, dtype=np.int64) * 10_000 + 5_000
    boxes = rng.uniform(0, 10, (n, 4)).astype(np.float32)
    boxes[2] = np.nan  # target absent
    traj_t = np.arange(0, 50_000, 1000, dtype=np.int64) if trajectory else None
    traj_b = rng.uniform(0, 10, (50, 4)).astype(np.float32) if trajectory else None
    return Sequence(
        name="seq_007", events=_events(rng), sensor_size=SIZE, frame_t_us=frame_t, boxes=boxes,
        frames=rng.integers(0, 256, (n, SIZE[1], SIZE[0], 3), dtype=np.uint8) if frames else None,
        trajectory_t_us=traj_t, trajectory_boxes=traj_b, attributes=("fast_motion", "low_light"),
        meta={"seed": 7, "contrast_threshold": 0.25, "generator": "synth", "levels": [1, 2]},
    )


def test_sequence_round_trip(tmp_path, rng) -> None:
    seq = _sequence(rng)
    path = tmp_path / "s.h5"
    write_sequence(path, seq)
    back = read_sequence(path)
    assert back.name == "seq_007" and back.sensor_size == SIZE
    assert np.array_equal(back.events, seq.events) and back.events.dtype == EVENT_DTYPE
    np.testing.assert_array_equal(back.frames, seq.frames)
    np.testing.assert_array_equal(back.frame_t_us, seq.frame_t_us)
    np.testing.assert_array_equal(back.boxes, seq.boxes)  # NaN rows compare equal here
    np.testing.assert_array_equal(back.trajectory_t_us, seq.trajectory_t_us)
    np.testing.assert_array_equal(back.trajectory_boxes, seq.trajectory_boxes)
    assert back.attributes == ("fast_motion", "low_light")
    assert back.meta == seq.meta
    assert read_sequence(path, load_frames=False).frames is None
    assert not list(tmp_path.glob(".*tmp*"))  # the temporary file was moved, not left behind
    with h5py.File(path) as f:
        assert f["frames"].chunks == (1, SIZE[1], SIZE[0], 3) and f["frames"].compression == "gzip"
        assert f.attrs["format_version"] == 1


def test_sequence_round_trip_minimal(tmp_path, rng) -> None:
    seq = _sequence(rng, frames=False, trajectory=False)
    seq.attributes, seq.meta = (), {}
    write_sequence(tmp_path / "m.hdf5", seq)
    back = read_sequence(tmp_path / "m.hdf5")
    assert back.frames is None and back.trajectory_t_us is None and back.attributes == () and back.meta == {}


def test_ms_to_idx_matches_definition(rng) -> None:
    t = np.array([0, 999, 1000, 1000, 2500, 7000], dtype=np.int64)
    assert ms_to_idx(t).tolist() == [0, 2, 4, 5, 5, 5, 5, 5, 6]
    t = np.sort(rng.integers(0, 20_000, 500))
    idx = ms_to_idx(t)
    assert len(idx) == t[-1] // 1000 + 2 and idx[-1] == len(t)
    for m in range(len(idx)):
        assert idx[m] == np.flatnonzero(t >= m * 1000)[0] if (t >= m * 1000).any() else idx[m] == len(t)
    assert ms_to_idx(np.empty(0, np.int64)).tolist() == [0]
    assert ms_to_idx(np.array([5_000_100, 5_001_000]), origin_us=5_000_000).tolist() == [0, 1, 2]


@pytest.mark.parametrize("offset_us", [-2_500, 1_650_000_000_123_456])  # negative and Unix-epoch timestamps
def test_offset_timestamps_round_trip_with_small_index(tmp_path, rng, offset_us) -> None:
    ev = _events(rng, 500, t_max_us=20_000)
    ev["t"] += offset_us
    write_events(tmp_path / "e.h5", ev, SIZE)
    with h5py.File(tmp_path / "e.h5") as f:
        assert len(f["events/ms_to_idx"]) <= 22  # spans the recording, not the epoch
    back, _ = read_events(tmp_path / "e.h5")
    assert np.array_equal(back, ev)
    t = ev["t"]
    for t0, t1 in [(offset_us + 1500, offset_us + 7777), (offset_us - 10**6, offset_us + 1), (t[-1], t[-1] + 1)]:
        assert np.array_equal(read_events_window(tmp_path / "e.h5", t0, t1), ev[(t >= t0) & (t < t1)])


def test_windowed_read_equals_slicing(tmp_path, rng) -> None:
    seq = _sequence(rng)
    write_sequence(tmp_path / "s.h5", seq)
    t = seq.events["t"]
    windows = [(0, 1), (1234, 5678), (999, 1001), (2000, 3000), (-500, 700), (49_000, 10**9), (30_000, 30_000),
               (int(t[10]), int(t[10]) + 1)]
    with EventFile(tmp_path / "s.h5") as f:
        assert f.sensor_size == SIZE and len(f) == len(seq.events)
        for t0, t1 in windows:
            expect = seq.events[(t >= t0) & (t < t1)]
            assert np.array_equal(f.window(t0, t1), expect), (t0, t1)
    assert np.array_equal(read_events_window(tmp_path / "s.h5", 1234, 5678), seq.events[(t >= 1234) & (t < 5678)])


@pytest.mark.parametrize("suffix", [".h5", ".npz", ".txt", ".csv"])
def test_events_round_trip(tmp_path, rng, suffix) -> None:
    ev = _events(rng, 300)
    path = tmp_path / f"ev{suffix}"
    write_events(path, ev, SIZE)
    back, size = read_events(path)
    assert size == SIZE and back.dtype == EVENT_DTYPE
    assert np.array_equal(back, ev)


def test_read_events_from_sequence_file(tmp_path, rng) -> None:
    seq = _sequence(rng)
    write_sequence(tmp_path / "s.h5", seq)
    ev, size = read_events(tmp_path / "s.h5")
    assert size == SIZE and np.array_equal(ev, seq.events)


def test_text_with_header_and_comments_fixture(tmp_path) -> None:
    ev, size = read_events(FIXTURES / "events_header.csv")
    assert ev["x"].tolist() == [3, 0, 3] and ev["t"].tolist() == [100, 150, 150] and ev["p"].tolist() == [1, 0, 1]
    assert size == (4, 3)  # no sensor_size line: inferred as max + 1
    ev2, size2 = read_events(FIXTURES / "events_header.csv", sensor_size=(10, 10))
    assert size2 == (10, 10) and np.array_equal(ev, ev2)
    (tmp_path / "s.txt").write_text("# sensor_size: 8 6\n1\t2\t3\t0\n")
    assert read_events(tmp_path / "s.txt")[1] == (8, 6)
    with pytest.raises(ValueError, match=r"s\.txt: file sensor size \(8, 6\) differs from the requested \(4, 3\)"):
        read_events(tmp_path / "s.txt", sensor_size=(4, 3))


@pytest.mark.parametrize(
    "text, x, t_us",
    [
        ("t,x,y,p\n100,3,1,1\n150,0,2,0\n", [3, 0], [100, 150]),  # read by name, not as x, y, t, p
        ("# sensor_size 8 6\nP Timestamp Y X\n1 100 1 3\n0 150 2 0\n", [3, 0], [100, 150]),
        ("ts_us;x;y;pol\n100;3;1;1\n150;0;2;0\n", [3, 0], [100, 150]),
        ("\ufefft,x,y,p\r\n100,3,1,1\r\n150,0,2,0\r\n", [3, 0], [100, 150]),  # BOM and CRLF (spreadsheet export)
        ("x,y,p,timestamp_ns\n3,1,1,100999\n0,2,0,150000\n", [3, 0], [100, 150]),  # ns floored to us
        ("\"x\", \"y\", \"t [ms]\", \"p\"\n3, 1, 1, 1\n0, 2, 2, 0\n", [3, 0], [1000, 2000]),
        ("x y t (us) p\n3 1 100 1\n0 2 150 0\n", [3, 0], [100, 150]),
        ("# t x y p\n100 3 1 1\n150 0 2 0\n", [3, 0], [100, 150]),  # a comment line naming the columns
        ("# written by hand\n# x,y,t,p (t in microseconds)\n3,1,100,1\n0,2,150,0\n", [3, 0], [100, 150]),
    ],
)
def test_text_header_columns_read_by_name(tmp_path, text, x, t_us) -> None:
    (tmp_path / "e.csv").write_text(text)
    ev, _ = read_events(tmp_path / "e.csv")
    assert ev["x"].tolist() == x and ev["t"].tolist() == t_us and ev["y"].tolist() == [1, 2]
    assert ev["p"].tolist() == [1, 0]


def test_text_written_file_header_matches_its_columns(tmp_path, rng) -> None:
    ev = _events(rng, 50)
    write_events(tmp_path / "w.csv", ev, SIZE)
    assert "# x,y,t,p" in (tmp_path / "w.csv").read_text()
    assert np.array_equal(read_events(tmp_path / "w.csv")[0], ev)


@pytest.mark.parametrize(
    "text, message",
    [
        ("a,b,c,d\n1,2,3,1\n", r"e\.csv:1: header names columns \['a', 'b', 'c', 'd'\]; expected x, y, t"),
        ("x,y,t\n1,2,3\n", r"e\.csv:1: header names columns \['x', 'y', 't'\]"),
        ("x,y,t,t,p\n1,2,3,3,1\n", r"header names columns \['x', 'y', 't', 't', 'p'\]"),
        ("x,y,t,p,label\n1,2,3,1,7\n", r"header names columns \['x', 'y', 't', 'p', 'label'\]"),
        ("x,y,t_s,p\n1,2,3,1\n", r"e\.csv:1: header .*time unit 's' is not supported"),
        ("x_us,y,t,p\n1,2,3,1\n", r"only the t column takes a unit"),
        ("# t x y p\nx,y,t,p\n1,2,3,1\n", r"e\.csv: column headers disagree \(line 1: t,x,y,p"),
        ("t,x,y,p\n1,2,3\n", r"e\.csv: expected 4 columns 't x y p', found 3"),
        ("# sensor_size 0 6\n1,2,3,1\n", r"e\.csv:1: '# sensor_size' line: sensor size .* 1\.\.16384 px"),
        ("# sensor_size 200000 6\n1,2,3,1\n", r"'# sensor_size' line: sensor size"),
        ("# sensor_size -8 6\n1,2,3,1\n", r"e\.csv:1: '# sensor_size' line: sensor size \[-8, 6\] is not valid"),
        ("x,y,t,p\n# sensor_size: 8.5x6\n1,2,3,1\n", r"e\.csv:2: '# sensor_size' line: '8\.5x6' is not two integers"),
        ("# sensor_size\n1,2,3,1\n", r"e\.csv:1: '# sensor_size' line: '' is not two integers"),
        ("100,3,1,1\n150,0,2,0\n50,1,1,1\n", r"field 't' not sorted.*read by position as x y t p.*'t,x,y,p'"),
    ],
)
def test_text_header_errors(tmp_path, text, message) -> None:
    (tmp_path / "e.csv").write_text(text)
    with pytest.raises(ValueError, match=message):
        read_events(tmp_path / "e.csv")


def test_sensor_size_bounds_before_reading(tmp_path, rng) -> None:
    write_events(tmp_path / "e.npz", _events(rng, 20), SIZE)
    for bad in ((0, 16), (-24, 16), (24.5, 16), (100_001, 16), (24,)):
        with pytest.raises(ValueError, match=r"e\.npz: requested sensor size \(--sensor W H\): sensor size"):
            read_events(tmp_path / "e.npz", sensor_size=bad)
    assert read_events(tmp_path / "e.npz", sensor_size=(24.0, 16))[1] == SIZE  # integral floats are integers
    np.savez(tmp_path / "z.npz", **{n: _events(rng, 3)[n] for n in ("x", "y", "t", "p")}, sensor_size=[0, 4])
    with pytest.raises(ValueError, match=r"z\.npz: array 'sensor_size': sensor size \[0, 4\] is not valid"):
        read_events(tmp_path / "z.npz")
    write_sequence(tmp_path / "s.h5", _sequence(rng))
    for value, message in (([10**9, 16], r"sensor size \[1000000000, 16\] is not valid; expected two integers"),
                           ([24.0, 16.0], r"attribute 'sensor_size' has dtype float64"),
                           ([24, 16, 2], r"attribute 'sensor_size': sensor size \[24, 16, 2\] is not \(W, H\)")):
        with h5py.File(tmp_path / "s.h5", "a") as f:
            f.attrs["sensor_size"] = np.asarray(value)
        with pytest.raises(ValueError, match=message):
            read_sequence(tmp_path / "s.h5")
        with pytest.raises(ValueError, match=message):
            EventFile(tmp_path / "s.h5")


def test_folder_passed_as_file(tmp_path) -> None:
    (tmp_path / "d.h5").mkdir()
    for read in (read_sequence, read_events, EventFile):
        with pytest.raises(ValueError, match=r"d\.h5: is a folder, expected a file"):
            read(tmp_path / "d.h5")


def test_aedat4_round_trip(tmp_path, rng) -> None:
    pytest.importorskip("dv_processing")
    from had_snn.data.aedat import write_aedat4

    ev = _events(rng, 200)
    write_aedat4(tmp_path / "r.aedat4", ev, SIZE)
    back, size = read_events(tmp_path / "r.aedat4")
    assert size == SIZE and np.array_equal(back, ev)


# ----------------------------------------------------------------------------------------------- bad files
def _bad_sequence_file(tmp_path: Path, rng, edit) -> Path:
    path = tmp_path / "bad.h5"
    write_sequence(path, _sequence(rng))
    with h5py.File(path, "a") as f:
        edit(f)
    return path


def _replace(key: str, data) -> callable:
    def edit(f: h5py.File) -> None:
        del f[key]
        f.create_dataset(key, data=data)
    return edit


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda f: f["events/t"].__setitem__(slice(100, 101), 0), r"bad\.h5: events: field 't' not sorted: row 100"),
        (lambda f: f["events/x"].__setitem__(slice(5, 6), SIZE[0]), r"field 'x' out of bounds: row 5"),
        (lambda f: f["events/p"].__setitem__(slice(7, 8), -1), r"field 'p' must be 0 or 1: row 7"),
        (lambda f: f.__delitem__("boxes"), r"bad\.h5: missing dataset 'boxes'"),
        (lambda f: f.__delitem__("events/ms_to_idx"), r"missing dataset 'events/ms_to_idx'"),
        (_replace("events/t", np.linspace(0, 1, 4000)), r"dataset 'events/t' has dtype float64, expected an integer"),
        (_replace("events/x", np.full(4000, 70_000, np.int64)), r"'events/x' row 0 holds 70000, outside uint16"),
        (_replace("frames", np.zeros((5, 16, 24, 3), np.float32)), r"dataset 'frames' has dtype float32"),
        (_replace("boxes", np.zeros((4, 4), np.float32)), r"dataset 'boxes' has shape \(4, 4\), expected \(5, 4\)"),
        (_replace("events/ms_to_idx", np.zeros(51, np.uint64)), r"'events/ms_to_idx' does not match events/t"),
        (lambda f: f.attrs.__delitem__("sensor_size"), r"missing attribute 'sensor_size'"),
        (lambda f: f.attrs.__setitem__("format", "other"), r"attribute 'format' is 'other'"),
    ],
)
def test_bad_sequence_file_errors(tmp_path, rng, edit, message) -> None:
    path = _bad_sequence_file(tmp_path, rng, edit)
    with pytest.raises(ValueError, match=message):
        read_sequence(path)


def test_truncated_hdf5_is_a_clear_error(tmp_path, rng) -> None:
    path = tmp_path / "s.h5"
    write_sequence(path, _sequence(rng))
    data = path.read_bytes()
    for keep in (len(data) // 2, 100):
        (tmp_path / "cut.h5").write_bytes(data[:keep])
        with pytest.raises(ValueError, match=r"cut\.h5: (not a readable HDF5 file|corrupt or truncated)"):
            read_sequence(tmp_path / "cut.h5")
    (tmp_path / "junk.h5").write_bytes(b"not hdf5 at all")
    with pytest.raises(ValueError, match=r"junk\.h5: not a readable HDF5 file"):
        read_events(tmp_path / "junk.h5")


def test_other_format_errors(tmp_path, rng) -> None:
    with pytest.raises(FileNotFoundError, match="nope.h5"):
        read_sequence(tmp_path / "nope.h5")
    (tmp_path / "e.bin").write_bytes(b"123")
    with pytest.raises(ValueError, match=r"e\.bin: unknown event file suffix '\.bin'"):
        read_events(tmp_path / "e.bin")
    (tmp_path / "e.npz").write_bytes(b"PK\x03\x04 broken")
    with pytest.raises(ValueError, match=r"e\.npz: not a readable \.npz file"):
        read_events(tmp_path / "e.npz")
    np.savez(tmp_path / "k.npz", x=np.zeros(2, int), y=np.zeros(2, int))
    with pytest.raises(ValueError, match=r"k\.npz: missing array\(s\) \['t', 'p'\]"):
        read_events(tmp_path / "k.npz")
    (tmp_path / "u.txt").write_text("1 1 20 1\n2 2 10 0\n")
    with pytest.raises(ValueError, match=r"u\.txt: field 't' not sorted: row 1"):
        read_events(tmp_path / "u.txt")
    (tmp_path / "f.txt").write_text("1 1 0.5 1\n")
    with pytest.raises(ValueError, match=r"f\.txt: expected integer columns"):
        read_events(tmp_path / "f.txt")
    (tmp_path / "c.txt").write_text("# sensor_size 4 4\n1 1 5\n")
    with pytest.raises(ValueError, match=r"c\.txt: expected 4 columns"):
        read_events(tmp_path / "c.txt")
    (tmp_path / "o.txt").write_text("# sensor_size 4 4\n1 9 5 1\n")
    with pytest.raises(ValueError, match=r"o\.txt: field 'y' out of bounds"):
        read_events(tmp_path / "o.txt")
    with pytest.raises(ValueError, match=r"cannot write events as '\.aedat4'"):
        write_events(tmp_path / "w.aedat4", _events(rng, 3), SIZE)
    unsorted = make_events([0, 0], [0, 0], [5, 1], [0, 0])
    with pytest.raises(ValueError, match=r"n\.h5: field 't' not sorted"):
        write_events(tmp_path / "n.h5", unsorted, SIZE)
    assert not (tmp_path / "n.h5").exists()


# ----------------------------------------------------------------------------------------------- had-snn info
def test_info_command_on_sequence(tmp_path, rng, capsys) -> None:
    from had_snn.cli import main

    seq = _sequence(rng)
    write_sequence(tmp_path / "s.h5", seq)
    assert main(["info", str(tmp_path / "s.h5")]) == 0
    out = capsys.readouterr().out
    t = seq.events["t"]
    expected = {"format": "had-snn-sequence v1", "name": "seq_007", "sensor_size_wh_px": "24 x 16",
                "events": "4000", "t_first_us": str(t[0]), "t_last_us": str(t[-1]), "frames": "5",
                "frame_shape_hwc": "16 x 24 x 3", "frame_rate_hz": "100", "trajectory_samples": "50",
                "attributes": "fast_motion, low_light"}
    lines = dict(line.split(None, 1) for line in out.strip().splitlines())
    for key, value in expected.items():
        assert lines[key].strip() == value, key
    assert lines["boxes"].startswith("count=5, absent=1")
    assert main(["info", "--json", str(tmp_path / "s.h5")]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["events"] == 4000 and info["meta"] == seq.meta
    assert info["event_rate_mev_s"] == pytest.approx(4000 / ((t[-1] - t[0]) / 1e6) / 1e6)
    assert info["on_fraction"] == pytest.approx(seq.events["p"].mean())
    assert info["checksums"].startswith("fletcher32 on all 10 non-empty datasets")


def test_every_written_sequence_dataset_is_checksummed_and_info_names_old_ones(tmp_path, rng, capsys) -> None:
    from had_snn.cli import main

    write_sequence(tmp_path / "s.h5", _sequence(rng))
    with h5py.File(tmp_path / "s.h5", "a") as f:  # as an older version wrote it: boxes without a checksum
        boxes = f["boxes"][()]
        del f["boxes"]
        f.create_dataset("boxes", data=boxes)
    assert main(["info", "--json", str(tmp_path / "s.h5")]) == 0
    text = json.loads(capsys.readouterr().out)["checksums"]
    assert text.startswith("none on 1 of 10 datasets (/boxes)") and "cannot be detected" in text


def test_info_command_on_events_and_bad_files(tmp_path, rng, capsys) -> None:
    from had_snn.cli import main

    write_events(tmp_path / "e.npz", _events(rng, 10), SIZE)
    assert main(["info", "--json", str(tmp_path / "e.npz")]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["format"] == "npz" and info["events"] == 10 and info["sensor_size_wh_px"] == [24, 16]
    (tmp_path / "junk.h5").write_bytes(b"junk")
    assert main(["info", str(tmp_path / "junk.h5")]) == 1
    assert "junk.h5: not a readable HDF5 file" in capsys.readouterr().err
