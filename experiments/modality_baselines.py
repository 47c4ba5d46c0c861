"""Modality baselines: teacher, RGB-only and event-only ANN, undistilled spiking student and the static baseline on the
default synthetic benchmark, trained with the default configs, SR / PR / NPR table with each training's wall time.

One command, every step through the ``had-snn`` CLI (as a user would run it)::

    python experiments/modality_baselines.py [--out runs/modality-baselines] [--sequences 24] [--seed 0]

Steps and outputs::

    had-snn synth  --out DATA --sequences N --seed S           (DATA = OUT/data unless --data; reuses valid files)
    had-snn train  KIND --config experiments/configs/...yaml    -> OUT/train/<kind>/ (config, metrics, last.pt)
    had-snn eval   --tracker static --tracker OUT/checkpoints/<kind>.pt ... --split test -> OUT/eval/
    OUT/table.md, OUT/table.json and (``--doc``) a copy of the table, e.g. docs/results_modality_baselines.md

``OUT/data`` (when generated here), each ``OUT/train/<kind>`` and ``OUT/eval`` are steps of the demo's step runner
(:mod:`had_snn.demo.pipeline`): a step is cached by the SHA-256 of its config (for a training run: the config file's
text, kind and epochs override; with ``--data``, the benchmark index's hash) and its dependencies' keys, and its
``stamp.json`` holds what it produced (a training run's wall and CPU time, epochs, final loss). An interrupted
training run resumes from its ``last.pt`` (``timing.json`` adds up the wall times of all attempts); the evaluation
re-runs whenever a checkpoint or the set of trackers changed. ``had-snn synth`` on a ``--data`` folder runs every
time and reuses the valid files it finds; a folder holding a benchmark made with other settings is refused (delete
it, or run ``had-snn synth --force`` on it yourself).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from had_snn.demo.pipeline import Step, StepContext, run_steps, run_steps_parallel
from had_snn.evaluation.metrics import HEADLINE_METRICS
from had_snn.util.atomic import write_json_atomic, write_text_atomic
from had_snn.util.errors import UserError, script_main

REPO = Path(__file__).resolve().parent.parent
CONFIGS = REPO / "experiments" / "configs"
# tracker name in the table -> (train kind, config file)
TRAINED = {
    "teacher": ("teacher", "teacher.yaml"),
    "teacher_rgb": ("teacher_rgb", "teacher.yaml"),
    "teacher_events": ("teacher_events", "teacher.yaml"),
    "student": ("student", "student.yaml"),
}
LABELS = {
    "static": "static baseline (box stays where it started)",
    "teacher": "ANN teacher, RGB + events",
    "teacher_rgb": "ANN, RGB only",
    "teacher_events": "ANN, events only",
    "student": "SNN student, events only (no distillation)",
}
METRICS = tuple(HEADLINE_METRICS.items())


def had_snn(*args: str, threads: int | None = None) -> float:
    """Run one ``had-snn`` subcommand in this interpreter's environment; returns its CPU seconds (user + system).

    ``threads`` caps torch's intra-op threads (OMP_NUM_THREADS) of the child. A failed command is a UserError (the
    child printed its own error).
    """
    env = dict(os.environ, **({"OMP_NUM_THREADS": str(threads)} if threads else {}))
    print("$ had-snn " + " ".join(args), flush=True)
    proc = subprocess.Popen([sys.executable, "-m", "had_snn.cli", *args], cwd=REPO, env=env)
    try:
        _, status, usage = os.wait4(proc.pid, 0)
    except BaseException:
        proc.terminate()
        proc.wait()
        raise
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise UserError(f"`had-snn {' '.join(args)}` failed with exit code {proc.returncode} (its error is above)")
    return usage.ru_utime + usage.ru_stime


def read_json(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.is_file() else None


def synth_args(data: Path, sequences: int, seed: int) -> list[str]:
    return ["synth", "--out", str(data), "--sequences", str(sequences), "--seed", str(seed)]


def data_step(sequences: int, seed: int) -> Step:
    """``had-snn synth`` into OUT/data."""

    def run(ctx: StepContext) -> dict:
        had_snn(*synth_args(ctx.step_dir, sequences, seed))
        return {"root": ctx.rel(ctx.step_dir), "files": [ctx.rel(ctx.step_dir / "index.json")]}

    return Step("data", "had-snn synth", {"sequences": sequences, "seed": seed}, run)


def train_step(name: str, data: Path, data_key: dict, epochs: int | None, threads: int | None = None) -> Step:
    """Train one tracker with ``had-snn train`` into OUT/train/<name>; its outputs are the table's training record
    (wall and CPU seconds over all attempts, epochs, steps, last row). ``data_key`` is the data's part of the key:
    ``{}`` when the data step is a dependency, else the benchmark index's hash."""
    kind, config_name = TRAINED[name]
    config = CONFIGS / config_name

    def run(ctx: StepContext) -> dict:
        run_dir, timing_path = ctx.step_dir, ctx.step_dir / "timing.json"
        resume = ctx.resuming and (run_dir / "last.pt").is_file()
        timing = (read_json(timing_path) if resume else None) or {}
        spent, cpu_spent = timing.get("wall_s", 0.0), timing.get("cpu_s", 0.0)
        args = ["train", kind, "--config", str(config), "--data", str(data), "--out", str(run_dir), "--device", "cpu"]
        if epochs is not None:
            args += ["--epochs", str(epochs)]
        if resume:
            args.append("--resume")
        start, cpu_s = time.perf_counter(), float("nan")
        try:
            cpu_s = had_snn(*args, threads=threads)
        finally:  # keep the time of an interrupted attempt so a resumed run reports the total
            write_json_atomic(timing_path, {"wall_s": spent + time.perf_counter() - start,
                                            "cpu_s": cpu_spent + cpu_s}, indent=1)
        history = json.loads((run_dir / "metrics.json").read_text())
        return {"kind": kind, "config": str(config.relative_to(REPO)), "threads": threads,
                "wall_s": spent + time.perf_counter() - start, "cpu_s": cpu_spent + cpu_s,
                "epochs": history[-1]["epoch"], "steps": history[-1]["step"],
                "epoch_seconds": sum(row["seconds"] for row in history),
                "final": {k: history[-1][k] for k in ("loss", "iou") if k in history[-1]},
                "files": [ctx.rel(run_dir / "last.pt"), ctx.rel(run_dir / "metrics.json")]}

    deps = () if data_key else ("data",)
    return Step(f"train/{name}", f"had-snn train {kind} ({config_name})",
                {"kind": kind, "config": config_name, "config_text": config.read_text(), "epochs": epochs,
                 **data_key}, run, deps)


def checkpoint_link(out: Path, name: str) -> Path:
    """OUT/checkpoints/<name>.pt -> ../train/<name>/last.pt, so ``had-snn eval`` names the tracker ``name``."""
    link = out / "checkpoints" / f"{name}.pt"
    link.parent.mkdir(parents=True, exist_ok=True)
    target = Path("..") / "train" / name / "last.pt"
    if link.is_symlink() and os.readlink(link) == str(target):
        return link
    link.unlink(missing_ok=True)
    link.symlink_to(target)
    return link


def eval_step(names: list[str], out: Path, data: Path, data_key: dict, threads: int | None) -> Step:
    """``had-snn eval`` of the static baseline and every trained checkpoint on the test split, into OUT/eval."""

    def run(ctx: StepContext) -> dict:
        trackers = ["static"] + [str(checkpoint_link(out, name)) for name in names]
        had_snn("eval", "--data", str(data), "--split", "test", "--out", str(ctx.step_dir),
                *(a for t in trackers for a in ("--tracker", t)), threads=threads)
        return {"results": ctx.rel(ctx.step_dir / "results.json"), "files": [ctx.rel(ctx.step_dir / "results.json")]}

    deps = (() if data_key else ("data",)) + tuple(f"train/{name}" for name in names)
    return Step("eval", "had-snn eval (static and every trained tracker, test split)",
                {"split": "test", "trackers": ["static", *names], **data_key}, run, deps)


def markdown(report: dict, trained: dict[str, dict], meta: dict) -> str:
    """The results table: one block per subset (all, then attributes), training wall time per tracker."""
    names = ["static", *trained]
    subsets = list(dict.fromkeys(k for t in report["trackers"].values() for k in t["subsets"]))
    lines = [
        "# Modality baselines: ANN teachers, spiking student, static baseline on the default synthetic benchmark",
        "",
        f"Generated by `{meta['command']}` on {meta['date']} ({meta['machine']}).",
        f"Benchmark: `had-snn synth --sequences {meta['sequences']} --seed {meta['seed']}` (defaults: 160x120 px, "
        f"2 s, 30 fps), {report['num_sequences']} test sequences. One-pass (OTB) evaluation on the test split; "
        "SR = success AUC, PR = precision at 20 px, NPR = normalised precision at 0.2, in %.",
        "Training: the configs under `experiments/configs/` on CPU"
        + (f", epochs overridden to {meta['epochs']}" if meta["epochs"] else "") + f"; {meta['parallel']} at once. "
        "Wall time is the whole `had-snn train` process (data loading included) on a shared machine; CPU time is "
        "its user + system seconds over all threads.",
        "",
        "| Tracker | Config | Epochs x steps | Training wall time | CPU time | Final train loss / IoU |",
        "|---|---|---:|---:|---:|---:|",
        "| static | - | - | - | - | - |",
    ]
    for name, done in trained.items():
        final = done["final"]
        lines.append(f"| {name} | `{done['config']}` | {done['epochs']} x {done['steps'] // done['epochs']} | "
                     f"{done['wall_s'] / 60:.1f} min | {done['cpu_s'] / 60:.1f} min | "
                     f"{final.get('loss', float('nan')):.3f} / "
                     f"{final.get('iou', float('nan')):.3f} |")
    lines += ["", "| Subset | #seq | Tracker | SR | PR | NPR |", "|---|---:|---|---:|---:|---:|"]
    for subset in subsets:
        for name in names:
            s = report["trackers"][name]["subsets"].get(subset)
            if s is not None:
                cells = " | ".join(f"{100 * s[key]:.1f}" for _, key in METRICS)
                lines.append(f"| {subset} | {s['num_sequences']} | {name} | {cells} |")
    lines += ["", "Trackers: " + "; ".join(f"`{n}` = {LABELS[n]}" for n in names) + ".", ""]
    static = report["trackers"]["static"]["subsets"]["all"]
    for name in trained:
        s = report["trackers"][name]["subsets"]["all"]
        deltas = ", ".join(f"{label} {100 * (s[key] - static[key]):+.1f}" for label, key in METRICS)
        lines.append(f"- `{name}` vs static, all test sequences (points): {deltas}")
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=REPO / "runs" / "modality-baselines",
                   help="output folder (default runs/modality-baselines)")
    p.add_argument("--data", type=Path, help="benchmark root (default OUT/data); generated/validated with synth")
    p.add_argument("--sequences", type=int, default=24, help="benchmark sequences over all splits (default 24)")
    p.add_argument("--seed", type=int, default=0, help="benchmark seed (default 0)")
    p.add_argument("--epochs", type=int, help="override every config's epochs (smoke runs; default: the configs')")
    p.add_argument("--parallel", type=int, default=1,
                   help="train this many trackers at once, each with cpu_count/parallel torch threads (default 1)")
    p.add_argument("--threads", type=int,
                   help="torch threads of every child process (default: cpu_count/parallel for training, torch's "
                        "default for eval); 1 avoids OpenMP spinning on a loaded machine")
    p.add_argument("--only", nargs="+", choices=list(TRAINED), default=list(TRAINED), help="trackers to train")
    p.add_argument("--doc", type=Path, help="also write the table here (e.g. docs/results_modality_baselines.md)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out = args.out.resolve()
    if args.parallel < 1:
        raise ValueError(f"--parallel must be >= 1, got {args.parallel}")
    threads = args.threads or (max(1, (os.cpu_count() or 1) // args.parallel) if args.parallel > 1 else None)
    if args.data:  # the user's folder: generated or validated on every run, keyed by its index
        data = args.data.resolve()
        had_snn(*synth_args(data, args.sequences, args.seed))
        data_key = {"data_index_sha256": hashlib.sha256((data / "index.json").read_bytes()).hexdigest()}
        data_steps = []
    else:
        data, data_key = out / "data", {}
        data_steps = [data_step(args.sequences, args.seed)]
    train_steps = [train_step(name, data, data_key, args.epochs, threads) for name in args.only]
    steps = [*data_steps, *train_steps, eval_step(args.only, out, data, data_key, args.threads)]
    if args.parallel > 1:  # the trainings first, --parallel at once (the threads only wait on the subprocesses)
        run_steps_parallel([*data_steps, *train_steps], out, args.parallel, local=[s.name for s in data_steps])
    outputs = {r.name: r.outputs for r in run_steps(steps, out)}  # the trainings are cached here when parallel
    trained = {name: {k: v for k, v in outputs[f"train/{name}"].items() if k != "files"} for name in args.only}
    report = json.loads((out / outputs["eval"]["results"]).read_text())
    command = "python experiments/modality_baselines.py " + " ".join(argv if argv is not None else sys.argv[1:])
    meta = {"command": command,
            "date": time.strftime("%Y-%m-%d"), "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
            "sequences": args.sequences, "seed": args.seed, "epochs": args.epochs, "parallel": args.parallel}
    table = markdown(report, trained, meta)
    write_text_atomic(out / "table.md", table)
    write_json_atomic(out / "table.json", {"meta": meta, "training": trained, "eval": {
        name: t["subsets"] for name, t in report["trackers"].items()}}, indent=1)
    if args.doc:
        write_text_atomic(args.doc, table)
    print(table, end="")
    return 0


if __name__ == "__main__":
    script_main(main, "experiments/modality_baselines.py")
