"""One-pass evaluation (OTB protocol) of trackers on a list of sequences: OTB box files, results JSON, a markdown
SR / PR / NPR table overall and per attribute, and success / precision plots.

The core, :func:`evaluate`, takes tracker objects (see :mod:`had_snn.tracking.tracker`), so tests and demos can
evaluate an in-memory model; ``had-snn eval`` only loads checkpoints and data around it.

Output layout::

    OUT/boxes/<tracker>/<sequence>.txt   OTB boxes, x,y,w,h per frame
    OUT/boxes/<tracker>/tracker.json     what produced them (resume only reuses boxes of the same tracker)
    OUT/results.json                     per tracker: overall / per-attribute / per-sequence scores and curves
    OUT/results.md                       the table
    OUT/plots/[<attribute>/]{success,precision,norm_precision}.png
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence as SequenceList
from pathlib import Path

import numpy as np
from tqdm import tqdm

from had_snn.data.sequence import Sequence
from had_snn.evaluation.metrics import SequenceScore, per_attribute, score_sequence
from had_snn.tracking.tracker import Tracker, read_otb, write_otb
from had_snn.util.atomic import write_text_atomic


def run_tracker(
    tracker: Tracker, sequences: SequenceList[Sequence], box_dir: Path, resume: bool = True, progress: bool = True
) -> tuple[dict[str, np.ndarray], float]:
    """Track every sequence and write ``box_dir/<name>.txt``; returns boxes per sequence and frames per second of
    the sequences tracked in this call (NaN when all were resumed, or for a tracker whose ``measures_speed`` is
    False: a baseline that runs no model has no meaningful speed).

    With ``resume`` and a ``tracker.fingerprint`` equal to the one stored in ``box_dir/tracker.json``, sequences
    whose box file already has one row per frame are read back instead of re-tracked.
    """
    fingerprint = getattr(tracker, "fingerprint", None)
    meta_path = box_dir / "tracker.json"
    reuse = False
    if resume and fingerprint is not None and meta_path.is_file():
        reuse = json.loads(meta_path.read_text()).get("fingerprint") == fingerprint
    write_text_atomic(meta_path, json.dumps({"name": tracker.name, "fingerprint": fingerprint}, indent=1))
    results, frames, seconds = {}, 0, 0.0
    for seq in tqdm(sequences, desc=f"eval {tracker.name}", unit="seq", disable=not progress):
        path = box_dir / f"{seq.name}.txt"
        if reuse and path.is_file():
            boxes = read_otb(path)
            if len(boxes) == seq.num_frames:
                results[seq.name] = boxes
                continue
        start = time.perf_counter()
        boxes = tracker.track(seq)
        seconds += time.perf_counter() - start
        frames += seq.num_frames
        write_otb(path, boxes)
        results[seq.name] = boxes
    timed = seconds > 0 and getattr(tracker, "measures_speed", True)
    return results, (frames / seconds if timed else float("nan"))


def score_results(results: dict[str, np.ndarray], sequences: SequenceList[Sequence]) -> dict[str, SequenceScore]:
    """Per-sequence scores; ground-truth boxes entirely outside the frame are not scored."""
    return {s.name: score_sequence(results[s.name], s.boxes, frame_size=s.sensor_size) for s in sequences}


def markdown_table(report: dict) -> str:
    """SR (AUC) / PR@20 / NPR@0.2 in percent for every tracker, overall then per attribute."""
    lines = [
        f"Split `{report['split']}`: {report['num_sequences']} sequences. SR = success AUC (21 IoU thresholds), "
        "PR = precision at 20 px, NPR = normalised precision at 0.2 (pytracking definitions), in %.",
        "",
        "| Subset | #seq | Tracker | SR (AUC) | PR@20 | NPR@0.2 | FPS |",
        "|---|---:|---|---:|---:|---:|---:|",
    ]
    subsets = list(dict.fromkeys(k for t in report["trackers"].values() for k in t["subsets"]))
    for subset in subsets:
        for name, t in report["trackers"].items():
            s = t["subsets"].get(subset)
            if s is None:
                continue
            fps = f"{t['fps']:.1f}" if np.isfinite(t["fps"]) else "-"
            lines.append(f"| {subset} | {s['num_sequences']} | {name} | {100 * s['SR_AUC']:.1f} | "
                         f"{100 * s['PR20']:.1f} | {100 * s['NPR0.2']:.1f} | {fps} |")
    return "\n".join(lines) + "\n"


def evaluate(
    trackers: SequenceList[Tracker],
    sequences: SequenceList[Sequence],
    out_dir: str | os.PathLike,
    split: str = "",
    resume: bool = True,
    plots: bool = True,
    progress: bool = True,
) -> dict:
    """Run and score every tracker on every sequence; write the OTB files, JSON, markdown table and plots.

    Returns the report dict written to ``results.json``.
    """
    from had_snn.evaluation.plots import plot_curves

    if not sequences:
        raise ValueError(f"no sequences to evaluate in split {split!r}")
    names = [t.name for t in trackers]
    if len(set(names)) != len(names) or not names:
        raise ValueError(f"tracker names must be unique and non-empty, got {names}")
    out_dir = Path(out_dir)
    attributes = {s.name: tuple(s.attributes) for s in sequences}
    report = {"split": split, "num_sequences": len(sequences), "trackers": {}}
    summaries = {}
    for tracker in trackers:
        results, fps = run_tracker(tracker, sequences, out_dir / "boxes" / tracker.name, resume=resume,
                                   progress=progress)
        scores = score_results(results, sequences)
        summaries[tracker.name] = per_attribute(scores, attributes)
        report["trackers"][tracker.name] = {
            "fps": fps,
            "subsets": {k: v.as_dict() for k, v in summaries[tracker.name].items()},
            "sequences": {n: {"SR_AUC": s.auc, "PR20": s.pr20, "NPR0.2": s.npr, "mean_iou": s.mean_iou,
                              "num_valid_frames": s.num_valid_frames} for n, s in scores.items()},
        }
    write_text_atomic(out_dir / "results.json", json.dumps(report, indent=1))
    write_text_atomic(out_dir / "results.md", markdown_table(report))
    if plots:
        for subset in summaries[names[0]]:
            sub = {n: summaries[n][subset] for n in names}
            plot_curves(sub, out_dir / "plots" / ("" if subset == "all" else subset), title=subset)
    return report


def file_fingerprint(path: Path) -> str:
    """SHA-256 of a file's bytes."""
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
