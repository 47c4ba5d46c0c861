"""The hardware report (:func:`had_snn.hardware.report.build_report`'s dict) as markdown."""

from __future__ import annotations

from typing import Any

from had_snn.hardware.report import RATIO_LABELS, _fmt


def _steps_sentence(counts: dict[str, Any]) -> str:
    """'14 steps (8 input + 6 pipeline fill)', '8 steps (8 input, streaming: no flush)' or, when the counts do not say,
    '14 counted steps'."""
    if counts.get("mode") == "stream":
        return f"{counts['steps']} steps ({counts['input_steps']} input, streaming: no reset, no flush)"
    if counts.get("input_steps") is None:
        return f"{counts['steps']} counted steps"
    return f"{counts['steps']} steps ({counts['input_steps']} input + {counts['fill_steps']} pipeline fill)"


def _latency_steps_sentence(lat: dict[str, Any]) -> str:
    """The steps the frame latency spans: input + fill when the input steps are known."""
    if lat.get("input_steps") is None:
        return f"{lat['latency_steps']} counted steps"
    return f"{lat['latency_steps']} steps ({lat['input_steps']} input + {lat['pipeline_fill_steps']} pipeline fill)"


def _fill_sentence(lat: dict[str, Any]) -> str:
    """What the billing says about the pipeline fill, true for every kind of counts file."""
    fill = lat["pipeline_fill_steps"]
    head = f"pipeline fill: the read-out trails the input by {fill} steps (one per synaptic layer)"
    if lat.get("mode") == "stream":
        return (head + "; in streaming mode those steps are the next frame's input steps, so a frame bills only its "
                f"{lat['steps']} input steps and a new frame starts every {lat['period_steps']} steps")
    included = lat.get("fill_included")
    if included is None:
        return (head + "; the counts file does not say how many counted steps carried input (no 'input_steps'), so "
                "whether the fill is included above is unknown (`had-snn deploy` counts input + fill and says so)")
    if included:
        return head + "; included in the steps above and billed (each frame runs from the zero state)"
    counted = lat["steps"] - lat["input_steps"]
    return (head + f"; only {counted} fill step(s) were counted, so the energy leaves out the operations of "
            f"{fill - counted} step(s) the read-out needs")


def _modes_table(report: dict[str, Any]) -> list[str]:
    """Reset and streaming mode side by side, and which one the chip would run."""
    modes = report["modes"]
    fps = report["fps"]
    head = "| per frame | " + " | ".join(f"{m} mode" for m in modes) + " |"
    rows = [head, "|---|" + "---:|" * len(modes)]

    def row(label: str, fn) -> None:
        rows.append(f"| {label} | " + " | ".join(fn(b) for b in modes.values()) + " |")

    row("steps billed (= frame period)", lambda b: str(b["latency"]["period_steps"]))
    row("Loihi 1 energy (uJ)", lambda b: _fmt(b["energy"]["loihi1"]["per_frame_uj"]))
    row("45 nm ACs, SNN (uJ)", lambda b: _fmt(b["energy"]["snn_45nm"]["per_frame_uj"]))
    first = next(iter(modes.values()))["energy"]
    for key, label in (("ann_45nm", "teacher, 45 nm MACs compute only (uJ)"),
                       ("ann_45nm_memory", "teacher, 45 nm MACs + memory access (uJ)")):
        if key in first:
            row(label, lambda b, key=key: _fmt(b["energy"][key]["per_frame_uj"]))
    if "ann_45nm_memory" in first:
        row("student Loihi 1 / teacher MACs + memory (like for like)",
            lambda b: f"{b['energy']['ratios'].get('loihi1_over_ann_45nm_memory', 0):.3g}x")
    if "ann_45nm" in first:
        row("student Loihi 1 / teacher compute-only MACs (not like for like)",
            lambda b: f"{b['energy']['ratios'].get('loihi1_over_ann_45nm', 0):.3g}x")
    row("time per step (ns)", lambda b: _fmt(b["latency"]["step_ns"]))
    row("frame latency (us, steps)", lambda b: f"{_fmt(b['latency']['frame_latency_us'])} "
        f"({b['latency']['latency_steps']})")
    row("throughput (frames/s)", lambda b: _fmt(b["latency"]["throughput_fps"]))
    row(f"sustains {fps:g} frames/s", lambda b: "yes" if b["latency"]["sustains_fps"] else "NO")
    lines = rows + ["", f"The chip would run **{report['chip_mode']}** mode: it runs continuously and has no free "
                    "reset of every neuron between frames, which reset mode (each frame from the zero state, plus L "
                    "flush steps) assumes."]
    for m in report.get("modes_not_counted", []):
        lines.append(f"\n{m} mode: not counted (give its counts file too, e.g. `had-snn deploy --mode {m}` writes "
                     "one), so not shown.")
    return lines


def _mode_markdown(mode: str, block: dict[str, Any], fps: float, precision: str) -> list[str]:
    """Activity, energy per layer and latency of one mode."""
    counts, e, lat = block["counts"], block["energy"], block["latency"]
    lines = ["", f"## Activity per frame ({mode} mode)", "", _steps_sentence(counts) + ".", "",
             "| layer | in spikes | synops | neuron updates | out spikes | firing rate |",
             "|---|---|---|---|---|---|"]
    for c in counts["layers"]:
        lines.append(f"| {c['name']} | {_fmt(c['in_spikes'])} | {_fmt(c['synops'])} | {_fmt(c['neuron_updates'])} "
                     f"| {_fmt(c['out_spikes'])} | {c['firing_rate']:.4f} |")
    lines += ["", f"## Energy ({mode} mode; per frame, per second at {fps:g} frames/s; 45 nm model at {precision})",
              "",
              "| model | energy per frame (uJ) | power at fps (mW) |", "|---|---|---|"]
    models = (("loihi1", "Loihi 1 (SNN)"), ("snn_45nm", "45 nm ACs (SNN)"),
              ("ann_45nm", "45 nm MACs, compute only (ANN)"), ("ann_45nm_memory", "45 nm MACs + memory access (ANN)"))
    for key, label in models:
        if key in e:
            lines.append(f"| {label} | {_fmt(e[key]['per_frame_uj'])} | {_fmt(e[key]['per_second_mw'])} |")
    for k, v in e["ratios"].items():
        lines.append(f"\n{RATIO_LABELS[k]}: **{v:.3g}x**")
    lines += ["", "| layer | synaptic (pJ) | neuron (pJ) | routing (pJ) | Loihi 1 total (pJ) | 45 nm AC (pJ) |",
              "|---|---|---|---|---|---|"]
    for r, s in zip(e["loihi1"]["layers"], e["snn_45nm"]["layers"], strict=True):
        lines.append(f"| {r['name']} | {_fmt(r['synaptic_pj'])} | {_fmt(r['neuron_pj'])} | {_fmt(r['routing_pj'])} "
                     f"| {_fmt(r['total_pj'])} | {_fmt(s['total_pj'])} |")
    lines += ["", f"## Latency (Loihi 1, {mode} mode)", "",
              f"- time per step: {_fmt(lat['step_ns'])} ns = barrier {_fmt(lat['barrier_ns'])} ns + busiest core "
              f"{_fmt(lat['compute_ns'])} ns (layer {lat['bottleneck_layer']}; all cores run in parallel, each "
              "core processes its ops sequentially)",
              f"- latency per frame (first input step to last read-out step): {_latency_steps_sentence(lat)} x "
              f"{_fmt(lat['step_ns'])} ns = {_fmt(lat['frame_latency_us'])} us",
              f"- throughput: one frame per {lat['period_steps']} steps = {_fmt(lat['throughput_fps'])} frames/s "
              f"({'sustains' if lat['sustains_fps'] else 'does NOT sustain'} {fps:g} frames/s)",
              f"- {_fill_sentence(lat)}"]
    return lines


_LEVEL_NAMES = {"sram_8kb_64bit_pj": "SRAM 8 KB", "sram_32kb_64bit_pj": "SRAM 32 KB", "sram_1mb_64bit_pj": "SRAM 1 MB",
                "dram_64bit_pj": "DRAM"}


def _teacher_markdown(report: dict[str, Any]) -> list[str]:
    """Headline ratio, the like-for-like table, the explaining paragraph, the Loihi 2 statement and the teacher's
    energy per layer (compute and memory)."""
    e, head = report["energy"], report.get("headline")
    lines = ["", f"## Student vs teacher ({report['mode']} mode)", ""]
    if head is None:
        return lines + ["No teacher given (`--teacher`, `--teacher-traffic` or `--teacher-macs`): no comparison.", "",
                        report["loihi2_energy"]["statement"]]
    for model in ("loihi1", "snn_45nm"):
        h = head[model]
        status = "meets it" if h["meets_target"] else f"{h['factor_to_target']:.3g}x above it"
        like = "like for like" if h["like_for_like"] else "not like for like: the teacher's memory access is not billed"
        lines.append(f"- Headline, {h['label']}: {_fmt(h['student_uj'])} uJ / {_fmt(h['teacher_uj'])} uJ = "
                     f"**{h['ratio']:.3g}x** ({like}; this project's goal <= {h['target']:g}x: {status})")
    lines += ["", "| student | teacher | student (uJ) | teacher (uJ) | student / teacher | like for like? | why |",
              "|---|---|---:|---:|---:|---|---|"]
    for c in report["comparisons"]:
        lines.append(f"| {c['student']} | {c['teacher']} | {_fmt(c['student_uj'])} | {_fmt(c['teacher_uj'])} | "
                     f"{c['student_over_teacher']:.3g}x | {'**yes**' if c['like_for_like'] else 'no'} | {c['why']} |")
    if "ann_45nm_memory" not in e:
        lines.append("\nTeacher with memory access not billed (give `--teacher` or `--teacher-traffic`): the "
                     "like-for-like Loihi 1 comparison is missing.")
    lines += ["", report["loihi2_energy"]["statement"], "", report["explanation"]["text"]]
    if "ann_45nm_memory" in e:
        m = e["ann_45nm_memory"]
        lines += ["", f"Teacher on the 45 nm model, per frame: {_fmt(m['compute_uj'])} uJ of MACs + "
                  f"{_fmt(m['memory_uj'])} uJ of memory access = {_fmt(m['per_frame_uj'])} uJ (32-bit values, "
                  "64-bit accesses, each tensor in the smallest memory holding it).", "",
                  "| layer | MACs | MAC (pJ) | weights read (values, memory) | activations read | activations written "
                  "| memory (pJ) | total (pJ) |", "|---|---:|---:|---|---|---|---:|---:|"]
        for r in m["layers"]:
            lines.append(
                f"| {r['name']} | {r['macs']} | {_fmt(r['mac_pj'])} | {r['weight_values']}, "
                f"{_LEVEL_NAMES[r['weight_level']]} | {r['act_read_values']}, {_LEVEL_NAMES[r['act_read_level']]} | "
                f"{r['act_write_values']}, {_LEVEL_NAMES[r['act_write_level']]} | {_fmt(r['memory_pj'])} | "
                f"{_fmt(r['total_pj'])} |")
    return lines


def markdown(report: dict[str, Any]) -> str:
    """Render the report dict as markdown."""
    lines = [f"# Hardware report: {report['network'] or 'network'}", "", f"Hardware table: `{report['table']}`", ""]
    lines += ["## Layers", "",
              "| layer | kind | in (C,H,W) | out (C,H,W) | fan-in | fan-out | synapses | weight bits |",
              "|---|---|---|---|---|---|---|---|"]
    for g in report["layers"]:
        lines.append(f"| {g['name']} | {g['kind']} | {tuple(g['in_shape'])} | {tuple(g['out_shape'])} | {g['fan_in']} "
                     f"| {g['fan_out']} | {g['n_synapses']} | {g['weight_bits']} |")
    for chip, m in report["mapping"].items():
        lines += ["", f"## Core map: {chip}", "",
                  f"**{m['total_cores']} cores, {m['chips']} chip(s), {m['tiles']} tile(s)** "
                  f"({m['cores_per_chip']} cores per chip)."]
        if m["unchecked_limits"]:
            lines.append(f"Not checked (unpublished): {', '.join(m['unchecked_limits'])}.")
        lines += ["", "| layer | cores | neurons/core | limiting resource | usage of fullest core |",
                  "|---|---|---|---|---|"]
        for lm in m["layers"]:
            usage = ", ".join(f"{k} {v:.0%}" for k, v in lm["usage"].items())
            limiting = "none (whole layer fits one core)" if lm["limiting"] == "layer_size" else lm["limiting"]
            lines.append(f"| {lm['name']} | {lm['cores']} | {lm['neurons_per_core']} | {limiting} | {usage} |")
    e = report["energy"]
    if report["modes"]:
        lines += ["", "## Reset vs streaming mode", ""] + _modes_table(report)
        lines += _teacher_markdown(report)
        for mode, block in report["modes"].items():
            lines += _mode_markdown(mode, block, report["fps"], report.get("precision", "fp32"))
    else:
        lines += ["", "## Energy and latency", "", "No operation counts given (`--counts`): Loihi energy and latency "
                  "were not estimated."]
        if "ann_45nm" in e:
            lines.append(f"\nTeacher (45 nm MACs): {_fmt(e['ann_45nm']['per_frame_uj'])} uJ per frame.")
        if "ann_45nm_memory" in e:
            lines.append(f"Teacher (45 nm MACs + memory access): {_fmt(e['ann_45nm_memory']['per_frame_uj'])} uJ per "
                         "frame.")
        lines += ["", report["loihi2_energy"]["statement"]]
    lines += ["", "## Assumptions", ""] + [f"- {a}" for a in report["assumptions"]]
    lines += ["", "## Figures used and their sources", "", "| figure | value | source | note |", "|---|---|---|---|"]
    for c in report["citations"]:
        value = "not published" if c["value"] is None else f"{c['value']:g} {c['unit']}"
        note = ("**uncertain**: " if c["uncertain"] else "") + c["note"]
        lines.append(f"| {c['key']} | {value} | {c['source']} | {note} |")
    sources = {c["source"]: c["citation"] for c in report["citations"]}
    lines += [""] + [f"- **{k}**: {v}" for k, v in sources.items()]
    return "\n".join(lines) + "\n"
