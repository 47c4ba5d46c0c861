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


STATIC_IOUS = [1.0, 0.6, 1 / 3, 1 / 7, 0, 0, 0, 0]  # 8 px square moving 2 px/frame: (8 - 2k) / (8 + 2k)


class CountingTracker(StaticTracker):
    name = "counting"
    fingerprint = "v1"

    def __init__(self) -> None:
        self.calls = 0

    def track(self, seq: Sequence) -> np.ndarray:
        self.calls += 1
        return super().track(seq)


def test_evaluate_writes_boxes_table_plots_and_resumes(tmp_path) -> None:
    import json

    from had_snn.tracking.evaluate import evaluate

    seqs = [moving_square_sequence(), moving_square_sequence()]
    seqs[1].name, seqs[1].attributes = "square2", ("low_light",)
    counting = CountingTracker()
    report = evaluate([ModelTracker(OracleModel(), name="oracle"), counting], seqs, tmp_path, split="test")
    static_sr = np.mean([np.mean(np.array(STATIC_IOUS) > thr) for thr in np.linspace(0, 1, 21)])
    stat = report["trackers"]["counting"]["subsets"]
    assert stat["all"]["SR_AUC"] == pytest.approx(static_sr)
    assert stat["all"]["PR20"] == 1.0 and stat["all"]["num_frames"] == 16  # 14 px max drift < 20 px
    # normalised centre error 2k / 8 <= 0.2 only for k = 0
    assert stat["low_light"]["NPR0.2"] == pytest.approx(1 / 8) and stat["low_light"]["num_sequences"] == 1
    oracle = report["trackers"]["oracle"]["subsets"]["all"]
    assert oracle["SR_AUC"] > 0.85 and oracle["PR20"] == 1.0
    assert set(report["trackers"]["oracle"]["subsets"]) == {"all", "fast_motion", "low_light"}
    np.testing.assert_allclose(read_otb(tmp_path / "boxes" / "counting" / "square2.txt"), seqs[1].boxes[[0] * 8])
    assert json.loads((tmp_path / "results.json").read_text())["trackers"]["counting"]["subsets"] == stat
    table = (tmp_path / "results.md").read_text()
    assert f"| all | 2 | counting | {100 * static_sr:.1f} | 100.0 | 12.5 |" in table
    assert (tmp_path / "plots" / "success.png").is_file()
    assert (tmp_path / "plots" / "low_light" / "precision.png").is_file()
    assert counting.calls == 2
    # same fingerprint: boxes are reused; a new fingerprint re-tracks
    evaluate([counting], seqs, tmp_path, plots=False)
    assert counting.calls == 2
    counting.fingerprint = "v2"
    evaluate([counting], seqs, tmp_path, plots=False)
    assert counting.calls == 4
    with pytest.raises(ValueError, match="unique"):
        evaluate([counting, counting], seqs, tmp_path)


def test_eval_cli_with_checkpoint_and_static(tmp_path, capsys) -> None:
    from had_snn.cli import main
    from had_snn.data.dataset import index_entry, write_index
    from had_snn.data.io import write_sequence
    from had_snn.models import build_model
    from had_snn.train.checkpoint import model_state, save_checkpoint

    seq = moving_square_sequence(n_frames=4)
    write_sequence(tmp_path / "data" / "test" / "square.h5", seq)
    write_index(tmp_path / "data", {"test": ["square"]}, {"square": index_entry(seq, "test", "test/square.h5")},
                generator={"test": True})
    torch.manual_seed(0)
    model = build_model("teacher_events", widths=(4, 8, 8), stem_channels=4, convs_per_stage=1, head_channels=8)
    save_checkpoint(tmp_path / "ckpt" / "tiny.pt", model_state(model))
    out = tmp_path / "out"
    rc = main(["eval", "--tracker", str(tmp_path / "ckpt" / "tiny.pt"), "--tracker", "static",
               "--data", str(tmp_path / "data"), "--out", str(out), "--no-plots"])
    assert rc == 0
    assert "| all | 1 | static |" in capsys.readouterr().out
    assert read_otb(out / "boxes" / "tiny" / "square.txt").shape == (4, 4)
    assert main(["eval", "--tracker", "static", "--data", str(tmp_path / "data"), "--split", "val",
                 "--out", str(out)]) == 1
    assert "no split 'val'" in capsys.readouterr().err
    assert main(["eval", "--tracker", str(tmp_path / "nope.pt"), "--data", str(tmp_path / "data"),
                 "--out", str(out)]) == 1
    assert "does not exist" in capsys.readouterr().err
