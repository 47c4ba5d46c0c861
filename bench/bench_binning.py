"""Binning benchmark: tonic ``ToFrame(n_time_bins)`` vs :func:`had_snn.data.binning.to_frames` on the same events.

Both run in this process on the same 5 M synthetic events (346 x 260 DAVIS sensor, 10 time bins); the outputs are
checked equal before timing is reported. Prints events/s for each and the speed-up ratio, then the same for tonic
``ToVoxelGrid`` vs :func:`had_snn.data.binning.voxel_grid` (outputs checked to 1e-4). Ours runs its compiled loops
(numba); ``--numpy`` times the numpy fallback instead.

    .venv/bin/python bench/bench_binning.py [--events 5000000] [--bins 10] [--repeats 3]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import tonic.transforms as tt
from result_line import emit

from had_snn.data import binning
from had_snn.data.binning import to_frames, voxel_grid
from had_snn.data.events import make_events


def synthetic_events(n: int, sensor_size: tuple[int, int], duration_us: int, seed: int = 0) -> np.ndarray:
    """Uniform random events, sorted by time."""
    rng = np.random.default_rng(seed)
    t = np.sort(rng.integers(0, duration_us, n))
    return make_events(rng.integers(0, sensor_size[0], n), rng.integers(0, sensor_size[1], n), t, rng.integers(0, 2, n))


def best_time_s(fn, repeats: int) -> tuple[float, np.ndarray]:
    """Best wall time over ``repeats`` calls after one untimed call (numba's compile or cache load), and the last
    result."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5_000_000)
    parser.add_argument("--bins", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3, help="timed calls per implementation (best is kept)")
    parser.add_argument("--numpy", action="store_true", help="time the numpy fallback (as without numba)")
    args = parser.parse_args()
    if args.numpy:
        binning._kernel = lambda: None
    label = " (numpy fallback)" if args.numpy else ""
    size = (346, 260)
    ev = synthetic_events(args.events, size, duration_us=1_000_000)
    tonic_frame = tt.ToFrame(sensor_size=(*size, 2), n_time_bins=args.bins)
    ev_tonic = ev.copy()  # tonic's to_frame_numpy may edit its input in place; copy outside the timing
    t_tonic, ref = best_time_s(lambda: tonic_frame(ev_tonic), args.repeats)
    t_ours, ours = best_time_s(lambda: to_frames(ev, size, args.bins), args.repeats)
    if not np.array_equal(ours, ref):
        raise SystemExit("outputs differ: to_frames != tonic ToFrame")
    print(f"{args.events} events, sensor {size[0]}x{size[1]}, {args.bins} time bins (outputs equal)")
    report("ToFrame", args.events, t_tonic, t_ours)
    emit(f"event frames, {args.events / 1e6:g} M events{label}", "tonic ToFrame", t_tonic, t_ours, "call",
         "outputs equal", goal=20.0)

    tonic_voxel = tt.ToVoxelGrid(sensor_size=(*size, 2), n_time_bins=args.bins)  # copies its input itself
    t_tonic, ref = best_time_s(lambda: tonic_voxel(ev), args.repeats)
    t_ours, ours = best_time_s(lambda: voxel_grid(ev, size, args.bins), args.repeats)
    if not np.allclose(ours, ref[:, 0], atol=1e-4):
        raise SystemExit("outputs differ: voxel_grid != tonic ToVoxelGrid")
    report("ToVoxelGrid", args.events, t_tonic, t_ours)
    emit(f"voxel grid, {args.events / 1e6:g} M events{label}", "tonic ToVoxelGrid", t_tonic, t_ours, "call",
         "outputs equal to 1e-4", goal=20.0)
    return 0


def report(what: str, n_events: int, t_tonic_s: float, t_ours_s: float) -> None:
    """Print events/s of both implementations and the ratio."""
    print(f"{'tonic ' + what:<22}: {t_tonic_s * 1e3:8.1f} ms  {n_events / t_tonic_s / 1e6:8.1f} M events/s")
    print(f"{'had_snn ' + what:<22}: {t_ours_s * 1e3:8.1f} ms  {n_events / t_ours_s / 1e6:8.1f} M events/s")
    print(f"{'speed-up ' + what:<22}: {t_tonic_s / t_ours_s:8.1f}x")


if __name__ == "__main__":
    raise SystemExit(main())
