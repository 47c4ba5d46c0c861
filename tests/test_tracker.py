"""The online tracker loop on a tiny moving-square sequence, baselines, hooks and the OTB box files."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from had_snn.data.events import make_events
from had_snn.data.sequence import Sequence
from had_snn.evaluation.jitter import box_jitter
from had_snn.evaluation.metrics import iou
from had_snn.tracking.tracker import (
    BoxUpdate,
    ModelTracker,
    StaticTracker,
    crop_config_for,
    read_otb,
    update_box,
    write_otb,
)

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


class WideModel(OracleModel):
    """Finds the square's centre exactly but predicts a size tied to the search crop, 20% wider than the box the
    crop was cut around (``search_context = 4``: the previous box is 1/4 of the crop side): the error compounds
    frame after frame unless the tracker damps and bounds the size."""

    def forward(self, batch: dict) -> dict:
        out = super().forward(batch)
        out["size"][:, 0] = 0.25 * 1.2
        out["size"][:, 1] = 0.25
        return out


def test_size_safeguards_stop_a_biased_model_from_blowing_up() -> None:
    seq = moving_square_sequence(n_frames=30, step_px=1.0)
    unguarded = ModelTracker(WideModel(), window_influence=0.0, box_update=BoxUpdate.none()).track(seq)
    # no safeguards: crop side 4 sqrt(w h), so w' = 1.2 sqrt(w h), h' = sqrt(w h): the size grows ~9.5% per frame
    g = np.sqrt(unguarded[:3, 2] * unguarded[:3, 3])
    np.testing.assert_allclose(unguarded[1:4, 2:], np.stack([1.2 * g, g], axis=1), rtol=1e-4)
    assert unguarded[-1, 2] == SENSOR[0] and iou(unguarded, seq.boxes)[-1] < 0.05  # only the sensor stops it
    guarded = ModelTracker(WideModel(), window_influence=0.0).track(seq)
    # lr = 0.4 * score (sigmoid(10) times the SiamRPN penalty): the width grows by less than 0.4 * 20% per frame
    growth = guarded[1:, 2] / guarded[:-1, 2]
    assert (growth > 1.0).all() and (growth < 1 + 0.4 * 0.2).all()
    assert (guarded[:, 2] <= unguarded[:, 2] + 1e-9).all() and guarded[-1, 2] < 0.5 * SENSOR[0]
    assert iou(guarded[:10], seq.boxes[:10]).mean() > iou(unguarded[:10], seq.boxes[:10]).mean() + 0.1
    # the bound relative to the first box (SiamFC's 0.2-5x by default) caps the size however long the run
    capped = ModelTracker(WideModel(), window_influence=0.0, box_update=BoxUpdate(init_scale_range=(0.5, 2.0)))
    boxes = capped.track(seq)
    assert boxes[:, 2].max() == pytest.approx(2 * SIDE_PX) and (boxes[:, 3] <= 2 * SIDE_PX + 1e-9).all()


def test_update_box_damps_and_clamps_by_hand() -> None:
    prev, init = np.array([10.0, 10.0, 20.0, 10.0]), np.array([20.0, 10.0])
    pred = np.array([12.0, 8.0, 30.0, 10.0])  # centre (27, 13), 50% wider
    rule = BoxUpdate(size_lr=0.5, max_scale_step=2.0)
    box = update_box(prev, pred, 0.8, init, (100, 80), rule)  # lr 0.4: w = 0.6 * 20 + 0.4 * 30 = 24
    np.testing.assert_allclose(box, [27 - 12, 13 - 5, 24, 10])
    box = update_box(prev, pred, 1.0, init, (100, 80), BoxUpdate(size_lr=1.0, max_scale_step=1.1))
    np.testing.assert_allclose(box[2:], [22, 10])  # per-frame step bound
    free = {"size_lr": 1.0, "max_scale_step": 2.0}
    box = update_box(prev, pred, 1.0, init, (100, 80), BoxUpdate(**free, init_scale_range=(0.5, 1.2)))
    np.testing.assert_allclose(box[2:], [24, 10])  # 1.2 x the first box
    box = update_box(prev, pred, 1.0, init, (100, 80), BoxUpdate(**free, max_size_frac=0.25))
    np.testing.assert_allclose(box[2:], [25, 10])  # a quarter of the 100 px sensor width
    np.testing.assert_allclose(update_box(prev, pred, 0.0, init, (100, 80), BoxUpdate())[2:], prev[2:])
    with pytest.raises(ValueError, match="size_lr"):
        BoxUpdate(size_lr=1.5)
    with pytest.raises(ValueError, match="init_scale_range"):
        BoxUpdate(init_scale_range=(2.0, 5.0))
    assert BoxUpdate().key() != BoxUpdate(size_lr=0.3).key()


def test_scale_penalty_prefers_the_peak_that_keeps_the_size() -> None:
    from had_snn.tracking.decode import decode, size_change_penalty

    hm, size = torch.full((1, 1, 16, 16), -10.0), torch.full((1, 2, 16, 16), 0.25)
    hm[0, 0, 4, 4], hm[0, 0, 10, 10] = 2.0, 1.8  # p = 0.881 and 0.858
    size[0, :, 4, 4] = torch.tensor([0.5, 0.25])  # twice as wide as the previous box
    out = {"heatmap": hm, "size": size, "offset": torch.zeros(1, 2, 16, 16)}
    prev = torch.tensor([[0.25, 0.25]])
    # s_c = sqrt(0.875 * 0.625) / 0.5 = 1.4790, r_c = 2 -> exp(-(2.958 - 1) * 0.04) = 0.9247
    pen = size_change_penalty(size, prev, 0.04)
    assert float(pen[0, 4, 4]) == pytest.approx(np.exp(-(2 * np.sqrt(0.875 * 0.625) / 0.5 - 1) * 0.04), rel=1e-5)
    assert float(pen[0, 10, 10]) == pytest.approx(1.0)
    box, score = decode(out, 0.0)
    assert float(box[0, 2]) == 0.5 and float(score) == pytest.approx(float(torch.sigmoid(torch.tensor(2.0))))
    box, score = decode(out, 0.0, prev, penalty_k=0.04)
    assert float(box[0, 0]) == pytest.approx(10 / 16) and float(box[0, 2]) == 0.25
    assert float(score) == pytest.approx(float(torch.sigmoid(torch.tensor(1.8))))


def test_static_baseline() -> None:
    seq = moving_square_sequence()
    boxes = StaticTracker().track(seq)
    assert boxes.shape == (8, 4) and np.all(boxes == seq.boxes[0])
    # the square moves 2 px per frame: the static box loses overlap, last frame IoU (8-14)/.. -> 0
    assert iou(boxes, seq.boxes)[-1] == 0.0
    bad = Sequence("bad", seq.events, SENSOR, seq.frame_t_us, np.full((8, 4), np.nan), frames=seq.frames)
    with pytest.raises(ValueError, match="cannot initialise"):
        StaticTracker().track(bad)


UNFILTERED = {"centre_gain": 1.0, "velocity_gain": 0.0}


@pytest.mark.parametrize("rule", [BoxUpdate(**UNFILTERED), BoxUpdate.none()], ids=["size-guards", "no-safeguards"])
def test_oracle_model_tracks_the_square(rule: BoxUpdate) -> None:
    seq = moving_square_sequence()
    boxes = ModelTracker(OracleModel(), window_influence=0.0, box_update=rule).track(seq)
    np.testing.assert_allclose(boxes[0], seq.boxes[0])
    ov = iou(boxes, seq.boxes)
    assert ov.min() > 0.85, ov
    np.testing.assert_allclose(boxes[:, 0], seq.boxes[:, 0], atol=0.5)
    np.testing.assert_allclose(boxes[:, 2:], seq.boxes[:, 2:], atol=1.0)


def test_centre_filter_starts_at_rest_and_catches_up_with_a_steady_target() -> None:
    """The default centre filter knows no velocity at frame 0: a square moving a quarter of its side per frame from
    the start is trailed for a few frames, then followed (the velocity estimate converges to the target's)."""
    seq = moving_square_sequence(n_frames=20, step_px=2.0)  # the square stays on the 64 px sensor
    tracker = ModelTracker(OracleModel(), window_influence=0.0)
    boxes = tracker.track(seq)
    lag = seq.boxes[:, 0] - boxes[:, 0]
    assert lag[1:4].min() > 0.5 and lag.max() < 3.0  # trails by at most 3 px (the target moves 2 px per frame)
    assert abs(lag[-1]) < 0.2 and tracker._velocity[0] == pytest.approx(2.0, abs=0.05)
    assert iou(boxes, seq.boxes)[-5:].min() > 0.95


def test_filter_centre_by_hand() -> None:
    from had_snn.tracking.tracker import filter_centre

    rule = BoxUpdate(centre_gain=0.5, velocity_gain=0.25)
    centre, vel = filter_centre(np.array([10.0, 10.0]), np.array([1.0, 0.0]), np.array([13.0, 8.0]), rule)
    # predicted (11, 10), residual (2, -2): centre (12, 9), velocity (1.5, -0.5)
    np.testing.assert_allclose(centre, [12.0, 9.0])
    np.testing.assert_allclose(vel, [1.5, -0.5])
    same, _ = filter_centre(np.zeros(2), np.ones(2), np.array([5.0, -3.0]), BoxUpdate(**UNFILTERED))
    np.testing.assert_allclose(same, [5.0, -3.0])  # gain 1: the measurement as it is
    rng = np.random.default_rng(0)  # a steady target measured with 1 px noise: the filter halves the shake
    truth = np.arange(200)[:, None] * np.array([1.0, 0.5])
    measured = truth + rng.normal(0, 1.0, truth.shape)
    centre, vel, errors = truth[0].copy(), np.array([1.0, 0.5]), []
    for z, t in zip(measured[1:], truth[1:], strict=True):
        centre, vel = filter_centre(centre, vel, z, BoxUpdate())
        errors.append(np.hypot(*(centre - t)))
    assert np.mean(errors) < 0.7 * np.mean(np.hypot(*(measured[1:] - truth[1:]).T))
    for bad in ({"centre_gain": 0.0}, {"centre_gain": 1.5}, {"velocity_gain": -0.1},
                {"centre_gain": 0.3, "velocity_gain": 0.4}):
        with pytest.raises(ValueError, match="BoxUpdate.(centre|velocity)_gain"):
            BoxUpdate(**bad)
    assert BoxUpdate().key() != BoxUpdate(**UNFILTERED).key()


class CellModel(OracleModel):
    """Finds the heat-map cell holding the square's centre but not where in the cell it is: the offset head always
    answers the cell centre (0.5), as a weak offset head does."""

    def forward(self, batch: dict) -> dict:
        out = super().forward(batch)
        out["offset"].fill_(0.5)
        return out


@pytest.mark.parametrize("step_px", [0.0, 0.5], ids=["still", "steady"])
def test_a_still_or_steady_target_gives_a_still_or_steady_box(step_px: float) -> None:
    """The search crop puts the previous estimate on a cell centre: a target that moves less than half a cell per
    frame stays in one cell, so even a cell-only localiser holds a still box still and never turns a steadily moving
    one back. (Centred on the estimate, the crop put the target on a cell corner, and this model hopped one cell
    back and forth every frame.)"""
    seq = moving_square_sequence(n_frames=30, step_px=step_px)
    boxes = ModelTracker(CellModel(), window_influence=0.0).track(seq)
    truth, ours = box_jitter(seq.boxes), box_jitter(boxes)
    assert ours.reversals == 0
    if step_px == 0.0:
        assert ours.median_step_px == 0.0 and ours.pairs == 0
    else:  # a cell is 2 px here: the box follows in whole cells, never slower than the target on average
        assert truth.median_step_px == pytest.approx(step_px)
        assert abs((boxes[-1, 0] - boxes[0, 0]) - (seq.boxes[-1, 0] - seq.boxes[0, 0])) <= 2.0
    assert iou(boxes, seq.boxes).min() > 0.6


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


def test_crop_config_for_takes_sizes_from_the_model_and_the_rest_from_training() -> None:
    from had_snn.models import build_model
    from had_snn.tracking.config import CropConfig

    model = build_model("student", widths=(4, 8, 8), head_channels=8, search_px=32, template_px=16)
    assert needs_frames_of(model) is False and needs_frames_of(build_model("teacher", widths=(4, 8, 8))) is True
    trained = {"template_px": 64, "search_px": 128, "template_context": 2.5, "search_context": 5.0,
               "window_frames": 2.0, "student_steps": 8}
    crop = crop_config_for(model, 3, trained)
    assert (crop.template_px, crop.search_px, crop.student_steps) == (16, 32, 3)  # the model's sizes, the given T
    assert (crop.template_context, crop.search_context, crop.window_frames) == (2.5, 5.0, 2.0)
    assert crop_config_for(model, 3) == CropConfig(template_px=16, search_px=32, student_steps=3)


def needs_frames_of(model: nn.Module) -> bool:
    return ModelTracker(model).needs_frames


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

    from had_snn.evaluation.evaluate import evaluate

    seqs = [moving_square_sequence(), moving_square_sequence()]
    seqs[1].name, seqs[1].attributes = "square2", ("low_light",)
    counting = CountingTracker()
    oracle_tracker = ModelTracker(OracleModel(), name="oracle", box_update=BoxUpdate(**UNFILTERED))
    report = evaluate([oracle_tracker, counting], seqs, tmp_path, split="test")
    static_sr = np.mean([np.mean(np.array(STATIC_IOUS) > thr) for thr in np.linspace(0, 1, 21)])
    stat = report["trackers"]["counting"]["subsets"]
    assert stat["all"]["SR_AUC"] == pytest.approx(static_sr)
    assert stat["all"]["PR20"] == 1.0 and stat["all"]["num_frames"] == 16  # 14 px max drift < 20 px
    # normalised centre error 2k / 8 <= 0.2 only for k = 0
    assert stat["low_light"]["NPR0.2"] == pytest.approx(1 / 8) and stat["low_light"]["num_sequences"] == 1
    oracle = report["trackers"]["oracle"]["subsets"]["all"]
    assert oracle["SR_AUC"] > 0.85 and oracle["PR20"] == 1.0
    assert list(report["trackers"]["oracle"]["subsets"]) == ["all", "normal_light", "fast_motion", "low_light"]
    np.testing.assert_allclose(read_otb(tmp_path / "boxes" / "counting" / "square2.txt"), seqs[1].boxes[[0] * 8])
    stored = json.loads((tmp_path / "results.json").read_text())
    assert stored["trackers"]["counting"]["subsets"] == stat
    assert stored["attributes"] == {s.name: list(s.attributes) for s in seqs}
    table = (tmp_path / "results.md").read_text()
    assert f"| all | 2 | counting | {100 * static_sr:.1f} | 100.0 | 12.5 |" in table
    assert report["trackers"]["oracle"]["fps"] > 0
    # jitter: the square moves 2 px per frame in a straight line; the static box never moves
    assert report["ground_truth_jitter"] == {"median_step_px": 2.0, "reversal_rate": 0.0, "num_steps": 14,
                                             "num_step_pairs": 12}
    assert stored["trackers"]["counting"]["jitter"]["median_step_px"] == 0.0
    assert stored["trackers"]["counting"]["jitter"]["reversal_rate"] is None
    assert stored["trackers"]["oracle"]["jitter"]["reversal_rate"] == 0.0
    assert stored["trackers"]["oracle"]["sequences"]["square"]["median_step_px"] == pytest.approx(2.0, abs=0.5)
    assert "| ground truth | 2.00 | 0.0 |" in table and "| counting | 0.00 | - |" in table
    static = evaluate([StaticTracker()], seqs, tmp_path / "static", plots=False, progress=False)
    assert np.isnan(static["trackers"]["static"]["fps"])  # runs no model: no speed to report
    static_table = (tmp_path / "static" / "results.md").read_text()
    assert f"| all | 2 | static | {100 * static_sr:.1f} | 100.0 | 12.5 | - |" in static_table
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
    import json

    from had_snn.cli import main
    from had_snn.data.dataset import index_entry, write_index
    from had_snn.data.io import write_sequence
    from had_snn.models import build_model
    from had_snn.models.checkpoint import model_state, save_checkpoint

    seq = moving_square_sequence(n_frames=4)
    write_sequence(tmp_path / "data" / "test" / "square.h5", seq)
    write_index(tmp_path / "data", {"test": ["square"]}, {"square": index_entry(seq, "test", "test/square.h5")},
                generator={"test": True})
    torch.manual_seed(0)
    model = build_model("teacher_events", widths=(4, 8, 8), stem_channels=4, convs_per_stage=1, head_channels=8)
    save_checkpoint(tmp_path / "ckpt" / "tiny.pt", model_state(model))
    out = tmp_path / "out"
    threads_before = torch.get_num_threads()
    rc = main(["eval", "--tracker", str(tmp_path / "ckpt" / "tiny.pt"), "--tracker", "static",
               "--data", str(tmp_path / "data"), "--out", str(out), "--no-plots"])
    assert rc == 0
    assert "| all | 1 | static |" in capsys.readouterr().out
    assert read_otb(out / "boxes" / "tiny" / "square.txt").shape == (4, 4)
    meta = out / "boxes" / "tiny" / "tracker.json"
    assert json.loads(meta.read_text())["fingerprint"].endswith("|" + BoxUpdate().key())
    assert main(["eval", "--tracker", str(tmp_path / "ckpt" / "tiny.pt"), "--data", str(tmp_path / "data"),
                 "--out", str(out), "--no-plots", "--threads", "1", "--size-lr", "0.2", "--scale-penalty", "0"]) == 0
    assert json.loads(meta.read_text())["fingerprint"].endswith("|" + BoxUpdate(size_lr=0.2, penalty_k=0).key())
    assert torch.get_num_threads() == 1
    torch.set_num_threads(threads_before)
    capsys.readouterr()
    for bad, message in ((["--threads", "0"], "--threads must be >= 1"), (["--size-lr", "2"], "size_lr")):
        assert main(["eval", "--tracker", "static", "--data", str(tmp_path / "data"), "--out", str(out), *bad]) == 1
        assert message in capsys.readouterr().err
    assert main(["eval", "--tracker", "static", "--data", str(tmp_path / "data"), "--split", "val",
                 "--out", str(out)]) == 1
    assert "no split 'val'" in capsys.readouterr().err
    assert main(["eval", "--tracker", str(tmp_path / "nope.pt"), "--data", str(tmp_path / "data"),
                 "--out", str(out)]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_initialize_then_update_per_window_is_what_track_runs() -> None:
    seq = moving_square_sequence()
    tracker = ModelTracker(OracleModel(), window_influence=0.0, box_update=BoxUpdate(**UNFILTERED))
    with pytest.raises(RuntimeError, match="initialize"):
        tracker.update(1)
    whole = tracker.track(seq)
    np.testing.assert_array_equal(tracker.initialize(seq), seq.boxes[0])
    stepped = np.array([seq.boxes[0], *(tracker.update(k) for k in range(1, seq.num_frames))])
    np.testing.assert_array_equal(stepped, whole)
    # a user-given start box replaces the first ground-truth box
    start = np.array([10.0, 18.0, 12.0, 12.0])
    np.testing.assert_array_equal(tracker.initialize(seq, start), start)
    box = tracker.update(1)  # centre found; size damped from the 12 px start towards the 8 px square
    np.testing.assert_allclose(box[:2] + box[2:] / 2, seq.boxes[1, :2] + seq.boxes[1, 2:] / 2, atol=0.5)
    assert 8.0 < box[2] < 12.0
    static = StaticTracker()
    static.initialize(seq)
    np.testing.assert_array_equal(static.update(5), seq.boxes[0])
