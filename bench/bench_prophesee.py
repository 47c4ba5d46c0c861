"""Prophesee EVT 3.0 decoding speed: our numpy decoder (:func:`had_snn.data.prophesee.iter_prophesee`) vs
expelliarmus' C decoder, on the real Gen4.1 sample (``shared/samples/prophesee-evt3/evt3_sample.raw``) with its data
section repeated ``--repeat`` times (a larger file; times are not meaningful across the seams, only speed is).

Checks that x, y, p agree (expelliarmus' t is known to differ: see :mod:`had_snn.data.prophesee`), then prints
events/s and MB/s for each.

    .venv/bin/python bench/bench_prophesee.py [--repeat 50] [--chunk N]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from had_snn.data.prophesee import DEFAULT_CHUNK_EVENTS, iter_prophesee, read_header

SAMPLE = Path(__file__).resolve().parents[2] / "shared" / "samples" / "prophesee-evt3" / "evt3_sample.raw"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", type=Path, default=SAMPLE)
    parser.add_argument("--repeat", type=int, default=50, help="copies of the sample's data section")
    parser.add_argument("--chunk", type=int, default=None,
                        help="words per block for ours (default EVT3_BLOCK_WORDS), events per chunk for expelliarmus "
                             "(default DEFAULT_CHUNK_EVENTS)")
    args = parser.parse_args()
    if not args.sample.is_file():
        print(f"skipped: the EVT 3.0 sample is not at {args.sample} (give it with --sample)")
        return 0
    from expelliarmus import Wizard

    header = read_header(args.sample)
    raw = args.sample.read_bytes()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.raw"
        path.write_bytes(raw[: header.data_offset] + raw[header.data_offset:] * args.repeat)
        mb = path.stat().st_size / 1e6

        start = time.perf_counter()
        ours = np.concatenate(list(iter_prophesee(path, chunk_events=args.chunk)))
        t_ours = time.perf_counter() - start

        start = time.perf_counter()
        wizard = Wizard(encoding="evt3", fpath=path, chunk_size=args.chunk or DEFAULT_CHUNK_EVENTS)
        theirs = np.concatenate(list(wizard.read_chunk()))
        t_theirs = time.perf_counter() - start

    assert len(ours) == len(theirs), (len(ours), len(theirs))
    for n in ("x", "y", "p"):
        assert np.array_equal(ours[n], theirs[n]), n
    print(f"{len(ours):,} events, {mb:.1f} MB")
    for name, dt in (("numpy (had_snn)", t_ours), ("expelliarmus", t_theirs)):
        print(f"{name:>16}: {dt:7.3f} s  {len(ours) / dt / 1e6:7.1f} Mev/s  {mb / dt:7.1f} MB/s")
    print(f"ratio numpy / expelliarmus time: {t_ours / t_theirs:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
