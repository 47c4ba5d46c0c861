"""Write the hardware report: ``report.json`` (the data), ``report.md`` and the PNG plots, atomically."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from had_snn.hardware.report import _write_text
from had_snn.hardware.report_markdown import markdown
from had_snn.hardware.report_plots import plot_core_map, plot_energy, plot_firing_rates


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
