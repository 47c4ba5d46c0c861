"""The demo report's own plots: training curves, success per attribute, example frames and the compact frontier."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from had_snn.data.plots import plot_frame_and_events
from had_snn.util.atomic import save_figure


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


def plot_compact_frontier(points: list[dict], teacher: dict, path: Path) -> Path:
    """SR vs uJ per frame (log x) of the compact frontier's points on both energy models, teacher lines. Shape: the
    energy model; fill: the chip mode; colour: the student; the legend, beside the axes, says each."""
    from matplotlib.lines import Line2D

    fig = Figure(figsize=(8.5, 4.2), layout="constrained")
    ax = fig.subplots()
    for key, marker in (("loihi1_uj", "o"), ("snn_45nm_uj", "^")):
        for p in points:
            if p["sr"] is None:
                continue
            color = "C1" if "activity" in p["student"] else "C0"
            ax.scatter(p[key], p["sr"], marker=marker, s=40, edgecolors=color,
                       facecolors="none" if p["mode"] == "reset" else color)
    ax.axvline(teacher["ann_45nm"], color="k", ls="--")
    if teacher.get("ann_45nm_memory"):
        ax.axvline(teacher["ann_45nm_memory"], color="r", ls="--")

    def dot(marker: str, color: str, filled: bool = True) -> Line2D:
        return Line2D([], [], ls="none", marker=marker, markersize=7, markeredgecolor=color,
                      markerfacecolor=color if filled else "none")

    legend = [(dot("o", "grey"), "Loihi 1 per-op figures"), (dot("^", "grey"), "45 nm AC model"),
              (dot("s", "grey"), "filled: stream mode"), (dot("s", "grey", filled=False), "hollow: reset mode"),
              (dot("s", "C0"), "QAT student")]
    if any("activity" in p["student"] for p in points):
        legend.append((dot("s", "C1"), "QAT student + activity"))
    legend.append((Line2D([], [], color="k", ls="--"), "teacher, 45 nm MACs (compute only)"))
    if teacher.get("ann_45nm_memory"):
        legend.append((Line2D([], [], color="r", ls="--"), "teacher, 45 nm MACs + memory"))
    ax.legend(*zip(*legend, strict=True), fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    ax.set_xscale("log")
    ax.set_xlabel("energy per frame (uJ, log)")
    ax.set_ylabel("SR (AUC, %), fixed point")
    return save_figure(fig, path)
