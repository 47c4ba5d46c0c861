"""``had-snn compare RESULTS_A RESULTS_B``: is tracker A better than tracker B on the same sequences?

Each side is a ``results.json`` written by ``had-snn eval``, an eval folder holding one, a run folder of several
training seeds (``RUN/seed<k>/eval/results.json``, the layout ``experiments/had_table.py`` writes under
``OUT/runs/<method>/``), or several of these joined with commas (explicit seeds, paired in the order given). The
table gives, per subset (all, normal_light, each attribute), A's and B's mean, the difference A - B with its
percentile bootstrap interval over sequences (:mod:`had_snn.evaluation.compare`), the per-seed differences and their
mean +- std when both sides have as many seeds, and a verdict for ``all``.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from had_snn.commands.box_update import positive_int
from had_snn.evaluation.metrics import HEADLINE_METRICS

NAME = "compare"
HELP = ("paired comparison of two evaluated trackers on the same sequences: score difference A - B with a bootstrap "
        "interval over sequences, per subset, and over training seeds")
METRIC_CHOICES = HEADLINE_METRICS


def _level(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1), e.g. 0.95, got {text!r}") from None
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1), e.g. 0.95, got {text!r}")
    return value


def _metric(text: str) -> str:
    key = text.upper()
    if key not in METRIC_CHOICES:
        raise argparse.ArgumentTypeError(f"expected SR, PR or NPR, got {text!r}")
    return key


def add_arguments(parser: argparse.ArgumentParser) -> None:
    where = ("a results.json, an eval folder holding one, a run folder with seed<k>/eval/results.json (one per "
             "training seed), or several of these joined with commas")
    parser.add_argument("results_a", metavar="RESULTS_A", help=f"tracker A: {where}")
    parser.add_argument("results_b", metavar="RESULTS_B", help=f"tracker B: {where}")
    parser.add_argument("--tracker-a", default=None, metavar="NAME",
                        help="tracker of A's results.json (default: its only tracker)")
    parser.add_argument("--tracker-b", default=None, metavar="NAME",
                        help="tracker of B's results.json (default: its only tracker); A and B may be the same file "
                             "with different --tracker-a / --tracker-b")
    parser.add_argument("--metric", type=_metric, default="SR",
                        help="SR (success AUC, default), PR (precision at 20 px) or NPR (normalised precision at 0.2)")
    parser.add_argument("--n-boot", type=positive_int, default=10000, help="bootstrap resamples (default 10000)")
    parser.add_argument("--level", type=_level, default=0.95, help="interval level in (0, 1) (default 0.95)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the bootstrap draw (default 0)")
    parser.add_argument("--data", default=None, metavar="DATASET",
                        help="benchmark root whose index.json gives the sequence attributes, for results.json files "
                             "that do not store them (without either, only the 'all' subset is compared)")
    parser.add_argument("--out", type=Path, default=None, metavar="DIR",
                        help="also write DIR/compare.md, compare.json and compare.png (forest plot of A - B per "
                             "subset)")


def _seed_number(path: Path) -> int:
    match = re.fullmatch(r"seed(\d+)", path.name)
    return int(match.group(1)) if match else -1


def resolve_results(spec: str, option: str) -> list[Path]:
    """The results.json files of one side: ``spec`` split at commas, each a file, an eval folder or a run folder of
    ``seed<k>/eval/results.json`` (in seed order). UserError names ``option`` and the path at fault."""
    from had_snn.util.errors import UserError

    parts = [p.strip() for p in spec.split(",")]
    if not parts or any(not p for p in parts):
        raise UserError(f"{option} {spec!r}: empty path in the comma-separated list")
    files: list[Path] = []
    for part in parts:
        path = Path(part)
        if path.is_file():
            files.append(path)
        elif not path.exists():
            raise UserError(f"{option}: {path}: no such file or folder")
        elif (path / "results.json").is_file():
            files.append(path / "results.json")
        else:
            seeds = sorted((p for p in path.iterdir() if p.is_dir() and _seed_number(p) >= 0), key=_seed_number)
            if not seeds:
                raise UserError(f"{option}: {path}: no results.json found (expected {path}/results.json, or "
                                f"seed<k>/eval/results.json of a run folder)")
            unfinished = [p for p in seeds if not (p / "eval" / "results.json").is_file()]
            if unfinished:
                done = ",".join(str(p / "eval") for p in seeds if p not in unfinished)
                raise UserError(f"{option}: {unfinished[0]} has no eval/results.json (an unfinished run?)"
                                + (f"; to compare the finished seeds only, pass {done}" if done else ""))
            files += [p / "eval" / "results.json" for p in seeds]
    return files


def _check_distinct(runs: list, option: str) -> None:
    """UserError when one side lists the same results file twice (it would count as two seeds)."""
    from had_snn.util.errors import UserError

    seen: dict[tuple[str, str], str] = {}
    for run in runs:
        key = (str(Path(run.path).resolve()), run.tracker)
        if key in seen:
            raise UserError(f"{option}: {run.path} is given twice (also as {seen[key]}); each seed must be its own "
                            "results file")
        seen[key] = run.path


def run(args: argparse.Namespace) -> int:
    import json

    from had_snn.evaluation.compare import compare, dataset_attributes, load_scores, markdown, plot_forest, verdict
    from had_snn.util.atomic import save_figure, write_text_atomic
    from had_snn.util.errors import UserError

    if args.out is not None and args.out.exists() and not args.out.is_dir():
        raise ValueError(f"--out {args.out} is a file; expected a folder")
    attributes = dataset_attributes(args.data) if args.data else None
    sides = {}
    for side, spec, tracker in (("A", args.results_a, args.tracker_a), ("B", args.results_b, args.tracker_b)):
        files = resolve_results(spec, f"RESULTS_{side}")
        sides[side] = [load_scores(f, tracker, attributes=attributes) for f in files]
        _check_distinct(sides[side], f"RESULTS_{side}")
    a, b = sides["A"], sides["B"]
    same = [(x.path, y.path) for x in a for y in b
            if Path(x.path).resolve() == Path(y.path).resolve() and x.tracker == y.tracker]
    if same:
        raise UserError(f"RESULTS_A and RESULTS_B: both name tracker {a[0].tracker!r} of {same[0][0]}; a tracker "
                        "compared with itself says nothing (name another tracker or file)")
    name_a, name_b = a[0].tracker, b[0].tracker
    if name_a == name_b:
        name_a, name_b = f"A: {name_a}", f"B: {name_b}"
    result = compare(a, b, metric=METRIC_CHOICES[args.metric], n_boot=args.n_boot, level=args.level,
                     seed=args.seed)
    table = markdown(result, name_a, name_b)
    if len(result) == 1:
        table += ("\nOnly the 'all' subset: the results.json files store no per-sequence attributes; pass --data "
                  "DATASET (the benchmark they were evaluated on) for normal_light and each attribute.\n")
    print(table, end="")
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        report = {
            "a": {"tracker": a[0].tracker, "files": [s.path for s in a]},
            "b": {"tracker": b[0].tracker, "files": [s.path for s in b]},
            "metric": METRIC_CHOICES[args.metric], "level": args.level, "n_boot": args.n_boot, "seed": args.seed,
            "verdict": verdict(result["all"], name_a, name_b),
            "subsets": result,
        }
        write_text_atomic(args.out / "compare.md", table)
        write_text_atomic(args.out / "compare.json", json.dumps(report, indent=1))
        save_figure(plot_forest(result, name_a, name_b), args.out / "compare.png")
        print(f"wrote {args.out / 'compare.md'}, {args.out / 'compare.json'} and {args.out / 'compare.png'}")
    return 0
