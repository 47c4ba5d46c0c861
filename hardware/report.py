"""Hardware report: core mapping (Loihi 1 and 2), energy (Loihi 1 and 45 nm), latency, citations; as JSON, markdown
and PNG plots (per-layer energy bars, firing rates, core map). :func:`build_report` returns a JSON-able dict and
:func:`write_report` writes ``report.json``, ``report.md`` and the plots from that dict alone.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from had_snn.hardware.energy import (
    FrameCounts,
    HardwareTable,
    ann_45nm_energy_pj,
    loihi1_energy,
    snn_45nm_energy_pj,
)
from had_snn.hardware.latency import loihi1_latency
from had_snn.hardware.resources import LIMIT_KEYS, ChipSpec, LayerGeometry, NetworkMapping, map_network
from had_snn.util.atomic import save_figure, write_text_atomic

CHIPS = ("loihi1", "loihi2")
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


def build_report(
    geoms: Sequence[LayerGeometry],
    table: HardwareTable,
    counts: FrameCounts | None = None,
    teacher_macs: Sequence[tuple[str, int]] | None = None,
    fps: float = 30.0,
    network: str = "",
) -> dict[str, Any]:
    """Map the network on both chips and, given counts / teacher MACs, estimate energy and latency."""
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    mappings = {chip: map_network(geoms, ChipSpec.from_table(table, chip)) for chip in CHIPS}
    report: dict[str, Any] = {
        "network": network,
        "table": table.path,
        "fps": fps,
        "layers": [{**asdict(g), "n_neurons": g.n_neurons} for g in geoms],
        "mapping": {chip: _mapping_dict(m) for chip, m in mappings.items()},
        "counts": None,
        "energy": {},
        "latency": None,
        "assumptions": [
            "one compartment per CUBA LIF neuron; layers split over cores by contiguous output-neuron ranges",
            "conv synapses unrolled (no weight sharing across neurons); synaptic memory = synapses x weight bits",
            "limits marked null in the table are not published and not checked",
            "Loihi 1 energy counts synaptic ops, neuron updates and spike routing; no static power or I/O",
            "45 nm: ANN = MACs x MAC energy, SNN = synaptic ops x AC energy",
        ],
    }
    if counts is not None:
        report["counts"] = {
            "steps": counts.steps,
            "input_steps": counts.input_steps,
            "fill_steps": counts.fill_steps,
            "active_known": counts.active_known,
            "layers": [
                {**asdict(c), "firing_rate": c.out_spikes / (g.n_neurons * counts.steps)}
                for g, c in zip(geoms, counts.layers, strict=True)
            ],
        }
        if not counts.active_known:
            report["assumptions"].append("active neuron updates not counted: every update billed as active")
        loihi = loihi1_energy(geoms, counts, mappings["loihi1"], table)
        snn45 = snn_45nm_energy_pj(counts, table)
        total = sum(r["total_pj"] for r in loihi)
        report["energy"]["loihi1"] = _energy_block([{"name": g.name, **r} for g, r in zip(geoms, loihi, strict=True)],
                                                   total, fps)
        report["energy"]["snn_45nm"] = _energy_block(
            [{"name": g.name, "synops": c.synops, "total_pj": e} for g, c, e in zip(geoms, counts.layers, snn45,
                                                                                      strict=True)],
            sum(snn45), fps,
        )
        lat = loihi1_latency(geoms, counts, mappings["loihi1"], table)
        report["latency"] = {
            "chip": "loihi1",
            "steps": lat.steps,
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
    if teacher_macs is not None:
        ann = ann_45nm_energy_pj(teacher_macs, table)
        report["energy"]["ann_45nm"] = _energy_block(
            [{"name": n, "macs": m, "total_pj": e} for (n, m), e in zip(teacher_macs, ann, strict=True)], sum(ann), fps
        )
    ratios = {}
    e = report["energy"]
    if "ann_45nm" in e and "loihi1" in e and e["loihi1"]["per_frame_uj"] > 0:
        ratios["ann_45nm_over_loihi1"] = e["ann_45nm"]["per_frame_uj"] / e["loihi1"]["per_frame_uj"]
    if "ann_45nm" in e and "snn_45nm" in e and e["snn_45nm"]["per_frame_uj"] > 0:
        ratios["ann_45nm_over_snn_45nm"] = e["ann_45nm"]["per_frame_uj"] / e["snn_45nm"]["per_frame_uj"]
    report["energy"]["ratios"] = ratios
    report["citations"] = [asdict(f) for f in table.used.values()]
    return report


def _steps_sentence(counts: dict[str, Any]) -> str:
    """'14 steps (8 input + 6 pipeline fill)' or, when the counts do not say, '14 counted steps'."""
    if counts.get("input_steps") is None:
        return f"{counts['steps']} counted steps"
    return f"{counts['steps']} steps ({counts['input_steps']} input + {counts['fill_steps']} pipeline fill)"


def _fill_sentence(lat: dict[str, Any]) -> str:
    """What the latency says about the pipeline fill, true for every kind of counts file."""
    fill = lat["pipeline_fill_steps"]
    head = f"pipeline fill: the read-out trails the input by {fill} steps (one per synaptic layer)"
    included = lat.get("fill_included")
    if included is None:
        return (head + "; the counts file does not say how many counted steps carried input (no 'input_steps'), so "
                "whether the fill is included above is unknown (`had-snn deploy` counts input + fill and says so)")
    if included:
        return head + "; included in the steps above (each frame runs from the zero state)"
    counted = lat["steps"] - lat["input_steps"]
    return (head + f"; only {counted} fill step(s) were counted, so the latency above leaves out "
            f"{fill - counted} step(s) the read-out needs")


def _energy_block(layers: list[dict[str, Any]], total_pj: float, fps: float) -> dict[str, Any]:
    return {"layers": layers, "per_frame_uj": total_pj / 1e6, "per_second_mw": total_pj * fps / 1e9}


def _write_text(path: Path, text: str) -> None:
    write_text_atomic(path, text)


def _fmt(x: float) -> str:
    return f"{x:.4g}"


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
    if report["counts"] is not None:
        fps = report["fps"]
        lines += ["", "## Activity (per frame)", "", _steps_sentence(report["counts"]) + ".", "",
                  "| layer | in spikes | synops | neuron updates | out spikes | firing rate |",
                  "|---|---|---|---|---|---|"]
        for c in report["counts"]["layers"]:
            lines.append(f"| {c['name']} | {_fmt(c['in_spikes'])} | {_fmt(c['synops'])} | {_fmt(c['neuron_updates'])} "
                         f"| {_fmt(c['out_spikes'])} | {c['firing_rate']:.4f} |")
        lines += ["", f"## Energy (per frame; per second at {fps:g} frames/s)", "",
                  "| model | energy per frame (uJ) | power at fps (mW) |", "|---|---|---|"]
        models = (("loihi1", "Loihi 1 (SNN)"), ("snn_45nm", "45 nm ACs (SNN)"), ("ann_45nm", "45 nm MACs (ANN)"))
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
        lat = report["latency"]
        lines += ["", "## Latency (Loihi 1)", "",
                  f"- time per step: {_fmt(lat['step_ns'])} ns = barrier {_fmt(lat['barrier_ns'])} ns + busiest core "
                  f"{_fmt(lat['compute_ns'])} ns (layer {lat['bottleneck_layer']}; all cores run in parallel, each "
                  "core processes its ops sequentially)",
                  f"- latency per frame: {_steps_sentence(report['counts'])} x {_fmt(lat['step_ns'])} ns = "
                  f"{_fmt(lat['frame_latency_us'])} us; throughput {_fmt(lat['throughput_fps'])} frames/s "
                  f"({'sustains' if lat['sustains_fps'] else 'does NOT sustain'} {fps:g} frames/s)",
                  f"- {_fill_sentence(lat)}"]
    else:
        lines += ["", "## Energy and latency", "", "No operation counts given (`--counts`): Loihi energy and latency "
                  "were not estimated."]
        if "ann_45nm" in e:
            lines.append(f"\nTeacher (45 nm MACs): {_fmt(e['ann_45nm']['per_frame_uj'])} uJ per frame.")
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
