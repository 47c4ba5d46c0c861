"""HAD experiments table: every row (teachers, the no-KD student, the KD baselines, HAD and its ablations)
over several seeds, with paired intervals against the no-KD student.

Every row trains with the same loop (``had_snn.train.loop.train``): the three ANN rows from one teacher config
(``teacher``: RGB + events, ``teacher_rgb`` / ``teacher_events``: the same config with ``model_config.modalities:
rgb`` / ``events``), the student rows from one student config whose ``distill:`` section comes from the HAD, vanilla
KD, HDETrack-style or authors'-HAD config (ablation switches on top). Each run is then evaluated one-pass (OTB
protocol) on the test split. Output (default ``runs/had-table-<timestamp>``)::

    OUT/data/seed<k>/            synthetic benchmark draw k (generator seed k), one per training seed
                                 (``--draws shared``: one draw OUT/data/ for every seed; ``--data``: your benchmark)
    OUT/runs/static/seed<k>/     the static baseline on draw k: eval/, stamp.json (its scores under "outputs")
    OUT/runs/<method>/seed<k>/   config.yaml, metrics.csv, last.pt, eval/results.json, stamp.json  (one run, trained
                                 and evaluated on draw k)
    OUT/table_config.json        preset, data, argv and the distill section of every method
    OUT/results.md               mean +- std over seeds of SR / PR / NPR overall, SR on normal_light and per attribute,
                                 the paired SR difference of every student row vs the no-KD student with its 95 %
                                 two-level bootstrap interval (seed pairs with their draws, then their test
                                 sequences; over test sequences only with one seed), the fraction of the no-KD ->
                                 teacher gap closed, the box jitter per row beside the ground truth's, and the
                                 verdict on this project's goals
    OUT/results.json             the same numbers, every per-seed value and the comparisons
    OUT/plots/had_table.png      SR bar chart with error bars (std over seeds)

``--doc docs/results_had.md`` also writes results.md there, headed by the command line, date, wall time and machine.

**Benchmark draws.** By default each training seed ``k`` trains and is evaluated on its own synthetic benchmark,
drawn with generator seed ``k`` (benchmark seed = training seed), so a result must hold on more than one draw of
the generator; sequences pair up only within a seed (:func:`had_snn.evaluation.compare.compare_draws`). With
``--draws shared`` (or ``--data``) every seed uses one benchmark and sequences pair up across seeds too.

Each folder above with a ``stamp.json`` is a step of the demo's step runner (:mod:`had_snn.demo.pipeline`): the
data synthesis, the static baseline and every (method, seed) training + evaluation, the teacher of seed k before
the students that distil from it. A step is cached by the SHA-256 of its resolved config and its dependencies' keys
(a student's key includes its teacher's), and an interrupted training run resumes from its ``last.pt``, so
rerunning with the same ``--out`` picks up where it stopped. A folder made with another preset is refused (its
``table_config.json`` names the preset), and steps made by an earlier table format (presets
``tiny``/``quick``) have other keys (``table_format`` is part of every key), so they are re-run, never mixed in.

Presets (``--preset``, default ``medium``):

- ``quick``: smoke test in minutes (tiny models, 30 short low-resolution sequences); checks the machinery, says
  nothing about HAD. tests/test_experiments.py runs it with one seed, a few rows and fewer sequences.
- ``medium``: the reported table, every row x 3 seeds in <= 2 h wall on 2 CPU cores (synthesis and evaluation
  included; about 73 min estimated from measured CPU times, the arithmetic is in the preset's comment).

``--parallel N`` (default 2 on a CPU) runs N (method, seed) steps at once, each in a worker process with
``--threads`` torch threads (default 1); a student starts after its seed's teacher. The thread count is part of every
step's key (it changes float summation order), the parallelism is not: the same seeds give the same numbers.
- ``full``: GPU-sized, the full configs of experiments/configs on a 300-sequence benchmark.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import platform
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from had_snn.demo.config import deep_merge
from had_snn.demo.pipeline import Step, StepContext, read_stamp, run_steps, run_steps_parallel, with_dependencies
from had_snn.evaluation.metrics import HEADLINE_METRICS
from had_snn.util.atomic import save_figure, write_text_atomic
from had_snn.util.errors import UserError, script_main

CONFIGS = Path(__file__).resolve().parent / "configs"
TABLE_FORMAT = 3  # part of every step key: folders of earlier table formats are re-run, not mixed in
METRICS = tuple(HEADLINE_METRICS.items())
STATIC = "static"  # reference row: the initial box kept for every frame
STATIC_STEP = f"runs/{STATIC}"
NO_KD = "student"  # the row every KD row is compared with
TEACHERS = ("teacher", "teacher_rgb", "teacher_events")
# Method -> (model kind, distill source or None for a teacher, overrides of that distill section).
METHODS: dict[str, tuple[str, str | None, dict]] = {
    "teacher": ("teacher", None, {}),
    "teacher_rgb": ("teacher_rgb", None, {}),
    "teacher_events": ("teacher_events", None, {}),
    "student": ("student", "none", {}),
    "vanilla_kd": ("student", "kd", {}),
    "hdetrack": ("student", "hdetrack", {}),
    "had_authors": ("student", "had_authors", {}),
    "had": ("student", "had", {}),
    "had_no_temporal": ("student", "had", {"temporal": False}),
    "had_no_spatial": ("student", "had", {"spatial": False}),
    "had_no_response": ("student", "had", {"response": False}),
    "had_single_stage": ("student", "had", {"stages": ["stage3"], "stage_weights": [1.0]}),
    # HAD with the two options the gradient diagnostics supported (docs/distillation.md section 7): adapters at a
    # tenth of the student's learning rate and per-channel standardised teacher maps keep 3-6x more of the feature
    # terms' gradient at the student
    "had_tuned": ("student", "had", {"adapter_lr_scale": 0.1, "teacher_norm": "channel"}),
}
KD_ROWS = tuple(m for m, (_, src, _) in METHODS.items() if src not in (None, "none"))
OTHER_KD = ("vanilla_kd", "hdetrack", "had_authors")  # the baselines HAD must be level with
# The verdict's thresholds (this project's goals for the table), in SR points (0..100) or fractions.
TARGET_HAD_GAIN_SR = 5.0
TARGET_GAP_FRACTION = 0.5
TARGET_RGB_OVER_STATIC_SR = 20.0
TARGET_TEACHER_OVER_EVENTS_SR = 5.0


@dataclass(frozen=True)
class TablePreset:
    """Data and config files of one table preset."""

    sequences: int
    size_px: tuple[int, int]
    duration_s: float
    teacher: str
    student: str
    had: str
    kd: str
    hdetrack: str
    had_authors: str
    train_overrides: dict = field(default_factory=dict)  # every run
    teacher_overrides: dict = field(default_factory=dict)
    student_overrides: dict = field(default_factory=dict)
    distill_overrides: dict = field(default_factory=dict)  # every KD run, before --set and the ablation's own


# The quick demo's geometry (experiments/configs/demo.yaml): 32 / 64 px crops, T = 4, default model widths.
_DEMO_CROP = {"template_px": 32, "search_px": 64}
_TINY = ("tiny_teacher.yaml", "tiny_student.yaml", "tiny_student_had.yaml", "tiny_student_kd.yaml",
         "tiny_student_hdetrack.yaml", "tiny_student_had_authors.yaml")
_DEFAULT = ("teacher.yaml", "student.yaml", "student_had.yaml", "student_kd.yaml", "student_hdetrack.yaml",
            "student_had_authors.yaml")


PRESETS = {
    # Smoke test: tiny models on 30 short low-resolution sequences (>= 9 per split, every attribute in every split).
    "quick": TablePreset(30, (96, 72), 1.0, *_TINY,
                    {"epochs": 6, "batch_size": 8, "warmup_steps": 6, "data": {"samples_per_epoch": 64}}),
    # The reported table. The default benchmark (`had-snn synth` defaults): 200 two-second 160 x 120 sequences
    # (120 / 40 / 40), the demo's
    # geometry (32 / 64 px crops, T = 4 student steps), default model widths, 10 epochs of 512 pairs (5120 pairs)
    # for every run, HAD's Sinkhorn at 10 iterations on <= 8 x 8 tokens.
    # Budget, in CPU seconds measured with one torch thread on this shared 2-core machine (1 epoch of 64 and of
    # 320 pairs at these sizes, 2026-11-30): teacher 10.8 ms per pair + 1.9 s per run (taken as 16.9 ms, its
    # 320-pair average), no-KD student 21 ms, vanilla KD 25 ms, HDETrack-style 25 ms, authors' HAD 37 ms, HAD 55 ms
    # (taken for its 4 ablations too); evaluation 1.5 CPU s per (teacher, test sequence), 0.9 per student;
    # synthesis 2.7 CPU s per sequence. 3 seeds: 9 teacher runs x 5120 x 16.9 ms = 779 s; no-KD 3 x 5120 x 21 ms =
    # 323 s; vanilla KD + HDETrack 6 x 5120 x 25 ms = 768 s; authors' HAD 3 x 5120 x 37 ms = 568 s; HAD + ablations
    # 15 x 5120 x 55 ms = 4224 s; evaluation 9 x 40 x 1.5 + 27 x 40 x 0.9 = 1512 s; synthesis 200 x 2.7 = 540 s.
    # Total 8714 CPU s. Two one-thread workers (--parallel 2, the default on a CPU): 4357 s = 73 min wall when
    # both cores are free (one step with two threads got 1.7-1.85 CPU s per wall second in `make demo`: 79-85 min),
    # 47 min (39 %) under the 2 h target for a loaded machine. Re-measured later the same night (128 pairs, after
    # the kernel and generator speed-ups): no-KD 11, vanilla KD 19, HDETrack 21, authors' HAD 29, HAD 43 ms per
    # pair, evaluation 1.1 / 0.75 CPU s, synthesis 2.2 s: 6950 CPU s, about 58 min with two workers. The
    # had_tuned row (added after the diagnostics) costs 3 x 5120 x 43 ms + 3 x 40 x 0.75 s = 750 CPU s: ~64 min.
    "medium": TablePreset(200, (160, 120), 2.0, *_DEFAULT,
                     {"epochs": 10, "model_config": _DEMO_CROP, "data": {"samples_per_epoch": 512, "crop": _DEMO_CROP}},
                     student_overrides={"data": {"crop": {"student_steps": 4}}},
                     distill_overrides={"ot_iterations": 10, "ot_max_grid": 8}),
    # GPU-sized: the full configs of experiments/configs on 300 two-second sequences (180 / 60 / 60).
    "full": TablePreset(300, (160, 120), 2.0, *_DEFAULT),
}


def distill_section(preset: TablePreset, source: str, overrides: dict) -> dict:
    """The ``distill:`` section of a method: from its distillation config file, then the ablation overrides."""
    from had_snn.util.config_check import read_yaml

    if source == "none":
        return {"mode": "none"}
    path = CONFIGS / {"had": preset.had, "kd": preset.kd, "hdetrack": preset.hdetrack,
                      "had_authors": preset.had_authors}[source]
    if not path.is_file():
        raise UserError(f"{path}: distillation config of the {source!r} rows not found")
    section = read_yaml(path).get("distill")
    if not isinstance(section, dict):
        raise UserError(f"{path}: expected a distill: mapping")
    return {**section, **overrides}


def method_config(method: str, spec: tuple[str, str | None, dict], seed: int, preset: TablePreset, data_dir: str | None,
                  extra: dict) -> dict:
    """Resolved training config (``TrainConfig.to_dict()``) of one (method, seed) run; ``spec`` is its (model kind,
    distill source, overrides) entry. ``data.dir`` is ``data_dir`` (None: the data step's folder) and a distilled
    student's ``distill.teacher`` is None: both are filled in when the step runs, from its dependencies."""
    from had_snn.train.config import config_from_dict
    from had_snn.util.config_check import read_yaml

    kind, source, overrides = spec
    path = CONFIGS / (preset.teacher if source is None else preset.student)
    raw = deep_merge(read_yaml(path), preset.train_overrides)
    raw = deep_merge(raw, preset.teacher_overrides if source is None else preset.student_overrides)
    raw = deep_merge(raw, extra)
    raw.update(model=kind, seed=seed)
    if source is None:  # the teacher config with the row's modalities (rgb+events, rgb or events)
        raw["model_config"] = {**raw.get("model_config", {}),
                               "modalities": {"teacher": "rgb+events", "teacher_rgb": "rgb",
                                              "teacher_events": "events"}[kind]}
    raw["data"] = {**raw.get("data", {}), "dir": data_dir, "split": "train"}
    if source is not None:
        raw["distill"] = distill_section(preset, source, overrides)
        if source != "none":
            raw["distill"]["teacher"] = None
    return config_from_dict(raw, f"{path} ({method}, seed {seed})").to_dict()


def teacher_step_name(seed: int) -> str:
    return f"runs/teacher/seed{seed}"


def data_step_name(seed: int, per_seed: bool) -> str:
    """The synthesis step of a seed's benchmark: ``data/seed<k>`` (its own draw) or ``data`` (one shared draw)."""
    return f"data/seed{seed}" if per_seed else "data"


def static_step_name(seed: int, per_seed: bool) -> str:
    return f"{STATIC_STEP}/seed{seed}" if per_seed else STATIC_STEP


def _data_root(ctx: StepContext, data_dir: str | None, data_step: str | None) -> str:
    """The benchmark root: ``--data`` if given, else the folder of the seed's data step."""
    return data_dir if data_dir is not None else str(ctx.path(ctx.inputs[data_step]["root"]))


def _data_step(name: str, seed: int, sequences: int, size_px: tuple[int, int], duration_s: float,
               progress: bool) -> Step:
    """Synthesise a benchmark draw (generator seed ``seed``) into OUT/``name`` (two worker processes)."""
    config = {"sequences": sequences, "size_px": list(size_px), "duration_s": duration_s, "seed": seed}

    def run(ctx: StepContext) -> dict:
        from had_snn.data.benchmark import build_benchmark
        from had_snn.data.synthetic import SynthConfig

        synth = SynthConfig(width_px=size_px[0], height_px=size_px[1], duration_s=duration_s)
        summary = build_benchmark(ctx.step_dir, sequences, seed=seed, cfg=synth,
                                  workers=min(2, os.cpu_count() or 1), progress=progress)
        return {"root": ctx.rel(ctx.step_dir), "files": [ctx.rel(summary.index_path)]}

    return Step(name, f"synthesise benchmark draw {seed}", config, run)


def _subset_scores(subsets: dict) -> dict:
    """``{subset: {SR, PR, NPR, num_sequences}}`` of one tracker's ``results.json`` subsets."""
    return {s: {name: v[key] for name, key in METRICS} | {"num_sequences": v["num_sequences"]}
            for s, v in subsets.items()}


def _jitter(report: dict, tracker: str) -> dict:
    """The tracker's and the ground truth's box jitter from an evaluation report (empty when it has none)."""
    out = {}
    if "jitter" in report["trackers"][tracker]:
        out["jitter"] = report["trackers"][tracker]["jitter"]
    if "ground_truth_jitter" in report:
        out["ground_truth_jitter"] = report["ground_truth_jitter"]
    return out


def _train_step(method: str, seed: int, cfg: dict, data_dir: str | None, data_step: str | None, sequences,
                device: str, window_influence: float, progress: bool, threads: int, val_sequences: int = 0) -> Step:
    """Train (or resume) one (method, seed) run and evaluate it on the test split; its outputs are the result row.
    ``val_sequences`` > 0 tracks that many validation sequences after every epoch (``val_sr`` in metrics.csv: a
    learning curve)."""
    deps = (() if data_step is None else (data_step,)) + \
        ((teacher_step_name(seed),) if cfg.get("distill", {}).get("mode", "none") != "none" else ())

    def run(ctx: StepContext) -> dict:
        from had_snn.evaluation.evaluate import evaluate
        from had_snn.models.checkpoint import load_model
        from had_snn.tracking.tracker import ModelTracker, crop_config_for
        from had_snn.train.config import config_from_dict
        from had_snn.train.distill_hook import build_distillation
        from had_snn.train.loop import CHECKPOINT_NAME, train

        root = _data_root(ctx, data_dir, data_step)
        raw = copy.deepcopy(cfg)
        raw["data"]["dir"] = root
        if teacher_step_name(seed) in ctx.inputs:
            teacher = ctx.inputs[teacher_step_name(seed)]
            raw["distill"]["teacher"] = str((ctx.path(teacher["run_dir"]) / CHECKPOINT_NAME).resolve())
        tcfg = config_from_dict(raw, f"{method}, seed {seed}")
        run_dir, ckpt = ctx.step_dir, ctx.step_dir / CHECKPOINT_NAME
        distill = build_distillation(tcfg, str(run_dir / "config.yaml"))
        val = sequences(root, "val")[:val_sequences] if val_sequences else None
        start = time.perf_counter()
        history = train(tcfg, run_dir, sequences(root, "train"), resume=ckpt.is_file(), device=device,
                        extra_loss=distill.extra_loss, extra_modules=distill.extra_modules, progress=progress,
                        val_sequences=val).history
        train_s = time.perf_counter() - start
        model = load_model(ckpt, map_location=device)
        crop = tcfg.data.crop_config()
        tracker = ModelTracker(model, crop_config_for(model, crop.student_steps, crop.as_dict()), window_influence,
                               device=device, name=method)
        report = evaluate([tracker], sequences(root, "test"), run_dir / "eval", split="test", resume=False,
                          plots=False, progress=progress)
        return {
            "method": method, "seed": seed, "run_dir": ctx.rel(run_dir), "train_seconds": round(train_s, 1),
            "final_epoch": history[-1], "subsets": _subset_scores(report["trackers"][method]["subsets"]),
            **_jitter(report, method), "data_root": ctx.rel(root) if data_dir is None else root,
            "results": ctx.rel(run_dir / "eval" / "results.json"),
            "files": [ctx.rel(ckpt), ctx.rel(run_dir / "eval" / "results.json")],
        }

    return Step(f"runs/{method}/seed{seed}", f"train + evaluate {method}, seed {seed}",
                {"table_format": TABLE_FORMAT, "train": cfg, "window_influence": window_influence, "threads": threads,
                 "val_sequences": val_sequences}, run, deps)


def _static_step(name: str, seed: int | None, data_dir: str | None, data_step: str | None, sequences) -> Step:
    """The box-stays-put baseline on one draw (no training): the floor a trained tracker must beat."""

    def run(ctx: StepContext) -> dict:
        from had_snn.evaluation.evaluate import evaluate
        from had_snn.tracking.tracker import StaticTracker

        root = _data_root(ctx, data_dir, data_step)
        report = evaluate([StaticTracker()], sequences(root, "test"), ctx.step_dir / "eval",
                          split="test", resume=False, plots=False)
        return {"method": STATIC, "seed": seed, "run_dir": ctx.rel(ctx.step_dir),
                "subsets": _subset_scores(report["trackers"][STATIC]["subsets"]), **_jitter(report, STATIC),
                "data_root": ctx.rel(root) if data_dir is None else root,
                "results": ctx.rel(ctx.step_dir / "eval" / "results.json"),
                "files": [ctx.rel(ctx.step_dir / "eval" / "results.json")]}

    return Step(name, "evaluate the static baseline" + ("" if seed is None else f" on draw {seed}"),
                {"table_format": TABLE_FORMAT, "method": STATIC, "data": data_dir}, run,
                () if data_step is None else (data_step,))


def subset_order(results: list[dict]) -> list[str]:
    """``all``, ``normal_light``, then every attribute (in :data:`had_snn.data.limits.ATTRIBUTES` order, unknown
    tags after them) that any run's evaluation reports."""
    from had_snn.data.limits import ATTRIBUTES

    seen = {s for r in results for s in r["subsets"]}
    head = [s for s in ("all", "normal_light") if s in seen]
    known = [a for a in ATTRIBUTES if a in seen]
    return head + known + sorted(seen - set(head) - set(known))


def aggregate(results: list[dict], methods: list[str], subsets: list[str]) -> dict:
    """``{method: {subset: {metric: {mean, std, n, values}}}}`` over seeds (sample std; NaN for one seed)."""
    out: dict = {}
    for method in methods:
        rows = [r for r in results if r["method"] == method]
        out[method] = {}
        for subset in subsets:
            vals = {name: [r["subsets"][subset][name] for r in rows if subset in r["subsets"]] for name, _ in METRICS}
            out[method][subset] = {
                name: {"mean": float(np.mean(v)) if v else math.nan,
                       "std": float(np.std(v, ddof=1)) if len(v) > 1 else math.nan,
                       "n": len(v), "values": v}
                for name, v in vals.items()
            }
    return out


def paired_comparisons(results: list[dict], methods: list[str], n_boot: int = 10000,
                       per_seed_draws: bool = True) -> dict:
    """Paired SR differences: every KD row vs the no-KD student (``"<row> - student"``) and HAD vs each other KD
    baseline (``"had - <row>"``); keys name the pair, rows missing from ``methods`` are left out. With per-seed draws
    (:func:`had_snn.evaluation.compare.compare_draws`) seed k of A is paired with seed k of B on draw k and the
    interval is the two-level bootstrap (seed pairs with their draws, then their sequences); with one shared draw
    (:func:`~had_snn.evaluation.compare.compare`) it is that of the seed-averaged per-sequence difference beside the
    two-level one."""
    return {f"{a} - {b}": compare_rows(results, a, b, n_boot, per_seed_draws) for a, b in row_pairs(methods)}


def row_pairs(methods: list[str]) -> list[tuple[str, str]]:
    pairs = [(row, NO_KD) for row in KD_ROWS if row in methods and NO_KD in methods]
    return pairs + [("had", row) for row in OTHER_KD if "had" in methods and row in methods]


def compare_rows(results: list[dict], a: str, b: str, n_boot: int, per_seed_draws: bool) -> dict:
    """The paired SR comparison of rows ``a`` and ``b`` over their runs (seed k with seed k)."""
    from had_snn.evaluation.compare import compare, compare_draws, dataset_attributes, load_scores

    attributes: dict[str, dict] = {}

    def scores(method: str) -> list:
        runs = sorted((r for r in results if r["method"] == method), key=lambda r: r["seed"])
        out = []
        for r in runs:
            root = r["data_root_path"]
            if root not in attributes:
                attributes[root] = dataset_attributes(root)  # the draw's tags (normal_light and per attribute)
            out.append(load_scores(r["results_path"], method, attributes=attributes[root]))
        return out

    fn = compare_draws if per_seed_draws else compare
    return fn(scores(a), scores(b), metric="SR_AUC", n_boot=n_boot, level=0.95, seed=0)


def gap_closed(agg: dict, method: str, subset: str = "all") -> float:
    """Fraction of the no-KD -> teacher SR gap a row closes: (row - student) / (teacher - student); NaN without
    both ends or when the teacher is not above the student."""
    try:
        row, low, high = (agg[m][subset]["SR"]["mean"] for m in (method, NO_KD, "teacher"))
    except KeyError:
        return math.nan
    return (row - low) / (high - low) if high > low else math.nan


def _diff(comparisons: dict, pair: str, subset: str = "all") -> dict | None:
    """The reported difference of a pair: its two-level interval (seed pairs, then their test sequences) where
    there are 2 or more seed pairs, else the interval over test sequences of the seed-averaged difference."""
    entry = comparisons.get(pair, {}).get(subset)
    if not entry:
        return None
    return entry.get("diff_two_level") or entry["diff"]


def verdict(agg: dict, comparisons: dict) -> list[str]:
    """This project's goals for the table, one line each: PASS / FAIL with the numbers, or ``n/a`` when a needed
    row is missing.

    HAD >= no-KD + 5 SR with the 95 % interval above 0; HAD level with every other KD row (the interval of
    HAD - row reaches 0 or above, i.e. not significantly worse); HAD closes >= 50 % of the no-KD -> teacher gap;
    RGB-only ANN >= static + 20 SR on normal_light; teacher >= event-only ANN + 5 SR overall."""
    def sr(method: str, subset: str = "all") -> float:
        return 100 * agg[method][subset]["SR"]["mean"] if method in agg and subset in agg[method] else math.nan

    def mark(ok: bool | None) -> str:
        return "n/a" if ok is None else ("PASS" if ok else "FAIL")

    lines = []
    d = _diff(comparisons, f"had - {NO_KD}")
    if d is None:
        lines.append(f"- n/a: HAD >= no-KD + {TARGET_HAD_GAIN_SR:g} SR (needs the had and student rows)")
    else:
        ok = None if d["lo"] is None else 100 * d["mean"] >= TARGET_HAD_GAIN_SR and d["lo"] > 0
        lines.append(f"- {mark(ok)}: HAD >= no-KD + {TARGET_HAD_GAIN_SR:g} SR with the 95 % interval above 0: "
                     f"{_interval(d)} SR")
    level = {row: _diff(comparisons, f"had - {row}") for row in OTHER_KD}
    level = {row: v for row, v in level.items() if v is not None}
    if not level:
        lines.append("- n/a: HAD level with every other KD row (needs had and vanilla_kd / hdetrack / had_authors)")
    else:
        ok = None if any(v["hi"] is None for v in level.values()) else all(v["hi"] >= 0 for v in level.values())
        parts = ", ".join(f"{row} {_interval(v)}" for row, v in level.items())
        lines.append(f"- {mark(ok)}: HAD at least level with every other KD row (HAD - row, SR, 95 % interval "
                     f"not below 0): {parts}")
    gap = gap_closed(agg, "had")
    lines.append(f"- {mark(None if math.isnan(gap) else gap >= TARGET_GAP_FRACTION)}: HAD closes >= "
                 f"{100 * TARGET_GAP_FRACTION:.0f} % of the no-KD -> teacher gap: "
                 + ("n/a" if math.isnan(gap) else f"{100 * gap:.0f} %"))
    rgb, static = sr("teacher_rgb", "normal_light"), sr(STATIC, "normal_light")
    ok = None if math.isnan(rgb) or math.isnan(static) else rgb - static >= TARGET_RGB_OVER_STATIC_SR
    lines.append(f"- {mark(ok)}: RGB-only ANN >= static + {TARGET_RGB_OVER_STATIC_SR:g} SR on normal_light: "
                 + ("n/a" if ok is None else f"{rgb:.1f} vs {static:.1f} ({rgb - static:+.1f})"))
    teacher, events = sr("teacher"), sr("teacher_events")
    ok = None if math.isnan(teacher) or math.isnan(events) else teacher - events >= TARGET_TEACHER_OVER_EVENTS_SR
    lines.append(f"- {mark(ok)}: teacher >= event-only ANN + {TARGET_TEACHER_OVER_EVENTS_SR:g} SR overall: "
                 + ("n/a" if ok is None else f"{teacher:.1f} vs {events:.1f} ({teacher - events:+.1f})"))
    return lines


def _cell(stat: dict) -> str:
    if stat["n"] == 0:
        return "-"
    std = "" if math.isnan(stat["std"]) else f" ± {100 * stat['std']:.1f}"
    return f"{100 * stat['mean']:.1f}{std}"


def _interval(d: dict | None) -> str:
    if d is None:
        return "-"
    bounds = "" if d["lo"] is None else f" [{100 * d['lo']:+.1f}, {100 * d['hi']:+.1f}]"
    return f"{100 * d['mean']:+.1f}{bounds}"


def subset_sizes(results: list[dict]) -> dict[str, str]:
    """Test sequences in each subset per draw (from the runs' evaluations): one number, or ``min-max`` when the
    draws differ."""
    seen: dict[str, set[int]] = {}
    for r in results:
        for s, v in r["subsets"].items():
            if "num_sequences" in v:
                seen.setdefault(s, set()).add(int(v["num_sequences"]))
    return {s: str(min(n)) if len(n) == 1 else f"{min(n)}-{max(n)}" for s, n in seen.items()}


def markdown_table(agg: dict, comparisons: dict, note: str, subsets: list[str],
                   counts: dict[str, str] | None = None, jitter: dict | None = None) -> str:
    """The results page: main table (SR / PR / NPR overall, SR normal_light, paired SR vs no-KD with its 95 %
    interval, gap closed), SR per subset (``counts``: its number of test sequences, for the header), the jitter
    table (``jitter``: :func:`aggregate_jitter`) and the verdict."""
    counts, jitter = counts or {}, jitter or {}
    head = ["Method", "Seeds", "SR", "PR", "NPR", "SR normal_light", "ΔSR vs no-KD [95 % CI]",
            "ΔSR vs no-KD normal_light", "gap closed"]
    lines = [note, "", "| " + " | ".join(head) + " |", "|---|---:|" + "---:|" * (len(head) - 2)]
    for method, subs in agg.items():
        n = max(stat["n"] for stat in subs["all"].values())
        nl = _cell(subs["normal_light"]["SR"]) if "normal_light" in subs else "-"
        pair = f"{method} - {NO_KD}"
        gap = gap_closed(agg, method) if method in KD_ROWS else math.nan
        cells = [_cell(subs["all"][m]) for m, _ in METRICS] + [
            nl, _interval(_diff(comparisons, pair)), _interval(_diff(comparisons, pair, "normal_light")),
            "-" if math.isnan(gap) else f"{100 * gap:.0f} %"]
        lines.append(f"| {method} | {n} | " + " | ".join(cells) + " |")
    lines += ["", "SR (%) per subset, mean ± std over seeds (number of test sequences in the header):", ""]
    head = ["Method"] + [f"{s} ({counts[s]})" if s in counts else s for s in subsets]
    lines += ["| " + " | ".join(head) + " |", "|---|" + "---:|" * len(subsets)]
    for method, subs in agg.items():
        lines.append(f"| {method} | " + " | ".join(_cell(subs[s]["SR"]) if s in subs else "-" for s in subsets)
                     + " |")
    if comparisons:
        lines += ["", "Paired SR difference (points), mean [95 % two-level bootstrap interval: the seed pairs "
                  "resampled, then each one's test sequences, so it includes the spread between training seeds; "
                  "with one seed, over test sequences only]; per-seed differences as mean ± std:", ""]
        head = ["Pair"] + subsets + ["per seed (all)"]
        lines += ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
        for pair, result in comparisons.items():
            entry = result.get("all", {})
            mean, std = entry.get("seed_mean"), entry.get("seed_std")
            per_seed = "-" if mean is None else f"{100 * mean:+.1f}" + ("" if std is None else f" ± {100 * std:.1f}")
            lines.append(f"| {pair} | " + " | ".join(_interval(_diff(comparisons, pair, s)) for s in subsets)
                         + f" | {per_seed} |")
    lines += jitter_lines(jitter)
    lines += ["", "Verdict (this project's goals, not field standards):", "", *verdict(agg, comparisons)]
    return "\n".join(lines) + "\n"


def aggregate_jitter(results: list[dict], methods: list[str]) -> dict:
    """``{row: {median_step_px, reversal_rate}}`` as the mean over a row's runs (each over its draw's test
    sequences), with ``ground truth`` first (the mean over the draws the runs used); rows without jitter left out."""
    def mean(runs: list[dict], key: str) -> dict:
        vals = {k: [r[key][k] for r in runs if r[key].get(k) is not None] for k in ("median_step_px", "reversal_rate")}
        return {k: float(np.mean(v)) if v else None for k, v in vals.items()} | {"n": len(runs)}

    out: dict = {}
    truth = {r["data_root_path"]: r for r in results if "ground_truth_jitter" in r}
    if truth:
        out["ground truth"] = mean(list(truth.values()), "ground_truth_jitter")
    for method in methods:
        runs = [r for r in results if r["method"] == method and "jitter" in r]
        if runs:
            out[method] = mean(runs, "jitter")
    return out


def jitter_lines(jitter: dict) -> list[str]:
    """The jitter table: per row the median per-frame step of the box centre (px) and the share of steps that
    reverse the previous step's direction, each the mean over seeds."""
    if not jitter:
        return []
    lines = ["", "Box jitter on the test split, mean over seeds (each seed over its draw's sequences): the median "
             "per-frame step of the box centre and the share of frames whose step turns back against the previous "
             "one:", "", "| Row | median step (px) | direction reversals |", "|---|---:|---:|"]
    for row, j in jitter.items():
        step = "-" if j["median_step_px"] is None else f"{j['median_step_px']:.2f}"
        rev = "-" if j["reversal_rate"] is None else f"{100 * j['reversal_rate']:.0f} %"
        lines.append(f"| {row} | {step} | {rev} |")
    return lines


def plot_table(agg: dict, path: Path, subsets: list[str]) -> None:
    """SR bars (methods) per subset, error bars = std over seeds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    methods = list(agg)
    fig, ax = plt.subplots(figsize=(max(8.0, 0.5 * len(methods) * len(subsets) / 3), 4.5))
    x = np.arange(len(subsets))
    width = 0.85 / max(1, len(methods))
    for k, m in enumerate(methods):
        means = [100 * agg[m][s]["SR"]["mean"] if s in agg[m] else np.nan for s in subsets]
        stds = [100 * np.nan_to_num(agg[m][s]["SR"]["std"]) if s in agg[m] else 0.0 for s in subsets]
        ax.bar(x + (k - (len(methods) - 1) / 2) * width, means, width, yerr=stds, capsize=1.5, label=m)
    ax.set_xticks(x, subsets, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("SR (%)")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    save_figure(fig, path, dpi=120)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--preset", choices=sorted(PRESETS), default="medium",
                   help="quick (smoke test, minutes), medium (the reported table, <= 2 h on 2 CPU cores; default) "
                        "or full (GPU-sized)")
    p.add_argument("--quick", dest="preset", action="store_const", const="quick", help="same as --preset quick")
    p.add_argument("--out", type=Path, help="output folder (default runs/had-table-<timestamp>); reuse to resume")
    p.add_argument("--data", help="benchmark root with index.json, shared by every seed (default: generate a "
                                  "synthetic draw per seed into OUT/data/seed<k>)")
    p.add_argument("--draws", choices=("per-seed", "shared"), default="per-seed",
                   help="synthetic benchmark draws: per-seed (default: seed k trains and is evaluated on its own draw, "
                        "generator seed k) or shared (one draw, generator seed 0, for every seed); --data implies "
                        "shared")
    p.add_argument("--seeds", type=int, default=3, help="seeds per method (default 3)")
    p.add_argument("--methods", nargs="+", choices=[STATIC, *METHODS], default=[STATIC, *METHODS],
                   help="subset of rows (static: the initial box kept, a reference row without seeds); a KD row "
                        "trains the teacher of its seed too")
    p.add_argument("--epochs", type=int, help="override the epochs of every run")
    p.add_argument("--samples-per-epoch", type=int, help="override data.samples_per_epoch of every run")
    p.add_argument("--sequences", type=int, help="synthetic sequences to generate (default by preset)")
    p.add_argument("--duration-s", type=float, help="synthetic sequence length in seconds (default by preset)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=YAML",
                   help="override a distill field of every KD run, e.g. --set ot_epsilon=0.1 (repeatable)")
    p.add_argument("--bootstrap", type=int, default=10000, help="bootstrap resamples of the paired intervals")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto")
    p.add_argument("--window-influence", type=float, default=0.25, help="cosine window weight when tracking")
    p.add_argument("--doc", type=Path, help="also write the results page here with its command, date, wall time "
                                            "and machine (e.g. docs/results_had.md)")
    p.add_argument("--threads", type=int, default=1,
                   help="torch CPU threads of every step (default 1). Part of each step's key: the thread count "
                        "changes float summation order, so runs with other counts are not mixed in")
    p.add_argument("--parallel", type=int,
                   help="run this many training steps at once, each in its own process (default: 2 on a CPU, 1 on a "
                        "GPU); the step runner starts a student only after its teacher. Results do not depend on it")
    p.add_argument("--only-step", help=argparse.SUPPRESS)  # a --parallel worker: run one step (deps cached)
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    args = p.parse_args(argv)
    if args.threads < 1:
        p.error(f"--threads must be >= 1, got {args.threads}")
    if args.parallel is not None and args.parallel < 1:
        p.error(f"--parallel must be >= 1, got {args.parallel}")
    if args.seeds < 1:
        p.error(f"--seeds must be >= 1, got {args.seeds}")
    if args.bootstrap < 1:
        p.error(f"--bootstrap must be >= 1, got {args.bootstrap}")
    return args


def parse_sets(items: list[str]) -> dict:
    import yaml

    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UserError(f"--set: expected KEY=VALUE, got {item!r}")
        try:
            out[key] = yaml.safe_load(value)
        except yaml.YAMLError as exc:  # e.g. a python/object tag: safe_load refuses to construct it
            reason = " ".join(str(getattr(exc, "problem", None) or exc).split())
            raise UserError(f"--set {key}: {value!r} is not a plain YAML value ({reason})") from None
    return out


def _check_folder(out: Path, mode: str) -> None:
    """Refuse an output folder made with another preset (or by the first table format): its runs would be mixed in."""
    path = out / "table_config.json"
    if not path.is_file():
        return
    try:
        old = json.loads(path.read_text()).get("mode")
    except (OSError, ValueError, AttributeError):
        old = None
    if old != mode or json.loads(path.read_text()).get("table_format") != TABLE_FORMAT:
        raise UserError(f"{out}: holds a table made with preset {old!r} (table_config.json), not {mode!r} of this "
                        f"table version; use another --out")


def main(argv: list[str] | None = None) -> int:
    import functools

    from had_snn.data.dataset import load_split, split_paths
    from had_snn.train.distributed import resolve_device
    from had_snn.util.threads import set_threads

    started = time.perf_counter()
    args = parse_args(argv)
    mode = args.preset
    preset = PRESETS[mode]
    out = args.out or Path("runs") / f"had-table-{time.strftime('%Y%m%d-%H%M%S')}"
    _check_folder(out, mode)
    out.mkdir(parents=True, exist_ok=True)
    device = str(resolve_device(args.device))
    if args.parallel is None:
        args.parallel = 1 if device.startswith("cuda") else 2
    sets = parse_sets(args.set)
    specs = {name: (kind, src, {**preset.distill_overrides, **sets, **ov} if src not in (None, "none") else ov)
             for name, (kind, src, ov) in METHODS.items()}
    extra: dict = {}
    if args.epochs is not None:
        extra["epochs"] = args.epochs
    if args.samples_per_epoch is not None:
        extra["data"] = {"samples_per_epoch": args.samples_per_epoch}
    progress = not args.no_progress

    @functools.cache
    def sequences(root: str, split: str) -> list:  # read once, on first use (not at all when every step is cached)
        return load_split(root, split, load_frames=True)

    seeds = list(range(args.seeds))
    per_seed = args.data is None and args.draws == "per-seed"
    steps: list[Step] = []
    if not args.data:
        for k in (seeds if per_seed else [0]):
            steps.append(_data_step(data_step_name(k, per_seed), k, args.sequences or preset.sequences,
                                    preset.size_px, args.duration_s or preset.duration_s, progress))
    data_dir = args.data or str(out / "data")
    argv_used = sys.argv[1:] if argv is None else list(argv)
    set_threads(args.threads)
    if args.only_step is None:
        write_text_atomic(out / "table_config.json", json.dumps(
            {"mode": mode, "table_format": TABLE_FORMAT, "data": data_dir, "draws": "per_seed" if per_seed else
             "shared", "argv": argv_used,
             "preset": asdict(preset), "methods": {m: specs[m] for m in args.methods if m in specs}}, indent=1))

    # Teachers first: every distilled student of seed k learns from the teacher of seed k (a dependency of its step).
    needs_teacher = any(m in KD_ROWS for m in args.methods)
    order = (["teacher"] if "teacher" in args.methods or needs_teacher else []) + \
        [m for m in args.methods if m not in ("teacher", STATIC)]
    def data_step(seed: int) -> str | None:
        return None if args.data else data_step_name(seed, per_seed)

    if STATIC in args.methods:
        for k in (seeds if per_seed else [None]):
            steps.append(_static_step(static_step_name(k, per_seed), k, args.data, data_step(k or 0), sequences))
    for method in order:
        for seed in seeds:
            cfg = method_config(method, specs[method], seed, preset, args.data, extra)
            steps.append(_train_step(method, seed, cfg, args.data, data_step(seed), sequences, device,
                                     args.window_influence, progress, args.threads))
    if args.only_step is not None:  # a worker of --parallel: this step (its dependencies are cached)
        by_name = {s.name: s for s in steps}
        if args.only_step not in by_name:
            raise UserError(f"--only-step: no step {args.only_step!r}")
        run_steps(with_dependencies(by_name[args.only_step], by_name), out)
        return 0
    if args.parallel > 1:  # each (method, seed) step in a worker process: this script with --only-step NAME
        local = [s.name for s in steps if s.name.startswith(("data", STATIC_STEP))]
        run_steps_parallel(steps, out, args.parallel, local=local,
                           worker=lambda step: [sys.executable, str(Path(__file__).resolve()), *argv_used, "--out",
                                                str(out), "--only-step", step.name, "--parallel", "1",
                                                "--no-progress"])
    records = run_steps(steps, out)  # every step cached after a parallel run: the records for the table
    sequences.cache_clear()

    results = [{k: v for k, v in r.outputs.items() if k != "files"}
               | {"run_dir": str(out / r.outputs["run_dir"]), "results_path": str(out / r.outputs["results"]),
                  "data_root_path": r.outputs["data_root"] if args.data else str(out / r.outputs["data_root"])}
               for r in records if not r.name.startswith("data") and r.outputs["method"] in args.methods]
    methods = [m for m in (STATIC, *METHODS) if m in args.methods]
    subsets = subset_order(results)
    agg = aggregate(results, methods, subsets)
    comparisons = paired_comparisons(results, methods, args.bootstrap, per_seed)
    jitter = aggregate_jitter(results, methods)
    roots = sorted({r["data_root_path"] for r in results})
    n_test = "/".join(str(len(split_paths(root, "test"))) for root in roots)
    draws = (f"one synthetic draw per seed (generator seed = training seed: `{data_dir}/seed<k>`)" if per_seed
             else f"data `{data_dir}` for every seed")
    note = (f"HAD table ({mode} preset), {draws}, test split: {n_test} sequences. SR = success AUC, "
            f"PR = precision@20 px, NPR = normalised precision@0.2, in %, mean ± std over {len(seeds)} seed(s) "
            f"(sample std). ΔSR: paired difference to the no-KD `student` in SR points with its 95 % two-level "
            f"bootstrap interval (seed pairs with their draws, then test sequences; test sequences only with one "
            f"seed); gap closed: "
            f"(row - student) / (teacher - student) of the mean SR.")
    table = markdown_table(agg, comparisons, note, subsets, subset_sizes(results), jitter)
    wall_s = time.perf_counter() - started
    stamps = [read_stamp(out / r.name) or {} for r in records]  # each step's own times, from when it ran
    step_s = sum(float(s.get("seconds", 0.0)) for s in stamps)
    step_cpu_s = sum(float(s.get("cpu_seconds", 0.0)) for s in stamps)
    write_text_atomic(out / "results.md", table)
    write_text_atomic(out / "results.json", json.dumps(
        {"note": note, "preset": mode, "draws": "per_seed" if per_seed else "shared", "subsets": subsets,
         "aggregate": agg, "comparisons": comparisons, "jitter": jitter,
         "gap_closed": {m: gap_closed(agg, m) for m in methods if m in KD_ROWS},
         "verdict": verdict(agg, comparisons), "runs": results, "wall_seconds_this_call": round(wall_s, 1),
         "step_seconds_sum": round(step_s, 1), "step_cpu_seconds_sum": round(step_cpu_s, 1)},
        indent=1))
    plot_table(agg, out / "plots" / "had_table.png", subsets)
    if args.doc:
        header = (f"# HAD table ({mode} preset)\n\nGenerated by `python experiments/had_table.py "
                  f"{' '.join(argv_used)}` on {time.strftime('%Y-%m-%d')} ({platform.machine()}, "
                  f"{os.cpu_count()} CPUs, device {device}, {args.threads} torch thread(s) per step); wall time of "
                  f"this call {wall_s / 60:.1f} min. The steps' own wall times (synthesis, training, evaluation, "
                  f"from their stamps, over every call that ran them) add up to {step_s / 60:.1f} min, "
                  f"{step_cpu_s / 60:.1f} CPU min; run {args.parallel} at a time.\n\n")
        write_text_atomic(args.doc, header + table)
    print(table, end="")
    print(f"wrote {out / 'results.md'}, {out / 'results.json'} and {out / 'plots' / 'had_table.png'}"
          + (f" and {args.doc}" if args.doc else ""))
    return 0


if __name__ == "__main__":
    script_main(main, "experiments/had_table.py")
