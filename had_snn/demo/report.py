"""Assemble the demo's ``report.md`` from the outputs of the pipeline steps, plus the demo-only plots.

Everything the report shows is read from files the steps wrote (``results.json``, ``metrics.json``,
``quantization.json``, the hardware ``report.json``, OTB box files); links are relative to the report, so a run
folder can be moved. Plots made here: training curves, per-attribute success bars and example frames with the
predicted and ground-truth boxes beside the event frames.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from had_snn.data.plots import plot_frame_and_events
from had_snn.evaluation.metrics import HEADLINE_METRICS
from had_snn.util.atomic import save_figure, write_json_atomic, write_text_atomic

REPORT_NAME = "report.md"
SUMMARY_NAME = "report.json"
SUMMARY_FORMAT = 2
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


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"report input {path} is missing; re-run the demo step that writes it") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from None


def _link(target: Path, report_dir: Path) -> str:
    return Path(os.path.relpath(target, report_dir)).as_posix()


def _image(target: Path, report_dir: Path, alt: str) -> str:
    return f"![{alt}]({_link(target, report_dir)})"


def plot_training_curves(histories: Mapping[str, list[dict]], path: Path) -> Path:
    """Loss and IoU per epoch of every trained tracker."""
    fig = Figure(figsize=(9.0, 3.4), layout="constrained")
    ax_loss, ax_iou = fig.subplots(1, 2)
    for name, rows in histories.items():
        epochs = [r["epoch"] for r in rows]
        ax_loss.plot(epochs, [r["loss"] for r in rows], marker="o", label=name)
        ax_iou.plot(epochs, [r["iou"] for r in rows], marker="o", label=name)
    ax_loss.set(xlabel="epoch", ylabel="training loss (incl. distillation terms)", title="loss")
    ax_iou.set(xlabel="epoch", ylabel="IoU of the decoded box", title="training IoU", ylim=(0, 1))
    for ax in (ax_loss, ax_iou):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return save_figure(fig, path)


def plot_attribute_bars(results: dict, path: Path) -> Path:
    """Success AUC per attribute subset (grouped bars, one per tracker)."""
    trackers = list(results["trackers"])
    subsets = list(dict.fromkeys(k for t in results["trackers"].values() for k in t["subsets"]))
    fig = Figure(figsize=(max(6.0, 1.3 * len(subsets)), 3.8), layout="constrained")
    ax = fig.subplots()
    width = 0.8 / len(trackers)
    x = np.arange(len(subsets))
    for i, name in enumerate(trackers):
        subs = results["trackers"][name]["subsets"]
        vals = [100 * subs[s]["SR_AUC"] if s in subs else np.nan for s in subsets]
        ax.bar(x + (i - (len(trackers) - 1) / 2) * width, vals, width, label=name)
    counts = [next(t["subsets"][s]["num_sequences"] for t in results["trackers"].values() if s in t["subsets"])
              for s in subsets]
    ax.set_xticks(x, [f"{s}\n({n} seq)" for s, n in zip(subsets, counts, strict=True)], fontsize=8)
    ax.set(ylabel="success AUC (%)", ylim=(0, 100), title=f"Success per attribute, split '{results['split']}'")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    return save_figure(fig, path)


def plot_examples(sequences: list, boxes: Mapping[str, np.ndarray], tracker: str, out_dir: Path, count: int
                  ) -> list[Path]:
    """One figure per sequence (up to ``count``, preferring different primary attributes): the middle frame with
    ``tracker``'s box and the GT box beside the event frame."""
    chosen, seen = [], set()
    for seq in sequences:
        key = seq.attributes[:1]
        if key not in seen:
            chosen.append(seq)
            seen.add(key)
    chosen += [s for s in sequences if s not in chosen]
    paths = []
    for seq in chosen[:count]:
        k = seq.num_frames // 2
        fig = plot_frame_and_events(seq, k, pred_box=boxes[seq.name][k])
        fig.axes[0].set_title(f"{seq.name} frame {k}: {tracker} (red, dashed) vs GT (green)", fontsize=9)
        paths.append(save_figure(fig, out_dir / f"example_{seq.name}.png"))
    return paths


def _jitter_cells(j: dict | None) -> str:
    """``median step px | reversals %`` cells of a jitter dict (``-`` where it has no figure)."""
    if not j:
        return "- | -"
    step = "-" if j["median_step_px"] is None else f"{j['median_step_px']:.2f}"
    rev = "-" if j["reversal_rate"] is None else f"{100 * j['reversal_rate']:.0f}"
    return f"{step} | {rev}"


def _tracking_table(results: dict, subset: str = "all") -> list[str]:
    lines = ["| Tracker | SR (AUC) % | PR@20 % | NPR@0.2 % | FPS | step px | reversals % |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for name, t in results["trackers"].items():
        s = t["subsets"][subset]
        fps = f"{t['fps']:.1f}" if t["fps"] is not None and np.isfinite(t["fps"]) else "-"
        lines.append(f"| {TRACKER_LABELS.get(name, name)} | {100 * s['SR_AUC']:.1f} | {100 * s['PR20']:.1f} | "
                     f"{100 * s['NPR0.2']:.1f} | {fps} | {_jitter_cells(t.get('jitter'))} |")
    if "ground_truth_jitter" in results:
        lines.append(f"| ground truth | | | | | {_jitter_cells(results['ground_truth_jitter'])} |")
    return lines


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


def _had_vs_no_kd_section(cmp: dict[str, Any]) -> list[str]:
    lines = ["### HAD vs no KD (paired)", "", had_vs_no_kd_text(cmp), ""]
    if cmp.get("status") != "ok":
        return lines
    lines += ["Per subset (SR %, difference in points with its 95 % interval over the subset's sequences; one seed, "
              "so it says nothing about training-seed variation: `experiments/had_table.py` runs 3):", "",
              "| subset | sequences | HAD | no KD | HAD - no KD [95 % CI] |", "|---|---:|---:|---:|---:|"]
    for s, e in cmp["subsets"].items():
        ci = "" if e["lo"] is None else f" [{e['lo']:+.1f}, {e['hi']:+.1f}]"
        lines.append(f"| {s} | {e['n_sequences']} | {e['had']:.1f} | {e['no_kd']:.1f} | {e['diff']:+.1f}{ci} |")
    return lines + [""]


def _timing_table(run_dir: Path, steps: list[str]) -> list[str]:
    """Wall and CPU time of each step when it was computed (from its stamp; cached steps keep their numbers)."""
    from had_snn.demo.pipeline import read_stamp

    lines = ["| Step | wall time (s) | CPU time (s, all threads) |", "|---|---:|---:|"]
    wall = cpu = 0.0
    for name in steps:
        stamp = read_stamp(run_dir / name)
        if stamp is None:
            raise FileNotFoundError(f"{run_dir / name}: no stamp.json; the step has not finished")
        step_cpu = stamp.get("cpu_seconds")
        wall, cpu = wall + stamp["seconds"], cpu + (step_cpu or 0.0)
        lines.append(f"| {name} | {stamp['seconds']:.0f} | {'-' if step_cpu is None else f'{step_cpu:.0f}'} |")
    lines.append(f"| **total** | **{wall:.0f}** | **{cpu:.0f}** |")
    return lines


def _quant_table(quant: dict) -> list[str]:
    lines = ["| Layer | scale k | limited by | clipped weights | weight rel. error | vth mant | iDecay | vDecay |",
             "|---|---:|---|---:|---:|---:|---:|---:|"]
    for r in quant["layers"]:
        lines.append(f"| {r['name']} | {r['scale']:.3g} | {r['limited_by']} | {r['clipped_weights']} | "
                     f"{r['weight_rel_error']:.4f} | {r['vth_mant']} | {r['i_decay']} | {r['v_decay']} |")
    return lines


def _lava_section(lava: dict) -> list[str]:
    if lava["status"] == "skipped":
        return [f"Lava check **skipped**: {lava['reason']}", ""]
    verdict = "bit-exact: identical spikes at every layer and step and identical read-out voltages" \
        if lava["status"] == "identical" else "**NOT identical** (see the mismatch counts)"
    lines = [f"Lava `Loihi2SimCfg(select_tag='fixed_pt')` vs the emulator on {len(lava['frames'])} search windows of "
             f"`{lava['sequence']}` (frames {lava['frames']}), {lava['steps']} steps each: {verdict}. "
             f"The Lava run took {lava.get('lava_wall_s', lava.get('lava_run_s', float('nan'))):.1f} s of wall "
             "time (process start, graph build, compile and run).", "",
             "| Layer | spikes (emulator) | mismatching spikes |", "|---|---:|---:|"]
    lines += [f"| {r['name']} | {r['spikes']} | {r['mismatches']} |" for r in lava["layers"]]
    lines += [f"| read-out v | - | {lava['v_out_mismatches']} |", ""]
    stream = lava.get("modes", {}).get("stream")
    if stream is not None:
        ok = "bit-exact" if stream["status"] == "identical" else "**NOT identical**"
        bad = sum(r["mismatches"] for r in stream["layers"]) + stream["v_out_mismatches"]
        lines += [f"Streaming mode: the same windows one after another in one continuous run (no reset, no flush "
                  f"between frames; {stream['steps']} steps in all): {ok} ({bad} mismatching values over every layer "
                  "and the read-out).", ""]
    return lines


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


def _fidelity_section(loihi: dict) -> list[str]:
    """The 1-point goal table and the per-layer spike agreement."""
    def sr(v: float | None) -> str:
        return "-" if v is None else f"{v:.1f}"

    lines = [f"### Float vs fixed point: this project's {loihi['sr_target_points']:g}-point goal", "",
             "| model | SR % | fixed - float (SR points) | within the goal |", "|---|---:|---:|---|",
             f"| HAD student before QAT (float) | {sr(loihi['float_sr_before_qat'])} | | |",
             f"| HAD + QAT student (float): **the model the Loihi network is converted from** | "
             f"{sr(loihi['float_sr'])} | | |"]
    for mode, label in (("reset", "reset per frame"), ("stream", "streaming")):
        d = loihi["fixed_minus_float_sr"][mode]
        lines.append(f"| Loihi fixed point, emulator, {label} | {sr(loihi['fixed_sr'][mode])} | "
                     f"{'-' if d is None else f'{d:+.1f}'} | {'yes' if loihi['within_target'][mode] else '**no**'} |")
    lag = loihi["stream_crop_lag_frames"]
    lines += ["", "In streaming mode the chip runs without reset or flush steps, so a frame's read-out completes L "
              "steps after its last input step, while the next frame already runs: the crop of frame j is centred "
              f"on the box of frame j - {lag if lag is not None else '?'} (1 in reset mode).", ""]
    if loihi["spike_agreement"]:
        target = loihi["spike_agreement_target"]
        lines += [f"Per-layer spike agreement, float (QAT student) vs fixed point on the compared windows (this "
                  f"project's goal >= {target:g}):", "", "| layer | agreement | >= goal |", "|---|---:|---|"]
        lines += [f"| {n} | {a:.4f} | {'yes' if a >= target else '**no**'} |"
                  for n, a in loihi["spike_agreement"].items()]
        lines.append("")
    return lines


def _hardware_section(hw: dict, d: Path, report_dir: Path) -> list[str]:
    e, lat = hw["energy"], hw["latency"]
    lines = ["| Chip | cores | chips |", "|---|---:|---:|"]
    lines += [f"| {chip} | {m['total_cores']} | {m['chips']} |" for chip, m in hw["mapping"].items()]
    ratio = e["ratios"].get("ann_45nm_over_loihi1")
    lines += ["", "| Estimate per frame | energy (uJ) | power at "
              f"{hw['fps']:g} fps (mW) |", "|---|---:|---:|",
              f"| SNN on Loihi 1 (per-op figures) | {e['loihi1']['per_frame_uj']:.4g} | "
              f"{e['loihi1']['per_second_mw']:.4g} |",
              f"| SNN, 45 nm AC model | {e['snn_45nm']['per_frame_uj']:.4g} | {e['snn_45nm']['per_second_mw']:.4g} |",
              f"| ANN teacher, 45 nm MAC model (search path) | {e['ann_45nm']['per_frame_uj']:.4g} | "
              f"{e['ann_45nm']['per_second_mw']:.4g} |", ""]
    if ratio is not None:
        lines.append(f"Teacher (45 nm) / student (Loihi 1) energy per frame: **{ratio:.3g}x**.")
    modes = hw.get("modes", {})
    if modes:
        lines += ["", "| Loihi 1, per frame | " + " | ".join(f"{m} mode" for m in modes) + " |",
                  "|---|" + "---:|" * len(modes),
                  "| steps billed (= frame period) | " + " | ".join(str(b["latency"]["period_steps"])
                                                                   for b in modes.values()) + " |",
                  "| energy (uJ) | " + " | ".join(f"{b['energy']['loihi1']['per_frame_uj']:.4g}"
                                                  for b in modes.values()) + " |",
                  "| latency, first input to last read-out step (us) | " + " | ".join(
                      f"{b['latency']['frame_latency_us']:.4g} ({b['latency']['latency_steps']} steps)"
                      for b in modes.values()) + " |",
                  "| throughput (frames/s) | " + " | ".join(f"{b['latency']['throughput_fps']:.4g}"
                                                            for b in modes.values()) + " |", "",
                  f"The chip would run **{hw['chip_mode']}** mode (continuously, without resetting every neuron "
                  f"between frames); the figures above the table are for {hw['mode']} mode.", ""]
    lines += [f"Latency on Loihi 1 ({hw.get('mode') or 'reset'} mode): {lat['frame_latency_us']:.4g} us per frame "
              f"({lat.get('latency_steps', lat['steps'])} steps of {lat['step_ns']:.4g} ns, bottleneck "
              f"`{lat['bottleneck_layer']}`), throughput {lat['throughput_fps']:.4g} fps.", "",
              f"Full hardware report with assumptions and citations: [{_link(d / 'report.md', report_dir)}]"
              f"({_link(d / 'report.md', report_dir)}).", ""]
    for png, alt in (("energy_per_layer.png", "energy per layer"), ("firing_rates.png", "firing rates"),
                     ("core_map.png", "core map")):
        lines += [_image(d / png, report_dir, alt), ""]
    return lines


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
        res = _read_json(run_dir / outputs["frontier"]["result"])
        label = f"QAT student + activity (weight {outputs['frontier']['activity_weight']:g})"
        for mode, e in res["energy"].items():
            points.append({"student": label, "mode": mode, "sr": res["sr"][f"fixed_{mode}"],
                           "loihi1_uj": e["loihi1_uj"], "snn_45nm_uj": e["snn_45nm_uj"]})
    return points


def plot_compact_frontier(points: list[dict], teacher: dict, path: Path) -> Path:
    """SR vs uJ per frame (log x) of the compact frontier's points on both energy models, teacher lines."""
    fig = Figure(figsize=(7, 4.2))
    ax = fig.subplots()
    for key, label, marker in (("loihi1_uj", "Loihi 1", "o"), ("snn_45nm_uj", "45 nm AC", "^")):
        for p in points:
            if p["sr"] is None:
                continue
            ax.scatter(p[key], p["sr"], marker=marker, color="C1" if "activity" in p["student"] else "C0",
                       facecolors="none" if p["mode"] == "reset" else None)
            ax.annotate(f"{label}, {p['mode']}", (p[key], p["sr"]), fontsize=6, xytext=(3, 3),
                        textcoords="offset points")
    ax.axvline(teacher["ann_45nm"], color="k", ls="--", label="teacher, 45 nm MAC (compute only)")
    if teacher.get("ann_45nm_memory"):
        ax.axvline(teacher["ann_45nm_memory"], color="r", ls="--", label="teacher, 45 nm MAC + memory")
    ax.scatter([], [], color="C0", label="QAT student")
    if any("activity" in p["student"] for p in points):
        ax.scatter([], [], color="C1", label="QAT student + activity")
    ax.set_xscale("log")
    ax.set_xlabel("energy per frame (uJ, log); hollow: reset mode, filled: stream")
    ax.set_ylabel("SR (AUC, %), fixed point")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return save_figure(fig, path)


def _frontier_section(points: list[dict], teacher: dict, png: Path, report_dir: Path) -> list[str]:
    mem = (f"; with memory access {teacher['ann_45nm_memory']:.1f} uJ" if teacher.get("ann_45nm_memory") else "")
    lines = ["### Accuracy-energy frontier (compact)", "",
             f"Teacher reference: 45 nm MACs (compute only) {teacher['ann_45nm']:.1f} uJ per frame{mem}. The full "
             "frontier (more strengths, fewer steps, a narrower first stage) is `python experiments/"
             "energy_frontier.py --demo-run RUN` (docs/energy_frontier.md).", "",
             "| student | mode | SR fixed point | Loihi 1 uJ/frame | 45 nm AC uJ/frame | Loihi 1 / teacher MAC | "
             "45 nm AC / teacher MAC |", "|---|---|---:|---:|---:|---:|---:|"]
    for p in points:
        sr = "-" if p["sr"] is None else f"{p['sr']:.1f}"
        lines.append(f"| {p['student']} | {p['mode']} | {sr} | {p['loihi1_uj']:.2f} | {p['snn_45nm_uj']:.3f} | "
                     f"{p['loihi1_uj'] / teacher['ann_45nm']:.3f} | "
                     f"{p['snn_45nm_uj'] / teacher['ann_45nm']:.4f} |")
    lines += ["", "This project's goals (streaming; not field standards): Loihi 1 <= 0.1 and 45 nm AC <= 0.01 of the "
              "teacher's compute-only MAC energy, within 2 SR of the unregularised student.", "",
              _image(png, report_dir, "compact frontier"),
              ""]
    return lines


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


def demo_summary(run_dir: Path, outputs: Mapping[str, dict], cfg: dict, device: str) -> dict[str, Any]:
    """The headline figures of a finished run as one JSON-able dict (what ``report.json`` holds; the README's
    results block is rendered from it by :mod:`had_snn.demo.readme`)."""
    import datetime

    from had_snn.demo.pipeline import read_stamp

    results = _read_json(run_dir / outputs["eval"]["results"])
    hw = _read_json(run_dir / outputs["hardware"]["report"])
    lava, e, lat = outputs["lava"], hw["energy"], hw["latency"]
    tracking = {name: {"label": TRACKER_LABELS.get(name, name),
                       **{k: round(100 * t["subsets"]["all"][m], 2)
                          for k, m in HEADLINE_METRICS.items()},
                       "fps": t["fps"] if t["fps"] is not None and np.isfinite(t["fps"]) else None,
                       "jitter": t.get("jitter")}
                for name, t in results["trackers"].items()}
    stamps = {name: read_stamp(run_dir / name) or {} for name in outputs}
    synth = cfg["data"]["synth"]
    config = _config_name(cfg["source"])
    quant = _read_json(run_dir / outputs["convert"]["quantization"])
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
                     "ann_45nm_over_loihi1": e["ratios"].get("ann_45nm_over_loihi1"),
                     "steps_per_frame": lat["steps"], "frame_latency_us": lat["frame_latency_us"],
                     "mode": hw.get("mode"), "chip_mode": hw.get("chip_mode"), "modes": modes},
        "frontier": {"points": frontier_points(hw, tracking, outputs, run_dir)},
        "seconds": {name: stamp.get("seconds") for name, stamp in stamps.items()},
        "cpu_seconds": {name: stamp.get("cpu_seconds") for name, stamp in stamps.items()},
    }


def write_demo_report(run_dir: Path, plot_dir: Path, outputs: Mapping[str, dict], cfg: dict,
                      device: str = "cpu") -> Path:
    """Write ``run_dir/report.md`` (and its plots under ``plot_dir``) and ``run_dir/report.json`` (the headline
    figures with the machine and date, :func:`demo_summary`) from the step outputs; returns the report's path."""
    from had_snn.data.dataset import load_split
    from had_snn.tracking.tracker import read_otb

    run_dir, plot_dir = Path(run_dir), Path(plot_dir)
    plot_dir.mkdir(parents=True, exist_ok=True)

    def p(rel: str) -> Path:
        return run_dir / rel

    results = _read_json(p(outputs["eval"]["results"]))
    quant = _read_json(p(outputs["convert"]["quantization"]))
    hw = _read_json(p(outputs["hardware"]["report"]))
    lava = outputs["lava"]
    histories = {n: _read_json(p(outputs[n]["metrics"])) for n in TRAINED}
    curves = plot_training_curves(histories, plot_dir / "training_curves.png")
    bars = plot_attribute_bars(results, plot_dir / "attributes_success.png")
    split = cfg["eval"]["split"]
    sequences = load_split(p(outputs["data"]["root"]), split, load_frames=True)
    box_dir = p(outputs["eval"]["boxes"]) / "student_had"
    boxes = {s.name: read_otb(box_dir / f"{s.name}.txt") for s in sequences}
    examples = plot_examples(sequences, boxes, "student_had", plot_dir, int(cfg["report"]["example_frames"]))
    eval_plots = p(outputs["eval"]["plots"])

    data = outputs["data"]
    lines = ["# had-snn demo report", "",
             f"Config `{cfg['source']}`, seed {cfg['seed']}. Resolved config: [demo_config.yaml](demo_config.yaml); "
             "every step's inputs, config and outputs are in `<step>/stamp.json`.", "",
             "## Tracking (test split)", ""]
    lines += _tracking_table(results) + [""]
    summary = demo_summary(run_dir, outputs, cfg, device)
    lines += _had_vs_no_kd_section(summary["had_vs_no_kd"])
    silent = outputs["eval"]["silent_templates"]
    if silent:
        lines += [f"The Loihi tracker could not start on {len(silent)} sequence(s) ({', '.join(silent)}): their "
                  "template's stage-3 spikes are all zero, so the correlation kernel is zero and has no fixed-point "
                  "scale; it kept the initial box there (the static baseline's answer).", ""]
    lines += ["SR = success AUC over 21 IoU thresholds, PR = precision at 20 px, NPR = normalised precision at 0.2 "
              "(pytracking definitions). FPS is this machine's tracking speed (CPU, including cropping and binning). "
              "Step px is the median per-frame move of the box centre and reversals the share of consecutive moving "
              "steps that turn back (more than 90 degrees), over all test frames; the ground truth's row is the "
              "target's own motion.",
              "", _image(eval_plots / "success.png", run_dir, "success plot"),
              _image(eval_plots / "precision.png", run_dir, "precision plot"), "",
              "### Per attribute", "", _image(bars, run_dir, "success per attribute"), "",
              (p(outputs["eval"]["table"])).read_text().strip(), "",
              "### Example frames", "",
              "The HAD student's box (red, dashed) and the ground truth (green) on the RGB frame (left) and the event "
              "frame of the interval before it (right; ON red, OFF blue).", ""]
    lines += [_image(e, run_dir, e.stem) + "\n" for e in examples]
    lines += ["## Benchmark", "",
              "| Split | sequences | attributes present |", "|---|---:|---|"]
    lines += [f"| {s} | {n} | {', '.join(data['attributes'][s])} |" for s, n in data["splits"].items()]
    lines += ["", f"Index: [{data['index']}]({data['index']}).", "", "## Training", "",
              "| Tracker | epochs | optimiser steps | final loss | final IoU | training time (s) | checkpoint "
              "| config |", "|---|---:|---:|---:|---:|---:|---|---|"]
    for n in TRAINED:
        o = outputs[n]
        lines.append(f"| {TRACKER_LABELS[n]} | {o['epochs']} | {o['steps']} | {o['final_loss']:.3f} | "
                     f"{o['final_iou']:.3f} | {o['train_seconds']:.0f} | [{o['checkpoint']}]({o['checkpoint']}) | "
                     f"[{o['config']}]({o['config']}) |")
    lines += ["", "The QAT row fine-tunes the HAD student (`init_from` its checkpoint) with `model_config.qat: true`: "
              "BN folded into the convolutions, weights and voltage biases on the chip's integer grid in the forward "
              "pass (straight-through gradients), trained with the chip's timing.", "",
              _image(curves, run_dir, "training curves"), "",
              "## Loihi conversion", "",
              "The HAD + QAT student quantised to Loihi integers (weight percentile "
              f"{quant['weight_percentile']:g}), with "
              f"the correlation kernel of `{quant['template_sequence']}`'s template; during tracking only the "
              f"correlation layer is re-quantised per sequence. netx HDF5: [{outputs['convert']['netx']}]"
              f"({outputs['convert']['netx']}).", ""]
    lines += _quant_table(quant)
    ff = quant["float_vs_fixed"]
    lines += ["", f"Float vs fixed point on frames {quant['compared_frames']}: read-out relative error "
              f"{ff['readout_rel_error']:.4f}, heat-map peak agreement {100 * ff['heatmap_peak_agreement']:.0f} %, "
              f"{ff.get('input_steps', '?')} input steps, then {ff['latency_steps']} zero steps flush the pipeline "
              "(one per synaptic layer).", ""]
    lines += _fidelity_section(summary["loihi"])
    lines += [_image(p(outputs["convert"]["histograms"]), run_dir, "weight histograms"), "",
              "### Lava agreement", ""]
    lines += _lava_section(lava)
    lines += ["## Loihi resources, energy and latency", "",
              "Operation counts come from the emulator while it tracked the test split, per mode: reset bills every "
              "search window's T input + L flush steps from the zero state, streaming the T steps each frame commits "
              "to the continuous run; the teacher's MACs are counted exactly on its search path.", ""]
    lines += _hardware_section(hw, p(outputs["hardware"]["report"]).parent, run_dir)
    teacher = {"ann_45nm": hw["energy"]["ann_45nm"]["per_frame_uj"],
               "ann_45nm_memory": hw["energy"].get("ann_45nm_memory", {}).get("per_frame_uj")}
    if hw.get("modes"):
        png = plot_compact_frontier(summary["frontier"]["points"], teacher, plot_dir / "frontier.png")
        lines += _frontier_section(summary["frontier"]["points"], teacher, png, run_dir)
    lines += ["## Run", "", "Time per step when it was computed (a step reused from the cache keeps its numbers; "
              "wall time depends on what else the machine runs; CPU time is summed over all threads and processes).",
              ""]
    lines += _timing_table(run_dir, list(outputs)) + [""]
    m = summary["machine"]
    lines += [f"Measured on {m['cpu']} ({m['cpu_count']} CPUs, {m['platform']}, Python {m['python']}, torch "
              f"{m['torch']}, device {m['device']}), {summary['date']}. The headline figures are also in "
              f"[{SUMMARY_NAME}]({SUMMARY_NAME}).", ""]
    write_json_atomic(run_dir / SUMMARY_NAME, summary, indent=1)
    return write_text_atomic(run_dir / REPORT_NAME, "\n".join(lines) + "\n")
