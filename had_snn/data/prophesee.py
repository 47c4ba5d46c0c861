"""Prophesee event files: RAW ``.raw`` (EVT 2.0, EVT 3.0) and ``.dat`` (CD events).

All three are decoded here, following Prophesee's specification: by compiled decoders
(:mod:`had_snn.data.prophesee_kernel`, numba, in the ``train`` extra) where numba imports, else EVT 3.0 and DAT with
numpy and EVT 2.0 through ``expelliarmus`` (the ``prophesee`` extra). ``bench/bench_prophesee.py`` times them
against expelliarmus' C decoders with equal outputs. EVT 3.0 is not left to expelliarmus because
expelliarmus 1.1.12 mis-times EVT 3.0 (it counts every decrease of EVT_TIME_LOW as a 4096 us overflow, also when
EVT_TIME_HIGH has advanced or when the sensor repeats an earlier TIME_LOW; reported upstream as
open-neuromorphic/expelliarmus#19). On the shared Gen4.1 sample (``shared/samples/prophesee-evt3``) its times span
53.9 ms where the stream's TIME_HIGH words (2861..2863, i.e. 11.718..11.727 s) span 8.8 ms; x, y, p and the low 12
bits of t agree with ours, t differs by a multiple of 4096 us (11 spurious overflows by the end).

Layouts (https://docs.prophesee.ai/stable/data/file_formats/{raw,dat}.html):

* Both start with an ASCII header of ``% keyword value`` lines (a ``% end`` line, when present, closes it).
  RAW headers name the encoding (``% evt 3.0``; Metavision 4 also writes ``% format EVT3;height=720;width=1280``) and,
  when recorded with recent Metavision, the geometry (``% geometry 1280x720``). Older RAW files (such as the Gen4.1
  sample: ``% Date``, ``% evt 3.0``, ``% firmware_version``, ``% integrator_name``, ``% plugin_name
  hal_plugin_gen41_evk3``, ``% serial_number``, ``% system_ID``) carry no geometry; their sensor then follows from
  the plugin name, as Metavision's RAW-file reader infers it (:data:`PLUGIN_SENSORS`), and otherwise the caller must
  give the sensor size. DAT headers: ``% Data file containing CD events``, ``% Version 2``, ``% Width W``,
  ``% Height H`` (the last two optional).
* RAW data: little-endian EVT 2.0 32-bit words or EVT 3.0 16-bit words. DAT data: one byte event type (0 Event2d or
  0x0C EventCd), one byte event size (8), then 8-byte events (u32 t us; u32 x bits 0-13, y 14-27, p 28-31).

expelliarmus API used (1.1): ``Wizard(encoding=, fpath=, chunk_size=, buff_size=)``, the ``read_chunk()`` generator
and its ``cargo.events_info`` state (``start_byte``: next byte to decode, ``finished``: end of file reached). We
parse the header here and set ``start_byte`` to the first data byte ourselves, so expelliarmus' own header skipper
(any ``%``-led line) never runs; ``read_chunk`` stops silently on a decoding error, so a stream that ends before the
end of the file is reported as corrupt, with the message expelliarmus printed on file descriptor 2.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from had_snn.data.events import EVENT_DTYPE, make_events
from had_snn.data.sequence import check_sensor_size

PROPHESEE_EXTRA_HINT = ("decoding EVT 2.0 without numba needs expelliarmus: pip install had-snn[prophesee] (or "
                        "numba, in had-snn[train])")
PROPHESEE_SUFFIXES = (".raw", ".dat")
DEFAULT_CHUNK_EVENTS = 1 << 20  # expelliarmus chunks (EVT 2.0, DAT), in events
EVT3_BLOCK_WORDS = 1 << 18  # numpy EVT 3.0 blocks, in 16-bit words (512 KiB: fastest here, fits in cache)
#: Most EVT_TIME_HIGH steps (4096 us each) a wrap of its 12-bit counter may skip: 64 steps = 0.26 s without a
#: TIME_HIGH word (sensors send one every step). A larger drop is a corrupt word, not a wrap.
EVT3_MAX_WRAP_STEPS = 64
EVT2_BLOCK_WORDS = 1 << 17  # compiled EVT 2.0 blocks, in 32-bit words (512 KiB)
DAT_BLOCK_EVENTS = 1 << 16  # DAT blocks, in 8-byte events (512 KiB)
COMPILED_BLOCK_BYTES = 1 << 22  # blocks of a whole-file compiled decode (read_prophesee)
_BUFF_WORDS = 1 << 16
_MAX_HEADER_LINE = 1 << 16
_WORD_BYTES = {"evt2": 4, "evt3": 2, "dat": 8}
_ENCODING_NAMES = {"evt2": "EVT 2.0", "evt3": "EVT 3.0", "dat": "DAT"}
_DAT_CD_TYPES = (0x00, 0x0C)  # Event2d, EventCd
_DAT_EVENT_BYTES = 8


@dataclass(frozen=True)
class PropheseeHeader:
    """What the ASCII header of a ``.raw``/``.dat`` file says.

    ``encoding``: ``"evt2"``, ``"evt3"`` or ``"dat"``; ``sensor_size``: ``(W, H)`` from the header or None;
    ``data_offset``: first byte of event words (after the DAT type/size bytes); ``data_bytes``: bytes from there to
    the end of the file; ``fields``: keyword -> value of the header lines, in file order.
    """

    encoding: str
    sensor_size: tuple[int, int] | None
    data_offset: int
    data_bytes: int
    fields: dict[str, str] = field(default_factory=dict)

    @property
    def encoding_name(self) -> str:
        return _ENCODING_NAMES[self.encoding]


def _parse_size(path: Path, what: str, w: str, h: str) -> tuple[int, int]:
    try:
        size = (int(w), int(h))
    except ValueError:
        raise ValueError(f"{path}: header {what} is not two integers (W, H)") from None
    return check_sensor_size(size, f"{path}: header {what}")


#: (W, H) in px of the sensor behind each camera plugin that wrote RAW files without a geometry line: the table
#: Metavision's own RAW-file reader falls back on (OpenEB, ``hal_psee_plugins`` ``raw_constants.h``)
PLUGIN_SENSORS = {
    "hal_plugin_gen3_fx3": (640, 480), "hal_plugin_gen31_fx3": (640, 480), "hal_plugin_gen31_evk2": (640, 480),
    "hal_plugin_gen31_evk3": (640, 480), "hal_plugin_gen4_fx3": (1280, 720), "hal_plugin_gen4_evk2": (1280, 720),
    "hal_plugin_gen41_evk2": (1280, 720), "hal_plugin_gen41_evk3": (1280, 720),
}


def _header_sensor_size(path: Path, fields: dict[str, str]) -> tuple[int, int] | None:
    """Sensor size from ``% geometry WxH``, ``% format ...;height=H;width=W`` or ``% Width``/``% Height`` lines;
    several that disagree are an error. Without any, the ``% plugin_name`` of :data:`PLUGIN_SENSORS` names it."""
    low = {k.lower(): v for k, v in fields.items()}
    found: dict[str, tuple[int, int]] = {}
    if "geometry" in low:
        parts = low["geometry"].lower().replace(" ", "").split("x")
        if len(parts) != 2:
            raise ValueError(f"{path}: header '% geometry {low['geometry']}' is not WxH")
        found["'% geometry'"] = _parse_size(path, f"'% geometry {low['geometry']}'", *parts)
    if "format" in low:
        opts = dict(kv.split("=", 1) for kv in low["format"].lower().split(";") if "=" in kv)
        if "width" in opts and "height" in opts:
            found["'% format'"] = _parse_size(path, f"'% format {low['format']}'", opts["width"], opts["height"])
    if "width" in low and "height" in low:
        found["'% Width'/'% Height'"] = _parse_size(path, "'% Width'/'% Height'", low["width"], low["height"])
    if len(set(found.values())) > 1:
        raise ValueError(f"{path}: header sensor sizes disagree: "
                         + ", ".join(f"{k} {v[0]}x{v[1]}" for k, v in found.items()))
    if not found:
        return PLUGIN_SENSORS.get(low.get("plugin_name", "").strip().lower())
    return next(iter(found.values()))


def _raw_encoding(path: Path, fields: dict[str, str]) -> str:
    low = {k.lower(): v.strip() for k, v in fields.items()}
    evt = low.get("evt")
    if evt is None and "format" in low:  # Metavision 4: '% format EVT3;height=..;width=..'
        evt = {"evt2": "2.0", "evt3": "3.0", "evt21": "2.1"}.get(low["format"].split(";")[0].strip().lower())
    if evt in ("2.0", "2"):
        return "evt2"
    if evt in ("3.0", "3"):
        return "evt3"
    if evt is None:
        raise ValueError(f"{path}: RAW header has no '% evt 2.0' / '% evt 3.0' line: cannot tell the encoding")
    raise ValueError(f"{path}: RAW encoding 'evt {evt}' is not supported; expected EVT 2.0 or EVT 3.0")


def read_header(path: str | os.PathLike) -> PropheseeHeader:
    """Parse the header of a Prophesee ``.raw``/``.dat`` file and check the data section's length.

    Raises ValueError naming the file for: an unterminated header line (file truncated inside the header), a RAW
    header without a supported ``% evt`` encoding, a DAT file without the event type/size bytes or with a type other
    than CD events, and a data section that is not a whole number of words/events (truncated file).
    """
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{path}: is a folder, expected a file (a Prophesee .raw/.dat recording)")
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    file_bytes = path.stat().st_size
    fields: dict[str, str] = {}
    with open(path, "rb") as fh:
        while True:
            start = fh.tell()
            lead = fh.read(2)
            if not lead.startswith(b"%") or lead[1:] not in (b" ", b"\n", b"\r", b""):
                fh.seek(start)
                break
            line = lead + fh.readline(_MAX_HEADER_LINE)
            if not line.endswith(b"\n"):
                raise ValueError(f"{path}: header line at byte {start} is not terminated (file truncated inside "
                                 f"the header?); expected '% keyword value' lines, then event data")
            text = line[1:].decode("ascii", errors="replace").strip()
            if text == "end":
                break
            if text:
                key, _, value = text.partition(" ")
                fields[key] = value.strip()
        data_offset = fh.tell()
        suffix = path.suffix.lower()
        if suffix == ".dat":
            encoding = "dat"
            type_size = fh.read(2)
            if len(type_size) < 2:
                raise ValueError(f"{path}: DAT file ends after the header (truncated?); expected the event type "
                                 f"and size bytes, then {_DAT_EVENT_BYTES}-byte events")
            ev_type, ev_size = type_size
            if ev_type not in _DAT_CD_TYPES or ev_size != _DAT_EVENT_BYTES:
                raise ValueError(f"{path}: DAT event type 0x{ev_type:02x} size {ev_size}; expected CD events "
                                 f"(type 0x00 or 0x0c, size {_DAT_EVENT_BYTES})")
            data_offset += 2
        elif suffix == ".raw":
            encoding = _raw_encoding(path, fields)
        else:
            raise ValueError(f"{path}: not a Prophesee file; expected one of {list(PROPHESEE_SUFFIXES)}")
    data_bytes = file_bytes - data_offset
    word = _WORD_BYTES[encoding]
    if data_bytes % word:
        raise ValueError(f"{path}: truncated {_ENCODING_NAMES[encoding]} data: {data_bytes} bytes after the "
                         f"header is not a whole number of {word}-byte {'events' if encoding == 'dat' else 'words'}")
    return PropheseeHeader(encoding, _header_sensor_size(path, fields), data_offset, data_bytes, fields)


def _wizard_class():
    try:
        from expelliarmus import Wizard
    except ImportError as exc:  # pragma: no cover - exercised only where the extra is missing
        from had_snn.data.aedat import MissingExtraError

        raise MissingExtraError(PROPHESEE_EXTRA_HINT) from exc
    return Wizard


def _kernel():
    """The compiled decoders (:mod:`had_snn.data.prophesee_kernel`), or None where numba is not installed."""
    try:
        from had_snn.data import prophesee_kernel
    except ImportError:
        return None
    return prophesee_kernel


@contextmanager
def _capture_fd2(sink: list[str]) -> Iterator[None]:
    """Collect what C code writes to file descriptor 2 (expelliarmus prints its decoding errors there)."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no usable fd 2: let C write wherever it goes
        yield
        return
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            sink.append(tmp.read().decode("utf-8", errors="replace"))


class _Evt3State:
    """EVT 3.0 decoder state carried from one block of words to the next."""

    def __init__(self) -> None:
        self.time_high = -1  # last EVT_TIME_HIGH value (12 bits); -1 before the first (no valid time yet)
        self.loops = 0  # 24-bit time base loops (2**24 us each)
        self.time_low = 0
        self.y = 0
        self.base_x = 0  # VECT_BASE_X plus the widths of the vectors since
        self.vect_p = 0


_EVT3_KNOWN = np.zeros(16, bool)
_EVT3_KNOWN[[0x0, 0x2, 0x3, 0x4, 0x5, 0x6, 0x7, 0x8, 0xA, 0xE, 0xF]] = True
_BITS12 = np.arange(12, dtype=np.uint16)
_POPCOUNT12 = np.array([bin(i).count("1") for i in range(1 << 12)], dtype=np.int64)


def _last_index(where: np.ndarray) -> np.ndarray:
    """Per position: the last position ``<=`` it where ``where`` is set, or -1 (int32 for speed)."""
    return np.maximum.accumulate(np.where(where, np.arange(len(where), dtype=np.int32), np.int32(-1)))


def _carried(values: np.ndarray, idx: np.ndarray, before) -> np.ndarray:
    """``values[idx]`` where ``idx >= 0``, else ``before`` (the value carried from the previous block)."""
    return np.where(idx >= 0, values[np.maximum(idx, 0)], before)


def _evt3_unknown_word(path: Path, kind: int, byte: int) -> ValueError:
    return ValueError(f"{path}: corrupt EVT 3.0 data: unknown word type 0x{kind:x} at byte {byte}")


def _evt3_time_high_drop(path: Path, prev: int, new: int, byte: int) -> ValueError:
    return ValueError(f"{path}: corrupt EVT 3.0 data: EVT_TIME_HIGH drops from {prev} to {new} at byte {byte}, which "
                      f"is no wrap (a wrap goes from the top of the 12-bit range to its bottom, at most "
                      f"{EVT3_MAX_WRAP_STEPS} steps of 4096 us on)")


def _decode_evt3_block(w: np.ndarray, st: _Evt3State, byte0: int, path: Path) -> np.ndarray:
    """Decode EVT 3.0 words ``w`` (uint16) starting at file byte ``byte0``; updates ``st``; returns EVENT_DTYPE.

    Semantics (https://docs.prophesee.ai/stable/data/encoding_formats/evt3.html): t = loops * 2**24 +
    TIME_HIGH << 12 | TIME_LOW (the last of each seen; a TIME_HIGH smaller than the previous by more than half its
    range starts a new loop, when it is at most ``EVT3_MAX_WRAP_STEPS`` steps on modulo 4096: any other drop is a
    corrupt word, refused with its byte offset); EVT_ADDR_Y sets y; EVT_ADDR_X is one event (x, p); VECT_BASE_X
    sets the base x and polarity of the VECT_12 / VECT_8 words that follow (bit k valid -> event at base + k;
    base += 12 / 8 after each). Events before the first TIME_HIGH have no time and are dropped. EXT_TRIGGER, OTHERS
    and CONTINUED words are skipped.
    """
    n = len(w)
    if n == 0:
        return np.empty(0, dtype=EVENT_DTYPE)
    kind = (w >> 12).astype(np.intp)
    bad = np.flatnonzero(~_EVT3_KNOWN[kind])
    if bad.size:
        i = int(bad[0])
        raise _evt3_unknown_word(path, int(kind[i]), byte0 + 2 * i)
    val = w.astype(np.int64)
    low11, low12 = val & 0x7FF, val & 0xFFF
    # TIME_HIGH with loop counting; the time base of each word
    is_th = kind == 0x8
    th = low12[is_th]
    prev = np.concatenate(([st.time_high], th[:-1])) if th.size else th
    wraps = (prev >= 0) & (prev - th > 2048)
    implausible = np.flatnonzero(wraps & ((th - prev) % 4096 > EVT3_MAX_WRAP_STEPS))
    if implausible.size:
        k = int(implausible[0])
        raise _evt3_time_high_drop(path, int(prev[k]), int(th[k]), byte0 + 2 * int(np.flatnonzero(is_th)[k]))
    loops = st.loops + np.cumsum(wraps)
    high = np.zeros(n, np.int64)
    high[is_th] = (loops << 24) | (th << 12)
    i_th, i_tl, i_y, i_vb = (_last_index(kind == k) for k in (0x8, 0x6, 0x0, 0x3))
    before_high = (st.loops << 24) | (max(st.time_high, 0) << 12)
    has_time = (i_th >= 0) | (st.time_high >= 0)
    # event-producing words and their event counts
    xrows = np.flatnonzero((kind == 0x2) & has_time)
    vrows = np.flatnonzero(((kind == 0x4) | (kind == 0x5)) & has_time)
    vmask = np.where(kind[vrows] == 0x4, low12[vrows], val[vrows] & 0xFF)
    vcount = _POPCOUNT12[vmask]
    count = np.zeros(n, np.int64)
    count[xrows] = 1
    count[vrows] = vcount
    first_out = np.cumsum(count) - count  # output index of each word's first event
    events = np.empty(int(first_out[-1] + count[-1]), dtype=EVENT_DTYPE)

    def time_at(rows: np.ndarray) -> np.ndarray:
        return _carried(high, i_th[rows], before_high) | _carried(low12, i_tl[rows], st.time_low)

    # single events
    pos = first_out[xrows]
    events["x"][pos] = low11[xrows]
    events["y"][pos] = _carried(low11, i_y[xrows], st.y)
    events["t"][pos] = time_at(xrows)
    events["p"][pos] = (val[xrows] >> 11) & 1
    # vectors: base x and polarity from the last VECT_BASE_X, plus the widths of the vectors since
    width = np.where(kind == 0x4, 12, np.where(kind == 0x5, 8, 0))
    before = np.cumsum(width) - width  # widths of the vectors before each word
    vb = i_vb[vrows]
    vb0 = np.maximum(vb, 0)
    base = np.where(vb >= 0, low11[vb0] + before[vrows] - before[vb0], st.base_x + before[vrows])
    vpol = np.where(vb >= 0, (val[vb0] >> 11) & 1, st.vect_p)
    bits = np.flatnonzero(((vmask[:, None] >> _BITS12) & 1).astype(bool).ravel())
    r, bit = np.divmod(bits, 12)
    pos = first_out[vrows][r] + np.arange(len(bits)) - (np.cumsum(vcount) - vcount)[r]
    vr = vrows[r]
    events["x"][pos] = base[r] + bit
    events["y"][pos] = _carried(low11, i_y[vr], st.y)
    events["t"][pos] = time_at(vr)
    events["p"][pos] = vpol[r]
    # carry the state over to the next block
    if th.size:
        st.time_high, st.loops = int(th[-1]), int(loops[-1])
    if i_tl[-1] >= 0:
        st.time_low = int(low12[i_tl[-1]])
    if i_y[-1] >= 0:
        st.y = int(low11[i_y[-1]])
    if i_vb[-1] >= 0:
        k = int(i_vb[-1])
        st.base_x, st.vect_p = int(low11[k] + before[-1] + width[-1] - before[k]), int((val[k] >> 11) & 1)
    else:
        st.base_x += int(before[-1] + width[-1])
    return events


def _words(path: Path, header: PropheseeHeader, block_words: int, bar) -> Iterator[tuple[int, np.ndarray]]:
    """``(file byte of the first word, words)`` blocks of the data section (little-endian), advancing ``bar``."""
    dtype = np.dtype("<u2" if header.encoding == "evt3" else "<u4")  # DAT: two u4 words per event
    with open(path, "rb") as fh:
        fh.seek(header.data_offset)
        byte0 = header.data_offset
        while block := fh.read(dtype.itemsize * block_words):
            yield byte0, np.frombuffer(block, dtype=dtype)
            byte0 += len(block)
            bar.update(len(block))


def _iter_evt3(path: Path, header: PropheseeHeader, block_words: int, bar) -> Iterator[np.ndarray]:
    kernel = _kernel()
    if kernel is None:
        state = _Evt3State()
        for byte0, words in _words(path, header, block_words, bar):
            events = _decode_evt3_block(words, state, byte0, path)
            if len(events):
                yield events
        return
    for events in _compiled_blocks(path, header, block_words, bar, kernel):
        if len(events):
            yield events


def _compiled_blocks(path: Path, header: PropheseeHeader, block_words: int, bar, kernel,
                     out: np.ndarray | None = None) -> Iterator[np.ndarray]:
    """EVT 2.0 / 3.0 / DAT blocks through the compiled decoders: each block's events, written into ``out`` one
    after the other when given (the events :func:`_compiled_count` counts, plus one spare slot), else into a new
    array per block."""
    if header.encoding == "dat":
        state = np.array([0, -1], np.int64)
        for _, words in _words(path, header, 2 * block_words, bar):
            records = words.reshape(-1, 2)
            events = np.empty(len(records), EVENT_DTYPE) if out is None else out[:len(records)]
            kernel.fill_dat(records, state, events)
            out = None if out is None else out[len(records):]
            yield events
        return
    evt3 = header.encoding == "evt3"
    count, fill = (kernel.count_evt3, kernel.fill_evt3) if evt3 else (kernel.count_evt2, kernel.fill_evt2)
    state = np.array([-1, 0, 0, 0, 0, 0] if evt3 else [-1], np.int64)
    for byte0, words in _words(path, header, block_words, bar):
        if out is None:  # else the words were counted (and checked) by _compiled_count
            n, bad, _ = count(words, bool(state[0] >= 0))
            if bad >= 0:
                raise _unknown_word(path, header, words, bad, byte0)
        buf = np.empty(n + 1, EVENT_DTYPE) if out is None else out  # EVT 3.0 fills need one spare slot
        if evt3:
            n, code, i, prev, new = fill(words, state, buf, EVT3_MAX_WRAP_STEPS)
            if code:
                raise _evt3_time_high_drop(path, int(prev), int(new), byte0 + 2 * int(i))
        else:
            n = fill(words, state, buf)
        if out is not None:
            out = out[n:]
        yield buf[:n]


def _unknown_word(path: Path, header: PropheseeHeader, words: np.ndarray, i: int, byte0: int) -> ValueError:
    if header.encoding == "evt3":
        return _evt3_unknown_word(path, int(words[i]) >> 12, byte0 + 2 * i)
    return ValueError(f"{path}: corrupt EVT 2.0 data: unknown word type 0x{int(words[i]) >> 28:x} at byte "
                      f"{byte0 + 4 * i}")


def _compiled_count(path: Path, header: PropheseeHeader, block_words: int, kernel) -> int:
    """Events a whole file yields (the first pass of :func:`_read_compiled`); unknown words raise here."""
    if header.encoding == "dat":
        return header.data_bytes // _DAT_EVENT_BYTES
    count = kernel.count_evt3 if header.encoding == "evt3" else kernel.count_evt2
    total, timed = 0, False
    with _no_bar() as bar:
        for byte0, words in _words(path, header, block_words, bar):
            n, bad, timed = count(words, timed)
            if bad >= 0:
                raise _unknown_word(path, header, words, bad, byte0)
            total += n
    return total


@contextmanager
def _no_bar() -> Iterator:
    from tqdm import tqdm

    with tqdm(disable=True) as bar:
        yield bar


def _read_compiled(path: Path, header: PropheseeHeader, bar, kernel) -> np.ndarray:
    """A whole file through the compiled decoders: counted, then decoded into one array (no chunk copied)."""
    block = COMPILED_BLOCK_BYTES // _WORD_BYTES[header.encoding]
    n = _compiled_count(path, header, block, kernel)
    out = np.empty(n + 1, EVENT_DTYPE)  # the spare slot of the EVT 3.0 fill
    for _ in _compiled_blocks(path, header, block, bar, kernel, out=out):
        pass
    return out[:n]


def _iter_dat(path: Path, header: PropheseeHeader, block_events: int, bar) -> Iterator[np.ndarray]:
    """DAT CD events, compiled or (without numba) with numpy: u32 t (a decrease is a 32-bit wrap: + 2**32 us),
    u32 x bits 0-13, y 14-27, p 28-31."""
    kernel = _kernel()
    if kernel is not None:
        yield from _compiled_blocks(path, header, block_events, bar, kernel)
        return
    wraps, last_t = 0, -1
    for _, words in _words(path, header, 2 * block_events, bar):
        t32, d = words[0::2].astype(np.int64), words[1::2]
        ovf = np.empty(len(t32), np.int64)
        ovf[0] = wraps + (t32[0] < last_t)
        np.cumsum(t32[1:] < t32[:-1], out=ovf[1:])
        ovf[1:] += ovf[0]
        wraps, last_t = int(ovf[-1]), int(t32[-1])
        ev = np.empty(len(t32), EVENT_DTYPE)
        ev["t"] = (ovf << 32) | t32
        ev["x"] = d & 0x3FFF
        ev["y"] = (d >> 14) & 0x3FFF
        ev["p"] = d >> 28
        yield ev


def _evt2_events_before_time(path: Path, header: PropheseeHeader, block_words: int) -> int:
    """Number of CD words before the first EVT_TIME_HIGH of an EVT 2.0 file (they carry no time: dropped, as the
    Metavision decoders do; expelliarmus would give them t < 64 us)."""
    count = 0
    with open(path, "rb") as fh:
        fh.seek(header.data_offset)
        while block := fh.read(4 * block_words):
            kind = np.frombuffer(block, dtype="<u4") >> 28
            first = np.flatnonzero(kind == 0x8)
            stop = int(first[0]) if first.size else len(kind)
            count += int(np.count_nonzero(kind[:stop] <= 0x1))
            if first.size:
                break
    return count


def _iter_expelliarmus(path: Path, header: PropheseeHeader, chunk_events: int, bar) -> Iterator[np.ndarray]:
    if path.suffix != path.suffix.lower():  # expelliarmus accepts only lower-case suffixes (after resolving links)
        import shutil
        import tempfile

        with tempfile.TemporaryDirectory(prefix="had-snn-") as tmp:
            link = Path(tmp) / (path.stem + path.suffix.lower())
            try:
                os.link(path, link)  # a second name for the same file
            except OSError:  # another file system: a temporary copy
                shutil.copyfile(path, link)
            try:
                yield from _iter_expelliarmus(link, header, chunk_events, bar)
            except ValueError as exc:  # errors name the user's file, not the temporary name
                raise ValueError(str(exc).replace(str(link), str(path))) from None
        return
    Wizard = _wizard_class()
    try:
        wizard = Wizard(encoding=header.encoding, fpath=path, chunk_size=int(chunk_events), buff_size=_BUFF_WORDS)
    except (ValueError, TypeError) as exc:  # e.g. expelliarmus wants the suffix in lower case
        raise ValueError(f"{path}: expelliarmus cannot open the file ({exc})") from None
    skip = _evt2_events_before_time(path, header, _BUFF_WORDS) if header.encoding == "evt2" else 0
    info = wizard.cargo.events_info
    info.start_byte = header.data_offset  # skip the header we parsed (expelliarmus' skipper is bypassed)
    end = header.data_offset + header.data_bytes
    messages: list[str] = []
    chunks = wizard.read_chunk()
    done = header.data_offset
    while True:
        with _capture_fd2(messages):
            arr = next(chunks, None)
        if arr is None:
            break
        bar.update(int(info.start_byte) - done)
        done = int(info.start_byte)
        if skip:
            arr, skip = arr[skip:], max(skip - len(arr), 0)
        if len(arr):
            yield make_events(arr["x"], arr["y"], arr["t"], arr["p"])
    if header.data_bytes and (not info.finished or int(info.start_byte) != end):
        said = " ".join(m.strip() for m in messages if m.strip() and "WARNING" not in m).replace("ERROR: ", "")
        where = _first_bad_evt2_word(path, header.data_offset, end) if header.encoding == "evt2" else None
        raise ValueError(f"{path}: corrupt {header.encoding_name} data: decoding stopped at byte "
                         f"{int(info.start_byte)} of {end}" + (f" ({where})" if where else "")
                         + (f" (expelliarmus: {said})" if said else ""))


#: EVT 2.0 word types (the top 4 bits): CD_OFF, CD_ON, EVT_TIME_HIGH, EXT_TRIGGER, OTHERS, CONTINUED
_EVT2_TYPES = (0x0, 0x1, 0x8, 0xA, 0xE, 0xF)


def _first_bad_evt2_word(path: Path, start: int, end: int) -> str | None:
    """Where the first word of an unknown EVT 2.0 type lies (expelliarmus reports only the chunk it gave up in)."""
    words = np.fromfile(path, dtype="<u4", count=(end - start) // 4, offset=start)
    bad = np.flatnonzero(~np.isin(words >> 28, _EVT2_TYPES))
    if not bad.size:
        return None
    i = int(bad[0])
    return f"unknown word type 0x{int(words[i] >> 28):x} at byte {start + 4 * i}"


def iter_prophesee(
    path: str | os.PathLike,
    chunk_events: int | None = None,
    progress: bool = False,
    header: PropheseeHeader | None = None,
) -> Iterator[np.ndarray]:
    """Decode a ``.raw``/``.dat`` file chunk by chunk: yields :data:`EVENT_DTYPE` arrays.

    Decoded here (module docstring), ``chunk_events`` words at a time for RAW files (defaults
    :data:`EVT3_BLOCK_WORDS`, :data:`EVT2_BLOCK_WORDS`) and events at a time for DAT (:data:`DAT_BLOCK_EVENTS`);
    without numba, EVT 2.0 goes through expelliarmus (``chunk_events`` events, default :data:`DEFAULT_CHUNK_EVENTS`).
    EVT 2.0 / 3.0 events before the first EVT_TIME_HIGH carry no time and are dropped.
    Chunks are not validated (see :func:`had_snn.data.io.read_events`). ``progress`` shows a tqdm bar over the file's
    bytes on stderr. Decoding errors (unknown word type, decoding that stops before the end of the file) raise
    ValueError naming the file and the byte offset.
    """
    path = Path(path)
    header = read_header(path) if header is None else header
    from tqdm import tqdm

    with tqdm(total=header.data_bytes, unit="B", unit_scale=True, desc=path.name, disable=not progress,
              leave=False, delay=0.5) as bar:  # delay: no bar for files decoded in under half a second
        if header.encoding == "evt3":
            yield from _iter_evt3(path, header, int(chunk_events or EVT3_BLOCK_WORDS), bar)
        elif header.encoding == "dat":
            yield from _iter_dat(path, header, int(chunk_events or DAT_BLOCK_EVENTS), bar)
        elif _kernel() is not None:
            for events in _compiled_blocks(path, header, int(chunk_events or EVT2_BLOCK_WORDS), bar, _kernel()):
                if len(events):
                    yield events
        else:
            yield from _iter_expelliarmus(path, header, int(chunk_events or DEFAULT_CHUNK_EVENTS), bar)


def read_prophesee(
    path: str | os.PathLike,
    progress: bool = False,
    chunk_events: int | None = None,
    header: PropheseeHeader | None = None,
) -> tuple[np.ndarray, tuple[int, int] | None, PropheseeHeader]:
    """Decode a whole ``.raw``/``.dat`` file: ``(events, sensor_size or None, header)``, not validated. With numba
    and no ``chunk_events``, the file is counted, then decoded into one array; else chunk by chunk.

    ``header``: the file's :func:`read_header`, when the caller has parsed it already.
    """
    header = read_header(path) if header is None else header
    kernel = _kernel()
    if kernel is not None and chunk_events is None:
        from tqdm import tqdm

        with tqdm(total=header.data_bytes, unit="B", unit_scale=True, desc=Path(path).name, disable=not progress,
                  leave=False, delay=0.5) as bar:
            return _read_compiled(Path(path), header, bar, kernel), header.sensor_size, header
    parts = list(iter_prophesee(path, chunk_events=chunk_events, progress=progress, header=header))
    events = np.concatenate(parts) if parts else np.empty(0, dtype=EVENT_DTYPE)
    return events, header.sensor_size, header
