"""``had-snn convert``: quantise a trained student checkpoint for Loihi and export netx HDF5 (+ report, histograms)."""

from __future__ import annotations

import argparse
from pathlib import Path

NAME = "convert"
HELP = "Quantise a student checkpoint to Loihi fixed point; write netx HDF5, JSON report and weight histograms"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", help="trained student checkpoint (.pt)")
    parser.add_argument("--out", required=True,
                        help="output folder (student.h5, student.nir, quantization.json, weight_histograms.png)")
    parser.add_argument("--to", choices=("netx", "nir", "all"), default="all",
                        help="export format(s): netx (student.h5), nir (student.nir) or all (default)")
    parser.add_argument("--template", help="npz with template_spikes (T, 1, C, Ht, Wt) used for the correlation kernel "
                        "(default: seeded Bernoulli spikes)")
    parser.add_argument("--search", help="npz with search_spikes (T, B, C, H, W) for the float-vs-fixed comparison "
                        "(default: seeded Bernoulli spikes)")
    parser.add_argument("--steps", type=int, default=8,
                        help="time steps T of the default sample inputs (default 8; ignored for --template/--search)")
    parser.add_argument("--rate", type=float, default=0.1,
                        help="spike probability of the default sample inputs (default 0.1)")
    parser.add_argument("--weight-percentile", type=float, default=100.0,
                        help="|w| percentile mapped to the largest 8-bit weight (100: no clipping)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the default sample inputs (template: SEED, search: SEED + 1; default 0)")


def _spikes(path: str | None, option: str, key: str, shape: tuple[int, ...], rate: float, seed: int):
    """Spikes from ``option``'s npz (array ``key``, per-step shape ``shape[2:]``), or seeded Bernoulli spikes."""
    import torch

    from had_snn.hardware.spikes_io import load_spikes_npz

    if path is None:
        g = torch.Generator().manual_seed(seed)
        return (torch.rand(shape, generator=g) < rate).float()
    x, _ = load_spikes_npz(path, (key,), option, chw=shape[2:])
    return torch.as_tensor(x).float()


def _check_options(args: argparse.Namespace) -> None:
    from had_snn.util.errors import UserError

    if Path(args.out).exists() and not Path(args.out).is_dir():
        raise UserError(f"--out {args.out}: is a file, expected an output folder")
    if args.steps < 1:
        raise UserError(f"--steps must be >= 1, got {args.steps}")
    if not 0.0 <= args.rate <= 1.0:
        raise UserError(f"--rate must be a spike probability in [0, 1], got {args.rate:g}")
    if not 0.0 < args.weight_percentile <= 100.0:
        raise UserError(f"--weight-percentile must be in (0, 100], got {args.weight_percentile:g}")


def run(args: argparse.Namespace) -> int:
    from had_snn.conversion.convert import convert_student
    from had_snn.models.checkpoint import load_checkpoint, model_from_state
    from had_snn.util.errors import UserError
    from had_snn.util.runlock import check_folder_kind, run_folder_lock

    _check_options(args)
    check_folder_kind(args.out, "convert")
    if not Path(args.checkpoint).exists():
        raise FileNotFoundError(f"checkpoint not found: {args.checkpoint}")
    state = load_checkpoint(args.checkpoint)
    student = model_from_state(state, "cpu", str(args.checkpoint))
    if getattr(student, "kind", None) != "student":
        raise ValueError(f"{args.checkpoint}: holds a {getattr(student, 'kind', type(student).__name__)}, "
                         "only the spiking student can be converted")
    if (((state.get("train_config") or {}).get("data") or {}).get("crop") or {}).get("graded_spikes"):
        raise UserError(f"{args.checkpoint}: trained on graded spikes (data.crop.graded_spikes: true); the converted "
                        "network takes binary spikes (Loihi 1), so it cannot be converted")
    cfg = student.config
    c = cfg.in_channels
    template = _spikes(args.template, "--template", "template_spikes",
                       (args.steps, 1, c, cfg.template_px, cfg.template_px), args.rate, args.seed)
    search = _spikes(args.search, "--search", "search_spikes", (args.steps, 1, c, cfg.search_px, cfg.search_px),
                     args.rate, args.seed + 1)
    inputs = {"template": args.template or f"bernoulli(rate={args.rate}, seed={args.seed})",
              "search": args.search or f"bernoulli(rate={args.rate}, seed={args.seed + 1})"}
    formats = ("netx", "nir") if args.to == "all" else (args.to,)
    with run_folder_lock(args.out, kind="convert"):
        done = convert_student(student, template, search[:, :1], args.out, args.checkpoint, args.weight_percentile,
                               formats, meta={"checkpoint": str(args.checkpoint), "inputs": inputs})
    for r in done.qnet.reports:
        print(f"{r.name:12s} scale {r.scale:9.2f} ({r.limited_by}) clipped {r.clipped_weights:4d} "
              f"w err {r.weight_rel_error:.4f} vth {r.vth_mant}")
    cmp = done.comparison
    print(f"steps per frame: {cmp['frame_steps']} = {cmp['input_steps']} input + {cmp['pipeline_fill_steps']} "
          "pipeline fill (one per synaptic layer; as `had-snn deploy` runs and `had-snn energy` bills a frame)")
    worst = min(cmp["layers"], key=lambda lay: lay["spike_agreement"])
    print(f"spike agreement float vs fixed on the aligned steps: lowest {worst['spike_agreement']:.4f} "
          f"({worst['name']}); " + ", ".join(f"{lay['name']} {lay['spike_agreement']:.4f}" for lay in cmp["layers"]))
    print(f"read-out rel. error float vs fixed: {done.comparison['readout_rel_error']:.4f}; wrote "
          f"{', '.join(p.name for p in done.files.values())} to {args.out}")
    if "nir" in done.files:
        print("student.nir: the float student with the chip's timing; run it in snnTorch or norse with "
              "had_snn.conversion.nir_import (docs/loihi.md, section 10)")
    return 0
