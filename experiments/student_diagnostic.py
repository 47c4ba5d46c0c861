"""Where the spiking student loses to the event-only ANN: one change from the no-KD student per row, 3 seeds.

    python experiments/student_diagnostic.py [--preset medium] [--out runs/had-table-medium-v3] [--seeds 3] \
        [--rows ...] [--doc docs/results_student_diagnostic.md]

Every row trains as the HAD table's no-KD ``student`` row (``experiments/had_table.py``: the same preset, configs,
step runner and per-seed benchmark draws, so ``--out`` may be a HAD-table folder and its data, static, ``student``
and ``teacher_events`` steps are reused) with one change:

- ``ann_twin``: the student's layers with ReLU and no time (:class:`had_snn.models.student_ann.StudentANN`), its
  input the spike steps summed: capacity without spiking;
- ``graded_input``: each step's event counts instead of binary spikes (``data.crop.graded_spikes``);
- ``steps_8``: T = 8 spike steps per window instead of 4;
- ``two_convs``: two convolutions per stage, as the teacher has; ``wide_stage1``: a 32-channel first stage (16);
- ``bn_frozen``: BatchNorm frozen to its running statistics from epoch 6 of 10 (``bn_freeze_epoch``);
- ``epochs_30``: 3x the epochs (30), with the validation SR of 8 val sequences after every epoch (the learning
  curve, ``plots/learning_curve.png``);
- ``stem`` / ``ann_twin_stem``: a 16-channel full-resolution (stride 1) stem layer before stage 1, as the
  event-only ANN has, on the spiking student and on its ANN twin; ``ann_twin_two_convs``: the twin with two convs
  per stage; ``stem_two_convs``: the spiking student with both (the event-only ANN's layers); ``two_convs_30ep``:
  two convs per stage trained 3x longer;
- ``events_ann_counts``: the event-only ANN itself fed the student's input (its spike steps summed) instead of the
  5-bin voxel grid (``model_config.event_input: spike_counts``): the input encoding without the student's layers.

Evaluation-only rows reuse a trained row's checkpoint: ``<row>+open_loop`` tracks each test frame from a crop around
the previous frame's ground truth, and ``<row>+open_loop_shifted`` from that crop moved as the training sampler moves
its crops (``U(-0.5, 0.5) x 3`` box sides per axis, the same shifts for every row), so the target is off the crop
centre and a model has to find it (:class:`had_snn.tracking.diagnostic.OpenLoopTracker`: per-frame accuracy without
the closed loop's drift), for every trained row and the event-only ANN, beside ``previous_truth`` (each frame
answered with the previous frame's ground truth: what a model that keeps its crop's box scores open loop);
``student+bn_batch`` evaluates the student with BatchNorm on each crop's own statistics instead of the running ones,
and ``student+bn_recal`` with the running statistics recomputed under the final weights on 512 training pairs
(:func:`had_snn.train.bn_recalibration.recalibrate_batch_norm`; still foldable into the chip's weights).

Writes ``OUT/diagnostic.md|json`` and ``OUT/plots/learning_curve.png``: SR mean +- std over seeds per row, the paired
SR difference to the student with its 95 % two-level bootstrap interval (seed pairs with their draws, then test
sequences), the open-loop SR and its difference to the student's open-loop SR, the last epoch's training IoU and
focal loss, and the box jitter. ``--doc`` also writes the page there with its command, date and machine.
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
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import had_table as ht  # noqa: E402

from had_snn.demo.config import deep_merge  # noqa: E402
from had_snn.demo.pipeline import (  # noqa: E402
    Step,
    StepContext,
    read_stamp,
    run_steps,
    run_steps_parallel,
    with_dependencies,
)
from had_snn.util.atomic import save_figure, write_text_atomic  # noqa: E402
from had_snn.util.errors import UserError, script_main  # noqa: E402

REFERENCE = "student"
EVENT_ANN = "teacher_events"
LEARNING_CURVE = "epochs_30"
CURVE_VAL_SEQUENCES = 8
# Row -> (model kind, training-config overrides on the student's, what the row changes).
ROWS: dict[str, tuple[str, dict, str]] = {
    REFERENCE: ("student", {}, "the no-KD spiking student (the HAD table's row)"),
    "ann_twin": ("student_ann", {}, "ANN twin: the same layers with ReLU and no time, input the steps summed"),
    "graded_input": ("student", {"data": {"crop": {"graded_spikes": True}}},
                     "graded input: each step's event counts instead of binary spikes"),
    "steps_8": ("student", {"data": {"crop": {"student_steps": 8}}}, "T = 8 spike steps per window (4)"),
    "two_convs": ("student", {"model_config": {"convs_per_stage": 2}}, "two convs per stage, as the teacher"),
    "wide_stage1": ("student", {"model_config": {"widths": [32, 32, 64]}}, "a 32-channel first stage (16)"),
    "bn_frozen": ("student", {"bn_freeze_epoch": 6}, "BN frozen to its running statistics from epoch 6 of 10"),
    LEARNING_CURVE: ("student", {"epochs": 30}, "3x the epochs (30); the learning curve"),
    "stem": ("student", {"model_config": {"stem_channels": 16}},
             "a 16-channel full-resolution stem layer before stage 1, as the event-only ANN has"),
    "ann_twin_stem": ("student_ann", {"model_config": {"stem_channels": 16}}, "the ANN twin with that stem"),
    "ann_twin_two_convs": ("student_ann", {"model_config": {"convs_per_stage": 2}},
                           "the ANN twin with two convs per stage"),
    "stem_two_convs": ("student", {"model_config": {"stem_channels": 16, "convs_per_stage": 2}},
                       "the stem and two convs per stage: the event-only ANN's layers, spiking"),
    "two_convs_30ep": ("student", {"model_config": {"convs_per_stage": 2}, "epochs": 30},
                       "two convs per stage, trained 3x longer (30 epochs)"),
    "events_ann_counts": ("teacher_events", {"model_config": {"event_input": "spike_counts"},
                                             "data": {"crop": {"student_steps": 4}}},
                          "the event-only ANN fed the student's input (its 4 spike steps summed) instead of voxels"),
}
OPEN_LOOP = "open_loop"
OPEN_LOOP_SHIFTED = "open_loop_shifted"
#: Crop shift of the shifted open loop, in box sides (U(-0.5, 0.5) x this per axis): the training sampler's
#: center_jitter, so the target sits as far off the crop centre as in training.
OPEN_LOOP_SHIFT = 3.0
BN_BATCH = "bn_batch"
BN_RECAL = "bn_recal"
PREVIOUS_TRUTH = "previous_truth"
RECAL_PAIRS = 512  # training pairs (one epoch of the medium preset) that recalibrate BN


def row_config(row: str, seed: int, preset: ht.TablePreset, extra: dict) -> dict:
    """The resolved training config of a row: the HAD table's no-KD student with the row's overrides."""
    if row == EVENT_ANN:
        return ht.method_config(row, ht.METHODS[row], seed, preset, None, extra)
    kind, overrides, _ = ROWS[row]
    source = None if kind.startswith("teacher") else "none"  # a teacher row trains from the teacher's config
    return ht.method_config(row, (kind, source, {}), seed, preset, None, deep_merge(copy.deepcopy(extra), overrides))


def _eval_step(row: str, variant: str, seed: int, data_step: str, sequences, device: str,
               window_influence: float, threads: int) -> Step:
    """Evaluate row ``row``'s checkpoint of ``seed`` on its draw's test split: open loop, with BN batch statistics,
    or with BN's running statistics recalibrated on :data:`RECAL_PAIRS` training pairs."""
    train_step = f"runs/{row}/seed{seed}"
    name = f"{row}+{variant}"

    def run(ctx: StepContext) -> dict:
        from had_snn.evaluation.evaluate import evaluate
        from had_snn.models.checkpoint import load_checkpoint, model_from_state
        from had_snn.tracking.diagnostic import OpenLoopTracker, batch_statistics_model
        from had_snn.tracking.tracker import ModelTracker, crop_config_for
        from had_snn.train.loop import CHECKPOINT_NAME

        root = ht._data_root(ctx, None, data_step)
        path = ctx.path(ctx.inputs[train_step]["run_dir"]) / CHECKPOINT_NAME
        state = load_checkpoint(path, map_location=device)
        model = model_from_state(state, device, str(path))
        train_crop = state["train_config"]["data"].get("crop", {})
        crop = crop_config_for(model, int(train_crop.get("student_steps", 4)), train_crop)
        if variant in (OPEN_LOOP, OPEN_LOOP_SHIFTED):
            tracker = OpenLoopTracker(model, crop, window_influence, device=device, name=name,
                                      shift=OPEN_LOOP_SHIFT if variant == OPEN_LOOP_SHIFTED else 0.0)
        elif variant == BN_RECAL:
            tracker = ModelTracker(_recalibrated(model, state, sequences(root, "train"), seed), crop,
                                   window_influence, device=device, name=name)
        else:
            tracker = ModelTracker(batch_statistics_model(model), crop, window_influence, device=device, name=name)
        report = evaluate([tracker], sequences(root, "test"), ctx.step_dir / "eval", split="test", resume=False,
                          plots=False, progress=False)
        return {"method": name, "seed": seed, "run_dir": ctx.rel(ctx.step_dir),
                "subsets": ht._subset_scores(report["trackers"][name]["subsets"]), **ht._jitter(report, name),
                "data_root": ctx.rel(root), "results": ctx.rel(ctx.step_dir / "eval" / "results.json"),
                "files": [ctx.rel(ctx.step_dir / "eval" / "results.json")]}

    return Step(f"runs/{name}/seed{seed}", f"evaluate {name}, seed {seed}",
                {"table_format": ht.TABLE_FORMAT, "row": row, "variant": variant,
                 "window_influence": window_influence, "threads": threads}, run, (data_step, train_step))


def _recalibrated(model, state: dict, train: list, seed: int):
    """``model`` with BN's running statistics recomputed on :data:`RECAL_PAIRS` training pairs of its own data
    config (drawn with another seed than its training's)."""
    from torch.utils.data import DataLoader

    from had_snn.train.bn_recalibration import recalibrate_batch_norm
    from had_snn.train.config import config_from_dict
    from had_snn.train.sampler import PairDataset, collate_pairs

    cfg = config_from_dict(state["train_config"], "checkpoint train_config")
    d = cfg.data
    pairs = PairDataset(train, d.crop_config(), RECAL_PAIRS, d.max_gap, d.center_jitter, d.scale_jitter,
                        seed=10_000 + seed)
    recalibrate_batch_norm(model, DataLoader(pairs, cfg.batch_size, collate_fn=collate_pairs))
    return model


def _previous_truth_step(seed: int, data_step: str, sequences, shifted: bool) -> Step:
    """The open-loop reference on one draw: every frame answered with the previous frame's ground truth (moved as
    the shifted open loop moves its crops when ``shifted``)."""
    name = f"{PREVIOUS_TRUTH}+shifted" if shifted else PREVIOUS_TRUTH

    def run(ctx: StepContext) -> dict:
        from had_snn.evaluation.evaluate import evaluate
        from had_snn.tracking.diagnostic import PreviousTruthTracker

        root = ht._data_root(ctx, None, data_step)
        tracker = PreviousTruthTracker(OPEN_LOOP_SHIFT if shifted else 0.0, name=name)
        report = evaluate([tracker], sequences(root, "test"), ctx.step_dir / "eval", split="test",
                          resume=False, plots=False, progress=False)
        return {"method": name, "seed": seed, "run_dir": ctx.rel(ctx.step_dir),
                "subsets": ht._subset_scores(report["trackers"][name]["subsets"]),
                **ht._jitter(report, name), "data_root": ctx.rel(root),
                "results": ctx.rel(ctx.step_dir / "eval" / "results.json"),
                "files": [ctx.rel(ctx.step_dir / "eval" / "results.json")]}

    config = {"table_format": ht.TABLE_FORMAT, "method": PREVIOUS_TRUTH}
    if shifted:
        config["shift"] = OPEN_LOOP_SHIFT
    return Step(f"runs/{name}/seed{seed}", f"evaluate {name} on draw {seed}", config, run, (data_step,))


def _learning_curve(records: list[dict], out: Path) -> dict:
    """Validation SR per epoch of the long runs (from their metrics.json), per seed; also plotted."""
    curves = {}
    for r in records:
        if r["method"] == LEARNING_CURVE:
            history = json.loads((Path(r["run_dir"]) / "metrics.json").read_text())
            curves[r["seed"]] = [{"epoch": h["epoch"], "val_sr": h.get("val_sr"), "iou": h.get("iou"),
                                  "focal": h.get("focal")} for h in history]
    if curves:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, (ax, bx) = plt.subplots(1, 2, figsize=(9.0, 3.4))
        for seed, rows in sorted(curves.items()):
            epochs = [h["epoch"] for h in rows]
            ax.plot(epochs, [100 * h["val_sr"] for h in rows], marker=".", label=f"seed {seed}")
            bx.plot(epochs, [h["iou"] for h in rows], marker=".", label=f"seed {seed}")
        for a, label in ((ax, f"val SR (%), {CURVE_VAL_SEQUENCES} val sequences"), (bx, "training IoU")):
            a.axvline(10, color="grey", ls="--", lw=1)
            a.set_xlabel("epoch (dashed: the table's 10)")
            a.set_ylabel(label)
            a.grid(alpha=0.3)
        ax.legend(fontsize=8)
        fig.suptitle("No-KD spiking student trained 3x longer")
        fig.tight_layout()
        save_figure(fig, out / "plots" / "learning_curve.png", dpi=120)
    return curves


def _fmt(stat: dict | None, scale: float = 100.0, digits: int = 1) -> str:
    if not stat or stat["n"] == 0 or stat["mean"] is None or math.isnan(stat["mean"]):
        return "-"
    std = "" if stat["n"] < 2 or math.isnan(stat["std"]) else f" ± {scale * stat['std']:.{digits}f}"
    return f"{scale * stat['mean']:.{digits}f}{std}"


def _stat(values: list[float]) -> dict:
    vals = [float(v) for v in values if v is not None]
    return {"mean": float(np.mean(vals)) if vals else math.nan,
            "std": float(np.std(vals, ddof=1)) if len(vals) > 1 else math.nan, "n": len(vals)}


def summarise(results: list[dict], rows: list[str], n_boot: int) -> dict:
    """Per row: SR over seeds, the paired SR difference to the student, the open-loop SR and its difference to the
    student's open-loop SR, the last epoch's training IoU / focal loss, the jitter."""
    agg = ht.aggregate(results, sorted({r["method"] for r in results}), ["all"])
    jitter = ht.aggregate_jitter(results, sorted({r["method"] for r in results}))
    by = {m: [r for r in results if r["method"] == m] for m in agg}
    out: dict = {}
    for row in rows:
        if row not in agg:
            continue
        entry = {"SR": agg[row]["all"]["SR"], "jitter": jitter.get(row)}
        if row == PREVIOUS_TRUTH:  # it reads the ground truth: an open-loop reference, not a tracker
            shifted = f"{PREVIOUS_TRUTH}+shifted"
            out[row] = {"SR": {"mean": math.nan, "std": math.nan, "n": entry["SR"]["n"]},
                        "open_loop_SR": entry["SR"], "train_iou": _stat([]), "train_focal": _stat([]),
                        "open_loop_shifted_SR": agg[shifted]["all"]["SR"] if shifted in agg else None}
            continue
        train = [r["final_epoch"] for r in by[row] if "final_epoch" in r]
        entry["train_iou"] = _stat([t.get("iou") for t in train])
        entry["train_focal"] = _stat([t.get("focal") for t in train])
        if row != REFERENCE and REFERENCE in agg and len(by[row]) == len(by[REFERENCE]):
            entry["vs_student"] = ht.compare_rows(results, row, REFERENCE, n_boot, True)["all"]
        for variant in (OPEN_LOOP, OPEN_LOOP_SHIFTED):
            open_row = f"{row}+{variant}"
            if open_row in agg:
                entry[f"{variant}_SR"] = agg[open_row]["all"]["SR"]
                ref = f"{REFERENCE}+{variant}"
                if row != REFERENCE and ref in agg and len(by[open_row]) == len(by[ref]):
                    entry[f"{variant}_vs_student"] = ht.compare_rows(results, open_row, ref, n_boot, True)["all"]
        out[row] = entry
    return out


def markdown(summary: dict, note: str, curves: dict) -> str:
    head = ["Row", "Change", "Seeds", "SR", "ΔSR vs student [95 % CI]", "open-loop SR",
            "Δ open-loop vs student's [95 % CI]", "shifted open-loop SR", "Δ shifted vs student's [95 % CI]",
            "train IoU", "train focal", "reversals"]
    lines = [note, "", "| " + " | ".join(head) + " |", "|---|---|" + "---:|" * (len(head) - 2)]
    for row, e in summary.items():
        change = ROWS[row][2] if row in ROWS else {
            ht.STATIC: "the initial box kept (reference)", EVENT_ANN: "the event-only ANN (reference)",
            f"{REFERENCE}+{BN_BATCH}": "the student evaluated with BN on each crop's own statistics",
            f"{REFERENCE}+{BN_RECAL}": f"the student with BN's running statistics recomputed on {RECAL_PAIRS} "
                                       "training pairs after training",
            PREVIOUS_TRUTH: "the previous frame's ground truth (the open-loop reference)"}.get(row, "")
        j = e.get("jitter") or {}
        rev = "-" if j.get("reversal_rate") is None else f"{100 * j['reversal_rate']:.0f} %"
        vs = {k: ht._interval(e[k]["diff"]) if k in e else "-"
              for k in ("vs_student", "open_loop_vs_student", "open_loop_shifted_vs_student")}
        cells = [row, change, str(e["SR"]["n"]), _fmt(e["SR"]), vs["vs_student"], _fmt(e.get("open_loop_SR")),
                 vs["open_loop_vs_student"], _fmt(e.get("open_loop_shifted_SR")), vs["open_loop_shifted_vs_student"],
                 _fmt(e["train_iou"], 1.0, 3), _fmt(e["train_focal"], 1.0, 3), rev]
        lines.append("| " + " | ".join(cells) + " |")
    if curves:
        last = max(h["epoch"] for rows in curves.values() for h in rows)
        shown = sorted({max(1, round(last * i / 6)) for i in range(1, 7)})
        lines += ["", f"Learning curve of `{LEARNING_CURVE}` (val SR, %, on {CURVE_VAL_SEQUENCES} val sequences of "
                  "each seed's draw, mean over seeds):", "",
                  "| epoch | " + " | ".join(str(e) for e in shown) + " |", "|---|" + "---:|" * len(shown)]
        mean = []
        for e in shown:
            vals = [h["val_sr"] for rows in curves.values() for h in rows
                    if h["epoch"] == e and h["val_sr"] is not None]
            mean.append(f"{100 * np.mean(vals):.1f}" if vals else "-")
        lines.append("| val SR | " + " | ".join(mean) + " |")
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--preset", choices=sorted(ht.PRESETS), default="medium", help="the HAD table's preset")
    p.add_argument("--out", type=Path, help="output folder (default runs/student-diagnostic-<timestamp>); a HAD "
                                            "table's folder of the same preset reuses its steps")
    p.add_argument("--seeds", type=int, default=3, help="seeds per row, each on its own benchmark draw (default 3)")
    p.add_argument("--rows", nargs="+", choices=list(ROWS), default=list(ROWS), help="trained rows (default all)")
    p.add_argument("--epochs", type=int, help="override the epochs of every run (a smoke test)")
    p.add_argument("--samples-per-epoch", type=int, help="override data.samples_per_epoch of every run")
    p.add_argument("--sequences", type=int, help="synthetic sequences per draw (default by preset)")
    p.add_argument("--duration-s", type=float, help="synthetic sequence length in seconds (default by preset)")
    p.add_argument("--bootstrap", type=int, default=10000, help="bootstrap resamples of the paired intervals")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto")
    p.add_argument("--window-influence", type=float, default=0.25, help="cosine window weight when tracking")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads of every step (part of its key)")
    p.add_argument("--parallel", type=int, help="steps at once in worker processes (default 2 on a CPU)")
    p.add_argument("--doc", type=Path, help="also write the page here with its command, date and machine")
    p.add_argument("--only-step", help=argparse.SUPPRESS)
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    args = p.parse_args(argv)
    for name in ("seeds", "threads", "bootstrap"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if REFERENCE not in args.rows:
        args.rows = [REFERENCE, *args.rows]
    return args


def main(argv: list[str] | None = None) -> int:
    import functools

    from had_snn.data.dataset import load_split
    from had_snn.train.distributed import resolve_device
    from had_snn.util.threads import set_threads

    started = time.perf_counter()
    args = parse_args(argv)
    preset = ht.PRESETS[args.preset]
    out = args.out or Path("runs") / f"student-diagnostic-{time.strftime('%Y%m%d-%H%M%S')}"
    ht._check_folder(out, args.preset)
    out.mkdir(parents=True, exist_ok=True)
    device = str(resolve_device(args.device))
    parallel = args.parallel or (1 if device.startswith("cuda") else 2)
    extra: dict = {}
    if args.epochs is not None:
        extra["epochs"] = args.epochs
    if args.samples_per_epoch is not None:
        extra["data"] = {"samples_per_epoch": args.samples_per_epoch}
    progress = not args.no_progress
    set_threads(args.threads)

    @functools.cache
    def sequences(root: str, split: str) -> list:
        return load_split(root, split, load_frames=False)  # no row reads RGB frames

    seeds = list(range(args.seeds))
    steps: list[Step] = []
    for k in seeds:
        name = ht.data_step_name(k, True)
        steps.append(ht._data_step(name, k, args.sequences or preset.sequences, preset.size_px,
                                   args.duration_s or preset.duration_s, progress))
        steps.append(ht._static_step(ht.static_step_name(k, True), k, None, name, sequences))
    trained = [EVENT_ANN, *args.rows]
    for row in trained:
        for k in seeds:
            cfg = row_config(row, k, preset, extra)
            if args.epochs is not None and "epochs" in ROWS.get(row, ("", {}, ""))[1]:  # the 3x-epochs rows
                cfg["epochs"] = 3 * args.epochs
            steps.append(ht._train_step(row, k, cfg, None, ht.data_step_name(k, True), sequences, device,
                                        args.window_influence, progress, args.threads,
                                        CURVE_VAL_SEQUENCES if row == LEARNING_CURVE else 0))
    for row in trained:
        for k in seeds:
            for variant in (OPEN_LOOP, OPEN_LOOP_SHIFTED):
                steps.append(_eval_step(row, variant, k, ht.data_step_name(k, True), sequences, device,
                                        args.window_influence, args.threads))
    for k in seeds:
        for variant in (BN_BATCH, BN_RECAL):
            steps.append(_eval_step(REFERENCE, variant, k, ht.data_step_name(k, True), sequences, device,
                                    args.window_influence, args.threads))
        for shifted in (False, True):
            steps.append(_previous_truth_step(k, ht.data_step_name(k, True), sequences, shifted))
    argv_used = sys.argv[1:] if argv is None else list(argv)
    if args.only_step is not None:
        by_name = {s.name: s for s in steps}
        if args.only_step not in by_name:
            raise UserError(f"--only-step: no step {args.only_step!r}")
        run_steps(with_dependencies(by_name[args.only_step], by_name), out)
        return 0
    if parallel > 1:
        local = [s.name for s in steps if s.name.startswith(("data", ht.STATIC_STEP))]
        run_steps_parallel(steps, out, parallel, local=local,
                           worker=lambda step: [sys.executable, str(Path(__file__).resolve()), *argv_used, "--out",
                                                str(out), "--only-step", step.name, "--parallel", "1",
                                                "--no-progress"])
    records = run_steps(steps, out)
    results = [{k: v for k, v in r.outputs.items() if k != "files"}
               | {"run_dir": str(out / r.outputs["run_dir"]), "results_path": str(out / r.outputs["results"]),
                  "data_root_path": str(out / r.outputs["data_root"])}
               for r in records if not r.name.startswith("data")]
    order = [ht.STATIC, PREVIOUS_TRUTH, EVENT_ANN, *args.rows, f"{REFERENCE}+{BN_BATCH}",
             f"{REFERENCE}+{BN_RECAL}"]
    summary = summarise(results, order, args.bootstrap)
    curves = _learning_curve(results, out)
    note = (f"Student diagnostic ({args.preset} preset), {len(seeds)} seed(s), each on its own synthetic draw "
            f"(`{out}/data/seed<k>`), test split. SR in %, mean ± std over seeds. ΔSR: paired difference to the "
            "no-KD `student` in SR points, 95 % two-level bootstrap interval (seed pairs with their draws, then "
            "test sequences). Open loop: every frame searched around the previous frame's ground-truth box, the "
            f"decoded box kept as it is; shifted: that crop moved by U(-0.5, 0.5) x {OPEN_LOOP_SHIFT:g} box sides "
            "per axis (the training sampler's centre jitter; previous_truth then answers the moved box). train IoU "
            "/ focal: the last epoch's means. Reversals: the share of frames "
            "whose box step turns back against the previous one.")
    table = markdown(summary, note, curves)
    wall_s = time.perf_counter() - started
    stamps = [read_stamp(out / r.name) or {} for r in records]  # each step's own times, from when it ran
    step_min = sum(float(st.get("seconds", 0.0)) for st in stamps) / 60
    cpu_min = sum(float(st.get("cpu_seconds", 0.0)) for st in stamps) / 60
    write_text_atomic(out / "diagnostic.md", table)
    write_text_atomic(out / "diagnostic.json", json.dumps(
        {"note": note, "preset": args.preset, "rows": summary, "learning_curve": curves, "runs": results,
         "wall_seconds_this_call": round(wall_s, 1)}, indent=1, default=float))
    if args.doc:
        header = (f"# Where the spiking student loses ({args.preset} preset)\n\nGenerated by `python "
                  f"experiments/student_diagnostic.py {' '.join(argv_used)}` on {time.strftime('%Y-%m-%d')} "
                  f"({platform.machine()}, {os.cpu_count()} CPUs, device {device}, {args.threads} torch thread(s) "
                  f"per step, {parallel} steps at a time); wall time of this call {wall_s / 60:.1f} min. The steps' "
                  f"own wall times (synthesis, training, evaluation, from their stamps, over every call that ran "
                  f"them, the HAD table's shared steps included) add up to {step_min:.1f} min, {cpu_min:.1f} CPU "
                  "min.\n\n")
        write_text_atomic(args.doc, header + table)
    print(table, end="")
    print(f"wrote {out / 'diagnostic.md'}, {out / 'diagnostic.json'}" + (f" and {args.doc}" if args.doc else ""))
    return 0


if __name__ == "__main__":
    script_main(main, "experiments/student_diagnostic.py")
