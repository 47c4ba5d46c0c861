"""Box jitter: median centre step and direction-reversal rate (had_snn.evaluation.jitter)."""

import numpy as np
import pytest

from had_snn.evaluation.jitter import box_jitter, pooled


def track(centres: np.ndarray, wh: float = 4.0) -> np.ndarray:
    c = np.asarray(centres, dtype=np.float64)
    return np.column_stack([c - wh / 2, np.full((len(c), 2), wh)])


def test_still_box_has_no_steps_and_no_reversals():
    j = box_jitter(track(np.tile([[10.0, 20.0]], (30, 1))))
    assert j.median_step_px == 0.0
    assert j.pairs == 0 and np.isnan(j.reversal_rate)
    assert j.as_dict()["reversal_rate"] is None


def test_steady_motion_never_reverses():
    t = np.arange(40, dtype=np.float64)
    j = box_jitter(track(np.column_stack([5 + 0.75 * t, 30 - 0.5 * t])))
    assert j.median_step_px == pytest.approx(np.hypot(0.75, 0.5))
    assert j.reversal_rate == 0.0 and j.pairs == 38


def test_hopping_between_two_cells_reverses_every_step():
    x = 40 + 4.2 * (np.arange(21) % 2)  # one heat-map cell back and forth
    j = box_jitter(track(np.column_stack([x, np.full(21, 12.0)])))
    assert j.median_step_px == pytest.approx(4.2)
    assert j.reversal_rate == 1.0 and j.pairs == 19


def test_perpendicular_turn_is_not_a_reversal_but_an_obtuse_one_is():
    j = box_jitter(track([[0, 0], [1, 0], [1, 1], [0.5, 0.2]]))
    # steps (1, 0), (0, 1), (-0.5, -0.8): 90 degrees (dot 0), then obtuse (dot -0.8)
    assert (j.reversals, j.pairs) == (1, 2)


def test_unusable_frames_break_steps_and_pairs():
    boxes = track([[0, 0], [1, 0], [0, 0], [1, 0], [0, 0]])
    usable = np.array([True, True, False, True, True])
    j = box_jitter(boxes, usable)
    assert j.steps_px.tolist() == [1.0, 1.0]  # 0->1 and 3->4 only
    assert j.pairs == 0
    boxes[3] = np.nan  # a failed prediction is never usable
    assert box_jitter(boxes).steps_px.size == 2


def test_pooled_weighs_every_step_and_pair():
    a = box_jitter(track([[0, 0], [1, 0], [0, 0]]))  # 2 steps, 1 reversal
    b = box_jitter(track([[0, 0], [3, 0], [6, 0], [9, 0]]))  # 3 steps, 0 of 2
    p = pooled([a, b])
    assert p.median_step_px == 3.0 and (p.reversals, p.pairs) == (1, 3)


def test_bad_shape_is_refused():
    with pytest.raises(ValueError, match=r"\(N, 4\)"):
        box_jitter(np.zeros((5, 3)))
