"""The compiled binning loops against the numpy fallback, on the same events."""

from __future__ import annotations

import numpy as np
import pytest

from had_snn.data import binning
from had_snn.data.binning import to_frames, voxel_grid
from had_snn.data.events import make_events


def test_compiled_equals_numpy_with_regions_and_split_windows(monkeypatch, rng) -> None:
    """The compiled loops give the numpy path's frames exactly and its voxels to float32 rounding, for the whole
    sensor, a region, a resampled region partly outside the sensor and a window split over two threads."""
    assert binning._kernel() is not None, "numba is part of the train extra: the compiled loops must load"
    n = 40_000
    ev = make_events(rng.integers(0, 64, n), rng.integers(0, 48, n), np.sort(rng.integers(0, 10**6, n)),
                     rng.integers(0, 2, n))
    monkeypatch.setattr(binning, "VOXEL_SPLIT_EVENTS", 10_000)
    for region, out_hw in ((None, None), ((5, 7, 20, 16), None), ((-6.5, 30.25, 33.0, 25.0), (8, 8))):
        compiled_f = to_frames(ev, (64, 48), 5, region=region, out_hw=out_hw)
        compiled_v = voxel_grid(ev, (64, 48), 5, region=region, out_hw=out_hw)
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(binning, "_kernel", lambda: None)
            numpy_f = to_frames(ev, (64, 48), 5, region=region, out_hw=out_hw)
            numpy_v = voxel_grid(ev, (64, 48), 5, region=region, out_hw=out_hw)
        np.testing.assert_array_equal(compiled_f, numpy_f)
        np.testing.assert_allclose(compiled_v, numpy_v, rtol=1e-6, atol=1e-5)
        assert compiled_f.sum() > 1000
