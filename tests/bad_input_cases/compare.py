"""Rows: ``had-snn compare`` on missing, mismatched or malformed eval reports and bad options (ids ``compare-``)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.bad_input_cases import Case, Env

_SEQS = ("s0", "s1", "s2", "s3", "s4")


def _report(path: Path, trackers: dict[str, tuple[str, ...]] | None = None, metrics: tuple[str, ...] = ("SR_AUC",),
            value: object = 0.5) -> None:
    """A results.json with per-sequence scores: tracker name -> its sequences, every ``metrics`` key = ``value``."""
    trackers = trackers if trackers is not None else {"had": _SEQS}
    body = {"split": "test", "trackers": {name: {"fps": 1.0, "subsets": {},
                                                 "sequences": {s: {m: value for m in metrics} for s in seqs}}
                                          for name, seqs in trackers.items()}}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(body))


def _a_b(env: Env) -> None:
    _report(env.tmp / "a.json")
    _report(env.tmp / "b.json", {"student": ("s0", "s1", "s2", "s3", "s9")})


def _two_trackers(env: Env) -> None:
    _report(env.tmp / "eval" / "results.json", {"had": _SEQS, "student": _SEQS})


def _one_sequence(env: Env) -> None:
    _report(env.tmp / "a.json", {"had": ("s0",)})
    _report(env.tmp / "b.json", {"student": ("s0",)})


def _valid_pair(env: Env) -> None:
    _report(env.tmp / "a.json")
    _report(env.tmp / "b.json", {"student": _SEQS})


def _text(env: Env) -> None:
    _report(env.tmp / "b.json")
    (env.tmp / "a.json").write_text("{not json")


def _list(env: Env) -> None:
    _report(env.tmp / "b.json")
    (env.tmp / "a.json").write_text("[1, 2]")


def _word_score(env: Env) -> None:
    _report(env.tmp / "a.json", value="high")
    _report(env.tmp / "b.json")


def _unfinished(env: Env) -> None:
    _report(env.tmp / "run" / "seed0" / "eval" / "results.json")
    (env.tmp / "run" / "seed1").mkdir(parents=True)
    _report(env.tmp / "b.json")


def _empty_folder(env: Env) -> None:
    (env.tmp / "empty").mkdir()
    _report(env.tmp / "b.json")


def _out_file(env: Env) -> None:
    _valid_pair(env)
    (env.tmp / "out").write_text("a file\n")


def _dataset_pair(env: Env) -> None:
    """Both trackers scored on the shared benchmark's test split (its index gives the attributes)."""
    index = json.loads((env.data / "index.json").read_text())
    seqs = tuple(index["splits"]["test"])
    _report(env.tmp / "a.json", {"had": seqs})
    _report(env.tmp / "b.json", {"student": seqs}, value=0.25)


def _no_out(env: Env) -> None:
    assert not (env.tmp / "out").exists()


def _out_untouched(env: Env) -> None:
    assert (env.tmp / "out").read_text() == "a file\n"


def _written(env: Env) -> None:
    report = json.loads((env.tmp / "out" / "compare.json").read_text())
    assert report["subsets"]["all"]["diff"]["lo"] == report["subsets"]["all"]["diff"]["hi"] == 0.25
    assert (env.tmp / "out" / "compare.png").is_file() and (env.tmp / "out" / "compare.md").is_file()


_AB = ("compare", "{tmp}/a.json", "{tmp}/b.json", "--n-boot", "50", "--out", "{tmp}/out")

CASES = [
    Case("compare-missing-path", ("compare", "{tmp}/nope.json", "{tmp}/b.json"), 1,
         ("nope.json", "no such file or folder"), setup=_valid_pair),
    Case("compare-folder-without-results", ("compare", "{tmp}/empty", "{tmp}/b.json", "--out", "{tmp}/out"), 1,
         ("empty", "no results.json found", "seed<k>/eval/results.json"), setup=_empty_folder, check=_no_out),
    Case("compare-different-sequences", _AB, 1, ("a.json", "b.json", "different sequences", "s4", "s9"),
         setup=_a_b, check=_no_out),
    Case("compare-unknown-tracker", ("compare", "{tmp}/eval", "{tmp}/eval", "--tracker-a", "kd", "--tracker-b",
                                     "had"), 1, ("no tracker 'kd'", "had, student"), setup=_two_trackers),
    Case("compare-several-trackers-unnamed", ("compare", "{tmp}/eval", "{tmp}/eval", "--tracker-a", "had"), 1,
         ("holds 2 trackers", "had, student", "--tracker-b"), setup=_two_trackers),
    Case("compare-one-sequence", _AB, 1, ("1 sequence", "at least 2"), setup=_one_sequence, check=_no_out),
    Case("compare-metric-missing", (*_AB, "--metric", "PR"), 1, ("a.json", "no 'PR20' score", "s0"),
         setup=_valid_pair, check=_no_out),
    Case("compare-metric-unknown", (*_AB, "--metric", "IoU"), 2, ("--metric", "SR, PR or NPR"), setup=_valid_pair,
         check=_no_out),
    Case("compare-level-percent", (*_AB, "--level", "95"), 2, ("--level", "(0, 1)"), setup=_valid_pair,
         check=_no_out),
    Case("compare-n-boot-zero", (*_AB[:3], "--n-boot", "0"), 2, ("--n-boot", ">= 1"), setup=_valid_pair),
    Case("compare-not-json", _AB, 1, ("a.json", "not valid json"), setup=_text, check=_no_out),
    Case("compare-not-a-report", _AB, 1, ("a.json", "not an eval report", "trackers"), setup=_list, check=_no_out),
    Case("compare-score-not-a-number", _AB, 1, ("a.json", "sr_auc", "finite number", "'high'"), setup=_word_score,
         check=_no_out),
    Case("compare-unfinished-seed", ("compare", "{tmp}/run", "{tmp}/b.json"), 1,
         ("seed1", "no eval/results.json", "seed0/eval"), setup=_unfinished),
    Case("compare-empty-comma-path", ("compare", "{tmp}/a.json,", "{tmp}/b.json"), 1, ("results_a", "empty path"),
         setup=_valid_pair),
    Case("compare-out-is-a-file", _AB, 1, ("--out", "is a file"), setup=_out_file, check=_out_untouched),
    Case("compare-data-of-another-benchmark", (*_AB, "--data", "{data}"), 1,
         ("a.json", "do not cover sequences", "s0"), setup=_valid_pair, check=_no_out),
    Case("compare-data-attributes-ok", (*_AB, "--data", "{data}"), 0, ("had better", "verdict (all)"),
         setup=_dataset_pair, check=_written),
]
