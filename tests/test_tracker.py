"""The online tracker loop on a tiny moving-square sequence, baselines, hooks and the OTB box files."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from had_snn.data.events import make_events
from had_snn.data.sequence import Sequence
from had_snn.tracking.metrics import iou
from had_snn.tracking.tracker import ModelTracker, StaticTracker, crop_config_for, read_otb, write_otb

SENSOR = (64, 48)
SIDE_PX = 8.0


def moving_square_sequence(n_frames: int = 8, step_px: float = 2.0) -> Sequence:
    """A bright 8 px square moving right by ``step_px`` per 10 ms frame on a dark background, with ON events on its
    leading edge and OFF events on its trailing edge every millisecond."""
    t_us = (np.arange(n_frames) + 1) * 10_000
    boxes = np.array([[12 + k * step_px, 20, SIDE_PX, SIDE_PX] for k in range(n_frames)], np.float32)
    frames = np.full((n_frames, SENSOR[1], SENSOR[0], 3), 20, np.uint8)
    for k, (x, y, w, h) in enumerate(boxes.astype(int)):
        frames[k, y:y + h, x:x + w] = 230
    xs, ys, ts, ps = [], [], [], []
    for t in range(0, int(t_us[-1]), 1000):
        x = 12 + step_px * (t - 10_000) / 10_000
        rows = np.arange(20, 28)
        for col, pol in ((int(np.floor(x + SIDE_PX)), 1), (int(np.floor(x)), 0)):
            if 0 <= col < SENSOR[0]:
                xs += [col] * len(rows)
                ys += list(rows)
                ts += [t] * len(rows)
                ps += [pol] * len(rows)
    return Sequence("square", make_events(xs, ys, ts, ps), SENSOR, t_us, boxes, frames=frames,
                    attributes=("fast_motion",))


class OracleModel(nn.Module):
    """Follows the tracker interface and localises the bright square in ``search_rgb`` exactly, so the tracker's
    crop -> decode -> image box chain can be checked end to end."""

    def forward(self, batch: dict) -> dict:
        rgb = batch["search_rgb"]
        b, _, p, _ = rgb.shape
        hm_px = p // 8
        heat = torch.full((b, 1, hm_px, hm_px), -10.0)
        size, offset = torch.zeros(b, 2, hm_px, hm_px), torch.zeros(b, 2, hm_px, hm_px)
        for i in range(b):
            ys, xs = torch.nonzero(rgb[i].mean(0) > 0.5, as_tuple=True)
            x0, x1, y0, y1 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
            cx, cy = (x0 + x1) / 2 / p * hm_px, (y0 + y1) / 2 / p * hm_px
            ix, iy = int(cx), int(cy)
            heat[i, 0, iy, ix] = 10.0
            offset[i, :, iy, ix] = torch.stack([cx - ix, cy - iy])
            size[i, :, iy, ix] = torch.stack([(x1 - x0) / p, (y1 - y0) / p])
        return {"heatmap": heat, "size": size, "offset": offset, "response": heat, "features": {}}


def test_static_baseline() -> None:
    seq = moving_square_sequence()
    boxes = StaticTracker().track(seq)
    assert boxes.shape == (8, 4) and np.all(boxes == seq.boxes[0])
    # the square moves 2 px per frame: the static box loses overlap, last frame IoU (8-14)/.. -> 0
    assert iou(boxes, seq.boxes)[-1] == 0.0
    bad = Sequence("bad", seq.events, SENSOR, seq.frame_t_us, np.full((8, 4), np.nan), frames=seq.frames)
    with pytest.raises(ValueError, match="cannot initialise"):
        StaticTracker().track(bad)


def test_oracle_model_tracks_the_square() -> None:
    seq = moving_square_sequence()
    boxes = ModelTracker(OracleModel(), window_influence=0.0).track(seq)
    np.testing.assert_allclose(boxes[0], seq.boxes[0])
    ov = iou(boxes, seq.boxes)
    assert ov.min() > 0.85, ov
    np.testing.assert_allclose(boxes[:, 0], seq.boxes[:, 0], atol=0.5)


def test_real_teacher_and_student_run_in_the_loop() -> None:
    from had_snn.models import build_model

    torch.manual_seed(0)
    seq = moving_square_sequence(n_frames=4)
    tiny = {"widths": (4, 8, 8), "convs_per_stage": 1, "head_channels": 8}
    for kind in ("teacher", "student"):
        extra = {"stem_channels": 4} if kind == "teacher" else {}
        model = build_model(kind, **tiny, **extra)
        tracker = ModelTracker(model)
        assert tracker.crop == crop_config_for(model) and tracker.name == kind
        boxes = tracker.track(seq)
        assert boxes.shape == (4, 4) and np.isfinite(boxes).all()
        np.testing.assert_allclose(boxes[0], seq.boxes[0])
        assert (boxes[1:, 2:] >= 1).all() and (boxes[1:, 2] <= SENSOR[0]).all()


def test_input_fn_hook_sees_every_search_batch() -> None:
    seq = moving_square_sequence(n_frames=5)
    seen = []

    def hook(batch: dict) -> dict:
        seen.append({k: tuple(v.shape) for k, v in batch.items()})
        return batch

    ModelTracker(OracleModel(), input_fn=hook).track(seq)
    assert len(seen) == 4
    assert seen[0]["search_spikes"] == (8, 1, 2, 128, 128) and seen[0]["template_rgb"] == (1, 3, 64, 64)
    assert seen[0]["search_voxel"] == (1, 5, 128, 128)


def test_otb_files_round_trip_and_errors(tmp_path) -> None:
    boxes = np.array([[1.5, 2.25, 30.0, 40.125], [np.nan, np.nan, np.nan, np.nan]])
    write_otb(tmp_path / "a" / "seq.txt", boxes)
    assert (tmp_path / "a" / "seq.txt").read_text().splitlines()[0] == "1.500,2.250,30.000,40.125"
    np.testing.assert_allclose(read_otb(tmp_path / "a" / "seq.txt"), boxes)
    (tmp_path / "tab.txt").write_text("1\t2\t3\t4\n5 6 7 8\n")
    np.testing.assert_allclose(read_otb(tmp_path / "tab.txt"), [[1, 2, 3, 4], [5, 6, 7, 8]])
    (tmp_path / "bad.txt").write_text("1,2,3\n")
    with pytest.raises(ValueError, match=r"bad.txt:1: expected 4 values"):
        read_otb(tmp_path / "bad.txt")
    with pytest.raises(FileNotFoundError, match="no OTB box file"):
        read_otb(tmp_path / "missing.txt")
