"""Event array API: validation errors, time windows, crops, merges, EventStream."""

from __future__ import annotations

import numpy as np
import pytest

from had_snn.data.events import (
    EVENT_DTYPE,
    EventStream,
    concat_events,
    crop_events,
    make_events,
    search_t,
    time_window,
    validate_events,
)


def _random_events(rng: np.random.Generator, n: int, size=(32, 24), t_max_us: int = 10_000) -> np.ndarray:
    t = np.sort(rng.integers(0, t_max_us, n))
    return make_events(rng.integers(0, size[0], n), rng.integers(0, size[1], n), t, rng.integers(0, 2, n))


def test_validate_accepts_good_events_and_returns_them(rng) -> None:
    ev = _random_events(rng, 100)
    assert validate_events(ev, (32, 24), source="x.h5") is ev
    assert len(validate_events(np.empty(0, EVENT_DTYPE))) == 0


@pytest.mark.parametrize(
    "field, value, message",
    [("t", 5, "field 't' not sorted: row 4"), ("p", 2, "field 'p' must be 0 or 1: row 3"),
     ("x", 32, "field 'x' out of bounds: row 3 has x=32 >= sensor width 32"),
     ("y", 24, "field 'y' out of bounds: row 3 has y=24 >= sensor height 24")],
)
def test_validate_names_source_field_and_row(field: str, value: int, message: str) -> None:
    ev = make_events([1, 2, 3, 4, 5], [1, 2, 3, 4, 5], [10, 20, 30, 40, 50], [0, 1, 0, 1, 0])
    row = 4 if field == "t" else 3
    ev[field][row] = value
    with pytest.raises(ValueError, match=r"^rec\.txt: " + message.replace("(", r"\(")):
        validate_events(ev, (32, 24), source="rec.txt")


def test_validate_rejects_wrong_dtype() -> None:
    bad = np.zeros(3, dtype=[("x", "f4"), ("y", "f4"), ("t", "f8"), ("p", "i1")])
    with pytest.raises(ValueError, match="src: events must have dtype"):
        validate_events(bad, source="src")


def test_time_window_is_half_open_view(rng) -> None:
    ev = make_events([0] * 6, [0] * 6, [0, 10, 10, 20, 30, 30], [0] * 6)
    w = time_window(ev, 10, 30)
    assert w["t"].tolist() == [10, 10, 20]
    assert np.shares_memory(w, ev)
    assert len(time_window(ev, 31, 100)) == 0 and len(time_window(ev, 30, 10)) == 0
    big = _random_events(rng, 1000)
    ref = big[(big["t"] >= 2500) & (big["t"] < 7000)]
    assert np.array_equal(time_window(big, 2500, 7000), ref)


def test_crop_keeps_inside_and_shifts() -> None:
    ev = make_events([0, 5, 9, 10, 7], [0, 5, 9, 2, 12], [1, 2, 3, 4, 5], [0, 1, 1, 0, 1])
    out = crop_events(ev, 5, 2, 5, 10)  # x in [5, 10), y in [2, 12)
    assert out["x"].tolist() == [0, 4] and out["y"].tolist() == [3, 7] and out["t"].tolist() == [2, 3]
    neg = crop_events(ev, -2, -2, 4, 4)  # a region hanging off the top-left corner
    assert neg["x"].tolist() == [2] and neg["y"].tolist() == [2]


def test_concat_is_sorted_and_stable() -> None:
    a = make_events([1, 1, 1], [0, 0, 0], [0, 10, 20], [0, 0, 0])
    b = make_events([2, 2], [0, 0], [10, 15], [1, 1])
    out = concat_events([a, b])
    assert out["t"].tolist() == [0, 10, 10, 15, 20]
    assert out["x"].tolist() == [1, 1, 2, 2, 1]  # tie at t=10: a before b
    assert len(concat_events([])) == 0
    with pytest.raises(ValueError, match="part 1"):
        concat_events([a, np.zeros(2)])


def test_event_stream_wraps_functions(rng) -> None:
    es = EventStream(_random_events(rng, 500), (32, 24))
    assert len(es.window(1000, 2000)) == int(((es.events["t"] >= 1000) & (es.events["t"] < 2000)).sum())
    c = es.crop(4, 4, 8, 8)
    assert c.sensor_size == (8, 8) and c.events["x"].max() < 8
    with pytest.raises(ValueError, match="EventStream: field 'x' out of bounds"):
        EventStream(es.events, (4, 24))


def test_search_t_matches_numpy_searchsorted(rng) -> None:
    ev = _random_events(rng, 2000, t_max_us=500)  # many repeated timestamps
    queries = [-1, 0, 1, 250, 499, 500, 10**6]
    expect = np.searchsorted(np.ascontiguousarray(ev["t"]), queries, side="left")
    np.testing.assert_array_equal(search_t(ev, queries), expect)  # bisect path (strided field)
    np.testing.assert_array_equal(search_t(ev, np.arange(-5, 505)), np.searchsorted(ev["t"], np.arange(-5, 505)))
    assert search_t(ev[:0], [3]).tolist() == [0]
