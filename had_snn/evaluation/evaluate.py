"""One-pass evaluation (OTB protocol) of trackers on a list of sequences: OTB box files, results JSON, a markdown
SR / PR / NPR table overall and per attribute, and success / precision plots.

The core, :func:`evaluate`, takes tracker objects (see :mod:`had_snn.tracking.tracker`), so tests and demos can
evaluate an in-memory model; ``had-snn eval`` only loads checkpoints and data around it.

Output layout::

    OUT/boxes/<tracker>/<sequence>.txt   OTB boxes, x,y,w,h per frame
    OUT/boxes/<tracker>/tracker.json     what produced them: name, fingerprint (resume only reuses boxes of the
                                         same tracker and settings), identity (checkpoint hash) and source path
    OUT/results.json                     attribute tags of every sequence; per tracker: overall / per-attribute
                                         (and normal_light) / per-sequence scores and curves; box jitter
                                         (median centre step px, direction-reversal rate) beside the ground truth's
                                         (``had-snn eval``: also of the trackers evaluated into OUT before)
    OUT/results.md                       the table, then the jitter table (and, latency-aware, the real-time table)
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
from had_snn.evaluation.jitter import Jitter, box_jitter, pooled
from had_snn.evaluation.metrics import SequenceScore, per_attribute, score_sequence, valid_gt_mask
from had_snn.evaluation.realtime import Latency, measured_latency, realtime_score, tracker_latency
from had_snn.tracking.tracker import Tracker, read_otb, write_otb
from had_snn.util.atomic import json_safe, write_text_atomic
from had_snn.util.errors import UserError


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
    meta = {"name": tracker.name, "fingerprint": fingerprint, "identity": getattr(tracker, "identity", None),
            "source": getattr(tracker, "source", None)}
    write_text_atomic(meta_path, json.dumps(meta, indent=1))
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


def _stored_identity(meta: dict) -> str | None:
    """The identity recorded in a ``tracker.json`` (older files: the checkpoint hash leading their fingerprint)."""
    if meta.get("identity"):
        return str(meta["identity"])
    fingerprint = meta.get("fingerprint")
    return fingerprint.split("|")[0].split(":")[0] if isinstance(fingerprint, str) and fingerprint else None


def check_frames(trackers: SequenceList[Tracker], sequences: SequenceList[Sequence], where: str = "") -> None:
    """A tracker that reads RGB frames (``needs_frames``: a teacher) needs every sequence to have them (an event-only
    dataset would give it black images): ValueError names the tracker, ``where`` and the sequences without frames."""
    frameless = [s.name for s in sequences if s.frames is None]
    for tracker in trackers:
        if getattr(tracker, "needs_frames", False) and frameless:
            shown = ", ".join(frameless[:3]) + (f" and {len(frameless) - 3} more" if len(frameless) > 3 else "")
            source = getattr(tracker, "source", None)
            raise ValueError(f"tracker {tracker.name!r}" + (f" ({source})" if source else "") + " reads RGB frames, "
                             f"but {where or 'the evaluation'} has sequences without frames ({shown}): evaluate an "
                             "event-only tracker (a student or teacher_events) on this dataset")


def check_box_folders(trackers: SequenceList[Tracker], out_dir: str | os.PathLike, force: bool = False) -> list[str]:
    """Refuse to overwrite another tracker's boxes: for every tracker with an ``identity`` (what it is, e.g. its
    checkpoint's hash), ``OUT/boxes/<name>/`` must be new or hold boxes of the same identity. With ``force`` the
    other tracker's box files are deleted instead; returns the names replaced so. UserError names the folder, both
    trackers and the ways out. Trackers without an identity (in-memory models) are not checked.
    """
    replaced = []
    for tracker in trackers:
        ours = getattr(tracker, "identity", None)
        box_dir = Path(out_dir) / "boxes" / tracker.name
        meta_path = box_dir / "tracker.json"
        if ours is None or not meta_path.is_file():
            continue
        try:
            meta = json.loads(meta_path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError):
            meta = {}
        theirs = _stored_identity(meta) if isinstance(meta, dict) else None
        if theirs == ours:
            continue
        other = (meta.get("source") if isinstance(meta, dict) else None) or "an unrecorded tracker"
        if not force:
            raise UserError(
                f"{box_dir} holds the boxes of another tracker named {tracker.name!r} ({other}), not of "
                f"{getattr(tracker, 'source', None) or tracker.name}; name this one differently (--tracker "
                f"OTHER_NAME=PATH), choose another --out, or pass --force to replace those boxes")
        for old in box_dir.glob("*.txt"):
            old.unlink()
        meta_path.unlink()
        replaced.append(tracker.name)
    return replaced


def score_results(results: dict[str, np.ndarray], sequences: SequenceList[Sequence]) -> dict[str, SequenceScore]:
    """Per-sequence scores; ground-truth boxes entirely outside the frame are not scored."""
    return {s.name: score_sequence(results[s.name], s.boxes, frame_size=s.sensor_size) for s in sequences}


def jitter_of(boxes: dict[str, np.ndarray] | None, sequences: SequenceList[Sequence]) -> dict[str, Jitter]:
    """Per-sequence :class:`~had_snn.evaluation.jitter.Jitter` of ``boxes`` (the ground truth's when ``None``),
    over the frames with a valid ground truth (the frames that are scored)."""
    return {s.name: box_jitter(s.boxes if boxes is None else boxes[s.name],
                               valid_gt_mask(s.boxes, s.sensor_size)) for s in sequences}


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
    if "ground_truth_jitter" in report:
        lines += ["", "Box jitter over all sequences: the median per-frame step of the box centre (px) and the share "
                  "of consecutive moving steps that turn back by more than 90 degrees, beside the ground truth's.",
                  "", "| Track | median step (px) | reversals (%) |", "|---|---:|---:|"]
        rows = [("ground truth", report["ground_truth_jitter"])]
        rows += [(name, t["jitter"]) for name, t in report["trackers"].items() if "jitter" in t]
        for name, j in rows:
            step = "-" if j["median_step_px"] is None else f"{j['median_step_px']:.2f}"
            rev = "-" if j["reversal_rate"] is None else f"{100 * j['reversal_rate']:.1f}"
            lines.append(f"| {name} | {step} | {rev} |")
    realtime = [(name, t["realtime"]) for name, t in report["trackers"].items() if "realtime" in t]
    if realtime:
        lines += ["", "Real-time scores: each box against the ground truth at the time it exists (the end of its "
                  "event window + the tracker's latency: the Loihi 1 model for a fixed-point student, the measured "
                  "time per frame on this machine for the others), beside the frame-time SR.", "",
                  "| Tracker | latency (ms) | latency from | SR (AUC) | real-time SR | real-time PR@20 |",
                  "|---|---:|---|---:|---:|---:|"]
        for name, r in realtime:
            sr = 100 * report["trackers"][name]["subsets"]["all"]["SR_AUC"]
            if r["SR_AUC"] is None:
                lines.append(f"| {name} | - | {r['latency_from']} | {sr:.1f} | - | - |")
                continue
            lines.append(f"| {name} | {r['latency_us'] / 1000:.3g} | {r['latency_from']} | {sr:.1f} | "
                         f"{100 * r['SR_AUC']:.1f} | {100 * r['PR20']:.1f} |")
    return "\n".join(lines) + "\n"


def evaluate(
    trackers: SequenceList[Tracker],
    sequences: SequenceList[Sequence],
    out_dir: str | os.PathLike,
    split: str = "",
    resume: bool = True,
    plots: bool = True,
    progress: bool = True,
    force: bool = False,
    include_stored: bool = False,
    latency_aware: bool = False,
) -> dict:
    """Run and score every tracker on every sequence; write the OTB files, JSON, markdown table and plots.

    Before any tracking, :func:`check_frames` refuses a tracker that reads RGB frames on sequences without them, and
    :func:`check_box_folders` refuses (or with ``force`` clears) box folders that hold another
    tracker's boxes under the same name. With ``include_stored`` the table also scores the trackers evaluated earlier
    into ``out_dir`` (:func:`stored_results`; listed under ``stored_not_included`` with the reason when their boxes
    do not cover these sequences), in the earlier table's order, new trackers last. With ``latency_aware`` every
    tracker also gets real-time scores (:mod:`had_snn.evaluation.realtime`: each box against the ground truth at the
    time it exists) under ``realtime`` and in a second table; the latency is kept in its ``tracker.json`` so resumed
    boxes keep it. Returns the report dict written to ``results.json``.
    """
    from had_snn.evaluation.plots import plot_curves

    if not sequences:
        raise ValueError(f"no sequences to evaluate in split {split!r}")
    names = [t.name for t in trackers]
    if len(set(names)) != len(names) or not names:
        raise ValueError(f"tracker names must be unique and non-empty, got {names}")
    check_frames(trackers, sequences, f"split {split!r}" if split else "")
    out_dir = Path(out_dir)
    check_box_folders(trackers, out_dir, force)
    attributes = {s.name: tuple(s.attributes) for s in sequences}
    previous = _previous_report(out_dir, split) if include_stored else {}
    report: dict = {"split": split, "num_sequences": len(sequences),
                    "attributes": {n: list(a) for n, a in attributes.items()}, "trackers": {},
                    "stored_not_included": {},
                    "ground_truth_jitter": pooled(jitter_of(None, sequences).values()).as_dict()}
    results_of: dict[str, tuple[dict[str, np.ndarray], float]] = {}
    if include_stored:
        stored, report["stored_not_included"] = stored_results(out_dir, sequences, exclude=set(names))
        for name, boxes in stored.items():
            fps = previous.get("trackers", {}).get(name, {}).get("fps")
            results_of[name] = boxes, float("nan") if fps is None else float(fps)
    latencies: dict[str, Latency | None] = {}
    interval_us = float(np.median([np.median(np.diff(s.frame_t_us)) for s in sequences if s.num_frames > 1] or [0]))
    if latency_aware:
        for name in results_of:  # trackers evaluated into OUT before: the latency their tracker.json kept
            latencies[name] = _stored_latency(out_dir / "boxes" / name, None) or measured_latency(results_of[name][1])
    for tracker in trackers:
        box_dir = out_dir / "boxes" / tracker.name
        stored = _stored_latency(box_dir, getattr(tracker, "fingerprint", None)) if latency_aware and resume else None
        results_of[tracker.name] = run_tracker(tracker, sequences, box_dir, resume=resume, progress=progress)
        if latency_aware:
            latency = tracker_latency(tracker, results_of[tracker.name][1], interval_us) or stored
            latencies[tracker.name] = latency
            if latency is not None:
                _store_latency(box_dir, latency)
    order = [n for n in previous.get("trackers", {}) if n in results_of]
    order += [n for n in results_of if n not in order]
    summaries = {}
    for name in order:
        results, fps = results_of[name]
        scores = score_results(results, sequences)
        jitter = jitter_of(results, sequences)
        summaries[name] = per_attribute(scores, attributes)
        report["trackers"][name] = {
            "fps": fps,
            "subsets": {k: v.as_dict() for k, v in summaries[name].items()},
            "jitter": pooled(jitter.values()).as_dict(),
            "sequences": {n: {"SR_AUC": s.auc, "PR20": s.pr20, "NPR0.2": s.npr, "mean_iou": s.mean_iou,
                              "num_valid_frames": s.num_valid_frames,
                              "median_step_px": jitter[n].as_dict()["median_step_px"],
                              "reversal_rate": jitter[n].as_dict()["reversal_rate"]}
                          for n, s in scores.items()},
        }
        if latency_aware:
            report["trackers"][name]["realtime"] = _realtime_block(results, sequences, latencies.get(name))
    write_text_atomic(out_dir / "results.json", json.dumps(json_safe(report), indent=1, allow_nan=False))
    write_text_atomic(out_dir / "results.md", markdown_table(report))
    if plots:
        for subset in summaries[order[0]]:
            sub = {n: summaries[n][subset] for n in order if subset in summaries[n]}
            plot_curves(sub, out_dir / "plots" / ("" if subset == "all" else subset), title=subset)
    return report


def _realtime_block(results: dict[str, np.ndarray], sequences: SequenceList[Sequence], latency: Latency | None
                    ) -> dict:
    """Real-time SR / PR / NPR over all sequences (and per sequence) at ``latency``; without a latency, the reason."""
    if latency is None:
        return {"latency_us": None, "latency_from": "unknown: not measured in this run (every box resumed) and not "
                "stored; rerun with --no-resume", "SR_AUC": None, "PR20": None, "NPR0.2": None}
    scores = {s.name: realtime_score(results[s.name], s, latency.us) for s in sequences}
    overall = per_attribute(scores, {n: () for n in scores})["all"].as_dict()
    return {**latency.as_dict(), "SR_AUC": overall["SR_AUC"], "PR20": overall["PR20"], "NPR0.2": overall["NPR0.2"],
            "sequences": {n: s.auc for n, s in scores.items()}}


def _stored_latency(box_dir: Path, fingerprint: str | None) -> Latency | None:
    """The latency a ``tracker.json`` kept (only when its fingerprint is ``fingerprint``, unless that is None)."""
    try:
        meta = json.loads((box_dir / "tracker.json").read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return None
    if not isinstance(meta, dict) or not isinstance(meta.get("latency"), dict):
        return None
    if fingerprint is not None and meta.get("fingerprint") != fingerprint:
        return None
    lat = meta["latency"]
    try:
        return Latency(float(lat["latency_us"]), str(lat["latency_from"]))
    except (KeyError, TypeError, ValueError):
        return None


def _store_latency(box_dir: Path, latency: Latency) -> None:
    """Add ``latency`` to the ``tracker.json`` :func:`run_tracker` wrote."""
    meta_path = box_dir / "tracker.json"
    meta = json.loads(meta_path.read_text())
    meta["latency"] = latency.as_dict()
    write_text_atomic(meta_path, json.dumps(meta, indent=1))


def _previous_report(out_dir: Path, split: str) -> dict:
    """``OUT/results.json`` of an earlier evaluation of the same split (empty when absent, unreadable or of another
    split): it keeps the table's order and the stored trackers' speeds."""
    try:
        report = json.loads((out_dir / "results.json").read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return {}
    ok = isinstance(report, dict) and report.get("split") == split and isinstance(report.get("trackers"), dict)
    return report if ok else {}


def stored_results(out_dir: str | os.PathLike, sequences: SequenceList[Sequence], exclude: set[str] = frozenset()
                   ) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, str]]:
    """Boxes of trackers evaluated earlier into ``out_dir`` (``OUT/boxes/<name>/`` with a ``tracker.json``), for
    the table of a later evaluation into the same folder; names in ``exclude`` are skipped.

    A tracker is included only when it has a box file with one row per frame for every sequence; the others are
    returned with the reason (e.g. they were evaluated on another split).
    """
    found: dict[str, dict[str, np.ndarray]] = {}
    skipped: dict[str, str] = {}
    box_root = Path(out_dir) / "boxes"
    if not box_root.is_dir():
        return found, skipped
    for box_dir in sorted(p for p in box_root.iterdir() if p.is_dir() and (p / "tracker.json").is_file()):
        if box_dir.name in exclude:
            continue
        boxes, missing = {}, []
        for seq in sequences:
            path = box_dir / f"{seq.name}.txt"
            try:
                b = read_otb(path) if path.is_file() else None
            except ValueError:
                b = None
            if b is None or len(b) != seq.num_frames:
                missing.append(seq.name)
            else:
                boxes[seq.name] = b
        if missing:
            skipped[box_dir.name] = (f"no complete boxes for {len(missing)} of the {len(sequences)} sequences "
                                     f"(e.g. {missing[0]})")
        else:
            found[box_dir.name] = boxes
    return found, skipped


def file_fingerprint(path: Path) -> str:
    """SHA-256 of a file's bytes."""
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
