"""Box-update settings chosen on the validation split: every (row, seed) checkpoint of a HAD-table folder tracked on
its own draw's val split under a grid of size safeguards.

    python experiments/box_update_sweep.py --table runs/had-table-medium [--rows student teacher_events had] \
        [--size-lr 0.4 0.2] [--scale-range 0.2,5 0.5,2] [--parallel 2] [--doc docs/results_box_update_sweep.md]

For each setting (``BoxUpdate.size_lr`` x ``init_scale_range``, the other fields at their defaults) and each row,
the val-split SR (%) mean +- std over the seeds, and the mean box-size ratio (the box's side over the ground
truth's, median over frames, then over sequences): a ratio far from 1 is a box that grew or shrank away from the
target. Writes ``TABLE/box_update_sweep.md|json``. The test split is not read: a setting chosen here is then
measured once on test (``experiments/student_diagnostic.py``'s ``+size_bounds`` rows).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from had_snn.util.atomic import write_text_atomic
from had_snn.util.errors import UserError, script_main


def size_ratio(boxes: np.ndarray, truth: np.ndarray) -> float:
    """Median over the frames with a valid ground-truth box of sqrt(area / true area)."""
    ok = np.isfinite(truth).all(1) & (truth[:, 2] > 0) & (truth[:, 3] > 0)
    return float(np.median(np.sqrt(boxes[ok, 2] * boxes[ok, 3] / (truth[ok, 2] * truth[ok, 3]))))


def _track(job: tuple[str, str, float, tuple[float, float], float]) -> dict:
    """One (checkpoint, val split, setting): SR (fraction) and the mean size ratio over the split's sequences."""
    import torch

    from had_snn.data.dataset import load_split
    from had_snn.evaluation.metrics import score_sequence
    from had_snn.models.checkpoint import load_checkpoint, model_from_state
    from had_snn.tracking.tracker import BoxUpdate, ModelTracker, crop_config_for

    torch.set_num_threads(1)
    ckpt, root, size_lr, scale_range, window_influence = job
    state = load_checkpoint(ckpt)
    model = model_from_state(state, "cpu", ckpt)
    crop = state["train_config"]["data"].get("crop", {})
    tracker = ModelTracker(model, crop_config_for(model, int(crop.get("student_steps", 4)), crop), window_influence,
                           box_update=BoxUpdate(size_lr=size_lr, init_scale_range=scale_range))
    srs, ratios = [], []
    for seq in load_split(root, "val", load_frames=model.kind in ("teacher", "teacher_rgb")):
        boxes = tracker.track(seq)
        srs.append(score_sequence(boxes, seq.boxes, seq.sensor_size).auc)
        ratios.append(size_ratio(boxes, seq.boxes.astype(np.float64)))
    return {"SR": float(np.mean(srs)), "size_ratio": float(np.mean(ratios))}


def _scale_range(text: str) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected LOW,HIGH (e.g. 0.5,2), got {text!r}") from None
    if not 0 <= lo <= 1 <= hi:
        raise argparse.ArgumentTypeError(f"expected 0 <= LOW <= 1 <= HIGH, got {text!r}")
    return lo, hi


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--table", type=Path, required=True, help="a HAD-table (or student-diagnostic) run folder")
    p.add_argument("--rows", nargs="+", default=["student", "teacher_events", "had"], help="its rows to sweep")
    p.add_argument("--size-lr", type=float, nargs="+", default=[0.4, 0.2], help="BoxUpdate.size_lr values")
    p.add_argument("--scale-range", type=_scale_range, nargs="+", default=[(0.2, 5.0), (0.5, 2.0)],
                   help="BoxUpdate.init_scale_range values, each LOW,HIGH")
    p.add_argument("--window-influence", type=float, default=0.25)
    p.add_argument("--parallel", type=int, default=2, help="worker processes (default 2)")
    p.add_argument("--doc", type=Path, help="also write the page here with its command and date")
    args = p.parse_args(argv)
    started = time.perf_counter()
    runs = {}
    for row in args.rows:
        seeds = sorted(args.table.glob(f"runs/{row}/seed*/stamp.json"))
        if not seeds:
            raise UserError(f"{args.table}: no finished runs of row {row!r} (runs/{row}/seed*/stamp.json)")
        for stamp in seeds:
            out = json.loads(stamp.read_text())["outputs"]
            runs[(row, out["seed"])] = (str(stamp.parent / "last.pt"), str(args.table / out["data_root"]))
    grid = list(itertools.product(args.size_lr, args.scale_range))
    jobs = [(key, setting) for setting in grid for key in runs]
    with ProcessPoolExecutor(max(1, args.parallel)) as pool:
        done = list(pool.map(_track, [(*runs[key], lr, rng, args.window_influence) for key, (lr, rng) in jobs]))
    results: dict = {}
    for (key, (lr, rng)), value in zip(jobs, done, strict=True):
        results.setdefault(f"size_lr {lr:g}, scale {rng[0]:g}-{rng[1]:g}", {}).setdefault(key[0], []).append(value)
    head = ["setting"] + [f"{row} SR" for row in args.rows] + [f"{row} size ratio" for row in args.rows]
    lines = [f"Val-split SR (%) mean ± std over seeds (each on its own draw) and mean box-size ratio, per box-update "
             f"setting; table `{args.table}`.", "", "| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    for setting, rows in results.items():
        srs = [[100 * v["SR"] for v in rows[r]] for r in args.rows]
        sr = [f"{np.mean(v):.1f} ± {np.std(v, ddof=1) if len(v) > 1 else 0.0:.1f}" for v in srs]
        ratio = [f"{np.mean([v['size_ratio'] for v in rows[r]]):.2f}" for r in args.rows]
        lines.append(f"| {setting} | " + " | ".join(sr + ratio) + " |")
    table = "\n".join(lines) + "\n"
    write_text_atomic(args.table / "box_update_sweep.md", table)
    write_text_atomic(args.table / "box_update_sweep.json", json.dumps(
        {"rows": args.rows, "results": results, "wall_seconds": round(time.perf_counter() - started, 1)}, indent=1))
    if args.doc:
        used = " ".join(sys.argv[1:] if argv is None else argv)
        header = ("# Box-update settings on the validation split\n\nGenerated by `python "
                  f"experiments/box_update_sweep.py {used}` on {time.strftime('%Y-%m-%d')} "
                  f"({platform.machine()}, {os.cpu_count()} CPUs); "
                  f"{(time.perf_counter() - started) / 60:.1f} min.\n\n")
        write_text_atomic(args.doc, header + table)
    print(table, end="")
    return 0


if __name__ == "__main__":
    script_main(main, "experiments/box_update_sweep.py")
