"""Success and precision plots (OTB style) to PNG with matplotlib's Agg backend."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import matplotlib

from had_snn.util.atomic import save_figure

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from had_snn.evaluation.metrics import (  # noqa: E402
    CENTER_THRESHOLDS_PX,
    IOU_THRESHOLDS,
    NORM_CENTER_THRESHOLDS,
    Summary,
)


def plot_curves(summaries: Mapping[str, Summary], out_dir: str | Path, title: str = "") -> list[Path]:
    """Write ``success.png``, ``precision.png`` and ``norm_precision.png`` comparing trackers (legend = name and
    score, sorted best first). Returns the written paths."""
    if not summaries:
        raise ValueError("no tracker summaries to plot")
    out_dir = Path(out_dir)
    specs = [
        ("success.png", "Success plot", "Overlap threshold (IoU)", IOU_THRESHOLDS, "success", "auc", "AUC"),
        ("precision.png", "Precision plot", "Location error threshold (px)", CENTER_THRESHOLDS_PX, "precision",
         "pr20", "PR@20"),
        ("norm_precision.png", "Normalised precision plot", "Normalised location error threshold",
         NORM_CENTER_THRESHOLDS, "norm_precision", "npr", "NPR@0.2"),
    ]
    paths = []
    for fname, name, xlabel, xs, curve, score, label in specs:
        fig, ax = plt.subplots(figsize=(7.5, 4.2))
        ranked = sorted(summaries.items(), key=lambda kv: -getattr(kv[1], score))
        # solid and dashed by turns: two trackers with equal curves (a float model and its bit-exact fixed-point
        # copy, next to each other in the ranking) both stay visible
        for i, (tracker, s) in enumerate(ranked):
            ax.plot(xs, 100 * getattr(s, curve), lw=2, ls="-" if i % 2 == 0 else "--",
                    label=f"{tracker} [{100 * getattr(s, score):.1f}]")
        ax.set(xlabel=xlabel, ylabel="Rate (%)", xlim=(xs[0], xs[-1]), ylim=(0, 100))
        ax.set_title(f"{name} ({label}){' - ' + title if title else ''}")
        ax.grid(alpha=0.3)
        # beside the axes, not over the curves (success curves fill the lower left, precision the upper left)
        ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8, borderaxespad=0.0)
        save_figure(fig, out_dir / fname, bbox_inches="tight")
        paths.append(out_dir / fname)
    return paths
