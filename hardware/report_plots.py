"""The hardware report's plots: per-layer energy bars, firing rates and the core map (matplotlib, PNG)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from had_snn.hardware.report_markdown import _steps_sentence
from had_snn.util.atomic import save_figure

MAX_CHIPS_DRAWN = 8


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
    ax.set_title(f"Energy per layer ({report['mode']} mode: {_steps_sentence(report['counts'])} per frame)")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)  # beside the bars
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
    """One panel per chip generation: every core coloured by its layer, black lines between chips, integer ticks;
    the legend gives each layer's cores per generation."""
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap
    from matplotlib.ticker import MaxNLocator

    chips = list(report["mapping"])
    n_layers = len(report["layers"])
    cmap = ListedColormap(["#eeeeee"] + [plt.get_cmap("tab20")(i % 20) for i in range(n_layers)])
    fig, axes = plt.subplots(1, len(chips), figsize=(6 * len(chips), 4), squeeze=False)
    for ax, chip in zip(axes[0], chips, strict=True):
        m = report["mapping"][chip]
        grid = core_grid(m)
        ax.imshow(grid + 1, cmap=cmap, vmin=0, vmax=n_layers, interpolation="nearest", aspect="auto")
        tiles_y = m["mesh_tiles"][1]
        for c in range(1, grid.shape[0] // tiles_y):  # chip boundaries
            ax.axhline(c * tiles_y - 0.5, color="k", lw=1.0)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        shown = "" if m["chips"] <= MAX_CHIPS_DRAWN else f", first {MAX_CHIPS_DRAWN} chips drawn"
        ax.set_title(f"{chip}: {m['total_cores']} cores, {m['chips']} chip(s){shown}")
        ax.set_xlabel("core (tile x, slot)")
        ax.set_ylabel("tile row" + (" (black lines: chip boundaries)" if grid.shape[0] > tiles_y else ""))
    handles = [plt.Rectangle((0, 0), 1, 1, color=cmap(i + 1)) for i in range(n_layers)]
    labels = [f"{g['name']} ({' / '.join(str(report['mapping'][c]['layers'][i]['cores']) for c in chips)} cores)"
              for i, g in enumerate(report["layers"])]
    fig.legend(handles, labels, loc="lower center", ncol=min(n_layers, 4), fontsize=8,
               title=f"layer (cores on {' / '.join(chips)})", title_fontsize=8)
    fig.subplots_adjust(bottom=0.3)
    save_figure(fig, path, bbox_inches="tight")
