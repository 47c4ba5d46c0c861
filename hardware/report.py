"""Hardware report: core mapping (Loihi 1 and 2), energy (Loihi 1 and 45 nm) and latency per mode (reset and
streaming side by side, with the mode the chip would run), the student against the teacher (45 nm MACs compute only,
and with memory access: :func:`headline`, :func:`comparisons` saying which pairs are like for like, and the
:func:`explanation` paragraph built from the report's numbers; Loihi 2 energy is not published and not billed),
citations. :func:`build_report` returns the report as a JSON-able dict (the data);
:mod:`~had_snn.hardware.report_markdown` renders it, :mod:`~had_snn.hardware.report_plots` draws it and
:func:`~had_snn.hardware.report_files.write_report` writes ``report.json``, ``report.md`` and the plots from that
dict alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from had_snn.hardware.counts import CHIP_MODE, MODES, FrameCounts, LayerTraffic
from had_snn.hardware.energy import (
    PRECISIONS,
    ann_45nm_energy_pj,
    ann_memory_energy_pj,
    loihi1_energy,
    loihi2_energy_published,
    snn_45nm_energy_pj,
)
from had_snn.hardware.latency import loihi1_latency
from had_snn.hardware.resources import LIMIT_KEYS, ChipSpec, LayerGeometry, NetworkMapping, map_network
from had_snn.hardware.table import HardwareTable
from had_snn.util.atomic import write_text_atomic

CHIPS = ("loihi1", "loihi2")
LOIHI2_STATEMENT = ("Loihi 2 per-operation energies are not published (Intel reports whole-workload energy only), so "
                    "nothing is billed for Loihi 2; its core map is given for resources only.")


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
                table: HardwareTable, fps: float, precision: str) -> dict[str, Any]:
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
    snn45 = snn_45nm_energy_pj(counts, table, precision)
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
#: what each ratio of the report divides (``energy.ratios`` keys, in the order of the like-for-like table)
RATIO_LABELS = {f"{st}_over_{te}": f"{_STUDENT_LABELS[st]} / {_TEACHER_LABELS[te]}" for st, te, *_ in _LIKE_FOR_LIKE}
HEADLINE_NOTE = ("student / teacher energy per frame, like for like: Loihi 1 against the teacher with memory "
                 "access (compute-only MACs when its traffic is not given), the 45 nm AC model against 45 nm MACs")


def _ratios(energy: dict[str, Any]) -> dict[str, float]:
    """Student over teacher energy per frame, ``<student model>_over_<teacher model>`` (< 1: the student spends less),
    for every pair of :data:`RATIO_LABELS` whose two figures were computed."""
    ratios = {}
    for num, den, *_ in _LIKE_FOR_LIKE:
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
    precision: str = "fp32",
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
    the one reported. ``precision`` is the 45 nm model's arithmetic (:data:`~had_snn.hardware.energy.PRECISIONS`):
    ``fp32`` (float MACs and adds, 32-bit values) or ``int8`` (8-bit weights and activations, 32-bit accumulators),
    for both sides; Loihi 1's figures are the chip's own either way."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {list(PRECISIONS)}, got {precision!r}")
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
        "precision": precision,
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
            f"45 nm ({precision}): ANN = MACs x MAC energy, SNN = synaptic ops x AC energy"
            + (" (8-bit values, 32-bit accumulators)" if precision == "int8" else " (32-bit floats)"),
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
        rows = ann_memory_energy_pj(teacher_traffic, table, precision)
        ann_mem = _energy_block(rows, sum(r["total_pj"] for r in rows), fps)
        ann_mem["compute_uj"] = sum(r["mac_pj"] for r in rows) / 1e6
        ann_mem["memory_uj"] = sum(r["memory_pj"] for r in rows) / 1e6
    if teacher_macs is not None:
        ann_pj = ann_45nm_energy_pj(teacher_macs, table, precision)
        ann = _energy_block([{"name": n, "macs": m, "total_pj": e} for (n, m), e in zip(teacher_macs, ann_pj,
                                                                                          strict=True)],
                            sum(ann_pj), fps)
    for mode in MODES:
        if mode in modes and mode in by_mode:
            block = _mode_block(geoms, by_mode[mode], mappings, table, fps, precision)
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


#: this project's goals for the headline ratios (student / teacher, like for like)
HEADLINE_TARGETS = {"loihi1": 0.1, "snn_45nm": 0.01}


def headline(report: dict[str, Any]) -> dict[str, Any] | None:
    """The headline ratios, student / teacher energy per frame (``report["mode"]``: streaming when counted, else
    reset), each like for like where the figures allow: Loihi 1 per-op figures over the teacher with memory access
    (over its compute-only MACs, marked not like for like, when its traffic was not billed), and the 45 nm AC model
    over 45 nm MACs; with this project's goals (1/10 and 1/100). None without counts or teacher (or zero MACs)."""
    e = report["energy"]
    if report["mode"] is None or "ann_45nm" not in e or e["ann_45nm"]["per_frame_uj"] <= 0:
        return None
    with_memory = "ann_45nm_memory" in e and e["ann_45nm_memory"]["per_frame_uj"] > 0
    teachers = {"loihi1": "ann_45nm_memory" if with_memory else "ann_45nm", "snn_45nm": "ann_45nm"}
    like = {(st, te): lk for st, te, lk, _ in _LIKE_FOR_LIKE}
    out: dict[str, Any] = {"mode": report["mode"], "definition": f"{HEADLINE_NOTE} ({report['mode']} mode)"}
    for model, target in HEADLINE_TARGETS.items():
        student, teacher = e[model]["per_frame_uj"], e[teachers[model]]["per_frame_uj"]
        ratio = student / teacher
        out[model] = {"student_uj": student, "teacher_model": teachers[model], "teacher_uj": teacher,
                      "label": RATIO_LABELS[f"{model}_over_{teachers[model]}"],
                      "like_for_like": like[(model, teachers[model])], "ratio": ratio, "target": target,
                      "meets_target": ratio <= target, "factor_to_target": ratio / target}
    return out


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
        "loihi1_over_teacher_mac": e["ratios"]["loihi1_over_ann_45nm"], "snn_45nm_uj": e["snn_45nm"]["per_frame_uj"],
        "snn_45nm_over_teacher_mac": e["ratios"]["snn_45nm_over_ann_45nm"],
        "e_inactive_pj": table.required("loihi1", "energy", "neuron_update_inactive_pj"),
        "e_active_pj": table.required("loihi1", "energy", "neuron_update_active_pj"),
        "e_synop_pj": table.required("loihi1", "energy", "synaptic_op_pj"),
        "e_ac_pj": table.required("cmos45nm", PRECISIONS[report["precision"]][1]),
        "e_mac_pj": table.required("cmos45nm", PRECISIONS[report["precision"]][0]),
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
    goal = HEADLINE_TARGETS["loihi1"]
    parts = [
        f"On Loihi 1's per-operation figures ({mode} mode) the student spends {f(total)} uJ per frame and "
        f"{verdict(num['loihi1_over_teacher_mac'])} against the teacher's compute-only MACs "
        f"({f(num['teacher_macs'])} MACs x {num['e_mac_pj']:g} pJ = {f(num['teacher_mac_uj'])} uJ; student / "
        f"teacher {num['loihi1_over_teacher_mac']:.3g}x, not like for like"
        + (")" if "teacher_memory_uj" in num else f"; this project's goal {goal:g}x)"),
    ]
    if "teacher_memory_uj" in num:
        parts[-1] += (f" and {verdict(num['loihi1_over_teacher_memory'])} against the teacher with memory access "
                      f"({f(num['teacher_memory_uj'])} uJ; student / teacher {num['loihi1_over_teacher_memory']:.3g}x, "
                      f"the like-for-like headline, this project's goal {goal:g}x)")
    parts[-1] += "."
    parts.append("Of its energy: " + "; ".join(text for _, text in split) + ".")
    if num["synop_over_mac_energy"] > 0:
        parts.append(
            f"A Loihi 1 synaptic op costs {num['synop_over_mac_energy']:.3g}x a 45 nm MAC, so synaptic ops alone break "
            f"even only below {1 / num['synop_over_mac_energy']:.0%} of the teacher's MACs; the student does "
            f"{num['synops_per_mac']:.0%} ({f(synops)} synaptic ops against {f(num['teacher_macs'])} MACs).")
    num["idle_floor_uj"] = n_neurons * counts["steps"] * num["e_inactive_pj"] / 1e6
    num["idle_floor_over_teacher_mac"] = num["idle_floor_uj"] / num["teacher_mac_uj"]
    num["target_uj"] = goal * head["loihi1"]["teacher_uj"]  # the goal on the headline's teacher figure
    spike_uj = num["synaptic_uj"] + num["routing_uj"]
    if num["idle_floor_uj"] > num["target_uj"]:
        floor_verdict = (f"above this project's goal ({f(num['target_uj'])} uJ), so the goal needs fewer neurons or "
                         "steps per frame, whatever the spikes")
    else:
        room = num["target_uj"] - num["idle_floor_uj"]
        floor_verdict = (f"below this project's goal ({f(num['target_uj'])} uJ), leaving {f(room)} uJ for synaptic "
                         f"ops and routing, which now take {f(spike_uj)} uJ"
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


def _energy_block(layers: list[dict[str, Any]], total_pj: float, fps: float) -> dict[str, Any]:
    return {"layers": layers, "per_frame_uj": total_pj / 1e6, "per_second_mw": total_pj * fps / 1e9}


def _write_text(path: Path, text: str) -> None:
    write_text_atomic(path, text)


def _fmt(x: float) -> str:
    return f"{x:.4g}"
