"""``had-snn windows``: cut a sequence's template and search windows into spike tensors (``.npz``).

The output feeds ``had-snn convert --template/--search`` (real inputs for the quantisation report) and
``had-snn deploy --input`` (Lava or emulator on real search windows). Windows are cut as the tracker cuts them: the
template around the first ground-truth box, each search window around the ground-truth box of its frame. With
``--checkpoint`` T and the crop sizes come from the checkpoint, as ``had-snn track`` and ``had-snn eval`` take them
(:func:`had_snn.tracking.online.checkpoint_crop`); ``--steps`` overrides T and the output says so.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from had_snn.commands.box_update import nonnegative_int, positive_int

NAME = "windows"
HELP = "cut template/search spike windows of a sequence (around its GT boxes) into an npz for convert/deploy"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("sequence", help="native HDF5 sequence file (SEQ.h5)")
    parser.add_argument("--out", required=True, type=Path,
                        help="output .npz (template_spikes, search_spikes, frames); '.npz' is appended when missing")
    parser.add_argument("--frames", type=nonnegative_int, nargs="+", default=[1, 2],
                        help="search frame indices (default 1 2)")
    parser.add_argument("--checkpoint", type=Path,
                        help="take T and the crop sizes from this student checkpoint, its run folder (best.pt, else "
                             "last.pt) or a converted network (default: CropConfig's sizes, T = 8)")
    parser.add_argument("--steps", type=positive_int,
                        help="time steps T per frame interval (default: the checkpoint's training config, else 8)")


def npz_path(out: Path) -> Path:
    """``--out`` with the ``.npz`` suffix (appended when missing); ValueError when it is an existing folder."""
    if out.is_dir():
        raise ValueError(f"--out {out} is a folder; expected an .npz file name")
    return out if out.suffix.lower() == ".npz" else out.with_name(out.name + ".npz")


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from had_snn.data.io import read_sequence
    from had_snn.tracking.config import CropConfig
    from had_snn.tracking.windows import spike_windows
    from had_snn.util.atomic import atomic_path
    from had_snn.util.runlock import file_lock

    out = npz_path(args.out)
    if out != args.out:
        print(f"note: --out {args.out} has no .npz suffix; writing {out}", file=sys.stderr)
    if out.is_dir():
        raise ValueError(f"--out {out} is a folder; expected an .npz file name")
    if args.checkpoint:
        from had_snn.tracking.online import checkpoint_crop, open_checkpoint

        ckpt = open_checkpoint(args.checkpoint)
        if ckpt.model_kind != "student":
            raise ValueError(f"--checkpoint {args.checkpoint} holds a {ckpt.model_kind}; spike windows are the "
                             "student's input (give a student checkpoint)")
        crop, crop_line = checkpoint_crop(ckpt, args.steps)
        print(f"checkpoint {ckpt.describe()}; {crop_line}")
    else:
        crop = CropConfig() if args.steps is None else CropConfig(student_steps=args.steps)
        print(f"T = {crop.student_steps} spike steps per window (from "
              f"{'--steps' if args.steps else 'the default'}); template {crop.template_px} px, search "
              f"{crop.search_px} px (CropConfig's defaults; --checkpoint takes them from a checkpoint)")
    seq = read_sequence(args.sequence)
    try:
        template, search = spike_windows(seq, crop, args.frames)
    except ValueError as exc:
        where = f"--frames {args.frames}: " if "frames [" in str(exc) else ""
        raise ValueError(f"{args.sequence}: {where}{exc}") from None
    with file_lock(out), atomic_path(out) as tmp, open(tmp, "wb") as f:  # a file object: numpy appends no second suffix
        np.savez_compressed(f, template_spikes=template.astype(np.uint8), search_spikes=search.astype(np.uint8),
                            frames=np.asarray(args.frames))
    print(f"wrote {out}: template_spikes {template.shape}, search_spikes {search.shape} "
          f"(T, B, C, H, W), spike rate {search.mean():.4f}")
    return 0
