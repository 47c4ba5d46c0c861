"""Crop geometry round trips, frame/event crop alignment, heat-map targets and one full sample."""

from __future__ import annotations

import numpy as np
import pytest

from had_snn.data.events import make_events
from had_snn.data.sequence import Sequence
from had_snn.tracking.config import CropConfig
from had_snn.tracking.crop import (
    bin_crop_window,
    box_to_crop,
    box_to_target,
    crop_frame,
    crop_region,
    crop_to_box,
    event_window_us,
    gaussian_radius,
    make_sample,
    search_region,
    target_heatmap,
    target_to_box,
)


def test_crop_region_hand_case() -> None:
    assert crop_region([10, 20, 30, 30], 2.0) == pytest.approx((-5.0, 5.0, 60.0, 60.0))
    # 8 x 2 box: sqrt area 4, context 4 -> 16 px square centred on (14, 21)
    assert crop_region([10, 20, 8, 2], 4.0) == pytest.approx((6.0, 13.0, 16.0, 16.0))
    with pytest.raises(ValueError, match="non-finite"):
        crop_region([np.nan, 0, 1, 1], 2.0)


def test_box_transforms_round_trip(rng) -> None:
    boxes = np.column_stack([rng.uniform(-50, 300, (50, 2)), rng.uniform(1, 80, (50, 2))])
    for box in boxes:
        region = crop_region(box + rng.normal(0, 5, 4) * [1, 1, 0, 0], 4.0)
        np.testing.assert_allclose(crop_to_box(box_to_crop(box, region, 128), region, 128), box, atol=1e-9)
        np.testing.assert_allclose(target_to_box(box_to_target(box, region, 128), region, 128), box, atol=1e-9)
    # batched form gives the same as one by one
    region = crop_region(boxes[0], 4.0)
    np.testing.assert_allclose(box_to_crop(boxes, region, 128)[3], box_to_crop(boxes[3], region, 128))


def test_centred_box_target() -> None:
    box = np.array([40.0, 30.0, 20.0, 20.0])
    np.testing.assert_allclose(box_to_target(box, crop_region(box, 4.0), 128), [0.5, 0.5, 0.25, 0.25])
    np.testing.assert_allclose(box_to_crop(box, crop_region(box, 2.0), 64), [16, 16, 32, 32])


def test_crop_frame_identity_subwindow_and_padding(rng) -> None:
    img = rng.integers(0, 256, (12, 10, 3), dtype=np.uint8)
    # a pixel-aligned region at scale 1 is an exact slice
    np.testing.assert_allclose(crop_frame(img, (2, 3, 4, 4), 4), img[3:7, 2:6].transpose(2, 0, 1) / 255, atol=1e-6)
    # half outside on the left/top: zeros there, the image elsewhere
    out = crop_frame(img, (-3, -2, 6, 6), 6)
    assert np.all(out[:, :2, :] == 0) and np.all(out[:, :, :3] == 0)
    np.testing.assert_allclose(out[:, 2:, 3:], img[:4, :3].transpose(2, 0, 1) / 255, atol=1e-6)
    # 2x downscale of a constant image stays constant inside
    const = np.full((20, 20, 3), 200, np.uint8)
    np.testing.assert_allclose(crop_frame(const, (0, 0, 20, 20), 10)[:, 1:-1, 1:-1], 200 / 255, atol=1e-6)
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        crop_frame(img[..., 0], (0, 0, 4, 4), 4)


def test_event_and_frame_crops_are_aligned() -> None:
    sensor = (40, 30)
    region = crop_region([10, 5, 12, 12], 2.0)  # (4, -1, 24, 24)
    img = np.zeros((30, 40, 3), np.uint8)
    img[13, 21] = 255
    ev = make_events([21, 21, 3], [13, 13, 3], [100, 700, 800], [1, 0, 1])  # last event outside the region
    spikes, voxel = bin_crop_window(ev, sensor, region, 48, (0, 1000), steps=4, voxel_bins=2)
    frame = crop_frame(img, region, 48)[0]
    assert spikes.shape == (4, 2, 48, 48) and voxel.shape == (2, 48, 48)
    # pixel (21, 13) covers crop px [34, 36) x [28, 30): the event lands in row 29, col 35 (its centre)
    assert np.unravel_index(frame.argmax(), frame.shape) == (28, 34)
    assert spikes.sum() == 2 and spikes[0, 1, 29, 35] == 1 and spikes[2, 0, 29, 35] == 1
    assert frame[29, 35] > 0.5
    # voxel: ON at t=100 -> s=0.2 (0.8 to bin 0, 0.2 to bin 1); OFF at t=700 -> s=1.4 (-0.6 to bin 1, rest dropped)
    np.testing.assert_allclose(voxel[:, 29, 35], [0.8, 0.2 - 0.6], atol=1e-6)
    assert np.count_nonzero(voxel) == 2


def test_gaussian_heatmap_peak_and_radius() -> None:
    hm = target_heatmap(np.array([0.53, 0.28, 0.25, 0.25]), 16)
    assert hm.shape == (1, 16, 16) and hm.max() == 1.0
    assert np.unravel_index(hm[0].argmax(), (16, 16)) == (4, 8)  # row floor(0.28*16)=4, col floor(0.53*16)=8
    np.testing.assert_allclose(hm[0, 4, 7], hm[0, 4, 9])
    r = gaussian_radius(4, 4)  # CenterNet radius for a 4 x 4 cell box at min IoU 0.7
    assert 0.8 < r < 1.2
    sigma = (2 * int(r) + 1) / 6
    assert hm[0, 4, 9] == pytest.approx(np.exp(-1 / (2 * sigma**2)), rel=1e-5)


def tiny_sequence(n_frames: int = 4, with_frames: bool = True) -> Sequence:
    rng = np.random.default_rng(3)
    t_us = np.arange(n_frames) * 10_000 + 10_000
    n_ev = 4000
    ev = make_events(rng.integers(0, 64, n_ev), rng.integers(0, 48, n_ev), np.sort(rng.integers(0, t_us[-1], n_ev)),
                     rng.integers(0, 2, n_ev))
    frames = rng.integers(0, 256, (n_frames, 48, 64, 3), dtype=np.uint8) if with_frames else None
    boxes = np.tile([20.0, 15.0, 12.0, 10.0], (n_frames, 1))
    return Sequence("tiny", ev, (64, 48), t_us, boxes, frames=frames)


def test_make_sample_shapes_and_targets() -> None:
    cfg = CropConfig()
    seq = tiny_sequence()
    assert event_window_us(seq, 2, cfg) == (20_000, 30_000)
    s = make_sample(seq, 0, seq.boxes[0], 2, seq.boxes[2] + [3, -2, 0, 0], cfg, target_box=seq.boxes[2])
    shapes = {k: v.shape for k, v in s.items()}
    assert shapes == {
        "template_rgb": (3, 64, 64), "template_spikes": (8, 2, 64, 64), "template_voxel": (5, 64, 64),
        "search_rgb": (3, 128, 128), "search_spikes": (8, 2, 128, 128), "search_voxel": (5, 128, 128),
        "search_region": (4,), "target_box": (4,), "target_heatmap": (1, 16, 16),
    }
    assert all(v.dtype == np.float32 for v in s.values())
    assert set(np.unique(s["search_spikes"])) <= {0.0, 1.0} and s["search_spikes"].sum() > 0
    side = 4 * np.sqrt(120)
    np.testing.assert_allclose(s["target_box"], [0.5 - 3 / side, 0.5 + 2 / side, 12 / side, 10 / side], rtol=1e-5)
    event_only = make_sample(tiny_sequence(with_frames=False), 0, seq.boxes[0], 1, seq.boxes[1], cfg)
    assert not event_only["search_rgb"].any() and "target_box" not in event_only


def test_pair_dataset_is_seeded_and_targets_match_ground_truth() -> None:
    from had_snn.tracking.crop import target_to_box
    from had_snn.train.sampler import PairDataset, collate_pairs

    seqs = [tiny_sequence(n_frames=6), tiny_sequence(n_frames=3)]
    seqs[1].boxes[1:] = np.nan  # only one annotated frame: unusable for pairs
    ds = PairDataset(seqs, samples_per_epoch=5, max_gap=2, seed=7)
    assert len(ds.sequences) == 1 and len(ds) == 5
    a, b = ds[3], ds[3]
    assert all(torch_equal(a[k], b[k]) for k in a)
    for idx in range(5):
        seq, i, j, search_box = ds.draw(idx)
        assert i != j and abs(i - j) <= 2
        item = ds[idx]
        region = tuple(item["search_region"].tolist())
        np.testing.assert_allclose(target_to_box(item["target_box"].numpy(), region, 128), seq.boxes[j], atol=1e-3)
        assert (0 < item["target_box"][:2]).all() and (item["target_box"][:2] < 1).all()
        cell = np.unravel_index(int(item["target_heatmap"][0].argmax()), (16, 16))
        assert cell == tuple(int(v) for v in np.floor(item["target_box"][[1, 0]].numpy() * 16))
    ds.set_epoch(1)
    assert not all(torch_equal(a[k], ds[3][k]) for k in a)
    batch = collate_pairs([ds[0], ds[1], ds[2]])
    assert batch["search_spikes"].shape == (8, 3, 2, 128, 128) and batch["template_spikes"].shape == (8, 3, 2, 64, 64)
    assert batch["search_rgb"].shape == (3, 3, 128, 128) and batch["target_heatmap"].shape == (3, 1, 16, 16)
    with pytest.raises(ValueError, match="no sequence has 2 or more annotated frames"):
        PairDataset([seqs[1]])


def test_jitter_statistics() -> None:
    from had_snn.train.sampler import jitter_box

    rng = np.random.default_rng(0)
    box = np.array([50.0, 40.0, 20.0, 10.0])
    out = np.array([jitter_box(box, rng, 3.0, 0.25) for _ in range(4000)])
    log_scale = np.log(out[:, 2] / 20.0)
    assert abs(log_scale.mean()) < 0.02 and abs(log_scale.std() - 0.25) < 0.02
    shift = (out[:, :2] + out[:, 2:] / 2 - [60.0, 45.0]) / np.sqrt(out[:, 2] * out[:, 3])[:, None]
    assert np.abs(shift).max() <= 1.5 + 1e-9 and np.abs(shift).max() > 1.4  # U(-0.5, 0.5) * 3 * sqrt(w' h')


def torch_equal(x, y) -> bool:
    return bool((x == y).all())


@pytest.mark.parametrize(("search_px", "stride"), [(64, 8), (128, 8), (136, 8)], ids=["8x8", "16x16", "17x17"])
def test_search_region_puts_the_box_centre_on_a_cell_centre(search_px: int, stride: int) -> None:
    cfg = CropConfig(search_px=search_px, heatmap_stride=stride)
    box = np.array([30.0, 40.0, 8.0, 12.0])
    region = search_region(box, cfg)
    assert region[2:] == crop_region(box, cfg.search_context)[2:]  # same size, only moved
    cx, cy = box_to_target(box, region, cfg.search_px)[:2] * cfg.heatmap_px  # in cells
    assert cx == pytest.approx(cfg.heatmap_px // 2 + 0.5) and cy == pytest.approx(cfg.heatmap_px // 2 + 0.5)
    if cfg.heatmap_px % 2:  # an odd map's middle cell is centred already
        assert region == pytest.approx(crop_region(box, cfg.search_context))


@pytest.mark.parametrize("size", [8, 16, 17])
def test_hann_window_peaks_on_the_cell_of_the_previous_estimate(size: int) -> None:
    import torch

    from had_snn.tracking.decode import hann_window

    w = hann_window(size)
    assert int(w.argmax()) == (size // 2) * size + size // 2 and float(w.max()) == pytest.approx(1.0)
    assert float(w.min()) > 0  # no zero border
    if size % 2:  # odd: OSTrack's hann2d(centered=True)
        k = torch.arange(1, size + 1, dtype=torch.float32)
        ost = 0.5 * (1 - torch.cos(2 * torch.pi * k / (size + 1)))
        torch.testing.assert_close(w, ost[:, None] * ost[None, :])
