"""``had-snn windows``: cut a sequence's template and search windows into spike tensors (``.npz``).

The output feeds ``had-snn convert --template/--search`` (real inputs for the quantisation report) and
``had-snn deploy --input`` (Lava or emulator on real search windows). Windows are cut as the tracker cuts them: the
template around the first ground-truth box, each search window around the ground-truth box of its frame.
"""

from __future__ import annotations

import argparse

NAME = "windows"
HELP = "cut template/search spike windows of a sequence (around its GT boxes) into an npz for convert/deploy"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("sequence", help="native HDF5 sequence file (SEQ.h5)")
    parser.add_argument("--out", required=True, help="output .npz (template_spikes, search_spikes, frames)")
    parser.add_argument("--frames", type=int, nargs="+", default=[1, 2], help="search frame indices (default 1 2)")
    parser.add_argument("--checkpoint", help="take crop sizes from this student checkpoint (default: CropConfig)")
    parser.add_argument("--steps", type=int, help="time steps T per frame interval (default: the crop config's)")


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from had_snn.data.io import read_sequence
    from had_snn.tracking.config import CropConfig
    from had_snn.tracking.windows import spike_windows
    from had_snn.util.atomic import atomic_path

    crop = CropConfig()
    if args.checkpoint:
        from had_snn.tracking.tracker import crop_config_for
        from had_snn.train.checkpoint import load_model

        crop = crop_config_for(load_model(args.checkpoint), args.steps or crop.student_steps)
    elif args.steps:
        crop = CropConfig(student_steps=args.steps)
    seq = read_sequence(args.sequence)
    try:
        template, search = spike_windows(seq, crop, args.frames)
    except ValueError as exc:
        raise ValueError(f"{args.sequence}: --frames {args.frames}: {exc}") from None
    with atomic_path(args.out) as tmp:
        np.savez_compressed(tmp, template_spikes=template.astype(np.uint8), search_spikes=search.astype(np.uint8),
                            frames=np.asarray(args.frames))
    print(f"wrote {args.out}: template_spikes {template.shape}, search_spikes {search.shape} "
          f"(T, B, C, H, W), spike rate {search.mean():.4f}")
    return 0
