"""The accuracy-energy frontier (quick preset) on a tiny fake demo run: table, plot, reuse, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from had_snn.demo.frontier import PRESETS, demo_inputs, run_frontier

_QAT_CONFIG = {
    "model": "student",
    "model_config": {"widths": [4, 8, 8], "head_channels": 8, "search_px": 32, "template_px": 16,
                     "loihi_faithful": True, "qat": True},
    "data": {"samples_per_epoch": 8, "max_gap": 4, "crop": {"student_steps": 4, "template_px": 16, "search_px": 32}},
    "epochs": 1, "batch_size": 4, "lr": 5.0e-4, "warmup_steps": 0, "seed": 0,
}


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory, firing_tiny_student) -> Path:
    """A demo run folder holding what the frontier reads: config, data, teacher and QAT student checkpoints."""
    import torch

    from had_snn.data.benchmark import build_benchmark
    from had_snn.data.synthetic import SynthConfig
    from had_snn.models import build_model
    from had_snn.models.checkpoint import model_state, save_checkpoint

    run = tmp_path_factory.mktemp("frontier") / "demo-tiny"
    # benchmark seed 1: on seed 0's two 0.3 s test sequences (generator version 2) the untrained tiny student pruned
    # to a 2-channel first stage (point w2) has no template with a live stage-3 spike, so it cannot be converted
    build_benchmark(run / "data", 6, 1, (1, 1, 1), SynthConfig(width_px=64, height_px=48, duration_s=0.3, fps=30),
                    progress=False)
    firing_tiny_student(run / "student_had_qat" / "last.pt")
    torch.manual_seed(0)
    teacher = build_model("teacher", widths=(4, 8, 8), head_channels=8, search_px=32, template_px=16)
    (run / "teacher").mkdir()
    save_checkpoint(run / "teacher" / "last.pt", model_state(teacher))
    cfg = {"crop": {"student_steps": 4}, "eval": {"split": "test", "window_influence": 0.25},
           "loihi": {"weight_percentile": 100.0}, "train": {"student_had_qat": {"config": _QAT_CONFIG}}}
    (run / "demo_config.yaml").write_text(yaml.safe_dump(cfg))
    return run


@pytest.mark.slow
def test_quick_frontier_writes_table_plot_and_reuses_points(demo_run: Path, tmp_path: Path) -> None:
    import torch

    torch.set_num_threads(1)
    out = tmp_path / "frontier"
    summary = run_frontier(demo_inputs(demo_run), out, "quick", progress=False)
    names = [p["spec"]["name"] for p in summary["points"]]
    assert names == ["demo", "a0", "a5", "t2", "w2"]
    for p in summary["points"]:
        assert set(p["sr"]) == {"float", "fixed_reset", "fixed_stream"}
        assert all(0 <= v <= 100 for v in p["sr"].values())
        e = p["energy"]
        assert e["stream"]["loihi1_uj"] < e["reset"]["loihi1_uj"]  # T billed steps instead of T + L
        assert e["stream"]["dominant_loihi1"][0]["share"] > 0
        assert 0 < e["stream"]["loihi1_neuron_share"] < 1
        assert (out / "points" / p["spec"]["name"] / "result.json").is_file()
    by = {p["spec"]["name"]: p for p in summary["points"]}
    assert by["t2"]["steps"] == 2 and by["a0"]["steps"] == 4
    assert by["w2"]["neurons"] < by["a0"]["neurons"]  # narrower first stage: fewer neurons to update
    assert by["t2"]["energy"]["stream"]["loihi1_uj"] < by["a0"]["energy"]["stream"]["loihi1_uj"]
    assert by["demo"]["checkpoint"] == str(demo_run / "student_had_qat" / "last.pt")
    table = (out / "frontier.md").read_text()
    assert "| a5 | 5 |" in table and "teacher" in table
    assert "This project's frontier goal (a student within 2 SR" in table
    assert "are neuron updates" in table
    assert (out / "frontier.png").stat().st_size > 1000
    assert json.loads((out / "frontier.json").read_text())["teacher_uj"]["ann_45nm"] > 0
    # a second run reuses every point (their result files are not rewritten)
    before = {n: (out / "points" / n / "result.json").stat().st_mtime_ns for n in names}
    run_frontier(demo_inputs(demo_run), out, "quick", progress=False)
    assert before == {n: (out / "points" / n / "result.json").stat().st_mtime_ns for n in names}


def test_demo_preset_spans_four_strengths_and_cheaper_shapes() -> None:
    pts = PRESETS["demo"].points()
    strengths = [p.weight for p in pts if p.name.startswith("a")]
    assert len(strengths) >= 4 and 0.0 in strengths
    assert any(p.steps for p in pts) and any(p.first_width for p in pts)


def test_demo_inputs_name_what_is_missing(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no such folder"):
        demo_inputs(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="no demo_config.yaml"):
        demo_inputs(tmp_path)
    (tmp_path / "demo_config.yaml").write_text("train: {student: {}}\n")
    with pytest.raises(ValueError, match="student_had_qat"):
        demo_inputs(tmp_path)
    cfg = {"crop": {"student_steps": 4}, "eval": {"split": "test", "window_influence": 0.25},
           "loihi": {"weight_percentile": 100.0}, "train": {"student_had_qat": {"config": _QAT_CONFIG}}}
    (tmp_path / "demo_config.yaml").write_text(yaml.safe_dump(cfg))
    with pytest.raises(FileNotFoundError, match="finish the demo run first"):
        demo_inputs(tmp_path)
