"""Compare two runs of the same netx network on the same input (Lava ``fixed_pt`` vs the emulator), layer by layer.

:func:`compare_runs` checks every spike of every synaptic layer and the read-out membrane ``v`` value by value and
reports, per layer, how many values were compared, the spike totals of both runs, the mismatches and the first
mismatching (step, sample, neuron); :func:`compare_markdown` renders it (numpy only).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def _first_mismatch(a: np.ndarray, b: np.ndarray, names: tuple[str, str]) -> dict[str, Any] | None:
    """(step, sample, neuron) of the first value where ``a`` and ``b`` differ, with both values under ``names``."""
    diff = np.argwhere(a != b)
    if diff.size == 0:
        return None
    t, s, *neuron = (int(i) for i in diff[0])
    where = tuple(diff[0])
    return {"step": t, "sample": s, "neuron": neuron, names[0]: int(a[where]), names[1]: int(b[where])}


def compare_runs(layer_names: Sequence[str], spikes_a: Sequence[np.ndarray], spikes_b: Sequence[np.ndarray],
                 v_a: np.ndarray, v_b: np.ndarray, names: tuple[str, str] = ("lava", "emulator")) -> dict[str, Any]:
    """Per-layer agreement of run ``a`` and run ``b``: spikes (T, B, C, H, W) per synaptic layer and read-out ``v``.

    Returns ``{"runs", "identical", "layers": [...], "v_out": {...}}``; steps and samples are 0-based indices into
    the arrays (the steps include the pipeline-fill steps when the input was flushed).
    """
    if not len(layer_names) == len(spikes_a) == len(spikes_b):
        raise ValueError(f"{len(layer_names)} layer names but {len(spikes_a)} and {len(spikes_b)} spike arrays")
    a_name, b_name = names
    layers = []
    for name, sa, sb in zip(layer_names, spikes_a, spikes_b, strict=True):
        sa, sb = np.asarray(sa).astype(bool), np.asarray(sb).astype(bool)
        if sa.shape != sb.shape:
            raise ValueError(f"layer {name}: {a_name} spikes {sa.shape} vs {b_name} spikes {sb.shape}")
        first = _first_mismatch(sa, sb, names)
        layers.append({"name": name, "compared": int(sa.size), f"{a_name}_spikes": int(sa.sum()),
                       f"{b_name}_spikes": int(sb.sum()), "mismatches": int((sa != sb).sum()),
                       "first_mismatch": first})
    v_a, v_b = np.asarray(v_a).astype(np.int64), np.asarray(v_b).astype(np.int64)
    if v_a.shape != v_b.shape:
        raise ValueError(f"read-out v: {a_name} {v_a.shape} vs {b_name} {v_b.shape}")
    first = _first_mismatch(v_a, v_b, names)
    v_row = {"name": f"{layer_names[-1]} (read-out v)", "compared": int(v_a.size),
             "mismatches": int((v_a != v_b).sum()),
             "max_abs_difference": int(np.abs(v_a - v_b).max()) if v_a.size else 0, "first_mismatch": first}
    identical = v_row["mismatches"] == 0 and all(r["mismatches"] == 0 for r in layers)
    steps, batch = (int(v_a.shape[0]), int(v_a.shape[1])) if v_a.ndim >= 2 else (0, 0)
    return {"runs": list(names), "identical": identical, "steps": steps, "samples": batch, "layers": layers,
            "v_out": v_row}


def _where(first: dict[str, Any] | None, names: Sequence[str]) -> str:
    if first is None:
        return "-"
    neuron = ", ".join(str(i) for i in first["neuron"])
    return (f"step {first['step']}, sample {first['sample']}, neuron ({neuron}): "
            + ", ".join(f"{n} {first[n]}" for n in names))


def compare_markdown(result: dict[str, Any]) -> str:
    """The comparison as a markdown table (one row per layer plus the read-out ``v``) with a verdict line."""
    a, b = result["runs"]
    verdict = ("**identical**: every spike and every read-out value agree" if result["identical"] else
               "**DIFFERENT**: see the mismatches below")
    lines = [f"# {a} vs {b}", "", f"{result['steps']} steps x {result['samples']} samples: {verdict}.", "",
             "Steps and samples are 0-based; a neuron is (channel, row, column) for conv layers, (index, 0, 0) for "
             "dense ones.", "",
             f"| layer | values compared | spikes ({a}) | spikes ({b}) | mismatches | first mismatch |",
             "|---|---:|---:|---:|---:|---|"]
    for r in result["layers"]:
        lines.append(f"| {r['name']} | {r['compared']} | {r[f'{a}_spikes']} | {r[f'{b}_spikes']} | {r['mismatches']} "
                     f"| {_where(r['first_mismatch'], (a, b))} |")
    v = result["v_out"]
    first = _where(v["first_mismatch"], (a, b))
    lines.append(f"| {v['name']} | {v['compared']} | - | - | {v['mismatches']} | {first} |")
    return "\n".join(lines) + "\n"
