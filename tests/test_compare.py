"""Paired bootstrap comparisons (:mod:`had_snn.evaluation.compare`) and ``had-snn compare``, on hand-made
``results.json`` files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from had_snn.evaluation.compare import (
    Interval,
    SeedScores,
    compare,
    dataset_attributes,
    load_scores,
    markdown,
    paired_bootstrap,
    two_level_bootstrap,
)
from had_snn.util.errors import UserError

ATTRS = {"s0": ("low_light",), "s1": ("hdr", "pause"), "s2": ("pause",), "s3": (), "s4": ("fast_motion",)}


def write_report(path: Path, trackers: dict[str, dict[str, float]], attributes: dict | None = None,
                 per_sequence: bool = False, pr: float | None = 0.5) -> Path:
    """A results.json as ``had-snn eval`` writes it (per-sequence part), SR values given, PR / NPR constant;
    attributes top-level, or in each sequence's entry with ``per_sequence``."""
    report: dict = {"split": "test", "trackers": {}}
    for name, sr in trackers.items():
        seqs = {}
        for seq, value in sr.items():
            row = {"SR_AUC": value, "NPR0.2": 0.25}
            if pr is not None:
                row["PR20"] = pr
            if attributes is not None and per_sequence:
                row["attributes"] = list(attributes[seq])
            seqs[seq] = row
        report["trackers"][name] = {"fps": 1.0, "subsets": {}, "sequences": seqs}
    if attributes is not None and not per_sequence:
        report["attributes"] = {k: list(v) for k, v in attributes.items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report))
    return path


def _scores(values: dict[str, float], attributes: dict | None = None, tracker: str = "t") -> SeedScores:
    return SeedScores(scores={k: {"SR_AUC": v} for k, v in values.items()}, attributes=dict(attributes or {}),
                      tracker=tracker, path=f"{tracker}.json")


# ---------------------------------------------------------------------------------------------- bootstrap


def test_interval_contains_the_mean_and_shrinks_with_more_sequences() -> None:
    rng = np.random.default_rng(0)
    widths = []
    for n in (20, 320):
        diff = rng.normal(0.02, 0.05, n)
        iv = paired_bootstrap(diff, n_boot=4000, seed=1)
        assert iv.lo < iv.mean < iv.hi and iv.n == n
        assert iv.mean == pytest.approx(diff.mean())
        widths.append(iv.hi - iv.lo)
    assert widths[1] < 0.5 * widths[0]  # ~ 1 / sqrt(n): 4x narrower for 16x the sequences
    narrow = paired_bootstrap(rng.normal(0.0, 0.05, 50), level=0.5, seed=1)
    wide = paired_bootstrap(rng.normal(0.0, 0.05, 50), level=0.99, seed=1)
    assert narrow.hi - narrow.lo < wide.hi - wide.lo


def test_constant_difference_gives_a_point_interval() -> None:
    for value in (0.1, -0.037, 0.0):
        iv = paired_bootstrap(np.full(200, value))
        assert iv == Interval(mean=value, lo=value, hi=value, n=200)


def test_bootstrap_matches_a_straightforward_reimplementation() -> None:
    diff = np.array([0.05, -0.02, 0.11, 0.0, 0.03, 0.07, -0.04, 0.02])
    iv = paired_bootstrap(diff, n_boot=500, level=0.9, seed=7)
    rng = np.random.default_rng(7)
    draws = rng.integers(0, len(diff), size=(500, len(diff)), dtype=np.int32)
    means = [sum(diff[i] for i in row) / len(row) for row in draws]
    assert iv.lo == pytest.approx(np.percentile(means, 5), abs=1e-12)
    assert iv.hi == pytest.approx(np.percentile(means, 95), abs=1e-12)
    assert iv == paired_bootstrap(diff, n_boot=500, level=0.9, seed=7)  # seeded: reproducible
    assert iv != paired_bootstrap(diff, n_boot=500, level=0.9, seed=8)


def test_bootstrap_agrees_with_scipy_percentile_bootstrap() -> None:
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(3)
    a = rng.uniform(0.2, 0.7, 60)
    b = a - rng.normal(0.02, 0.04, 60)
    ours = paired_bootstrap(a - b, n_boot=10000, seed=0)
    ref = stats.bootstrap((a, b), lambda x, y, axis=-1: np.mean(x - y, axis=axis), paired=True, vectorized=True,
                          n_resamples=10000, confidence_level=0.95, method="percentile", random_state=1)
    se = np.std(a - b, ddof=1) / np.sqrt(len(a))  # Monte-Carlo error of a 2.5 % quantile at 10000 draws ~0.03 se
    assert ours.lo == pytest.approx(ref.confidence_interval.low, abs=0.2 * se)
    assert ours.hi == pytest.approx(ref.confidence_interval.high, abs=0.2 * se)


def test_bootstrap_refuses_bad_input() -> None:
    with pytest.raises(ValueError, match="at least 2 sequences"):
        paired_bootstrap(np.array([0.1]))
    with pytest.raises(ValueError, match="NaN"):
        paired_bootstrap(np.array([0.1, np.nan]))
    with pytest.raises(ValueError, match="level"):
        paired_bootstrap(np.array([0.1, 0.2]), level=1.0)
    with pytest.raises(ValueError, match="1-D"):
        paired_bootstrap(np.zeros((2, 2)))
    big = paired_bootstrap(np.random.default_rng(0).normal(size=200), n_boot=10000)  # one vectorised draw
    assert big.lo < big.mean < big.hi


# ---------------------------------------------------------------------------------------------- compare


def test_identical_trackers_give_zero_everywhere() -> None:
    values = {"s0": 0.3, "s1": 0.45, "s2": 0.61, "s3": 0.2, "s4": 0.5}
    seeds = [_scores({k: v + 0.01 * i for k, v in values.items()}, ATTRS) for i in range(3)]
    result = compare(seeds, seeds, n_boot=200)
    assert list(result) == ["all", "normal_light", "fast_motion", "hdr", "low_light", "pause"]
    for entry in result.values():
        bounds = (None, None) if entry["n_sequences"] == 1 else (0.0, 0.0)  # one sequence: no interval
        assert entry["diff"]["mean"] == 0.0 and (entry["diff"]["lo"], entry["diff"]["hi"]) == bounds
        assert entry["per_seed"] == [0.0, 0.0, 0.0] and entry["seed_mean"] == 0.0 and entry["seed_std"] == 0.0
    # three seeds of A against two of B with the same seed-averaged scores: still exactly 0, seeds not paired
    result = compare([_scores(values, ATTRS)] * 3, [_scores(values, ATTRS)] * 2, n_boot=200)
    assert result["all"]["diff"] == {"mean": 0.0, "lo": 0.0, "hi": 0.0}
    assert result["all"]["per_seed"] == [] and result["all"]["seed_mean"] is None
    assert "no resolved difference" in markdown(result, "a", "b")


def test_seed_pairing_and_subset_means() -> None:
    a = [_scores({"s0": 0.5, "s1": 0.4, "s2": 0.6, "s3": 0.7, "s4": 0.3}, ATTRS, "had"),
         _scores({"s0": 0.3, "s1": 0.4, "s2": 0.5, "s3": 0.6, "s4": 0.2}, ATTRS, "had")]
    b = [_scores({"s0": 0.4, "s1": 0.4, "s2": 0.4, "s3": 0.4, "s4": 0.4}, ATTRS, "student"),
         _scores({"s0": 0.2, "s1": 0.2, "s2": 0.2, "s3": 0.2, "s4": 0.2}, ATTRS, "student")]
    result = compare(a, b, n_boot=1000)
    full = result["all"]
    assert full["per_seed"] == pytest.approx([0.1, 0.2])  # seed 0: 2.5/5 - 0.4; seed 1: 2.0/5 - 0.2
    assert full["seed_mean"] == pytest.approx(0.15) and full["seed_std"] == pytest.approx(np.std([0.1, 0.2], ddof=1))
    assert full["a_mean"] == pytest.approx(0.45) and full["b_mean"] == pytest.approx(0.3)
    per_seq = np.array([0.1, 0.1, 0.25, 0.35, -0.05])  # seed-averaged A - B per sequence
    assert full["diff"]["mean"] == pytest.approx(per_seq.mean())
    assert full["diff"]["lo"] == pytest.approx(paired_bootstrap(per_seq, n_boot=1000).lo)
    normal = result["normal_light"]  # s2, s3, s4: tagged with neither low_light nor hdr
    assert normal["n_sequences"] == 3 and normal["a_mean"] == pytest.approx((0.55 + 0.65 + 0.25) / 3)
    assert normal["diff"]["mean"] == pytest.approx(per_seq[2:].mean())
    single = result["fast_motion"]  # one sequence: no interval
    assert single["n_sequences"] == 1 and single["diff"]["lo"] is None and single["diff_two_level"] is None
    assert single["diff"]["mean"] == pytest.approx(-0.05)
    two = two_level_bootstrap([np.array([0.1, 0.0, 0.2, 0.3, -0.1]), np.array([0.1, 0.2, 0.3, 0.4, 0.0])],
                              n_boot=1000)  # the seed pairs' per-sequence differences
    assert full["diff_two_level"] == {"mean": pytest.approx(0.15), "lo": pytest.approx(two.lo),
                                      "hi": pytest.approx(two.hi)}
    table = markdown(result, "had", "student")
    assert "| all | 5 | 45.0 | 30.0 | +15.0 [" in table and "+10.0, +20.0 | +15.0 ± 7.1 |" in table
    # one seed each: still paired, no std
    one = compare(a[:1], b[:1], n_boot=100)["all"]
    assert one["per_seed"] == pytest.approx([0.1]) and one["seed_std"] is None and one["diff_two_level"] is None


def test_compare_refuses_mismatches() -> None:
    a = _scores({"s0": 0.1, "s1": 0.2, "s2": 0.3, "s3": 0.4, "s9": 0.5}, tracker="a")
    b = _scores({"s0": 0.1, "s1": 0.2, "s2": 0.3, "s3": 0.4, "s4": 0.5}, tracker="b")
    with pytest.raises(UserError, match=r"a.json .*b.json .*different sequences: 1 only in the first \(s9\); "
                                        r"1 only in the second \(s4\)"):
        compare([a], [b])
    with pytest.raises(UserError, match="at least 2"):
        compare([_scores({"s0": 0.1})], [_scores({"s0": 0.2})])
    with pytest.raises(UserError, match="no 'PR20' score for sequence"):
        compare([b], [b], metric="PR")
    with pytest.raises(ValueError, match="unknown metric"):
        compare([b], [b], metric="IoU")
    c = _scores({"s0": 0.1, "s1": 0.2}, {"s0": ("low_light",), "s1": ()}, "c")
    d = _scores({"s0": 0.1, "s1": 0.2}, {"s0": ("hdr",), "s1": ()}, "d")
    with pytest.raises(UserError, match="same dataset"):
        compare([c], [d])
    assert list(compare([c], [_scores({"s0": 0.1, "s1": 0.2})], n_boot=10)) == ["all", "normal_light", "low_light"]


# ---------------------------------------------------------------------------------------------- files


def test_load_scores_reads_trackers_and_attributes(tmp_path) -> None:
    sr = {"s0": 0.3, "s1": 0.4, "s2": 0.5, "s3": 0.6, "s4": 0.7}
    top = write_report(tmp_path / "top" / "results.json", {"had": sr, "student": sr}, ATTRS)
    got = load_scores(top.parent, "had")
    assert got.tracker == "had" and got.path == str(top) and got.scores["s1"] == {"SR_AUC": 0.4, "PR20": 0.5,
                                                                                   "NPR0.2": 0.25}
    assert got.attributes == ATTRS
    inline = write_report(tmp_path / "inline.json", {"had": sr}, ATTRS, per_sequence=True)
    assert load_scores(inline).attributes == ATTRS
    bare = write_report(tmp_path / "bare.json", {"had": sr})
    assert load_scores(bare).attributes == {}
    assert load_scores(bare, attributes={**ATTRS, "other": ()}).attributes == ATTRS
    with pytest.raises(UserError, match="do not cover sequences s4"):
        load_scores(bare, attributes={k: v for k, v in ATTRS.items() if k != "s4"})
    with pytest.raises(UserError, match=r"holds 2 trackers \(had, student\).*--tracker-a"):
        load_scores(top)
    with pytest.raises(UserError, match="no tracker 'kd'; it holds: had, student"):
        load_scores(top, "kd")
    with pytest.raises(UserError, match="no results.json in this folder"):
        load_scores(tmp_path)
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(UserError, match="not valid JSON"):
        load_scores(tmp_path / "broken.json")


def test_dataset_attributes_from_index(tmp_path) -> None:
    from had_snn.data.dataset import write_index

    seqs = {n: {"split": "test", "attributes": list(a), "file": f"test/{n}.h5", "num_frames": 2, "num_events": 1}
            for n, a in ATTRS.items()}
    write_index(tmp_path, {"test": list(ATTRS)}, seqs, {"kind": "hand-made"})
    assert dataset_attributes(tmp_path) == ATTRS


def _run_folder(root: Path, seeds: dict[int, float], name: str) -> Path:
    """RUN/seed<k>/eval/results.json of one tracker whose SR is ``base + offset`` for seed k."""
    base = {"s0": 0.3, "s1": 0.4, "s2": 0.5, "s3": 0.6, "s4": 0.7}
    for k, offset in seeds.items():
        write_report(root / f"seed{k}" / "eval" / "results.json", {name: {s: v + offset for s, v in base.items()}},
                     ATTRS)
    return root


def test_cli_compares_run_folders_and_writes_its_files(tmp_path, capsys) -> None:
    from had_snn.cli import main

    had = _run_folder(tmp_path / "runs" / "had", {0: 0.05, 2: 0.03, 10: 0.01}, "had")
    student = _run_folder(tmp_path / "runs" / "student", {0: 0.0, 2: 0.0, 10: 0.0}, "student")
    out = tmp_path / "cmp"
    assert main(["compare", str(had), str(student), "--n-boot", "500", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "had better: the 95 % interval of had - student is above 0" in printed
    assert "| +5.0, +3.0, +1.0 | +3.0 ± 2.0 |" in printed  # seeds in numeric order: 0, 2, 10
    report = json.loads((out / "compare.json").read_text())
    assert report["a"]["files"][2].endswith("seed10/eval/results.json") and report["metric"] == "SR_AUC"
    assert report["subsets"]["normal_light"]["n_sequences"] == 3
    assert report["subsets"]["all"]["diff"] == {"mean": pytest.approx(0.03), "lo": pytest.approx(0.03),
                                                "hi": pytest.approx(0.03)}
    assert (out / "compare.md").read_text() in printed and (out / "compare.png").stat().st_size > 0
    # explicit seeds with commas; B better on PR is impossible here (equal PR): no resolved difference
    assert main(["compare", f"{had}/seed0/eval,{had}/seed2/eval/results.json", str(student), "--metric", "PR"]) == 0
    printed = capsys.readouterr().out
    assert "no resolved difference" in printed and "2 vs 3 seeds, not paired" in printed


def test_cli_two_trackers_of_one_results_file(tmp_path, capsys) -> None:
    from had_snn.cli import main

    sr = {"s0": 0.3, "s1": 0.4, "s2": 0.5, "s3": 0.6, "s4": 0.7}
    path = write_report(tmp_path / "eval" / "results.json",
                        {"had": sr, "student": {k: v + 0.1 for k, v in sr.items()}})
    argv = ["compare", str(path.parent), str(path.parent), "--tracker-a", "had", "--tracker-b", "student"]
    assert main(argv + ["--n-boot", "100"]) == 0
    printed = capsys.readouterr().out
    assert "student better" in printed and "| all | 5 | 50.0 | 60.0 | -10.0 [-10.0, -10.0]" in printed
    assert "pass --data DATASET" in printed  # no attributes stored: only 'all'
    assert main(["compare", str(path), str(path), "--tracker-a", "had"]) == 1
    assert "holds 2 trackers (had, student)" in capsys.readouterr().err
    unfinished = _run_folder(tmp_path / "run", {0: 0.0, 1: 0.0}, "had")
    (unfinished / "seed1" / "eval" / "results.json").unlink()
    assert main(["compare", str(unfinished), str(unfinished)]) == 1
    err = capsys.readouterr().err
    assert "seed1 has no eval/results.json" in err and f"pass {unfinished}/seed0/eval" in err


def test_two_level_bootstrap_includes_the_spread_between_seeds() -> None:
    rng = np.random.default_rng(0)
    # three seeds that disagree (+8, +1, -5 points) with little sequence noise: the seed-averaged interval over
    # sequences is narrow, the two-level one spans the seeds' spread
    diffs = [shift + rng.normal(0, 0.01, 40) for shift in (0.08, 0.01, -0.05)]
    averaged = paired_bootstrap(np.mean(diffs, axis=0), n_boot=2000)
    two = two_level_bootstrap(diffs, n_boot=2000)
    assert two.mean == pytest.approx(averaged.mean) and two.n == 3
    assert averaged.hi - averaged.lo < 0.01 and two.lo < -0.02 and two.hi > 0.05
    assert two == two_level_bootstrap(diffs, n_boot=2000)  # seeded
    same = two_level_bootstrap([np.full(5, 0.02), np.full(7, 0.02)], n_boot=100)  # seeds of different draws
    assert (same.lo, same.hi) == pytest.approx((0.02, 0.02))
    for bad, match in (([np.zeros(4)], "at least 2 seeds"), ([np.zeros(4), np.zeros(1)], "at least 2 per-sequence"),
                       ([np.zeros(4), np.array([0.0, np.nan])], "NaN")):
        with pytest.raises(ValueError, match=match):
            two_level_bootstrap(bad)


def _draw(values: list[float], tags: list[tuple[str, ...]], tracker: str = "t") -> SeedScores:
    names = [f"test_{i:04d}" for i in range(len(values))]
    return SeedScores(scores={n: {"SR_AUC": v, "PR20": v, "NPR0.2": v} for n, v in zip(names, values, strict=True)},
                      attributes=dict(zip(names, tags, strict=True)), tracker=tracker, path=f"{tracker}.json")


def test_compare_draws_pairs_sequences_within_each_seed_only() -> None:
    """Per-seed benchmark draws: the same names hold other scenes (other attributes) in each draw; the difference
    is paired within a seed, the interval two-level, and a constant difference gives a zero-width interval."""
    from had_snn.evaluation.compare import compare_draws

    tags0 = [("low_light",), (), ("fast_motion",), ()]
    tags1 = [(), ("fast_motion",), (), ("low_light",)]
    a = [_draw([0.5, 0.6, 0.7, 0.8], tags0), _draw([0.2, 0.4, 0.3, 0.5], tags1)]
    b = [_draw([0.4, 0.5, 0.6, 0.7], tags0), _draw([0.1, 0.3, 0.2, 0.4], tags1)]
    result = compare_draws(a, b, n_boot=500)
    assert result["all"]["diff"] == pytest.approx({"mean": 0.1, "lo": 0.1, "hi": 0.1})
    assert result["all"]["per_seed"] == pytest.approx([0.1, 0.1]) and result["all"]["n_sequences"] == 8
    assert result["all"]["a_mean"] == pytest.approx((0.65 + 0.35) / 2)
    assert result["low_light"]["n_sequences"] == 2 and result["low_light"]["diff"]["lo"] is None  # 1 per draw
    # a spread between seeds widens the interval: seed 1 gains nothing
    b[1] = _draw([0.2, 0.4, 0.3, 0.5], tags1)
    spread = compare_draws(a, b, n_boot=2000)["all"]
    assert spread["diff"]["mean"] == pytest.approx(0.05) and spread["seed_std"] == pytest.approx(0.0707, abs=1e-3)
    assert spread["diff"]["lo"] <= 0.0 + 1e-12 and spread["diff"]["hi"] >= 0.1 - 1e-12
    # compare() refuses to pool these draws: their attributes disagree
    with pytest.raises(UserError, match="same dataset"):
        compare(a, b)
    with pytest.raises(UserError, match="one run per side"):
        compare_draws(a, b[:1])
    with pytest.raises(UserError, match="different sequences"):
        compare_draws(a, [b[0], _draw([0.1, 0.2, 0.3], tags1[:3])])
