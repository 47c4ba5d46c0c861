"""One entry point from a trained student to the files deployed on Loihi: :func:`convert_student`.

quantise (with the correlation kernel of a real template) -> netx HDF5 (and optionally NIR) -> float vs fixed-point
comparison on search windows -> weight histograms -> ``quantization.json``. ``had-snn convert`` and the demo's
convert step both call it, so what the demo reports is what a user's conversion writes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from had_snn.conversion.fidelity import compare_float_fixed, weight_histograms
from had_snn.conversion.quantize import QuantizedNetwork, quantize_student, student_float_layers, template_kernel_for
from had_snn.hardware.netx import write_netx
from had_snn.util.atomic import write_json_atomic

FORMATS = ("netx", "nir")


@dataclass
class Conversion:
    """What :func:`convert_student` made: the quantised network, the quantisation report and the written files."""

    qnet: QuantizedNetwork
    report: dict[str, Any]
    files: dict[str, Path]  # netx, nir (when written), quantization, histograms

    @property
    def comparison(self) -> dict[str, Any]:
        """Float vs fixed point on the search windows (read-out error, heat-map peak agreement, per-layer rates)."""
        return self.report["float_vs_fixed"]


def convert_student(
    student: nn.Module,
    template: torch.Tensor,
    search: torch.Tensor,
    out_dir: str | os.PathLike,
    source: str | os.PathLike,
    weight_percentile: float = 100.0,
    formats: tuple[str, ...] = ("netx",),
    attrs: dict[str, str | float] | None = None,
    meta: dict[str, Any] | None = None,
) -> Conversion:
    """Quantise ``student`` for Loihi and write its files into ``out_dir``.

    ``template`` (T, 1, C, Ht, Wt) spikes give the correlation kernel; ``search`` (T, B, C, H, W) spikes drive the
    float-vs-fixed comparison. ``formats``: any of ``netx`` (``student.h5``) and ``nir`` (``student.nir``).
    ``source`` is the checkpoint ``student`` was loaded from: the netx file's ``source`` attribute names it relative
    to ``out_dir`` (so the two can move together), which is how ``had-snn track`` and ``eval`` find the float model.
    ``attrs`` (strings and numbers) go into the netx file's attributes, ``meta``
    (JSON-able, e.g. where the inputs came from) into ``quantization.json``. Files are written atomically.
    """
    if getattr(student, "kind", None) != "student":
        raise ValueError(f"only the spiking student can be converted, got a {getattr(student, 'kind', type(student))}")
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown:
        raise ValueError(f"unknown export format(s) {unknown}; expected some of {list(FORMATS)}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    qnet = quantize_student(student, template, weight_percentile)
    files: dict[str, Path] = {}
    if "netx" in formats:
        files["netx"] = out / "student.h5"
        netx_attrs = {"readout_scale": qnet.readout_scale, "weight_percentile": float(weight_percentile),
                      "source": Path(os.path.relpath(Path(source).resolve(), out.resolve())).as_posix()}
        write_netx(files["netx"], qnet.layers, attrs={**(attrs or {}), **netx_attrs})
    if "nir" in formats:
        from had_snn.conversion.export_nir import export_student_nir

        files["nir"] = out / "student.nir"
        export_student_nir(student, template, files["nir"])
    comparison = compare_float_fixed(student, qnet, search, template)
    files["histograms"] = out / "weight_histograms.png"
    float_weights = [fl.weight.numpy() for fl in student_float_layers(student, template_kernel_for(student, template))]
    weight_histograms(float_weights, qnet, files["histograms"])
    report = {"weight_percentile": weight_percentile, "readout_scale": qnet.readout_scale,
              **(meta or {}), "layers": qnet.report_dict(), "float_vs_fixed": comparison}
    files["quantization"] = write_json_atomic(out / "quantization.json", report)
    return Conversion(qnet, report, files)
