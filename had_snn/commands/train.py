"""``had-snn train KIND --config FILE``: train a teacher or the spiking student (also under ``torchrun``)."""

from __future__ import annotations

import argparse

from had_snn.commands.threads import THREADS_HELP

NAME = "train"
HELP = "train a tracker (teacher, teacher_rgb, teacher_events or student) from a YAML config"
KINDS = ("teacher", "teacher_rgb", "teacher_events", "student")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("kind", choices=KINDS, help="which tracker to train")
    parser.add_argument("--config", required=True, help="YAML training config (see experiments/configs/)")
    parser.add_argument("--data", help="dataset root with index.json (overrides data.dir of the config)")
    parser.add_argument("--out", help="output folder (default runs/<kind>)")
    parser.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (CUDA when available)")
    parser.add_argument("--epochs", type=int, help="override the config's epochs")
    parser.add_argument("--threads", type=int, help=THREADS_HELP)
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    from had_snn.commands.threads import set_threads
    from had_snn.data.dataset import load_split
    from had_snn.train.config import config_from_dict, read_yaml
    from had_snn.train.distill_hook import build_distillation
    from had_snn.train.loop import train

    set_threads(args.threads)
    raw = read_yaml(args.config)
    if raw.get("model", args.kind) != args.kind:
        raise ValueError(f"{args.config}: config trains model {raw['model']!r} but the command asks for {args.kind!r}")
    raw["model"] = args.kind
    if args.epochs is not None:
        raw["epochs"] = args.epochs
    cfg = config_from_dict(raw, args.config)
    if args.data:
        cfg.data.dir = args.data
    if not cfg.data.dir:
        raise ValueError(f"{args.config}: no data.dir in the config and no --data given")
    distill = build_distillation(cfg, args.config)
    frames = cfg.model in ("teacher", "teacher_rgb") or distill.needs_frames
    sequences = load_split(cfg.data.dir, cfg.data.split, load_frames=frames)
    out = args.out or f"runs/{args.kind}"
    history = train(cfg, out, sequences, resume=args.resume, device=args.device, progress=not args.no_progress,
                    extra_loss=distill.extra_loss, extra_modules=distill.extra_modules).history
    if history:
        last = history[-1]
        print(f"{args.kind}: {last['epoch']} epochs, step {last['step']}, loss {last['loss']:.4f}, "
              f"iou {last['iou']:.3f} -> {out}/last.pt")
    return 0
