"""Energy (Loihi 1, 45 nm) and latency models, counts/MACs parsing, table swap, report files and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from had_snn.hardware.counts import counts_from_emulator, parse_counts, parse_teacher_macs
from had_snn.hardware.energy import ann_45nm_energy_pj, loihi1_energy, snn_45nm_energy_pj
from had_snn.hardware.latency import barrier_ns, loihi1_latency
from had_snn.hardware.report import build_report
from had_snn.hardware.report_files import write_report
from had_snn.hardware.report_markdown import markdown
from had_snn.hardware.resources import ChipSpec, dense_geometry, map_network
from had_snn.hardware.table import load_table


def _net():
    a = dense_geometry("a", np.ones((50, 20), dtype=np.int64), (20,))
    b = dense_geometry("b", np.ones((8, 50), dtype=np.int64), (50,))
    return [a, b]


COUNTS = {
    "steps": 10,
    "layers": [
        {"name": "a", "in_spikes": 5, "synops": 100, "neuron_updates": 50, "out_spikes": 10,
         "active_neuron_updates": 20},
        {"name": "b", "in_spikes": 10, "synops": 30, "neuron_updates": 8, "out_spikes": 0,
         "active_neuron_updates": 8},
    ],
}


def _table_copy(tmp_path, edit):
    data = yaml.safe_load(_default_table_text())
    edit(data)
    path = tmp_path / "table.yaml"
    path.write_text(yaml.safe_dump(data))
    return load_table(path)


def _default_table_text() -> str:
    from importlib import resources

    return resources.files("had_snn.hardware").joinpath("energy_table.yaml").read_text()


def test_loihi1_energy_hand_computed() -> None:
    table, geoms = load_table(), _net()
    mapping = map_network(geoms, ChipSpec.from_table(table, "loihi1"))
    counts = parse_counts(COUNTS, geoms)
    rows = loihi1_energy(geoms, counts, mapping, table)
    # a: 100 x 23.6 + 20 x 81 + 30 x 52 + 10 spikes x 1 core x 1.7 (cores 0 and 1 share a tile: no hops)
    assert rows[0]["synaptic_pj"] == pytest.approx(2360.0)
    assert rows[0]["neuron_pj"] == pytest.approx(1620.0 + 1560.0)
    assert rows[0]["routing_pj"] == pytest.approx(17.0)
    assert rows[1]["total_pj"] == pytest.approx(30 * 23.6 + 8 * 81)
    assert snn_45nm_energy_pj(counts, table) == pytest.approx([90.0, 27.0])
    assert ann_45nm_energy_pj([("x", 1000), ("y", 10)], table) == pytest.approx([4600.0, 46.0])
    used = set(table.used)
    assert {"loihi1.energy.synaptic_op_pj", "cmos45nm.ac_pj", "cmos45nm.mac_pj"} <= used


def test_hops_add_east_west_energy(tmp_path) -> None:
    # one core per tile: layer a on tile (0, 0), layer b on tile (1, 0) -> one E-W hop per packet
    table = _table_copy(tmp_path, lambda d: d["loihi1"]["limits"]["cores_per_tile"].update(value=1))
    geoms = _net()
    mapping = map_network(geoms, ChipSpec.from_table(table, "loihi1"))
    rows = loihi1_energy(geoms, parse_counts(COUNTS, geoms), mapping, table)
    assert rows[0]["routing_pj"] == pytest.approx(10 * (1.7 + 3.0))


def test_table_swap_changes_results_and_citations(tmp_path) -> None:
    def edit(d):
        d["sources"]["mine"] = "My Lab, measured on silicon, 2030."
        d["loihi1"]["energy"]["synaptic_op_pj"].update(value=47.2, source="mine")
        d["cmos45nm"]["mac_pj"].update(value=9.2)

    swapped = _table_copy(tmp_path, edit)
    geoms = _net()
    counts = parse_counts(COUNTS, geoms)
    base = build_report(geoms, load_table(), counts, [("conv", 1000)])
    new = build_report(geoms, swapped, counts, [("conv", 1000)])
    assert new["energy"]["loihi1"]["layers"][0]["synaptic_pj"] == pytest.approx(
        2 * base["energy"]["loihi1"]["layers"][0]["synaptic_pj"])
    assert new["energy"]["ann_45nm"]["per_frame_uj"] == pytest.approx(2 * base["energy"]["ann_45nm"]["per_frame_uj"])
    cited = {c["key"]: c for c in new["citations"]}
    assert cited["loihi1.energy.synaptic_op_pj"]["citation"] == "My Lab, measured on silicon, 2030."


def test_bad_tables_raise_clear_errors(tmp_path) -> None:
    with pytest.raises(ValueError, match="unknown source 'nope'"):
        _table_copy(tmp_path, lambda d: d["cmos45nm"]["ac_pj"].update(source="nope")).value("cmos45nm", "ac_pj")
    with pytest.raises(ValueError, match="missing figure loihi1.energy.synaptic_op_pj"):
        _table_copy(tmp_path, lambda d: d["loihi1"]["energy"].pop("synaptic_op_pj")).value(
            "loihi1", "energy", "synaptic_op_pj")
    with pytest.raises(FileNotFoundError):
        load_table(tmp_path / "absent.yaml")


def test_latency_hand_computed() -> None:
    table, geoms = load_table(), _net()
    mapping = map_network(geoms, ChipSpec.from_table(table, "loihi1"))
    lat = loihi1_latency(geoms, parse_counts(COUNTS, geoms), mapping, table)
    # a per step on its one core: (100 x 3.5 + 20 x 8.4 + 30 x 5.3) / 10 = 67.7 ns; 2 cores in 1 tile: 113 ns barrier
    assert lat.layer_compute_ns["a"] == pytest.approx(67.7)
    assert lat.layer_compute_ns["b"] == pytest.approx((30 * 3.5 + 8 * 8.4) / 10)
    assert (lat.bottleneck_layer, lat.barrier_ns) == ("a", pytest.approx(113.0))
    assert lat.frame_latency_us == pytest.approx(10 * 180.7 / 1e3)
    assert lat.throughput_fps == pytest.approx(1e9 / 1807.0)
    assert barrier_ns(32, table) == pytest.approx(465.0)
    assert barrier_ns(200, table) == pytest.approx(465.0)
    assert barrier_ns(16, table) == pytest.approx(113 + 352 * 15 / 31)


def test_counts_validation() -> None:
    geoms = _net()
    bad = json.loads(json.dumps(COUNTS))
    bad["layers"] = bad["layers"][:1]
    with pytest.raises(ValueError, match=r"missing \['b'\]"):
        parse_counts(bad, geoms)
    bad = json.loads(json.dumps(COUNTS))
    bad["layers"][0]["synops"] = 5 * 50 + 1  # each input of a reaches its 50 neurons: at most 5 x 50 synops
    with pytest.raises(ValueError, match="layer 'a' synops 251 > in_spikes x fan_out"):
        parse_counts(bad, geoms)
    bad = json.loads(json.dumps(COUNTS))
    bad["layers"][1]["out_spikes"] = -1
    with pytest.raises(ValueError, match="layer 'b' field 'out_spikes'"):
        parse_counts(bad, geoms)
    assert parse_counts({**COUNTS, "frames": 2}, geoms).layers[0].synops == 50
    no_active = [{k: v for k, v in e.items() if k != "active_neuron_updates"} for e in COUNTS["layers"]]
    assert not parse_counts({"steps": 10, "layers": no_active}, geoms).active_known


def test_counts_from_real_emulator_match_geometry(tmp_path) -> None:
    from had_snn.conversion.emulator import LoihiEmulator
    from had_snn.conversion.random_net import random_network, random_spikes
    from had_snn.hardware.netx import write_netx
    from had_snn.hardware.resources import geometries_from_netx

    layers = random_network(1)
    write_netx(tmp_path / "net.h5", layers)
    geoms = geometries_from_netx(tmp_path / "net.h5")
    res = LoihiEmulator(layers).run(random_spikes(1, 6, 3, layers[0].shape))
    data = counts_from_emulator(res.layer_names, {k: v.numpy() for k, v in res.counts.items()})
    counts = parse_counts(data, geoms)  # names and fan-out consistency hold for the real peer's counts
    assert (data["steps"], data["frames"]) == (6, 3)
    for g, c, s in zip(geoms, counts.layers, res.spikes, strict=True):
        assert c.neuron_updates == g.n_neurons * 6
        assert c.out_spikes == pytest.approx(s.sum().item() / 3)


def test_teacher_macs_formats() -> None:
    expected = [("c1", 10), ("fc", 3)]
    assert parse_teacher_macs([["c1", 10], ["fc", 3]]) == expected
    assert parse_teacher_macs([{"name": "c1", "macs": 10}, {"name": "fc", "macs": 3}]) == expected
    assert parse_teacher_macs({"c1": 10, "fc": 3}) == expected
    with pytest.raises(ValueError, match="MACs of 'c1' must be a non-negative integer"):
        parse_teacher_macs({"c1": -1})


def test_count_macs_exact() -> None:
    import torch
    from torch import nn

    from had_snn.conversion.macs import count_macs

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(8, 8, 3, stride=2, groups=4), nn.Flatten(),
                          nn.Linear(8 * 7 * 7, 4))
    macs = count_macs(model, torch.zeros(2, 3, 16, 16))
    assert macs == [("0", 8 * 16 * 16 * 3 * 9), ("1", 8 * 7 * 7 * 2 * 9), ("3", 8 * 7 * 7 * 4)]


def test_report_files_and_cli(tmp_path, capsys) -> None:
    from had_snn.cli import main
    from had_snn.conversion.emulator import LoihiEmulator
    from had_snn.conversion.random_net import random_network, random_spikes
    from had_snn.hardware.netx import write_netx

    layers = random_network(2)
    (tmp_path / "net").mkdir()
    write_netx(tmp_path / "net" / "student.h5", layers)
    res = LoihiEmulator(layers).run(random_spikes(2, 8, 2, layers[0].shape))
    counts = counts_from_emulator(res.layer_names, {k: v.numpy() for k, v in res.counts.items()})
    (tmp_path / "counts.json").write_text(json.dumps(counts))
    (tmp_path / "macs.json").write_text(json.dumps([["conv", 2_000_000]]))
    out = tmp_path / "out"
    rc = main(["energy", str(tmp_path / "net"), "--counts", str(tmp_path / "counts.json"), "--teacher-macs",
               str(tmp_path / "macs.json"), "--fps", "25", "--out", str(out)])
    assert rc == 0
    report = json.loads((out / "report.json").read_text())
    md = (out / "report.md").read_text()
    for png in ("core_map.png", "energy_per_layer.png", "firing_rates.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    e = report["energy"]
    assert e["ann_45nm"]["per_frame_uj"] == pytest.approx(2e6 * 4.6 / 1e6)
    assert e["loihi1"]["per_second_mw"] == pytest.approx(e["loihi1"]["per_frame_uj"] * 25 / 1e3)
    # every ratio divides the student by the teacher (< 1: the student spends less)
    assert e["ratios"] == {"snn_45nm_over_ann_45nm": pytest.approx(e["snn_45nm"]["per_frame_uj"]
                                                                  / e["ann_45nm"]["per_frame_uj"]),
                           "loihi1_over_ann_45nm": pytest.approx(e["loihi1"]["per_frame_uj"]
                                                                / e["ann_45nm"]["per_frame_uj"])}
    assert "student, Loihi 1 per-op figures / teacher, 45 nm MAC (compute only): **" in md
    for c in report["citations"]:  # every figure used is cited in the markdown
        assert c["key"] in md and c["citation"] in md
    assert "loihi2" in report["mapping"] and report["latency"]["steps"] == 8
    # the same report without counts still maps the network
    assert main(["energy", str(tmp_path / "net" / "student.h5"), "--out", str(tmp_path / "o2")]) == 0
    assert json.loads((tmp_path / "o2" / "report.json").read_text())["counts"] is None
    assert main(["energy", str(tmp_path / "missing.h5"), "--out", str(out)]) == 1
    assert "network not found" in capsys.readouterr().err
    write_report(report, tmp_path / "again")  # the dict alone is enough to re-render
    assert (tmp_path / "again" / "report.md").read_text() == md


@pytest.mark.parametrize(
    ("input_steps", "steps_text", "fill_text"),
    [
        (None, "10 counted steps x", "does not say how many counted steps carried input"),
        (8, "10 steps (8 input + 2 pipeline fill) x", "included in the steps above and billed"),
        (9, "11 steps (9 input + 2 pipeline fill) x",
         "only 1 fill step(s) were counted, so the energy leaves out the operations of 1 step(s)"),
    ],
)
def test_report_says_what_the_counted_steps_hold(input_steps, steps_text, fill_text) -> None:
    """The latency spans input + pipeline fill (one step per synaptic layer: 2 here) and says so, never claiming a
    fill is left out of the billing when it was counted."""
    geoms = _net()
    data = dict(COUNTS, **({} if input_steps is None else {"input_steps": input_steps}))
    report = build_report(geoms, load_table(), parse_counts(data, geoms), None)
    lat = report["latency"]
    assert lat["pipeline_fill_steps"] == 2 and lat["steps"] == 10 and lat["input_steps"] == input_steps
    assert lat["fill_included"] is {None: None, 8: True, 9: False}[input_steps]
    from had_snn.hardware.report_markdown import markdown

    md = markdown(report)
    assert steps_text in md and fill_text in md and "not included" not in md


def test_counts_from_emulator_records_input_steps() -> None:
    arrays = {k: np.ones((2, 5, 3), np.int64) for k in ("input_spikes", "synaptic_ops", "neuron_updates",
                                                         "output_spikes")}
    data = counts_from_emulator(["a", "b"], arrays, input_steps=3)
    assert (data["steps"], data["input_steps"], data["frames"]) == (5, 3, 3)
    assert "input_steps" not in counts_from_emulator(["a", "b"], arrays)
    assert data["mode"] == counts_from_emulator(["a", "b"], arrays)["mode"] == "reset"
    # every counted step carried input (no flush): only a stream billing looks like that
    assert counts_from_emulator(["a", "b"], arrays, input_steps=5)["mode"] == "stream"
    with pytest.raises(ValueError, match="stream counts bill only each frame's input steps"):
        counts_from_emulator(["a", "b"], arrays, input_steps=3, mode="stream")
    with pytest.raises(ValueError, match=r"input_steps must be in \[1, 5\]"):
        counts_from_emulator(["a", "b"], arrays, input_steps=6)


def _frames(n_frames: int, n_steps: int, streams: int, shape, seed: int):
    import torch

    from had_snn.conversion.random_net import random_spikes

    spikes = random_spikes(seed, n_frames * n_steps, streams, shape)
    return torch.as_tensor(np.asarray(spikes)).reshape(n_frames, n_steps, streams, *shape)


def test_billing_per_mode_equals_the_emulators_counted_operations() -> None:
    """count_modes (run_aligned per frame: reset, and stream with the state carried) bills reset = each frame's T + L
    steps from the zero state, stream = the T steps each frame commits to one continuous run: both equal the
    emulator's own counters of plain runs (flushed frames; all frames concatenated)."""
    import torch

    from had_snn.conversion.emulator import LoihiEmulator
    from had_snn.conversion.random_net import random_network
    from had_snn.hardware.counts import count_modes

    layers = random_network(3)
    emu = LoihiEmulator(layers)
    n_frames, n_steps, n_layers = 3, 4, len(emu.synapses)
    frames = _frames(n_frames, n_steps, 1, layers[0].shape, seed=5)
    billed = count_modes(emu, frames)
    reset, stream = billed["reset"], billed["stream"]
    assert (reset["mode"], reset["steps"], reset["input_steps"], reset["frames"]) == (
        "reset", n_steps + n_layers, n_steps, n_frames)
    assert (stream["mode"], stream["steps"], stream["input_steps"], stream["frames"]) == (
        "stream", n_steps, n_steps, n_frames)
    fields = {"input_spikes": "in_spikes", "synaptic_ops": "synops", "neuron_updates": "neuron_updates",
              "output_spikes": "out_spikes"}
    # reset: frame k alone, from zero, with L flush steps
    expected = {k: torch.zeros(n_layers, dtype=torch.int64) for k in fields}
    for k in range(n_frames):
        res = emu.run(emu.flushed(frames[k]))
        assert res.counts["neuron_updates"].shape[1] == n_steps + n_layers
        for src in fields:
            expected[src] += res.counts[src].sum((1, 2))
    for i, layer in enumerate(reset["layers"]):
        assert {dst: layer[dst] for dst in fields.values()} == {dst: int(expected[src][i]) for src, dst in
                                                               fields.items()}
    # stream: one continuous run of all frames, no flush; frame k's share is its steps [kT, kT + T)
    run = emu.run(frames.reshape(n_frames * n_steps, 1, *layers[0].shape))
    for i, layer in enumerate(stream["layers"]):
        assert {dst: layer[dst] for dst in fields.values()} == {
            dst: int(run.counts[src][i].sum()) for src, dst in fields.items()}
    per_frame = [emu.run(frames[: k + 1].reshape((k + 1) * n_steps, 1, *layers[0].shape)).counts["synaptic_ops"]
                 for k in range(n_frames)]
    assert torch.equal(per_frame[-1][:, n_steps:2 * n_steps], run.counts["synaptic_ops"][:, n_steps:2 * n_steps])
    assert reset["layers"][0]["neuron_updates"] == layers[1].num_neurons * (n_steps + n_layers) * n_frames
    assert stream["layers"][0]["neuron_updates"] == layers[1].num_neurons * n_steps * n_frames


def test_stream_frame_counts_split_a_continuous_run() -> None:
    from had_snn.hardware.counts import stream_frame_counts

    arr = np.arange(2 * 6 * 2).reshape(2, 6, 2)  # 2 layers, 3 frames of 2 steps, 2 streams
    out = stream_frame_counts({"synaptic_ops": arr}, 2)["synaptic_ops"]
    assert out.shape == (2, 2, 6) and out.sum() == arr.sum()
    assert np.array_equal(out[:, :, 1 * 3 + 2], arr[:, 4:6, 1])  # stream 1, frame 2
    with pytest.raises(ValueError, match="frames x 4 steps"):
        stream_frame_counts({"synaptic_ops": arr}, 4)


def test_report_bills_both_modes_side_by_side(tmp_path, capsys) -> None:
    """Latency is T + L steps in both modes; throughput one frame per T + L (reset) or T (stream) steps; the report
    says the chip runs streaming; the CLI's --mode picks, refuses a mode without counts and a mode given twice."""
    from had_snn.cli import main
    from had_snn.conversion.emulator import LoihiEmulator
    from had_snn.conversion.random_net import random_network
    from had_snn.hardware.counts import count_modes
    from had_snn.hardware.netx import write_netx
    from had_snn.hardware.report_markdown import markdown

    layers = random_network(4)
    write_netx(tmp_path / "net.h5", layers)
    emu = LoihiEmulator(layers)
    n_steps, fill = 5, emu.fill_steps
    billed = count_modes(emu, _frames(3, n_steps, 2, layers[0].shape, seed=9))
    for mode, data in billed.items():
        (tmp_path / f"{mode}.json").write_text(json.dumps(data))
    out = tmp_path / "out"
    assert main(["energy", str(tmp_path / "net.h5"), "--counts", str(tmp_path / "reset.json"),
                 str(tmp_path / "stream.json"), "--teacher-macs", str(tmp_path / "macs.json"), "--out", str(out)]) == 1
    (tmp_path / "macs.json").write_text(json.dumps([["conv", 1000]]))
    assert main(["energy", str(tmp_path / "net.h5"), "--counts", str(tmp_path / "reset.json"),
                 str(tmp_path / "stream.json"), "--teacher-macs", str(tmp_path / "macs.json"), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "reset mode" in printed and "stream mode (the chip's mode)" in printed
    report = json.loads((out / "report.json").read_text())
    reset, stream = report["modes"]["reset"]["latency"], report["modes"]["stream"]["latency"]
    assert (reset["steps"], reset["latency_steps"], reset["period_steps"]) == (n_steps + fill, n_steps + fill,
                                                                               n_steps + fill)
    assert (stream["steps"], stream["latency_steps"], stream["period_steps"]) == (n_steps, n_steps + fill, n_steps)
    for lat in (reset, stream):
        assert lat["frame_latency_us"] == pytest.approx(lat["latency_steps"] * lat["step_ns"] / 1e3)
        assert lat["throughput_fps"] == pytest.approx(1e9 / (lat["period_steps"] * lat["step_ns"]))
    assert report["chip_mode"] == report["mode"] == "stream" and report["latency"] == stream
    e_reset = report["modes"]["reset"]["energy"]["loihi1"]["per_frame_uj"]
    e_stream = report["modes"]["stream"]["energy"]["loihi1"]["per_frame_uj"]
    assert e_stream < e_reset  # L fewer neuron-update steps per frame
    md = (out / "report.md").read_text()
    assert "| per frame | reset mode | stream mode |" in md and "The chip would run **stream** mode" in md
    assert "## Latency (Loihi 1, reset mode)" in md and "## Latency (Loihi 1, stream mode)" in md
    # one mode only: --mode stream with reset counts is refused; both with one file lists the other as not counted
    assert main(["energy", str(tmp_path / "net.h5"), "--counts", str(tmp_path / "reset.json"), "--mode", "stream",
                 "--out", str(tmp_path / "o2")]) == 1
    assert "--mode stream: no stream counts" in capsys.readouterr().err
    assert main(["energy", str(tmp_path / "net.h5"), "--counts", str(tmp_path / "reset.json"), str(tmp_path /
                 "reset.json"), "--out", str(tmp_path / "o3")]) == 1
    assert "both 'reset' counts" in capsys.readouterr().err
    assert main(["energy", str(tmp_path / "net.h5"), "--counts", str(tmp_path / "reset.json"),
                 "--out", str(tmp_path / "o4")]) == 0
    only = json.loads((tmp_path / "o4" / "report.json").read_text())
    assert list(only["modes"]) == ["reset"] and only["modes_not_counted"] == ["stream"] and only["mode"] == "reset"
    assert "stream mode: not counted" in markdown(only)
    picked = build_report(geometries(tmp_path / "net.h5"), load_table(),
                          [parse_counts(billed[m], geometries(tmp_path / "net.h5")) for m in billed], None,
                          modes=("reset",))
    assert list(picked["modes"]) == ["reset"] and picked["modes_not_counted"] == []


def geometries(path):
    from had_snn.hardware.resources import geometries_from_netx

    return geometries_from_netx(path)


def test_stream_counts_file_validation() -> None:
    geoms = _net()
    assert parse_counts({**COUNTS, "mode": "stream"}, geoms).input_steps == 10
    with pytest.raises(ValueError, match="'mode' must be one of"):
        parse_counts({**COUNTS, "mode": "burst"}, geoms)
    with pytest.raises(ValueError, match=r"'steps' \(10\) must equal 'input_steps' \(8\)"):
        parse_counts({**COUNTS, "mode": "stream", "input_steps": 8}, geoms)


def test_energy_input_counts_the_windows_in_both_modes(tmp_path, capsys) -> None:
    """``had-snn energy NET --input WINDOWS.npz`` bills the B windows as consecutive frames of one stream, in both
    modes, exactly as count_modes does, and writes the counts files it used."""
    import torch

    from had_snn.cli import main
    from had_snn.conversion.emulator import LoihiEmulator
    from had_snn.conversion.random_net import random_network
    from had_snn.hardware.counts import count_modes
    from had_snn.hardware.netx import write_netx

    layers = random_network(6)
    write_netx(tmp_path / "net.h5", layers)
    frames = _frames(3, 4, 1, layers[0].shape, seed=3)  # (F, T, 1, C, H, W)
    np.savez(tmp_path / "win.npz", search_spikes=frames[:, :, 0].permute(1, 0, 2, 3, 4).numpy().astype(np.uint8))
    out = tmp_path / "en"
    assert main(["energy", str(tmp_path / "net.h5"), "--input", str(tmp_path / "win.npz"), "--out", str(out)]) == 0
    expected = count_modes(LoihiEmulator(layers), torch.as_tensor(frames))
    for mode in ("reset", "stream"):
        assert json.loads((out / f"counts_{mode}.json").read_text()) == expected[mode]
    report = json.loads((out / "report.json").read_text())
    assert set(report["modes"]) == {"reset", "stream"} and report["modes"]["stream"]["latency"]["period_steps"] == 4
    assert main(["energy", str(tmp_path / "net.h5"), "--input", str(tmp_path / "win.npz"), "--mode", "reset",
                 "--out", str(tmp_path / "r")]) == 0
    assert not (tmp_path / "r" / "counts_stream.json").exists()
    capsys.readouterr()
    assert main(["energy", str(tmp_path / "net.h5"), "--input", str(tmp_path / "win.npz"), "--counts",
                 str(out / "counts_reset.json"), "--out", str(tmp_path / "x")]) == 1
    assert "--input and --counts: give one" in capsys.readouterr().err


def test_teacher_memory_traffic_hand_counted() -> None:
    """count_traffic counts per layer call (per sample) the parameters read, the input read and the output written,
    in the same hook pass as the MACs; ann_memory_energy_pj bills them in 64-bit accesses of 32-bit values from the
    smallest memory of the table holding each tensor."""
    import torch
    from torch import nn

    from had_snn.conversion.macs import count_macs, count_traffic
    from had_snn.hardware.counts import LayerTraffic
    from had_snn.hardware.energy import ann_memory_energy_pj, memory_level

    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 16 * 16, 5))
    traffic = count_traffic(model, torch.zeros(2, 3, 16, 16))
    assert traffic == [LayerTraffic("0", macs=8 * 256 * 27, weights=8 * 27 + 8, in_acts=3 * 256, out_acts=8 * 256),
                       LayerTraffic("3", macs=5 * 2048, weights=5 * 2048 + 5, in_acts=2048, out_acts=5)]
    assert [(t.name, t.macs) for t in traffic] == count_macs(model, torch.zeros(2, 3, 16, 16))
    assert [memory_level(b) for b in (8192, 8193, 32768, 32769, 1 << 20, (1 << 20) + 1)] == [
        "sram_8kb_64bit_pj", "sram_32kb_64bit_pj", "sram_32kb_64bit_pj", "sram_1mb_64bit_pj", "sram_1mb_64bit_pj",
        "dram_64bit_pj"]
    table = load_table()
    rows = ann_memory_energy_pj(traffic, table)
    # conv: 224 weights = 896 B (8 KB class): 112 accesses x 10 pJ; input 768 values = 3072 B: 384 x 10 pJ;
    # output 2048 values = 8192 B: still 8 KB, 1024 x 10 pJ
    assert (rows[0]["weight_accesses"], rows[0]["act_read_accesses"], rows[0]["act_write_accesses"]) == (112, 384,
                                                                                                          1024)
    assert rows[0]["memory_pj"] == pytest.approx((112 + 384 + 1024) * 10.0)
    assert rows[0]["mac_pj"] == pytest.approx(8 * 256 * 27 * 4.6)
    # linear: 10245 weights = 40980 B (1 MB class): 5123 accesses (the last one half used) x 100 pJ; input 8192 B
    # (8 KB) 1024 x 10 pJ; output 20 B: 3 accesses x 10 pJ
    assert rows[1]["weight_level"] == "sram_1mb_64bit_pj" and rows[1]["weight_accesses"] == 5123
    assert rows[1]["memory_pj"] == pytest.approx(5123 * 100.0 + 1024 * 10.0 + 3 * 10.0)
    assert rows[1]["total_pj"] == pytest.approx(rows[1]["memory_pj"] + 5 * 2048 * 4.6)
    big = ann_memory_energy_pj([LayerTraffic("big", 0, 300_000, 0, 0)], table)[0]  # 1.2 MB of weights: DRAM
    assert big["weight_level"] == "dram_64bit_pj" and big["weight_pj"] == pytest.approx(150_000 * 1950.0)
    assert {"cmos45nm.memory.sram_8kb_64bit_pj", "cmos45nm.memory.sram_1mb_64bit_pj",
            "cmos45nm.memory.dram_64bit_pj"} <= set(table.used)
    assert all(table.used[k].uncertain for k in table.used if k.startswith("cmos45nm.memory"))


def test_int8_precision_bills_both_sides_in_8_bit_arithmetic() -> None:
    """--precision int8: an int8 MAC (8-bit multiply + 32-bit add, 0.3 pJ) for the teacher, a 32-bit integer add
    (0.1 pJ) per synaptic op for the student, and the teacher's values 8 bits wide in memory (4x fewer accesses);
    Loihi 1 is billed as before. Each figure is cited; an unknown precision is refused."""
    from had_snn.hardware.counts import LayerTraffic
    from had_snn.hardware.energy import ann_memory_energy_pj

    table = load_table()
    assert ann_45nm_energy_pj([("x", 1000)], table, "int8") == pytest.approx([300.0])
    counts = parse_counts(COUNTS, _net())
    assert snn_45nm_energy_pj(counts, table, "int8") == pytest.approx([10.0, 3.0])  # 100 and 30 synops x 0.1 pJ
    layer = [LayerTraffic("c", 1000, 224, 768, 2048)]
    fp32, int8 = ann_memory_energy_pj(layer, table)[0], ann_memory_energy_pj(layer, table, "int8")[0]
    assert (int8["weight_accesses"], int8["act_read_accesses"], int8["act_write_accesses"]) == (28, 96, 256)
    assert fp32["weight_accesses"] == 4 * int8["weight_accesses"] and int8["mac_pj"] == pytest.approx(300.0)
    assert table.used["cmos45nm.mac_int8_pj"].source == "horowitz2014"
    geoms = _net()
    base = build_report(geoms, table, _two_mode_counts(geoms), None, teacher_traffic=_traffic())
    small = build_report(geoms, table, _two_mode_counts(geoms), None, teacher_traffic=_traffic(), precision="int8")
    assert small["precision"] == "int8" and base["precision"] == "fp32"
    assert small["energy"]["loihi1"] == base["energy"]["loihi1"]
    assert small["energy"]["ann_45nm"]["per_frame_uj"] == pytest.approx(base["energy"]["ann_45nm"]["per_frame_uj"]
                                                                        * 0.3 / 4.6)
    assert small["explanation"]["numbers"]["e_mac_pj"] == 0.3 and "45 nm model at int8" in markdown(small)
    with pytest.raises(ValueError, match="precision must be one of"):
        build_report(geoms, table, _two_mode_counts(geoms), None, precision="int4")


def test_teacher_traffic_file_validation() -> None:
    from had_snn.hardware.counts import LayerTraffic, parse_teacher_traffic

    good = [{"name": "c", "macs": 10, "weights": 3, "in_acts": 4, "out_acts": 5}]
    assert parse_teacher_traffic(good) == [LayerTraffic("c", 10, 3, 4, 5)]
    with pytest.raises(ValueError, match="layer 'c' field 'weights' must be a non-negative integer"):
        parse_teacher_traffic([{**good[0], "weights": -1}])
    with pytest.raises(ValueError, match="expected a non-empty list"):
        parse_teacher_traffic({"c": 10})


def _traffic():
    from had_snn.hardware.counts import LayerTraffic

    return [LayerTraffic("c1", 1000, 30, 100, 200), LayerTraffic("fc", 50, 60, 200, 5)]


def _two_mode_counts(geoms):
    """Reset (8 input + 2 fill steps) and stream (8 steps) counts of _net(): every neuron (50 + 8) updated each step."""
    def layers(steps):
        return [dict(e, neuron_updates=n * steps, active_neuron_updates=e["active_neuron_updates"])
                for e, n in zip(COUNTS["layers"], (50, 8), strict=True)]

    reset = dict(COUNTS, input_steps=8, layers=layers(10))
    stream = dict(COUNTS, steps=8, mode="stream", layers=layers(8))
    return [parse_counts(reset, geoms), parse_counts(stream, geoms)]


def test_report_teacher_with_memory_comparisons_and_headline() -> None:
    """The teacher is billed compute-only and with memory access; the like-for-like table pairs Loihi 1 with MAC +
    memory (yes) and with compute-only MACs (no), 45 nm AC with 45 nm MACs (yes); the headline is like for like:
    student Loihi 1 (stream) / teacher with memory access against 1/10, and 45 nm AC / 45 nm MACs against 1/100;
    without the teacher's traffic the Loihi 1 headline falls back to compute-only MACs and says it is not like for
    like. Loihi 2 is not billed and the report says so."""
    from had_snn.hardware.report_markdown import markdown

    geoms, table = _net(), load_table()
    report = build_report(geoms, table, _two_mode_counts(geoms), None, teacher_traffic=_traffic())
    e = report["energy"]
    assert e["ann_45nm"]["per_frame_uj"] == pytest.approx(1050 * 4.6 / 1e6)
    mem = e["ann_45nm_memory"]
    # c1: 30 + 100 + 200 values = 15 + 50 + 100 accesses; fc: 60 + 200 + 5 values = 30 + 100 + 3 accesses; all 8 KB
    assert mem["memory_uj"] == pytest.approx((165 + 133) * 10.0 / 1e6)
    assert mem["per_frame_uj"] == pytest.approx(mem["compute_uj"] + mem["memory_uj"])
    assert mem["compute_uj"] == pytest.approx(e["ann_45nm"]["per_frame_uj"])
    head = report["headline"]
    assert head["mode"] == report["mode"] == "stream"
    assert head["loihi1"]["ratio"] == pytest.approx(e["loihi1"]["per_frame_uj"] / mem["per_frame_uj"])
    assert head["loihi1"]["ratio"] == pytest.approx(e["ratios"]["loihi1_over_ann_45nm_memory"])
    assert head["loihi1"]["like_for_like"] and head["snn_45nm"]["like_for_like"]
    assert head["snn_45nm"]["ratio"] == pytest.approx(e["ratios"]["snn_45nm_over_ann_45nm"])
    compute_only = build_report(geoms, table, _two_mode_counts(geoms), [("c1", 1050)])["headline"]["loihi1"]
    assert compute_only["teacher_model"] == "ann_45nm" and not compute_only["like_for_like"]
    assert (head["loihi1"]["target"], head["snn_45nm"]["target"]) == (0.1, 0.01)
    assert head["loihi1"]["meets_target"] is (head["loihi1"]["ratio"] <= 0.1)
    like = {(c["student_model"], c["teacher_model"]): c["like_for_like"] for c in report["comparisons"]}
    assert like == {("loihi1", "ann_45nm_memory"): True, ("loihi1", "ann_45nm"): False,
                    ("snn_45nm", "ann_45nm"): True, ("snn_45nm", "ann_45nm_memory"): False}
    for c in report["comparisons"]:
        assert c["student_over_teacher"] == pytest.approx(e[c["student_model"]]["per_frame_uj"]
                                                          / e[c["teacher_model"]]["per_frame_uj"])
    assert report["loihi2_energy"]["published"] is False
    md = markdown(report)
    assert "Loihi 2 per-operation energies are not published" in md
    assert "| student | teacher | student (uJ) | teacher (uJ) | student / teacher | like for like? | why |" in md
    assert "45 nm MACs + memory access (ANN)" in md and {"loihi2.energy.synaptic_op_pj",
                                                         "loihi2.energy.neuron_update_pj"} <= set(table.used)
    # compute-only MACs alone: no memory row, no like-for-like Loihi 1 row, and the report says what is missing
    only = build_report(geoms, load_table(), _two_mode_counts(geoms), [("c1", 1000), ("fc", 50)])
    assert "ann_45nm_memory" not in only["energy"]
    assert [(c["student_model"], c["teacher_model"]) for c in only["comparisons"]] == [("loihi1", "ann_45nm"),
                                                                                      ("snn_45nm", "ann_45nm")]
    assert "Teacher with memory access not billed" in markdown(only)
    with pytest.raises(ValueError, match="teacher MACs and teacher traffic disagree"):
        build_report(geoms, load_table(), None, [("c1", 1)], teacher_traffic=_traffic())


def test_explaining_paragraph_quotes_the_reports_numbers() -> None:
    """Every number the paragraph quotes is the report's own (Loihi 1 split into neuron updates, synaptic ops and
    routing; the streaming saving; the 45 nm AC energy; the teacher figures) and appears in the text as rendered."""
    from had_snn.hardware.report import _fmt
    from had_snn.hardware.report_markdown import markdown

    geoms = _net()
    report = build_report(geoms, load_table(), _two_mode_counts(geoms), None, teacher_traffic=_traffic())
    ex, e = report["explanation"], report["energy"]
    num, text = ex["numbers"], ex["text"]
    rows = e["loihi1"]["layers"]
    assert num["loihi1_uj"] == pytest.approx(e["loihi1"]["per_frame_uj"])
    assert num["neuron_uj"] == pytest.approx(sum(r["neuron_pj"] for r in rows) / 1e6)
    assert num["synaptic_uj"] == pytest.approx(sum(r["synaptic_pj"] for r in rows) / 1e6)
    assert num["neuron_uj"] + num["synaptic_uj"] + num["routing_uj"] == pytest.approx(num["loihi1_uj"])
    assert num["neuron_updates"] == 58 * 8 == num["neurons"] * num["steps"]  # 50 + 8 neurons, 8 stream steps
    assert num["loihi1_reset_uj"] == pytest.approx(report["modes"]["reset"]["energy"]["loihi1"]["per_frame_uj"])
    assert num["snn_45nm_uj"] == pytest.approx(130 * 0.9 / 1e6) == pytest.approx(e["snn_45nm"]["per_frame_uj"])
    assert num["teacher_mac_uj"] == pytest.approx(e["ann_45nm"]["per_frame_uj"]) and num["teacher_macs"] == 1050
    assert num["teacher_memory_uj"] == pytest.approx(e["ann_45nm_memory"]["per_frame_uj"])
    assert num["top_synaptic_layers"][0][0] == "a"  # 100 of the 130 synaptic ops
    for key in ("loihi1_uj", "neuron_uj", "synaptic_uj", "routing_uj", "snn_45nm_uj", "teacher_mac_uj",
                "teacher_memory_uj", "loihi1_reset_uj"):
        assert _fmt(num[key]) in text, key
    assert _fmt(num["loihi1_reset_uj"] - num["loihi1_uj"]) in text
    assert f"{num['loihi1_over_teacher_mac']:.3g}x" in text and f"{num['snn_45nm_over_teacher_mac']:.3g}x" in text
    assert "58 neurons x 8 steps = 464 updates" in text and "loses against the teacher's compute-only MACs" in text
    assert f"{num['synops_per_mac']:.0%}" in text and num["synops_per_mac"] == pytest.approx(130 / 1050)
    assert num["idle_floor_uj"] == pytest.approx(58 * 8 * 52 / 1e6) and _fmt(num["idle_floor_uj"]) in text
    # the goal applies to the headline, like for like: the teacher with memory access
    assert num["target_uj"] == pytest.approx(0.1 * num["teacher_memory_uj"])
    assert (f"{num['idle_floor_uj'] / num['teacher_mac_uj']:.3g}x the teacher's MACs: above this project's goal "
            f"({_fmt(num['target_uj'])} uJ), so the goal needs fewer neurons or steps") in text
    assert "the like-for-like headline, this project's goal 0.1x" in text
    assert text in markdown(report)


def test_loihi2_energies_from_a_table_that_gives_them(tmp_path) -> None:
    from had_snn.hardware.energy import loihi2_energy_published

    def edit(d):
        d["loihi2"]["energy"]["synaptic_op_pj"].update(value=10.0, uncertain=True)
        d["loihi2"]["energy"]["neuron_update_pj"].update(value=20.0, uncertain=True)

    assert loihi2_energy_published(_table_copy(tmp_path, edit))
    assert not loihi2_energy_published(load_table())


def test_energy_cli_bills_the_teacher_with_memory(tmp_path, capsys) -> None:
    """``had-snn energy --teacher CKPT`` counts the teacher's MACs and traffic in one pass (teacher_macs.json,
    teacher_traffic.json), prints compute-only and memory rows, the headline and the like-for-like rows;
    ``--teacher-traffic`` reads the traffic file back to the same report."""
    from had_snn.cli import main
    from had_snn.conversion.emulator import LoihiEmulator
    from had_snn.conversion.random_net import random_network
    from had_snn.hardware.counts import count_modes
    from had_snn.hardware.netx import write_netx
    from had_snn.models import build_model
    from had_snn.models.checkpoint import model_state, save_checkpoint

    layers = random_network(7)
    write_netx(tmp_path / "net.h5", layers)
    billed = count_modes(LoihiEmulator(layers), _frames(2, 4, 1, layers[0].shape, seed=1))
    for mode, data in billed.items():
        (tmp_path / f"{mode}.json").write_text(json.dumps(data))
    save_checkpoint(tmp_path / "t.pt", model_state(build_model("teacher", widths=(4, 8, 8))))
    out = tmp_path / "en"
    counts = ["--counts", str(tmp_path / "reset.json"), str(tmp_path / "stream.json")]
    capsys.readouterr()
    assert main(["energy", str(tmp_path / "net.h5"), *counts, "--teacher", str(tmp_path / "t.pt"), "--out",
                 str(out)]) == 0
    printed = capsys.readouterr().out
    macs = json.loads((out / "teacher_macs.json").read_text())
    traffic = json.loads((out / "teacher_traffic.json").read_text())
    assert [[t["name"], t["macs"]] for t in traffic] == macs and traffic[-1]["name"] == "xcorr"
    report = json.loads((out / "report.json").read_text())
    e = report["energy"]
    assert e["ann_45nm"]["per_frame_uj"] == pytest.approx(4.6e-6 * sum(m for _, m in macs))
    assert e["ann_45nm_memory"]["memory_uj"] > 0
    for line in ("teacher, 45 nm MACs (compute only, fp32):", "teacher, 45 nm MACs + memory access:",
                 "headline (stream mode): student, Loihi 1 per-op figures / teacher, 45 nm MAC + memory access =",
                 "student, Loihi 1 per-op figures vs teacher, 45 nm MAC + memory access:",
                 "(like for like)", "Loihi 2 per-operation energies are not published"):
        assert line in printed, line
    again = tmp_path / "again"
    assert main(["energy", str(tmp_path / "net.h5"), *counts, "--teacher-traffic", str(out / "teacher_traffic.json"),
                 "--out", str(again)]) == 0
    assert json.loads((again / "report.json").read_text())["energy"]["ann_45nm_memory"] == e["ann_45nm_memory"]
    (tmp_path / "bad.json").write_text(json.dumps([{"name": "c", "macs": 1}]))
    capsys.readouterr()
    assert main(["energy", str(tmp_path / "net.h5"), "--teacher-traffic", str(tmp_path / "bad.json"), "--out",
                 str(tmp_path / "b")]) == 1
    assert "layer 'c' field 'weights' must be a non-negative integer" in capsys.readouterr().err


def test_paragraph_idle_floor_below_the_target(tmp_path) -> None:
    """When the idle neuron updates fit under 1/10 of the teacher, the paragraph says how much is left for synaptic
    ops and routing and how far they are from it."""
    from had_snn.hardware.report import _fmt

    table = _table_copy(tmp_path, lambda d: d["cmos45nm"]["mac_pj"].update(value=1000.0))
    geoms = _net()
    report = build_report(geoms, table, _two_mode_counts(geoms), None, teacher_traffic=_traffic())
    num, text = report["explanation"]["numbers"], report["explanation"]["text"]
    teacher_uj = report["energy"]["ann_45nm_memory"]["per_frame_uj"]  # the headline's teacher: with memory access
    assert num["target_uj"] == pytest.approx(0.1 * teacher_uj) and num["idle_floor_uj"] < num["target_uj"]
    room = num["target_uj"] - num["idle_floor_uj"]
    assert f"below this project's goal ({_fmt(num['target_uj'])} uJ), leaving {_fmt(room)} uJ for synaptic" in text
    assert _fmt(num["synaptic_uj"] + num["routing_uj"]) in text
