"""``had-snn demo``: the whole pipeline on the synthetic benchmark, cached per step, ending in one report.md.

The run folder is locked for the run (:func:`had_snn.util.runlock.run_folder_lock`) and keeps its resolved config
in ``demo_config.yaml``: ``--resume-dir`` continues with that config and refuses a conflicting ``--config``.
"""

from __future__ import annotations

import argparse
import shlex
import time
from pathlib import Path

NAME = "demo"
RESUMES = True  # Ctrl-C keeps finished work and the same command continues from it
HELP = ("run the whole pipeline (synthesise, train teacher/student/HAD student, QAT fine-tuning of the HAD student, "
        "evaluate float and Loihi fixed point in reset and streaming mode, convert to Loihi, Lava check, energy per "
        "mode) and write RUN/report.md; finished steps are reused")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path,
                        help="demo config YAML (default experiments/configs/demo.yaml, the quick CPU demo)")
    parser.add_argument("--full", action="store_true",
                        help="paper-like sizes (experiments/configs/demo_full.yaml); meant for a GPU")
    parser.add_argument("--out", type=Path, help="run folder (default runs/demo-<timestamp>); an existing run "
                        "folder is reused with its saved config unless --config/--full is given: finished steps "
                        "are skipped, an interrupted step resumes")
    parser.add_argument("--resume-dir", type=Path, help="an existing run folder to continue with the config it "
                        "saved (RUN/demo_config.yaml); a --config or --full that differs from it is refused")
    parser.add_argument("--fresh", action="store_true", help="re-run every step, ignoring cached results")
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda or cuda:N (falls back to CPU with a "
                        "warning when CUDA is unavailable), or auto")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars (step headers only)")


def run_dir_for(args: argparse.Namespace) -> Path:
    """The run folder: --resume-dir (must exist), --out, or a new runs/demo-<timestamp>."""
    if args.resume_dir is not None and args.out is not None:
        raise ValueError("give either --out or --resume-dir, not both")
    if args.resume_dir is not None:
        if not args.resume_dir.is_dir():
            raise FileNotFoundError(f"--resume-dir {args.resume_dir}: no such run folder")
        return args.resume_dir
    return args.out or Path("runs") / f"demo-{time.strftime('%Y%m%d-%H%M%S')}"


def choose_config(args: argparse.Namespace, run_dir: Path) -> tuple[dict, str]:
    """The resolved config to run and a line saying where it came from.

    ``--resume-dir`` continues with the run's saved ``demo_config.yaml`` and refuses a ``--config``/``--full`` that
    resolves to something else. ``--out`` on a folder holding a saved config reuses it unless a config is given
    (then the steps whose config changed, and those after them, re-run).
    """
    from had_snn.demo.config import (
        DEFAULT_CONFIG,
        FULL_CONFIG,
        SAVED_CONFIG_NAME,
        config_differences,
        load_demo_config,
        read_saved_config,
    )
    from had_snn.util.errors import UserError

    if args.full and args.config is not None:
        raise ValueError(f"give either --full or --config, not both (--full means --config {FULL_CONFIG})")
    explicit = args.config or (FULL_CONFIG if args.full else None)
    saved_path = run_dir / SAVED_CONFIG_NAME
    saved = read_saved_config(run_dir) if run_dir.is_dir() else None
    if args.resume_dir is not None:
        if saved is None:
            raise UserError(f"--resume-dir {run_dir}: no {SAVED_CONFIG_NAME} there, so it is not a had-snn demo run "
                            "folder; start a new run with --out instead")
        if explicit is not None:
            diff = config_differences(saved, load_demo_config(explicit))
            if diff:
                raise UserError(f"--resume-dir {run_dir}: {'--full' if args.full else f'--config {explicit}'} "
                                f"conflicts with the run's saved config {saved_path} (differs in: "
                                f"{'; '.join(diff)}); drop it to continue the run as it was, or start a new run "
                                "with --out NEW_FOLDER")
        return saved, f"config {saved['source']} (as saved in {saved_path})"
    if explicit is None and saved is not None:
        return saved, f"config {saved['source']} (as saved in {saved_path}; give --config to change it)"
    cfg = load_demo_config(explicit or DEFAULT_CONFIG)
    note = f"config {cfg['source']}"
    if saved is not None:
        diff = config_differences(saved, cfg)
        if diff:
            note += (f" (differs from the run's saved config in: {'; '.join(diff)}; the steps it changes and those "
                     "after them re-run)")
    return cfg, note


def resume_hint(args: argparse.Namespace) -> str | None:
    """The command that continues an interrupted demo run: ``had-snn demo --resume-dir RUN`` (+ device options)."""
    run_dir = getattr(args, "run_dir", None)
    if run_dir is None:
        return None
    extra = [] if args.device == "cpu" else ["--device", args.device]
    extra += ["--no-progress"] if args.no_progress else []
    return shlex.join(["had-snn", "demo", "--resume-dir", str(run_dir), *extra])


def run(args: argparse.Namespace) -> int:
    import yaml

    from had_snn.demo.config import SAVED_CONFIG_NAME, resolve_device
    from had_snn.demo.pipeline import run_steps
    from had_snn.demo.steps import build_steps
    from had_snn.util.atomic import write_text_atomic
    from had_snn.util.runlock import run_folder_lock

    run_dir = run_dir_for(args)
    cfg, note = choose_config(args, run_dir)  # before the folder is created: a bad config leaves nothing behind
    device = resolve_device(args.device)
    with run_folder_lock(run_dir, kind="demo"):
        args.run_dir = run_dir  # from here on an interruption can be resumed (resume_hint)
        write_text_atomic(run_dir / SAVED_CONFIG_NAME, yaml.safe_dump(cfg, sort_keys=False))
        print(f"had-snn demo: {note}, device {device}, run folder {run_dir}")
        t0 = time.perf_counter()
        records = run_steps(build_steps(cfg, device, progress=not args.no_progress), run_dir, fresh=args.fresh)
    ran = [r.name for r in records if r.status == "ran"]
    cached = [r.name for r in records if r.status == "cached"]
    print(f"done in {time.perf_counter() - t0:.0f} s (ran: {', '.join(ran) or 'none'}; cached: "
          f"{', '.join(cached) or 'none'})")
    overall = next(r.outputs["overall"] for r in records if r.name == "eval")
    for name, s in overall.items():
        print(f"  {name:20s} SR {100 * s['SR_AUC']:5.1f}  PR {100 * s['PR20']:5.1f}  NPR {100 * s['NPR0.2']:5.1f}")
    print(f"report: {run_dir / 'report.md'}")
    return 0
