"""experiments/modality_baselines.py on the demo's step runner: real ``had-snn`` subprocesses on tiny configs, each step
keyed by its config and resumed from its stamp (a rerun starts no subprocess, a changed config re-trains only that
tracker)."""

from __future__ import annotations

import importlib.util
import json
import math
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
def test_had_table_quick_preset_runs_a_small_table(tmp_path: Path, capfd: pytest.CaptureFixture) -> None:
    """experiments/had_table.py --preset quick cut to two seeds and a few rows: each seed on its own benchmark draw,
    results.md / results.json with the paired-interval columns vs the no-KD student (two-level over the seeds'
    draws), the jitter table, the verdict, the png; a rerun is fully cached."""
    had_table = _load("had_table")
    out = tmp_path / "table"
    methods = ["static", "teacher", "student", "had"]
    argv = ["--preset", "quick", "--out", str(out), "--seeds", "2", "--methods", *methods,
            "--sequences", "9", "--duration-s", "0.3", "--epochs", "1", "--samples-per-epoch", "16", "--device", "cpu",
            "--bootstrap", "200", "--no-progress", "--doc", str(tmp_path / "doc.md")]
    assert had_table.main([*argv, "--parallel", "2"]) == 0  # the runs in two worker processes
    table = (out / "results.md").read_text()
    assert "(quick preset)" in table and "one synthetic draw per seed" in table
    for name in methods:
        assert re.search(rf"^\| {name} \| 2 \| [\d.]+ ± [\d.]+ \| [\d.]+ ± [\d.]+ \|", table, re.M), name
    # two draws, one per training seed: other scenes under the same sequence names
    index = [json.loads((out / "data" / f"seed{k}" / "index.json").read_text()) for k in (0, 1)]
    assert index[0]["sequences"].keys() == index[1]["sequences"].keys() and index[0] != index[1]
    # every KD row carries its paired SR difference vs the no-KD student and the gap it closes
    row = re.search(r"^\| had \| 2 \|.*$", table, re.M).group(0).split("|")
    assert re.fullmatch(r" [+-]\d+\.\d \[[+-]\d+\.\d, [+-]\d+\.\d\] ", row[7]), row
    assert re.search(r"^\| had - student \| [+-]\d", table, re.M)
    assert "Verdict (this project's goals, not field standards):" in table and "HAD >= no-KD + 5 SR" in table
    assert re.search(r"^\| ground truth \| \d+\.\d\d \| \d+ % \|", table, re.M)
    assert re.search(r"^\| student \| \d+\.\d\d \| \d+ % \|", table, re.M)
    results = json.loads((out / "results.json").read_text())
    assert set(results["aggregate"]) == set(methods) and results["draws"] == "per_seed"
    diff = results["comparisons"]["had - student"]["all"]
    had_sr, student_sr = (results["aggregate"][m]["all"]["SR"]["mean"] for m in ("had", "student"))
    assert diff["diff"]["mean"] == pytest.approx(had_sr - student_sr)
    assert diff["diff_two_level"] == diff["diff"] and len(diff["per_seed"]) == 2
    assert diff["diff"]["lo"] <= diff["diff"]["mean"] <= diff["diff"]["hi"]
    by_seed = {r["seed"]: r for r in results["runs"] if r["method"] == "student"}
    assert by_seed[0]["data_root"] == "data/seed0" and by_seed[1]["data_root"] == "data/seed1"
    assert results["subsets"][0] == "all" and len(results["subsets"]) > 1  # per-attribute subsets too
    assert (out / "plots" / "had_table.png").stat().st_size > 0
    doc = (tmp_path / "doc.md").read_text()
    assert doc.startswith("# HAD table (quick preset)") and "--preset quick" in doc and "wall time" in doc
    capfd.readouterr()
    assert had_table.main([*argv, "--parallel", "1"]) == 0  # rerun, serial: every step cached (same keys)
    rerun = capfd.readouterr().out
    n_steps = 2 * (2 + len(methods) - 1)  # per seed: its data and static steps, then one step per trained row
    assert len(re.findall(r"^== \[\d+/\d+\] .*: cached, skipped", rerun, re.M)) == n_steps, rerun
    # another preset in the same folder is refused, not mixed in
    with pytest.raises(had_table.UserError, match="preset 'quick'"):
        had_table.main([*argv[:1], "medium", *argv[2:]])


def _stat(mean: float) -> dict:
    return {"SR": {"mean": mean, "std": 0.0, "n": 3, "values": [mean] * 3}}


def _cmp(mean: float, lo: float | None, hi: float | None) -> dict:
    return {"all": {"diff": {"mean": mean, "lo": lo, "hi": hi}}}


def test_had_table_verdict_on_hand_made_aggregates() -> None:
    """The verdict's five targets: PASS / FAIL from the numbers, n/a for a missing row."""
    had_table = _load("had_table")
    agg = {"static": {"all": _stat(0.15), "normal_light": _stat(0.20)},
           "teacher": {"all": _stat(0.60)}, "teacher_rgb": {"all": _stat(0.40), "normal_light": _stat(0.45)},
           "teacher_events": {"all": _stat(0.52)}, "student": {"all": _stat(0.30)}, "had": {"all": _stat(0.46)}}
    comparisons = {"had - student": _cmp(0.16, 0.08, 0.24), "had - vanilla_kd": _cmp(-0.01, -0.05, 0.03),
                   "had - hdetrack": _cmp(0.02, -0.01, 0.05)}
    lines = had_table.verdict(agg, comparisons)
    assert len(lines) == 5
    assert lines[0].startswith("- PASS: HAD >= no-KD + 5 SR") and "+16.0 [+8.0, +24.0]" in lines[0]
    assert lines[1].startswith("- PASS: HAD at least level") and "vanilla_kd -1.0" in lines[1]
    assert lines[2].startswith("- PASS") and "53 %" in lines[2]  # (46 - 30) / (60 - 30)
    assert lines[3].startswith("- PASS") and "(+25.0)" in lines[3]
    assert lines[4].startswith("- PASS") and "(+8.0)" in lines[4]

    agg["had"]["all"] = _stat(0.33)
    comparisons = {"had - student": _cmp(0.03, -0.01, 0.07), "had - vanilla_kd": _cmp(-0.06, -0.09, -0.02)}
    agg["teacher_events"]["all"] = _stat(0.58)
    del agg["teacher_rgb"]
    lines = had_table.verdict(agg, comparisons)
    assert [line.split(":")[0] for line in lines] == ["- FAIL", "- FAIL", "- FAIL", "- n/a", "- FAIL"]
    assert "10 %" in lines[2] and "(+2.0)" in lines[4]
    # a gain of >= 5 points whose interval reaches 0 still fails
    assert had_table.verdict(agg, {"had - student": _cmp(0.06, -0.001, 0.12)})[0].startswith("- FAIL")
    # no gap to close when the teacher is not above the no-KD student
    assert math.isnan(had_table.gap_closed({"had": {"all": _stat(0.5)}, "student": {"all": _stat(0.5)},
                                            "teacher": {"all": _stat(0.4)}}, "had"))


def test_had_table_refuses_a_folder_of_the_old_table_or_another_preset(tmp_path: Path) -> None:
    """A run folder of the first table format (no table_format; presets tiny/quick/full) or of another preset is refused
    before any step runs, so its runs cannot be mixed into a new table."""
    had_table = _load("had_table")
    config = tmp_path / "table_config.json"
    config.write_text(json.dumps({"mode": "quick", "data": "x"}))  # what the old script wrote
    with pytest.raises(had_table.UserError, match="preset 'quick'.*use another --out"):
        had_table._check_folder(tmp_path, "quick")
    config.write_text(json.dumps({"mode": "medium", "table_format": had_table.TABLE_FORMAT}))
    had_table._check_folder(tmp_path, "medium")  # the same table: resumed
    with pytest.raises(had_table.UserError, match="preset 'medium'"):
        had_table._check_folder(tmp_path, "full")
    had_table._check_folder(tmp_path / "new", "full")  # a new folder
