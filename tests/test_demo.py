"""The step runner's caching rules, and the demo pipeline end to end on the tiny config (every artefact checked)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from had_snn.demo.pipeline import STAMP_NAME, Step, StepContext, run_steps, run_steps_parallel


def _counting_steps(calls: list[str], value: int = 1, fail_in: str | None = None) -> list[Step]:
    """Two steps: 'a' writes a file; 'b' reads it and doubles it. Every call is appended to ``calls``."""

    def run_a(ctx: StepContext) -> dict:
        calls.append("a")
        (ctx.step_dir / "x.txt").write_text(str(value))
        return {"x": ctx.rel(ctx.step_dir / "x.txt"), "files": [ctx.rel(ctx.step_dir / "x.txt")]}

    def run_b(ctx: StepContext) -> dict:
        calls.append("b" + ("-resumed" if ctx.resuming else ""))
        partial = ctx.step_dir / "partial.txt"
        partial.write_text("started")
        if fail_in == "b":
            raise KeyboardInterrupt  # an interruption mid-step
        return {"y": 2 * int(ctx.path(ctx.inputs["a"]["x"]).read_text())}

    return [Step("a", "make x", {"value": value}, run_a), Step("b", "double x", {}, run_b, ("a",))]


def test_second_run_reuses_every_step(tmp_path: Path) -> None:
    calls: list[str] = []
    first = run_steps(_counting_steps(calls), tmp_path, log=lambda s: None)
    second = run_steps(_counting_steps(calls), tmp_path, log=lambda s: None)
    assert calls == ["a", "b"]
    assert [r.status for r in first] == ["ran", "ran"]
    assert [r.status for r in second] == ["cached", "cached"]
    assert second[1].outputs == {"y": 2}
    stamp = json.loads((tmp_path / "b" / STAMP_NAME).read_text())
    assert stamp["inputs"] == {"a": first[0].key} and stamp["key"] == first[1].key


def test_config_change_invalidates_downstream(tmp_path: Path) -> None:
    calls: list[str] = []
    run_steps(_counting_steps(calls, value=1), tmp_path, log=lambda s: None)
    records = run_steps(_counting_steps(calls, value=5), tmp_path, log=lambda s: None)
    assert calls == ["a", "b", "a", "b"]
    assert records[1].outputs == {"y": 10}


def test_fresh_and_missing_output_rerun(tmp_path: Path) -> None:
    calls: list[str] = []
    run_steps(_counting_steps(calls), tmp_path, log=lambda s: None)
    (tmp_path / "a" / "x.txt").unlink()  # a listed output vanished: 'a' re-runs, 'b' keeps its key
    records = run_steps(_counting_steps(calls), tmp_path, log=lambda s: None)
    assert calls == ["a", "b", "a"] and [r.status for r in records] == ["ran", "cached"]
    run_steps(_counting_steps(calls), tmp_path, fresh=True, log=lambda s: None)
    assert calls[3:] == ["a", "b"]


def _fan_steps(events: list[str], fail: str | None = None) -> list[Step]:
    """'root', then 'left' and 'right' (both on root), then 'join' on both; each logs its start and end."""
    import threading
    import time

    both_started = threading.Barrier(2, timeout=10)

    def make(name: str):
        def run(ctx: StepContext) -> dict:
            events.append(f"{name}+")
            if name in ("left", "right"):
                both_started.wait()  # only returns when the two run at the same time
            if name == fail:
                raise RuntimeError(f"{name} broke")
            time.sleep(0.01)
            events.append(f"{name}-")
            return {"name": name}
        return run

    deps = {"root": (), "left": ("root",), "right": ("root",), "join": ("left", "right")}
    return [Step(n, n, {}, make(n), d) for n, d in deps.items()]


def test_parallel_steps_run_together_after_their_dependencies(tmp_path: Path) -> None:
    events: list[str] = []
    run_steps_parallel(_fan_steps(events), tmp_path, 2, local=["root"], log=lambda s: None)
    assert events[:2] == ["root+", "root-"] and events[-2:] == ["join+", "join-"]
    assert sorted(events[2:4]) == ["left+", "right+"]  # both started before either ended
    records = run_steps(_fan_steps(events), tmp_path, log=lambda s: None)
    assert [r.status for r in records] == ["cached"] * 4 and len(events) == 8
    with pytest.raises(ValueError, match="parallel must be >= 1"):
        run_steps_parallel(_fan_steps(events), tmp_path, 0)


def test_a_failed_parallel_step_raises_and_later_steps_do_not_run(tmp_path: Path) -> None:
    events: list[str] = []
    with pytest.raises(RuntimeError, match="right broke"):
        run_steps_parallel(_fan_steps(events, fail="right"), tmp_path, 2, log=lambda s: None)
    assert "join+" not in events and "left-" in events and (tmp_path / "left" / STAMP_NAME).is_file()


def test_interrupted_step_resumes_in_its_folder(tmp_path: Path) -> None:
    calls: list[str] = []
    with pytest.raises(KeyboardInterrupt):
        run_steps(_counting_steps(calls, fail_in="b"), tmp_path, log=lambda s: None)
    assert not (tmp_path / "b" / STAMP_NAME).exists() and (tmp_path / "b" / "partial.txt").exists()
    records = run_steps(_counting_steps(calls), tmp_path, log=lambda s: None)
    assert calls == ["a", "b", "b-resumed"]
    assert [r.status for r in records] == ["cached", "ran"]


def test_stale_folder_of_another_config_is_cleared(tmp_path: Path) -> None:
    calls: list[str] = []
    with pytest.raises(KeyboardInterrupt):
        run_steps(_counting_steps(calls, fail_in="b"), tmp_path, log=lambda s: None)
    run_steps(_counting_steps(calls, value=3), tmp_path, log=lambda s: None)  # new key upstream: no resume
    assert calls == ["a", "b", "a", "b"]


def test_unknown_dependency_is_an_error(tmp_path: Path) -> None:
    step = Step("b", "needs a", {}, lambda ctx: {}, ("a",))
    with pytest.raises(ValueError, match="depends on \\['a'\\]"):
        run_steps([step], tmp_path, log=lambda s: None)


def test_demo_config_errors_name_the_file(tmp_path: Path) -> None:
    from had_snn.demo.config import load_demo_config

    bad = tmp_path / "demo.yaml"
    bad.write_text("seed: 0\ncrop: {template_px: 32, search_px: 64, student_steps: 4}\ndata: {sequences: 3}\n"
                   "train: {teacher: {config: nope.yaml}}\nbogus: 1\n")
    with pytest.raises(ValueError, match=r"demo.yaml: unknown section\(s\) \['bogus'\]"):
        load_demo_config(bad)
    bad.write_text(bad.read_text().replace("bogus: 1\n", ""))
    with pytest.raises(ValueError, match="train must define exactly"):
        load_demo_config(bad)
    with pytest.raises(FileNotFoundError, match="missing.yaml"):
        load_demo_config(tmp_path / "missing.yaml")


def _check_png(path: Path) -> None:
    from matplotlib.image import imread

    img = imread(path)
    assert img.ndim == 3 and img.shape[0] > 50 and img.shape[1] > 50, path


def _readme_demo_paths() -> list[str]:
    """The run-folder paths in the first column of the README's "What `make demo` produces" table."""
    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    table = text.split("| path | what it is |", 1)[1].split("\n\n", 1)[0]
    paths = []
    for line in table.splitlines()[2:]:
        for token in re.findall(r"`([^`]+)`", line.strip("|").split("|", 1)[0]):
            if token == "<step>/stamp.json":
                paths += [f"{step}/stamp.json" for step in ("data", "teacher", "eval", "report")]
            else:
                paths.append(token)
    return paths


def test_readme_demo_table_is_parsed() -> None:
    paths = _readme_demo_paths()
    assert {"report.md", "report.json", "data/", "convert/", "demo_config.yaml", "eval/stamp.json"} <= set(paths)


@pytest.mark.slow
def test_tiny_demo_end_to_end_then_cached(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from had_snn.cli import main
    from had_snn.demo.config import CONFIG_DIR

    run = tmp_path / "run"
    args = ["demo", "--config", str(CONFIG_DIR / "demo_tiny.yaml"), "--out", str(run), "--no-progress"]
    assert main(args) == 0
    first = capsys.readouterr().out
    assert "cached" not in first.split("done in")[0].split("run folder")[1]
    report = (run / "report.md").read_text()
    links = re.findall(r"\]\(([^)]+)\)", report)
    pngs = [link for link in links if link.endswith(".png")]
    assert len(pngs) >= 9
    for link in links:
        assert (run / link).exists(), f"report.md links to missing {link}"
    for png in pngs:
        _check_png(run / png)
    trackers = {"static", "teacher", "student", "student_had", "student_had_qat", "student_had_loihi",
                "student_had_loihi_stream"}
    for name in trackers:
        assert name in report
    results = json.loads((run / "eval" / "results.json").read_text())
    assert set(results["trackers"]) == trackers
    # latency-aware: every tracker has a real-time SR; the chip's stream read-out waits for the events, reset does not
    rt = {name: t["realtime"] for name, t in results["trackers"].items()}
    assert all(r["SR_AUC"] is not None for r in rt.values()) and rt["static"]["latency_us"] == 0.0
    assert rt["student_had_loihi_stream"]["latency_us"] > rt["student_had_loihi"]["latency_us"] > 0
    assert "| real-time SR % | latency ms |" in report
    hw = json.loads((run / "hardware" / "report.json").read_text())
    assert hw["mapping"]["loihi1"]["total_cores"] >= 6 and hw["energy"]["ann_45nm"]["per_frame_uj"] > 0
    # energy and latency billed per mode, from the emulated trackers' own counts: reset T + L, stream T steps
    steps = 4  # demo_tiny.yaml: crop.student_steps
    fill = hw["modes"]["reset"]["latency"]["pipeline_fill_steps"]
    assert hw["modes"]["reset"]["latency"]["period_steps"] == steps + fill
    assert hw["modes"]["stream"]["latency"]["period_steps"] == steps
    for mode in ("reset", "stream"):
        counts = json.loads((run / "eval" / f"emulator_counts_{mode}.json").read_text())
        assert counts["mode"] == mode and counts["steps"] == hw["modes"][mode]["latency"]["steps"]
        assert hw["modes"][mode]["latency"]["latency_steps"] == steps + fill
    assert hw["chip_mode"] == hw["mode"] == "stream"
    quant = json.loads((run / "convert" / "quantization.json").read_text())
    assert [r["name"] for r in quant["layers"]][-1] == hw["layers"][-1]["name"]
    for step in ("data", "teacher", "student", "student_had", "student_had_qat", "convert", "eval", "lava",
                 "hardware", "frontier", "report"):
        json.loads((run / step / STAMP_NAME).read_text())
    lava = json.loads((run / "lava" / STAMP_NAME).read_text())["outputs"]
    assert lava["status"] in ("identical", "skipped")  # "different" would be a bit-exactness failure
    if lava["status"] == "identical":
        assert {m: c["status"] for m, c in lava["modes"].items()} == {"reset": "identical", "stream": "identical"}
    for ckpt in ("teacher", "student", "student_had", "student_had_qat"):
        assert (run / ckpt / "last.pt").stat().st_size > 0 and (run / ckpt / "config.yaml").is_file()
    qat_cfg = (run / "student_had_qat" / "config.yaml").read_text()
    assert "qat: true" in qat_cfg and str((run / "student_had" / "last.pt").resolve()) in qat_cfg
    assert (run / "demo_config.yaml").is_file()
    for path in _readme_demo_paths():  # the README's "What make demo produces" table
        assert (run / path).exists(), f"README.md says the demo writes {path}; {run / path} is missing"
    summary = json.loads((run / "report.json").read_text())
    assert set(summary["tracking"]) == set(results["trackers"]) and summary["seed"] == 0
    assert summary["config"] == "experiments/configs/demo_tiny.yaml" and summary["machine"]["cpu_count"] >= 1
    assert summary["hardware"]["loihi1_cores"] == hw["mapping"]["loihi1"]["total_cores"]
    loihi = summary["loihi"]
    assert loihi["float_sr"] == summary["tracking"]["student_had_qat"]["SR"]
    assert loihi["float_sr_before_qat"] == summary["tracking"]["student_had"]["SR"]
    for mode, name in (("reset", "student_had_loihi"), ("stream", "student_had_loihi_stream")):
        assert loihi["fixed_sr"][mode] == summary["tracking"][name]["SR"]
        assert loihi["fixed_minus_float_sr"][mode] == pytest.approx(loihi["fixed_sr"][mode] - loihi["float_sr"],
                                                                    abs=0.011)
    assert set(loihi["spike_agreement"]) == {r["name"] for r in quant["float_vs_fixed"]["layers"]}
    assert loihi["stream_crop_lag_frames"] >= 2
    assert "1-point goal" in report and "Per-layer spike agreement" in report
    assert "| steps billed (= frame period) |" in report
    # the compact frontier: the QAT student per mode and the activity-regularised one, against the teacher
    frontier = json.loads((run / "frontier" / "result.json").read_text())
    assert frontier["spec"]["weight"] == 1.0 and set(frontier["energy"]) == {"reset", "stream"}
    trained = yaml.safe_load((run / "frontier" / "qat" / "config.yaml").read_text())
    assert trained["activity"] == {"mode": "fanout", "weight": 1.0} and trained["model_config"]["qat"] is True
    points = summary["frontier"]["points"]
    assert [(p["student"].split(" (")[0], p["mode"]) for p in points] == [
        ("QAT student", "reset"), ("QAT student", "stream"), ("QAT student + activity", "reset"),
        ("QAT student + activity", "stream")]
    assert points[1]["loihi1_uj"] == pytest.approx(hw["modes"]["stream"]["energy"]["loihi1"]["per_frame_uj"])
    assert points[1]["sr"] == summary["tracking"]["student_had_loihi_stream"]["SR"]
    assert "### Accuracy-energy frontier (compact)" in report and "QAT student + activity (weight 1)" in report
    assert hw["energy"]["ann_45nm_memory"]["per_frame_uj"] > hw["energy"]["ann_45nm"]["per_frame_uj"]
    assert "45 nm MACs (compute only)" in report and "with memory access" in report
    # HAD vs no-KD: the paired SR difference with its 95 % interval over the test sequences (2 in demo_tiny)
    paired = summary["had_vs_no_kd"]
    assert paired["status"] == "ok" and paired["subsets"]["all"]["n_sequences"] == results["num_sequences"] == 2
    overall = paired["subsets"]["all"]
    assert overall["had"] == pytest.approx(summary["tracking"]["student_had"]["SR"], abs=0.011)
    assert overall["no_kd"] == pytest.approx(summary["tracking"]["student"]["SR"], abs=0.011)
    assert overall["diff"] == pytest.approx(overall["had"] - overall["no_kd"], abs=0.02)
    assert overall["lo"] <= overall["diff"] <= overall["hi"]
    assert "### HAD vs no KD (paired)" in report and "95 % bootstrap interval over the 2 test sequences" in report

    # the network the convert step wrote is a tracker as it is: its 'source' names the QAT student, relative to it
    import h5py

    with h5py.File(run / "convert" / "student.h5") as f:
        assert f.attrs["source"] == "../student_had_qat/last.pt"
    capsys.readouterr()
    assert main(["eval", "--tracker", f"chip={run / 'convert'}", "--data", str(run / "data"), "--out",
                 str(tmp_path / "ev"), "--no-plots"]) == 0
    chip = json.loads((tmp_path / "ev" / "results.json").read_text())["trackers"]["chip"]
    # the same network, so the same boxes as the demo's emulated tracker in reset mode
    assert chip["sequences"] == results["trackers"]["student_had_loihi"]["sequences"]

    assert main(args) == 0  # second run: every step comes from the cache
    second = capsys.readouterr().out
    assert second.count(": cached, skipped") == 11
    assert "ran: none" in second

    # --resume-dir without --config continues with the saved (tiny) config: nothing recomputed or overwritten
    stamp_before = (run / "data" / STAMP_NAME).read_text()
    assert main(["demo", "--resume-dir", str(run), "--no-progress"]) == 0
    assert "ran: none" in capsys.readouterr().out
    assert main(["demo", "--resume-dir", str(run), "--config", str(CONFIG_DIR / "demo.yaml")]) == 1
    assert "conflicts with the run's saved config" in capsys.readouterr().err
    assert (run / "data" / STAMP_NAME).read_text() == stamp_before


def test_cuda_request_falls_back_to_cpu_with_a_warning() -> None:
    import torch

    from had_snn.demo.config import resolve_device

    assert resolve_device("cpu") == "cpu"
    if torch.cuda.is_available():
        assert resolve_device("cuda") == "cuda"
    else:
        with pytest.warns(UserWarning, match="CUDA is not available"):
            assert resolve_device("cuda") == "cpu"
    with pytest.raises(ValueError, match="--device must be"):
        resolve_device("tpu")


def test_demo_cli_argument_errors(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from had_snn.cli import main

    assert main(["demo", "--full", "--config", str(tmp_path / "x.yaml")]) == 1
    assert "either --full or --config" in capsys.readouterr().err
    assert main(["demo", "--resume-dir", str(tmp_path / "nope")]) == 1
    assert "no such run folder" in capsys.readouterr().err


def _saved_tiny_run(folder: Path) -> dict:
    """A run folder holding only the tiny config as `had-snn demo` saves it."""
    import yaml

    from had_snn.demo.config import CONFIG_DIR, SAVED_CONFIG_NAME, load_demo_config

    cfg = load_demo_config(CONFIG_DIR / "demo_tiny.yaml")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / SAVED_CONFIG_NAME).write_text(yaml.safe_dump(cfg, sort_keys=False))
    return cfg


def _demo_args(**kw: object) -> object:
    import argparse

    base = {"config": None, "full": False, "out": None, "resume_dir": None, "fresh": False, "device": "cpu",
            "no_progress": False}
    return argparse.Namespace(**{**base, **kw})


def test_resume_dir_reloads_the_saved_config_and_refuses_a_conflicting_one(tmp_path: Path) -> None:
    from had_snn.commands.demo import choose_config
    from had_snn.demo.config import CONFIG_DIR, config_differences
    from had_snn.util.errors import UserError

    run = tmp_path / "run"
    saved = _saved_tiny_run(run)
    cfg, note = choose_config(_demo_args(resume_dir=run), run)
    assert cfg == saved and "as saved in" in note  # not the default demo.yaml
    same, _ = choose_config(_demo_args(resume_dir=run, config=CONFIG_DIR / "demo_tiny.yaml"), run)
    assert not config_differences(same, saved)
    with pytest.raises(UserError, match=r"conflicts with the run's saved config .*data\.sequences \(6 -> 45\)"):
        choose_config(_demo_args(resume_dir=run, config=CONFIG_DIR / "demo.yaml"), run)
    with pytest.raises(UserError, match="--full conflicts"):
        choose_config(_demo_args(resume_dir=run, full=True), run)
    # --out on an existing run without --config also keeps its config; with one, the change is announced
    assert choose_config(_demo_args(out=run), run)[0] == saved
    cfg, note = choose_config(_demo_args(out=run, config=CONFIG_DIR / "demo.yaml"), run)
    assert cfg["data"]["sequences"] == 45 and "differs from the run's saved config" in note
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(UserError, match="not a had-snn demo run folder"):
        choose_config(_demo_args(resume_dir=empty), empty)
    (empty / "demo_config.yaml").write_text("seed: 0\n")
    with pytest.raises(ValueError, match="not a resolved config written by `had-snn demo`"):
        choose_config(_demo_args(resume_dir=empty), empty)


def test_demo_cli_refuses_conflicts_and_busy_folders_without_touching_the_run(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from had_snn.cli import main
    from had_snn.commands.demo import resume_hint
    from had_snn.demo.config import CONFIG_DIR
    from had_snn.util.runlock import run_folder_lock

    run = tmp_path / "run"
    _saved_tiny_run(run)
    before = sorted(p.name for p in run.iterdir())
    assert main(["demo", "--resume-dir", str(run), "--config", str(CONFIG_DIR / "demo.yaml")]) == 1
    assert "conflicts with the run's saved config" in capsys.readouterr().err
    with run_folder_lock(run):
        assert main(["demo", "--resume-dir", str(run), "--no-progress"]) == 1
    assert "in use by another had-snn run" in capsys.readouterr().err
    assert sorted(p.name for p in run.iterdir()) == before  # no data/, teacher/ ... written
    assert resume_hint(_demo_args(run_dir=run, device="cuda")) == f"had-snn demo --resume-dir {run} --device cuda"
    assert resume_hint(_demo_args()) is None


def test_shipped_demo_configs_resolve() -> None:
    from had_snn.demo.config import CONFIG_DIR, load_demo_config

    for name in ("demo.yaml", "demo_tiny.yaml", "demo_full.yaml"):
        cfg = load_demo_config(CONFIG_DIR / name)
        had = cfg["train"]["student_had"]["config"]
        assert had["distill"]["mode"] == "had" and "distill" not in cfg["train"]["student"]["config"]
        for tracker in ("teacher", "student", "student_had", "student_had_qat"):
            t = cfg["train"][tracker]["config"]
            assert t["model_config"]["search_px"] == cfg["crop"]["search_px"] == t["data"]["crop"]["search_px"]
        qat = cfg["train"]["student_had_qat"]["config"]
        assert qat["model_config"]["qat"] is True and "init_from" in qat
        assert {k: v for k, v in qat["model_config"].items() if k != "qat"} == had["model_config"]


def test_demo_config_qat_section_errors(tmp_path: Path) -> None:
    import yaml

    from had_snn.demo.config import CONFIG_DIR, load_demo_config

    raw = yaml.safe_load((CONFIG_DIR / "demo_tiny.yaml").read_text())
    for name in ("teacher", "student", "student_had"):
        raw["train"][name]["config"] = str(CONFIG_DIR / raw["train"][name]["config"])
    bad = tmp_path / "demo.yaml"
    raw["train"]["student_had_qat"] = {"config": "x.yaml"}
    bad.write_text(yaml.safe_dump(raw))
    with pytest.raises(ValueError, match="student_had_qat must be a mapping with only 'overrides'"):
        load_demo_config(bad)
    raw["train"]["student_had_qat"] = {"overrides": {"model_config": {"loihi_faithful": False}}}
    bad.write_text(yaml.safe_dump(raw))
    with pytest.raises(ValueError, match="loihi_faithful"):
        load_demo_config(bad)
    del raw["train"]["student_had_qat"]
    bad.write_text(yaml.safe_dump(raw))
    with pytest.raises(ValueError, match="train must define exactly .*student_had_qat"):
        load_demo_config(bad)


@pytest.mark.parametrize("section, words", [
    ({"activity_weight": 0, "epochs": 2}, "frontier.activity_weight must be a number > 0"),
    ({"activity_weight": 1.0, "epochs": 0}, "frontier.epochs must be an integer >= 1"),
    ({"activity_weight": 1.0}, "frontier must be a mapping with exactly activity_weight and epochs"),
])
def test_demo_config_frontier_section(tmp_path: Path, section: dict, words: str) -> None:
    from had_snn.demo.config import CONFIG_DIR, load_demo_config
    from had_snn.demo.steps import build_steps

    raw = yaml.safe_load((CONFIG_DIR / "demo_tiny.yaml").read_text())
    for name in ("teacher", "student", "student_had"):
        raw["train"][name]["config"] = str(CONFIG_DIR / raw["train"][name]["config"])
    path = tmp_path / "demo.yaml"
    path.write_text(yaml.safe_dump({**raw, "frontier": section}))
    with pytest.raises(ValueError) as err:
        load_demo_config(path)
    assert words in str(err.value) and str(path) in str(err.value)
    del raw["frontier"]  # no section: no frontier step, the report does not wait for one
    path.write_text(yaml.safe_dump(raw))
    steps = build_steps(load_demo_config(path), lava=(False, "test"))
    assert "frontier" not in [s.name for s in steps] and "frontier" not in steps[-1].depends


def test_saved_config_without_frontier_section_still_resumes(tmp_path: Path) -> None:
    """A run folder saved before the frontier section existed reads back (no frontier step)."""
    from had_snn.demo.config import CONFIG_DIR, SAVED_CONFIG_NAME, load_demo_config, read_saved_config

    cfg = load_demo_config(CONFIG_DIR / "demo_tiny.yaml")
    del cfg["frontier"]
    (tmp_path / SAVED_CONFIG_NAME).write_text(yaml.safe_dump(cfg))
    assert read_saved_config(tmp_path)["frontier"] is None


def test_readme_results_block_matches_the_committed_demo_summary() -> None:
    """The README's headline block and figure are what scripts/readme_results.py renders from docs/results/demo.json."""
    from had_snn.demo.readme import check

    assert check() == []


def _fake_run(folder: Path, summary: dict, sr_shift: float = 0.0) -> Path:
    report = {k: v for k, v in summary.items() if k not in ("run", "figure_sha256", "comparison")}
    report = json.loads(json.dumps(report))
    for row in report["tracking"].values():
        row["SR"] += sr_shift
    (folder / "report").mkdir(parents=True)
    (folder / "report.json").write_text(json.dumps(report))
    (folder / "report" / "attributes_success.png").write_bytes(b"png of " + folder.name.encode())
    return folder


def test_readme_results_script_rewrites_the_block_and_detects_drift(tmp_path: Path) -> None:
    from had_snn.demo.readme import BEGIN, END, SUMMARY, check, main

    committed = json.loads(SUMMARY.read_text())
    run = _fake_run(tmp_path / "demo-a", committed)
    other = _fake_run(tmp_path / "demo-b", committed, sr_shift=1.5)
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\n{BEGIN}\nold numbers\n{END}\n\n## after\n")
    files = ["--readme", str(readme), "--summary", str(tmp_path / "s.json"), "--figure", str(tmp_path / "f.png")]
    assert main([str(run), "--compare", str(other), *files]) == 0
    text = readme.read_text()
    assert "old numbers" not in text and text.startswith("# x\n") and text.endswith(f"{END}\n\n## after\n")
    static = committed["tracking"]["static"]
    assert f"| {static['label']} | {static['SR']:.1f} |" in text
    assert "up to 1.5 SR, 0.0 PR and 0.0 NPR points" in text and "demo-a" in text
    assert (tmp_path / "f.png").read_bytes() == b"png of demo-a"
    assert main(["--check", *files]) == 0
    readme.write_text(text.replace(f"| {static['SR']:.1f} |", "| 99.9 |", 1))  # a hand-edited number
    assert check(readme, tmp_path / "s.json", tmp_path / "f.png") == [
        f"{readme}: the results block differs from what {tmp_path / 's.json'} renders"]
    (tmp_path / "f.png").write_bytes(b"another figure")
    assert len(check(readme, tmp_path / "s.json", tmp_path / "f.png")) == 2
    committed_cfg = _fake_run(tmp_path / "demo-c", {**committed, "seed": 7})
    assert main([str(run), "--compare", str(committed_cfg), *files]) == 1  # not the same command
    assert main([str(tmp_path / "missing"), *files]) == 1


def test_readme_block_of_a_run_with_qat_and_both_modes() -> None:
    """A format-2 summary (QAT student, fixed point per mode, energy per mode) renders the 1-point verdict, the spike
    agreement and energy/latency/throughput of both modes."""
    from had_snn.demo.readme import SUMMARY, render_block

    s = json.loads(SUMMARY.read_text())
    s["loihi"] = {"float_sr_before_qat": 40.0, "float_sr": 41.0, "fixed_sr": {"reset": 40.5, "stream": 38.0},
                  "fixed_minus_float_sr": {"reset": -0.5, "stream": -3.0}, "sr_target_points": 1.0,
                  "within_target": {"reset": True, "stream": False}, "spike_agreement": {"a": 0.995, "b": 0.991},
                  "min_spike_agreement": 0.991, "spike_agreement_target": 0.99,
                  "stream_crop_lag_frames": 3}
    s["lava"]["modes"] = {"reset": "identical", "stream": "identical"}
    s["hardware"].update(mode="stream", chip_mode="stream", modes={
        "reset": {"loihi1_uj_per_frame": 150.0, "steps_per_frame": 10, "latency_steps": 10,
                  "frame_latency_us": 800.0, "throughput_fps": 1250.0},
        "stream": {"loihi1_uj_per_frame": 90.0, "steps_per_frame": 4, "latency_steps": 10,
                   "frame_latency_us": 700.0, "throughput_fps": 3571.0}})
    text = " ".join(render_block(s).split())
    assert "41.0 SR in float (40.0 SR before QAT)" in text
    assert "40.5 SR (-0.5 points) reset per frame and 38.0 SR (-3.0 points) streaming (crop lag 3 frames)" in text
    assert "within this project's 1-point goal only in reset mode" in text
    assert "at least 0.9910 (this project's goal 0.99)" in text
    assert "150 uJ reset per frame (10 steps billed" in text and "90 uJ streaming (4 steps billed" in text
    head = s["hardware"]["headline"]  # student (Loihi 1) / teacher with memory access: like for like
    assert head["like_for_like"] and f"(student/teacher {head['ratio']:.2f}x, like for like" in text
    assert "this project's goal <= 0.1x: not met" in text
    assert "and the same windows as one continuous stream" in text


def _fake_eval(folder: Path, had: dict[str, float], no_kd: dict[str, float], tags: dict[str, list[str]]) -> Path:
    """A results.json of the two float students, every sequence with its tags (as `had-snn eval` stores them)."""
    folder.mkdir(parents=True)

    def seqs(sr: dict[str, float]) -> dict:
        return {n: {"SR_AUC": v, "PR20": v, "NPR0.2": v, "attributes": tags[n]} for n, v in sr.items()}

    path = folder / "results.json"
    path.write_text(json.dumps({"trackers": {"student_had": {"sequences": seqs(had)},
                                             "student": {"sequences": seqs(no_kd)}}}))
    return path


def test_had_vs_no_kd_paired_interval_and_its_text(tmp_path: Path) -> None:
    """The report's HAD vs no-KD line: paired mean difference in SR points with the bootstrap interval over the test
    sequences, per subset; no interval (n/a) on a one-sequence split."""
    from had_snn.demo.summary import had_vs_no_kd, had_vs_no_kd_text

    tags = {"a": ["low_light"], "b": [], "c": ["pause"], "d": ["pause"]}
    had = {"a": 0.50, "b": 0.60, "c": 0.70, "d": 0.80}
    no_kd = {"a": 0.40, "b": 0.45, "c": 0.55, "d": 0.60}  # HAD ahead on every sequence: +10, +15, +15, +20
    out = had_vs_no_kd(_fake_eval(tmp_path / "run", had, no_kd, tags), n_boot=2000)
    assert out["status"] == "ok"
    overall = out["subsets"]["all"]
    assert overall["n_sequences"] == 4 and overall["diff"] == pytest.approx(15.0)
    assert overall["had"] == pytest.approx(65.0) and overall["no_kd"] == pytest.approx(50.0)
    assert 10.0 <= overall["lo"] < 15.0 < overall["hi"] <= 20.0
    assert out["subsets"]["pause"]["diff"] == pytest.approx(17.5) and out["subsets"]["normal_light"]["n_sequences"] == 3
    text = had_vs_no_kd_text(out)
    assert "+15.0 SR points" in text and "over the 4 test sequences" in text and "(HAD better)" in text

    one = had_vs_no_kd(_fake_eval(tmp_path / "one", {"a": 0.5}, {"a": 0.4}, {"a": []}))
    assert one["status"] == "n/a" and "at least 2" in one["reason"]
    assert "no paired interval" in had_vs_no_kd_text(one)
