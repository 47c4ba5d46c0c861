"""Readers for real recordings: Prophesee .raw (EVT 2.0 / 3.0) and .dat, structured .npy arrays, .aedat4; the
``info`` / ``show`` commands on them; one-line errors for bad files.

The real samples live in ``shared/samples`` next to the repository (each folder's README says where they come from);
the tests that need them skip when that folder is missing. EVT 2.0 and DAT files are built here, by hand following
Prophesee's documented layouts and with expelliarmus' own writer.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from numpy.lib.recfunctions import repack_fields

from had_snn.cli import main
from had_snn.data import prophesee
from had_snn.data.events import EVENT_DTYPE, make_events
from had_snn.data.io import read_events, read_events_and_frames
from had_snn.data.prophesee import iter_prophesee, read_header

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "samples"
EVT3_RAW = SAMPLES / "prophesee-evt3" / "evt3_sample.raw"
EVT3_NPY = SAMPLES / "prophesee-evt3" / "evt3_sample.npy"
AEDAT4 = SAMPLES / "dvxplorer-aedat4" / "sample.aedat4"
HD = (1280, 720)


@pytest.fixture(scope="module")
def samples() -> Path:
    if not SAMPLES.is_dir():
        pytest.skip(f"real sample recordings not found: {SAMPLES} (shared/samples next to the repository)")
    return SAMPLES


@pytest.fixture(params=["compiled", "fallback"])
def decoder(request, monkeypatch) -> str:
    """Run a test through the compiled decoders, then through the fallbacks used without numba (numpy EVT 3.0,
    expelliarmus EVT 2.0)."""
    if request.param == "fallback":
        monkeypatch.setattr(prophesee, "_kernel", lambda: None)
    else:
        assert prophesee._kernel() is not None, "numba is part of the train extra: the compiled decoders must load"
    return request.param


def _one_error_line(err: str, path: Path) -> str:
    """The CLI's error report: exactly one line, naming the file."""
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("had-snn ") and ": error: " in lines[0] and str(path) in lines[0], lines[0]
    return lines[0]


# ------------------------------------------------------------------------------------------ hand-built EVT 3.0
EVT3_HEADER = b"% date 2024-01-01 00:00:00\n% evt 3.0\n% format EVT3;height=4;width=40\n% geometry 40x4\n% end\n"
EVT3_WORDS = [
    0x0002, 0x2001,  # y=2, x=1: an event before any TIME_HIGH has no time: dropped
    0x8025,  # TIME_HIGH 0x025 (its low byte is '%': the '% end' line ends the header, not the data)
    0x6010,  # TIME_LOW 0x010 -> t = 0x25 << 12 | 0x10
    0x0003, 0x2805,  # y=3; ADDR_X x=5 p=1
    0x6020, 0x0001,  # TIME_LOW 0x020; y=1
    0x3002,  # VECT_BASE_X x=2 p=0
    0x4005,  # VECT_12 bits 0, 2 -> x=2, 4; base += 12 -> 14
    0x0001,  # y=1 again (vector base unchanged)
    0x5003,  # VECT_8 bits 0, 1 -> x=14, 15
    0xA000, 0xE000, 0xF000, 0x7000,  # EXT_TRIGGER, OTHERS, CONTINUED_12, CONTINUED_4: skipped
    0x8026, 0x0000, 0x2027,  # TIME_HIGH 0x026 (TIME_LOW kept); y=0, x=39 p=0
    0x8FFF, 0x6FFE, 0x2800,  # TIME_HIGH 0xFFF, TIME_LOW 0xFFE; x=0 p=1
    0x8001, 0x6002, 0x2001,  # TIME_HIGH 0x001 < 0xFFF: the 24-bit time base looped; x=1 p=0
]
EVT3_EXPECTED = [  # x, y, t, p
    (5, 3, 0x25010, 1),
    (2, 1, 0x25020, 0), (4, 1, 0x25020, 0), (14, 1, 0x25020, 0), (15, 1, 0x25020, 0),
    (39, 0, 0x26020, 0),
    (0, 0, 0xFFFFFE, 1),
    (1, 0, (1 << 24) + 0x1002, 0),
]


def _expected(rows) -> np.ndarray:
    x, y, t, p = (np.array(c) for c in zip(*rows, strict=True))
    return make_events(x, y, t, p)


def _write(path: Path, header: bytes, words, dtype: str) -> Path:
    path.write_bytes(header + np.asarray(words, dtype=dtype).tobytes())
    return path


def test_hand_built_evt3_decodes_per_specification(tmp_path, decoder) -> None:
    path = _write(tmp_path / "hand.raw", EVT3_HEADER, EVT3_WORDS, "<u2")
    header = read_header(path)
    assert (header.encoding, header.sensor_size, header.data_offset) == ("evt3", (40, 4), len(EVT3_HEADER))
    assert header.fields["geometry"] == "40x4" and header.fields["evt"] == "3.0"
    ev, size = read_events(path)
    assert size == (40, 4) and ev.dtype == EVENT_DTYPE
    np.testing.assert_array_equal(ev, _expected(EVT3_EXPECTED))
    for words_per_block in (1, 2, 3, 5):  # state (time, y, vector base and polarity) carried across blocks
        parts = list(iter_prophesee(path, chunk_events=words_per_block))
        np.testing.assert_array_equal(np.concatenate(parts), ev)


def _random_evt3_words(rng: np.random.Generator, n: int) -> np.ndarray:
    """A plausible EVT 3.0 stream: TIME_HIGH stepping on (wrapping its 12 bits), and every other word type."""
    kinds = rng.choice([0x0, 0x2, 0x3, 0x4, 0x5, 0x6, 0x7, 0x8, 0xA, 0xE, 0xF], n,
                       p=[.12, .2, .08, .2, .1, .12, .02, .08, .02, .03, .03])
    words = (kinds.astype(np.int64) << 12) | rng.integers(0, 1 << 12, n)
    th = (3000 + np.cumsum(kinds == 0x8)) % 4096  # one step per TIME_HIGH word: wraps after ~1100 of them
    words[kinds == 0x8] = (0x8 << 12) | th[kinds == 0x8]
    return words.astype(np.uint16)


def test_compiled_evt3_equals_numpy_decoder(tmp_path, rng) -> None:
    """The compiled decoder and the numpy one (the fallback without numba) agree event by event on random streams,
    whatever the block size, and refuse the same bad word at the same byte."""
    words = _random_evt3_words(rng, 20_000)
    path = _write(tmp_path / "r.raw", EVT3_HEADER, words, "<u2")
    compiled = np.concatenate(list(iter_prophesee(path)))
    assert len(compiled) > 30_000 and compiled["t"].max() >= 1 << 24  # vectors and a time-base loop included
    for block in (7, 1000, 1 << 18):
        parts = list(iter_prophesee(path, chunk_events=block))
        np.testing.assert_array_equal(np.concatenate(parts), compiled)
    state = prophesee._Evt3State()
    np.testing.assert_array_equal(prophesee._decode_evt3_block(words, state, 0, path), compiled)
    bad_words = ((0xD000, "unknown word type 0xd"), (0x8000 | 405, "EVT_TIME_HIGH drops from 3005 to 405"))
    for bad_word, message in bad_words:
        broken = words.copy()
        at = int(np.flatnonzero((broken >> 12) == 0x8)[5])  # the 6th TIME_HIGH, 3006: 405 is a drop, no wrap
        broken[at] = bad_word
        _write(path, EVT3_HEADER, broken, "<u2")
        errors = []
        for kernel in (prophesee._kernel, lambda: None):  # compiled, then numpy
            try:
                with pytest.MonkeyPatch.context() as mp:
                    mp.setattr(prophesee, "_kernel", kernel)
                    list(iter_prophesee(path, chunk_events=3000))
            except ValueError as exc:
                errors.append(str(exc))
        try:  # the whole-file compiled decode (counted first, then filled in place)
            read_events(path, sensor_size=(40, 4))
        except ValueError as exc:
            errors.append(str(exc))
        assert len(errors) == 3 and errors[0] == errors[1] == errors[2], errors
        assert f"{message}" in errors[0] and f"at byte {len(EVT3_HEADER) + 2 * at}" in errors[0]


def test_compiled_evt2_equals_expelliarmus(tmp_path, rng) -> None:
    """Our EVT 2.0 decoder gives expelliarmus' events field by field (after the CD words that precede the first
    TIME_HIGH, which carry no time and which we drop)."""
    expelliarmus = pytest.importorskip("expelliarmus")
    n = 30_000
    kinds = rng.choice([0x0, 0x1, 0x8, 0xA, 0xE, 0xF], n, p=[.4, .4, .1, .04, .03, .03])
    kinds[0] = 0x8
    words = (kinds.astype(np.int64) << 28) | rng.integers(0, 1 << 28, n)
    th = 5 + np.cumsum(kinds == 0x8)
    words[kinds == 0x8] = (0x8 << 28) | th[kinds == 0x8]
    path = _write(tmp_path / "r.raw", b"% evt 2.0\n% geometry 2048x2048\n", words.astype(np.uint32), "<u4")
    ours = np.concatenate(list(iter_prophesee(path, chunk_events=5000)))
    wizard = expelliarmus.Wizard(encoding="evt2", fpath=path, chunk_size=1 << 20)
    wizard.cargo.events_info.start_byte = read_header(path).data_offset
    theirs = np.concatenate(list(wizard.read_chunk()))
    assert len(ours) == len(theirs) == np.count_nonzero(kinds <= 1)
    for name in ("x", "y", "t", "p"):
        np.testing.assert_array_equal(ours[name], theirs[name], err_msg=name)


def test_dat_equals_expelliarmus(tmp_path, rng) -> None:
    """Our numpy DAT decoder gives expelliarmus' events field by field, 32-bit wraps of t included."""
    expelliarmus = pytest.importorskip("expelliarmus")
    n = 50_000
    t = (np.uint64(4_294_000_000) + np.cumsum(rng.integers(0, 80, n)).astype(np.uint64)) % (1 << 32)
    d = rng.integers(0, 1 << 14, n) | rng.integers(0, 1 << 10, n) << 14 | rng.integers(0, 2, n) << 28
    rec = np.empty(n, [("t", "<u4"), ("d", "<u4")])
    rec["t"], rec["d"] = t, d
    path = tmp_path / "r.dat"
    path.write_bytes(b"% Width 16384\n% Height 1024\n" + bytes([0x0C, 8]) + rec.tobytes())
    ours = np.concatenate(list(iter_prophesee(path, chunk_events=7777)))
    wizard = expelliarmus.Wizard(encoding="dat", fpath=path, chunk_size=1 << 20)
    wizard.cargo.events_info.start_byte = read_header(path).data_offset
    theirs = np.concatenate(list(wizard.read_chunk()))
    assert ours["t"][-1] > 1 << 32  # wrapped
    for name in ("x", "y", "t", "p"):
        np.testing.assert_array_equal(ours[name], theirs[name], err_msg=name)


def test_raw_header_variants(tmp_path) -> None:
    body = np.asarray(EVT3_WORDS[2:], "<u2").tobytes()
    # no '% end': data starts at the first line that does not begin with '% ' (0x25 0x80 here)
    path = tmp_path / "noend.raw"
    path.write_bytes(b"% evt 3.0\n% Width 40\n% Height 4\n" + body)
    assert read_header(path).sensor_size == (40, 4)
    np.testing.assert_array_equal(read_events(path)[0], _expected(EVT3_EXPECTED))
    # Metavision 4 style: the encoding and the geometry only in '% format'
    path.write_bytes(b"% format EVT3;height=4;width=40\n% end\n" + body)
    assert (read_header(path).encoding, read_header(path).sensor_size) == ("evt3", (40, 4))
    # no geometry: read_events needs the sensor size; a disagreeing one is refused
    path.write_bytes(b"% evt 3.0\n" + body)
    with pytest.raises(ValueError, match=r"noend\.raw: the header has no sensor geometry .*--sensor W H"):
        read_events(path)
    assert read_events(path, sensor_size=(40, 4))[1] == (40, 4)
    # a plugin name without a known sensor is no geometry either; a geometry line wins over the plugin's sensor
    path.write_bytes(b"% evt 3.0\n% plugin_name hal_plugin_someone_elses\n" + body)
    with pytest.raises(ValueError, match=r"no '% plugin_name' of a known camera\); give the sensor size"):
        read_events(path)
    path.write_bytes(b"% evt 3.0\n% plugin_name hal_plugin_gen31_evk3\n" + body)
    assert read_header(path).sensor_size == (640, 480)
    path.write_bytes(b"% evt 3.0\n% plugin_name hal_plugin_gen41_evk3\n% geometry 40x4\n" + body)
    assert read_header(path).sensor_size == (40, 4)
    path.write_bytes(EVT3_HEADER + body)
    with pytest.raises(ValueError, match=r"noend\.raw: file sensor size \(40, 4\) differs from the requested"):
        read_events(path, sensor_size=(41, 4))
    for head, message in [
        (b"% evt 3.0\n% geometry 40x4\n% format EVT3;height=4;width=41\n", r"header sensor sizes disagree"),
        (b"% geometry 40x4\n", r"RAW header has no '% evt 2\.0' / '% evt 3\.0' line"),
        (b"% evt 2.1\n", r"RAW encoding 'evt 2\.1' is not supported"),
        (b"% evt 3.0\n% geometry 40by4\n", r"header '% geometry 40by4' is not WxH"),
        (b"% evt 3.0\n% geometry 0x4\n", r"header '% geometry 0x4': sensor size \[0, 4\] is not valid"),
        (b"% format EVT3;height=4;width=4000000\n", r"header '% format .*': sensor size \[4000000, 4\] is not valid; "
                                                   r"expected two integers \(W, H\) in 1\.\.16384 px"),
    ]:
        path.write_bytes(head + body)
        with pytest.raises(ValueError, match=r"noend\.raw: " + message):
            read_events(path)
    path.write_bytes(b"% evt 3.0\n")  # header only: an empty recording
    assert len(read_events(path, sensor_size=(40, 4))[0]) == 0
    with pytest.raises(ValueError, match=r"noend\.raw: requested sensor size \(--sensor W H\): sensor size \[0, 4\]"):
        read_events(path, sensor_size=(0, 4))


def test_folders_given_as_recordings(tmp_path) -> None:
    from had_snn.data.aedat import read_aedat4_recording
    from had_snn.data.datasets.files import read_boxes

    for name, read in (("r.raw", read_header), ("r.aedat4", read_aedat4_recording), ("gt.txt", read_boxes),
                       ("e.npy", read_events)):
        (tmp_path / name).mkdir()
        with pytest.raises(ValueError, match=rf"{name.replace('.', '[.]')}: is a folder, expected a file"):
            read(tmp_path / name)


def test_raw_truncated_or_corrupt(tmp_path, decoder) -> None:
    path = tmp_path / "bad.raw"
    path.write_bytes(EVT3_HEADER + np.asarray(EVT3_WORDS, "<u2").tobytes()[:-1])
    with pytest.raises(ValueError, match=r"bad\.raw: truncated EVT 3\.0 data: \d+ bytes after the header is not a "
                                         r"whole number of 2-byte words"):
        read_events(path)
    path.write_bytes(EVT3_HEADER[:30])
    with pytest.raises(ValueError, match=r"bad\.raw: header line at byte \d+ is not terminated"):
        read_events(path)
    _write(path, EVT3_HEADER, [*EVT3_WORDS[:6], 0xD123, *EVT3_WORDS[6:]], "<u2")
    offset = len(EVT3_HEADER) + 2 * 6
    with pytest.raises(ValueError, match=rf"bad\.raw: corrupt EVT 3\.0 data: unknown word type 0xd at byte {offset}"):
        read_events(path)
    if decoder == "fallback":
        pytest.importorskip("expelliarmus")
    header = b"% evt 2.0\n% geometry 64x48\n"
    _write(path, header, [0x3 << 28], "<u4")  # 0x3 is no EVT 2.0 word type
    with pytest.raises(ValueError, match=rf"bad\.raw: corrupt EVT 2\.0 data: .*unknown word type 0x3 at byte "
                                         rf"{len(header)}\b"):
        read_events(path)
    # the unknown word after 300 good ones: named with its own byte
    good = [0x8 << 28 | 1] + [_evt2_cd(1, k % 64, k % 64, k % 48) for k in range(299)]
    _write(path, header, [*good, 0x3 << 28, *good[1:]], "<u4")
    with pytest.raises(ValueError, match=rf"unknown word type 0x3 at byte {len(header) + 4 * 300}"):
        read_events(path)


# ------------------------------------------------------------------------------------------ EVT 2.0 and DAT
def _evt2_cd(p: int, t_low: int, x: int, y: int) -> int:
    return (p << 28) | (t_low << 22) | (x << 11) | y


def test_hand_built_evt2(tmp_path, decoder) -> None:
    if decoder == "fallback":
        pytest.importorskip("expelliarmus")
    words = [
        _evt2_cd(1, 5, 3, 4),  # before any TIME_HIGH: no time, dropped
        (0x8 << 28) | 1000,  # TIME_HIGH: t = 1000 << 6 + low
        _evt2_cd(0, 7, 10, 20), _evt2_cd(1, 9, 63, 47),
        0xA << 28,  # EXT_TRIGGER: skipped
        (0x8 << 28) | 1001, _evt2_cd(1, 0, 0, 0),
    ]
    path = _write(tmp_path / "hand.raw", b"% evt 2.0\n% geometry 64x48\n% end\n", words, "<u4")
    assert read_header(path).encoding == "evt2"
    ev, size = read_events(path)
    assert size == (64, 48)
    np.testing.assert_array_equal(ev, _expected([(10, 20, 64007, 0), (63, 47, 64009, 1), (0, 0, 64064, 1)]))


def test_missing_expelliarmus_names_the_extra(tmp_path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "expelliarmus", None)  # import expelliarmus -> ImportError
    path = _write(tmp_path / "e2.raw", b"% evt 2.0\n% geometry 64x48\n", [(0x8 << 28) | 1, _evt2_cd(1, 2, 3, 4)],
                  "<u4")
    assert len(read_events(path)[0]) == 1  # the compiled EVT 2.0 decoder needs no expelliarmus
    dat = tmp_path / "e.dat"  # nor does DAT
    dat.write_bytes(b"% Width 8\n% Height 8\n" + bytes([0x0C, 8]) + np.array([5, 1 | 2 << 14], "<u4").tobytes())
    assert read_events(dat)[0]["t"].tolist() == [5]
    monkeypatch.setattr(prophesee, "_kernel", lambda: None)  # without numba, EVT 2.0 needs expelliarmus
    with pytest.raises(ValueError, match=r"e2\.raw: decoding EVT 2\.0 without numba needs expelliarmus: "
                                         r"pip install had-snn\[prophesee\]"):
        read_events(path)
    evt3 = _write(tmp_path / "e3.raw", EVT3_HEADER, EVT3_WORDS, "<u2")  # EVT 3.0 is decoded without either
    assert len(read_events(evt3)[0]) == len(EVT3_EXPECTED)


def _random_events(rng: np.random.Generator, n: int, size: tuple[int, int]) -> np.ndarray:
    t = 1_000 + np.cumsum(rng.integers(0, 40, n))
    return make_events(rng.integers(0, size[0], n), rng.integers(0, size[1], n), t, rng.integers(0, 2, n))


@pytest.mark.parametrize(("encoding", "name", "geometry"), [
    ("evt2", "rt.raw", b"% geometry 64x48\n"),
    ("dat", "rt.dat", b"% Width 64\n% Height 48\n"),
])
def test_expelliarmus_writer_round_trip(tmp_path, rng, encoding, name, geometry) -> None:
    """Files written by expelliarmus' own Wizard.save (its header plus geometry lines) read back unchanged."""
    expelliarmus = pytest.importorskip("expelliarmus")
    ev = _random_events(rng, 20_000, (64, 48))
    arr = np.empty(len(ev), dtype=[("t", "<i8"), ("x", "<i2"), ("y", "<i2"), ("p", "u1")])
    for n in ("t", "x", "y", "p"):
        arr[n] = ev[n]
    written = tmp_path / f"w_{name}"
    expelliarmus.Wizard(encoding=encoding).save(written, arr)
    path = tmp_path / name
    path.write_bytes(geometry + written.read_bytes())
    got, size = read_events(path)
    assert size == (64, 48) and read_header(path).encoding == encoding
    np.testing.assert_array_equal(got, ev)
    np.testing.assert_array_equal(np.concatenate(list(iter_prophesee(path, chunk_events=3000))), ev)


def test_hand_built_dat(tmp_path) -> None:
    rows = [(0, 0, 3_999_999_990, 1), (31, 15, 3_999_999_992, 0), (7, 9, 4_000_000_000, 1)]  # beyond 2^31
    rec = np.array([(t, x | (y << 14) | (p << 28)) for x, y, t, p in rows], dtype=[("t", "<u4"), ("d", "<u4")])
    header = b"% Data file containing CD events\n% Version 2\n% Width 32\n% Height 16\n"
    path = tmp_path / "hand.dat"
    path.write_bytes(header + bytes([0x0C, 8]) + rec.tobytes())
    h = read_header(path)
    assert (h.encoding, h.sensor_size, h.data_offset, h.data_bytes) == ("dat", (32, 16), len(header) + 2, 24)
    ev, size = read_events(path)
    assert size == (32, 16)
    np.testing.assert_array_equal(ev, _expected(rows))
    path.write_bytes(header + bytes([0x0E, 8]) + rec.tobytes())  # external trigger events, not CD
    with pytest.raises(ValueError, match=r"hand\.dat: DAT event type 0x0e size 8; expected CD events"):
        read_events(path)
    path.write_bytes(header + bytes([0x0C, 8]) + rec.tobytes()[:-3])
    with pytest.raises(ValueError, match=r"hand\.dat: truncated DAT data: 21 bytes .* 8-byte events"):
        read_events(path)
    path.write_bytes(header)
    with pytest.raises(ValueError, match=r"hand\.dat: DAT file ends after the header"):
        read_events(path)


# ------------------------------------------------------------------------------------------------------- .npy
def test_npy_structured_arrays(tmp_path, rng) -> None:
    ev = _random_events(rng, 500, (30, 20))
    arr = np.empty(len(ev), dtype=[("p", "?"), ("t", "<u4"), ("y", "<i4"), ("x", "u1"), ("extra", "f4")])
    for n in ("x", "y", "t", "p"):
        arr[n] = ev[n]
    path = tmp_path / "ev.npy"
    np.save(path, arr)
    got, size = read_events(path, sensor_size=(30, 20))
    assert size == (30, 20)
    np.testing.assert_array_equal(got, ev)
    with pytest.raises(ValueError, match=r"ev\.npy: a \.npy event array carries no sensor size; .*--sensor W H"):
        read_events(path)
    np.save(path, repack_fields(arr[["t", "x", "y"]]))
    with pytest.raises(ValueError, match=r"ev\.npy: missing field\(s\) \['p'\] .*expected a 1-D structured array "
                                         r"with integer fields t \(us\), x, y, p"):
        read_events(path, sensor_size=(30, 20))
    np.save(path, np.zeros((4, 4), np.int64))
    with pytest.raises(ValueError, match=r"ev\.npy: array of dtype int64 shape \(4, 4\) is not structured"):
        read_events(path, sensor_size=(30, 20))
    bad = arr.astype([("p", "?"), ("t", "f8"), ("y", "<i4"), ("x", "u1"), ("extra", "f4")])
    np.save(path, bad)
    with pytest.raises(ValueError, match=r"ev\.npy: field 't' has dtype float64"):
        read_events(path, sensor_size=(30, 20))
    np.save(path, np.array([{"t": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match=r"ev\.npy: not a readable \.npy file"):
        read_events(path, sensor_size=(30, 20))
    np.save(path, arr)
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ValueError, match=r"ev\.npy: not a readable \.npy file"):
        read_events(path, sensor_size=(30, 20))
    neg = arr.astype([("p", "i1"), ("t", "<u4"), ("y", "<i4"), ("x", "i2"), ("extra", "f4")])
    neg["x"][3] = -1
    np.save(path, neg)
    with pytest.raises(ValueError, match=r"ev\.npy: field 'x' row 3 holds -1"):
        read_events(path, sensor_size=(30, 20))


# ------------------------------------------------------------------------------------------------ real samples
def test_real_evt3_sample_against_reference(samples, decoder) -> None:
    """x, y, p equal expelliarmus' reference decode field by field; t agrees in its low 12 bits and differs by the
    4096 us that expelliarmus adds at each of the stream's EVT_TIME_LOW decreases (see had_snn.data.prophesee)."""
    ref = np.load(EVT3_NPY)
    ev, size = read_events(EVT3_RAW, sensor_size=HD)
    assert size == HD and len(ev) == len(ref) == 219_596
    for n in ("x", "y", "p"):
        np.testing.assert_array_equal(ev[n], ref[n], err_msg=n)
    np.testing.assert_array_equal(ev["t"] & 0xFFF, ref["t"] & 0xFFF)
    extra = ref["t"] - ev["t"]
    assert np.all(extra % 4096 == 0) and np.all(np.diff(extra) >= 0)
    header = read_header(EVT3_RAW)
    words = np.fromfile(EVT3_RAW, dtype="<u2", offset=header.data_offset)
    time_low = (words[(words >> 12) == 0x6] & 0xFFF).astype(np.int64)
    assert extra[0] == 0 and extra[-1] // 4096 == np.count_nonzero(np.diff(time_low) < 0) == 11
    time_high = words[(words >> 12) == 0x8] & 0xFFF  # the stream's own time base: 2861..2863 (x 4096 us)
    assert (int(ev["t"][0]), int(ev["t"][-1])) == (11_718_656, 11_727_457)
    assert int(time_high.min()) << 12 <= ev["t"][0] and ev["t"][-1] < (int(time_high.max()) + 1) << 12
    assert (int(ev["x"].max()), int(ev["y"].max())) == (1279, 719)
    assert np.count_nonzero(ev["p"] == 0) == 104_064
    parts = list(iter_prophesee(EVT3_RAW, chunk_events=10_007))
    assert len(parts) > 10
    np.testing.assert_array_equal(np.concatenate(parts), ev)


def test_real_headers(samples) -> None:
    h = read_header(EVT3_RAW)
    # no geometry line: the Gen4.1 EVK3 plugin names a 1280 x 720 sensor, as Metavision reads such a file
    assert (h.encoding, h.sensor_size, h.data_offset) == ("evt3", HD, 166)
    ev, size = read_events(EVT3_RAW)
    assert size == HD and len(ev) == 219_596
    assert h.fields == {"Date": "2020-09-25 07:48:29", "evt": "3.0", "firmware_version": "3.2.3",
                        "integrator_name": "Prophesee", "plugin_name": "hal_plugin_gen41_evk3",
                        "serial_number": "00000307", "system_ID": "48"}


def test_real_npy_and_aedat4(samples) -> None:
    ref = np.load(EVT3_NPY)
    ev, size = read_events(EVT3_NPY, sensor_size=HD)
    assert size == HD and ev.dtype == EVENT_DTYPE
    for n in ("t", "x", "y", "p"):
        np.testing.assert_array_equal(ev[n], ref[n], err_msg=n)
    pytest.importorskip("dv_processing")
    ev, size, frames, frame_t = read_events_and_frames(AEDAT4)
    assert size == (320, 240) and len(ev) == 111_954 and frames is None and frame_t is None
    assert (int(ev["t"][0]), int(ev["t"][-1])) == (1_605_537_493_718_345, 1_605_537_494_308_262)
    assert np.count_nonzero(ev["p"] == 0) == 56_931


def test_progress_bar_is_optional(samples, capsys) -> None:
    a, _ = read_events(EVT3_RAW, sensor_size=HD, progress=True)
    b, _ = read_events(EVT3_RAW, sensor_size=HD)
    np.testing.assert_array_equal(a, b)


# --------------------------------------------------------------------------------------------- info and show
def _info(capsys, *args) -> dict:
    assert main(["info", "--json", *args]) == 0
    return json.loads(capsys.readouterr().out)


def test_info_on_real_files(samples, capsys) -> None:
    info = _info(capsys, str(EVT3_RAW), "--sensor", "1280", "720")
    assert info["format"] == "prophesee EVT 3.0" and info["events"] == 219_596
    assert info["sensor_size_wh_px"] == [1280, 720] and info["header"]["plugin_name"] == "hal_plugin_gen41_evk3"
    assert info["duration_s"] == pytest.approx(8801e-6)
    assert info["event_rate_mev_s"] == pytest.approx(219_596 / 8801e-6 / 1e6)
    info = _info(capsys, str(EVT3_NPY), "--sensor", "1280", "720")
    assert info["format"] == "npy" and info["events"] == 219_596
    pytest.importorskip("dv_processing")
    info = _info(capsys, str(AEDAT4))
    assert (info["format"], info["events"], info["sensor_size_wh_px"]) == ("aedat4", 111_954, [320, 240])
    assert info["duration_s"] == pytest.approx(0.589917) and "frames" not in info
    assert main(["info", str(AEDAT4), "--sensor", "320", "240"]) == 0
    assert "sensor_size_wh_px  320 x 240" in capsys.readouterr().out


def test_show_on_real_files(samples, tmp_path, capsys) -> None:
    from matplotlib.image import imread

    cases = [
        ([str(EVT3_RAW), "--sensor", "1280", "720", "--t0-ms", "2", "--window-ms", "5"], "raw.png"),
        ([str(EVT3_NPY), "--sensor", "1280", "720"], "npy.png"),
    ]
    if __import__("importlib").util.find_spec("dv_processing"):
        cases.append(([str(AEDAT4), "--window-ms", "50"], "aedat4.png"))
    for args, name in cases:
        assert main(["show", *args, "--out", str(tmp_path / name)]) == 0, capsys.readouterr().err
        assert f"wrote {tmp_path / name}" in capsys.readouterr().out
        img = imread(tmp_path / name)
        assert img.ndim == 3 and img.shape[1] > img.shape[0] > 100 and img.std() > 0.01
    assert main(["show", str(EVT3_RAW), "--sensor", "1280", "720", "--t0-ms", "60", "--out",
                 str(tmp_path / "late.png")]) == 1
    assert "--t0-ms 60 is outside the recording (0 .. 8.801 ms" in capsys.readouterr().err
    assert main(["show", str(EVT3_NPY), "--sensor", "1280", "720", "--frame", "1"]) == 1
    assert "has no frames" in capsys.readouterr().err


def test_show_aedat4_with_aps_frames(tmp_path, rng) -> None:
    pytest.importorskip("dv_processing")
    from had_snn.data.aedat import write_aedat4

    ev = _random_events(rng, 3000, (32, 24))
    frames = rng.integers(0, 255, (4, 24, 32, 3), dtype=np.uint8)
    frame_t = ev["t"][0] + np.array([10_000, 20_000, 30_000, 40_000])
    path = tmp_path / "aps.aedat4"
    write_aedat4(path, ev, (32, 24), frames=frames, frame_t_us=frame_t)
    got, size, got_frames, got_t = read_events_and_frames(path)
    assert size == (32, 24) and len(got) == 3000 and got_frames.shape == (4, 24, 32, 3)
    assert main(["show", str(path), "--frame", "2", "--out", str(tmp_path / "f.png")]) == 0
    assert (tmp_path / "f.png").is_file()
    assert main(["show", str(path), "--t0-ms", "1", "--out", str(tmp_path / "w.png")]) == 0
    assert (tmp_path / "w.png").is_file()

def test_info_aedat4_with_aps_frames(tmp_path, rng, capsys) -> None:
    pytest.importorskip("dv_processing")
    from had_snn.data.aedat import write_aedat4

    ev = _random_events(rng, 300, (32, 24))
    frame_t = ev["t"][0] + np.array([10_000, 20_000, 30_000])
    path = tmp_path / "aps.aedat4"
    write_aedat4(path, ev, (32, 24), frames=np.zeros((3, 24, 32, 3), np.uint8), frame_t_us=frame_t)
    info = _info(capsys, str(path))
    assert info["events"] == 300 and info["frames"] == 3 and info["frame_shape_hwc"] == [24, 32, 3]
    assert info["frame_rate_hz"] == pytest.approx(100.0)


def test_cli_bad_inputs_one_line_naming_the_file(samples, tmp_path, capsys) -> None:
    raw = EVT3_RAW.read_bytes()
    truncated = tmp_path / "truncated.raw"
    truncated.write_bytes(raw[: len(raw) - 1001])  # odd: part of a word is missing
    in_header = tmp_path / "in_header.raw"
    in_header.write_bytes(raw[:40])
    unknown = tmp_path / "events.xyz"
    unknown.write_bytes(b"1 2 3 4\n")
    no_p = tmp_path / "no_p.npy"
    np.save(no_p, repack_fields(np.load(EVT3_NPY)[["t", "x", "y"]]))
    no_plugin = tmp_path / "no_plugin.raw"  # the sample without the plugin line that names its sensor
    no_plugin.write_bytes(raw.replace(b"% plugin_name hal_plugin_gen41_evk3\n", b"% plugin_name unknown_cam___\n"))
    cases = [
        (["info", str(truncated), "--sensor", "1280", "720"], truncated, "truncated EVT 3.0 data"),
        (["show", str(truncated), "--sensor", "1280", "720"], truncated, "truncated EVT 3.0 data"),
        (["info", str(in_header)], in_header, "is not terminated"),
        (["info", str(no_plugin)], no_plugin, "no sensor geometry"),
        (["show", str(no_plugin)], no_plugin, "give the sensor size (--sensor W H)"),
        (["info", str(EVT3_NPY)], EVT3_NPY, "carries no sensor size"),
        (["info", str(unknown)], unknown, "unknown event file suffix '.xyz'"),
        (["show", str(unknown)], unknown, "unknown event file suffix '.xyz'"),
        (["info", str(no_p), "--sensor", "1280", "720"], no_p, "missing field(s) ['p']"),
        (["info", str(EVT3_NPY), "--sensor", "640", "480"], EVT3_NPY, "field 'x' out of bounds"),
    ]
    for argv, path, message in cases:
        assert main(argv) == 1, argv
        line = _one_error_line(capsys.readouterr().err, path)
        assert message in line, (argv, line)


def test_aedat4_packets_out_of_time_order_are_sorted_with_a_warning(tmp_path, caplog) -> None:
    dv = pytest.importorskip("dv_processing")
    path = tmp_path / "ooo.aedat4"
    writer = dv.io.MonoCameraWriter(str(path), dv.io.MonoCameraWriter.EventOnlyConfig("test", (16, 16)))
    for packet in (((1000, 1, 1, True), (2000, 2, 2, False)), ((1500, 3, 3, True), (2500, 4, 4, False))):
        store = dv.EventStore()
        for t, x, y, p in packet:
            store.push_back(t, x, y, p)
        writer.writeEvents(store)  # DV writes packets in arrival order: the second starts before the first ends
    del writer
    with caplog.at_level("WARNING"):
        ev, size = read_events(path)
    assert size == (16, 16) and ev["t"].tolist() == [1000, 1500, 2000, 2500] and ev["x"].tolist() == [1, 3, 2, 4]
    assert "1 events were out of time order" in caplog.text


def test_event_window_plot_names_polarity_and_ends_at_the_recording(samples) -> None:
    """The real 8.8 ms EVT3 sample in a 33 ms window: the label says [0.0, 8.8) ms, and a legend names the colours:
    an ON event's pixel is red, an OFF event's blue."""
    from had_snn.data.plots import plot_event_window

    ev, size = read_events(EVT3_RAW)
    ax = plot_event_window(ev, size, int(ev["t"][0]), int(ev["t"][0]) + 33_000).axes[0]
    assert "[0.0, 8.8) ms: 219596 events" in ax.get_title()
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["ON", "OFF"]
    one = np.zeros(2, ev.dtype)
    one["x"], one["p"], one["t"] = [0, 1], [1, 0], [0, 1]
    image = plot_event_window(one, (2, 1), 0, 2).axes[0].images[0]
    rgba = image.to_rgba(image.get_array())
    assert rgba[0, 0, 0] > 0.9 > rgba[0, 0, 2] and rgba[0, 1, 2] > 0.9 > rgba[0, 1, 0]  # ON red, OFF blue


def test_corrupt_aedat4_packets_are_refused_not_looped_on(tmp_path, monkeypatch) -> None:
    """dv-processing 1.7 loops forever on some corrupt packets: a broken packet chain is refused before it opens the
    file, corrupt packet contents by the decoding child's watchdog (found by tests/test_fuzz_readers.py)."""
    pytest.importorskip("dv_processing")
    data = AEDAT4.read_bytes()
    dropped = tmp_path / "dropped.aedat4"  # 64 bytes dropped inside a packet: the chain no longer reaches the table
    dropped.write_bytes(data[:592372] + data[592436:])
    with pytest.raises(ValueError, match=r"dropped\.aedat4: corrupt AEDAT4 file: the packet at byte \d+ .* does not "
                                         r"end by byte \d+"):
        read_events(dropped)
    looping = tmp_path / "looping.aedat4"  # 64 bytes of 0xff inside a compressed packet: dv-processing never returns
    looping.write_bytes(data[:526745] + b"\xff" * 64 + data[526809:])
    monkeypatch.setenv("HAD_SNN_AEDAT_TIMEOUT_S", "2")
    with pytest.raises(ValueError, match=r"looping\.aedat4: not a readable AEDAT4 file \(dv-processing did not finish "
                                         r"decoding it within 2 s"):
        read_events(looping)
    ev, size = read_events(AEDAT4)  # the clean sample still reads, through the same child process
    assert size == (320, 240) and len(ev) == 111_954
