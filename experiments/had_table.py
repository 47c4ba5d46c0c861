"""HAD experiments table: teacher, student without KD, vanilla KD, HAD and its ablations, each over several seeds.

Every method trains with the same loop (``had_snn.train.loop.train``) from one student config; only the
``distill:`` section differs (from the HAD / vanilla-KD configs, with ablation switches on top). Each run is then
evaluated one-pass (OTB protocol) on the test split. Output (default ``runs/had-table-<timestamp>``)::

    OUT/data/                    synthetic benchmark (unless --data is given)
    OUT/runs/static/             the static baseline: eval/, stamp.json (its scores under "outputs")
    OUT/runs/<method>/seed<k>/   config.yaml, metrics.csv, last.pt, eval/, stamp.json  (one run)
    OUT/table_config.json        mode, data, argv, preset and the distill overrides of every method
    OUT/table.md                 mean +- std over seeds of SR / PR / NPR, overall, low_light, fast_motion
    OUT/table.json               the same numbers plus every per-seed value
    OUT/plots/had_table.png      bar chart with error bars (std over seeds)

Each folder above with a ``stamp.json`` is a step of the demo's step runner (:mod:`had_snn.demo.pipeline`): the
data synthesis, the static baseline and every (method, seed) training + evaluation, the teacher of seed k before
the students that distil from it. A step is cached by the SHA-256 of its resolved config and its dependencies' keys
(a student's key includes its teacher's), and an interrupted training run resumes from its ``last.pt``, so
rerunning with the same ``--out`` picks up where it stopped.

Presets (``--preset``): ``tiny`` (minutes: 2 min 14 s on an idle 2-core CPU, 7 min under load, 8.5 CPU minutes;
tiny models, checks the machinery), ``quick`` (= ``--quick``: the quick
demo's data, crops and default models, about 15 minutes on 2 CPU cores) and ``full`` (the default, GPU-sized).
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from had_snn.demo.config import deep_merge
from had_snn.demo.pipeline import Step, StepContext, run_steps
from had_snn.util.atomic import save_figure, write_text_atomic

CONFIGS = Path(__file__).resolve().parent / "configs"
SUBSETS = ("all", "low_light", "fast_motion")
METRICS = (("SR", "SR_AUC"), ("PR", "PR20"), ("NPR", "NPR0.2"))
STATIC = "static"  # reference row: the initial box kept for every frame
# Method -> (distill section source, overrides of that section). "teacher" trains the RGB+event teacher.
METHODS: dict[str, tuple[str | None, dict]] = {
    "teacher": (None, {}),
    "student": ("none", {}),
    "vanilla_kd": ("kd", {}),
    "had": ("had", {}),
    "had_no_temporal": ("had", {"temporal": False}),
    "had_no_spatial": ("had", {"spatial": False}),
    "had_no_response": ("had", {"response": False}),
    "had_single_stage": ("had", {"stages": ["stage3"], "stage_weights": [1.0]}),
}


@dataclass(frozen=True)
class Preset:
    """Data and config files of one table mode."""

    sequences: int
    size_px: tuple[int, int]
    duration_s: float
    teacher: str
    student: str
    had: str
    kd: str
    train_overrides: dict = field(default_factory=dict)  # every run
    teacher_overrides: dict = field(default_factory=dict)
    student_overrides: dict = field(default_factory=dict)
    distill_overrides: dict = field(default_factory=dict)  # every HAD/KD run, before --set and the ablation's own


# The quick demo's geometry (experiments/configs/demo.yaml): 32 / 64 px crops, T = 4, default model widths.
_DEMO_CROP = {"template_px": 32, "search_px": 64}


PRESETS = {
    # Minutes (8 methods x 3 seeds of tiny models on 24 short low-resolution sequences); checks the machinery, says
    # nothing about HAD. tests/test_experiments.py runs it with --seeds 1, a few methods and fewer sequences.
    "tiny": Preset(24, (96, 72), 1.0, "tiny_teacher.yaml", "tiny_student.yaml", "tiny_student_had.yaml",
                   "tiny_student_kd.yaml",
                   {"epochs": 6, "batch_size": 8, "warmup_steps": 6, "data": {"samples_per_epoch": 64}}),
    # About 15 minutes on 2 CPU cores: the quick demo's data and geometry (18 two-second 160 x 120 sequences,
    # 6 per split), the default models, 8 epochs of 256 pairs, Sinkhorn at 10 iterations on at most 8 x 8 tokens.
    "quick": Preset(18, (160, 120), 2.0, "teacher.yaml", "student.yaml", "student_had.yaml", "student_kd.yaml",
                    {"epochs": 8, "model_config": _DEMO_CROP, "data": {"samples_per_epoch": 256, "crop": _DEMO_CROP}},
                    student_overrides={"data": {"crop": {"student_steps": 4}}},
                    distill_overrides={"ot_iterations": 10, "ot_max_grid": 8}),
    # GPU-sized: the full configs of experiments/configs on 120 two-second sequences.
    "full": Preset(120, (160, 120), 2.0, "teacher.yaml", "student.yaml", "student_had.yaml", "student_kd.yaml"),
}


def distill_section(preset: Preset, source: str, overrides: dict) -> dict:
    """The ``distill:`` section of a method: from the HAD or KD config file, then the ablation overrides."""
    from had_snn.train.config import read_yaml

    if source == "none":
        return {"mode": "none"}
    path = CONFIGS / (preset.had if source == "had" else preset.kd)
    section = read_yaml(path).get("distill")
    if not isinstance(section, dict):
        raise ValueError(f"{path}: expected a distill: mapping")
    return {**section, **overrides}


def method_config(method: str, spec: tuple[str | None, dict], seed: int, preset: Preset, data_dir: str | None,
                  extra: dict) -> dict:
    """Resolved training config (``TrainConfig.to_dict()``) of one (method, seed) run; ``spec`` is its (distill
    source, overrides) entry. ``data.dir`` is ``data_dir`` (None: the data step's folder) and a distilled student's
    ``distill.teacher`` is None: both are filled in when the step runs, from its dependencies."""
    from had_snn.train.config import config_from_dict, read_yaml

    source, overrides = spec
    path = CONFIGS / (preset.teacher if source is None else preset.student)
    raw = deep_merge(read_yaml(path), preset.train_overrides)
    raw = deep_merge(raw, preset.teacher_overrides if source is None else preset.student_overrides)
    raw = deep_merge(raw, extra)
    raw.update(model="teacher" if source is None else "student", seed=seed)
    raw["data"] = {**raw.get("data", {}), "dir": data_dir, "split": "train"}
    if source is not None:
        raw["distill"] = distill_section(preset, source, overrides)
        if source != "none":
            raw["distill"]["teacher"] = None
    return config_from_dict(raw, f"{path} ({method}, seed {seed})").to_dict()


def teacher_step_name(seed: int) -> str:
    return f"runs/teacher/seed{seed}"


def _data_root(ctx: StepContext, data_dir: str | None) -> str:
    """The benchmark root: ``--data`` if given, else the data step's folder."""
    return data_dir if data_dir is not None else str(ctx.path(ctx.inputs["data"]["root"]))


def _data_step(sequences: int, size_px: tuple[int, int], duration_s: float, progress: bool) -> Step:
    """Synthesise the benchmark into OUT/data."""
    config = {"sequences": sequences, "size_px": list(size_px), "duration_s": duration_s, "seed": 0}

    def run(ctx: StepContext) -> dict:
        from had_snn.data.benchmark import build_benchmark
        from had_snn.data.synthetic import SynthConfig

        synth = SynthConfig(width_px=size_px[0], height_px=size_px[1], duration_s=duration_s)
        summary = build_benchmark(ctx.step_dir, sequences, seed=0, cfg=synth, progress=progress)
        return {"root": ctx.rel(ctx.step_dir), "files": [ctx.rel(summary.index_path)]}

    return Step("data", "synthesise the benchmark", config, run)


def _train_step(method: str, seed: int, cfg: dict, data_dir: str | None, sequences, device: str,
                window_influence: float, progress: bool) -> Step:
    """Train (or resume) one (method, seed) run and evaluate it on the test split; its outputs are the result row."""
    deps = (() if data_dir is not None else ("data",)) + \
        ((teacher_step_name(seed),) if "teacher" in cfg["distill"] else ())

    def run(ctx: StepContext) -> dict:
        from had_snn.evaluation.evaluate import evaluate
        from had_snn.tracking.tracker import ModelTracker, crop_config_for
        from had_snn.train.checkpoint import load_model
        from had_snn.train.config import config_from_dict
        from had_snn.train.distill_hook import build_distillation
        from had_snn.train.loop import CHECKPOINT_NAME, train

        root = _data_root(ctx, data_dir)
        raw = copy.deepcopy(cfg)
        raw["data"]["dir"] = root
        if "teacher" in raw["distill"]:
            teacher = ctx.inputs[teacher_step_name(seed)]
            raw["distill"]["teacher"] = str((ctx.path(teacher["run_dir"]) / CHECKPOINT_NAME).resolve())
        tcfg = config_from_dict(raw, f"{method}, seed {seed}")
        run_dir, ckpt = ctx.step_dir, ctx.step_dir / CHECKPOINT_NAME
        distill = build_distillation(tcfg, str(run_dir / "config.yaml"))
        start = time.perf_counter()
        history = train(tcfg, run_dir, sequences(root, "train"), resume=ckpt.is_file(), device=device,
                        extra_loss=distill.extra_loss, extra_modules=distill.extra_modules, progress=progress).history
        train_s = time.perf_counter() - start
        model = load_model(ckpt, map_location=device)
        steps = tcfg.data.crop_config().student_steps
        tracker = ModelTracker(model, crop_config_for(model, steps), window_influence, device=device, name=method)
        report = evaluate([tracker], sequences(root, "test"), run_dir / "eval", split="test", resume=False,
                          plots=False)
        subsets = report["trackers"][method]["subsets"]
        return {
            "method": method, "seed": seed, "run_dir": ctx.rel(run_dir), "train_seconds": round(train_s, 1),
            "final_epoch": history[-1],
            "subsets": {s: {name: subsets[s][key] for name, key in METRICS}
                        | {"num_sequences": subsets[s]["num_sequences"]} for s in subsets},
            "files": [ctx.rel(ckpt), ctx.rel(run_dir / "eval" / "results.json")],
        }

    return Step(f"runs/{method}/seed{seed}", f"train + evaluate {method}, seed {seed}",
                {"train": cfg, "window_influence": window_influence}, run, deps)


def _static_step(data_dir: str | None, sequences) -> Step:
    """The box-stays-put baseline (no training, same for every seed): the floor a trained tracker must beat."""

    def run(ctx: StepContext) -> dict:
        from had_snn.evaluation.evaluate import evaluate
        from had_snn.tracking.tracker import StaticTracker

        report = evaluate([StaticTracker()], sequences(_data_root(ctx, data_dir), "test"), ctx.step_dir / "eval",
                          split="test", resume=False, plots=False)
        subsets = report["trackers"]["static"]["subsets"]
        return {"method": STATIC, "seed": None, "run_dir": ctx.rel(ctx.step_dir),
                "subsets": {s: {name: subsets[s][key] for name, key in METRICS} for s in subsets},
                "files": [ctx.rel(ctx.step_dir / "eval" / "results.json")]}

    return Step(f"runs/{STATIC}", "evaluate the static baseline", {"method": STATIC, "data": data_dir}, run,
                () if data_dir is not None else ("data",))


def aggregate(results: list[dict], methods: list[str]) -> dict:
    """``{method: {subset: {metric: {mean, std, n, values}}}}`` over seeds (sample std; NaN for one seed)."""
    out: dict = {}
    for method in methods:
        rows = [r for r in results if r["method"] == method]
        out[method] = {}
        for subset in SUBSETS:
            vals = {name: [r["subsets"][subset][name] for r in rows if subset in r["subsets"]] for name, _ in METRICS}
            out[method][subset] = {
                name: {"mean": float(np.mean(v)) if v else math.nan,
                       "std": float(np.std(v, ddof=1)) if len(v) > 1 else math.nan,
                       "n": len(v), "values": v}
                for name, v in vals.items()
            }
    return out


def _cell(stat: dict) -> str:
    if stat["n"] == 0:
        return "-"
    std = "" if math.isnan(stat["std"]) else f" ± {100 * stat['std']:.1f}"
    return f"{100 * stat['mean']:.1f}{std}"


def markdown_table(agg: dict, note: str) -> str:
    """One row per method; SR / PR / NPR (%) as mean ± std over seeds for each subset."""
    head = ["Method", "Seeds"] + [f"{m} {s}" for s in SUBSETS for m, _ in METRICS]
    lines = [note, "", "| " + " | ".join(head) + " |", "|---|---:|" + "---:|" * (len(head) - 2)]
    for method, subsets in agg.items():
        n = max(stat["n"] for stat in subsets["all"].values())
        cells = [_cell(subsets[s][m]) for s in SUBSETS for m, _ in METRICS]
        lines.append(f"| {method} | {n} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot_table(agg: dict, path: Path) -> None:
    """Grouped bars (methods x SR/PR/NPR) per subset, error bars = std over seeds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    methods = list(agg)
    fig, axes = plt.subplots(1, len(SUBSETS), figsize=(5 * len(SUBSETS), 4.2), sharey=True)
    x = np.arange(len(methods))
    width = 0.8 / len(METRICS)
    for ax, subset in zip(axes, SUBSETS, strict=True):
        for k, (name, _) in enumerate(METRICS):
            means = [100 * agg[m][subset][name]["mean"] for m in methods]
            stds = [100 * np.nan_to_num(agg[m][subset][name]["std"]) for m in methods]
            ax.bar(x + (k - 1) * width, means, width, yerr=stds, capsize=2, label=name)
        ax.set_title(subset)
        ax.set_xticks(x, methods, rotation=45, ha="right", fontsize=8)
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_ylabel("score (%)")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, path, dpi=120)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--preset", choices=sorted(PRESETS), default="full",
                   help="tiny (a few minutes on 2 CPU cores), quick (about 15 min) or full (GPU-sized, default)")
    p.add_argument("--quick", dest="preset", action="store_const", const="quick", help="same as --preset quick")
    p.add_argument("--out", type=Path, help="output folder (default runs/had-table-<timestamp>); reuse to resume")
    p.add_argument("--data", help="benchmark root with index.json (default: generate synthetic data into OUT/data)")
    p.add_argument("--seeds", type=int, default=3, help="seeds per method (default 3)")
    p.add_argument("--methods", nargs="+", choices=[STATIC, *METHODS], default=[STATIC, *METHODS],
                   help="subset of methods (static: the initial box kept, a reference row without seeds)")
    p.add_argument("--epochs", type=int, help="override the epochs of every run")
    p.add_argument("--samples-per-epoch", type=int, help="override data.samples_per_epoch of every run")
    p.add_argument("--sequences", type=int, help="synthetic sequences to generate (default by mode)")
    p.add_argument("--duration-s", type=float, help="synthetic sequence length in seconds (default by mode)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=YAML",
                   help="override a distill field of every HAD/KD run, e.g. --set ot_epsilon=0.1 (repeatable)")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto")
    p.add_argument("--window-influence", type=float, default=0.25, help="cosine window weight when tracking")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    args = p.parse_args(argv)
    if args.seeds < 1:
        p.error(f"--seeds must be >= 1, got {args.seeds}")
    return args


def parse_sets(items: list[str]) -> dict:
    import yaml

    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--set: expected KEY=VALUE, got {item!r}")
        out[key] = yaml.safe_load(value)
    return out


def main(argv: list[str] | None = None) -> int:
    import functools

    from had_snn.data.dataset import load_split, split_paths
    from had_snn.train.distributed import resolve_device

    args = parse_args(argv)
    mode = args.preset
    preset = PRESETS[mode]
    out = args.out or Path("runs") / f"had-table-{time.strftime('%Y%m%d-%H%M%S')}"
    out.mkdir(parents=True, exist_ok=True)
    device = str(resolve_device(args.device))
    sets = parse_sets(args.set)
    specs = {name: (src, {**preset.distill_overrides, **sets, **ov} if src in ("had", "kd") else ov)
             for name, (src, ov) in METHODS.items()}
    extra: dict = {}
    if args.epochs is not None:
        extra["epochs"] = args.epochs
    if args.samples_per_epoch is not None:
        extra["data"] = {"samples_per_epoch": args.samples_per_epoch}
    progress = not args.no_progress

    @functools.cache
    def sequences(root: str, split: str) -> list:  # read once, on first use (not at all when every step is cached)
        return load_split(root, split, load_frames=True)

    steps: list[Step] = []
    if not args.data:
        steps.append(_data_step(args.sequences or preset.sequences, preset.size_px,
                                args.duration_s or preset.duration_s, progress))
    data_dir = args.data or str(out / "data")
    write_text_atomic(out / "table_config.json", json.dumps(
        {"mode": mode, "data": data_dir, "argv": sys.argv[1:] if argv is None else argv, "preset": preset.__dict__,
         "methods": {m: specs[m] for m in args.methods if m in specs}}, indent=1))

    seeds = list(range(args.seeds))
    # Teachers first: every distilled student of seed k learns from the teacher of seed k (a dependency of its step).
    needs_teacher = any(specs[m][0] not in (None, "none") for m in args.methods if m != STATIC)
    order = (["teacher"] if "teacher" in args.methods or needs_teacher else []) + \
        [m for m in args.methods if m not in ("teacher", STATIC)]
    if STATIC in args.methods:
        steps.append(_static_step(args.data, sequences))
    for method in order:
        for seed in seeds:
            cfg = method_config(method, specs[method], seed, preset, args.data, extra)
            steps.append(_train_step(method, seed, cfg, args.data, sequences, device, args.window_influence,
                                     progress))
    records = run_steps(steps, out)
    sequences.cache_clear()

    results = [{k: v for k, v in r.outputs.items() if k != "files"} | {"run_dir": str(out / r.outputs["run_dir"])}
               for r in records if r.name != "data" and r.outputs["method"] in args.methods]
    methods = [m for m in (STATIC, *METHODS) if m in args.methods]
    agg = aggregate(results, methods)
    note = (f"HAD table ({mode} mode), data `{data_dir}`, test split: {len(split_paths(data_dir, 'test'))} sequences. "
            f"SR = success AUC, PR = precision@20 px, NPR = normalised precision@0.2, in %, mean ± std over "
            f"{len(seeds)} seed(s) (sample std).")
    table = markdown_table(agg, note)
    write_text_atomic(out / "table.md", table)
    write_text_atomic(out / "table.json", json.dumps({"note": note, "aggregate": agg, "runs": results}, indent=1))
    plot_table(agg, out / "plots" / "had_table.png")
    print(table, end="")
    print(f"wrote {out / 'table.md'}, {out / 'table.json'} and {out / 'plots' / 'had_table.png'}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (ValueError, FileNotFoundError) as exc:
        print(f"had_table: error: {exc}", file=sys.stderr)
        sys.exit(1)
