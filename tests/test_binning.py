"""Binning against tonic itself, plus region/out_hw, binary spikes, voxel grid and event frames; every test runs
through the compiled loops and through the numpy fallback."""

from __future__ import annotations

import numpy as np
import pytest
import tonic.transforms as tt

from had_snn.data import binning
from had_snn.data.binning import event_frame, to_frames, voxel_grid
from had_snn.data.events import crop_events, make_events


@pytest.fixture(autouse=True, params=["compiled", "numpy"])
def path(request, monkeypatch) -> str:
    if request.param == "numpy":
        monkeypatch.setattr(binning, "_kernel", lambda: None)
    else:
        assert binning._kernel() is not None, "numba is part of the train extra: the compiled loops must load"
    return request.param


def _events(rng: np.random.Generator, n: int, size: tuple[int, int], t_max_us: int, t_min_us: int = 0) -> np.ndarray:
    t = np.sort(rng.integers(t_min_us, t_max_us, n))
    return make_events(rng.integers(0, size[0], n), rng.integers(0, size[1], n), t, rng.integers(0, 2, n))


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("n_bins", [1, 3, 7, 10])
def test_to_frames_equals_tonic(seed: int, n_bins: int) -> None:
    rng = np.random.default_rng(seed)
    size = (int(rng.integers(1, 40)), int(rng.integers(1, 30)))
    # durations not divisible by n_bins, shorter than n_bins (tonic: zero-width bins), repeated timestamps
    t_min = [0, 0, 7, 1_000_000, 3, 0][seed]
    ev = _events(rng, int(rng.integers(1, 3000)), size, t_min + [100_003, 5, 997, 50, 20_000, 3][seed], t_min)
    ref = tt.ToFrame(sensor_size=(*size, 2), n_time_bins=n_bins)(ev.copy())
    ours = to_frames(ev, size, n_bins)
    assert ours.shape == ref.shape == (n_bins, 2, size[1], size[0])
    assert ours.dtype == np.float32
    np.testing.assert_array_equal(ours, ref)


def test_to_frames_single_event_and_polarity_channels() -> None:
    ev = make_events([3, 1], [2, 0], [0, 100], [1, 0])
    ref = tt.ToFrame(sensor_size=(4, 3, 2), n_time_bins=2)(ev.copy())
    np.testing.assert_array_equal(to_frames(ev, (4, 3), 2), ref)
    out = to_frames(ev, (4, 3), 2, t0_us=0, t1_us=101)  # explicit window includes the last event
    assert out[0, 1, 2, 3] == 1 and out[1, 0, 0, 1] == 1 and out.sum() == 2  # ON -> channel 1, OFF -> channel 0


def test_to_frames_explicit_window_bins() -> None:
    ev = make_events([0] * 8, [0] * 8, [-5, 0, 33, 34, 66, 67, 99, 100], [1] * 8)
    out = to_frames(ev, (1, 1), 3, t0_us=0, t1_us=100)  # D=100, T=3: bin = floor(3 t / 100)
    assert out[:, 1, 0, 0].tolist() == [2, 2, 2]  # 0,33 | 34,66 | 67,99; -5 and 100 outside [0, 100)
    assert to_frames(ev, (1, 1), 3, t0_us=50, t1_us=50).sum() == 0
    assert to_frames(ev[:0], (1, 1), 3).shape == (3, 2, 1, 1)


def test_to_frames_binary_and_out_of_sensor_error() -> None:
    ev = make_events([1, 1, 1, 0], [0, 0, 0, 0], [0, 1, 2, 3], [1, 1, 1, 0])
    out = to_frames(ev, (2, 1), 1, t0_us=0, t1_us=4, binary=True)
    assert out[0, 1, 0, 1] == 1 and out[0, 0, 0, 0] == 1 and out.sum() == 2
    with pytest.raises(ValueError, match="outside the sensor"):
        to_frames(ev, (1, 1), 1, t0_us=0, t1_us=4)
    with pytest.raises(ValueError, match="time bins"):
        to_frames(ev, (2, 1), 0)


def test_region_without_resize_equals_crop(rng) -> None:
    size = (40, 30)
    ev = _events(rng, 5000, size, 10_000)
    region = (7, 5, 16, 12)
    ours = to_frames(ev, size, 4, t0_us=0, t1_us=10_000, region=region)
    ref = to_frames(crop_events(ev, *region), (16, 12), 4, t0_us=0, t1_us=10_000)
    assert ours.shape == (4, 2, 12, 16)
    np.testing.assert_array_equal(ours, ref)


def test_region_outside_sensor_is_zero_padding(rng) -> None:
    size = (20, 20)
    ev = _events(rng, 3000, size, 1000)
    out = to_frames(ev, size, 1, t0_us=0, t1_us=1000, region=(-10, -10, 20, 20))
    assert out[..., :10, :].sum() == 0 and out[..., :, :10].sum() == 0  # rows/cols that lie off the sensor
    full = to_frames(ev, size, 1, t0_us=0, t1_us=1000)
    np.testing.assert_array_equal(out[..., 10:, 10:], full[..., :10, :10])


def test_region_resize_sums_counts_into_cells(rng) -> None:
    size = (32, 32)
    ev = _events(rng, 4000, size, 1000)
    full = to_frames(ev, size, 2, t0_us=0, t1_us=1000)
    down = to_frames(ev, size, 2, t0_us=0, t1_us=1000, region=(8, 8, 16, 16), out_hw=(4, 4))
    expect = full[..., 8:24, 8:24].reshape(2, 2, 4, 4, 4, 4).sum(axis=(3, 5))  # 4x4 blocks -> one cell
    np.testing.assert_array_equal(down, expect)
    up = to_frames(ev, size, 1, t0_us=0, t1_us=1000, region=(0, 0, 4, 4), out_hw=(8, 8))
    # upscaling: pixel (x, y) lands in cell (2y+1, 2x+1) by its centre; total count is conserved
    assert up.sum() == full[:, :, :4, :4].sum() and up[0, :, 1::2, 1::2].sum() == up.sum()
    nonsq = to_frames(ev, size, 1, t0_us=0, t1_us=1000, out_hw=(16, 8))  # whole sensor, anisotropic
    assert nonsq.shape == (1, 2, 16, 8) and nonsq.sum() == full.sum()


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("n_bins", [1, 2, 5, 9])
def test_voxel_grid_equals_tonic(seed: int, n_bins: int) -> None:
    rng = np.random.default_rng(100 + seed)
    size = (int(rng.integers(2, 30)), int(rng.integers(2, 20)))
    ev = _events(rng, int(rng.integers(2, 2000)), size, [1000, 77, 123_457, 10][seed])
    if ev["t"][-1] == ev["t"][0]:
        ev["t"][-1] += 1
    ref = tt.ToVoxelGrid(sensor_size=(*size, 2), n_time_bins=n_bins)(ev.copy())
    ours = voxel_grid(ev, size, n_bins)
    assert ours.shape == (n_bins, size[1], size[0]) and ours.dtype == np.float32
    np.testing.assert_allclose(ours, ref[:, 0], atol=1e-5)


def test_voxel_grid_hand_values() -> None:
    ev = make_events([0, 1, 0], [0, 0, 0], [0, 25, 100], [1, 0, 1])
    out = voxel_grid(ev, (2, 1), 2, t0_us=0, t1_us=100)  # s = 0 and 0.5; t=100 is outside [0, 100)
    np.testing.assert_allclose(out[:, 0, 0], [1.0, 0.0])
    np.testing.assert_allclose(out[:, 0, 1], [-0.5, -0.5])
    crop = voxel_grid(ev, (2, 1), 2, t0_us=0, t1_us=100, region=(1, 0, 1, 1))
    np.testing.assert_allclose(crop[:, 0, 0], [-0.5, -0.5])


def test_event_frame_counts_and_signed() -> None:
    ev = make_events([0, 0, 1, 1, 1], [0, 0, 0, 0, 0], [0, 1, 2, 3, 4], [1, 1, 0, 1, 0])
    counts = event_frame(ev, (2, 1))
    assert counts.shape == (2, 1, 2) and counts[1, 0].tolist() == [2, 1] and counts[0, 0].tolist() == [0, 2]
    signed = event_frame(ev, (2, 1), signed=True)
    assert signed.tolist() == [[2.0, -1.0]]
    assert event_frame(ev, (2, 1), t0_us=2, t1_us=4).sum() == 2


def test_to_frames_many_chunks_equals_tonic() -> None:
    rng = np.random.default_rng(7)
    size = (64, 48)
    ev = _events(rng, 200_003, size, 1_000_000)  # several index chunks per time bin
    ref = tt.ToFrame(sensor_size=(*size, 2), n_time_bins=3)(ev.copy())
    np.testing.assert_array_equal(to_frames(ev, size, 3), ref)
    region = to_frames(ev, size, 3, region=(-3.5, 10.25, 40, 30), out_hw=(15, 20))
    assert region.shape == (3, 2, 15, 20)
    inside = (ev["x"] + 0.5 >= -3.5) & (ev["x"] + 0.5 < 36.5) & (ev["y"] + 0.5 >= 10.25) & (ev["y"] + 0.5 < 40.25)
    t_end = ev["t"][0] + 3 * ((ev["t"][-1] - ev["t"][0]) // 3)
    assert region.sum() == int((inside & (ev["t"] < t_end)).sum())
