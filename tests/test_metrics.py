"""Tracking metrics on hand-computed cases, degenerate boxes and the PNG plots."""

from __future__ import annotations

import numpy as np
import pytest

from had_snn.evaluation.metrics import (
    IOU_THRESHOLDS,
    center_error,
    iou,
    per_attribute,
    score_sequence,
    summarize,
    valid_gt_mask,
)

GT = [0.0, 0.0, 10.0, 10.0]


def test_iou_hand_cases() -> None:
    pred = np.array([[0, 0, 10, 10], [5, 0, 10, 10], [0, 0, 20, 20], [20, 20, 5, 5], [10, 0, 10, 10]], float)
    gt = np.tile(GT, (5, 1))
    np.testing.assert_allclose(iou(pred, gt), [1.0, 1 / 3, 0.25, 0.0, 0.0])


def test_center_error_hand_cases() -> None:
    pred = np.array([[0, 0, 20, 20], [3, 4, 10, 10]], float)
    gt = np.array([GT, [0, -5, 10, 20]])  # centres (5, 5) and (5, 5)
    np.testing.assert_allclose(center_error(pred, gt), [np.sqrt(50), 5.0])
    # normalised by GT (w, h): (5/10, 5/10) and (3/10, 4/20)
    np.testing.assert_allclose(center_error(pred, gt, normalized=True), [np.sqrt(0.5), np.hypot(0.3, 0.2)])


def test_degenerate_boxes() -> None:
    gt = np.array([GT, GT, GT, GT, [np.nan] * 4, [0, 0, 0, 5]])
    pred = np.array([[np.nan] * 4, [0, 0, -1, 5], [5, 5, 0, 0], [200, 200, 10, 10], GT, GT])
    ov, ce = iou(pred, gt), center_error(pred, gt)
    # NaN prediction and negative size: failure (IoU 0, infinite centre error)
    assert ov[0] == 0 and ov[1] == 0 and np.isinf(ce[0]) and np.isinf(ce[1])
    # zero-size prediction: no area, but its centre (5, 5) is exactly the GT centre
    assert ov[2] == 0 and ce[2] == 0
    # far outside: IoU 0, distance from (205, 205) to (5, 5)
    assert ov[3] == 0 and ce[3] == pytest.approx(200 * np.sqrt(2))
    # NaN or empty ground truth: not scored
    assert np.isnan(ov[4]) and np.isnan(ov[5]) and np.isnan(ce[4]) and np.isnan(ce[5])


def test_gt_outside_frame_is_excluded_only_with_frame_size() -> None:
    gt = np.array([GT, [60, 10, 10, 10], [-20, 0, 10, 10], [45, 45, 10, 10]])
    np.testing.assert_array_equal(valid_gt_mask(gt), [True, True, True, True])
    np.testing.assert_array_equal(valid_gt_mask(gt, frame_size=(50, 50)), [True, False, False, True])


def test_score_sequence_hand_case() -> None:
    gt = np.array([GT, GT, GT, [np.nan] * 4, [0, 0, 0, 10]])
    pred = np.array([GT, [5, 0, 10, 10], [np.nan] * 4, GT, GT])
    s = score_sequence(pred, gt)
    assert s.num_valid_frames == 3
    # IoUs 1, 1/3, 0: thresholds 0..0.30 (7) -> 2/3, 0.35..0.95 (13) -> 1/3, 1.0 -> 0 (strict '>')
    expected = np.array([2 / 3] * 7 + [1 / 3] * 13 + [0.0])
    np.testing.assert_allclose(s.success, expected)
    assert s.auc == pytest.approx(3 / 7)
    assert s.pr20 == pytest.approx(2 / 3)  # centre errors 0, 5, inf
    assert s.npr == pytest.approx(1 / 3)  # normalised errors 0, 0.5, inf
    assert s.mean_iou == pytest.approx(4 / 9)


def test_perfect_tracker_auc_is_20_of_21() -> None:
    gt = np.tile(GT, (4, 1))
    s = score_sequence(gt, gt)
    assert s.auc == pytest.approx(20 / 21) and s.pr20 == 1.0 and s.npr == 1.0
    assert len(IOU_THRESHOLDS) == 21


def test_score_sequence_errors() -> None:
    with pytest.raises(ValueError, match="3 boxes but ground truth has 2"):
        score_sequence(np.zeros((3, 4)), np.ones((2, 4)))
    with pytest.raises(ValueError, match="no frame has a valid"):
        score_sequence(np.zeros((2, 4)), np.full((2, 4), np.nan))
    with pytest.raises(ValueError, match=r"shape \(N, 4\)"):
        iou(np.zeros((2, 3)), np.zeros((2, 3)))


def test_summaries_average_sequences_and_split_attributes() -> None:
    good = score_sequence(np.array([GT]), np.array([GT]))  # 1 frame, perfect
    bad = score_sequence(np.tile([30.0, 30, 10, 10], (3, 1)), np.tile(GT, (3, 1)))  # 3 frames, lost
    summ = summarize([good, bad])
    assert summ.auc == pytest.approx((20 / 21) / 2)  # sequence mean, not frame mean (which would be 5/21)
    assert summ.num_frames == 4 and summ.num_sequences == 2
    parts = per_attribute({"a": good, "b": bad}, {"a": ("fast_motion",), "b": ("fast_motion", "low_light")})
    assert list(parts) == ["all", "normal_light", "fast_motion", "low_light"]
    assert parts["low_light"].auc == 0.0 and parts["low_light"].pr20 == 0.0
    assert parts["fast_motion"].pr20 == pytest.approx(0.5)
    assert parts["normal_light"].num_sequences == 1 and parts["normal_light"].auc == pytest.approx(20 / 21)  # "a"
    with pytest.raises(ValueError, match="no attributes given"):
        per_attribute({"a": good}, {})


def test_normal_light_is_derived_from_low_light_and_hdr() -> None:
    from had_snn.evaluation.metrics import subset_members

    attrs = {"a": (), "b": ("hdr",), "c": ("low_light", "occlusion"), "d": ("occlusion",), "e": ("low_light",)}
    members = subset_members(list(attrs), attrs)
    assert members["normal_light"] == ["a", "d"]
    assert members["all"] == list(attrs) and members["occlusion"] == ["c", "d"]
    assert list(members) == ["all", "normal_light", "hdr", "low_light", "occlusion"]
    dark = {"b": ("hdr",), "e": ("low_light",)}
    assert "normal_light" not in subset_members(list(dark), dark)  # empty: left out
    own = {"a": ("normal_light",), "b": ("hdr",)}  # a dataset's own tag of that name wins
    assert subset_members(list(own), own)["normal_light"] == ["a"]


def test_plots_written(tmp_path) -> None:
    from had_snn.evaluation.plots import plot_curves

    gt = np.tile(GT, (5, 1))
    pred = gt + np.array([[0, 0, 0, 0], [2, 0, 0, 0], [4, 0, 0, 0], [8, 0, 0, 0], [30, 0, 0, 0]])
    summ = summarize([score_sequence(pred, gt)])
    paths = plot_curves({"ours": summ, "perfect": summarize([score_sequence(gt, gt)])}, tmp_path, title="t")
    assert [p.name for p in paths] == ["success.png", "precision.png", "norm_precision.png"]
    for p in paths:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 5000
