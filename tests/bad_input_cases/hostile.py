"""Rows: the second hostile-input pass (ids ``host-``): allocations bounded by the input, every writer locked and
folders of another kind refused, corrupt timestamps and flipped bits refused, the numbers behind the tables checked,
and the one-line messages of empty, pickled and oddly named files.

Corrupt copies are made in each row's ``{tmp}``; a lock "held by another run" is a second open file description on
the folder's lock file (``flock`` conflicts between those even within one process), released by the row's check.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
from pathlib import Path

import h5py
import numpy as np

from tests.bad_input_cases import Case, Env

SAMPLES = Path(__file__).resolve().parents[3] / "shared" / "samples"
EVT3 = SAMPLES / "prophesee-evt3" / "evt3_sample.raw"
CONFIG = str(Path(__file__).resolve().parents[2] / "experiments" / "configs" / "tiny_student.yaml")
_HELD: dict[str, int] = {}  # lock files held by a row's setup, closed by its check
SENSOR = ("--sensor", "64", "48")
TRACK_NPY = ("track", "{tmp}/ev.npy", *SENSOR, "--init", "10", "10", "8", "8", "--no-progress")


def _events_npy(env: Env) -> None:
    """``{tmp}/ev.npy``: the shared sequence's events as a structured array (no sensor size, no frame times)."""
    from had_snn.data.io import read_sequence

    np.save(env.tmp / "ev.npy", read_sequence(env.seq, load_frames=False).events)


def _hold(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.write(fd, b"pid 1: had-snn another run\n")
    _HELD[str(path)] = fd


def _held(lock: str, then=None):
    """Setup: ``then(env)`` (if given), and the lock file ``{tmp}/LOCK`` held as by another run."""
    def setup(env: Env) -> None:
        if then is not None:
            then(env)
        _hold(env.tmp / lock)
    return setup


def _released(lock: str, absent: str | None = None):
    """Check: release the held lock (still there: the refused run must not remove another's lock), and ``absent``
    was not written."""
    def check(env: Env) -> None:
        path = env.tmp / lock
        assert path.exists(), "the refused run removed the other run's lock file"
        os.close(_HELD.pop(str(path)))
        if absent is not None:
            assert not (env.tmp / absent).exists(), f"{absent} was written by the refused run"
    return check


def _net(env: Env) -> Path:
    from had_snn.conversion.random_net import random_network
    from had_snn.hardware.netx import write_netx

    (env.tmp / "cv").mkdir(exist_ok=True)
    write_netx(env.tmp / "cv" / "student.h5", random_network(0))
    np.savez(env.tmp / "win.npz", spikes=(np.random.default_rng(0).random((3, 1, 2, 12, 12)) < 0.3).astype(np.uint8))
    return env.tmp / "cv" / "student.h5"


def _huge_weight(env: Env) -> None:
    """A netx file whose conv1 declares a (6000, 6000, 3, 3) weight (compressed, unwritten chunks: a small file)."""
    with h5py.File(_net(env), "a") as f:
        del f["layer/1/weight"]
        f["layer/1"].create_dataset("weight", shape=(6000, 6000, 3, 3), dtype="i4", chunks=(1, 6000, 3, 3),
                                    compression="gzip")


def _flip_dataset_byte(path: Path, key: str) -> None:
    with h5py.File(path, "r") as f:
        ds = f[key]
        offset = ds.id.get_chunk_info(0).byte_offset if ds.chunks else ds.id.get_offset()
    data = bytearray(path.read_bytes())
    data[offset + 3] ^= 0x40
    path.write_bytes(bytes(data))


def _flipped_weight(env: Env) -> None:
    _flip_dataset_byte(_net(env), "layer/1/weight")


def _flipped_sequence(env: Env) -> None:
    shutil.copy(env.seq, env.tmp / "s.h5")
    _flip_dataset_byte(env.tmp / "s.h5", "events/x")


def _evt3_time_high(value: int):
    """``{tmp}/r.raw``: the shared EVT3 sample with its middle EVT_TIME_HIGH word set to ``value``."""
    def setup(env: Env) -> None:
        from had_snn.data.prophesee import read_header

        header = read_header(EVT3)
        data = bytearray(EVT3.read_bytes())
        words = np.frombuffer(bytes(data[header.data_offset:]), dtype="<u2")
        time_high = np.flatnonzero((words >> 12) == 0x8)
        at = header.data_offset + 2 * int(time_high[len(time_high) // 2])
        data[at:at + 2] = np.uint16(0x8000 | value).tobytes()
        (env.tmp / "r.raw").write_bytes(bytes(data))
    return setup


def _dat(rows: list[tuple[int, int, int, int]], name: str = "h.dat"):
    """A Prophesee .dat file with CD events ``(x, y, t_us, p)`` on a 32 x 16 sensor."""
    def setup(env: Env) -> None:
        rec = np.array([(t, x | (y << 14) | (p << 28)) for x, y, t, p in rows], dtype=[("t", "<u4"), ("d", "<u4")])
        header = b"% Data file containing CD events\n% Version 2\n% Width 32\n% Height 16\n"
        (env.tmp / name).write_bytes(header + bytes([0x0C, 8]) + rec.tobytes())
    return setup


def _uint64_times(suffix: str):
    def setup(env: Env) -> None:
        t = np.array([1, 2, (1 << 63) + 5], dtype=np.uint64)
        x, y, p = np.zeros(3, np.uint16), np.zeros(3, np.uint16), np.ones(3, np.uint8)
        if suffix == ".npy":
            ev = np.zeros(3, dtype=[("t", "<u8"), ("x", "<u2"), ("y", "<u2"), ("p", "u1")])
            ev["t"] = t
            np.save(env.tmp / "u.npy", ev)
        else:
            np.savez(env.tmp / "u.npz", t=t, x=x, y=y, p=p, sensor_size=np.array([4, 4]))
    return setup


def _text(name: str, content: str):
    def setup(env: Env) -> None:
        (env.tmp / name).write_text(content)
    return setup


def _bytes(name: str, n: int):
    def setup(env: Env) -> None:
        (env.tmp / name).write_bytes(np.random.default_rng(3).integers(0, 256, n, dtype=np.uint8).tobytes())
    return setup


def _copy_data(env: Env) -> None:
    shutil.copytree(env.data, env.tmp / "bench")


def _train_run(env: Env) -> None:
    (env.tmp / "run").mkdir()
    shutil.copy(env.student, env.tmp / "run" / "last.pt")


def _eval_folder(env: Env) -> None:
    (env.tmp / "ev").mkdir()
    (env.tmp / "ev" / "results.json").write_text('{"trackers": {}}\n')


def _convert_folder(env: Env) -> None:
    _net(env)
    (env.tmp / "cv" / "quantization.json").write_text("{}\n")


def _stuff(env: Env) -> None:
    (env.tmp / "stuff").mkdir()
    (env.tmp / "stuff" / "notes.txt").write_text("my notes\n")


def _unchanged_listing(sub: str, names: list[str]):
    def check(env: Env) -> None:
        got = sorted(p.name for p in (env.tmp / sub).iterdir())
        assert got == sorted(names), f"{sub} now holds {got}"
    return check


def _marked(sub: str, kind: str):
    def check(env: Env) -> None:
        assert (env.tmp / sub / ".had-snn-kind").read_text().strip() == kind

        def strict(constant: str) -> None:
            raise AssertionError(f"results.json holds {constant}, which strict JSON parsers reject")
        if (env.tmp / sub / "results.json").exists():
            json.loads((env.tmp / sub / "results.json").read_text(), parse_constant=strict)
    return check


LAYERS = ("conv1", "pool1", "conv2", "fc1", "readout")


def _counts(**bad):
    """``{tmp}/counts.json`` for the random network, all zeros but ``bad`` (field -> value) in conv1."""
    def setup(env: Env) -> None:
        _net(env)
        layers = [{"name": n, "in_spikes": 10, "synops": 0, "neuron_updates": 0, "out_spikes": 0} for n in LAYERS]
        layers[0].update(bad)
        text = json.dumps({"steps": 4, "layers": layers})
        (env.tmp / "counts.json").write_text(text)
    return setup


def _teacher_file(name: str, text: str):
    def setup(env: Env) -> None:
        _counts()(env)
        (env.tmp / name).write_text(text)
    return setup


def _report(path: Path, tracker: str = "had", value: float = 0.5) -> None:
    body = {"trackers": {tracker: {"fps": 1.0, "sequences": {f"s{i}": {"SR_AUC": value} for i in range(5)}}}}
    path.write_text(json.dumps(body))


def _reports(value_a: float = 0.5):
    def setup(env: Env) -> None:
        _report(env.tmp / "a.json", value=value_a)
        _report(env.tmp / "b.json", "student", 0.4)
    return setup


def _checkpoint(edit):
    def setup(env: Env) -> None:
        import torch

        state = torch.load(env.student, weights_only=True)
        edit(state)
        torch.save(state, env.tmp / "bad.pt")
        _events_npy(env)
    return setup


def _nan_weights(state: dict) -> None:
    key = next(iter(state["model"]))
    state["model"][key] = state["model"][key].clone().fill_(float("nan"))


def _negative_width(state: dict) -> None:
    def walk(d: dict) -> bool:
        for k, v in d.items():
            if k == "widths":
                d[k] = [-4, *list(v)[1:]]
                return True
            if isinstance(v, dict) and walk(v):
                return True
        return False
    assert walk(state), "the checkpoint records no widths"


def _nothing(*subs: str):
    def check(env: Env) -> None:
        for sub in subs:
            assert not (env.tmp / sub).exists(), f"{sub} was written"
    return check


ENERGY = ("energy", "{tmp}/cv", "--counts", "{tmp}/counts.json", "--out", "{tmp}/en")
EVAL_STATIC = ("eval", "--data", "{data}", "--split", "test", "--tracker", "static", "--no-plots")

CASES = [
    # --- allocations bounded by the input
    Case("host-track-rate-huge", (*TRACK_NPY, "--rate-hz", "1e9", "--out", "{tmp}/o"), 1,
         ("--rate-hz", "output times", "more than the 1000000"), setup=_events_npy, check=_nothing("o")),
    Case("host-show-sensor-area", ("show", "{tmp}/ev.npy", "--sensor", "16384", "16384", "--out", "{tmp}/x.png"), 1,
         ("ev.npy", "16384 x 16384", "16777216"), setup=_events_npy, check=_nothing("x.png")),
    Case("host-info-sensor-side", ("info", "{tmp}/ev.npy", "--sensor", "100000", "48"), 1,
         ("ev.npy", "--sensor", "1..16384"), setup=_events_npy),
    Case("host-track-video-sensor-area", (*TRACK_NPY[:2], "--sensor", "8192", "8192", *TRACK_NPY[5:], "--video",
                                          "{tmp}/v.gif", "--out", "{tmp}/o"), 1, ("8192 x 8192", "pixels"),
         setup=_events_npy, check=_nothing("o", "v.gif")),
    Case("host-netx-declared-huge", ("deploy", "{tmp}/cv", "--input", "{tmp}/win.npz"), 1,
         ("layer 1", "'weight'", "(6000, 6000, 3, 3)", "more than"), setup=_huge_weight,
         check=_nothing("cv/deploy_emulator_reset")),
    # --- flipped bits and corrupt timestamps
    Case("host-netx-flipped-weight", ("deploy", "{tmp}/cv", "--input", "{tmp}/win.npz"), 1,
         ("student.h5", "'weight'", "checksum mismatch"), setup=_flipped_weight),
    Case("host-sequence-flipped-events", ("info", "{tmp}/s.h5"), 1, ("s.h5", "checksum"), setup=_flipped_sequence),
    Case("host-evt3-time-high-zero", ("info", "{tmp}/r.raw"), 1, ("r.raw", "EVT_TIME_HIGH drops", "no wrap", "byte"),
         setup=_evt3_time_high(0)),
    Case("host-evt3-time-high-ahead", ("info", "{tmp}/r.raw"), 1, ("r.raw", "not sorted"),
         setup=_evt3_time_high(4000)),
    Case("host-evt3-time-high-behind", ("info", "{tmp}/r.raw"), 1, ("r.raw", "not sorted"),
         setup=_evt3_time_high(2000)),
    Case("host-dat-out-of-order", ("info", "{tmp}/h.dat"), 1, ("h.dat", "jumps by 71.6 min", "counter wrap"),
         setup=_dat([(0, 0, 10, 1), (31, 15, 12, 0), (7, 9, 11, 1), (3, 3, 20, 0)])),
    Case("host-dat-upper-case", ("info", "{tmp}/GOOD.DAT"), 0, ("GOOD.DAT", "prophesee DAT"),
         setup=_dat([(0, 0, 10, 1), (31, 15, 12, 0), (7, 9, 20, 1)], "GOOD.DAT")),
    Case("host-npy-uint64-time", ("info", "{tmp}/u.npy", "--sensor", "4", "4"), 1, ("u.npy", "beyond int64"),
         setup=_uint64_times(".npy")),
    Case("host-npz-uint64-time", ("info", "{tmp}/u.npz"), 1, ("u.npz", "beyond int64"),
         setup=_uint64_times(".npz")),
    Case("host-text-gap", ("info", "{tmp}/e.csv"), 1, ("e.csv", "jumps by 33.3 min", "rows 1 and 2"),
         setup=_text("e.csv", "x,y,t,p\n1,1,0,1\n2,2,10,0\n3,3,2000000010,1\n")),
    # --- one writer per folder
    Case("host-eval-out-busy", (*EVAL_STATIC, "--out", "{tmp}/ev"), 1, ("ev", "in use by another had-snn run"),
         setup=_held("ev/.had-snn.lock"), check=_released("ev/.had-snn.lock", "ev/results.json")),
    Case("host-convert-out-busy", ("convert", "{student}", "--out", "{tmp}/cv"), 1,
         ("cv", "in use by another had-snn run"), setup=_held("cv/.had-snn.lock"),
         check=_released("cv/.had-snn.lock", "cv/student.h5")),
    Case("host-energy-out-busy", (*ENERGY,), 1, ("en", "in use by another had-snn run"),
         setup=_held("en/.had-snn.lock", _counts()), check=_released("en/.had-snn.lock", "en/report.json")),
    Case("host-track-out-busy", (*TRACK_NPY, "--out", "{tmp}/o"), 1, ("o", "in use by another had-snn run"),
         setup=_held("o/.had-snn.lock", _events_npy), check=_released("o/.had-snn.lock", "o/track.json")),
    Case("host-windows-out-busy", ("windows", "{seq}", "--out", "{tmp}/w.npz", "--frames", "1"), 1,
         ("w.npz", "being written by another had-snn run"), setup=_held(".w.npz.lock"),
         check=_released(".w.npz.lock", "w.npz")),
    # --- folders of another kind
    Case("host-train-out-benchmark", ("train", "student", "--config", CONFIG, "--data", "{tmp}/bench", "--out",
                                      "{tmp}/bench", "--epochs", "1", "--no-progress"), 1,
         ("--out", "holds a benchmark output"), setup=_copy_data,
         check=_unchanged_listing("bench", ["index.json", "train", "val", "test", ".had-snn-kind"])),
    Case("host-demo-out-train-run", ("demo", "--out", "{tmp}/run", "--no-progress"), 1,
         ("--out", "holds a train output", "last.pt"), setup=_train_run,
         check=_unchanged_listing("run", ["last.pt"])),
    Case("host-eval-out-train-run", (*EVAL_STATIC, "--out", "{tmp}/run"), 1, ("holds a train output", "not a eval"),
         setup=_train_run, check=_unchanged_listing("run", ["last.pt"])),
    Case("host-convert-out-eval", ("convert", "{student}", "--out", "{tmp}/ev"), 1,
         ("--out", "holds an eval output", "results.json"), setup=_eval_folder,
         check=_unchanged_listing("ev", ["results.json"])),
    Case("host-energy-out-convert", ("energy", "{tmp}/cv", "--counts", "{tmp}/counts.json", "--out", "{tmp}/cv"), 1,
         ("--out", "holds a convert output", "quantization.json"),
         setup=lambda env: (_counts()(env), _convert_folder(env))),
    Case("host-track-out-benchmark", (*TRACK_NPY, "--out", "{tmp}/bench"), 1, ("holds a benchmark output",),
         setup=lambda env: (_events_npy(env), _copy_data(env))),
    Case("host-synth-into-other-folder", ("synth", "--out", "{tmp}/stuff", "--sequences", "3", "--size", "64x48",
                                          "--duration-s", "0.3"), 1,
         ("stuff", "holds 1 other file", "notes.txt", "index.json"), setup=_stuff,
         check=_unchanged_listing("stuff", ["notes.txt"])),
    Case("host-eval-marks-its-folder", (*EVAL_STATIC, "--out", "{tmp}/ev"), 0, ("static",),
         check=_marked("ev", "eval")),
    # --- the numbers behind the tables
    Case("host-counts-nan", ENERGY, 1, ("counts.json", "conv1", "'synops'", "finite"),
         setup=_counts(synops=float("nan")), check=_nothing("en/report.json")),
    Case("host-counts-neuron-updates-huge", ENERGY, 1, ("conv1", "neuron_updates", "neurons x steps", "576 x 4"),
         setup=_counts(neuron_updates=1e12), check=_nothing("en/report.json")),
    Case("host-counts-frames-inf", ENERGY, 1, ("counts.json", "conv1", "finite"),
         setup=_counts(out_spikes=float("inf")), check=_nothing("en/report.json")),
    Case("host-teacher-macs-inf", (*ENERGY, "--teacher-macs", "{tmp}/macs.json"), 1, ("macs.json", "non-negative"),
         setup=_teacher_file("macs.json", '{"conv": Infinity}'), check=_nothing("en/report.json")),
    Case("host-teacher-traffic-nan", (*ENERGY, "--teacher-traffic", "{tmp}/tr.json"), 1, ("tr.json", "'macs'"),
         setup=_teacher_file("tr.json", '[{"name": "c", "macs": NaN, "weights": 1, "in_acts": 1, "out_acts": 1}]'),
         check=_nothing("en/report.json")),
    Case("host-teacher-macs-one-mac", (*ENERGY, "--teacher-macs", "{tmp}/macs.json"), 1,
         ("macs.json", "1 MACs per frame", "fewer than 1% of the student's", "meaningless"),
         setup=_teacher_file("macs.json", '{"x": 1}'), check=_nothing("en/report.json")),
    Case("host-teacher-traffic-tiny", (*ENERGY, "--teacher-traffic", "{tmp}/tr.json"), 1,
         ("tr.json", "3 MACs per frame", "synapses"),
         setup=_teacher_file("tr.json", '[{"name": "c", "macs": 3, "weights": 1, "in_acts": 1, "out_acts": 1}]'),
         check=_nothing("en/report.json")),
    Case("host-compare-score-above-one", ("compare", "{tmp}/a.json", "{tmp}/b.json"), 1,
         ("a.json", "sr_auc", "[0, 1]", "7.5"), setup=_reports(7.5)),
    Case("host-compare-file-against-itself", ("compare", "{tmp}/a.json", "{tmp}/a.json"), 1,
         ("both name tracker 'had'", "itself"), setup=_reports()),
    Case("host-compare-file-twice-as-seeds", ("compare", "{tmp}/a.json,{tmp}/a.json", "{tmp}/b.json"), 1,
         ("results_a", "given twice"), setup=_reports()),
    # --- one-line messages for empty, pickled and odd files
    Case("host-text-empty", ("info", "{tmp}/e.csv"), 1, ("e.csv", "no event rows"), setup=_text("e.csv", "")),
    Case("host-text-comments-only", ("info", "{tmp}/e.txt"), 1, ("e.txt", "no event rows"),
         setup=_text("e.txt", "# sensor_size 64 48\n# nothing else\n")),
    Case("host-npz-random-bytes", ("info", "{tmp}/r.npz"), 1, ("r.npz", "not a .npz event file", "pickled"),
         setup=_bytes("r.npz", 300)),
    Case("host-aedat4-empty", ("info", "{tmp}/e.aedat4"), 1, ("e.aedat4", "not a readable aedat4 file", "header line"),
         setup=_text("e.aedat4", "")),
    Case("host-show-out-without-suffix", ("show", "{seq}", "--out", "{tmp}/plot"), 1,
         ("--out", "unknown image suffix", ".png"), check=_nothing("plot")),
    Case("host-track-init-huge", (*TRACK_NPY[:5], "--init", "-100", "-80", "220", "165", "--out", "{tmp}/o"), 1,
         ("--init", "more than 2x the sensor", "64x48"), setup=_events_npy, check=_nothing("o")),
    Case("host-track-video-unwritable", (*TRACK_NPY, "--video", "{tmp}/afile/v.gif", "--out", "{tmp}/o"), 1,
         ("--video", "cannot write there", "afile"), setup=lambda env: (_events_npy(env), _text("afile", "x")(env)),
         check=_nothing("o")),
    Case("host-checkpoint-nan-weights", (*TRACK_NPY, "--checkpoint", "{tmp}/bad.pt", "--out", "{tmp}/o"), 1,
         ("bad.pt", "nan or infinite", "backbone"), setup=_checkpoint(_nan_weights), check=_nothing("o")),
    Case("host-checkpoint-negative-width", (*TRACK_NPY, "--checkpoint", "{tmp}/bad.pt", "--out", "{tmp}/o"), 1,
         ("bad.pt", "cannot be rebuilt", "negative"), setup=_checkpoint(_negative_width), check=_nothing("o")),
]
