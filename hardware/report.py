"""Hardware report: core mapping (Loihi 1 and 2), energy (Loihi 1 and 45 nm) and latency per mode (reset and
streaming side by side, with the mode the chip would run), the student against the teacher (45 nm MACs compute only,
and with memory access: :func:`headline`, :func:`comparisons` saying which pairs are like for like, and the
:func:`explanation` paragraph built from the report's numbers; Loihi 2 energy is not published and not billed),
citations; as JSON, markdown and PNG plots (per-layer energy bars, firing rates, core map). :func:`build_report`
returns a JSON-able dict and :func:`write_report` writes ``report.json``, ``report.md`` and the plots from that dict
alone.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from had_snn.hardware.counts import CHIP_MODE, MODES, FrameCounts, LayerTraffic
from had_snn.hardware.energy import (
    ann_45nm_energy_pj,
    ann_memory_energy_pj,
    loihi1_energy,
    loihi2_energy_published,
    snn_45nm_energy_pj,
)
from had_snn.hardware.latency import loihi1_latency
from had_snn.hardware.resources import LIMIT_KEYS, ChipSpec, LayerGeometry, NetworkMapping, map_network
from had_snn.hardware.table import HardwareTable
from had_snn.util.atomic import save_figure, write_text_atomic

CHIPS = ("loihi1", "loihi2")
LOIHI2_STATEMENT = ("Loihi 2 per-operation energies are not published (Intel reports whole-workload energy only), so "
                    "nothing is billed for Loihi 2; its core map is given for resources only.")
MAX_CHIPS_DRAWN = 8


def _mapping_dict(mapping: NetworkMapping) -> dict[str, Any]:
    chip = mapping.chip
    return {
        "total_cores": mapping.total_cores,
        "chips": mapping.chips,
        "tiles": mapping.tiles,
        "cores_per_chip": chip.cores_per_chip,
        "cores_per_tile": chip.cores_per_tile,
        "mesh_tiles": [chip.mesh_tiles_x, chip.mesh_tiles_y],
        "unchecked_limits": [k for k in LIMIT_KEYS if getattr(chip, k) is None],
        "layers": [asdict(m) for m in mapping.layers],
    }


def _mode_block(geoms: Sequence[LayerGeometry], counts: FrameCounts, mappings: dict[str, NetworkMapping],
                table: HardwareTable, fps: float) -> dict[str, Any]:
    """Counts, energy (Loihi 1, 45 nm ACs) and latency of one mode's counted frames."""
    block: dict[str, Any] = {
        "counts": {
            "mode": counts.mode,
            "steps": counts.steps,
            "input_steps": counts.input_steps,
            "fill_steps": counts.fill_steps,
            "active_known": counts.active_known,
            "layers": [
                {**asdict(c), "firing_rate": c.out_spikes / (g.n_neurons * counts.steps)}
                for g, c in zip(geoms, counts.layers, strict=True)
            ],
        },
        "energy": {},
    }
    loihi = loihi1_energy(geoms, counts, mappings["loihi1"], table)
    snn45 = snn_45nm_energy_pj(counts, table)
    total = sum(r["total_pj"] for r in loihi)
    block["energy"]["loihi1"] = _energy_block([{"name": g.name, **r} for g, r in zip(geoms, loihi, strict=True)],
                                              total, fps)
    block["energy"]["snn_45nm"] = _energy_block(
        [{"name": g.name, "synops": c.synops, "total_pj": e} for g, c, e in zip(geoms, counts.layers, snn45,
                                                                                  strict=True)],
        sum(snn45), fps,
    )
    lat = loihi1_latency(geoms, counts, mappings["loihi1"], table)
    block["latency"] = {
        "chip": "loihi1",
        "mode": lat.mode,
        "steps": lat.steps,
        "latency_steps": lat.latency_steps,
        "period_steps": lat.period_steps,
        "barrier_ns": lat.barrier_ns,
        "compute_ns": lat.compute_ns,
        "step_ns": lat.step_ns,
        "bottleneck_layer": lat.bottleneck_layer,
        "layer_compute_ns": lat.layer_compute_ns,
        "frame_latency_us": lat.frame_latency_us,
        "throughput_fps": lat.throughput_fps,
        "pipeline_fill_steps": lat.pipeline_fill_steps,
        "input_steps": lat.input_steps,
        "fill_included": lat.fill_included,
        "sustains_fps": lat.throughput_fps >= fps,
    }
    return block


#: energy ratios of the report, ``<numerator>_over_<denominator>``: teacher over student (the older ones, > 1 means
#: the student wins) and student over teacher (< 1 means the student wins; the headline direction)
RATIO_PAIRS = (("ann_45nm", "loihi1"), ("ann_45nm", "snn_45nm"), ("ann_45nm_memory", "loihi1"),
               ("loihi1", "ann_45nm"), ("snn_45nm", "ann_45nm"), ("loihi1", "ann_45nm_memory"))


def _ratios(energy: dict[str, Any]) -> dict[str, float]:
    ratios = {}
    for num, den in RATIO_PAIRS:
        if num in energy and den in energy and energy[den]["per_frame_uj"] > 0:
            ratios[f"{num}_over_{den}"] = energy[num]["per_frame_uj"] / energy[den]["per_frame_uj"]
    return ratios


def build_report(
    geoms: Sequence[LayerGeometry],
    table: HardwareTable,
    counts: FrameCounts | Sequence[FrameCounts] | None = None,
    teacher_macs: Sequence[tuple[str, int]] | None = None,
    fps: float = 30.0,
    network: str = "",
    modes: Sequence[str] = MODES,
    teacher_traffic: Sequence[LayerTraffic] | None = None,
) -> dict[str, Any]:
    """Map the network on both chips and, given counts / teacher MACs, estimate energy and latency.

    ``teacher_traffic`` (:func:`had_snn.conversion.macs.teacher_search_traffic`) also bills the teacher with memory
    access (``energy["ann_45nm_memory"]``: MACs + weight and activation traffic); its MACs stand in for
    ``teacher_macs`` when that is not given (given both, they must agree). With a teacher, the report carries the
    headline ratio (``headline``), the like-for-like table (``comparisons``) and the explaining paragraph
    (``explanation``) of :mod:`had_snn.hardware.explain`.

    ``counts``: one mode's counted frames, or one per mode (``reset``, ``stream``; at most one each). ``modes``: the
    modes to report; a requested mode without counts is listed in ``modes_not_counted``. ``report["modes"]`` holds
    counts, energy and latency per reported mode; the top-level ``counts``/``energy``/``latency`` are those of
    ``report["mode"]``: the mode the chip would run (:data:`~had_snn.hardware.counts.CHIP_MODE`) when counted, else
    the one reported."""
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    unknown = [m for m in modes if m not in MODES]
    if unknown or not modes:
        raise ValueError(f"modes must be a non-empty subset of {list(MODES)}, got {list(modes)}")
    given = [] if counts is None else [counts] if isinstance(counts, FrameCounts) else list(counts)
    by_mode: dict[str, FrameCounts] = {}
    for c in given:
        if c.mode in by_mode:
            raise ValueError(f"two counts for mode {c.mode!r}: give at most one per mode")
        by_mode[c.mode] = c
    mappings = {chip: map_network(geoms, ChipSpec.from_table(table, chip)) for chip in CHIPS}
    report: dict[str, Any] = {
        "network": network,
        "table": table.path,
        "fps": fps,
        "layers": [{**asdict(g), "n_neurons": g.n_neurons} for g in geoms],
        "mapping": {chip: _mapping_dict(m) for chip, m in mappings.items()},
        "chip_mode": CHIP_MODE,
        "mode": None,
        "modes": {},
        "modes_not_counted": [m for m in MODES if m in modes and m not in by_mode] if given else [],
        "counts": None,
        "energy": {},
        "latency": None,
        "assumptions": [
            "one compartment per CUBA LIF neuron; layers split over cores by contiguous output-neuron ranges",
            "conv synapses unrolled (no weight sharing across neurons); synaptic memory = synapses x weight bits",
            "limits marked null in the table are not published and not checked",
            "Loihi 1 energy counts synaptic ops, neuron updates and spike routing; no static power or I/O",
            "45 nm: ANN = MACs x MAC energy, SNN = synaptic ops x AC energy",
            "reset mode bills T + L steps per frame from the zero state (the reset itself is not billed); stream mode "
            "bills the T steps each frame commits to a continuous run",
        ],
    }
    if teacher_traffic is not None:
        traffic_macs = [(t.name, t.macs) for t in teacher_traffic]
        if teacher_macs is not None and list(teacher_macs) != traffic_macs:
            raise ValueError("teacher MACs and teacher traffic disagree (give the MACs and traffic of one teacher)")
        teacher_macs = traffic_macs
    ann = ann_mem = None
    if teacher_traffic is not None:
        rows = ann_memory_energy_pj(teacher_traffic, table)
        ann_mem = _energy_block(rows, sum(r["total_pj"] for r in rows), fps)
        ann_mem["compute_uj"] = sum(r["mac_pj"] for r in rows) / 1e6
        ann_mem["memory_uj"] = sum(r["memory_pj"] for r in rows) / 1e6
    if teacher_macs is not None:
        ann_pj = ann_45nm_energy_pj(teacher_macs, table)
        ann = _energy_block([{"name": n, "macs": m, "total_pj": e} for (n, m), e in zip(teacher_macs, ann_pj,
                                                                                          strict=True)],
                            sum(ann_pj), fps)
    for mode in MODES:
        if mode in modes and mode in by_mode:
            block = _mode_block(geoms, by_mode[mode], mappings, table, fps)
            if ann is not None:
                block["energy"]["ann_45nm"] = ann
            if ann_mem is not None:
                block["energy"]["ann_45nm_memory"] = ann_mem
            block["energy"]["ratios"] = _ratios(block["energy"])
            report["modes"][mode] = block
            if not by_mode[mode].active_known:
                note = f"{mode}: active neuron updates not counted: every update billed as active"
                report["assumptions"].append(note)
    if report["modes"]:
        report["mode"] = CHIP_MODE if CHIP_MODE in report["modes"] else next(iter(report["modes"]))
        top = report["modes"][report["mode"]]
        report["counts"], report["energy"], report["latency"] = top["counts"], dict(top["energy"]), top["latency"]
    else:
        report["energy"].update({k: v for k, v in (("ann_45nm", ann), ("ann_45nm_memory", ann_mem)) if v is not None})
    report["energy"].setdefault("ratios", _ratios(report["energy"]))
    report["loihi2_energy"] = {"published": loihi2_energy_published(table),
                               "statement": LOIHI2_STATEMENT if not loihi2_energy_published(table) else
                               "Loihi 2 per-operation energies from the table; not billed by this report yet."}
    if ann_mem is not None:
        report["assumptions"].append(
            "45 nm teacher with memory: 32-bit values in 64-bit accesses; each layer reads its weights once per frame, "
            "reads its input activations once and writes its output once (a tensor read by two layers is billed to "
            "each); BN, ReLU and pooling fused into the write; each tensor in the smallest SRAM class holding it "
            "(8 KB, 32 KB, 1 MB; else DRAM); a write costs what a read does; the template branch (once per "
            "sequence) is left out")
    report["headline"] = headline(report)
    report["comparisons"] = comparisons(report)
    report["explanation"] = explanation(report, table)
    report["citations"] = [asdict(f) for f in table.used.values()]
    return report


#: this project's goals for the headline ratios (student / teacher compute-only 45 nm MACs)
HEADLINE_TARGETS = {"loihi1": 0.1, "snn_45nm": 0.01}


def headline(report: dict[str, Any]) -> dict[str, Any] | None:
    """The headline ratios: student energy per frame (``report["mode"]``: streaming when counted, else reset) on
    Loihi 1 per-op figures and on the 45 nm AC model, over the teacher's compute-only 45 nm MAC energy, with the
    targets (1/10 and 1/100). None without counts or teacher (or a teacher of zero MACs)."""
    e = report["energy"]
    if report["mode"] is None or "ann_45nm" not in e or e["ann_45nm"]["per_frame_uj"] <= 0:
        return None
    teacher = e["ann_45nm"]["per_frame_uj"]
    out: dict[str, Any] = {"mode": report["mode"], "teacher_uj": teacher,
                           "definition": "student energy per frame / teacher's compute-only 45 nm MAC energy per "
                                         f"frame ({report['mode']} mode)"}
    for model, target in HEADLINE_TARGETS.items():
        student = e[model]["per_frame_uj"]
        ratio = student / teacher
        out[model] = {"student_uj": student, "ratio": ratio, "target": target, "meets_target": ratio <= target,
                      "factor_to_target": ratio / target}
    return out


_STUDENT_LABELS = {"loihi1": "student, Loihi 1 per-op figures", "snn_45nm": "student, 45 nm AC model"}
_TEACHER_LABELS = {"ann_45nm_memory": "teacher, 45 nm MAC + memory access", "ann_45nm": "teacher, 45 nm MAC "
                   "(compute only)"}
_LIKE_FOR_LIKE = (
    ("loihi1", "ann_45nm_memory", True,
     "both include memory: Loihi 1's per-op figures include reading synapses and neuron state from on-core SRAM, "
     "neuron updates and spike routing; the teacher adds its weight and activation reads and writes. Processes "
     "differ (Loihi 1 is Intel 14 nm, the teacher model 45 nm), which favours Loihi"),
    ("loihi1", "ann_45nm", False,
     "the headline ratio; the student pays memory, neuron updates and routing, the teacher only its "
     "arithmetic: favours the teacher"),
    ("snn_45nm", "ann_45nm", True,
     "compute only both, same source (Horowitz 2014): like for like as a compute model, the one SNN papers use; "
     "ignores memory, and the student's neuron updates"),
    ("snn_45nm", "ann_45nm_memory", False,
     "the student's memory and neuron updates are left out, the teacher's memory billed: favours the student"),
)


def comparisons(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Student vs teacher energy per frame (``report["mode"]``), each row saying whether it is like for like and
    why; rows whose teacher figure was not computed (no teacher traffic) are left out."""
    e = report["energy"]
    rows = []
    for student, teacher, like, why in _LIKE_FOR_LIKE:
        if student in e and teacher in e and e[teacher]["per_frame_uj"] > 0:
            s_uj, t_uj = e[student]["per_frame_uj"], e[teacher]["per_frame_uj"]
            rows.append({"student": _STUDENT_LABELS[student], "teacher": _TEACHER_LABELS[teacher],
                         "student_model": student, "teacher_model": teacher, "student_uj": s_uj, "teacher_uj": t_uj,
                         "student_over_teacher": s_uj / t_uj,
                         "like_for_like": like, "why": why})
    return rows


def _top_layers(rows: list[dict[str, Any]], key: str, n: int = 2) -> list[tuple[str, float]]:
    """The ``n`` layers with the largest ``key`` (pJ) as (name, uJ)."""
    ranked = sorted(rows, key=lambda r: -r[key])[:n]
    return [(r["name"], r[key] / 1e6) for r in ranked]


def explanation(report: dict[str, Any], table: HardwareTable) -> dict[str, Any] | None:
    """One paragraph, built from this report's numbers, on why the student wins or loses under each energy model;
    ``numbers`` holds every figure the text quotes (uJ unless named otherwise). None without counts or teacher."""
    head = report.get("headline")
    if head is None:
        return None
    mode, e = report["mode"], report["energy"]
    block = report["modes"][mode]
    loihi_rows = e["loihi1"]["layers"]
    counts = block["counts"]
    n_neurons = sum(g["n_neurons"] for g in report["layers"])
    updates = sum(c["neuron_updates"] for c in counts["layers"])
    synops = sum(c["synops"] for c in counts["layers"])
    num: dict[str, Any] = {
        "mode": mode, "loihi1_uj": e["loihi1"]["per_frame_uj"], "neurons": n_neurons, "steps": counts["steps"],
        "neuron_updates": updates, "neuron_uj": sum(r["neuron_pj"] for r in loihi_rows) / 1e6,
        "synops": synops, "synaptic_uj": sum(r["synaptic_pj"] for r in loihi_rows) / 1e6,
        "routing_uj": sum(r["routing_pj"] for r in loihi_rows) / 1e6,
        "top_synaptic_layers": _top_layers(loihi_rows, "synaptic_pj"),
        "teacher_mac_uj": e["ann_45nm"]["per_frame_uj"],
        "teacher_macs": sum(r["macs"] for r in e["ann_45nm"]["layers"]),
        "loihi1_over_teacher_mac": head["loihi1"]["ratio"], "snn_45nm_uj": e["snn_45nm"]["per_frame_uj"],
        "snn_45nm_over_teacher_mac": head["snn_45nm"]["ratio"],
        "e_inactive_pj": table.required("loihi1", "energy", "neuron_update_inactive_pj"),
        "e_active_pj": table.required("loihi1", "energy", "neuron_update_active_pj"),
        "e_synop_pj": table.required("loihi1", "energy", "synaptic_op_pj"),
        "e_ac_pj": table.required("cmos45nm", "ac_pj"), "e_mac_pj": table.required("cmos45nm", "mac_pj"),
    }
    if "loihi1_over_ann_45nm_memory" in e["ratios"]:
        num["teacher_memory_uj"] = e["ann_45nm_memory"]["per_frame_uj"]
        num["loihi1_over_teacher_memory"] = e["ratios"]["loihi1_over_ann_45nm_memory"]
    other = "reset" if mode == "stream" else "stream"
    if other in report["modes"]:
        num[f"loihi1_{other}_uj"] = report["modes"][other]["energy"]["loihi1"]["per_frame_uj"]
        num[f"{other}_steps"] = report["modes"][other]["counts"]["steps"]

    def verdict(ratio: float) -> str:
        return "wins" if ratio < 1 else "loses"

    f = _fmt
    total = num["loihi1_uj"]

    def pct(uj: float) -> str:
        return f"{uj / total:.0%}" if total > 0 else "0%"

    updates_text = (f"{n_neurons} neurons x {counts['steps']} steps = {f(updates)} updates"
                    if updates == n_neurons * counts["steps"] else f"{f(updates)} updates")
    top = " and ".join(f"`{n}` ({f(uj)} uJ)" for n, uj in num["top_synaptic_layers"])
    num["active_known"] = bool(counts["active_known"])
    update_cost = (f"{num['e_inactive_pj']:g}-{num['e_active_pj']:g} pJ" if num["active_known"] else
                   f"{num['e_active_pj']:g} pJ (updates with input not counted: all billed as with input, an upper "
                   "bound)")
    num["synops_per_mac"] = synops / num["teacher_macs"] if num["teacher_macs"] > 0 else 0.0
    num["synop_over_mac_energy"] = num["e_synop_pj"] / num["e_mac_pj"] if num["e_mac_pj"] > 0 else 0.0
    split = sorted([
        (num["synaptic_uj"], f"synaptic ops {f(synops)} x {num['e_synop_pj']:g} pJ = {f(num['synaptic_uj'])} uJ "
                             f"({pct(num['synaptic_uj'])}, led by {top})"),
        (num["neuron_uj"], f"neuron updates {updates_text} at {update_cost} = "
                           f"{f(num['neuron_uj'])} uJ ({pct(num['neuron_uj'])}: every neuron pays an update each "
                           "step, spiking or not)"),
        (num["routing_uj"], f"spike routing {f(num['routing_uj'])} uJ ({pct(num['routing_uj'])})"),
    ], key=lambda x: -x[0])
    parts = [
        f"On Loihi 1's per-operation figures ({mode} mode) the student spends {f(total)} uJ per frame and "
        f"{verdict(num['loihi1_over_teacher_mac'])} against the teacher's compute-only MACs "
        f"({f(num['teacher_macs'])} MACs x {num['e_mac_pj']:g} pJ = {f(num['teacher_mac_uj'])} uJ; student / "
        f"teacher {num['loihi1_over_teacher_mac']:.3g}x, this project's goal {HEADLINE_TARGETS['loihi1']:g}x)",
    ]
    if "teacher_memory_uj" in num:
        parts[-1] += (f" and {verdict(num['loihi1_over_teacher_memory'])} against the teacher with memory access "
                      f"({f(num['teacher_memory_uj'])} uJ, {num['loihi1_over_teacher_memory']:.3g}x, the like-for-like "
                      "comparison)")
    parts[-1] += "."
    parts.append("Of its energy: " + "; ".join(text for _, text in split) + ".")
    if num["synop_over_mac_energy"] > 0:
        parts.append(
            f"A Loihi 1 synaptic op costs {num['synop_over_mac_energy']:.3g}x a 45 nm MAC, so synaptic ops alone break "
            f"even only below {1 / num['synop_over_mac_energy']:.0%} of the teacher's MACs; the student does "
            f"{num['synops_per_mac']:.0%} ({f(synops)} synaptic ops against {f(num['teacher_macs'])} MACs).")
    num["idle_floor_uj"] = n_neurons * counts["steps"] * num["e_inactive_pj"] / 1e6
    num["idle_floor_over_teacher_mac"] = num["idle_floor_uj"] / num["teacher_mac_uj"]
    num["target_uj"] = HEADLINE_TARGETS["loihi1"] * num["teacher_mac_uj"]
    spike_uj = num["synaptic_uj"] + num["routing_uj"]
    if num["idle_floor_uj"] > num["target_uj"]:
        floor_verdict = (f"above the target ({f(num['target_uj'])} uJ), so the target needs fewer neurons or steps per "
                         "frame, whatever the spikes")
    else:
        room = num["target_uj"] - num["idle_floor_uj"]
        floor_verdict = (f"below the target ({f(num['target_uj'])} uJ), leaving {f(room)} uJ for synaptic ops and "
                         f"routing, which now take {f(spike_uj)} uJ"
                         + (f" ({spike_uj / room:.3g}x too much)" if room > 0 and spike_uj > room else ""))
    parts.append(f"With no spike at all, the neuron updates alone would cost {n_neurons} neurons x {counts['steps']} "
                 f"steps x {num['e_inactive_pj']:g} pJ = {f(num['idle_floor_uj'])} uJ, "
                 f"{num['idle_floor_over_teacher_mac']:.3g}x the teacher's MACs: {floor_verdict}.")
    if mode == "stream" and "loihi1_reset_uj" in num:
        parts.append(f"Streaming bills the {counts['steps']} input steps of a frame instead of {num['reset_steps']} "
                     f"(no reset, no flush), {f(num['loihi1_reset_uj'] - total)} uJ less than reset mode's "
                     f"{f(num['loihi1_reset_uj'])} uJ.")
    elif mode == "reset" and "loihi1_stream_uj" in num:
        parts.append(f"Streaming would bill {num['stream_steps']} steps per frame: {f(num['loihi1_stream_uj'])} uJ.")
    else:
        parts.append(f"Only {mode} mode was counted, so the saving of streaming (no reset, no L flush steps) is not "
                     "shown.")
    parts.append(
        f"On the 45 nm AC model only synaptic ops cost: {f(synops)} x {num['e_ac_pj']:g} pJ = {f(num['snn_45nm_uj'])} "
        f"uJ, {num['snn_45nm_over_teacher_mac']:.3g}x the teacher's MACs (this project's goal "
        f"{HEADLINE_TARGETS['snn_45nm']:g}x): "
        f"the student {verdict(num['snn_45nm_over_teacher_mac'])}, since an add costs {num['e_ac_pj']:g} pJ against "
        f"{num['e_mac_pj']:g} pJ for a multiply-add; this model bills a synaptic op at {num['e_ac_pj']:g} pJ where "
        f"Loihi 1 bills {num['e_synop_pj']:g} pJ (the synapse read included) and leaves out neuron updates and "
        "routing.")
    return {"text": " ".join(parts), "numbers": num}


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
    if "ann_45nm" in first:
        row("teacher / Loihi 1 energy", lambda b: f"{b['energy']['ratios'].get('ann_45nm_over_loihi1', 0):.3g}x")
        row("Loihi 1 / teacher compute-only MACs (headline)",
            lambda b: f"{b['energy']['ratios'].get('loihi1_over_ann_45nm', 0):.3g}x")
    if "ann_45nm_memory" in first:
        row("Loihi 1 / teacher MACs + memory (like for like)",
            lambda b: f"{b['energy']['ratios'].get('loihi1_over_ann_45nm_memory', 0):.3g}x")
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


def _energy_block(layers: list[dict[str, Any]], total_pj: float, fps: float) -> dict[str, Any]:
    return {"layers": layers, "per_frame_uj": total_pj / 1e6, "per_second_mw": total_pj * fps / 1e9}


def _write_text(path: Path, text: str) -> None:
    write_text_atomic(path, text)


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def _mode_markdown(mode: str, block: dict[str, Any], fps: float) -> list[str]:
    """Activity, energy per layer and latency of one mode."""
    counts, e, lat = block["counts"], block["energy"], block["latency"]
    lines = ["", f"## Activity per frame ({mode} mode)", "", _steps_sentence(counts) + ".", "",
             "| layer | in spikes | synops | neuron updates | out spikes | firing rate |",
             "|---|---|---|---|---|---|"]
    for c in counts["layers"]:
        lines.append(f"| {c['name']} | {_fmt(c['in_spikes'])} | {_fmt(c['synops'])} | {_fmt(c['neuron_updates'])} "
                     f"| {_fmt(c['out_spikes'])} | {c['firing_rate']:.4f} |")
    lines += ["", f"## Energy ({mode} mode; per frame, per second at {fps:g} frames/s)", "",
              "| model | energy per frame (uJ) | power at fps (mW) |", "|---|---|---|"]
    models = (("loihi1", "Loihi 1 (SNN)"), ("snn_45nm", "45 nm ACs (SNN)"),
              ("ann_45nm", "45 nm MACs, compute only (ANN)"), ("ann_45nm_memory", "45 nm MACs + memory access (ANN)"))
    for key, label in models:
        if key in e:
            lines.append(f"| {label} | {_fmt(e[key]['per_frame_uj'])} | {_fmt(e[key]['per_second_mw'])} |")
    for k, v in e["ratios"].items():
        lines.append(f"\nRatio {k.replace('_over_', ' / ')}: **{v:.3g}x**")
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
    for model, label in (("loihi1", "Loihi 1 per-op figures"), ("snn_45nm", "45 nm AC model")):
        h = head[model]
        status = "meets it" if h["meets_target"] else f"{h['factor_to_target']:.3g}x above it"
        lines.append(f"- Headline, {label}: student {_fmt(h['student_uj'])} uJ / teacher compute-only 45 nm MACs "
                     f"{_fmt(head['teacher_uj'])} uJ = **{h['ratio']:.3g}x** (this project's goal <= {h['target']:g}x: "
                     f"{status})")
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
            lines += _mode_markdown(mode, block, report["fps"])
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


def plot_energy(report: dict[str, Any], path: Path) -> None:
    import matplotlib.pyplot as plt

    rows = report["energy"]["loihi1"]["layers"]
    names = [r["name"] for r in rows]
    x = np.arange(len(rows))
    fig, ax = plt.subplots(figsize=(max(5, 0.8 * len(rows) + 2), 4))
    bottom = np.zeros(len(rows))
    parts = (("synaptic_pj", "synaptic ops"), ("neuron_pj", "neuron updates"), ("routing_pj", "spike routing"))
    for key, label in parts:
        vals = np.array([r[key] for r in rows]) / 1e6
        ax.bar(x - 0.2, vals, 0.4, bottom=bottom, label=f"Loihi 1: {label}")
        bottom += vals
    ax.bar(x + 0.2, [r["total_pj"] / 1e6 for r in report["energy"]["snn_45nm"]["layers"]], 0.4, label="45 nm ACs")
    ax.set_xticks(x, names, rotation=45, ha="right")
    ax.set_ylabel("energy per frame (uJ)")
    ax.set_title("Energy per layer")
    ax.legend(fontsize=8)
    save_figure(fig, path, bbox_inches="tight")


def plot_firing_rates(report: dict[str, Any], path: Path) -> None:
    import matplotlib.pyplot as plt

    rows = report["counts"]["layers"]
    fig, ax = plt.subplots(figsize=(max(5, 0.8 * len(rows) + 2), 4))
    ax.bar(range(len(rows)), [r["firing_rate"] for r in rows])
    ax.set_xticks(range(len(rows)), [r["name"] for r in rows], rotation=45, ha="right")
    ax.set_ylabel("spikes per neuron per step")
    ax.set_title(f"Firing rates ({_steps_sentence(report['counts'])} per frame)")
    save_figure(fig, path, bbox_inches="tight")


def core_grid(mapping: dict[str, Any], max_chips: int = MAX_CHIPS_DRAWN) -> np.ndarray:
    """Layer index of every core drawn as (chips x tiles_y, tiles_x x cores_per_tile); -1 marks unused cores."""
    cpt, (tx, ty), cpc = mapping["cores_per_tile"], mapping["mesh_tiles"], mapping["cores_per_chip"]
    chips = min(mapping["chips"], max_chips)
    grid = np.full((chips * ty, tx * cpt), -1, dtype=np.int64)
    for li, lm in enumerate(mapping["layers"]):
        for core in range(lm["first_core"], lm["first_core"] + lm["cores"]):
            chip, local = divmod(core, cpc)
            if chip >= chips:
                return grid
            tile, slot = divmod(local, cpt)
            row, col = chip * ty + tile // tx, (tile % tx) * cpt + slot
            if row < grid.shape[0] and col < grid.shape[1]:
                grid[row, col] = li
    return grid


def plot_core_map(report: dict[str, Any], path: Path) -> None:
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap

    chips = list(report["mapping"])
    n_layers = len(report["layers"])
    cmap = ListedColormap(["#eeeeee"] + [plt.get_cmap("tab20")(i % 20) for i in range(n_layers)])
    fig, axes = plt.subplots(1, len(chips), figsize=(6 * len(chips), 4), squeeze=False)
    for ax, chip in zip(axes[0], chips, strict=True):
        m = report["mapping"][chip]
        grid = core_grid(m)
        ax.imshow(grid + 1, cmap=cmap, vmin=0, vmax=n_layers, interpolation="nearest", aspect="auto")
        shown = "" if m["chips"] <= MAX_CHIPS_DRAWN else f", first {MAX_CHIPS_DRAWN} chips drawn"
        ax.set_title(f"{chip}: {m['total_cores']} cores, {m['chips']} chip(s){shown}")
        ax.set_xlabel("core (tile x, slot)")
        ax.set_ylabel("chip x tile row")
    handles = [plt.Rectangle((0, 0), 1, 1, color=cmap(i + 1)) for i in range(n_layers)]
    fig.legend(handles, [g["name"] for g in report["layers"]], loc="lower center", ncol=min(n_layers, 6), fontsize=8)
    fig.subplots_adjust(bottom=0.25)
    save_figure(fig, path, bbox_inches="tight")


def write_report(report: dict[str, Any], out_dir: str | Path) -> list[Path]:
    """Write report.json, report.md and the plots (atomically); return the written paths."""
    import matplotlib

    matplotlib.use("Agg")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "report.json", out / "report.md", out / "core_map.png"]
    _write_text(paths[0], json.dumps(report, indent=2) + "\n")
    _write_text(paths[1], markdown(report))
    plot_core_map(report, paths[2])
    if report["counts"] is not None:
        paths += [out / "energy_per_layer.png", out / "firing_rates.png"]
        plot_energy(report, paths[3])
        plot_firing_rates(report, paths[4])
    return paths
