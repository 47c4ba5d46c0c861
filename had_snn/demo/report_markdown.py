"""Write the demo's ``report.md`` (markdown sections) from the step outputs and :mod:`had_snn.demo.summary`.

Everything the report shows is read from files the steps wrote (``results.json``, ``metrics.json``,
``quantization.json``, the hardware ``report.json``, OTB box files); links are relative to the report, so a run
folder can be moved. Its plots are made by :mod:`had_snn.demo.report_plots`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from had_snn.demo.report_plots import plot_attribute_bars, plot_compact_frontier, plot_examples, plot_training_curves
from had_snn.demo.summary import (
    SUMMARY_NAME,
    TRACKER_LABELS,
    TRAINED,
    demo_summary,
    had_vs_no_kd_text,
    read_step_json,
)
from had_snn.util.atomic import write_json_atomic, write_text_atomic

REPORT_NAME = "report.md"


def _link(target: Path, report_dir: Path) -> str:
    return Path(os.path.relpath(target, report_dir)).as_posix()


def _image(target: Path, report_dir: Path, alt: str) -> str:
    return f"![{alt}]({_link(target, report_dir)})"


def _jitter_cells(j: dict | None) -> str:
    """``median step px | reversals %`` cells of a jitter dict (``-`` where it has no figure)."""
    if not j:
        return "- | -"
    step = "-" if j["median_step_px"] is None else f"{j['median_step_px']:.2f}"
    rev = "-" if j["reversal_rate"] is None else f"{100 * j['reversal_rate']:.0f}"
    return f"{step} | {rev}"


def _realtime_cells(r: dict | None) -> str:
    """``real-time SR % | latency ms`` cells of a tracker's real-time block (``-`` where it has none)."""
    if not r or r.get("SR_AUC") is None:
        return "- | -"
    return f"{100 * r['SR_AUC']:.1f} | {r['latency_us'] / 1000:.3g}"


def _tracking_table(results: dict, subset: str = "all") -> list[str]:
    lines = ["| Tracker | SR (AUC) % | PR@20 % | NPR@0.2 % | FPS | step px | reversals % | real-time SR % | "
             "latency ms |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, t in results["trackers"].items():
        s = t["subsets"][subset]
        fps = f"{t['fps']:.1f}" if t["fps"] is not None and np.isfinite(t["fps"]) else "-"
        lines.append(f"| {TRACKER_LABELS.get(name, name)} | {100 * s['SR_AUC']:.1f} | {100 * s['PR20']:.1f} | "
                     f"{100 * s['NPR0.2']:.1f} | {fps} | {_jitter_cells(t.get('jitter'))} | "
                     f"{_realtime_cells(t.get('realtime'))} |")
    if "ground_truth_jitter" in results:
        lines.append(f"| ground truth | | | | | {_jitter_cells(results['ground_truth_jitter'])} | | |")
    return lines


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
    lines += ["", "| Estimate per frame | energy (uJ) | power at "
              f"{hw['fps']:g} fps (mW) |", "|---|---:|---:|",
              f"| SNN on Loihi 1 (per-op figures) | {e['loihi1']['per_frame_uj']:.4g} | "
              f"{e['loihi1']['per_second_mw']:.4g} |",
              f"| SNN, 45 nm AC model | {e['snn_45nm']['per_frame_uj']:.4g} | {e['snn_45nm']['per_second_mw']:.4g} |",
              f"| ANN teacher, 45 nm MAC model (search path) | {e['ann_45nm']['per_frame_uj']:.4g} | "
              f"{e['ann_45nm']['per_second_mw']:.4g} |"]
    if "ann_45nm_memory" in e:
        lines.append(f"| ANN teacher, 45 nm MACs + memory access | {e['ann_45nm_memory']['per_frame_uj']:.4g} | "
                     f"{e['ann_45nm_memory']['per_second_mw']:.4g} |")
    lines.append("")
    head = hw.get("headline")
    if head is not None:
        h = head["loihi1"]
        lines.append(f"Headline, {h['label']} ({head['mode']} mode): **{h['ratio']:.3g}x** "
                     f"({'like for like' if h['like_for_like'] else 'not like for like'}; this project's goal <= "
                     f"{h['target']:g}x).")
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

    results = read_step_json(p(outputs["eval"]["results"]))
    quant = read_step_json(p(outputs["convert"]["quantization"]))
    hw = read_step_json(p(outputs["hardware"]["report"]))
    lava = outputs["lava"]
    histories = {n: read_step_json(p(outputs[n]["metrics"])) for n in TRAINED}
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
              "target's own motion. Real-time SR scores each box against the ground truth at the time it exists: "
              "the end of its event window plus the tracker's latency (for the fixed-point student the Loihi 1 "
              "model: reset mode runs T + L steps at chip speed after the window, stream mode waits for the events "
              "of each step, so its read-out comes L paced steps later; for the float trackers the time per frame "
              "measured on this machine).",
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
