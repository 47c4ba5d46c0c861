"""The accuracy-energy frontier of the spiking student on top of a demo run, from one command::

    python experiments/energy_frontier.py --demo-run runs/demo-X [--preset demo|quick] [--out DIR] [--device cpu]

Starts from the demo's benchmark, teacher (the cost reference) and QAT student; trains the points of the preset
(activity-regularised QAT fine-tunes at >= 4 strengths including 0, fewer steps per frame, a narrower first stage
pruned from the demo's student and fine-tuned), converts each, tracks the eval split in float and in fixed point
(reset and streaming) and bills energy per frame under Loihi 1 per-op figures and the 45 nm AC model
(:mod:`had_snn.demo.frontier`).

Writes ``DIR/frontier.md`` (table), ``DIR/frontier.json``, ``DIR/frontier.png`` and ``DIR/points/<name>/``
(default ``DIR`` = ``RUN/energy_frontier``; ``RUN/frontier`` is the demo's own compact step). Re-running reuses
finished points; an interrupted run resumes (training from its last checkpoint). The folder is locked while it
runs. See docs/energy_frontier.md.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from had_snn.demo.frontier import PRESETS, demo_inputs, run_frontier
from had_snn.util.errors import script_main
from had_snn.util.runlock import run_folder_lock


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--demo-run", required=True, help="a finished `had-snn demo` run folder (runs/demo-X)")
    p.add_argument("--preset", default="demo", choices=sorted(PRESETS),
                   help="demo: the reported frontier (<= 25 min on 2 cores); quick: a smoke run")
    p.add_argument("--out", default=None, help="output folder (default: DEMO_RUN/energy_frontier)")
    p.add_argument("--device", default="cpu", help="torch device for training and tracking (default cpu)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads is not None:
        if args.threads < 1:
            raise ValueError(f"--threads: expected >= 1, got {args.threads}")
        import torch

        torch.set_num_threads(args.threads)
    inputs = demo_inputs(args.demo_run)
    out = Path(args.out) if args.out else Path(args.demo_run) / "energy_frontier"
    t0 = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    with run_folder_lock(out, kind="frontier"):
        summary = run_frontier(inputs, out, args.preset, device=args.device, progress=not args.no_progress)
    print(f"{len(summary['points'])} points in {time.perf_counter() - t0:.0f} s: {out / 'frontier.md'}, "
          f"{out / 'frontier.png'}")
    return 0


if __name__ == "__main__":
    script_main(main, "experiments/energy_frontier.py")
