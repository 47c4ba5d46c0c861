"""``had-snn deploy``: flushed windows, --compare (with a real and a doctored Lava run), streamed Lava progress and
timings, and one step-count definition shared by convert, deploy and energy."""

from __future__ import annotations

import json
import os
import stat
import sys
import textwrap

import numpy as np
import pytest
import torch

from had_snn.cli import main
from had_snn.conversion.emulator import LoihiEmulator
from had_snn.conversion.random_net import random_network, random_spikes
from had_snn.hardware import deploy as lava_deploy
from had_snn.hardware.netx import write_netx
from had_snn.hardware.spike_diff import compare_markdown, compare_runs

LAVA_OK, LAVA_REASON = lava_deploy.lava_available()


@pytest.fixture
def net(tmp_path):
    """A small random conv/pool/dense netx network (5 synaptic layers) and a 2-window input npz of 3 steps."""
    layers = random_network(0)
    (tmp_path / "cv").mkdir()
    write_netx(tmp_path / "cv" / "student.h5", layers, attrs={"readout_scale": 2.0})
    spikes = random_spikes(5, 3, 2, layers[0].shape, rate=0.3)
    np.savez(tmp_path / "win.npz", search_spikes=spikes, template_spikes=spikes[:, :1])
    return {"dir": tmp_path / "cv", "h5": tmp_path / "cv" / "student.h5", "win": tmp_path / "win.npz",
            "layers": layers, "spikes": spikes}


def test_emulator_deploy_flushes_the_pipeline_and_records_steps(net) -> None:
    assert main(["deploy", str(net["dir"]), "--input", str(net["win"])]) == 0
    out = net["dir"] / "deploy_emulator"
    emu = LoihiEmulator(net["layers"])
    fill = emu.fill_steps
    assert fill == len(emu.synapses) == 5
    ref = emu.run(emu.flushed(torch.as_tensor(net["spikes"])))
    with np.load(out / "outputs.npz") as f:
        assert f["v_out"].shape[0] == 3 + fill
        np.testing.assert_array_equal(f["v_out"], ref.v_out.numpy())
        np.testing.assert_array_equal(f["readout_float"], ref.v_out.numpy() / 2.0)
        for i, s in enumerate(ref.spikes, start=1):
            np.testing.assert_array_equal(f[f"spikes_{i}"], s.numpy())
    counts = json.loads((out / "counts.json").read_text())
    assert (counts["steps"], counts["input_steps"], counts["frames"]) == (3 + fill, 3, 2)
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["steps"], summary["input_steps"], summary["pipeline_fill_steps"]) == (3 + fill, 3, fill)
    assert summary["timing_s"]["emulator"]["wall_s"] > 0


def test_each_mode_writes_its_own_default_folder(net) -> None:
    """A stream run after a reset run (no --out) keeps the reset run's counts: deploy_emulator_stream beside it."""
    assert main(["deploy", str(net["dir"]), "--input", str(net["win"])]) == 0
    reset_counts = (net["dir"] / "deploy_emulator" / "counts.json").read_text()
    assert main(["deploy", str(net["dir"]), "--input", str(net["win"]), "--mode", "stream"]) == 0
    assert (net["dir"] / "deploy_emulator" / "counts.json").read_text() == reset_counts
    stream = json.loads((net["dir"] / "deploy_emulator_stream" / "counts.json").read_text())
    assert json.loads(reset_counts)["mode"] == "reset" and stream["mode"] == "stream"


def test_compare_runs_reports_first_mismatch() -> None:
    a = [np.zeros((4, 2, 3, 2, 2), bool), np.zeros((4, 2, 5, 1, 1), bool)]
    b = [x.copy() for x in a]
    b[1][2, 1, 4, 0, 0] = True
    b[1][3, 0, 0, 0, 0] = True
    va, vb = np.zeros((4, 2, 5, 1, 1), np.int64), np.zeros((4, 2, 5, 1, 1), np.int64)
    vb[3, 1, 2, 0, 0] = -7
    res = compare_runs(["c", "d"], a, b, va, vb)
    assert not res["identical"]
    assert [r["mismatches"] for r in res["layers"]] == [0, 2]
    assert res["layers"][1]["first_mismatch"] == {"step": 2, "sample": 1, "neuron": [4, 0, 0], "lava": 0,
                                                  "emulator": 1}
    assert res["v_out"]["first_mismatch"]["emulator"] == -7 and res["v_out"]["max_abs_difference"] == 7
    md = compare_markdown(res)
    assert "**DIFFERENT**" in md
    assert "| d | 40 | 0 | 2 | 2 | step 2, sample 1, neuron (4, 0, 0): lava 0, emulator 1 |" in md
    assert compare_runs(["c", "d"], a, a, va, va)["identical"]


def test_compare_exits_nonzero_when_lava_differs(net, monkeypatch, capsys) -> None:
    """A doctored 'Lava' (the emulator with one flipped spike) makes --compare fail with the table and exit 3."""

    def fake_run_lava(path, spikes, timeout_s=None, progress=None, mode="reset", lavadl_netx=False):
        res = LoihiEmulator(net["layers"]).run(spikes)
        out = {f"spikes_{i}": s.numpy().copy() for i, s in enumerate(res.spikes, start=1)}
        out["spikes_2"][4, 1, 0, 0, 0] ^= True
        out.update(v_out=res.v_out.numpy(), wall_s=np.float64(1.0), startup_s=np.float64(0.5))
        for key in lava_deploy.SAMPLE_TIMING_KEYS:
            out[key] = np.full(spikes.shape[1], 0.1)
        return out

    monkeypatch.setattr(lava_deploy, "find_lava_python", lambda: "python")
    monkeypatch.setattr(lava_deploy, "run_lava", fake_run_lava)
    assert main(["deploy", str(net["h5"]), "--input", str(net["win"]), "--compare", "--no-progress"]) == 3
    captured = capsys.readouterr()
    assert "Lava and the emulator DIFFER" in captured.err and "compare.md" in captured.err
    result = json.loads((net["dir"] / "deploy_compare" / "compare.json").read_text())
    assert not result["identical"] and result["layers"][1]["mismatches"] == 1
    assert result["layers"][1]["first_mismatch"]["step"] == 4 and result["layers"][1]["first_mismatch"]["sample"] == 1
    assert "| 1 | step 4, sample 1, neuron (0, 0, 0)" in (net["dir"] / "deploy_compare" / "compare.md").read_text()
    summary = json.loads((net["dir"] / "deploy_compare" / "summary.json").read_text())
    assert summary["identical"] is False and summary["timing_s"]["lava"]["wall_s"] == 1.0
    assert "lava: 8 steps (3 input + 5 pipeline fill) x 2 windows in 1.0 s wall" in captured.out


def test_missing_lava_venv_is_one_line_naming_make_setup_lava(net, monkeypatch, capsys, tmp_path) -> None:
    monkeypatch.setenv(lava_deploy.LAVA_PYTHON_ENV, str(tmp_path / "no-such-python"))
    for extra in (["--backend", "lava"], ["--compare"]):
        assert main(["deploy", str(net["dir"]), "--input", str(net["win"]), *extra]) == 1
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "make setup-lava" in err and "internal error" not in err
    assert not (net["dir"] / "deploy_lava").exists()


def _fake_lava_python(tmp_path, body: str):
    """An executable standing in for the Lava venv's python: runs ``body`` with (net, input, out) in sys.argv."""
    script = tmp_path / "fake_python"
    script.write_text(f"#!{sys.executable}\nimport sys, json, time\nimport numpy as np\n"
                      f"net, inp, out = sys.argv[-3:]\n{textwrap.dedent(body)}")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script


def test_run_lava_streams_progress_and_times_the_subprocess(tmp_path, monkeypatch) -> None:
    script = _fake_lava_python(tmp_path, """
        P = "had-snn-progress "
        x = np.load(inp)["spikes"]
        print("some lava chatter", flush=True)
        print(P + json.dumps({"event": "start", "samples": x.shape[1], "steps": x.shape[0]}), flush=True)
        for b in range(x.shape[1]):
            for t in range(x.shape[0]):
                print(P + json.dumps({"event": "step", "sample": b, "step": t + 1}), flush=True)
        time.sleep(0.2)
        np.savez(out, spikes_1=x, v_out=x.astype(np.int64), run_s=np.array([0.05] * x.shape[1]))
    """)
    monkeypatch.setenv(lava_deploy.LAVA_PYTHON_ENV, str(script))
    events: list[dict] = []
    spikes = np.ones((3, 2, 1, 2, 2), np.uint8)
    res = lava_deploy.run_lava(tmp_path / "net.h5", spikes, progress=events.append)
    assert events[0] == {"event": "start", "samples": 2, "steps": 3}
    assert [(e["sample"], e["step"]) for e in events[1:]] == [(b, t) for b in range(2) for t in (1, 2, 3)]
    np.testing.assert_array_equal(res["spikes_1"], spikes)
    assert res["startup_s"] > 0 and res["wall_s"] - res["startup_s"] >= 0.2  # the sleep after "start" is not startup
    timing = lava_deploy.lava_timing(res)
    assert timing["wall_s"] == pytest.approx(timing["startup_s"] + timing["run_s"] + timing["other_s"])


def test_run_lava_failures_are_named(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(lava_deploy.LAVA_PYTHON_ENV, str(_fake_lava_python(tmp_path, """
        sys.stderr.write("Traceback\\nModuleNotFoundError: No module named 'lava'\\n"); sys.exit(1)
    """)))
    with pytest.raises(lava_deploy.LavaUnavailable, match="make setup-lava"):
        lava_deploy.run_lava(tmp_path / "net.h5", np.ones((2, 1, 1, 1, 1), np.uint8))
    monkeypatch.setenv(lava_deploy.LAVA_PYTHON_ENV, str(_fake_lava_python(tmp_path, """
        sys.stderr.write("ValueError: boom\\n"); sys.exit(2)
    """)))
    with pytest.raises(lava_deploy.LavaRunFailed, match=r"(?s)exit 2.*boom"):
        lava_deploy.run_lava(tmp_path / "net.h5", np.ones((2, 1, 1, 1, 1), np.uint8))
    monkeypatch.setenv(lava_deploy.LAVA_PYTHON_ENV, str(_fake_lava_python(tmp_path, "time.sleep(30)")))
    with pytest.raises(TimeoutError, match="did not finish within 0.5 s"):
        lava_deploy.run_lava(tmp_path / "net.h5", np.ones((2, 1, 1, 1, 1), np.uint8), timeout_s=0.5)


def test_convert_deploy_energy_share_one_step_count(tmp_path, firing_tiny_student, capsys) -> None:
    """convert's frame_steps, deploy's counted steps and energy's latency steps are the same T + L."""
    ckpt = firing_tiny_student(tmp_path / "s.pt")
    assert main(["convert", str(ckpt), "--out", str(tmp_path / "cv"), "--to", "netx", "--steps", "3"]) == 0
    assert "steps per frame: 9 = 3 input + 6 pipeline fill" in capsys.readouterr().out
    ff = json.loads((tmp_path / "cv" / "quantization.json").read_text())["float_vs_fixed"]
    g = torch.Generator().manual_seed(2)
    np.savez(tmp_path / "w.npz", spikes=(torch.rand(3, 1, 2, 32, 32, generator=g) < 0.2).numpy())
    assert main(["deploy", str(tmp_path / "cv"), "--input", str(tmp_path / "w.npz")]) == 0
    counts = json.loads((tmp_path / "cv" / "deploy_emulator" / "counts.json").read_text())
    assert main(["energy", str(tmp_path / "cv"), "--counts", str(tmp_path / "cv" / "deploy_emulator" / "counts.json"),
                 "--out", str(tmp_path / "en")]) == 0
    lat = json.loads((tmp_path / "en" / "report.json").read_text())["latency"]
    assert ff["frame_steps"] == counts["steps"] == lat["steps"] == 9
    assert ff["pipeline_fill_steps"] == lat["pipeline_fill_steps"] == counts["steps"] - counts["input_steps"] == 6
    assert lat["fill_included"] is True
    md = (tmp_path / "en" / "report.md").read_text()
    assert "9 steps (3 input + 6 pipeline fill) x" in md and "included in the steps above" in md
    assert "not included" not in md


def test_stream_mode_runs_the_windows_as_one_stream_and_bills_frames(net) -> None:
    out = net["dir"] / "stream"
    assert main(["deploy", str(net["dir"]), "--input", str(net["win"]), "--mode", "stream", "--out", str(out)]) == 0
    emu = LoihiEmulator(net["layers"])
    fill, x = emu.fill_steps, net["spikes"]  # 2 windows of 3 steps -> one stream of 6 steps + 5 drain steps
    stream = torch.cat([torch.as_tensor(x[:, 0:1]), torch.as_tensor(x[:, 1:2]), torch.zeros((fill, 1, *x.shape[2:]),
                                                                                            dtype=torch.uint8)])
    ref = emu.run(stream)
    with np.load(out / "outputs.npz") as f:
        np.testing.assert_array_equal(f["v_out"], ref.v_out.numpy())
        for i, s in enumerate(ref.spikes, start=1):
            np.testing.assert_array_equal(f[f"spikes_{i}"], s.numpy())
        # frame k's read-out = the stream's v at steps [3k + L, 3k + L + 3), the same as streaming run_aligned
        state, aligned = emu.zero_state(1), []
        for k in range(2):
            res = emu.run_aligned(x[:, k:k + 1], state)
            state = res.state
            aligned.append(res.readout_v)
        np.testing.assert_array_equal(f["v_aligned"], torch.cat(aligned, dim=1).numpy())
        assert not np.array_equal(f["v_aligned"][:, 1], emu.run_aligned(x[:, 1:2]).readout_v[:, 0].numpy())
    counts = json.loads((out / "counts.json").read_text())
    assert (counts["steps"], counts["input_steps"], counts["frames"]) == (3, 3, 2)  # each frame billed its 3 steps
    n_in = sum(lay["in_spikes"] for lay in counts["layers"][:1])
    assert n_in == int(ref.counts["input_spikes"][0, :6].sum())
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["mode"], summary["steps"], summary["batch"], summary["frames"]) == ("stream", 11, 1, 2)
    assert summary["billed_steps_per_frame"] == 3


@pytest.mark.lava
@pytest.mark.skipif(not LAVA_OK, reason=f"Lava venv unavailable: {LAVA_REASON}")
def test_compare_stream_with_lava_is_identical(net, capsys) -> None:
    """Two windows of 3 steps as one Lava stream (one graph, 6 + 5 drain steps) against the emulator's stream."""
    out = net["dir"] / "cmp_stream"
    assert main(["deploy", str(net["dir"]), "--input", str(net["win"]), "--compare", "--mode", "stream", "--out",
                 str(out), "--no-progress"]) == 0
    result = json.loads((out / "compare.json").read_text())
    assert result["identical"] and result["mode"] == "stream" and (result["steps"], result["samples"]) == (11, 1)
    assert sum(r["lava_spikes"] for r in result["layers"]) > 0
    assert "one stream of 11 steps (2 frames x 3 steps + 5 drain)" in capsys.readouterr().out


@pytest.mark.lava
@pytest.mark.skipif(not LAVA_OK, reason=f"Lava venv unavailable: {LAVA_REASON}")
def test_compare_with_lava_is_identical(net, capsys) -> None:
    """The real thing, kept tiny: one window of 2 input steps (+ 5 fill) through Lava and the emulator."""
    np.savez(net["win"], spikes=net["spikes"][:2, :1])
    out = net["dir"] / "cmp"
    assert main(["deploy", str(net["dir"]), "--input", str(net["win"]), "--compare", "--out", str(out)]) == 0
    result = json.loads((out / "compare.json").read_text())
    assert result["identical"] and result["steps"] == 7 and result["samples"] == 1
    assert len(result["layers"]) == 5 and all(r["compared"] > 0 for r in result["layers"])
    assert sum(r["lava_spikes"] for r in result["layers"]) > 0
    timing = json.loads((out / "summary.json").read_text())["timing_s"]["lava"]
    assert timing["wall_s"] >= timing["first_step_s"] + timing["run_s"] > 0
    assert "**identical**" in capsys.readouterr().out
    assert not any(p.name.startswith(".") and p.name not in (".had-snn.lock", ".had-snn-kind") for p in out.iterdir())
    assert os.path.exists(out / "outputs_emulator.npz")
