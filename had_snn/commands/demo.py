"""``had-snn demo``: the whole pipeline on the synthetic benchmark, cached per step, ending in one report.md."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

NAME = "demo"
HELP = ("run the whole pipeline (synthesise, train teacher/student/HAD student, evaluate, convert to Loihi, Lava "
        "check, energy) and write RUN/report.md; finished steps are reused")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path,
                        help="demo config YAML (default experiments/configs/demo.yaml, the quick CPU demo)")
    parser.add_argument("--full", action="store_true",
                        help="paper-like sizes (experiments/configs/demo_full.yaml); meant for a GPU")
    parser.add_argument("--out", type=Path, help="run folder (default runs/demo-<timestamp>); an existing run "
                        "folder is reused: finished steps are skipped, an interrupted step resumes")
    parser.add_argument("--resume-dir", type=Path, help="an existing run folder to continue (same as --out DIR, "
                        "but it must exist)")
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


def run(args: argparse.Namespace) -> int:
    import yaml

    from had_snn.demo.config import DEFAULT_CONFIG, FULL_CONFIG, load_demo_config, resolve_device
    from had_snn.demo.pipeline import run_steps
    from had_snn.demo.steps import build_steps
    from had_snn.util.atomic import write_text_atomic

    if args.full and args.config is not None:
        raise ValueError("give either --full or --config, not both (--full means --config "
                         f"{FULL_CONFIG})")
    cfg = load_demo_config(args.config or (FULL_CONFIG if args.full else DEFAULT_CONFIG))
    device = resolve_device(args.device)
    run_dir = run_dir_for(args)
    run_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(run_dir / "demo_config.yaml", yaml.safe_dump(cfg, sort_keys=False))
    print(f"had-snn demo: config {cfg['source']}, device {device}, run folder {run_dir}")
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
