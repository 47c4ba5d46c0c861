"""Where the fixed-point student loses SR in the chip's stream mode: the crop lag, or the state carried across frames.

    python experiments/stream_diagnostic.py --checkpoint runs/demo/student_had_qat/last.pt --data runs/demo/data \
        [--split test] [--steps T] [--weight-percentile 100] [--out runs/stream-diagnostic]

The student, quantised as the demo's fixed-point trackers are (:func:`had_snn.tracking.loihi.fixed_point_trackers`),
tracks the split four times in the emulator, 2 x 2: chip mode (reset: every frame from the zero state; stream: the
state carried from frame to frame) x crop lag (1 frame, reset mode's own; ``1 + ceil(L / T)``, stream mode's own).
Reset with the stream's lag isolates the lag; stream with a 1-frame lag (crops newer than the chip could have them:
not causal, a diagnostic only) isolates the carried state. Each row's SR difference to reset mode's own comes with
a 95 % paired bootstrap interval over the sequences (one checkpoint: it says nothing about training seeds).
Writes ``OUT/stream_diagnostic.md`` and ``.json`` and prints the table.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

from had_snn.util.atomic import write_json_atomic, write_text_atomic
from had_snn.util.errors import script_main


def _variants(lag_stream: int) -> list[tuple[str, str, int, str]]:
    """(row name, chip mode, crop lag, what it isolates)."""
    return [("reset, own lag", "reset", 1, "reference: the tracker `had-snn eval` runs"),
            ("reset, stream's lag", "reset", lag_stream, "the crop lag alone"),
            ("stream, own lag", "stream", lag_stream, "the chip's stream mode as deployed"),
            ("stream, 1-frame lag", "stream", 1, "the carried state alone (not causal on the chip)")]


def fixed_point_setup(checkpoint: Path, data: Path, split: str, steps: int | None, weight_percentile: float):
    """(student, its quantised network, crop, sequences, L, the stream crop lag, a line saying what it is)."""
    from had_snn.conversion.quantize import quantize_student
    from had_snn.data.dataset import load_split
    from had_snn.tracking.loihi import EmulatedStudent, first_live_template
    from had_snn.tracking.online import checkpoint_crop, open_checkpoint

    ckpt = open_checkpoint(checkpoint)
    if ckpt.model_kind != "student":
        raise ValueError(f"--checkpoint {checkpoint}: expected a spiking student, got a {ckpt.model_kind}")
    crop, crop_line = checkpoint_crop(ckpt, steps)
    sequences = load_split(data, split)
    student = ckpt.model
    qnet = quantize_student(student, first_live_template(student, sequences, crop)[1], weight_percentile)
    fill = EmulatedStudent(student, qnet, weight_percentile).latency_steps
    lag_stream = 1 + -(-fill // crop.student_steps)
    line = (f"{ckpt.describe()}; {crop_line}; L = {fill} layers, stream crop lag {lag_stream} frames; "
            f"{len(sequences)} {split} sequences")
    return student, qnet, crop, sequences, fill, lag_stream, line


def track_variant(student, qnet, crop, sequences, mode: str, lag: int, weight_percentile: float = 100.0,
                  window_influence: float = 0.25, progress: bool = False, desc: str = "") -> dict:
    """SR, PR@20 (%), jitter and per-sequence SR of the fixed-point student in ``mode`` with crop lag ``lag``."""
    from had_snn.evaluation.jitter import box_jitter, pooled
    from had_snn.evaluation.metrics import score_sequence, summarize
    from had_snn.tracking.loihi import EmulatedStudent, EmulatedTracker

    tracker = EmulatedTracker(EmulatedStudent(student, qnet, weight_percentile, mode=mode), crop, window_influence,
                              crop_lag=lag)
    scores, jitter = [], []
    for seq in tqdm(sequences, desc=desc or f"{mode} lag {lag}", unit="seq", disable=not progress):
        boxes = tracker.track(seq)
        scores.append(score_sequence(boxes, seq.boxes, seq.sensor_size))
        jitter.append(box_jitter(boxes))
    s, j = summarize(scores), pooled(jitter)
    return {"mode": mode, "crop_lag": lag, "SR": 100 * s.auc, "PR20": 100 * s.pr20,
            "reversal_rate": j.reversal_rate, "median_step_px": j.median_step_px,
            "per_sequence_SR": [100 * x.auc for x in scores]}


def run(args: argparse.Namespace) -> int:
    from had_snn.evaluation.compare import paired_bootstrap

    student, qnet, crop, sequences, fill, lag_stream, line = fixed_point_setup(
        args.checkpoint, args.data, args.split, args.steps, args.weight_percentile)
    print(line)
    rows = []
    for name, mode, lag, what in _variants(lag_stream):
        row = track_variant(student, qnet, crop, sequences, mode, lag, args.weight_percentile, args.window_influence,
                            not args.no_progress, name)
        rows.append({"name": name, "isolates": what, **row})
    ref = np.asarray(rows[0]["per_sequence_SR"])
    for row in rows[1:]:
        diff = np.asarray(row["per_sequence_SR"]) - ref
        if len(diff) < 2:  # one sequence: a difference, no interval
            row["diff_vs_reference"] = {"mean": float(diff.mean()), "lo": None, "hi": None}
            continue
        ci = paired_bootstrap(diff)
        row["diff_vs_reference"] = {"mean": ci.mean, "lo": ci.lo, "hi": ci.hi}
    lines = [f"Fixed-point student `{args.checkpoint}` on split `{args.split}` of `{args.data}` ({len(sequences)} "
             f"sequences; T = {crop.student_steps}, L = {fill}); SR and PR@20 in %, SR difference to the first row "
             "with a 95 % paired bootstrap interval over sequences.", "",
             "| tracker | crop lag (frames) | isolates | SR | PR@20 | reversals % | SR - reset own lag [95 % CI] |",
             "|---|---:|---|---:|---:|---:|---:|"]
    for row in rows:
        d = row.get("diff_vs_reference")
        diff = "" if d is None else f"{d['mean']:+.1f}" + ("" if d["lo"] is None else
                                                             f" [{d['lo']:+.1f}, {d['hi']:+.1f}]")
        rev = "-" if row["reversal_rate"] is None else f"{100 * row['reversal_rate']:.0f}"
        lines.append(f"| {row['name']} | {row['crop_lag']} | {row['isolates']} | {row['SR']:.1f} | "
                     f"{row['PR20']:.1f} | {rev} | {diff} |")
    text = "\n".join(lines) + "\n"
    args.out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(args.out / "stream_diagnostic.md", text)
    write_json_atomic(args.out / "stream_diagnostic.json", {
        "checkpoint": str(args.checkpoint), "data": str(args.data), "split": args.split,
        "steps": crop.student_steps, "fill_steps": fill, "rows": rows, "command": " ".join(sys.argv)})
    print(text, end="")
    print(f"wrote {args.out / 'stream_diagnostic.md'} and {args.out / 'stream_diagnostic.json'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, required=True, help="a trained student .pt (e.g. the QAT one)")
    parser.add_argument("--data", type=Path, required=True, help="benchmark root holding index.json")
    parser.add_argument("--split", default="test")
    parser.add_argument("--steps", type=int, default=None, help="T (default: the checkpoint's training config)")
    parser.add_argument("--weight-percentile", type=float, default=100.0)
    parser.add_argument("--window-influence", type=float, default=0.25)
    parser.add_argument("--out", type=Path, default=Path("runs/stream-diagnostic"))
    parser.add_argument("--no-progress", action="store_true")
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    script_main(main, "experiments/stream_diagnostic.py")
