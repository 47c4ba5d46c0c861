"""experiments/stream_training.py on a tiny demo-like run folder: fine-tunings per variant and seed, cached, and
the table's numbers are the evaluations it stored."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "experiments"))
import stream_training  # noqa: E402

CONFIGS = Path(__file__).resolve().parents[1] / "experiments" / "configs"


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory) -> Path:
    """A folder shaped like a demo run: data/ (a tiny benchmark) and student_had_qat/ (config.yaml, last.pt)."""
    import yaml

    from had_snn.cli import main
    from had_snn.data.benchmark import build_benchmark
    from had_snn.data.synthetic import SynthConfig

    torch.set_num_threads(1)
    run = tmp_path_factory.mktemp("demo")
    build_benchmark(run / "data", 5, 0, (2, 1, 2), SynthConfig(width_px=64, height_px=48, duration_s=0.3, fps=30),
                    progress=False)
    cfg = yaml.safe_load((CONFIGS / "tiny_student.yaml").read_text())
    cfg["model_config"]["threshold"] = 0.1  # a student trained for one epoch then spikes (and converts)
    config = run / "tiny_student.yaml"
    config.write_text(yaml.safe_dump(cfg))
    common = ["train", "student", "--config", str(config), "--data", str(run / "data"),
              "--epochs", "1", "--no-progress", "--val-sequences", "0", "--samples-per-epoch", "16"]
    assert main([*common, "--out", str(run / "float")]) == 0
    init = str(run / "float" / "last.pt")
    assert main([*common, "--out", str(run / "student_had_qat"), "--qat", "--init", init]) == 0
    return run


@pytest.mark.slow
def test_table_from_cached_fine_tunings(demo_run, tmp_path, capsys) -> None:
    out = tmp_path / "st"
    argv = ["--demo-run", str(demo_run), "--clip-frames", "2", "--epochs", "1", "--seeds", "0", "1", "--out",
            str(out), "--no-progress", "--doc", str(tmp_path / "doc.md")]
    assert stream_training.main(argv) == 0
    report = json.loads((out / "stream_training.json").read_text())
    for v in ("pairs", "clips"):
        for s in ("0", "1"):
            assert (out / f"{v}-seed{s}" / "last.pt").is_file()
            assert f"seed: {s}" in (out / f"{v}-seed{s}" / "config.yaml").read_text()
        sr = [report["results"][v][s]["stream"]["SR"] for s in ("0", "1")]
        assert report["table"][v]["stream"]["mean"] == pytest.approx(np.mean(sr))
    assert "clip_frames: 2" in (out / "clips-seed0" / "config.yaml").read_text()
    assert "clip_frames: 2" not in (out / "pairs-seed0" / "config.yaml").read_text()
    d = report["differences"]["stream: clips - pairs"]
    assert d["lo"] <= d["mean"] <= d["hi"] and d["seeds"] == 2
    assert (tmp_path / "doc.md").read_text().startswith("# Stream training")
    # a rerun trains nothing and evaluates nothing: every step is cached
    capsys.readouterr()
    assert stream_training.main(argv) == 0
    assert "had-snn train" not in capsys.readouterr().out
    assert json.loads((out / "stream_training.json").read_text())["differences"] == report["differences"]


def test_one_seed_is_refused(demo_run, tmp_path) -> None:
    with pytest.raises(ValueError, match="at least 2 seeds"):
        stream_training.main(["--demo-run", str(demo_run), "--seeds", "0", "--out", str(tmp_path / "x")])
