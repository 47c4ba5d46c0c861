"""The demo's steps: synthetic benchmark -> teacher, student, HAD student -> quantisation-aware fine-tuning of the HAD
student -> evaluation (float trackers, and the QAT student in Loihi fixed point in reset and streaming mode) -> Loihi
conversion -> Lava agreement (reset and streaming) -> cores, energy, latency per mode -> (with a ``frontier:``
section) the QAT student fine-tuned with activity regularisation, tracked and billed -> one markdown report.

:func:`build_steps` turns a resolved demo config (:func:`had_snn.demo.config.load_demo_config`) into
:class:`~had_snn.demo.pipeline.Step` objects, so editing a training config invalidates the cached steps that depend
on it.
"""

from __future__ import annotations

import copy
from typing import Any

from had_snn.demo.config import EMULATED_NAMES, QAT_NAME, TRAINED
from had_snn.demo.pipeline import Step, StepContext
from had_snn.util.atomic import write_json_atomic


def _data_step(cfg: dict, progress: bool):
    def run(ctx: StepContext) -> dict:
        from had_snn.data.benchmark import build_benchmark
        from had_snn.data.dataset import read_index
        from had_snn.data.synthetic import SynthConfig

        d = cfg["data"]
        summary = build_benchmark(ctx.step_dir, d["sequences"], cfg["seed"], tuple(d["split_fractions"]),
                                  SynthConfig.from_dict(d["synth"]), workers=d["workers"], progress=progress)
        index = read_index(ctx.step_dir)
        splits = {s: len(names) for s, names in index["splits"].items()}
        coverage = {s: sorted({a for n in names for a in index["sequences"][n]["attributes"]})
                    for s, names in index["splits"].items()}
        return {"root": ctx.rel(ctx.step_dir), "index": ctx.rel(summary.index_path), "splits": splits,
                "attributes": coverage, "files": [ctx.rel(summary.index_path)]}

    return run


def _train_step(name: str, cfg: dict, device: str, progress: bool):
    def run(ctx: StepContext) -> dict:
        from had_snn.data.dataset import load_split
        from had_snn.train.config import config_from_dict
        from had_snn.train.distill_hook import build_distillation
        from had_snn.train.loop import CHECKPOINT_NAME, train

        raw = copy.deepcopy(cfg["train"][name]["config"])
        raw["data"]["dir"] = str(ctx.path(ctx.inputs["data"]["root"]))
        if "distill" in raw:
            raw["distill"]["teacher"] = str(ctx.path(ctx.inputs["teacher"]["checkpoint"]).resolve())
        if "init_from" in raw:  # QAT fine-tuning starts from the HAD student trained in this run
            raw["init_from"] = str(ctx.path(ctx.inputs["student_had"]["checkpoint"]).resolve())
        tcfg = config_from_dict(raw, cfg["train"][name]["source"])
        distill = build_distillation(tcfg, cfg["train"][name]["source"])
        frames = tcfg.model == "teacher" or distill.needs_frames
        sequences = load_split(tcfg.data.dir, "train", load_frames=frames)
        resume = (ctx.step_dir / CHECKPOINT_NAME).is_file()
        result = train(tcfg, ctx.step_dir, sequences, resume=resume, device=device, progress=progress,
                       extra_loss=distill.extra_loss, extra_modules=distill.extra_modules)
        ckpt = ctx.step_dir / CHECKPOINT_NAME
        last = result.history[-1]
        return {"checkpoint": ctx.rel(ckpt), "metrics": ctx.rel(ctx.step_dir / "metrics.json"),
                "config": ctx.rel(ctx.step_dir / "config.yaml"), "epochs": last["epoch"], "steps": last["step"],
                "final_loss": last["loss"], "final_iou": last["iou"],
                "train_seconds": sum(r["seconds"] for r in result.history), "resumed": resume,
                "files": [ctx.rel(ckpt), ctx.rel(ctx.step_dir / "metrics.json")]}

    return run


def _search_windows(seq, crop, frames: list[int]) -> Any:
    """Search spikes (T, len(frames), C, H, W) cut around the GT box of each frame, as a tensor."""
    import torch

    from had_snn.tracking.windows import spike_windows

    return torch.from_numpy(spike_windows(seq, crop, frames)[1])


def _convert_step(cfg: dict):
    def run(ctx: StepContext) -> dict:
        from had_snn.conversion.convert import convert_student
        from had_snn.data.dataset import load_split
        from had_snn.models.checkpoint import load_model
        from had_snn.tracking.loihi import first_live_template
        from had_snn.tracking.tracker import crop_config_for

        source = ctx.path(ctx.inputs[QAT_NAME]["checkpoint"])
        student = load_model(source)
        crop = crop_config_for(student, cfg["crop"]["student_steps"])
        sequences = load_split(ctx.path(ctx.inputs["data"]["root"]), cfg["eval"]["split"], load_frames=False)
        seq, template = first_live_template(student, sequences, crop)
        frames = list(range(1, min(seq.num_frames, 9)))
        done = convert_student(student, template, _search_windows(seq, crop, frames), ctx.step_dir, source,
                               float(cfg["loihi"]["weight_percentile"]), attrs={"template_sequence": seq.name},
                               meta={"template_sequence": seq.name, "compared_frames": frames})
        net, qjson, hist = done.files["netx"], done.files["quantization"], done.files["histograms"]
        comparison = done.comparison
        return {"netx": ctx.rel(net), "quantization": ctx.rel(qjson), "histograms": ctx.rel(hist),
                "readout_rel_error": comparison["readout_rel_error"],
                "heatmap_peak_agreement": comparison["heatmap_peak_agreement"],
                "min_spike_agreement": comparison["min_spike_agreement"],
                "spike_agreement": {r["name"]: r["spike_agreement"] for r in comparison["layers"]},
                "files": [ctx.rel(net), ctx.rel(qjson), ctx.rel(hist)]}

    return run


def _eval_step(cfg: dict, device: str, progress: bool):
    def run(ctx: StepContext) -> dict:
        from had_snn.data.dataset import load_split
        from had_snn.evaluation.evaluate import evaluate, file_fingerprint
        from had_snn.models.checkpoint import load_model
        from had_snn.tracking.loihi import emulator_counts, fixed_point_trackers
        from had_snn.tracking.tracker import ModelTracker, StaticTracker, crop_config_for

        e = cfg["eval"]
        steps = cfg["crop"]["student_steps"]
        sequences = load_split(ctx.path(ctx.inputs["data"]["root"]), e["split"], load_frames=True)
        trackers: list = [StaticTracker()]
        for name in TRAINED:
            ckpt = ctx.path(ctx.inputs[name]["checkpoint"])
            model = load_model(ckpt, map_location=device)
            trackers.append(ModelTracker(model, crop_config_for(model, steps), e["window_influence"],
                                         device=device, name=name, fingerprint=file_fingerprint(ckpt)))
        # The Loihi network is converted from the QAT student (the float model it reproduces).
        student = load_model(ctx.path(ctx.inputs[QAT_NAME]["checkpoint"]))
        crop = crop_config_for(student, steps)
        # No fingerprint: the emulated trackers always re-run in this step, so their operation counts are complete.
        emulated = fixed_point_trackers(student, sequences, crop, float(cfg["loihi"]["weight_percentile"]),
                                        e["window_influence"], device, names=EMULATED_NAMES)
        trackers += list(emulated.values())
        report = evaluate(trackers, sequences, ctx.step_dir, split=e["split"], resume=ctx.resuming,
                          progress=progress, latency_aware=True)
        counts_files = {mode: write_json_atomic(ctx.step_dir / f"emulator_counts_{mode}.json", counts)
                        for mode, counts in emulator_counts(emulated, steps).items()}
        overall = {n: {k: t["subsets"]["all"][k] for k in ("SR_AUC", "PR20", "NPR0.2")}
                   for n, t in report["trackers"].items()}
        files = [ctx.rel(ctx.step_dir / f) for f in ("results.json", "results.md")]
        files += [ctx.rel(p) for p in counts_files.values()]
        return {"results": files[0], "table": files[1], "counts": ctx.rel(counts_files["reset"]),
                "counts_stream": ctx.rel(counts_files["stream"]),
                "plots": ctx.rel(ctx.step_dir / "plots"), "boxes": ctx.rel(ctx.step_dir / "boxes"),
                "overall": overall, "silent_templates": emulated["reset"].silent_sequences,
                "stream_crop_lag_frames": emulated["stream"].crop_lag_frames, "files": files}

    return run


def _lava_step(cfg: dict, lava: tuple[bool, str], progress: bool):
    def run(ctx: StepContext) -> dict:
        """Run the network the convert step wrote (the file users deploy) in Lava and in the emulator."""
        from had_snn.conversion.chip_run import compare, run_network
        from had_snn.data.dataset import split_paths
        from had_snn.data.io import read_sequence
        from had_snn.hardware.netx import read_netx
        from had_snn.models.checkpoint import load_model
        from had_snn.tracking.tracker import crop_config_for

        if not lava[0]:
            return {"status": "skipped", "reason": lava[1]}
        net = ctx.path(ctx.inputs["convert"]["netx"])
        _, attrs = read_netx(net)
        crop = crop_config_for(load_model(ctx.path(ctx.inputs[QAT_NAME]["checkpoint"])),
                               cfg["crop"]["student_steps"])
        paths = {p.stem: p for p in split_paths(ctx.path(ctx.inputs["data"]["root"]), cfg["eval"]["split"])}
        seq = read_sequence(paths[attrs["template_sequence"]], load_frames=False)
        frames = list(range(1, 1 + min(int(cfg["loihi"]["lava_frames"]), seq.num_frames - 1)))
        search = _search_windows(seq, crop, frames).numpy()
        # reset: every frame alone from the zero state, T + L steps; stream: the frames one after another in one
        # continuous run (no reset, no flush), then L zero steps so the last frame's read-out completes
        checks, wall_s = {}, 0.0
        for mode in ("reset", "stream"):
            emulated = run_network(net, search, "emulator", mode)
            ran = run_network(net, search, "lava", mode, timeout_s=float(cfg["loihi"]["lava_timeout_s"]),
                              progress=progress)
            c = compare(ran, emulated)
            checks[mode] = {"status": "identical" if c["identical"] else "different", "steps": c["steps"],
                            "layers": [{"name": r["name"], "spikes": r["emulator_spikes"],
                                        "mismatches": r["mismatches"]} for r in c["layers"]],
                            "v_out_mismatches": c["v_out"]["mismatches"]}
            wall_s += ran.timing_s["wall_s"]
        identical = all(c["status"] == "identical" for c in checks.values())
        return {"status": "identical" if identical else "different", "sequence": seq.name, "frames": frames,
                "steps": checks["reset"]["steps"], "layers": checks["reset"]["layers"],
                "v_out_mismatches": checks["reset"]["v_out_mismatches"], "modes": checks,
                "lava_wall_s": wall_s, "lava_python": lava[1]}

    return run


def _hardware_step(cfg: dict):
    def run(ctx: StepContext) -> dict:
        import json

        from had_snn.conversion.macs import teacher_search_macs, teacher_search_traffic
        from had_snn.hardware.counts import parse_counts
        from had_snn.hardware.report import build_report
        from had_snn.hardware.report_files import write_report
        from had_snn.hardware.resources import geometries_from_netx
        from had_snn.hardware.table import load_table
        from had_snn.models.checkpoint import load_model
        from had_snn.tracking.tracker import crop_config_for

        net = ctx.path(ctx.inputs["convert"]["netx"])
        geoms = geometries_from_netx(net)
        counts = []
        for key in ("counts", "counts_stream"):  # reset and streaming mode, billed from the emulated tracking runs
            counts_path = ctx.path(ctx.inputs["eval"][key])
            counts.append(parse_counts(json.loads(counts_path.read_text()), geoms, str(counts_path)))
        teacher = load_model(ctx.path(ctx.inputs["teacher"]["checkpoint"]))
        macs = teacher_search_macs(teacher, crop_config_for(teacher))
        # the teacher also billed with memory access (weights and activations read and written per frame)
        traffic = teacher_search_traffic(teacher, crop_config_for(teacher))
        report = build_report(geoms, load_table(), counts, macs, fps=float(cfg["hardware"]["fps"]), network=str(net),
                              teacher_traffic=traffic)
        paths = write_report(report, ctx.step_dir)
        e = report["energy"]
        per_mode = {m: {"loihi1_uj_per_frame": b["energy"]["loihi1"]["per_frame_uj"],
                        "steps_per_frame": b["latency"]["period_steps"],
                        "frame_latency_us": b["latency"]["frame_latency_us"],
                        "latency_steps": b["latency"]["latency_steps"],
                        "throughput_fps": b["latency"]["throughput_fps"]} for m, b in report["modes"].items()}
        return {"report": ctx.rel(ctx.step_dir / "report.json"), "markdown": ctx.rel(ctx.step_dir / "report.md"),
                "plots": [ctx.rel(p) for p in paths if p.suffix == ".png"],
                "cores": {chip: m["total_cores"] for chip, m in report["mapping"].items()},
                "chip_mode": report["chip_mode"], "modes": per_mode,
                "loihi1_uj_per_frame": e["loihi1"]["per_frame_uj"], "ann_45nm_uj_per_frame":
                e["ann_45nm"]["per_frame_uj"], "ann_45nm_memory_uj_per_frame": e["ann_45nm_memory"]["per_frame_uj"],
                "ratios": e["ratios"],
                "frame_latency_us": report["latency"]["frame_latency_us"], "files": [ctx.rel(p) for p in paths]}

    return run


def _frontier_step(cfg: dict, device: str, progress: bool):
    def run(ctx: StepContext) -> dict:
        """The compact frontier's extra point: the QAT student fine-tuned with activity regularisation, tracked
        (float, fixed reset, fixed stream) and billed per mode (:mod:`had_snn.demo.frontier`)."""
        from had_snn.demo.frontier import (
            FrontierInputs,
            FrontierPreset,
            PointSpec,
            evaluate_point,
            teacher_costs,
            train_point,
        )

        f, qat = cfg["frontier"], cfg["train"][QAT_NAME]["config"]
        inputs = FrontierInputs(ctx.path(ctx.inputs["data"]["root"]),
                                ctx.path(ctx.inputs["teacher"]["checkpoint"]).resolve(),
                                ctx.path(ctx.inputs[QAT_NAME]["checkpoint"]).resolve(), qat,
                                int(cfg["crop"]["student_steps"]), cfg["eval"]["split"],
                                float(cfg["eval"]["window_influence"]), float(cfg["loihi"]["weight_percentile"]))
        weight = float(f["activity_weight"])
        preset = FrontierPreset(strengths=(weight,), shapes=(), epochs=int(f["epochs"]), prune_epochs=0,
                        samples_per_epoch=int(qat["data"]["samples_per_epoch"]), distill=True)
        spec = PointSpec(f"a{weight:g}", weight=weight)
        ckpt = train_point(spec, inputs, preset, ctx.step_dir, device, progress)
        result = evaluate_point(spec, ckpt, inputs, teacher_costs(inputs.teacher), ctx.step_dir, preset, device,
                                progress)
        result["checkpoint"] = ctx.rel(ckpt)
        path = write_json_atomic(ctx.step_dir / "result.json", result, indent=1)
        return {"result": ctx.rel(path), "checkpoint": ctx.rel(ckpt), "activity_weight": weight,
                "sr": result["sr"], "energy": result["energy"], "files": [ctx.rel(path), ctx.rel(ckpt)]}

    return run


def _report_step(cfg: dict, device: str):
    def run(ctx: StepContext) -> dict:
        from had_snn.demo.report_markdown import write_demo_report
        from had_snn.demo.summary import SUMMARY_NAME

        path = write_demo_report(ctx.run_dir, ctx.step_dir, ctx.inputs, cfg, device)
        summary = ctx.run_dir / SUMMARY_NAME
        return {"report": ctx.rel(path), "summary": ctx.rel(summary), "files": [ctx.rel(path), ctx.rel(summary)]}

    return run


def build_steps(cfg: dict, device: str = "cpu", progress: bool = True, lava: tuple[bool, str] | None = None
                ) -> list[Step]:
    """The demo's steps for a resolved config (:func:`load_demo_config`). ``lava`` is ``(available, python path or
    reason)`` (probed with :func:`had_snn.hardware.deploy.lava_available` when None)."""
    if lava is None:
        from had_snn.hardware.deploy import lava_available

        lava = lava_available()
    train_deps = {"teacher": ("data",), "student": ("data",), "student_had": ("data", "teacher"),
                  QAT_NAME: ("data", "teacher", "student_had")}
    titles = {"teacher": "train the ANN teacher (RGB + events)", "student": "train the spiking student (no KD)",
              "student_had": "train the spiking student with HAD",
              QAT_NAME: "fine-tune the HAD student with quantisation-aware training (QAT)"}
    steps = [Step("data", "synthesise the benchmark", {"data": cfg["data"], "seed": cfg["seed"]},
                  _data_step(cfg, progress))]
    for name in TRAINED:
        steps.append(Step(name, titles[name], cfg["train"][name]["config"], _train_step(name, cfg, device, progress),
                          train_deps[name]))
    steps += [
        Step("convert", "convert the QAT student to Loihi fixed point", {"loihi": cfg["loihi"], "crop": cfg["crop"],
             "eval": cfg["eval"], "format": 2}, _convert_step(cfg), ("data", QAT_NAME)),
        Step("eval", "track the test split (static, teacher, students, Loihi emulator in reset and stream mode)",
             {"eval": cfg["eval"], "crop": cfg["crop"], "loihi": cfg["loihi"], "modes": list(EMULATED_NAMES)},
             _eval_step(cfg, device, progress), ("data", *TRAINED)),
        Step("lava", "Lava fixed_pt vs emulator on a few frames (reset and stream)",
             {"loihi": cfg["loihi"], "crop": cfg["crop"], "eval": cfg["eval"], "modes": ["reset", "stream"],
              "lava_python": lava[1] if lava[0] else None}, _lava_step(cfg, lava, progress),
             ("data", QAT_NAME, "convert")),
        Step("hardware", "map onto Loihi cores, energy and latency per mode vs the teacher",
             {"hardware": cfg["hardware"], "modes": ["reset", "stream"], "teacher_memory": True},
             _hardware_step(cfg),
             ("convert", "eval", "teacher")),
    ]
    extra: tuple[str, ...] = ()
    if cfg.get("frontier"):
        steps.append(Step("frontier", "fine-tune the QAT student with activity regularisation, track and bill it",
                          {"frontier": cfg["frontier"], "eval": cfg["eval"], "crop": cfg["crop"],
                           "loihi": cfg["loihi"], "format": 1}, _frontier_step(cfg, device, progress),
                          ("data", "teacher", QAT_NAME)))
        extra = ("frontier",)
    steps.append(Step("report", "write report.md and report.json", {"report": cfg["report"], "eval": cfg["eval"],
                                                                    "format": 3}, _report_step(cfg, device),
                      ("data", *TRAINED, "convert", "eval", "lava", "hardware", *extra)))
    return steps
