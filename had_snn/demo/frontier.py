"""The accuracy-energy frontier of the spiking student: SR against energy per frame, with the teacher as reference.

Starting from a demo run (``had-snn demo``'s folder: its benchmark, its teacher and its QAT student), every point
of a preset (:data:`PRESETS`) is a student trained quantisation-aware (``model_config.qat``: the network Loihi runs)
with activity regularisation (:mod:`had_snn.train.activity`, ``mode: fanout``) of one strength, or a cheaper shape:

* **strength points** (``a<weight>``): the demo's QAT student fine-tuned ``epochs`` more QAT epochs with the penalty
  of that weight (weight 0 included: the unregularised reference, trained the same epochs);
* **fewer steps** (``t<T>``): the same fine-tuning with T spike steps per frame (the student does not depend on T,
  so the demo's weights are a valid start); on Loihi 1 every neuron costs an update per step, spiking or not;
* **narrower first stage** (``w<C>``): first-stage width C instead of the demo's. No trained weights have that
  shape; the start is the demo's student pruned to the C first-stage channels the second stage uses most (largest
  summed |weight|, :func:`prune_first_stage`), fine-tuned ``prune_epochs`` float epochs (to recover) and then
  ``epochs`` QAT epochs (a shape-compatible init, not a from-scratch training: its SR is what a short recovery
  reaches, a lower bound for that shape);
* ``demo``: the demo's QAT student itself, reused, not trained.

Each point is converted (the emulator's fixed point), tracked on the eval split in float, in fixed point from the
zero state (reset) and streaming (:class:`~had_snn.tracking.loihi.EmulatedTracker`), and its emulator counts are
billed per frame in each mode (:func:`had_snn.hardware.report.build_report`) under Loihi 1 per-op figures and the
45 nm AC model; the teacher is billed with 45 nm MACs (compute only) and, when the hardware report offers it, MACs
plus memory access. Outputs (``OUT``): ``points/<name>/`` (training folders, ``eval/``, ``result.json``),
``frontier.json``, ``frontier.md`` (the table) and ``frontier.png`` (SR vs uJ per frame, log x, teacher lines).
A point whose ``result.json`` matches its spec is reused; training resumes from its checkpoints.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from had_snn.util.atomic import save_figure, write_json_atomic, write_text_atomic

RESULT_NAME = "result.json"
FRONTIER_FORMAT = 1


@dataclass(frozen=True)
class PointSpec:
    """One frontier point: activity ``weight``, spike ``steps`` per frame (None: the demo's), first-stage width
    (None: the demo's; else pruned from the demo's student, :func:`prune_first_stage`), or ``reuse``: the demo's
    QAT student as it is."""

    name: str
    weight: float = 0.0
    steps: int | None = None
    first_width: int | None = None
    reuse: bool = False

    @property
    def shape(self) -> str:
        parts = [f"T={self.steps}" if self.steps else "", f"first stage {self.first_width} ch" if self.first_width
                 else ""]
        return ", ".join(p for p in parts if p) or "demo"


@dataclass
class FrontierPreset:
    """Training budget and points of one frontier run."""

    strengths: tuple[float, ...]
    shapes: tuple[dict, ...]
    epochs: int
    prune_epochs: int
    samples_per_epoch: int
    batch_size: int | None = None  # None: the demo's
    distill: bool = True  # keep the demo's HAD distillation in the fine-tuning (needs the teacher and RGB frames)
    max_sequences: int | None = None  # evaluate on at most this many sequences of the split (None: all)
    shape_weight: float = 0.0  # activity weight of the shape points
    extra: dict = field(default_factory=dict)

    def points(self) -> list[PointSpec]:
        pts = [PointSpec("demo", reuse=True)]
        pts += [PointSpec(f"a{w:g}", weight=float(w)) for w in self.strengths]
        for s in self.shapes:
            name = f"t{s['steps']}" if "steps" in s else f"w{s['first_width']}"
            pts.append(PointSpec(name, weight=self.shape_weight, steps=s.get("steps"),
                                 first_width=s.get("first_width")))
        return pts


PRESETS: dict[str, FrontierPreset] = {
    # smoke test on the tiny fixtures: seconds per point
    "quick": FrontierPreset(strengths=(0.0, 5.0), shapes=({"steps": 2}, {"first_width": 2}), epochs=1, prune_epochs=1,
                    samples_per_epoch=8, batch_size=4, distill=False, max_sequences=2),
    # the reported one, on top of a `make demo` run (64 px search crops, T = 4): <= 25 min on 2 CPU cores
    "demo": FrontierPreset(strengths=(0.0, 0.3, 1.0, 3.0), shapes=({"steps": 2}, {"first_width": 8}), epochs=3,
                   prune_epochs=3, samples_per_epoch=512, distill=True),
}


@dataclass
class FrontierInputs:
    """What the frontier starts from (a demo run's folder resolved by :func:`demo_inputs`)."""

    data: Path
    teacher: Path
    start: Path  # the QAT student the strength and step points fine-tune
    train_config: dict  # the QAT training config of ``start`` (resolved, as the demo trained it)
    steps: int
    split: str = "test"
    window_influence: float = 0.25
    weight_percentile: float = 100.0


def demo_inputs(run_dir: str | os.PathLike) -> FrontierInputs:
    """Resolve a demo run folder: its data, teacher, QAT student and training config. Errors name the missing part."""
    import yaml

    run = Path(run_dir)
    if not run.is_dir():
        raise FileNotFoundError(f"--demo-run {run}: no such folder; expected a `had-snn demo` run folder")
    cfg_path = run / "demo_config.yaml"
    if not cfg_path.is_file():
        raise ValueError(f"--demo-run {run}: no demo_config.yaml; expected a `had-snn demo` run folder")
    try:
        cfg = yaml.safe_load(cfg_path.read_text())
        qat = cfg["train"]["student_had_qat"]["config"]
        steps, ev, loihi = int(cfg["crop"]["student_steps"]), cfg["eval"], cfg["loihi"]
    except (yaml.YAMLError, KeyError, TypeError) as exc:
        raise ValueError(f"{cfg_path}: not a demo config with a student_had_qat step ({exc!r}); run the demo of "
                         "this version first") from None
    paths = {"data": run / "data" / "index.json", "teacher": run / "teacher" / "last.pt",
             "QAT student": run / "student_had_qat" / "last.pt"}
    for what, p in paths.items():
        if not p.is_file():
            raise FileNotFoundError(f"--demo-run {run}: {what} {p} does not exist; finish the demo run first")
    return FrontierInputs(run / "data", paths["teacher"], paths["QAT student"], qat, steps, ev["split"],
                          float(ev["window_influence"]), float(loihi["weight_percentile"]))


def _train_config(inputs: FrontierInputs, preset: FrontierPreset, spec: PointSpec, init: Path, qat: bool,
                  epochs: int) -> dict:
    raw = copy.deepcopy(inputs.train_config)
    raw["data"]["dir"] = str(inputs.data)
    raw["data"]["samples_per_epoch"] = preset.samples_per_epoch
    raw["epochs"] = epochs
    if preset.batch_size:
        raw["batch_size"] = preset.batch_size
    if spec.steps:
        raw["data"].setdefault("crop", {})["student_steps"] = spec.steps
    raw["model_config"]["qat"] = qat
    if spec.first_width:
        raw["model_config"]["widths"] = [spec.first_width, *list(raw["model_config"]["widths"])[1:]]
    raw["init_from"] = str(init)
    raw["activity"] = {"mode": "fanout", "weight": spec.weight}
    if preset.distill and raw.get("distill"):
        raw["distill"]["teacher"] = str(inputs.teacher)
    else:
        raw.pop("distill", None)
    return raw


def _train(raw: dict, out: Path, where: str, device: str, progress: bool) -> Path:
    from had_snn.data.dataset import load_split
    from had_snn.train.config import config_from_dict
    from had_snn.train.distill_hook import build_distillation
    from had_snn.train.loop import CHECKPOINT_NAME, train

    cfg = config_from_dict(raw, where)
    distill = build_distillation(cfg, where)
    sequences = load_split(cfg.data.dir, "train", load_frames=distill.needs_frames)
    resume = (out / CHECKPOINT_NAME).is_file()
    train(cfg, out, sequences, resume=resume, device=device, progress=progress, extra_loss=distill.extra_loss,
          extra_modules=distill.extra_modules)
    return out / CHECKPOINT_NAME


def prune_first_stage(student: Any, width: int) -> Any:
    """A copy of ``student`` whose first stage keeps only ``width`` channels: those the next conv weights most
    (largest sum of |weight| over its outputs and taps); the next conv keeps their input columns. Needs
    ``convs_per_stage`` 1 or more (the first conv of stage 1 is pruned) and ``width`` below the current width."""
    import torch

    from had_snn.models import build_model
    from had_snn.models.student import layer_groups

    cfg = asdict(student.config)
    old = cfg["widths"][0]
    if not 1 <= width < old:
        raise ValueError(f"first_width: expected 1 <= width < the student's first-stage width {old}, got {width}")
    if cfg["convs_per_stage"] > 1:  # stage 1's later convs are width x width: both axes would need pruning
        raise ValueError("first_width: pruning supports convs_per_stage 1 (the demo's student)")
    nxt = layer_groups(student.backbone, "backbone")[1][0]
    keep = nxt.weight.detach().abs().sum(dim=(0, 2, 3)).argsort(descending=True)[:width].sort().values
    pruned = build_model("student", **{**cfg, "widths": [width, *list(cfg["widths"])[1:]]})
    state = {}
    for key, value in student.state_dict().items():
        target = pruned.state_dict()[key]
        if value.shape == target.shape:
            state[key] = value
        elif key.startswith("backbone.0.") or key.startswith("backbone.1."):
            state[key] = value.index_select(0, keep)
        elif key == "backbone.3.weight":
            state[key] = value.index_select(1, keep)
        else:
            raise ValueError(f"cannot prune {key}: {tuple(value.shape)} -> {tuple(target.shape)}")
    with torch.no_grad():
        pruned.load_state_dict(state)
    return pruned


def train_point(spec: PointSpec, inputs: FrontierInputs, preset: FrontierPreset, point_dir: Path, device: str = "cpu",
                progress: bool = True) -> Path:
    """Train one point (see the module docstring); returns its QAT checkpoint (``demo``: the demo's)."""
    if spec.reuse:
        return inputs.start
    init = inputs.start
    if spec.first_width:
        from had_snn.models.checkpoint import load_model, model_state, save_checkpoint

        init = point_dir / "pruned.pt"
        if not init.is_file():
            save_checkpoint(init, model_state(prune_first_stage(load_model(inputs.start), spec.first_width)))
        raw = _train_config(inputs, preset, spec, init, qat=False, epochs=preset.prune_epochs)
        init = _train(raw, point_dir / "float", f"frontier point {spec.name} (float)", device, progress)
    raw = _train_config(inputs, preset, spec, init, qat=True, epochs=preset.epochs)
    return _train(raw, point_dir / "qat", f"frontier point {spec.name} (QAT)", device, progress)


def teacher_costs(teacher_ckpt: Path) -> dict[str, Any]:
    """The teacher's search-path MACs per frame and, when the hardware API offers it, its memory traffic."""
    from had_snn.conversion import macs as macs_mod
    from had_snn.models.checkpoint import load_model
    from had_snn.tracking.tracker import crop_config_for

    teacher = load_model(teacher_ckpt)
    crop = crop_config_for(teacher)
    out: dict[str, Any] = {"macs": macs_mod.teacher_search_macs(teacher, crop), "traffic": None}
    traffic_fn = getattr(macs_mod, "teacher_search_traffic", None)
    if traffic_fn is not None:
        out["traffic"] = traffic_fn(teacher, crop)
    return out


def _neuron_share(energy_block: dict) -> float:
    """Share of the Loihi 1 energy spent on neuron updates (every neuron, every billed step, spiking or not)."""
    total = sum(r["total_pj"] for r in energy_block["layers"]) or 1.0
    return sum(r.get("neuron_pj", 0.0) for r in energy_block["layers"]) / total


def _dominant(energy_block: dict, top: int = 2) -> list[dict]:
    layers = sorted(energy_block["layers"], key=lambda r: -r["total_pj"])
    total = sum(r["total_pj"] for r in layers) or 1.0
    return [{"name": r["name"], "share": r["total_pj"] / total} for r in layers[:top]]


def evaluate_point(spec: PointSpec, ckpt: Path, inputs: FrontierInputs, teacher: dict, point_dir: Path,
                   preset: FrontierPreset, device: str = "cpu", progress: bool = True) -> dict:
    """Track the eval split (float, fixed reset, fixed stream), bill the emulator counts per mode; the result dict."""
    from had_snn.data.dataset import load_split
    from had_snn.evaluation.evaluate import evaluate
    from had_snn.hardware.counts import parse_counts
    from had_snn.hardware.report import build_report
    from had_snn.hardware.resources import geometries_from_layers
    from had_snn.hardware.table import load_table
    from had_snn.models.checkpoint import load_model
    from had_snn.tracking.loihi import emulator_counts, fixed_point_trackers
    from had_snn.tracking.tracker import ModelTracker, crop_config_for

    steps = spec.steps or inputs.steps
    student = load_model(ckpt)
    crop = crop_config_for(student, steps)
    sequences = load_split(inputs.data, inputs.split, load_frames=False)
    if preset.max_sequences:
        sequences = sequences[:preset.max_sequences]
    wp, wi = inputs.weight_percentile, inputs.window_influence
    emulated = fixed_point_trackers(student, sequences, crop, wp, wi, device)
    qnet = emulated["reset"].emulated.base
    trackers = [ModelTracker(student, crop, wi, device=device, name="float"), *emulated.values()]
    eval_dir = point_dir / "eval"
    if eval_dir.exists():
        shutil.rmtree(eval_dir)  # emulated trackers re-run so their counts are complete
    results = evaluate(trackers, sequences, eval_dir, split=inputs.split, resume=False, plots=False,
                       progress=progress)
    sr = {name: 100 * t["subsets"]["all"]["SR_AUC"] for name, t in results["trackers"].items()}
    geoms = geometries_from_layers(qnet.layers)
    counts = []
    for mode, raw in emulator_counts(emulated, steps).items():
        write_json_atomic(eval_dir / f"counts_{mode}.json", raw)
        counts.append(parse_counts(raw, geoms, f"{spec.name} {mode} counts"))
    report = build_report(geoms, load_table(), counts, teacher["macs"], teacher_traffic=teacher["traffic"])
    modes = report["modes"]
    energy = {mode: {"loihi1_uj": b["energy"]["loihi1"]["per_frame_uj"],
                     "snn_45nm_uj": b["energy"]["snn_45nm"]["per_frame_uj"],
                     "dominant_loihi1": _dominant(b["energy"]["loihi1"]),
                     "loihi1_neuron_share": _neuron_share(b["energy"]["loihi1"])} for mode, b in modes.items()}
    teacher_uj = {"ann_45nm": report["energy"]["ann_45nm"]["per_frame_uj"]}
    if "ann_45nm_memory" in report["energy"]:
        teacher_uj["ann_45nm_memory"] = report["energy"]["ann_45nm_memory"]["per_frame_uj"]
    neurons = sum(g.n_neurons for g in geoms)
    return {"format": FRONTIER_FORMAT, "spec": asdict(spec), "shape": spec.shape, "checkpoint": str(ckpt),
            "steps": steps, "neurons": int(neurons), "sr": {"float": sr["float"], "fixed_reset": sr["fixed_reset"],
                                                            "fixed_stream": sr["fixed_stream"]},
            "energy": energy, "teacher_uj": teacher_uj,
            "ratio_to_teacher_mac": {mode: {"loihi1": e["loihi1_uj"] / teacher_uj["ann_45nm"],
                                            "snn_45nm": e["snn_45nm_uj"] / teacher_uj["ann_45nm"]}
                                     for mode, e in energy.items()},
            "sequences": [s.name for s in sequences]}


def _spec_key(spec: PointSpec, preset: FrontierPreset, inputs: FrontierInputs) -> dict:
    """What a point's result depends on, as JSON reads it back (tuples as lists)."""
    key = {"spec": asdict(spec), "preset": asdict(preset), "start": str(inputs.start), "data": str(inputs.data),
           "format": FRONTIER_FORMAT}
    return json.loads(json.dumps(key))


def run_frontier(inputs: FrontierInputs, out_dir: str | os.PathLike, preset: FrontierPreset | str = "demo",
                 device: str = "cpu", progress: bool = True) -> dict:
    """Train, evaluate and bill every point of ``preset``; write ``frontier.json``, ``frontier.md``,
    ``frontier.png``. A point whose ``result.json`` holds the same spec, preset and start is reused."""
    if isinstance(preset, str):
        if preset not in PRESETS:
            raise ValueError(f"--preset: expected one of {sorted(PRESETS)}, got {preset!r}")
        preset = PRESETS[preset]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    teacher = teacher_costs(inputs.teacher)
    points = preset.points()
    rows = []
    for spec in tqdm(points, desc="frontier points", unit="point", disable=not progress):
        point_dir = out / "points" / spec.name
        key = _spec_key(spec, preset, inputs)
        done = point_dir / RESULT_NAME
        try:
            held = json.loads(done.read_text())
        except (OSError, ValueError):
            held = None
        if held is not None and held.get("key") == key:
            rows.append(held)
            continue
        spec_file = point_dir / "spec.json"
        try:
            started = json.loads(spec_file.read_text())
        except (OSError, ValueError):
            started = None
        if started != key and point_dir.exists():  # another spec's leftovers: start this point over
            shutil.rmtree(point_dir)
        point_dir.mkdir(parents=True, exist_ok=True)
        write_json_atomic(spec_file, key)
        ckpt = train_point(spec, inputs, preset, point_dir, device, progress)
        result = {**evaluate_point(spec, ckpt, inputs, teacher, point_dir, preset, device, progress), "key": key}
        write_json_atomic(done, result, indent=1)
        rows.append(result)
    summary = {"format": FRONTIER_FORMAT, "start": str(inputs.start), "teacher": str(inputs.teacher),
               "split": inputs.split, "preset": asdict(preset), "teacher_uj": rows[0]["teacher_uj"],
               "points": [{k: v for k, v in r.items() if k != "key"} for r in rows]}
    write_json_atomic(out / "frontier.json", summary, indent=1)
    write_text_atomic(out / "frontier.md", frontier_markdown(summary))
    plot_frontier(summary, out / "frontier.png")
    return summary


def frontier_table(summary: dict) -> list[str]:
    """The frontier table as markdown lines (one row per point)."""
    lines = ["| point | strength | shape | SR float | SR fixed reset | SR fixed stream | Loihi 1 uJ/frame reset "
             "| Loihi 1 uJ/frame stream | 45 nm AC uJ/frame stream | Loihi 1 stream / teacher MAC | 45 nm AC "
             "stream / teacher MAC | dominant layers (Loihi 1, stream) |",
             "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for p in summary["points"]:
        e, r, sr = p["energy"], p["ratio_to_teacher_mac"]["stream"], p["sr"]
        strength = "-" if p["spec"]["reuse"] else f"{p['spec']['weight']:g}"
        dom = ", ".join(f"{d['name']} {100 * d['share']:.0f}%" for d in e["stream"]["dominant_loihi1"])
        lines.append(f"| {p['spec']['name']} | {strength} | {p['shape']} | {sr['float']:.1f} | "
                     f"{sr['fixed_reset']:.1f} | {sr['fixed_stream']:.1f} | {e['reset']['loihi1_uj']:.2f} | "
                     f"{e['stream']['loihi1_uj']:.2f} | {e['stream']['snn_45nm_uj']:.3f} | {r['loihi1']:.3f} | "
                     f"{r['snn_45nm']:.4f} | {dom} |")
    return lines


def target_note(summary: dict) -> str:
    """How far the frontier is from this project's goal: within 2 SR (fixed stream) of the unregularised point at
    <= 1/10 of the teacher's MAC energy on Loihi 1 (stream) and <= 1/100 on 45 nm AC."""
    pts = summary["points"]
    ref = next((p for p in pts if p["spec"]["name"] == "a0"), pts[0])
    ok = [p for p in pts if p["sr"]["fixed_stream"] >= ref["sr"]["fixed_stream"] - 2]
    best = min(ok, key=lambda p: p["ratio_to_teacher_mac"]["stream"]["loihi1"])
    r = best["ratio_to_teacher_mac"]["stream"]
    met = r["loihi1"] <= 0.1 and r["snn_45nm"] <= 0.01
    share = best["energy"]["stream"].get("loihi1_neuron_share")
    floor = ("" if share is None else
             f" {100 * share:.0f}% of its Loihi 1 energy are neuron updates (every neuron, every step, spiking or "
             f"not: {share * r['loihi1']:.3f}x the teacher), which activity regularisation cannot lower; only fewer "
             "neurons or fewer steps per frame do.")
    dom = ", ".join(f"{d['name']} ({100 * d['share']:.0f}%)" for d in best["energy"]["stream"]["dominant_loihi1"])
    return (f"This project's frontier goal (a student within 2 SR of the unregularised point {ref['spec']['name']}, "
            f"fixed point streaming, at <= 1/10 of the teacher's compute-only 45 nm MAC energy on Loihi 1, not like "
            f"for like, and <= 1/100 on 45 nm AC): "
            f"{'met' if met else 'not met'}. The cheapest point within 2 SR is {best['spec']['name']} "
            f"(SR {best['sr']['fixed_stream']:.1f} vs {ref['sr']['fixed_stream']:.1f}): Loihi 1 {r['loihi1']:.3f}x "
            f"the teacher ({r['loihi1'] / 0.1:.1f}x the goal), 45 nm AC {r['snn_45nm']:.4f}x "
            f"({r['snn_45nm'] / 0.01:.2f}x the goal); on Loihi 1 its energy is dominated by {dom}." + floor)


def frontier_markdown(summary: dict) -> str:
    """``frontier.md``: the table, the teacher references and the note on this project's goal."""
    t = summary["teacher_uj"]
    mem = (f"; with memory access (weights and activations read and written, 45 nm) {t['ann_45nm_memory']:.1f} "
           "uJ/frame" if "ann_45nm_memory" in t else "; its memory-access cost is not billed by this version")
    lines = ["# Accuracy-energy frontier", "",
             f"Start: `{summary['start']}`; SR (AUC, %) on the {summary['split']} split; energy per frame billed "
             "from the emulator's counted operations (reset: T + L steps from the zero state; stream: the T steps "
             "of a continuous run).", "",
             f"Teacher: 45 nm MACs (compute only) {t['ann_45nm']:.1f} uJ/frame{mem}.", "",
             *frontier_table(summary), "", target_note(summary), ""]
    return "\n".join(lines)


def plot_frontier(summary: dict, path: str | os.PathLike) -> Path:
    """``frontier.png``: SR (fixed point, stream and reset) vs uJ per frame (log x) per energy model, teacher lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    pts = summary["points"]
    series = (("loihi1_uj", "stream", "fixed_stream", "o", "Loihi 1, stream"),
              ("loihi1_uj", "reset", "fixed_reset", "s", "Loihi 1, reset"),
              ("snn_45nm_uj", "stream", "fixed_stream", "^", "45 nm AC, stream"))
    for key, mode, sr_key, marker, label in series:
        xs = [p["energy"][mode][key] for p in pts]
        ys = [p["sr"][sr_key] for p in pts]
        ax.scatter(xs, ys, marker=marker, label=label)
        if key == "loihi1_uj" and mode == "stream":
            for p, x, y in zip(pts, xs, ys, strict=True):
                ax.annotate(p["spec"]["name"], (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
    t = summary["teacher_uj"]
    ax.axvline(t["ann_45nm"], color="k", ls="--", label="teacher, 45 nm MAC (compute only)")
    ax.axvline(t["ann_45nm"] / 10, color="grey", ls=":", label="1/10 teacher MAC (this project's Loihi 1 goal)")
    ax.axvline(t["ann_45nm"] / 100, color="grey", ls="-.", label="1/100 teacher MAC (this project's 45 nm AC goal)")
    if "ann_45nm_memory" in t:
        ax.axvline(t["ann_45nm_memory"], color="r", ls="--", label="teacher, 45 nm MAC + memory")
    ax.set_xscale("log")
    ax.set_xlabel("energy per frame (uJ, log)")
    ax.set_ylabel("SR (AUC, %), fixed point")
    ax.set_title("accuracy-energy frontier")
    ax.legend(fontsize=7, loc="best")
    return save_figure(fig, path)
