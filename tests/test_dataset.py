"""Benchmark layout: index.json round trip and errors, `had-snn synth` (with resume) and `had-snn show`."""

from __future__ import annotations

import json

import numpy as np
import pytest

from had_snn.cli import main
from had_snn.data.dataset import load_split, read_index, split_paths, write_index
from had_snn.data.io import read_sequence

SYNTH_ARGS = ["--sequences", "3", "--seed", "11", "--size", "32x24", "--duration-s", "0.2", "--split-fractions",
              "1,1,1"]


def _entry(split: str, name: str) -> dict:
    return {"split": split, "attributes": ["hdr"], "file": f"{split}/{name}.h5", "num_frames": 5, "num_events": 42}


def test_index_round_trip(tmp_path) -> None:
    splits = {"train": ["a", "b"], "val": ["c"], "test": []}
    seqs = {"a": _entry("train", "a"), "b": _entry("train", "b"), "c": _entry("val", "c")}
    path = write_index(tmp_path, splits=splits, sequences=seqs, generator={"seed": 3})
    assert path == tmp_path / "index.json"
    index = read_index(tmp_path)
    assert index == {"format": 1, "generator": {"seed": 3}, "splits": splits, "sequences": seqs}
    assert split_paths(tmp_path, "train") == [tmp_path / "train/a.h5", tmp_path / "train/b.h5"]
    assert split_paths(tmp_path, "test") == []
    with pytest.raises(ValueError, match="no split 'dev'.*available"):
        split_paths(tmp_path, "dev")
    assert not list(tmp_path.glob(".*tmp"))  # atomic write left no temporary file


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.update(format=2), "format"),
        (lambda d: d.pop("splits"), "'splits' missing"),
        (lambda d: d["splits"]["train"].append("ghost"), "'ghost', which is not in 'sequences'"),
        (lambda d: d["sequences"]["a"].pop("num_events"), r"\['a'\]\['num_events'\]"),
        (lambda d: d["sequences"]["a"].update(split="val"), "entry says 'val'"),
        (lambda d: d["sequences"]["a"].update(file="../a.h5"), "inside the root"),
        (lambda d: d["splits"].update(val=["a"]), "entry says 'train'"),
    ],
)
def test_read_index_rejects_malformed(tmp_path, mutate, message) -> None:
    index = {"format": 1, "generator": {}, "splits": {"train": ["a"]}, "sequences": {"a": _entry("train", "a")}}
    mutate(index)
    (tmp_path / "index.json").write_text(json.dumps(index))
    with pytest.raises(ValueError, match=message):
        read_index(tmp_path)


def test_read_index_missing_and_invalid_json(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="index.json"):
        read_index(tmp_path)
    (tmp_path / "index.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        read_index(tmp_path)
    with pytest.raises(ValueError, match="not listed in any split"):
        write_index(tmp_path, splits={"train": []}, sequences={"a": _entry("train", "a")}, generator={})


def test_synth_writes_a_resumable_benchmark(tmp_path, capsys) -> None:
    out = tmp_path / "bench"
    assert main(["synth", "--out", str(out), *SYNTH_ARGS]) == 0
    assert "3 generated, 0 reused" in capsys.readouterr().out
    index = read_index(out)
    assert {k: len(v) for k, v in index["splits"].items()} == {"train": 1, "val": 1, "test": 1}
    assert index["generator"]["config"]["width_px"] == 32 and index["generator"]["seed"] == 11
    for split in ("train", "val", "test"):
        (seq,) = load_split(out, split, load_frames=False)
        entry = index["sequences"][seq.name]
        assert seq.frames is None and list(seq.attributes) == entry["attributes"]
        assert len(seq.events) == entry["num_events"] > 0 and seq.num_frames == entry["num_frames"] == 6
    train = split_paths(out, "train")[0]
    before = read_sequence(train)
    # corrupt one file and delete another: a rerun regenerates exactly those two, identically
    val = split_paths(out, "val")[0]
    val.write_bytes(val.read_bytes()[:200])
    split_paths(out, "test")[0].unlink()
    assert main(["synth", "--out", str(out), *SYNTH_ARGS]) == 0
    assert "2 generated, 1 reused" in capsys.readouterr().out
    assert read_index(out) == index
    assert len(read_sequence(val).events) == index["sequences"][val.stem]["num_events"]
    np.testing.assert_array_equal(read_sequence(train).events, before.events)
    # a different generator config is refused without --force, and with it everything is regenerated
    assert main(["synth", "--out", str(out), *SYNTH_ARGS, "--fps", "25"]) == 1
    assert "made with other settings: config.fps 30.0 (now 25.0)" in capsys.readouterr().err
    assert main(["synth", "--out", str(out), *SYNTH_ARGS, "--fps", "25", "--force"]) == 0
    assert "3 generated, 0 reused" in capsys.readouterr().out
    assert not [p for p in out.rglob("*") if "tmp" in p.name]


def test_synth_and_show_report_bad_input(tmp_path, capsys) -> None:
    assert main(["synth", "--out", str(tmp_path), "--sequences", "0"]) == 1
    assert "number of sequences must be >= 1" in capsys.readouterr().err
    assert main(["show", str(tmp_path / "missing.h5")]) == 1
    assert "no such file" in capsys.readouterr().err


def test_show_writes_a_png(tmp_path) -> None:
    from matplotlib.image import imread

    from had_snn.data.io import write_sequence
    from had_snn.data.plots import plot_frame_and_events
    from had_snn.data.synthetic import SynthConfig, generate_sequence

    seq = generate_sequence(SynthConfig(width_px=32, height_px=24, duration_s=0.2), 1, ("distractor",), "s")
    path = tmp_path / "s.h5"
    write_sequence(path, seq)
    assert main(["show", str(path), "--frame", "3", "--out", str(tmp_path / "s.png")]) == 0
    img = imread(tmp_path / "s.png")
    assert img.ndim == 3 and img.shape[1] > img.shape[0] > 100 and img.std() > 0.05
    assert main(["show", str(path)]) == 0  # default: middle frame next to the sequence
    assert (tmp_path / "s_frame3.png").is_file()
    assert main(["show", str(path), "--frame", "99"]) == 1

    fig = plot_frame_and_events(seq, 1, pred_box=seq.boxes[1] + [2, 1, 0, 0])
    ax_rgb, ax_ev = fig.axes
    assert len(ax_rgb.patches) == 2 and len(ax_ev.patches) == 2  # GT and prediction on both panels
    assert ax_rgb.patches[0].get_xy() == tuple(seq.boxes[1][:2].astype(float))
    shown = ax_ev.images[0].get_array()
    t1 = int(seq.frame_t_us[1])
    period = int(np.median(np.diff(seq.frame_t_us)))
    window = seq.events[(seq.events["t"] >= t1 - period) & (seq.events["t"] < t1)]
    assert float(np.abs(shown).sum()) <= len(window) and float(np.abs(shown).sum()) > 0


def test_write_benchmark_writes_what_load_split_reads(tmp_path) -> None:
    from had_snn.data.dataset import write_benchmark
    from had_snn.data.events import EVENT_DTYPE
    from had_snn.data.sequence import Sequence

    def seq(name: str, n_events: int) -> Sequence:
        ev = np.zeros(n_events, EVENT_DTYPE)
        ev["t"], ev["x"], ev["y"] = np.arange(n_events) * 100, np.arange(n_events) % 32, 5
        boxes = np.tile(np.array([[4.0, 2.0, 6.0, 6.0]], np.float32), (3, 1))
        return Sequence(name, ev, (32, 24), np.array([0, 1000, 2000]), boxes, attributes=("occlusion",))

    index = write_benchmark(tmp_path / "d", {"train": [seq("a", 10), seq("b", 20)], "test": [seq("c", 30)]}, "mine")
    meta = json.loads(index.read_text())
    assert meta["generator"] == {"source": "mine"} and meta["splits"] == {"train": ["a", "b"], "test": ["c"]}
    assert meta["sequences"]["c"] == {"split": "test", "attributes": ["occlusion"], "file": "test/c.h5",
                                      "num_frames": 3, "num_events": 30}
    (back,) = load_split(tmp_path / "d", "test", load_frames=False)
    assert back.name == "c" and len(back.events) == 30 and back.sensor_size == (32, 24)
    with pytest.raises(ValueError, match=r"names \['a'\] appear more than once"):
        write_benchmark(tmp_path / "e", {"train": [seq("a", 5)], "test": [seq("a", 5)]}, "mine")
