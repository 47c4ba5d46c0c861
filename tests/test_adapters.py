"""Dataset adapters on small fixtures built in each dataset's real layout; aedat4 IO; convert-dataset round trip."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from had_snn.data.datasets import ADAPTERS, get_adapter, open_dataset, read_boxes
from had_snn.data.events import make_events

pytest.importorskip("dv_processing", reason="needs the aedat extra (pip install had-snn[aedat])")
from PIL import Image  # noqa: E402

from had_snn.data.aedat import read_aedat4, write_aedat4  # noqa: E402

DAVIS = (346, 260)


def recording(seed: int, n_frames: int, size=DAVIS, events_per_frame: int = 50):
    """Sorted events spread over n_frames frame intervals, random RGB frames, frame times every 20 ms."""
    rng = np.random.default_rng(seed)
    w, h = size
    frame_t = 1_000_000 + 20_000 * np.arange(1, n_frames + 1, dtype=np.int64)
    n = events_per_frame * n_frames
    t = np.sort(rng.integers(1_000_000, frame_t[-1] + 1, n))
    ev = make_events(rng.integers(0, w, n), rng.integers(0, h, n), t, rng.integers(0, 2, n))
    frames = rng.integers(0, 256, (n_frames, h, w, 3), dtype=np.uint8)
    return ev, frames, frame_t


def boxes_for(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    xy = rng.uniform(10, 200, (n, 2)).round(1)
    wh = rng.uniform(10, 50, (n, 2)).round(1)
    return np.hstack([xy, wh])


def write_gt(path: Path, boxes: np.ndarray, sep: str = ",") -> None:
    path.write_text("\n".join(sep.join(f"{v:g}" for v in row) for row in boxes) + "\n")


def write_images(folder: Path, frames: np.ndarray, pattern: str) -> None:
    folder.mkdir(parents=True)
    for k, img in enumerate(frames):
        Image.fromarray(img).save(folder / pattern.format(k + 1))


# ------------------------------------------------------------------------------------------------ aedat4


def test_aedat4_round_trip(tmp_path: Path) -> None:
    ev, frames, frame_t = recording(0, 3)
    write_aedat4(tmp_path / "r.aedat4", ev, DAVIS, frames, frame_t)
    ev2, frames2, t2, size = read_aedat4(tmp_path / "r.aedat4")
    assert size == DAVIS
    np.testing.assert_array_equal(ev2, ev)
    np.testing.assert_array_equal(frames2, frames)
    np.testing.assert_array_equal(t2, frame_t)
    write_aedat4(tmp_path / "e.aedat4", ev[:5], (640, 480))
    ev3, frames3, t3, size3 = read_aedat4(tmp_path / "e.aedat4")
    assert frames3 is None and len(t3) == 0 and size3 == (640, 480) and len(ev3) == 5
    assert not list(tmp_path.glob("*.tmp-*")), "temporary files must be renamed away"


def test_aedat4_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nope.aedat4"):
        read_aedat4(tmp_path / "nope.aedat4")
    bad = tmp_path / "bad.aedat4"
    bad.write_bytes(b"not an aedat file at all")
    with pytest.raises(ValueError, match="bad.aedat4"):
        read_aedat4(bad)


# ------------------------------------------------------------------------------------------------ FE108


def make_fe108(root: Path, split: str, name: str, n_boxes: int, n_aps: int, seed: int, img: bool) -> tuple:
    d = root / split / name
    d.mkdir(parents=True)
    ev, frames, frame_t = recording(seed, n_aps)
    write_aedat4(d / "events.aedat4", ev, DAVIS, frames, frame_t)
    boxes = boxes_for(n_boxes, seed)
    write_gt(d / "groundtruth_rect.txt", boxes)
    if img:
        write_images(d / "img", frames[:n_boxes], "{:04d}.png")
    return ev, frames, frame_t, boxes


def test_fe108_loads_events_frames_boxes(tmp_path: Path) -> None:
    ev, frames, frame_t, boxes = make_fe108(tmp_path, "test", "airplane_mul222", 4, 5, seed=1, img=False)
    make_fe108(tmp_path, "train", "bike222", 3, 3, seed=2, img=True)
    ds = open_dataset("fe108", tmp_path)
    assert ds.splits() == ["train", "test"]
    assert ds.list_sequences("test") == ["airplane_mul222"]
    seq = ds.load_sequence("airplane_mul222")
    assert seq.sensor_size == DAVIS
    np.testing.assert_array_equal(seq.events, ev)
    np.testing.assert_array_equal(seq.frame_t_us, frame_t[:4])
    np.testing.assert_array_equal(seq.frames, frames[:4])
    np.testing.assert_allclose(seq.boxes, boxes, atol=1e-4)
    assert seq.meta["repair_frames_unannotated"] == 1 and seq.meta["split"] == "test"
    seq2 = ds.load_sequence("train/bike222")
    assert seq2.frames.shape == (3, 260, 346, 3) and seq2.meta["repair_frames_unannotated"] == 0


def test_fe108_checks(tmp_path: Path) -> None:
    make_fe108(tmp_path, "train", "short", 6, 4, seed=3, img=False)  # more boxes than APS frames
    with pytest.raises(ValueError, match="6 ground-truth boxes .* 4 frames"):
        open_dataset("fe108", tmp_path).load_sequence("short")
    (tmp_path / "train" / "nogt").mkdir()
    with pytest.raises(FileNotFoundError, match="groundtruth_rect.txt"):
        open_dataset("fe108", tmp_path).load_sequence("nogt")
    with pytest.raises(FileNotFoundError, match="'ghost' not found"):
        open_dataset("fe108", tmp_path).load_sequence("ghost")
    (tmp_path / "train" / "list.txt").write_text("short\nmissing_one\n")
    with pytest.raises(FileNotFoundError, match="missing_one"):
        open_dataset("fe108", tmp_path).list_sequences("train")
    with pytest.raises(ValueError, match="unknown split 'val'"):
        open_dataset("fe108", tmp_path).list_sequences("val")
    with pytest.raises(ValueError, match="unknown dataset 'lasot'"):
        open_dataset("lasot", tmp_path)


# ------------------------------------------------------------------------------------------------ VisEvent


def test_visevent_polygons_absent_labels_and_bmp_frames(tmp_path: Path) -> None:
    d = tmp_path / "test" / "00141_tank_outdoor2"
    d.mkdir(parents=True)
    ev, frames, frame_t = recording(4, 5)
    write_aedat4(d / "00141_tank_outdoor2.aedat4", ev, DAVIS, frames, frame_t)
    write_images(d / "vis_imgs", frames[:4], "frame{:04d}.bmp")
    write_images(d / "event_imgs", frames[:4], "frame{:04d}.bmp")
    lines = ["10,20,40,20,40,50,10,50", "0,0,0,0", "12\t22\t30\t30", "330 200 30 30"]
    (d / "groundtruth.txt").write_text("\n".join(lines) + "\n")
    (d / "absent_label.txt").write_text("1\n0\n1\n1\n")
    seq = open_dataset("visevent", tmp_path).load_sequence("00141_tank_outdoor2")
    np.testing.assert_array_equal(seq.frames, frames[:4])  # bmp is lossless
    np.testing.assert_array_equal(seq.frame_t_us, frame_t[:4])
    np.testing.assert_allclose(seq.boxes[0], [10, 20, 30, 30])  # polygon -> bounding box
    assert np.isnan(seq.boxes[1]).all()  # absent
    np.testing.assert_allclose(seq.boxes[2], [12, 22, 30, 30])
    np.testing.assert_allclose(seq.boxes[3], [330, 200, 16, 30])  # clipped at x = 346
    assert seq.meta["repair_boxes_clipped"] == 1 and seq.meta["repair_boxes_absent"] == 1


def test_visevent_without_raw_events_is_a_clear_error(tmp_path: Path) -> None:
    d = tmp_path / "train" / "video_0081"
    d.mkdir(parents=True)
    write_gt(d / "groundtruth.txt", boxes_for(3))
    with pytest.raises(FileNotFoundError, match=r"video_0081\.aedat4"):
        open_dataset("visevent", tmp_path).load_sequence("video_0081")


# ------------------------------------------------------------------------------------------------ COESOT


def test_coesot_start_end_index_aligns_frames(tmp_path: Path) -> None:
    name = "dvSave-2021_07_30_11_04_12"
    d = tmp_path / "test" / name
    d.mkdir(parents=True)
    ev, frames, frame_t = recording(5, 8)
    write_aedat4(d / f"{name}.aedat4", ev, DAVIS, frames, frame_t)
    write_images(d / f"{name}_aps", frames[2:7], "frame{:04d}.png")
    boxes = boxes_for(5, seed=5)
    write_gt(d / "groundtruth.txt", boxes)
    (d / "absent.txt").write_text("1\n1\n1\n0\n1\n")
    (d / "start_end_index.txt").write_text("2,6\n")
    seq = open_dataset("coesot", tmp_path).load_sequence(name)
    np.testing.assert_array_equal(seq.frame_t_us, frame_t[2:7])
    np.testing.assert_array_equal(seq.frames, frames[2:7])
    assert np.isnan(seq.boxes[3]).all() and not np.isnan(seq.boxes[4]).any()
    assert seq.meta["first_frame"] == 2 and seq.meta["repair_frames_unannotated"] == 3
    (d / "start_end_index.txt").write_text("2 9")
    with pytest.raises(ValueError, match="do not match the 5 ground-truth boxes"):
        open_dataset("coesot", tmp_path).load_sequence(name)


# ------------------------------------------------------------------------------------------------ EventVOT


def test_eventvot_csv_events_windows_and_repairs(tmp_path: Path) -> None:
    name = "recording_2022-10-10_17-28-24"
    d = tmp_path / "test" / name
    d.mkdir(parents=True)
    rows = [(5, 6, 1, 1000), (7, 8, 0, 2000), (1280, 3, 1, 2500), (9, 10, 1, 1500), (11, 12, 0, 5000)]
    (d / f"{name}.csv").write_text("% geometry:1280,720\n" + "\n".join(",".join(map(str, r)) for r in rows) + "\n")
    write_gt(d / "groundtruth.txt", np.array([[100, 100, 50, 40], [110, 100, 50, 40]]))
    (d / "absent.txt").write_text("1\n1\n")
    (d / "img").mkdir()
    seq = open_dataset("eventvot", tmp_path).load_sequence(name)
    assert seq.sensor_size == (1280, 720) and seq.frames is None
    np.testing.assert_array_equal(seq.events["t"], [1000, 1500, 2000, 5000])
    np.testing.assert_array_equal(seq.events["x"], [5, 9, 7, 11])
    np.testing.assert_array_equal(seq.frame_t_us, [3000, 5000])  # ends of 2 equal windows over [1000, 5000]
    assert seq.meta["repair_events_reordered"] == 1 and seq.meta["repair_events_out_of_bounds"] == 1
    (d / f"{name}.csv").write_text("x,y,p,t\n1,2,1,x\n")
    with pytest.raises(ValueError, match=f"{name}.csv"):
        open_dataset("eventvot", tmp_path).load_sequence(name)


# ------------------------------------------------------------------------------------------------ common checks


def test_read_boxes_reports_file_and_line(tmp_path: Path) -> None:
    p = tmp_path / "groundtruth.txt"
    p.write_text("1,2,3,4\n\n1,2,three,4\n")
    with pytest.raises(ValueError, match=r"groundtruth.txt:3"):
        read_boxes(p)
    p.write_text("1,2,3\n")
    with pytest.raises(ValueError, match="expected 4"):
        read_boxes(p)
    p.write_text("1,2,3,4\n1,2,-3,4\n")
    with pytest.raises(ValueError, match=r"groundtruth.txt:2: negative"):
        read_boxes(p)


def test_registry_modules_define_the_adapter_api() -> None:
    for name in ADAPTERS:
        mod = get_adapter(name)
        assert mod.NAME == name and len(mod.SENSOR_SIZE) == 2 and "test" in mod.SPLITS
        assert callable(mod.list_sequences) and callable(mod.load_sequence)


# ------------------------------------------------------------------------------------------------ convert-dataset


def test_convert_dataset_round_trip_resume_and_skips(tmp_path: Path, capsys) -> None:
    from had_snn.cli import main
    from had_snn.data.io import read_sequence

    root, out = tmp_path / "FE108", tmp_path / "native"
    ev, frames, frame_t, boxes = make_fe108(root, "test", "airplane", 4, 4, seed=7, img=False)
    make_fe108(root, "test", "ball", 3, 3, seed=8, img=False)
    (root / "test" / "broken").mkdir()
    write_gt(root / "test" / "broken" / "groundtruth_rect.txt", boxes_for(2))

    assert main(["convert-dataset", "fe108", str(root), "--out", str(out), "--workers", "2"]) == 0
    text = capsys.readouterr().out
    assert "converted 2, already done 0, skipped 1" in text and "events.aedat4" in text
    seq = read_sequence(out / "test" / "airplane.h5")
    np.testing.assert_array_equal(seq.events, ev)
    np.testing.assert_array_equal(seq.frames, frames)
    np.testing.assert_array_equal(seq.frame_t_us, frame_t)
    np.testing.assert_allclose(seq.boxes, boxes, atol=1e-4)
    index = json.loads((out / "index.json").read_text())
    assert sorted(index["splits"]["test"]) == ["airplane", "ball"]
    assert index["sequences"]["ball"]["num_frames"] == 3

    (out / "test" / "ball.h5").write_bytes(b"truncated")
    assert main(["convert-dataset", "fe108", str(root), "--out", str(out), "--workers", "1"]) == 0
    text = capsys.readouterr().out
    assert "converted 1, already done 1, skipped 1" in text and "rewrote invalid test/ball" in text
    assert read_sequence(out / "test" / "ball.h5").num_frames == 3


def test_converted_dataset_feeds_eval_and_index_keeps_other_splits(tmp_path: Path, capsys) -> None:
    from had_snn.cli import main
    from had_snn.data.dataset import read_index

    root, out = tmp_path / "FE108", tmp_path / "native"
    make_fe108(root, "train", "dove", 3, 3, seed=9, img=False)
    _, _, _, cup_boxes = make_fe108(root, "test", "cup", 5, 5, seed=10, img=False)
    assert main(["convert-dataset", "fe108", str(root), "--out", str(out), "--split", "train", "--workers", "1"]) == 0
    assert main(["convert-dataset", "fe108", str(root), "--out", str(out), "--split", "test", "--workers", "1"]) == 0
    index = read_index(out)
    assert index["splits"] == {"train": ["dove"], "test": ["cup"]}
    assert index["generator"]["dataset"] == "fe108"
    rc = main(["eval", "--tracker", "static", "--data", str(out), "--split", "test", "--out", str(tmp_path / "ev"),
               "--no-plots"])
    assert rc == 0
    results = json.loads((tmp_path / "ev" / "results.json").read_text())
    assert results["trackers"]["static"]["subsets"]["all"]["num_frames"] == 5
    static_boxes = np.loadtxt(tmp_path / "ev" / "boxes" / "static" / "cup.txt", delimiter=",")
    np.testing.assert_allclose(static_boxes, np.repeat(cup_boxes[:1], 5, axis=0), atol=1e-3)  # first GT box held
    capsys.readouterr()
    assert main(["convert-dataset", "coesot", str(tmp_path / "nowhere"), "--out", str(out)]) == 1
    assert "nowhere is not a directory" in capsys.readouterr().err


def test_aedat4_grayscale_aps_frames_become_rgb(tmp_path: Path) -> None:
    import dv_processing as dv

    gray = np.arange(260 * 346, dtype=np.int64).reshape(260, 346).astype(np.uint8)
    writer = dv.io.MonoCameraWriter(str(tmp_path / "g.aedat4"), dv.io.MonoCameraWriter.DAVISConfig("DAVIS346", DAVIS))
    st = dv.EventStore()
    st.push_back(100, 1, 2, True)
    writer.writeEvents(st)
    writer.writeFrame(dv.Frame(50, 40, 0, 0, gray, dv.FrameSource.SENSOR))  # 40 us exposure from t = 50 us
    del writer
    _, frames, frame_t, _ = read_aedat4(tmp_path / "g.aedat4")
    assert frames.shape == (1, 260, 346, 3)
    for c in range(3):
        np.testing.assert_array_equal(frames[0, :, :, c], gray)
    np.testing.assert_array_equal(frame_t, [70])  # centre of exposure
