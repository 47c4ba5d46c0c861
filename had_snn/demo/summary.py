"""The demo's headline figures as data (``report.json``): tracking, HAD vs no KD, the fixed-point fidelity, Lava,
hardware and the compact frontier, read from the files the pipeline steps wrote; the README's results block and
``report.md`` are rendered from it."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from had_snn.evaluation.metrics import HEADLINE_METRICS

SUMMARY_NAME = "report.json"
SUMMARY_FORMAT = 3
TRACKER_LABELS = {
    "static": "static baseline (box stays put)",
    "teacher": "ANN teacher (RGB + events)",
    "student": "SNN student, no KD",
    "student_had": "SNN student, HAD",
    "student_had_qat": "SNN student, HAD + QAT fine-tuning (float)",
    "student_had_loihi": "SNN student, HAD + QAT, Loihi fixed point (emulator, reset per frame)",
    "student_had_loihi_stream": "SNN student, HAD + QAT, Loihi fixed point (emulator, streaming)",
}
#: the fixed-point tracker must stay within this many SR points of the float model it was converted from
SR_TARGET_POINTS = 1.0
#: per-layer spike agreement float vs fixed the conversion must reach
SPIKE_AGREEMENT_TARGET = 0.99
TRAINED = ("teacher", "student", "student_had", "student_had_qat")


def read_step_json(path: Path) -> Any:
    """A JSON file a demo step wrote; a missing or broken one names the file and the step to re-run."""
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"report input {path} is missing; re-run the demo step that writes it") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from None


def had_vs_no_kd(results_path: Path, data_root: Path | None = None, n_boot: int = 10000) -> dict[str, Any]:
    """Paired SR difference HAD student - no-KD student (float, one seed each) on the test split: the mean and 95 %
    bootstrap interval over sequences (:func:`had_snn.evaluation.compare.compare`), in SR points, for ``all``,
    ``normal_light`` and each attribute (tags from the benchmark ``data_root``'s index, else from the report).
    ``{"status": "n/a", "reason": ...}`` when the split has fewer than 2 sequences (no interval over one)."""
    from had_snn.evaluation.compare import compare, dataset_attributes, load_scores
    from had_snn.util.errors import UserError

    attributes = dataset_attributes(data_root) if data_root is not None else None
    had, no_kd = (load_scores(results_path, name, attributes=attributes) for name in ("student_had", "student"))
    if len(had.scores) < 2:
        return {"status": "n/a", "reason": f"{len(had.scores)} test sequence; an interval needs at least 2"}
    try:
        result = compare([had], [no_kd], metric="SR_AUC", n_boot=n_boot, level=0.95, seed=0)
    except UserError as exc:
        return {"status": "n/a", "reason": str(exc)}

    def pts(x: float | None) -> float | None:
        return None if x is None else round(100 * x, 2)

    return {"status": "ok", "level": 0.95, "metric": "SR", "subsets": {
        s: {"n_sequences": e["n_sequences"], "had": pts(e["a_mean"]), "no_kd": pts(e["b_mean"]),
            "diff": pts(e["diff"]["mean"]), "lo": pts(e["diff"]["lo"]), "hi": pts(e["diff"]["hi"])}
        for s, e in result.items()}}


def had_vs_no_kd_text(cmp: dict[str, Any]) -> str:
    """One sentence on the overall paired difference (for the report and the README block)."""
    if cmp.get("status") != "ok":
        return f"HAD vs no-KD student: no paired interval ({cmp.get('reason', 'not computed')})."
    a = cmp["subsets"]["all"]
    if a["lo"] is None:
        return f"HAD student - no-KD student: {a['diff']:+.1f} SR points (no interval)."
    word = ("HAD better" if a["lo"] > 0 else "no-KD better" if a["hi"] < 0 else
            "no resolved difference: the interval contains 0")
    return (f"HAD student - no-KD student (float, one training seed): {a['diff']:+.1f} SR points, 95 % bootstrap "
            f"interval over the {a['n_sequences']} test sequences [{a['lo']:+.1f}, {a['hi']:+.1f}] ({word}).")


def sr_points(summary_tracking: dict, name: str) -> float | None:
    """SR (%) of a tracker in the summary's tracking table, None when it was not evaluated."""
    return summary_tracking[name]["SR"] if name in summary_tracking else None


def loihi_summary(tracking: dict, ff: dict, outputs: Mapping[str, dict]) -> dict[str, Any]:
    """Float vs fixed point: the SR of the float models (QAT student, HAD student before QAT), the emulated tracker's
    SR per mode and its difference from the QAT float model (this project's goal: within 1 SR point), per-layer spike
    agreement (goal >= 0.99) and the streaming crop lag."""
    float_sr = sr_points(tracking, "student_had_qat")
    fixed = {mode: sr_points(tracking, name) for mode, name in (("reset", "student_had_loihi"),
                                                                ("stream", "student_had_loihi_stream"))}
    diff = {m: None if v is None or float_sr is None else round(v - float_sr, 2) for m, v in fixed.items()}
    agreement = {r["name"]: r["spike_agreement"] for r in ff.get("layers", []) if "spike_agreement" in r}
    return {
        "float_sr_before_qat": sr_points(tracking, "student_had"),
        "float_sr": float_sr,
        "fixed_sr": fixed,
        "fixed_minus_float_sr": diff,
        "sr_target_points": SR_TARGET_POINTS,
        "within_target": {m: d is not None and abs(d) <= SR_TARGET_POINTS for m, d in diff.items()},
        "spike_agreement": agreement,
        "min_spike_agreement": min(agreement.values()) if agreement else None,
        "spike_agreement_target": SPIKE_AGREEMENT_TARGET,
        "stream_crop_lag_frames": outputs["eval"].get("stream_crop_lag_frames"),
    }


def frontier_points(hw: dict, tracking: dict, outputs: Mapping[str, dict], run_dir: Path) -> list[dict]:
    """The compact frontier's points: the QAT student (fixed point, reset and stream) and, when the demo ran the
    ``frontier`` step, the activity-regularised QAT student; SR (%) and uJ per frame on Loihi 1 and 45 nm AC."""
    names = {"reset": "student_had_loihi", "stream": "student_had_loihi_stream"}
    points = []
    for mode, block in hw.get("modes", {}).items():
        points.append({"student": "QAT student", "mode": mode, "sr": sr_points(tracking, names[mode]),
                       "loihi1_uj": block["energy"]["loihi1"]["per_frame_uj"],
                       "snn_45nm_uj": block["energy"]["snn_45nm"]["per_frame_uj"]})
    if "frontier" in outputs:
        res = read_step_json(run_dir / outputs["frontier"]["result"])
        label = f"QAT student + activity (weight {outputs['frontier']['activity_weight']:g})"
        for mode, e in res["energy"].items():
            points.append({"student": label, "mode": mode, "sr": res["sr"][f"fixed_{mode}"],
                           "loihi1_uj": e["loihi1_uj"], "snn_45nm_uj": e["snn_45nm_uj"]})
    return points


def machine_info(device: str) -> dict[str, Any]:
    """What the numbers were measured on: OS, CPU model and count, Python, torch and the device used."""
    import platform

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        import torch

        torch_version, threads = torch.__version__, torch.get_num_threads()
    except ImportError:
        torch_version, threads = None, None
    return {"platform": platform.platform(), "cpu": cpu, "cpu_count": os.cpu_count(), "torch_threads": threads,
            "python": platform.python_version(), "torch": torch_version, "device": device}


def _config_name(source: str) -> str:
    """The config path as a user would type it: relative to the repository when it lies inside it."""
    root = Path(__file__).resolve().parents[2]
    try:
        return Path(source).resolve().relative_to(root).as_posix()
    except ValueError:
        return str(source)


def _energy_headline(head: dict[str, Any] | None) -> dict[str, Any] | None:
    """The Loihi 1 headline ratio of the hardware report: what it divides, the ratio, like for like, the goal."""
    if head is None:
        return None
    h = head["loihi1"]
    return {"label": h["label"], "ratio": h["ratio"], "like_for_like": h["like_for_like"], "goal": h["target"],
            "meets_goal": h["meets_target"]}


def demo_summary(run_dir: Path, outputs: Mapping[str, dict], cfg: dict, device: str) -> dict[str, Any]:
    """The headline figures of a finished run as one JSON-able dict (what ``report.json`` holds; the README's
    results block is rendered from it by :mod:`had_snn.demo.readme`)."""
    import datetime

    from had_snn.demo.pipeline import read_stamp

    results = read_step_json(run_dir / outputs["eval"]["results"])
    hw = read_step_json(run_dir / outputs["hardware"]["report"])
    lava, e, lat = outputs["lava"], hw["energy"], hw["latency"]
    tracking = {name: {"label": TRACKER_LABELS.get(name, name),
                       **{k: round(100 * t["subsets"]["all"][m], 2)
                          for k, m in HEADLINE_METRICS.items()},
                       "fps": t["fps"] if t["fps"] is not None and np.isfinite(t["fps"]) else None,
                       "jitter": t.get("jitter"),
                       "realtime": None if not (t.get("realtime") or {}).get("SR_AUC") else {
                           "SR": round(100 * t["realtime"]["SR_AUC"], 2),
                           "latency_ms": round(t["realtime"]["latency_us"] / 1000, 4),
                           "latency_from": t["realtime"]["latency_from"]}}
                for name, t in results["trackers"].items()}
    stamps = {name: read_stamp(run_dir / name) or {} for name in outputs}
    synth = cfg["data"]["synth"]
    config = _config_name(cfg["source"])
    quant = read_step_json(run_dir / outputs["convert"]["quantization"])
    modes = {m: {"loihi1_uj_per_frame": b["energy"]["loihi1"]["per_frame_uj"],
                 "steps_per_frame": b["latency"]["period_steps"], "latency_steps": b["latency"]["latency_steps"],
                 "frame_latency_us": b["latency"]["frame_latency_us"],
                 "throughput_fps": b["latency"]["throughput_fps"]} for m, b in hw.get("modes", {}).items()}
    return {
        "format": SUMMARY_FORMAT,
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine_info(device),
        "config": config,
        "command": f"had-snn demo --config {config}" + ("" if device == "cpu" else f" --device {device}"),
        "seed": cfg["seed"],
        "test_split": {"name": results["split"], "sequences": results["num_sequences"],
                       "sensor_px": [synth.get("width_px", 160), synth.get("height_px", 120)]},
        "tracking": tracking,
        "ground_truth_jitter": results.get("ground_truth_jitter"),
        "had_vs_no_kd": had_vs_no_kd(run_dir / outputs["eval"]["results"], run_dir / outputs["data"]["root"]),
        "lava": {"status": lava["status"], **({"reason": lava["reason"]} if lava["status"] == "skipped" else
                                              {"frames": len(lava["frames"]), "steps": lava["steps"],
                                               "modes": {m: c["status"] for m, c in lava.get("modes", {}).items()}})},
        "loihi": loihi_summary(tracking, quant["float_vs_fixed"], outputs),
        "hardware": {"loihi1_cores": hw["mapping"]["loihi1"]["total_cores"],
                     "loihi1_chips": hw["mapping"]["loihi1"]["chips"],
                     "loihi2_cores": hw["mapping"]["loihi2"]["total_cores"],
                     "loihi1_uj_per_frame": e["loihi1"]["per_frame_uj"],
                     "ann_45nm_uj_per_frame": e["ann_45nm"]["per_frame_uj"],
                     "ann_45nm_memory_uj_per_frame": e.get("ann_45nm_memory", {}).get("per_frame_uj"),
                     # student (Loihi 1) / teacher, like for like when the teacher's memory access was billed
                     "headline": _energy_headline(hw.get("headline")),
                     "steps_per_frame": lat["steps"], "frame_latency_us": lat["frame_latency_us"],
                     "mode": hw.get("mode"), "chip_mode": hw.get("chip_mode"), "modes": modes},
        "frontier": {"points": frontier_points(hw, tracking, outputs, run_dir)},
        "seconds": {name: stamp.get("seconds") for name, stamp in stamps.items()},
        "cpu_seconds": {name: stamp.get("cpu_seconds") for name, stamp in stamps.items()},
    }
