"""Run every bench under ``bench/`` ``--runs`` times and write the performance table from what they printed.

Each bench prints one ``bench-result {json}`` line per measurement (``bench/result_line.py``): the peer's time, ours,
their ratio, the goal and what was compared. This script runs them as subprocesses (their output passes through),
collects those lines, and writes ``OUT/bench.json`` (every run's lines, the machine and the commit; rewritten after
each bench run, so an interrupted run resumes where it stopped) and ``OUT/bench.md`` (the table: median ratio over
the runs and its range). ``--readme README.md`` also writes the table between the README's
``<!-- bench-table:start -->`` and ``<!-- bench-table:end -->`` markers.

    .venv/bin/python scripts/bench_table.py [--runs 3] [--out runs/bench] [--readme README.md] [--only sinkhorn]
    .venv/bin/python scripts/bench_table.py --from-json runs/bench/bench.json --readme README.md   # no rerun
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from result_line import PREFIX  # noqa: E402

#: what ``make bench`` runs: a script under bench/ and its arguments
BENCHES = (
    "bench_prophesee.py",
    "bench_binning.py",
    "bench_sinkhorn.py",
    "bench_student_step.py --threads 1",
    "bench_emulator_vs_lava.py --network student",
    "bench_emulator_vs_lava.py",
    "bench_lava_stream.py",
)
START, END = "<!-- bench-table:start -->", "<!-- bench-table:end -->"
UNIT_TIME = {"sample-step": "ms/sample-step", "step": "ms/step", "batch": "ms/batch", "call": "ms/call",
             "file": "ms/file"}


def machine() -> dict:
    """The machine and code the numbers belong to: CPU model, cores, Python, torch, commit, date."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                                check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True, check=True).stdout.strip()
        commit += "+changes" if dirty else ""
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    import torch

    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(), "torch": torch.__version__,
            "commit": commit, "date": datetime.date.today().isoformat()}


def parse_results(text: str, bench: str) -> list[dict]:
    """The ``bench-result`` lines of one bench run's output, each tagged with ``bench``."""
    out = []
    for line in text.splitlines():
        if line.startswith(PREFIX):
            try:
                row = json.loads(line[len(PREFIX):])
            except json.JSONDecodeError as err:
                raise ValueError(f"{bench}: unreadable result line {line!r}: {err}") from None
            missing = {"what", "peer", "peer_s", "ours_s", "ratio", "unit", "goal", "checked"} - set(row)
            if missing:
                raise ValueError(f"{bench}: result line lacks {sorted(missing)}: {line!r}")
            out.append({**row, "bench": bench})
    return out


def run_bench(bench: str, label: str) -> list[dict]:
    """Run one bench (a ``bench/`` script and its arguments) with this interpreter, its output passing through;
    its result lines. Raises RuntimeError naming the bench when it fails or prints no result."""
    script, *args = shlex.split(bench)
    print(f"== {label}: bench/{bench}", flush=True)
    proc = subprocess.Popen([sys.executable, str(ROOT / "bench" / script), *args], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, bufsize=1)
    lines = []
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line)
        if not line.startswith(PREFIX):
            print("   " + line, end="", flush=True)
    if proc.wait() != 0:
        tail = "".join(lines[-5:])
        raise RuntimeError(f"bench/{bench} failed (exit {proc.returncode}); its last lines:\n{tail}")
    rows = parse_results("".join(lines), bench)
    if not rows and not any(line.startswith("skipped:") for line in lines):
        raise RuntimeError(f"bench/{bench} printed no '{PREFIX.strip()}' line")
    return rows


def summarise(runs: list[list[dict]]) -> list[dict]:
    """Per measurement (bench, what), in first-seen order: median and range of the ratio and the times over runs."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for rows in runs:
        for row in rows:
            groups.setdefault((row["bench"], row["what"]), []).append(row)
    out = []
    for (bench, what), rows in groups.items():
        ratios = [r["ratio"] for r in rows]
        out.append({
            "bench": bench, "what": what, "peer": rows[0]["peer"], "unit": rows[0]["unit"], "goal": rows[0]["goal"],
            "checked": rows[0]["checked"], "runs": len(rows), "ratio_median": statistics.median(ratios),
            "ratio_min": min(ratios), "ratio_max": max(ratios),
            "peer_s": statistics.median(r["peer_s"] for r in rows),
            "ours_s": statistics.median(r["ours_s"] for r in rows),
        })
    return out


def _ms(seconds: float) -> str:
    ms = seconds * 1e3
    return f"{ms:.3g}" if ms < 100 else f"{ms:.0f}"


def goal_status(row: dict) -> str:
    """``met``, or how far the median falls short of the goal; empty without a goal."""
    goal = row["goal"]
    if goal is None:
        return ""
    if row["ratio_median"] >= goal:
        return f">= {goal:g}x: met"
    return f">= {goal:g}x: short ({row['ratio_median'] / goal:.0%} of it)"


def render(summary: list[dict], info: dict, n_runs: int) -> str:
    """The Markdown table with the line that says where and when it was measured."""
    lines = [
        f"Measured by `make bench` ({n_runs} run(s) of every bench) on {info['date']}: {info['cpu']}, "
        f"{info['cores']} cores, Python {info['python']}, torch {info['torch']}, commit {info['commit']}. "
        "Ratio = peer time / our time (higher: ours faster), median over the runs [min-max]; times are medians.",
        "",
        "| bench | measurement | peer | peer | ours | ratio | goal | checked before timing |",
        "|---|---|---|---:|---:|---:|---|---|",
    ]
    for r in summary:
        unit = UNIT_TIME.get(r["unit"], f"ms/{r['unit']}")
        spread = f"{r['ratio_min']:.3g}-{r['ratio_max']:.3g}" if r["runs"] > 1 else "one run"
        lines.append(
            f"| `{r['bench']}` | {r['what']} | {r['peer']} | {_ms(r['peer_s'])} {unit} | {_ms(r['ours_s'])} {unit} "
            f"| **{r['ratio_median']:.3g}x** [{spread}] | {goal_status(r)} | {r['checked']} |"
        )
    return "\n".join(lines) + "\n"


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=f".{path.name}.", suffix=".tmp",
                                     delete=False) as tmp:
        tmp.write(text)
    os.replace(tmp.name, path)


def replace_block(readme: str, table: str, where: str = "README") -> str:
    """``readme`` with the text between the bench-table markers replaced by ``table``."""
    if readme.count(START) != 1 or readme.count(END) != 1 or readme.index(START) > readme.index(END):
        raise ValueError(f"{where}: needs one '{START}' line followed by one '{END}' line around the bench table")
    head, rest = readme.split(START, 1)
    return f"{head}{START}\n{table}{END}{rest.split(END, 1)[1]}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs of every bench (median and range reported)")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "bench", help="folder for bench.json|md")
    parser.add_argument("--readme", type=Path, help="also write the table between the markers of this README")
    parser.add_argument("--only", help="run only the benches whose command contains this text")
    parser.add_argument("--bench", action="append", help="a bench command instead of the default list (repeatable)")
    parser.add_argument("--from-json", type=Path, help="render a finished bench.json instead of running")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be >= 1")
    if args.from_json:
        try:
            saved = json.loads(args.from_json.read_text())
            info, runs, n_runs = saved["machine"], saved["runs"], saved["n_runs"]
        except (OSError, json.JSONDecodeError, KeyError, TypeError) as err:
            raise SystemExit(f"{args.from_json}: not a bench.json written by this script ({err})") from None
    else:
        benches = args.bench or [b for b in BENCHES if args.only is None or args.only in b]
        if not benches:
            raise SystemExit(f"--only {args.only!r} matches none of: {', '.join(BENCHES)}")
        info, n_runs = machine(), args.runs
        state_path = args.out / "bench.json"
        runs = _resume(state_path, info, benches, n_runs)
        todo = [(k, b) for k in range(n_runs) for b in benches if not any(r["key"] == f"{k}:{b}" for r in runs)]
        if not todo:
            print(f"{state_path}: all {n_runs} run(s) of every bench are done; remove it (or give another --out) to "
                  "measure afresh")
        for i, (k, bench) in enumerate(todo, start=1):
            try:
                rows = run_bench(bench, f"[{i}/{len(todo)}] run {k + 1} of {n_runs}")
            except RuntimeError as err:
                raise SystemExit(str(err)) from None
            runs.append({"key": f"{k}:{bench}", "rows": rows})
            _write_atomic(state_path, json.dumps({"machine": info, "benches": benches, "n_runs": n_runs,
                                                  "runs": runs}, indent=1))
    table = render(summarise([r["rows"] for r in runs]), info, n_runs)
    if not args.from_json:
        _write_atomic(args.out / "bench.md", table)
        print(f"\nwrote {args.out / 'bench.json'} and {args.out / 'bench.md'}")
    print("\n" + table)
    if args.readme:
        try:
            text = replace_block(args.readme.read_text(), table, str(args.readme))
        except (OSError, ValueError) as err:
            raise SystemExit(str(err)) from None
        _write_atomic(args.readme, text)
        print(f"wrote the table into {args.readme}")
    return 0


def _resume(state_path: Path, info: dict, benches: list[str], n_runs: int) -> list[dict]:
    """The finished bench runs of an interrupted run of the same benches, commit and machine; else none."""
    if not state_path.is_file():
        return []
    try:
        saved = json.loads(state_path.read_text())
        same = (saved["benches"] == benches and saved["n_runs"] == n_runs
                and {k: saved["machine"][k] for k in ("cpu", "commit")} == {k: info[k] for k in ("cpu", "commit")})
    except (OSError, json.JSONDecodeError, KeyError, TypeError):
        same = False
    if not same:
        print(f"{state_path}: from another run (benches, commit or machine differ); starting afresh")
        return []
    done = saved["runs"]
    if done:
        print(f"{state_path}: resuming, {len(done)} bench run(s) already done")
    return done


if __name__ == "__main__":
    raise SystemExit(main())
