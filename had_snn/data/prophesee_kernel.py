"""Compiled (numba) decoders of Prophesee RAW words, used by :mod:`had_snn.data.prophesee` when numba imports.

Each decoder walks one block of words in file order with its state carried in a small int64 array, so a file
decodes block by block exactly as in one piece. RAW words take two passes: ``count_*`` checks every word's type and
counts the events it yields, ``fill_*`` writes them into an :data:`~had_snn.data.events.EVENT_DTYPE` array of that
size. Errors come back as a code and the word index, and
the caller raises them with the file name and byte offset. Whole files are counted block by block first, then
filled into one array (:func:`had_snn.data.prophesee.read_prophesee`), so no chunk is ever copied.

EVT 3.0 follows the same rules as the numpy decoder (:func:`had_snn.data.prophesee._decode_evt3_block`, which stays
the fallback without numba, and against which the tests compare this one). EVT 2.0: 32-bit words, type in bits
31-28; CD_OFF (0x0) / CD_ON (0x1) carry t's low 6 bits (27-22), x (21-11) and y (10-0); EVT_TIME_HIGH (0x8) sets
t's upper 28 bits; EXT_TRIGGER (0xA), OTHERS (0xE) and CONTINUED (0xF) are skipped; CD words before the first
TIME_HIGH carry no time and are dropped. DAT: 8-byte records, decoded in one pass.
"""

from __future__ import annotations

import numba
import numpy as np

from had_snn.data.events import EVENT_DTYPE

#: Error codes returned by the decoders (0: none)
ERR_UNKNOWN_TYPE, ERR_TIME_HIGH_DROP = 1, 2
#: Layout of the EVT 3.0 state array
EVT3_TIME_HIGH, EVT3_LOOPS, EVT3_TIME_LOW, EVT3_Y, EVT3_BASE_X, EVT3_VECT_P = range(6)

_EVT3_KNOWN = np.zeros(16, np.bool_)
_EVT3_KNOWN[[0x0, 0x2, 0x3, 0x4, 0x5, 0x6, 0x7, 0x8, 0xA, 0xE, 0xF]] = True
_EVT2_KNOWN = np.zeros(16, np.bool_)
_EVT2_KNOWN[[0x0, 0x1, 0x8, 0xA, 0xE, 0xF]] = True


def _evt3_tables() -> tuple[np.ndarray, np.ndarray]:
    """Per 16-bit word value: the events it yields (ADDR_X 1, VECT_12 / VECT_8 their set bits) and whether its type
    is unknown."""
    w = np.arange(1 << 16)
    kind = w >> 12
    bits = np.array([bin(v).count("1") for v in range(1 << 12)])
    events = np.where(kind == 0x2, 1, np.where(kind == 0x4, bits[w & 0xFFF], np.where(kind == 0x5, bits[w & 0xFF], 0)))
    return events.astype(np.uint8), (~_EVT3_KNOWN[kind]).astype(np.uint8)


_EVT3_EVENTS, _EVT3_UNKNOWN = _evt3_tables()


@numba.njit(cache=True, nogil=True)
def count_evt3(words, has_time):  # pragma: no cover - compiled
    """(events the block yields, index of its first unknown word or -1, whether a time is known after it);
    ``has_time``: a TIME_HIGH came before the block. Table-driven, without branches per word."""
    start = 0
    if not has_time:
        while start < words.shape[0] and (words[start] >> 12) != 0x8:
            if _EVT3_UNKNOWN[words[start]]:
                return 0, start, False
            start += 1
        if start == words.shape[0]:
            return 0, -1, False
    n = 0
    bad = 0
    for i in range(start, words.shape[0]):
        n += _EVT3_EVENTS[words[i]]
        bad |= _EVT3_UNKNOWN[words[i]]
    if bad:
        for i in range(start, words.shape[0]):
            if _EVT3_UNKNOWN[words[i]]:
                return 0, i, True
    return n, -1, True


@numba.njit(cache=True, nogil=True)
def fill_evt3(words, state, out, max_wrap_steps):  # pragma: no cover - compiled
    """Write the block's events into ``out`` and update ``state`` (int64, the ``EVT3_*`` layout). ``out`` needs one
    slot more than :func:`count_evt3` counts: ADDR_Y and ADDR_X words (most of a stream) write a slot each, without
    a branch, and only ADDR_X words keep theirs. Returns (events written, error code, word index, previous
    TIME_HIGH, new one); on an error ``state`` is left as it was."""
    time_high, loops, time_low = state[0], state[1], state[2]
    y, base_x, vect_p = state[3], state[4], state[5]
    timed = np.int64(1) if time_high >= 0 else np.int64(0)
    t = (loops << 24) | (max(time_high, 0) << 12) | time_low
    n = 0
    for i in range(words.shape[0]):
        w = np.int64(words[i])
        kind = w >> 12
        if kind & 0xD == 0:  # ADDR_Y (0x0) or ADDR_X (0x2)
            is_x = kind >> 1
            low = w & 0x7FF
            y = is_x * y + (1 - is_x) * low
            e = out[n]
            e.x = low
            e.y = y
            e.t = t
            e.p = (w >> 11) & 1
            n += is_x & timed
        elif kind == 0x6:
            time_low = w & 0xFFF
            t = (loops << 24) | (max(time_high, 0) << 12) | time_low
        elif kind == 0x4 or kind == 0x5:
            width = 12 if kind == 0x4 else 8
            if timed:
                mask = w & (0xFFF if kind == 0x4 else 0xFF)
                for b in range(width):
                    if (mask >> b) & 1:
                        e = out[n]
                        e.x = base_x + b
                        e.y = y
                        e.t = t
                        e.p = vect_p
                        n += 1
            base_x += width
        elif kind == 0x3:
            base_x = w & 0x7FF
            vect_p = (w >> 11) & 1
        elif kind == 0x8:
            th = w & 0xFFF
            if time_high >= 0 and time_high - th > 2048:
                if (th - time_high) % 4096 > max_wrap_steps:
                    return n, ERR_TIME_HIGH_DROP, i, time_high, th
                loops += 1
            time_high = th
            timed = 1
            t = (loops << 24) | (time_high << 12) | time_low
    state[0], state[1], state[2] = time_high, loops, time_low
    state[3], state[4], state[5] = y, base_x, vect_p
    return n, 0, -1, 0, 0


@numba.njit(cache=True, nogil=True)
def count_evt2(words, has_time):  # pragma: no cover - compiled
    """(CD events the block yields, index of its first unknown word or -1, whether a time is known after it)."""
    start = 0
    if not has_time:
        while start < words.shape[0] and (words[start] >> 28) != 0x8:
            if not _EVT2_KNOWN[words[start] >> 28]:
                return 0, start, False
            start += 1
        if start == words.shape[0]:
            return 0, -1, False
    n = 0
    bad = False
    for i in range(start, words.shape[0]):
        kind = words[i] >> 28
        n += kind <= 0x1
        bad |= not _EVT2_KNOWN[kind]
    if bad:
        for i in range(start, words.shape[0]):
            if not _EVT2_KNOWN[words[i] >> 28]:
                return 0, i, True
    return n, -1, True


@numba.njit(cache=True, nogil=True)
def fill_evt2(words, state, out):  # pragma: no cover - compiled
    """Write the block's CD events into ``out`` (one slot more than :func:`count_evt2` counts: every word writes a
    slot, without a branch, and only CD words keep theirs); ``state``: int64 ``[last TIME_HIGH or -1]``, updated.
    The words must have passed :func:`count_evt2`. Returns the events written."""
    time_high = state[0]
    n = 0
    for i in range(words.shape[0]):
        w = np.int64(words[i])
        kind = w >> 28
        is_th = np.int64(kind == 0x8)
        time_high = is_th * (w & 0xFFFFFFF) + (1 - is_th) * time_high
        e = out[n]
        e.t = (time_high << 6) | ((w >> 22) & 0x3F)
        e.x = (w >> 11) & 0x7FF
        e.y = w & 0x7FF
        e.p = kind
        n += (kind <= 0x1) & (time_high >= 0)
    state[0] = time_high
    return n


@numba.njit(cache=True, nogil=True)
def fill_dat(records, state, out):  # pragma: no cover - compiled
    """DAT records (uint32 pairs: t, then x bits 0-13, y 14-27, p 28-31) into ``out``; a decrease of t is a 32-bit
    wrap (+ 2**32 us). ``state``: int64 ``[wraps, last t or -1]``, updated."""
    wraps, last = state[0], state[1]
    for i in range(records.shape[0]):
        t = np.int64(records[i, 0])
        d = np.int64(records[i, 1])
        if t < last:
            wraps += 1
        last = t
        e = out[i]
        e.t = (wraps << 32) | t
        e.x = d & 0x3FFF
        e.y = (d >> 14) & 0x3FFF
        e.p = d >> 28
    state[0], state[1] = wraps, last


def warm_up() -> None:
    """Compile (or load from numba's cache) the decoders now."""
    out = np.empty(4, EVENT_DTYPE)
    evt3 = np.array([0x8001, 0x6002, 0x0003, 0x2004], np.uint16)
    count_evt3(evt3, False)
    fill_evt3(evt3, np.array([-1, 0, 0, 0, 0, 0], np.int64), out, 64)
    evt2 = np.array([0x80000001, 0x10000000], np.uint32)
    count_evt2(evt2, False)
    fill_evt2(evt2, np.array([-1], np.int64), out)
    fill_dat(np.zeros((1, 2), np.uint32), np.array([0, -1], np.int64), out)
