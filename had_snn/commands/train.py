"""``had-snn train KIND --config FILE``: train a teacher or the spiking student (also under ``torchrun``).

The output folder is owned by the run: a second process on the same ``--out`` is refused (lock file
``OUT/.had-snn.lock``), and a folder that already holds a run (``last.pt``, metrics, ``best.pt`` or another run's
``config.yaml``) is refused unless ``--resume`` (continue it) or ``--force`` (remove its run files and start over).
Everything that can be checked (config, data, teacher, the folder's state, what ``--resume`` would continue) is
checked before anything in the folder is written. When the dataset's index has a ``val`` split, the first
``--val-sequences`` of it are tracked after every epoch (``val_sr`` in the metrics, ``best.pt`` beside ``last.pt``).

Quantisation-aware fine-tuning: ``had-snn train student --config FILE --qat --init CKPT`` starts from the trained
student ``CKPT`` (same architecture) and trains with its weights and voltage biases on Loihi's integer grid
(``model_config.qat: true``, ``init_from: CKPT``; the model must be Loihi-faithful, the default).
"""

from __future__ import annotations

import argparse
import shlex
import time
from pathlib import Path

from had_snn.commands.box_update import positive_float, positive_int
from had_snn.util.threads import THREADS_HELP

NAME = "train"
RESUMES = True  # Ctrl-C keeps finished work and the same command continues from it
HELP = ("train a tracker (teacher, teacher_rgb, teacher_events, student or student_ann, the student's ANN twin) "
        "from a YAML config")
KINDS = ("teacher", "teacher_rgb", "teacher_events", "student", "student_ann")
VAL_SPLIT = "val"
DEFAULT_VAL_SEQUENCES = 4


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("kind", choices=KINDS, help="which tracker to train")
    parser.add_argument("--config", required=True, help="YAML training config (see experiments/configs/)")
    parser.add_argument("--data", help="dataset root with index.json (overrides data.dir of the config)")
    parser.add_argument("--out", help="output folder (default runs/<kind>); refused while another run uses it")
    again = parser.add_mutually_exclusive_group()
    again.add_argument("--resume", action="store_true",
                       help="continue the run in OUT from OUT/last.pt (same config; only epochs, data.dir and the "
                            "teacher path may change)")
    again.add_argument("--force", action="store_true",
                       help="OUT holds a run: delete its run files (last.pt, best.pt, metrics, config.yaml) and "
                            "start over")
    parser.add_argument("--teacher", metavar="PATH",
                        help="teacher checkpoint for distillation, relative to the current folder (overrides "
                             "distill.teacher of the config, which is relative to the config file)")
    parser.add_argument("--init", metavar="CKPT",
                        help="start from the weights of this trained checkpoint, relative to the current folder "
                             "(overrides init_from of the config, which is relative to the config file); the "
                             "architecture must match")
    parser.add_argument("--qat", action="store_true",
                        help="quantisation-aware fine-tuning of a trained student (sets model_config.qat: weights "
                             "and voltage biases on Loihi's integer grid, BN frozen and folded); needs --init CKPT "
                             "or init_from in the config")
    parser.add_argument("--val-sequences", type=int, default=DEFAULT_VAL_SEQUENCES, metavar="N",
                        help=f"track the first N sequences of the data's '{VAL_SPLIT}' split after every epoch, log "
                             f"their success rate as val_sr and keep the best epoch in OUT/best.pt "
                             f"(default {DEFAULT_VAL_SEQUENCES}; 0 disables)")
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (CUDA when available)")
    parser.add_argument("--epochs", type=int, help="override the config's epochs (with --resume: train longer)")
    parser.add_argument("--lr", type=positive_float, help="override the config's peak learning rate (lr)")
    parser.add_argument("--batch-size", type=positive_int, help="override the config's batch_size (per process)")
    parser.add_argument("--samples-per-epoch", type=positive_int,
                        help="override the config's data.samples_per_epoch (training pairs drawn per epoch)")
    parser.add_argument("--clip-frames", type=positive_int, metavar="K",
                        help="override data.clip_frames: train on K consecutive search frames run as one stream, "
                             "the state carried over (the chip's stream mode; the student only, no --teacher)")
    parser.add_argument("--threads", type=int, help=THREADS_HELP)
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def out_dir(args: argparse.Namespace) -> Path:
    """The run folder: ``--out`` or ``runs/<kind>``."""
    return Path(args.out or f"runs/{args.kind}")


def resume_hint(args: argparse.Namespace) -> str:
    """The command that continues an interrupted run: the same options with ``--resume`` once the run wrote a
    checkpoint (``--force`` dropped); before that, the same command again (``--force`` kept)."""
    argv = ["had-snn", "train", args.kind, "--config", args.config]
    if args.data:
        argv += ["--data", args.data]
    argv += ["--out", str(out_dir(args))]
    if getattr(args, "qat", False):
        argv.append("--qat")
    for flag, value in (("--teacher", args.teacher), ("--init", getattr(args, "init", None)),
                        ("--epochs", args.epochs), ("--lr", getattr(args, "lr", None)),
                        ("--batch-size", getattr(args, "batch_size", None)),
                        ("--samples-per-epoch", getattr(args, "samples_per_epoch", None)),
                        ("--clip-frames", getattr(args, "clip_frames", None)), ("--threads", args.threads)):
        if value is not None:
            argv += [flag, str(value)]
    if args.val_sequences != DEFAULT_VAL_SEQUENCES:
        argv += ["--val-sequences", str(args.val_sequences)]
    if args.device != "auto":
        argv += ["--device", args.device]
    if args.no_progress:
        argv.append("--no-progress")
    from had_snn.train.loop import CHECKPOINT_NAME

    ckpt = out_dir(args) / CHECKPOINT_NAME
    started_s = getattr(args, "started_s", None)
    if args.force and (not ckpt.is_file() or started_s is None or ckpt.stat().st_mtime < started_s):
        argv.append("--force")  # stopped before this run's first checkpoint: what is there is not this run's
    elif ckpt.is_file():
        argv.append("--resume")
    return shlex.join(argv)


def _check_paths(args: argparse.Namespace) -> None:
    from had_snn.util.errors import UserError

    out = out_dir(args)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out}: is a file, expected an output folder")
    for flag, value in (("--config", args.config), ("--teacher", args.teacher), ("--init", args.init)):
        if value and Path(value).is_dir():
            raise UserError(f"{flag} {value}: is a folder, expected a file")
    if args.data and Path(args.data).exists() and not Path(args.data).is_dir():
        raise UserError(f"--data {args.data}: is a file, expected a dataset folder holding index.json")
    if args.val_sequences < 0:
        raise UserError(f"--val-sequences must be >= 0 (0 disables validation), got {args.val_sequences}")


def check_run_folder(out: Path, cfg, resume: bool, force: bool) -> None:
    """Refuse (UserError) to start in ``out`` when that would silently replace or wrongly continue a run.

    Without ``--resume``/``--force`` the folder may hold no checkpoint, metrics or best model, and a
    ``config.yaml`` only if it is this run's (a run stopped before its first checkpoint). ``--resume`` needs
    ``last.pt`` written with the same config (see :func:`had_snn.train.loop.resume_differences`).
    """
    import yaml

    from had_snn.models.checkpoint import load_checkpoint
    from had_snn.train.loop import CHECKPOINT_NAME, CONFIG_NAME, RUN_FILES, resume_differences
    from had_snn.util.errors import UserError

    if force:
        return
    ckpt = out / CHECKPOINT_NAME
    if resume:
        if not ckpt.is_file():
            held = [n for n in RUN_FILES if (out / n).exists()]
            why = f"it holds {', '.join(held)} but no checkpoint" if held else "no run was started there"
            start = "start over with --force instead" if held else "run without --resume to start"
            raise UserError(f"--resume: nothing to resume in {out} ({why}); {start}")
        state = load_checkpoint(ckpt)
        if "train_config" not in state:
            raise UserError(f"{ckpt}: not a training checkpoint (no train_config); cannot --resume from it")
        differ = resume_differences(state["train_config"], cfg)
        if differ:
            raise UserError(f"--resume: the config differs from the run in {out} in {', '.join(differ)}; resume "
                            f"with its config ({out / CONFIG_NAME}) or pass --force instead to start over")
        return
    if ckpt.is_file():
        try:
            state = load_checkpoint(ckpt)
        except (ValueError, OSError) as exc:
            raise UserError(f"--out {out}: holds {ckpt}, which cannot be read ({exc}); pass --force to start over "
                            f"or choose another --out") from None
        epoch, epochs = state.get("epoch", "?"), state.get("train_config", {}).get("epochs", "?")
        status = "a finished run" if epoch == epochs else "an unfinished run"
        raise UserError(f"--out {out}: holds {status} ({ckpt} at epoch {epoch} of {epochs}); pass --resume to "
                        f"continue it (--epochs to train longer) or --force to start over, or choose another --out")
    held = [n for n in RUN_FILES if n != CONFIG_NAME and (out / n).exists()]
    if held:
        raise UserError(f"--out {out}: holds files of another run ({', '.join(held)}) without {CHECKPOINT_NAME}; "
                        f"pass --force to replace them or choose another --out")
    config = out / CONFIG_NAME
    if config.exists():
        try:
            saved = yaml.safe_load(config.read_text())
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            saved = None
        if not isinstance(saved, dict) or resume_differences(saved, cfg) or saved.get("epochs") != cfg.epochs:
            raise UserError(f"--out {out}: holds {config} of a different run; pass --force to replace it or choose "
                            f"another --out")


def _val_sequences(data_dir: str, count: int, load_frames: bool) -> list:
    """The first ``count`` usable sequences of the ``val`` split (none when the index has no such split)."""
    import numpy as np

    from had_snn.data.dataset import read_index
    from had_snn.data.io import read_sequence
    from had_snn.evaluation.metrics import valid_gt_mask

    index = read_index(data_dir)
    if count == 0 or not index["splits"].get(VAL_SPLIT):
        return []
    chosen = []
    for name in index["splits"][VAL_SPLIT]:
        seq = read_sequence(Path(data_dir) / index["sequences"][name]["file"], load_frames=load_frames)
        first = np.asarray(seq.boxes[0], dtype=np.float64) if seq.num_frames else np.full(4, np.nan)
        usable = seq.num_frames >= 2 and np.isfinite(first).all() and first[2] > 0 and first[3] > 0
        if usable and valid_gt_mask(seq.boxes, seq.sensor_size).any():
            chosen.append(seq)
        if len(chosen) == count:
            break
    return chosen


def run(args: argparse.Namespace) -> int:
    from had_snn.data.dataset import load_split
    from had_snn.train.config import QAT_DEFAULTS, config_from_dict
    from had_snn.train.distill_hook import build_distillation
    from had_snn.train.loop import CHECKPOINT_NAME, resolve_init, train
    from had_snn.util.config_check import read_yaml
    from had_snn.util.errors import UserError
    from had_snn.util.runlock import run_folder_lock
    from had_snn.util.threads import set_threads

    set_threads(args.threads)
    args.started_s = time.time()  # resume_hint: a checkpoint older than this is not this run's
    _check_paths(args)
    raw = read_yaml(args.config)
    twin_of_student = args.kind == "student_ann" and raw.get("model") == "student"  # the twin shares its config
    if raw.get("model", args.kind) != args.kind and not twin_of_student:
        raise ValueError(f"{args.config}: config trains model {raw['model']!r} but the command asks for {args.kind!r}")
    raw["model"] = args.kind
    if args.qat:
        if args.kind != "student":
            raise UserError(f"--qat: quantisation-aware training is for the spiking student, not {args.kind!r}")
        if not (args.init or raw.get("init_from")):
            raise UserError("--qat: fine-tunes a trained student; give its checkpoint with --init CKPT (or "
                            f"init_from: in {args.config})")
        model_config = raw.get("model_config") if isinstance(raw.get("model_config"), dict) else {}
        if model_config.get("qat") is not True:  # a from-scratch config: QAT's own schedule, not its lr
            changed = {k: (raw.get(k), v) for k, v in QAT_DEFAULTS.items() if raw.get(k) != v}
            raw.update(QAT_DEFAULTS)
            if changed:
                print("--qat: fine-tuning with QAT's defaults " + ", ".join(
                    f"{k} {new} (config: {old})" for k, (old, new) in changed.items()) + "; --epochs / --lr override")
        raw["model_config"] = {**model_config, "qat": True}
    if args.init:
        raw["init_from"] = str(args.init)
    for key, value in (("epochs", args.epochs), ("lr", args.lr), ("batch_size", args.batch_size)):
        if value is not None:
            raw[key] = value
    for key, value in (("samples_per_epoch", args.samples_per_epoch), ("clip_frames", args.clip_frames)):
        if value is not None:
            data = raw.get("data") if isinstance(raw.get("data"), dict) else {}
            raw["data"] = {**data, key: value}
    cfg = config_from_dict(raw, args.config)
    if args.data:
        cfg.data.dir = args.data
    if not cfg.data.dir:
        raise ValueError(f"{args.config}: no data.dir in the config and no --data given")
    out = out_dir(args)
    if args.resume and not (out / CHECKPOINT_NAME).is_file():
        check_run_folder(out, cfg, resume=True, force=False)  # refuse before the lock creates the folder
    created = not out.exists()
    try:
        with run_folder_lock(out, kind="train"):
            check_run_folder(out, cfg, args.resume, args.force)
            if not args.resume:
                resolve_init(cfg, args.config, args.init)
            distill = build_distillation(cfg, args.config, teacher=args.teacher)
            frames = cfg.model in ("teacher", "teacher_rgb") or distill.needs_frames
            sequences = load_split(cfg.data.dir, cfg.data.split, load_frames=frames)
            val = _val_sequences(cfg.data.dir, args.val_sequences, cfg.model in ("teacher", "teacher_rgb"))
            if args.val_sequences and not val:
                print(f"note: {cfg.data.dir} has no usable '{VAL_SPLIT}' sequences: no validation, no best.pt")
            history = train(cfg, out, sequences, resume=args.resume, device=args.device,
                            progress=not args.no_progress, extra_loss=distill.extra_loss,
                            extra_modules=distill.extra_modules, val_sequences=val).history
    finally:
        if created and out.is_dir() and not any(out.iterdir()):
            out.rmdir()  # a run that never started leaves no empty folder behind
    if history:
        last = history[-1]
        vals = [r for r in history if "val_sr" in r]
        best = max(vals, key=lambda r: r["val_sr"]) if vals else None
        val = (f", val SR {100 * last['val_sr']:.1f}% (best {100 * best['val_sr']:.1f}% at epoch {best['epoch']} "
               f"-> {out}/best.pt)" if best and "val_sr" in last else "")
        print(f"{args.kind}: {last['epoch']} epochs, step {last['step']}, loss {last['loss']:.4f}, "
              f"iou {last['iou']:.3f}{val} -> {out}/last.pt")
    return 0
