"""Ground-truth boxes and sensor sizes checked at the data edges (nothing silently wrong).

Invalid boxes (non-positive size, non-finite, outside the sensor, absurdly large) are read as absent with a count;
where a valid box is required the error names the sequence and frame; metrics never score them; sensor sizes are
integers in 1..16384 px before anything is allocated from them.
"""

from __future__ import annotations

import logging

import h5py
import numpy as np
import pytest

from had_snn.data.binning import to_frames
from had_snn.data.datasets.checks import LoadReport, checked_sequence
from had_snn.data.events import make_events
from had_snn.data.io import read_sequence, write_sequence
from had_snn.data.sequence import MAX_SENSOR_PX, Sequence, check_sensor_size, sanitize_boxes, valid_box_mask
from had_snn.evaluation.metrics import score_sequence, valid_gt_mask
from had_snn.tracking.config import CropConfig
from had_snn.tracking.windows import spike_windows

SENSOR = (64, 48)
NAN = float("nan")

# (box, valid on a 64x48 sensor)
BOXES = [
    ((10, 10, 8, 6), True),
    ((-4, -3, 8, 6), True),  # partly outside, top-left
    ((60, 44, 10, 10), True),  # partly outside, bottom-right
    ((0, 0, 128, 96), True),  # twice the sensor: the largest accepted
    ((10, 10, 0, 6), False),  # zero width
    ((10, 10, 8, -1), False),  # negative height
    ((64, 10, 8, 6), False),  # starts at the right edge: no overlap
    ((10, 48, 8, 6), False),  # starts at the bottom edge
    ((-8, 10, 8, 6), False),  # ends at the left edge
    ((10, -6, 8, 6), False),  # ends at the top edge
    ((0, 0, 1e9, 1e9), False),  # once scored SR 95 with the static tracker
    ((0, 0, 129, 10), False),  # wider than twice the sensor
    ((np.inf, 10, 8, 6), False),
    ((10, 10, 8, NAN), False),  # partly NaN
]


@pytest.mark.parametrize("box, valid", BOXES, ids=[str(b) for b, _ in BOXES])
def test_valid_box_mask(box, valid) -> None:
    assert valid_box_mask(np.asarray([box]), SENSOR).tolist() == [valid]
    assert valid_gt_mask(np.asarray([box]), SENSOR).tolist() == [valid]  # metrics apply the same rule


def test_sanitize_boxes_counts_and_warns(caplog) -> None:
    boxes = np.asarray([b for b, _ in BOXES] + [(NAN, NAN, NAN, NAN)], dtype=np.float64)
    with caplog.at_level(logging.WARNING):
        out, n_bad = sanitize_boxes(boxes, SENSOR, "x.h5: dataset 'boxes'")
    expected = np.asarray([v for _, v in BOXES] + [False])
    assert n_bad == int((~expected).sum()) - 1  # the already-absent NaN row is not counted
    assert out.dtype == np.float32 and out.shape == boxes.shape
    assert np.isnan(out[~expected]).all() and np.array_equal(out[expected], boxes[expected].astype(np.float32))
    text = caplog.text
    assert f"x.h5: dataset 'boxes': {n_bad} ground-truth box(es)" in text
    assert "64x48 px sensor" in text and "first: frame 4" in text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        _, n_clean = sanitize_boxes(boxes[expected], SENSOR, "clean")
    assert n_clean == 0 and caplog.text == ""


def _sequence(boxes: np.ndarray, trajectory: bool = False) -> Sequence:
    rng = np.random.default_rng(0)
    n = len(boxes)
    t = np.sort(rng.integers(0, n * 33_000, 3000))
    ev = make_events(rng.integers(0, SENSOR[0], 3000), rng.integers(0, SENSOR[1], 3000), t, rng.integers(0, 2, 3000))
    traj_t = np.arange(n, dtype=np.int64) * 33_000 + 33_000 if trajectory else None
    return Sequence("s", ev, SENSOR, np.arange(n, dtype=np.int64) * 33_000 + 33_000, boxes,
                    trajectory_t_us=traj_t, trajectory_boxes=boxes if trajectory else None)


def test_read_sequence_reads_invalid_boxes_as_absent(tmp_path, caplog) -> None:
    boxes = np.tile(np.float32([20, 10, 12, 10]), (6, 1))
    path = tmp_path / "s.h5"
    write_sequence(path, _sequence(boxes, trajectory=True))
    with h5py.File(path, "a") as f:
        f["boxes"][1] = [0, 0, 1e9, 1e9]
        f["boxes"][3] = [20, 10, 0, 10]
        f["boxes"][4] = [500, 10, 12, 10]
        f["trajectory/boxes"][2] = [20, 10, -5, 10]
    with caplog.at_level(logging.WARNING):
        seq = read_sequence(path)
    assert np.isnan(seq.boxes[[1, 3, 4]]).all() and np.array_equal(seq.boxes[[0, 2, 5]], boxes[[0, 2, 5]])
    assert np.isnan(seq.trajectory_boxes[2]).all() and not np.isnan(seq.trajectory_boxes[[0, 1, 3]]).any()
    assert f"{path}: dataset 'boxes': 3 ground-truth box(es)" in caplog.text
    assert f"{path}: dataset 'trajectory/boxes': 1 ground-truth box(es)" in caplog.text


def test_spike_windows_need_valid_boxes() -> None:
    crop = CropConfig(template_px=16, search_px=32, student_steps=2)
    boxes = np.tile(np.float32([20, 10, 12, 10]), (4, 1))
    boxes[2] = [20, 10, 0, 10]  # not sanitised: spike_windows checks by itself
    seq = _sequence(boxes)
    template, search = spike_windows(seq, crop, [1, 3])
    assert template.shape[1] == 1 and search.shape[1] == 2
    with pytest.raises(ValueError, match=r"sequence 's': frames \[2\] have no valid ground-truth box.*frame 2: "
                                         r"x, y, w, h = 20, 10, 0, 10 px"):
        spike_windows(seq, crop, [1, 2])
    boxes[0] = np.nan
    with pytest.raises(ValueError, match=r"sequence 's': frame 0 has no valid ground-truth box \(target absent or an "
                                         r"invalid box read as absent\), so there is no template"):
        spike_windows(_sequence(boxes), crop, [1])


def test_metrics_never_score_invalid_ground_truth() -> None:
    gt = np.asarray([[0, 0, 1e9, 1e9]] * 9 + [[10, 10, 8, 6]], dtype=np.float64)
    pred = gt.copy()
    pred[9] = [40, 30, 8, 6]  # misses the one real box
    score = score_sequence(pred, gt, frame_size=SENSOR)
    assert score.num_valid_frames == 1 and score.auc == 0.0  # unchecked, the 9 absurd boxes would score 0.9
    with pytest.raises(ValueError, match="no frame has a valid ground-truth box"):
        score_sequence(gt[:9], gt[:9], frame_size=SENSOR)


def test_dataset_loader_check_treats_absurd_boxes_as_absent() -> None:
    rng = np.random.default_rng(1)
    t = np.sort(rng.integers(0, 100_000, 500))
    ev = make_events(rng.integers(0, 64, 500), rng.integers(0, 48, 500), t, rng.integers(0, 2, 500))
    boxes = np.asarray([[10, 10, 8, 6], [-4, 10, 8, 6], [0, 0, 1e9, 1e9], [np.inf, 0, 4, 4], [NAN] * 4])
    report = LoadReport()
    seq = checked_sequence("s", ev, SENSOR, np.arange(1, 6) * 20_000, boxes, source="dir/s", report=report)
    assert report.boxes_absent == 2 and report.boxes_clipped == 1
    np.testing.assert_array_equal(seq.boxes[1], [0, 10, 4, 6])
    assert np.isnan(seq.boxes[2:]).all()


def test_dataset_loader_refuses_a_sequence_whose_events_all_lie_off_the_sensor() -> None:
    """An EventVOT-style sequence whose events are all outside the sensor would convert to no events and let the
    static box score SR 95: refused, naming the source and the extent of the events."""
    rng = np.random.default_rng(2)
    ev = make_events(rng.integers(64, 640, 300), rng.integers(0, 48, 300), np.sort(rng.integers(0, 90_000, 300)),
                     rng.integers(0, 2, 300))
    with pytest.raises(ValueError, match=r"dir/s: all 300 events lie outside the 64x48 px sensor \(x up to \d+"):
        checked_sequence("s", ev, SENSOR, np.arange(1, 5) * 20_000, np.tile([10, 10, 8, 6], (4, 1)), source="dir/s")
    ev["x"][:5] = 3  # a few on the sensor: kept, the rest counted and dropped
    report = LoadReport()
    seq = checked_sequence("s", ev, SENSOR, np.arange(1, 5) * 20_000, np.tile([10, 10, 8, 6], (4, 1)),
                           source="dir/s", report=report)
    assert len(seq.events) == 5 and report.events_out_of_bounds == 295


@pytest.mark.parametrize("size", [(0, 48), (-64, 48), (64.5, 48), (MAX_SENSOR_PX + 1, 48), (64,), (64, 48, 2),
                                  ("64", 48), (True, 48), (np.nan, 48)])
def test_check_sensor_size_refuses(size) -> None:
    with pytest.raises(ValueError, match=r"f\.h5: attribute 'sensor_size': sensor size .*1\.\.16384 px"):
        check_sensor_size(size, "f.h5: attribute 'sensor_size'")


def test_sensor_size_checked_before_allocation() -> None:
    assert check_sensor_size(np.array([64, 48], dtype=np.uint16), "x") == (64, 48)
    assert check_sensor_size((64.0, MAX_SENSOR_PX), "x") == (64, MAX_SENSOR_PX)
    assert check_sensor_size((4096, 4096), "x") == (4096, 4096)
    with pytest.raises(ValueError, match=r"x: sensor size 4097 x 4096 px has 16781312 pixels, more than the 16777216"):
        check_sensor_size((4097, 4096), "x")  # a side in range, the area not: the grids of show/track --video
    ev = make_events([1], [1], [10], [1])
    with pytest.raises(ValueError, match=r"sequence 's': sensor size \[0, 48\]"):
        Sequence("s", ev, (0, 48), [10], [[1, 1, 2, 2]])
    with pytest.raises(ValueError, match=r"sensor_size: sensor size \[1000000, 1000000\] is not valid"):
        to_frames(ev, (10**6, 10**6), 1)  # would allocate 8 TB
    with pytest.raises(ValueError, match=r"sensor size \[64, 0\] is not valid"):
        checked_sequence("s", ev, (64, 0), [20], [[1, 1, 2, 2]], source="dir/s")
