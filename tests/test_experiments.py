"""experiments/modality_baselines.py on the demo's step runner: real ``had-snn`` subprocesses on tiny configs, each step
keyed by its config and resumed from its stamp (a rerun starts no subprocess, a changed config re-trains only that
tracker)."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path

import pytest

from had_snn.demo.pipeline import STAMP_NAME

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, EXPERIMENTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _commands(text: str) -> list[str]:
    """The ``had-snn`` subcommands the script started, e.g. ['synth', 'train teacher', 'eval']."""
    return [" ".join(m.group(1).split()[:2]) if m.group(1).startswith("train") else m.group(1).split()[0]
            for m in re.finditer(r"^\$ had-snn (.*)$", text, re.M)]


@pytest.mark.slow
def test_modality_baselines_steps_are_keyed_and_resumed(tmp_path: Path, capfd: pytest.CaptureFixture,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    baselines = _load("modality_baselines")
    # The seconds-long configs instead of the default ones; everything else runs as a user would run it.
    monkeypatch.setattr(baselines, "TRAINED", {"teacher": ("teacher", "tiny_teacher.yaml"),
                                            "student": ("student", "tiny_student.yaml")})
    out = tmp_path / "baselines"
    argv = ["--out", str(out), "--sequences", "3", "--epochs", "1", "--threads", "1"]
    assert baselines.main([*argv, "--parallel", "2"]) == 0
    first = capfd.readouterr().out
    assert sorted(_commands(first)) == ["eval", "synth", "train student", "train teacher"]
    for step in ("data", "train/teacher", "train/student", "eval"):
        assert (out / step / STAMP_NAME).is_file(), step
    table = (out / "table.md").read_text()
    for name in ("static", "teacher", "student"):
        assert re.search(rf"^\| all \| 1 \| {name} \| [\d.]+ \| [\d.]+ \| [\d.]+ \|$", table, re.M), name
    training = json.loads((out / "table.json").read_text())["training"]
    assert set(training) == {"teacher", "student"} and training["student"]["epochs"] == 1
    checkpoints = {p: p.stat().st_mtime_ns for p in out.glob("train/*/last.pt")}
    assert len(checkpoints) == 2

    # Same arguments: every step is cached, no subprocess starts, the training records come from the stamps.
    assert baselines.main(argv) == 0
    second = capfd.readouterr().out
    assert _commands(second) == []
    assert len(re.findall(r"^== \[\d/4\] .*: cached, skipped", second, re.M)) == 4
    assert {p: p.stat().st_mtime_ns for p in out.glob("train/*/last.pt")} == checkpoints
    assert json.loads((out / "table.json").read_text())["training"] == training

    # A changed key (more epochs) re-trains that tracker and re-evaluates; the data step stays cached.
    assert baselines.main([*argv, "--epochs", "2", "--only", "student"]) == 0
    third = capfd.readouterr().out
    assert _commands(third) == ["train student", "eval"]
    assert re.search(r"\(data\): cached, skipped", third)
    assert json.loads((out / "table.json").read_text())["training"]["student"]["epochs"] == 2
    teacher = out / "train" / "teacher" / "last.pt"
    assert teacher.stat().st_mtime_ns == checkpoints[teacher]


@pytest.mark.slow
def test_had_table_tiny_preset_runs_a_small_table(tmp_path: Path, capfd: pytest.CaptureFixture) -> None:
    """experiments/had_table.py --preset tiny as the README describes it, cut to one seed and three methods."""
    had_table = _load("had_table")
    out = tmp_path / "table"
    argv = ["--preset", "tiny", "--out", str(out), "--seeds", "1", "--methods", "static", "teacher", "had",
            "--sequences", "6", "--duration-s", "0.3", "--epochs", "1", "--samples-per-epoch", "16", "--device", "cpu",
            "--no-progress"]
    assert had_table.main(argv) == 0
    table = (out / "table.md").read_text()
    assert "(tiny mode)" in table
    for name in ("static", "teacher", "had"):
        assert re.search(rf"^\| {name} \| 1 \| [\d.]+ \| [\d.]+ \| [\d.]+ \|", table, re.M), name
    assert (out / "plots" / "had_table.png").stat().st_size > 0
    capfd.readouterr()
    assert had_table.main(argv) == 0  # rerun: every step cached
    rerun = capfd.readouterr().out
    assert len(re.findall(r"^== \[\d/4\] .*: cached, skipped", rerun, re.M)) == 4, rerun
