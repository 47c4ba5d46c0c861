"""The step runner's caching rules, and the demo pipeline end to end on the tiny config (every artefact checked)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from had_snn.demo.pipeline import STAMP_NAME, Step, StepContext, run_steps


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
    for name in ("static", "teacher", "student", "student_had", "student_had_loihi"):
        assert name in report
    results = json.loads((run / "eval" / "results.json").read_text())
    assert set(results["trackers"]) == {"static", "teacher", "student", "student_had", "student_had_loihi"}
    hw = json.loads((run / "hardware" / "report.json").read_text())
    assert hw["mapping"]["loihi1"]["total_cores"] >= 6 and hw["energy"]["ann_45nm"]["per_frame_uj"] > 0
    quant = json.loads((run / "convert" / "quantization.json").read_text())
    assert [r["name"] for r in quant["layers"]][-1] == hw["layers"][-1]["name"]
    for step in ("data", "teacher", "student", "student_had", "convert", "eval", "lava", "hardware", "report"):
        json.loads((run / step / STAMP_NAME).read_text())
    lava = json.loads((run / "lava" / STAMP_NAME).read_text())["outputs"]
    assert lava["status"] in ("identical", "skipped")  # "different" would be a bit-exactness failure
    for ckpt in ("teacher", "student", "student_had"):
        assert (run / ckpt / "last.pt").stat().st_size > 0 and (run / ckpt / "config.yaml").is_file()
    assert (run / "demo_config.yaml").is_file()

    assert main(args) == 0  # second run: every step comes from the cache
    second = capsys.readouterr().out
    assert second.count(": cached, skipped") == 9
    assert "ran: none" in second


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


def test_shipped_demo_configs_resolve() -> None:
    from had_snn.demo.config import CONFIG_DIR, load_demo_config

    for name in ("demo.yaml", "demo_tiny.yaml", "demo_full.yaml"):
        cfg = load_demo_config(CONFIG_DIR / name)
        had = cfg["train"]["student_had"]["config"]
        assert had["distill"]["mode"] == "had" and "distill" not in cfg["train"]["student"]["config"]
        for tracker in ("teacher", "student", "student_had"):
            t = cfg["train"][tracker]["config"]
            assert t["model_config"]["search_px"] == cfg["crop"]["search_px"] == t["data"]["crop"]["search_px"]
