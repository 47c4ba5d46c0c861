"""Energy per frame from counted operations: Loihi 1 per-operation figures and the 45 nm MAC/AC model, and the ANN
teacher on the 45 nm model compute-only (MACs) and with memory access (:func:`ann_memory_energy_pj`: weights and
activations read and written, per-access SRAM/DRAM energies of the same source). Loihi 2 has no published
per-operation energies: the table marks them null and nothing is billed for it (:func:`loihi2_energy_published`).

All figures come from a YAML hardware table (default: ``energy_table.yaml`` next to this module); every figure read
is remembered so reports can cite exactly the figures they used.

The hardware table is read by :mod:`had_snn.hardware.table`; the counted operations and the teacher's MACs and
traffic it bills are parsed by :mod:`had_snn.hardware.counts`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from had_snn.hardware.counts import FrameCounts, LayerTraffic
from had_snn.hardware.resources import LayerGeometry, NetworkMapping
from had_snn.hardware.table import HardwareTable


def _mean_hops(mapping: NetworkMapping, src_first: int, src_n: int, dst_first: int, dst_n: int) -> tuple[float, float]:
    """Mean east-west and north-south tile hops between every source and destination core (same-chip mesh)."""
    src = np.array([mapping.core_xy(c) for c in range(src_first, src_first + src_n)])
    dst = np.array([mapping.core_xy(c) for c in range(dst_first, dst_first + dst_n)])
    dx = np.abs(src[:, None, 1] - dst[None, :, 1]).mean()
    dy = np.abs(src[:, None, 2] - dst[None, :, 2]).mean()
    return float(dx), float(dy)


def loihi1_energy(
    geoms: Sequence[LayerGeometry], counts: FrameCounts, mapping: NetworkMapping, table: HardwareTable
) -> list[dict[str, float]]:
    """Per-layer Loihi 1 energy (pJ per frame) split into synaptic ops, neuron updates and spike routing.

    Each output spike is sent as one packet to each destination core (``dest_cores_per_neuron`` of the mapping);
    a packet costs the within-tile energy plus the mean E-W and N-S hops between the two layers' cores. Spikes of the
    last layer go to one core (the output port). Input-event injection and static power are not modelled.
    """
    e_syn = table.required("loihi1", "energy", "synaptic_op_pj")
    e_act = table.required("loihi1", "energy", "neuron_update_active_pj")
    e_inact = table.required("loihi1", "energy", "neuron_update_inactive_pj")
    e_tile = table.required("loihi1", "energy", "spike_within_tile_pj")
    e_ew = table.required("loihi1", "energy", "hop_east_west_pj")
    e_ns = table.required("loihi1", "energy", "hop_north_south_pj")
    rows = []
    for i, (g, c) in enumerate(zip(geoms, counts.layers, strict=True)):
        m = mapping.layer(g.name)
        active = c.neuron_updates if c.active_neuron_updates is None else c.active_neuron_updates
        if i + 1 < len(geoms):
            nxt = mapping.layer(geoms[i + 1].name)
            hx, hy = _mean_hops(mapping, m.first_core, m.cores, nxt.first_core, nxt.cores)
        else:
            hx = hy = 0.0
        packets = c.out_spikes * m.dest_cores_per_neuron
        row = {
            "synaptic_pj": c.synops * e_syn,
            "neuron_pj": active * e_act + (c.neuron_updates - active) * e_inact,
            "routing_pj": packets * (e_tile + hx * e_ew + hy * e_ns),
        }
        row["total_pj"] = row["synaptic_pj"] + row["neuron_pj"] + row["routing_pj"]
        rows.append(row)
    return rows


#: the 45 nm model's arithmetic per precision: the table keys of one MAC and one AC, and the bits of a stored value.
#: ``fp32`` is what SNN papers quote; ``int8`` is what the chip's 8-bit weights would let both sides use
PRECISIONS = {"fp32": ("mac_pj", "ac_pj", 32), "int8": ("mac_int8_pj", "ac_int8_pj", 8)}


def _precision(precision: str) -> tuple[str, str, int]:
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {list(PRECISIONS)}, got {precision!r}")
    return PRECISIONS[precision]


def snn_45nm_energy_pj(counts: FrameCounts, table: HardwareTable, precision: str = "fp32") -> list[float]:
    """45 nm estimate of the SNN per layer: one accumulate (AC) per synaptic op at ``precision``, pJ per frame."""
    e_ac = table.required("cmos45nm", _precision(precision)[1])
    return [c.synops * e_ac for c in counts.layers]


def ann_45nm_energy_pj(macs: Sequence[tuple[str, int]], table: HardwareTable, precision: str = "fp32") -> list[float]:
    """45 nm estimate of the ANN per layer: one MAC per multiply-accumulate at ``precision`` (fp32: float multiply +
    add; int8: 8-bit multiply + 32-bit add), pJ per frame."""
    e_mac = table.required("cmos45nm", _precision(precision)[0])
    return [m * e_mac for _, m in macs]


# --- the ANN teacher with memory access (45 nm, Horowitz 2014) -------------------------------------------------------

#: bits moved per memory access in the 45 nm memory figures (Horowitz quotes energy per 64-bit access)
ACCESS_BITS = 64
#: on-chip SRAM size classes of the table (``cmos45nm.memory.<key>``) with their capacity in bytes, smallest first;
#: a tensor larger than the last one lives in DRAM (``cmos45nm.memory.dram_64bit_pj``)
SRAM_LEVELS = (("sram_8kb_64bit_pj", 8 * 1024), ("sram_32kb_64bit_pj", 32 * 1024),
               ("sram_1mb_64bit_pj", 1024 * 1024))
DRAM_LEVEL = "dram_64bit_pj"
def memory_level(n_bytes: int) -> str:
    """The table key of the smallest memory holding a tensor of ``n_bytes``: an SRAM size class, else DRAM."""
    for key, capacity in SRAM_LEVELS:
        if n_bytes <= capacity:
            return key
    return DRAM_LEVEL


def _access_pj(n_values: int, table: HardwareTable, value_bits: int) -> tuple[str, int, float]:
    """(memory level, 64-bit accesses, pJ) to read or write one tensor of ``n_values`` values of ``value_bits`` once."""
    n_bytes = -(-n_values * value_bits // 8)
    level = memory_level(n_bytes)
    accesses = -(-n_bytes * 8 // ACCESS_BITS)  # whole 64-bit accesses
    return level, accesses, accesses * table.required("cmos45nm", "memory", level)


def ann_memory_energy_pj(traffic: Sequence[LayerTraffic], table: HardwareTable,
                         precision: str = "fp32") -> list[dict[str, Any]]:
    """Per-layer 45 nm energy of the ANN with memory access, pJ per frame.

    Model (stated in the report): values are 32-bit floats (``precision="int8"``: 8-bit integers) moved in 64-bit
    accesses; each layer reads its weights once
    per frame, reads its input activations once and writes its output activations once (a tensor read by two layers
    is billed to each: once per consuming layer); BN, ReLU and pooling are fused into the write (no extra traffic).
    Each tensor sits in the smallest memory of the table that holds it (SRAM 8 KB / 32 KB / 1 MB, else DRAM), and a
    write costs what a read does. Rows: ``mac_pj`` (MACs x MAC energy, the compute-only figure), ``weight_pj``,
    ``act_read_pj``, ``act_write_pj`` with their accesses and levels, ``memory_pj`` and ``total_pj``."""
    mac_key, _, value_bits = _precision(precision)
    e_mac = table.required("cmos45nm", mac_key)
    rows = []
    for t in traffic:
        row: dict[str, Any] = {"name": t.name, "macs": t.macs, "mac_pj": t.macs * e_mac}
        for part, values in (("weight", t.weights), ("act_read", t.in_acts), ("act_write", t.out_acts)):
            level, accesses, pj = _access_pj(values, table, value_bits)
            row.update({f"{part}_values": values, f"{part}_level": level, f"{part}_accesses": accesses,
                        f"{part}_pj": pj})
        row["memory_pj"] = row["weight_pj"] + row["act_read_pj"] + row["act_write_pj"]
        row["total_pj"] = row["mac_pj"] + row["memory_pj"]
        rows.append(row)
    return rows


def loihi2_energy_published(table: HardwareTable) -> bool:
    """Whether the table gives Loihi 2 per-operation energies (``loihi2.energy.*`` all non-null). The packaged table
    marks them null: Intel has published no per-operation energies for Loihi 2, so nothing is billed for it."""
    values = [table.value("loihi2", "energy", k) for k in ("synaptic_op_pj", "neuron_update_pj")]  # both cited
    return all(v is not None for v in values)
