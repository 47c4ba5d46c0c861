"""Prophesee decoding speed, ours vs expelliarmus' C decoders in the same run, on the same files, outputs compared.

* EVT 3.0: the real Gen4.1 sample (``shared/samples/prophesee-evt3/evt3_sample.raw``) with its data section repeated
  ``--repeat`` times. Ours: the compiled decoder (numba) and the numpy fallback. x, y, p must be equal (expelliarmus
  mis-times EVT 3.0, see :mod:`had_snn.data.prophesee`, so t is not compared).
* EVT 2.0 and DAT: the sample's events, times made strictly increasing across the repeats, written by
  expelliarmus' own ``Wizard.save``; x, y, t, p must be equal.

Both sides decode a whole file into one array: ours :func:`had_snn.data.prophesee.read_prophesee`, theirs
``Wizard.read``. Prints the best of ``--runs`` wall times of each, events/s and the speed-up (expelliarmus time /
ours).

    .venv/bin/python bench/bench_prophesee.py [--repeat 50] [--runs 3]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from result_line import emit

from had_snn.data import prophesee
from had_snn.data.prophesee import read_header, read_prophesee

SAMPLE = Path(__file__).resolve().parents[2] / "shared" / "samples" / "prophesee-evt3" / "evt3_sample.raw"


def _best(fn, runs: int) -> tuple[float, np.ndarray]:
    best, out = float("inf"), None
    for _ in range(runs):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def _ours(path: Path) -> np.ndarray:
    return read_prophesee(path)[0]


def _numpy_evt3(path: Path) -> np.ndarray:
    kernel = prophesee._kernel
    prophesee._kernel = lambda: None
    try:
        return _ours(path)
    finally:
        prophesee._kernel = kernel


def _theirs(path: Path, encoding: str) -> np.ndarray:
    from expelliarmus import Wizard

    return Wizard(encoding=encoding).read(path)


def _row(what: str, n: int, mb: float, t_ours: float, t_theirs: float, checked: str, goal: float | None) -> None:
    print(f"{what:<24} ours {t_ours:7.3f} s ({n / t_ours / 1e6:6.1f} Mev/s, {mb / t_ours:6.1f} MB/s)  "
          f"expelliarmus {t_theirs:7.3f} s ({n / t_theirs / 1e6:6.1f} Mev/s)  speed-up {t_theirs / t_ours:5.2f}x")
    emit(f"{what} decode, {n / 1e6:.1f} M events", "expelliarmus", t_theirs, t_ours, "file", checked, goal)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", type=Path, default=SAMPLE)
    parser.add_argument("--repeat", type=int, default=50, help="copies of the sample's data section")
    parser.add_argument("--runs", type=int, default=3, help="timed runs of each decoder (best is kept)")
    args = parser.parse_args()
    if not args.sample.is_file():
        print(f"skipped: the EVT 3.0 sample is not at {args.sample} (give it with --sample)")
        return 0
    from expelliarmus import Wizard

    if prophesee._kernel() is None:
        raise SystemExit("numba is not installed: the compiled decoders cannot run (pip install had-snn[train])")
    prophesee._kernel().warm_up()
    header = read_header(args.sample)
    raw = args.sample.read_bytes()
    with tempfile.TemporaryDirectory() as tmp:
        evt3 = Path(tmp) / "big.raw"
        evt3.write_bytes(raw[: header.data_offset] + raw[header.data_offset:] * args.repeat)
        t_ours, ours = _best(lambda: _ours(evt3), args.runs)
        t_np, ours_np = _best(lambda: _numpy_evt3(evt3), args.runs)
        t_theirs, theirs = _best(lambda: _theirs(evt3, "evt3"), args.runs)
        assert len(ours) == len(theirs) == len(ours_np), (len(ours), len(theirs), len(ours_np))
        assert np.array_equal(ours, ours_np), "compiled and numpy EVT 3.0 decoders differ"
        for n in ("x", "y", "p"):
            assert np.array_equal(ours[n], theirs[n]), n
        n_ev, mb = len(ours), evt3.stat().st_size / 1e6
        print(f"EVT 3.0: {n_ev:,} events, {mb:.1f} MB (x, y, p equal; compiled == numpy event by event)")
        _row("EVT 3.0 compiled", n_ev, mb, t_ours, t_theirs, "x, y, p equal", 1.5)
        _row("EVT 3.0 numpy fallback", n_ev, mb, t_np, t_theirs, "equal to compiled", None)

        span = int(ours["t"][-1] - ours["t"][0]) + 1
        arr = np.empty(len(ours), dtype=[("t", "<i8"), ("x", "<i2"), ("y", "<i2"), ("p", "u1")])
        copy = np.repeat(np.arange(args.repeat), len(ours) // args.repeat)
        arr["t"] = ours["t"] - ours["t"][0] + copy * span  # each copy after the one before
        for n in ("x", "y", "p"):
            arr[n] = ours[n]
        for encoding, suffix, geometry in (("evt2", ".raw", b"% geometry 1280x720\n"),
                                           ("dat", ".dat", b"% Width 1280\n% Height 720\n")):
            written = Path(tmp) / f"w{suffix}"
            Wizard(encoding=encoding).save(written, arr)
            path = Path(tmp) / f"big{suffix}"
            path.write_bytes(geometry + written.read_bytes())
            t_ours, got = _best(lambda p=path: _ours(p), args.runs)
            t_theirs, ref = _best(lambda p=path, e=encoding: _theirs(p, e), args.runs)
            assert len(got) == len(ref) == len(arr), (len(got), len(ref), len(arr))
            for n in ("x", "y", "t", "p"):
                assert np.array_equal(got[n], ref[n]), (encoding, n)
            mb = path.stat().st_size / 1e6
            print(f"{prophesee._ENCODING_NAMES[encoding]}: {len(got):,} events, {mb:.1f} MB (x, y, t, p equal)")
            _row(f"{prophesee._ENCODING_NAMES[encoding]} compiled", len(got), mb, t_ours, t_theirs, "x, y, t, p equal",
                 1.0)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
