"""Does training on streams close the fixed-point student's stream-mode gap? Fine-tune on clips vs on pairs, 3 seeds.

    python experiments/stream_training.py --demo-run runs/demo-X [--clip-frames 4] [--epochs 4] [--seeds 0 1 2] \
        [--split test] [--out runs/demo-X/stream_training] [--doc docs/results_stream_training.md]

From a finished demo run's QAT student (``student_had_qat/last.pt``, its training config without the distillation
section), per seed two fine-tunings through ``had-snn train student --init ... --epochs E`` with the tracking loss
alone: on pairs from the zero state (``pairs``, the control: as much extra training, reset mode's kind) and on clips
of ``--clip-frames`` consecutive frames run as one stream (``clips``, :mod:`had_snn.train.clips`). The seed draws
the fine-tuning's samples (every run starts from the same checkpoint). Each result is tracked in Loihi fixed point
(the emulator) on the split in reset mode and in stream mode, each with its own crop lag
(``experiments/stream_diagnostic.py``'s rows), and so is the QAT student itself.

Writes ``OUT/stream_training.md|json``: SR mean +- std over seeds per variant and mode, and the paired differences
stream - reset, clips - pairs (stream) and clips - pairs (reset) with 95 % two-level bootstrap intervals (seeds,
then sequences). Finished fine-tunings and evaluations are kept under ``OUT/`` and reused on a rerun.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stream_diagnostic import fixed_point_setup, track_variant  # noqa: E402

from had_snn.util.atomic import write_json_atomic, write_text_atomic  # noqa: E402
from had_snn.util.errors import script_main  # noqa: E402

VARIANTS = ("pairs", "clips")


def _config(demo_run: Path, out: Path, seed: int) -> Path:
    """The QAT student's training config without distillation, with ``seed``: ``OUT/configs/seed<seed>.yaml``."""
    src = demo_run / "student_had_qat" / "config.yaml"
    if not src.is_file():
        raise FileNotFoundError(f"{src} is missing: --demo-run must be a finished `had-snn demo` run folder")
    cfg = yaml.safe_load(src.read_text())
    cfg.pop("distill", None)
    cfg.pop("init_from", None)
    cfg["seed"] = int(seed)
    cfg.setdefault("data", {})["dir"] = str((demo_run / "data").resolve())
    path = out / "configs" / f"seed{seed}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, yaml.safe_dump(cfg, sort_keys=False))
    return path


def _fine_tune(args: argparse.Namespace, variant: str, seed: int) -> Path:
    """The fine-tuned checkpoint of ``variant`` and ``seed`` (trained unless its run has all its epochs)."""
    from had_snn.cli import main

    run = args.out / f"{variant}-seed{seed}"
    metrics = run / "metrics.json"
    if metrics.is_file() and len(json.loads(metrics.read_text())) >= args.epochs and (run / "last.pt").is_file():
        return run / "last.pt"
    argv = ["train", "student", "--config", str(_config(args.demo_run, args.out, seed)), "--init",
            str(args.demo_run / "student_had_qat" / "last.pt"), "--out", str(run), "--epochs", str(args.epochs),
            "--val-sequences", "0", "--force", "--no-progress"]
    if variant == "clips":
        argv += ["--clip-frames", str(args.clip_frames)]
    print(f"had-snn {' '.join(argv)}", flush=True)
    if main(argv) != 0:
        raise RuntimeError(f"fine-tuning {variant} seed {seed} failed (see above)")
    return run / "last.pt"


def _evaluate(args: argparse.Namespace, checkpoint: Path, cache: Path) -> dict:
    """Reset and stream rows of ``checkpoint`` (each mode with its own crop lag), cached in ``cache``."""
    if cache.is_file():
        saved = json.loads(cache.read_text())
        if saved.get("checkpoint_mtime") == checkpoint.stat().st_mtime and saved.get("split") == args.split:
            return saved["modes"]
    student, qnet, crop, sequences, _, lag_stream, line = fixed_point_setup(checkpoint, args.demo_run / "data",
                                                                            args.split, None, 100.0)
    print(line, flush=True)
    modes = {mode: track_variant(student, qnet, crop, sequences, mode, lag, progress=not args.no_progress,
                                 desc=f"{checkpoint.parent.name} {mode}")
             for mode, lag in (("reset", 1), ("stream", lag_stream))}
    write_json_atomic(cache, {"checkpoint": str(checkpoint), "checkpoint_mtime": checkpoint.stat().st_mtime,
                              "split": args.split, "modes": modes})
    return modes


def _interval(diffs: list[np.ndarray]) -> dict:
    from had_snn.evaluation.compare import two_level_bootstrap

    ci = two_level_bootstrap(diffs)
    return {"mean": ci.mean, "lo": ci.lo, "hi": ci.hi, "seeds": ci.n}


def run(args: argparse.Namespace) -> int:
    if len(args.seeds) < 2:
        raise ValueError("--seeds: the two-level intervals need at least 2 seeds (3 for a reported table)")
    t0 = time.perf_counter()
    args.out.mkdir(parents=True, exist_ok=True)
    base = _evaluate(args, args.demo_run / "student_had_qat" / "last.pt", args.out / "base_eval.json")
    results = {v: {s: _evaluate(args, _fine_tune(args, v, s), args.out / f"{v}-seed{s}" / "eval.json")
                   for s in args.seeds} for v in VARIANTS}

    def per_seq(variant: str, mode: str, seed: int) -> np.ndarray:
        return np.asarray(results[variant][seed][mode]["per_sequence_SR"])

    table = {v: {m: {"mean": float(np.mean([results[v][s][m]["SR"] for s in args.seeds])),
                     "std": float(np.std([results[v][s][m]["SR"] for s in args.seeds], ddof=1))}
                 for m in ("reset", "stream")} for v in VARIANTS}
    diffs = {
        **{f"{v}: stream - reset": _interval([per_seq(v, "stream", s) - per_seq(v, "reset", s) for s in args.seeds])
           for v in VARIANTS},
        "stream: clips - pairs": _interval([per_seq("clips", "stream", s) - per_seq("pairs", "stream", s)
                                            for s in args.seeds]),
        "reset: clips - pairs": _interval([per_seq("clips", "reset", s) - per_seq("pairs", "reset", s)
                                           for s in args.seeds]),
    }
    wall_s = time.perf_counter() - t0
    n_seq = len(base["reset"]["per_sequence_SR"])
    command = "python experiments/stream_training.py " + " ".join(sys.argv[1:])
    lines = [f"Fixed-point student (Loihi emulator) of `{args.demo_run}`: its QAT student fine-tuned {args.epochs} "
             f"epochs on pairs (control) or on clips of {args.clip_frames} frames run as one stream, seeds "
             f"{', '.join(map(str, args.seeds))} (the seed draws the fine-tuning samples); split `{args.split}`, "
             f"{n_seq} sequences; SR (AUC) in %. Intervals: 95 % two-level bootstrap (seeds, then sequences).", "",
             f"Command: `{command}` ({wall_s / 60:.1f} min here).", "",
             "| student | reset SR | stream SR |", "|---|---:|---:|",
             f"| QAT student (no fine-tuning) | {base['reset']['SR']:.1f} | {base['stream']['SR']:.1f} |"]
    for v in VARIANTS:
        lines.append(f"| fine-tuned on {v} | {table[v]['reset']['mean']:.1f} +- {table[v]['reset']['std']:.1f} | "
                     f"{table[v]['stream']['mean']:.1f} +- {table[v]['stream']['std']:.1f} |")
    lines += ["", "| difference | SR points [95 % CI] |", "|---|---:|"]
    lines += [f"| {name} | {d['mean']:+.1f} [{d['lo']:+.1f}, {d['hi']:+.1f}] |" for name, d in diffs.items()]
    text = "\n".join(lines) + "\n"
    write_text_atomic(args.out / "stream_training.md", text)
    write_json_atomic(args.out / "stream_training.json", {
        "demo_run": str(args.demo_run), "clip_frames": args.clip_frames, "epochs": args.epochs,
        "seeds": list(args.seeds), "split": args.split, "base": base, "results": results, "table": table,
        "differences": diffs, "command": command, "wall_s": wall_s})
    if args.doc is not None:
        write_text_atomic(args.doc, "# Stream training (the chip's stream mode)\n\n" + text)
    print(text, end="")
    print(f"wrote {args.out / 'stream_training.md'}" + (f" and {args.doc}" if args.doc else ""))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--demo-run", type=Path, required=True, help="a finished `had-snn demo` run folder")
    parser.add_argument("--clip-frames", type=int, default=4, help="frames per training clip (default 4)")
    parser.add_argument("--epochs", type=int, default=4, help="fine-tuning epochs of both variants (default 4)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--split", default="test")
    parser.add_argument("--out", type=Path, default=None, help="default: DEMO_RUN/stream_training")
    parser.add_argument("--doc", type=Path, default=None, help="also write the table to this markdown page")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    if args.clip_frames < 2 or args.epochs < 1:
        parser.error("--clip-frames must be >= 2 and --epochs >= 1")
    args.out = args.out or args.demo_run / "stream_training"
    return run(args)


if __name__ == "__main__":
    script_main(main, "experiments/stream_training.py")
