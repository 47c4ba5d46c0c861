"""Issue 3 results: teacher, RGB-only and event-only ANN, undistilled spiking student and the static baseline on the
default synthetic benchmark, trained with the default configs, SR / PR / NPR table with each training's wall time.

One command, every step through the ``had-snn`` CLI (as a user would run it)::

    python experiments/issue3_results.py [--out runs/issue3] [--sequences 24] [--seed 0]

Steps and outputs::

    had-snn synth  --out DATA --sequences N --seed S           (DATA = OUT/data unless --data; reuses valid files)
    had-snn train  KIND --config experiments/configs/...yaml    -> OUT/train/<kind>/ (config, metrics, last.pt)
    had-snn eval   --tracker static --tracker OUT/checkpoints/<kind>.pt ... --split test -> OUT/eval/
    OUT/table.md, OUT/table.json and (``--doc``) a copy of the table, e.g. docs/results_issue3.md

A finished training run is cached by a fingerprint of its config file, CLI arguments and the benchmark index
(``OUT/train/<kind>/done.json`` holds it with the wall time); an interrupted one resumes from its ``last.pt``
(wall times of all attempts are added up). ``had-snn eval`` reuses boxes of unchanged checkpoints.
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
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

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
METRICS = (("SR", "SR_AUC"), ("PR", "PR20"), ("NPR", "NPR0.2"))


def had_snn(*args: str, threads: int | None = None) -> float:
    """Run one ``had-snn`` subcommand in this interpreter's environment; returns its CPU seconds (user + system).

    ``threads`` caps torch's intra-op threads (OMP_NUM_THREADS) of the child. Raises if the command fails.
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
        raise RuntimeError(f"`had-snn {' '.join(args)}` failed with exit code {proc.returncode}")
    return usage.ru_utime + usage.ru_stime


def write_json_atomic(path: Path, obj: dict) -> None:
    from had_snn.util.atomic import write_text_atomic

    write_text_atomic(path, json.dumps(obj, indent=1) + "\n")


def read_json(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.is_file() else None


def run_fingerprint(kind: str, config: Path, data: Path, epochs: int | None) -> str:
    """Hash of what a training run depends on: config text, kind, epochs override and the benchmark index."""
    h = hashlib.sha256()
    for part in (kind, str(epochs), config.read_text(), (data / "index.json").read_text()):
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()[:16]


def train_one(name: str, out: Path, data: Path, epochs: int | None, threads: int | None = None) -> dict:
    """Train (or reuse) one tracker; returns its done.json record (fingerprint, wall seconds, epochs, last row)."""
    kind, config_name = TRAINED[name]
    config = CONFIGS / config_name
    run_dir = out / "train" / name
    fp = run_fingerprint(kind, config, data, epochs)
    done_path, timing_path = run_dir / "done.json", run_dir / "timing.json"
    done = read_json(done_path)
    if done and done.get("fingerprint") == fp and (run_dir / "last.pt").is_file():
        print(f"{name}: cached ({done['wall_s']:.0f} s of training)", flush=True)
        return done
    timing = read_json(timing_path) or {}
    resume = timing.get("fingerprint") == fp and (run_dir / "last.pt").is_file()
    spent = timing.get("wall_s", 0.0) if resume else 0.0
    cpu_spent = timing.get("cpu_s", 0.0) if resume else 0.0
    args = ["train", kind, "--config", str(config), "--data", str(data), "--out", str(run_dir), "--device", "cpu"]
    if epochs is not None:
        args += ["--epochs", str(epochs)]
    if resume:
        args.append("--resume")
    run_dir.mkdir(parents=True, exist_ok=True)
    start, cpu_s = time.perf_counter(), float("nan")
    try:
        cpu_s = had_snn(*args, threads=threads)
    finally:  # keep the time of an interrupted attempt so a resumed run reports the total
        write_json_atomic(timing_path, {"fingerprint": fp, "wall_s": spent + time.perf_counter() - start,
                                        "cpu_s": cpu_spent + cpu_s})
    history = json.loads((run_dir / "metrics.json").read_text())
    done = {"fingerprint": fp, "kind": kind, "config": str(config.relative_to(REPO)), "threads": threads,
            "wall_s": spent + time.perf_counter() - start, "cpu_s": cpu_spent + cpu_s, "epochs": history[-1]["epoch"],
            "steps": history[-1]["step"], "epoch_seconds": sum(row["seconds"] for row in history),
            "final": {k: history[-1][k] for k in ("loss", "iou") if k in history[-1]}}
    write_json_atomic(done_path, done)
    return done


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


def markdown(report: dict, trained: dict[str, dict], meta: dict) -> str:
    """The results table: one block per subset (all, then attributes), training wall time per tracker."""
    names = ["static", *trained]
    subsets = list(dict.fromkeys(k for t in report["trackers"].values() for k in t["subsets"]))
    lines = [
        "# Issue 3 results: ANN teachers, spiking student, static baseline on the default synthetic benchmark",
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
    p.add_argument("--out", type=Path, default=REPO / "runs" / "issue3", help="output folder (default runs/issue3)")
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
    p.add_argument("--doc", type=Path, help="also write the table here (e.g. docs/results_issue3.md)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out = args.out.resolve()
    data = (args.data or out / "data").resolve()
    had_snn("synth", "--out", str(data), "--sequences", str(args.sequences), "--seed", str(args.seed))
    if args.parallel < 1:
        raise ValueError(f"--parallel must be >= 1, got {args.parallel}")
    threads = args.threads or (max(1, (os.cpu_count() or 1) // args.parallel) if args.parallel > 1 else None)
    with ThreadPoolExecutor(args.parallel) as pool:  # threads only wait on the training subprocesses
        futures = {name: pool.submit(train_one, name, out, data, args.epochs, threads) for name in args.only}
        trained = {name: f.result() for name, f in futures.items()}
    trackers = ["static"] + [str(checkpoint_link(out, name)) for name in trained]
    eval_args = ["eval", "--data", str(data), "--split", "test", "--out", str(out / "eval")]
    had_snn(*eval_args, *(a for t in trackers for a in ("--tracker", t)), threads=args.threads)
    report = json.loads((out / "eval" / "results.json").read_text())
    meta = {"command": "python experiments/issue3_results.py " + " ".join(argv if argv is not None else sys.argv[1:]),
            "date": time.strftime("%Y-%m-%d"), "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
            "sequences": args.sequences, "seed": args.seed, "epochs": args.epochs, "parallel": args.parallel}
    table = markdown(report, trained, meta)
    from had_snn.util.atomic import write_text_atomic

    write_text_atomic(out / "table.md", table)
    write_json_atomic(out / "table.json", {"meta": meta, "training": trained, "eval": {
        name: t["subsets"] for name, t in report["trackers"].items()}})
    if args.doc:
        write_text_atomic(args.doc, table)
    print(table, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
