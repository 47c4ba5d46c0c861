"""Paired comparison of two trackers on the same sequences: a percentile bootstrap over sequences of the per-sequence
score difference, and the spread over training seeds.

The unit of resampling is the **sequence**: both trackers ran on the same sequences, so the per-sequence difference
``A - B`` removes what makes a sequence easy or hard for both (a paired design), and its mean's bootstrap interval
is much tighter than two separate intervals. With several training seeds per side the per-sequence scores are first
averaged over seeds (the interval is over sequences, for the seed-averaged trackers); when both sides have as many
seeds, seed ``k`` of A is paired with seed ``k`` of B and the per-seed differences give a mean +- std over seeds.

Scores come from the ``results.json`` written by ``had-snn eval`` (:mod:`had_snn.evaluation.evaluate`):
``trackers[name]["sequences"][seq]`` holds ``SR_AUC``, ``PR20`` and ``NPR0.2`` as fractions (0..1). Per-sequence
attributes (for the subsets) are read from a top-level ``"attributes"`` mapping ``{seq: [tags]}`` or from an
``"attributes"`` list in each sequence's entry, where the report has them; otherwise they can be given (e.g. from the
benchmark's ``index.json``, :func:`dataset_attributes`). Subsets are those of the eval report
(:func:`had_snn.evaluation.metrics.subset_members`): ``all``, the derived ``normal_light``, one per attribute.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from had_snn.evaluation.metrics import HEADLINE_METRICS, METRIC_LABELS, subset_members
from had_snn.util.errors import UserError

METRICS = tuple(HEADLINE_METRICS.values())
RESULTS_NAME = "results.json"
# Per-sequence differences smaller than this (fractions) are float rounding of equal scores (e.g. a seed average of
# identical values) and are set to exactly 0, so identical trackers give [0, 0] and no spurious verdict.
ROUNDING_TOL = 1e-12


@dataclass(frozen=True)
class Interval:
    """A sample mean with its bootstrap interval ``[lo, hi]`` over ``n`` paired items."""

    mean: float
    lo: float
    hi: float
    n: int


def paired_bootstrap(diff: np.ndarray, n_boot: int = 10000, level: float = 0.95, seed: int = 0) -> Interval:
    """Percentile bootstrap interval of the mean of ``diff`` ((n,) per-sequence differences A - B).

    One ``(n_boot, n)`` draw of sequence indices with replacement (seeded, so the interval is reproducible); the
    interval is the ``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles of the ``n_boot`` resampled means. A
    constant difference gives ``lo == hi == mean``. ValueError for fewer than 2 values, non-finite values, or
    ``n_boot < 1`` / ``level`` outside (0, 1).
    """
    d = np.asarray(diff, dtype=np.float64)
    if d.ndim != 1:
        raise ValueError(f"paired_bootstrap: expected a 1-D array of per-sequence differences, got shape {d.shape}")
    if len(d) < 2:
        raise ValueError(f"a bootstrap over sequences needs at least 2 sequences, got {len(d)}")
    if not np.isfinite(d).all():
        raise ValueError("paired_bootstrap: the per-sequence differences contain NaN or inf")
    if int(n_boot) < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    if not 0.0 < float(level) < 1.0:
        raise ValueError(f"level must be in (0, 1), e.g. 0.95, got {level}")
    mean = float(d.mean())
    if np.all(d == d[0]):  # degenerate: every resample has this mean (avoid summation rounding)
        return Interval(mean=float(d[0]), lo=float(d[0]), hi=float(d[0]), n=len(d))
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(d), size=(int(n_boot), len(d)), dtype=np.int32 if len(d) < 2**31 else np.int64)
    means = d[idx].mean(axis=1)
    alpha = (1.0 - float(level)) / 2.0
    lo, hi = np.quantile(means, [alpha, 1.0 - alpha])
    return Interval(mean=mean, lo=float(lo), hi=float(hi), n=len(d))


def two_level_bootstrap(diffs: list[np.ndarray], n_boot: int = 10000, level: float = 0.95,
                        seed: int = 0) -> Interval:
    """Percentile bootstrap interval of the mean over seeds of the per-seed mean difference, resampling both levels:
    each replicate draws the seeds with replacement and then, for every drawn seed, its own sequences with
    replacement (a seed's run with its benchmark draw is one unit, its sequences the units within it).

    ``diffs``: one (n_s,) array of per-sequence differences A - B per seed pair (the sequences may differ between
    seeds). Unlike :func:`paired_bootstrap` of the seed-averaged differences, the interval includes the spread
    between training seeds. ``n`` of the result is the number of seeds. ValueError for fewer than 2 seeds, a seed
    with fewer than 2 sequences, non-finite values, or bad ``n_boot`` / ``level``.
    """
    ds = [np.asarray(d, dtype=np.float64) for d in diffs]
    if len(ds) < 2:
        raise ValueError(f"a two-level bootstrap needs at least 2 seeds, got {len(ds)}")
    if any(d.ndim != 1 or len(d) < 2 for d in ds):
        raise ValueError("two_level_bootstrap: every seed needs a 1-D array of at least 2 per-sequence differences")
    if not all(np.isfinite(d).all() for d in ds):
        raise ValueError("two_level_bootstrap: the per-sequence differences contain NaN or inf")
    if int(n_boot) < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    if not 0.0 < float(level) < 1.0:
        raise ValueError(f"level must be in (0, 1), e.g. 0.95, got {level}")
    n_seeds, n_boot = len(ds), int(n_boot)
    mean = float(np.mean([d.mean() for d in ds]))
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, n_seeds, size=(n_boot, n_seeds))  # the seeds of each replicate, slot by slot
    total = np.zeros(n_boot)
    for slot in range(n_seeds):
        # every seed's sequences resampled afresh for this slot; each replicate keeps the seed it drew
        resampled = np.stack([d[rng.integers(0, len(d), size=(n_boot, len(d)))].mean(axis=1) for d in ds])
        total += resampled[pick[:, slot], np.arange(n_boot)]
    alpha = (1.0 - float(level)) / 2.0
    lo, hi = np.quantile(total / n_seeds, [alpha, 1.0 - alpha])
    return Interval(mean=mean, lo=float(lo), hi=float(hi), n=n_seeds)


@dataclass
class SeedScores:
    """Per-sequence scores of one tracker in one ``results.json`` (one training seed).

    ``scores``: ``{seq: {"SR_AUC", "PR20", "NPR0.2"}}`` as fractions; ``attributes``: ``{seq: tags}``, empty when
    the report stores none; ``tracker``: its name in the report; ``path``: the file read.
    """

    scores: dict[str, dict[str, float]]
    attributes: dict[str, tuple[str, ...]] = field(default_factory=dict)
    tracker: str = ""
    path: str = ""

    @property
    def label(self) -> str:
        return f"{self.path} (tracker {self.tracker!r})"


def _results_file(path: str | os.PathLike) -> Path:
    p = Path(path)
    if p.is_dir():
        if not (p / RESULTS_NAME).is_file():
            raise UserError(f"{p}: no {RESULTS_NAME} in this folder (expected an eval folder written by "
                            "`had-snn eval`)")
        return p / RESULTS_NAME
    if not p.exists():
        raise UserError(f"{p}: no such file or folder")
    return p


def _read_report(path: Path) -> dict:
    try:
        report = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(report, dict) or not isinstance(report.get("trackers"), dict) or not report["trackers"]:
        raise UserError(f"{path}: not an eval report (expected a JSON object with a non-empty 'trackers' mapping, "
                        f"as `had-snn eval` writes to {RESULTS_NAME})")
    return report


def _report_attributes(report: dict, sequences: dict, path: Path) -> dict[str, tuple[str, ...]]:
    """Per-sequence attributes stored in a report (top-level ``attributes`` or per sequence), else empty."""
    top = report.get("attributes")
    found: dict[str, tuple[str, ...]] = {}
    if isinstance(top, dict):
        found = {str(k): tuple(str(a) for a in v) for k, v in top.items() if isinstance(v, list | tuple)}
    else:
        found = {name: tuple(str(a) for a in entry["attributes"]) for name, entry in sequences.items()
                 if isinstance(entry, dict) and isinstance(entry.get("attributes"), list | tuple)}
    if found and set(sequences) - set(found):
        missing = sorted(set(sequences) - set(found))
        raise UserError(f"{path}: attributes are stored for some sequences but not for {_few(missing)}")
    return {name: found[name] for name in sequences} if found else {}


def load_scores(path: str | os.PathLike, tracker: str | None = None,
                attributes: Mapping[str, tuple[str, ...] | list[str]] | None = None) -> SeedScores:
    """Per-sequence scores and attributes of one tracker from a ``results.json`` (or an eval folder holding one).

    ``tracker`` may be left out when the report holds one tracker; UserError lists the names otherwise, or when
    the name is unknown. ``attributes`` (``{seq: tags}``, e.g. :func:`dataset_attributes`) replaces the report's own
    and must cover every sequence.
    """
    file = _results_file(path)
    report = _read_report(file)
    names = list(report["trackers"])
    if tracker is None:
        if len(names) != 1:
            raise UserError(f"{file} holds {len(names)} trackers ({', '.join(names)}); name the one to compare "
                            "(--tracker-a / --tracker-b)")
        tracker = names[0]
    if tracker not in report["trackers"]:
        raise UserError(f"{file}: no tracker {tracker!r}; it holds: {', '.join(names)}")
    entry = report["trackers"][tracker]
    sequences = entry.get("sequences") if isinstance(entry, dict) else None
    if not isinstance(sequences, dict) or not sequences:
        raise UserError(f"{file}: tracker {tracker!r} has no per-sequence scores ('sequences'); evaluate it again "
                        "with `had-snn eval`")
    scores: dict[str, dict[str, float]] = {}
    for name, row in sequences.items():
        if not isinstance(row, dict):
            raise UserError(f"{file}: trackers.{tracker}.sequences.{name} must be an object of scores")
        scores[name] = {}
        for metric in METRICS:
            value = row.get(metric)
            if value is None:
                continue
            if (isinstance(value, bool) or not isinstance(value, int | float) or not np.isfinite(value)
                    or not 0.0 <= value <= 1.0):
                raise UserError(f"{file}: trackers.{tracker}.sequences.{name}.{metric} must be a finite number in "
                                f"[0, 1] (a per-sequence score), got {value!r}")
            scores[name][metric] = float(value)
    if attributes is not None:
        missing = sorted(set(scores) - set(attributes))
        if missing:
            raise UserError(f"{file}: the given attributes do not cover sequences {_few(missing)} (is it the "
                            "dataset these trackers were evaluated on?)")
        attrs = {name: tuple(attributes[name]) for name in scores}
    else:
        attrs = _report_attributes(report, sequences, file)
    return SeedScores(scores=scores, attributes=attrs, tracker=tracker, path=str(file))


def dataset_attributes(root: str | os.PathLike) -> dict[str, tuple[str, ...]]:
    """``{seq: tags}`` of every sequence of a benchmark, from its ``ROOT/index.json``."""
    from had_snn.data.dataset import read_index

    index = read_index(root)
    return {name: tuple(entry["attributes"]) for name, entry in index["sequences"].items()}


def _few(names: list[str], k: int = 3) -> str:
    return ", ".join(names[:k]) + (f" and {len(names) - k} more" if len(names) > k else "")


def metric_key(metric: str) -> str:
    """``SR`` / ``PR`` / ``NPR`` (or a results.json key) -> the results.json key; ValueError otherwise."""
    aliases = {"SR": "SR_AUC", "AUC": "SR_AUC", "PR": "PR20", "NPR": "NPR0.2"}
    key = aliases.get(metric.upper(), metric) if isinstance(metric, str) else metric
    if key not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; expected SR, PR or NPR (or one of {', '.join(METRICS)})")
    return key


def _check_same_sequences(runs: list[SeedScores]) -> list[str]:
    ref = runs[0]
    for other in runs[1:]:
        if set(other.scores) != set(ref.scores):
            only_ref = sorted(set(ref.scores) - set(other.scores))
            only_other = sorted(set(other.scores) - set(ref.scores))
            parts = [f"{len(only_ref)} only in the first ({_few(only_ref)})" if only_ref else "",
                     f"{len(only_other)} only in the second ({_few(only_other)})" if only_other else ""]
            raise UserError(f"{ref.label} and {other.label} score different sequences: "
                            + "; ".join(p for p in parts if p) + ". Compare evaluations of the same split")
    return list(ref.scores)


def _merged_attributes(runs: list[SeedScores], names: list[str]) -> dict[str, tuple[str, ...]]:
    merged: dict[str, tuple[str, ...]] = {}
    source: dict[str, str] = {}
    for run in runs:
        for name, tags in run.attributes.items():
            tags = tuple(sorted(tags))
            if name in merged and merged[name] != tags:
                raise UserError(f"sequence {name!r} has attributes {list(merged[name])} in {source[name]} but "
                                f"{list(tags)} in {run.label}: are these the same dataset?")
            merged.setdefault(name, tags)
            source.setdefault(name, run.label)
    return {n: merged[n] for n in names} if all(n in merged for n in names) else {}


def _matrix(runs: list[SeedScores], names: list[str], metric: str) -> np.ndarray:
    out = np.empty((len(runs), len(names)))
    for i, run in enumerate(runs):
        for j, name in enumerate(names):
            value = run.scores[name].get(metric)
            if value is None:
                raise UserError(f"{run.label}: no {metric!r} score for sequence {name!r} (the report has "
                                f"{', '.join(sorted(run.scores[name])) or 'no scores'})")
            out[i, j] = value
    return out


def compare(a: list[SeedScores], b: list[SeedScores], metric: str = "SR_AUC", n_boot: int = 10000,
            level: float = 0.95, seed: int = 0) -> dict:
    """Paired comparison A - B per subset: ``{subset: {...}}`` for ``all``, ``normal_light`` and each attribute
    (only ``all`` when no attributes are known).

    Each entry: ``n_sequences``; ``a_mean`` / ``b_mean`` (seed- and sequence-averaged); ``diff`` ``{"mean", "lo",
    "hi"}``, the :func:`paired_bootstrap` of the seed-averaged per-sequence difference (``lo``/``hi`` None for a
    subset of one sequence); ``per_seed``, the difference of seed ``k`` of A and seed ``k`` of B (empty unless both
    have as many seeds); ``seed_mean`` / ``seed_std`` (sample std; None without pairs / with one pair);
    ``diff_two_level`` ``{"mean", "lo", "hi"}``, the :func:`two_level_bootstrap` over the seed pairs and their
    sequences (None unless both sides have as many seeds, at least 2, and the subset 2 sequences or more); and
    ``metric``, ``level``, ``n_boot``, ``n_seeds_a``, ``n_seeds_b`` for the table. Values are fractions (0..1);
    differences below :data:`ROUNDING_TOL` are float rounding and count as 0.

    UserError when the sequence sets differ (naming the files and a few sequences), a score is missing, or the
    comparison has fewer than 2 sequences.
    """
    key = metric_key(metric)
    if not a or not b:
        raise ValueError("compare: both sides need at least one results.json")
    runs = list(a) + list(b)
    names = _check_same_sequences(runs)
    if len(names) < 2:
        raise UserError(f"{runs[0].label} scores {len(names)} sequence; a bootstrap over sequences needs at least 2")
    attrs = _merged_attributes(runs, names)
    members = subset_members(names, attrs) if attrs else {"all": names}
    score_a, score_b = _matrix(a, names, key), _matrix(b, names, key)
    column = {name: j for j, name in enumerate(names)}
    paired = len(a) == len(b)
    result = {}
    for subset, seqs in members.items():
        cols = [column[n] for n in seqs]
        sa, sb = score_a[:, cols], score_b[:, cols]
        diff = sa.mean(axis=0) - sb.mean(axis=0)
        diff[np.abs(diff) < ROUNDING_TOL] = 0.0
        if len(cols) >= 2:
            iv = paired_bootstrap(diff, n_boot=n_boot, level=level, seed=seed)
            interval = {"mean": iv.mean, "lo": iv.lo, "hi": iv.hi}
        else:
            interval = {"mean": float(diff.mean()), "lo": None, "hi": None}
        seed_diff = sa.mean(axis=1) - sb.mean(axis=1) if paired else np.zeros(0)
        seed_diff[np.abs(seed_diff) < ROUNDING_TOL] = 0.0
        per_seed = [float(x) for x in seed_diff]
        two_level = None
        if paired and len(a) >= 2 and len(cols) >= 2:
            pair_diffs = sa - sb
            pair_diffs[np.abs(pair_diffs) < ROUNDING_TOL] = 0.0
            iv2 = two_level_bootstrap(list(pair_diffs), n_boot=n_boot, level=level, seed=seed)
            two_level = {"mean": iv2.mean, "lo": iv2.lo, "hi": iv2.hi}
        result[subset] = {
            "n_sequences": len(cols),
            "a_mean": float(sa.mean()),
            "b_mean": float(sb.mean()),
            "diff": interval,
            "diff_two_level": two_level,
            "per_seed": per_seed,
            "seed_mean": float(np.mean(per_seed)) if per_seed else None,
            "seed_std": float(np.std(per_seed, ddof=1)) if len(per_seed) > 1 else None,
            "metric": key, "level": float(level), "n_boot": int(n_boot), "n_seeds_a": len(a), "n_seeds_b": len(b),
        }
    return result


def verdict(entry: dict, name_a: str, name_b: str) -> str:
    """One line on a subset's interval: A better (above 0), B better (below 0) or no resolved difference."""
    lo, hi = entry["diff"]["lo"], entry["diff"]["hi"]
    pct = f"{100 * entry['level']:g} %"
    if lo is None:
        return "no interval (one sequence)"
    if lo > 0:
        return f"{name_a} better: the {pct} interval of {name_a} - {name_b} is above 0"
    if hi < 0:
        return f"{name_b} better: the {pct} interval of {name_a} - {name_b} is below 0"
    return f"no resolved difference: the {pct} interval of {name_a} - {name_b} contains 0"


def _pts(x: float | None, sign: bool = False) -> str:
    return "-" if x is None else f"{100 * x:+.1f}" if sign else f"{100 * x:.1f}"


def markdown(result: dict, name_a: str, name_b: str) -> str:
    """The comparison as a markdown table in points (percent of the metric), with the verdict for ``all``."""
    first = result["all"]
    label = METRIC_LABELS.get(first["metric"], first["metric"])
    pct = f"{100 * first['level']:g} %"
    seeds = (f"seed k of A paired with seed k of B ({first['n_seeds_a']} pairs)" if first["per_seed"]
             else f"{first['n_seeds_a']} vs {first['n_seeds_b']} seeds, not paired")
    lines = [
        f"{label} in points: A = `{name_a}` ({first['n_seeds_a']} seed(s)), B = `{name_b}` "
        f"({first['n_seeds_b']} seed(s)). A - B with its {pct} percentile bootstrap interval over sequences "
        f"({first['n_boot']} resamples) of the seed-averaged per-sequence difference; per seed: {seeds}. The "
        "seeds + sequences interval resamples the seed pairs, then each one's sequences (it includes the spread "
        "between training seeds; two or more seed pairs).",
        "",
        f"| Subset | #seq | A | B | A - B [{pct}] | seeds + sequences [{pct}] | per-seed A - B | seed mean ± std |",
        "|---|---:|---:|---:|---|---|---|---|",
    ]
    for subset, e in result.items():
        d = e["diff"]
        interval = f"{_pts(d['mean'], True)} [{_pts(d['lo'], True)}, {_pts(d['hi'], True)}]"
        d2 = e.get("diff_two_level")
        two_level = "-" if d2 is None else f"[{_pts(d2['lo'], True)}, {_pts(d2['hi'], True)}]"
        per_seed = ", ".join(_pts(x, True) for x in e["per_seed"]) or "-"
        spread = "-" if e["seed_mean"] is None else (
            _pts(e["seed_mean"], True) + ("" if e["seed_std"] is None else f" ± {100 * e['seed_std']:.1f}"))
        lines.append(f"| {subset} | {e['n_sequences']} | {_pts(e['a_mean'])} | {_pts(e['b_mean'])} | {interval} | "
                     f"{two_level} | {per_seed} | {spread} |")
    lines += ["", f"Verdict (all): {verdict(first, name_a, name_b)}."]
    return "\n".join(lines) + "\n"


def plot_forest(result: dict, name_a: str, name_b: str):
    """Forest plot: A - B in points with its interval, one row per subset (grey ticks below: the per-seed
    differences when seeds pair up); returns the matplotlib figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    subsets = list(result)
    fig, ax = plt.subplots(figsize=(6.4, 1.2 + 0.4 * len(subsets)))
    for row, subset in enumerate(subsets):
        d = result[subset]["diff"]
        y = len(subsets) - 1 - row
        if d["lo"] is not None:
            ax.plot([100 * d["lo"], 100 * d["hi"]], [y, y], color="tab:blue", lw=2)
        ax.plot(100 * d["mean"], y, "o", color="tab:blue" if subset != "all" else "black")
        seeds = result[subset]["per_seed"]
        if seeds:
            ax.plot([100 * x for x in seeds], [y - 0.2] * len(seeds), "|", color="tab:grey", ms=6)
    ax.axvline(0.0, color="grey", lw=1, ls="--")
    ax.set_yticks(range(len(subsets)), [f"{s} ({result[s]['n_sequences']})" for s in reversed(subsets)])
    first = result["all"]
    ax.set_xlabel(f"{name_a} - {name_b}, {METRIC_LABELS.get(first['metric'], first['metric'])} points "
                  f"({100 * first['level']:g} % interval)")
    fig.tight_layout()
    return fig


def compare_draws(a: list[SeedScores], b: list[SeedScores], metric: str = "SR_AUC", n_boot: int = 10000,
                  level: float = 0.95, seed: int = 0) -> dict:
    """Paired comparison A - B when every seed has its own benchmark draw: seed ``k`` of A and seed ``k`` of B ran
    on draw ``k`` (the same sequences and attributes), while draws differ between seeds, so sequences are paired
    within a seed and never across seeds (a sequence name of one draw is another scene in the next).

    Per subset (``all``, ``normal_light``, each attribute of any draw): ``diff`` is the :func:`two_level_bootstrap`
    over the seed pairs with their own sequences (its ``lo``/``hi`` None when fewer than 2 seed pairs have 2 or
    more of the subset's sequences); with one seed pair, the :func:`paired_bootstrap` over its sequences.
    ``diff_two_level`` repeats it (None with one seed); ``per_seed``, ``seed_mean``, ``seed_std``, ``a_mean`` /
    ``b_mean`` (mean over seeds of each seed's sequence mean), ``n_sequences`` (summed over draws) and ``draws``
    (``"per_seed"``) as :func:`compare`. UserError when the sides have different seed counts or a seed pair scores
    different sequences."""
    key = metric_key(metric)
    if not a or len(a) != len(b):
        raise UserError(f"compare_draws: each seed's draw needs one run per side; got {len(a)} and {len(b)} runs")
    per_draw = []
    for run_a, run_b in zip(a, b, strict=True):
        names = _check_same_sequences([run_a, run_b])
        attrs = _merged_attributes([run_a, run_b], names)
        members = subset_members(names, attrs) if attrs else {"all": names}
        diff = _matrix([run_a], names, key)[0] - _matrix([run_b], names, key)[0]
        diff[np.abs(diff) < ROUNDING_TOL] = 0.0
        column = {name: j for j, name in enumerate(names)}
        per_draw.append({subset: (diff[[column[n] for n in seqs]],
                                  _matrix([run_a], seqs, key)[0].mean(), _matrix([run_b], seqs, key)[0].mean())
                         for subset, seqs in members.items()})
    subsets = list(per_draw[0]) + sorted({s for d in per_draw[1:] for s in d} - set(per_draw[0]))
    result = {}
    for subset in subsets:
        present = [d[subset] for d in per_draw if subset in d]
        diffs = [d for d, _, _ in present]
        usable = [d for d in diffs if len(d) >= 2]
        per_seed = [float(d.mean()) for d in diffs]
        if len(usable) >= 2:
            iv = two_level_bootstrap(usable, n_boot=n_boot, level=level, seed=seed)
            interval = {"mean": iv.mean, "lo": iv.lo, "hi": iv.hi}
        elif len(diffs) == 1 and len(diffs[0]) >= 2:
            iv = paired_bootstrap(diffs[0], n_boot=n_boot, level=level, seed=seed)
            interval = {"mean": iv.mean, "lo": iv.lo, "hi": iv.hi}
        else:
            interval = {"mean": float(np.mean(per_seed)), "lo": None, "hi": None}
        result[subset] = {
            "n_sequences": int(sum(len(d) for d in diffs)),
            "a_mean": float(np.mean([m for _, m, _ in present])),
            "b_mean": float(np.mean([m for _, _, m in present])),
            "diff": interval,
            "diff_two_level": interval if len(a) >= 2 and interval["lo"] is not None else None,
            "per_seed": per_seed,
            "seed_mean": float(np.mean(per_seed)),
            "seed_std": float(np.std(per_seed, ddof=1)) if len(per_seed) > 1 else None,
            "metric": key, "level": float(level), "n_boot": int(n_boot), "n_seeds_a": len(a), "n_seeds_b": len(b),
            "draws": "per_seed",
        }
    return result
