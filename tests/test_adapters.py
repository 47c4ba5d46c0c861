"""Dataset adapters on small fixtures built in each dataset's real layout; aedat4 IO; import-dataset round trip."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from had_snn.data.datasets import ADAPTERS, get_adapter, open_dataset, read_boxes, read_flags
from had_snn.data.datasets.eventvot import event_windows
from had_snn.data.datasets.fe108 import read_start_index
from had_snn.data.datasets.loader import ALIGNMENT_VERSION
from had_snn.data.datasets.visevent import read_toolkit_annotations
from had_snn.data.events import make_events

pytest.importorskip("dv_processing", reason="needs the aedat extra (pip install had-snn[aedat])")
from PIL import Image  # noqa: E402

from had_snn.data.aedat import read_aedat4, read_aedat4_recording, write_aedat4  # noqa: E402

DAVIS = (346, 260)
EXPOSURE_US = 5_000  # APS exposure written into the fixtures' frames
SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "samples"


def sample_dir(name: str) -> Path:
    d = SAMPLES / name
    if not d.is_dir():
        pytest.skip(f"real sample files {d} not present (shared samples folder missing)")
    return d


def recording(seed: int, n_frames: int, size=DAVIS, events_per_frame: int = 50):
    """Sorted events spread over n_frames frame intervals, random RGB frames, frames starting every 20 ms."""
    rng = np.random.default_rng(seed)
    w, h = size
    frame_t = 1_000_000 + 20_000 * np.arange(1, n_frames + 1, dtype=np.int64)
    n = events_per_frame * n_frames
    t = np.sort(rng.integers(1_000_000, frame_t[-1] + 1, n))
    ev = make_events(rng.integers(0, w, n), rng.integers(0, h, n), t, rng.integers(0, 2, n))
    frames = rng.integers(0, 256, (n_frames, h, w, 3), dtype=np.uint8)
    return ev, frames, frame_t


def write_davis(path: Path, ev, frames, frame_t, exposure_us: int = EXPOSURE_US) -> None:
    write_aedat4(path, ev, DAVIS, frames, frame_t, exposure_us=np.full(len(frames), exposure_us))


def boxes_for(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    xy = rng.uniform(10, 200, (n, 2)).round(1)
    wh = rng.uniform(10, 50, (n, 2)).round(1)
    return np.hstack([xy, wh])


def write_gt(path: Path, boxes: np.ndarray, sep: str = ",") -> None:
    path.write_text("\n".join(sep.join(f"{v:g}" for v in row) for row in boxes) + "\n")


def write_images(folder: Path, frames: np.ndarray, pattern: str, first: int = 1) -> None:
    folder.mkdir(parents=True)
    for k, img in enumerate(frames):
        Image.fromarray(img).save(folder / pattern.format(k + first))


# ------------------------------------------------------------------------------------------------ aedat4


def test_aedat4_round_trip(tmp_path: Path) -> None:
    ev, frames, frame_t = recording(0, 3)
    write_aedat4(tmp_path / "r.aedat4", ev, DAVIS, frames, frame_t)
    ev2, frames2, t2, size = read_aedat4(tmp_path / "r.aedat4")
    assert size == DAVIS
    np.testing.assert_array_equal(ev2, ev)
    np.testing.assert_array_equal(frames2, frames)
    np.testing.assert_array_equal(t2, frame_t)
    write_davis(tmp_path / "x.aedat4", ev, frames, frame_t, exposure_us=4_000)
    rec = read_aedat4_recording(tmp_path / "x.aedat4")
    np.testing.assert_array_equal(rec.exposure_start_us, frame_t)
    np.testing.assert_array_equal(rec.exposure_us, [4_000] * 3)
    np.testing.assert_array_equal(read_aedat4(tmp_path / "x.aedat4")[2], frame_t + 2_000)  # centre of exposure
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


def make_fe108(root: Path, split: str, name: str, n_img: int, n_aps: int, seed: int, img: bool, start: int = 0,
               rows_per_image: int = 1, offsets: Path | None = None) -> tuple:
    """An FE108 sequence whose img/0001.jpg is APS frame ``start``; its ``name,start`` entry is appended to the
    offsets file (default ROOT/start_frame_idx_FE108.txt, CRLF like the real one)."""
    d = root / split / name
    d.mkdir(parents=True)
    ev, frames, frame_t = recording(seed, n_aps)
    write_davis(d / "events.aedat4", ev, frames, frame_t)
    boxes = boxes_for(n_img * rows_per_image, seed)
    write_gt(d / "groundtruth_rect.txt", boxes)
    if img:
        write_images(d / "img", frames[start:start + n_img], "{:04d}.png")
    with open(offsets or root / "start_frame_idx_FE108.txt", "a", newline="") as fh:
        fh.write(f"{name},{start}\r\n")
    return ev, frames, frame_t, boxes


def test_fe108_loads_events_frames_boxes(tmp_path: Path) -> None:
    ev, frames, frame_t, boxes = make_fe108(tmp_path, "test", "airplane_mul222", 4, 7, seed=1, img=False, start=1)
    _, _, bike_t, _ = make_fe108(tmp_path, "train", "bike222", 3, 3, seed=2, img=True)
    ds = open_dataset("fe108", tmp_path)
    assert ds.splits() == ["train", "test"]
    assert ds.list_sequences("test") == ["airplane_mul222"]
    seq = ds.load_sequence("airplane_mul222")
    assert seq.sensor_size == DAVIS
    np.testing.assert_array_equal(seq.events, ev)
    # box j <-> APS frame 1 + j; its events run from the start of that frame to the start of the next (the box time)
    np.testing.assert_array_equal(seq.frame_t_us, frame_t[2:6])
    np.testing.assert_array_equal(seq.frames, frames[1:5])
    np.testing.assert_allclose(seq.boxes, boxes, atol=1e-4)
    assert seq.meta["aps_first_frame"] == 1 and seq.meta["gt_rows_per_frame"] == 1
    assert seq.meta["event_window"] == "aps_frame_interval" and seq.meta["event_window_median_us"] == 20_000
    assert seq.meta["repair_frames_unannotated"] == 3 and seq.meta["split"] == "test"
    seq2 = ds.load_sequence("train/bike222")
    assert seq2.frames.shape == (3, 260, 346, 3) and seq2.meta["repair_frames_unannotated"] == 0
    # the last image has no next frame: its window lasts one median frame interval
    np.testing.assert_array_equal(seq2.frame_t_us, [bike_t[1], bike_t[2], bike_t[2] + 20_000])


def test_fe108_real_start_frame_index_places_gt_line_1(tmp_path: Path) -> None:
    """The authors' offsets file: GT line 1 of a sequence named after one of its entries is APS frame k."""
    real = sample_dir("fe108-start-frame-idx") / "start_frame_idx_FE108.txt"
    entries = [ln.strip().split(",") for ln in real.read_text().splitlines() if ln.strip()]
    assert ["airplane", "105"] in entries and len(read_start_index(real)) == len(entries)
    name, k = min(entries, key=lambda e: int(e[1]))  # the smallest offset keeps the fixture small (dove, 12)
    k = int(k)
    assert read_start_index(real)[name] == k
    root = tmp_path / "FE108"
    ev, frames, frame_t, boxes = make_fe108(root, "test", name, 3, k + 5, seed=11, img=True, start=k,
                                            offsets=tmp_path / "ignored.txt")
    seq = open_dataset("fe108", root, start_index=real).load_sequence(name)
    assert seq.meta["aps_first_frame"] == k
    np.testing.assert_array_equal(seq.frames[0], frames[k])  # img/0001 is APS frame k
    np.testing.assert_allclose(seq.boxes[0], boxes[0], atol=1e-4)
    # GT line 1's events: [start_of_frame(k), start_of_frame(k + 1)), so its box time is start_of_frame(k + 1)
    assert seq.frame_t_us[0] == frame_t[k + 1]
    assert seq.frame_t_us[0] - seq.meta["event_window_median_us"] == frame_t[k]
    np.testing.assert_array_equal(seq.frame_t_us, frame_t[k + 1:k + 4])
    assert seq.meta["repair_frames_unannotated"] == k + 2
    in_window = (ev["t"] >= frame_t[k]) & (ev["t"] < frame_t[k + 1])
    cut = (seq.events["t"] >= seq.frame_t_us[0] - 20_000) & (seq.events["t"] < seq.frame_t_us[0])
    np.testing.assert_array_equal(seq.events[cut], ev[in_window])


def test_fe108_gt_rate_is_detected_per_sequence(tmp_path: Path) -> None:
    _, frames, frame_t, boxes = make_fe108(tmp_path, "train", "dove240", 3, 5, seed=12, img=True, start=1,
                                           rows_per_image=6)
    seq = open_dataset("fe108", tmp_path).load_sequence("dove240")
    assert seq.meta["gt_rows_per_frame"] == 6 and seq.num_frames == 3
    np.testing.assert_allclose(seq.boxes, boxes[::6], atol=1e-4)  # box j = row 6 j (the image's own row)
    np.testing.assert_array_equal(seq.frames, frames[1:4])
    assert len(seq.trajectory_t_us) == 18 and np.all(np.diff(seq.trajectory_t_us) > 0)
    np.testing.assert_array_equal(seq.trajectory_t_us[::6], seq.frame_t_us)
    np.testing.assert_allclose(seq.trajectory_boxes, boxes, atol=1e-4)
    d = tmp_path / "train" / "dove240"
    write_gt(d / "groundtruth_rect.txt", boxes[:17])
    with pytest.raises(ValueError, match=r"FE108 dove240: 17 ground-truth rows for 3 images .* whole number"):
        open_dataset("fe108", tmp_path).load_sequence("dove240")
    write_gt(d / "groundtruth_rect.txt", boxes[:2])
    with pytest.raises(ValueError, match="dove240: 2 ground-truth rows for 3 images"):
        open_dataset("fe108", tmp_path).load_sequence("dove240")


def test_fe108_offsets_file_is_required(tmp_path: Path) -> None:
    root = tmp_path / "FE108"
    make_fe108(root, "test", "cup", 2, 4, seed=13, img=False, start=1, offsets=tmp_path / "pair.txt")
    with pytest.raises(FileNotFoundError, match="start_frame_idx_FE108.txt not found.*--fe108-start-index"):
        open_dataset("fe108", root)
    seq = open_dataset("fe108", root, start_index=tmp_path / "pair.txt").load_sequence("cup")
    assert seq.meta["aps_first_frame"] == 1
    (tmp_path / "other.txt").write_text("cow\t17\n")  # pair.txt style (tab separated)
    with pytest.raises(ValueError, match=r"FE108 cup: no entry in .*other.txt"):
        open_dataset("fe108", root, start_index=tmp_path / "other.txt").load_sequence("cup")
    (tmp_path / "bad.txt").write_text("cup,one\n")
    with pytest.raises(ValueError, match=r"bad.txt:1: expected 'name,frame_index'"):
        open_dataset("fe108", root, start_index=tmp_path / "bad.txt")
    with pytest.raises(ValueError, match="unknown option"):
        open_dataset("fe108", root, windows="image")


def test_fe108_checks(tmp_path: Path) -> None:
    make_fe108(tmp_path, "train", "short", 6, 4, seed=3, img=False)  # more boxes than APS frames
    with pytest.raises(ValueError, match="frames 0..5 but the recording has 4 frames"):
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
    write_davis(d / "dvSave-2021_02_06_17_23_26.aedat4", ev, frames, frame_t)  # not named after the sequence
    write_images(d / "vis_imgs", frames[:4], "frame{:04d}.bmp", first=0)
    write_images(d / "event_imgs", frames[:4], "frame{:04d}.bmp", first=0)
    lines = ["10,20,40,20,40,50,10,50", "0,0,0,0", "12\t22\t30\t30", "330 200 30 30"]
    (d / "groundtruth.txt").write_text("\n".join(lines) + "\n")
    (d / "absent_label.txt").write_text("1\n0\n1\n1\n")  # 1 = present
    seq = open_dataset("visevent", tmp_path).load_sequence("00141_tank_outdoor2")
    np.testing.assert_array_equal(seq.frames, frames[:4])  # bmp is lossless
    # box k: events of APS frame k's exposure, box time = end of that exposure
    np.testing.assert_array_equal(seq.frame_t_us, frame_t[:4] + EXPOSURE_US)
    assert seq.meta["event_window"] == "aps_exposure" and seq.meta["event_window_median_us"] == EXPOSURE_US
    np.testing.assert_allclose(seq.boxes[0], [10, 20, 30, 30])  # polygon -> bounding box
    assert np.isnan(seq.boxes[1]).all()  # absent
    np.testing.assert_allclose(seq.boxes[2], [12, 22, 30, 30])
    np.testing.assert_allclose(seq.boxes[3], [330, 200, 16, 30])  # clipped at x = 346
    assert seq.meta["repair_boxes_clipped"] == 1 and seq.meta["repair_boxes_absent"] == 1
    assert seq.meta["repair_frames_unannotated"] == 1  # the last recorded frame has no image


def test_visevent_raw_events_missing_or_ambiguous_is_a_clear_error(tmp_path: Path) -> None:
    d = tmp_path / "train" / "video_0081"
    d.mkdir(parents=True)
    write_gt(d / "groundtruth.txt", boxes_for(3))
    with pytest.raises(FileNotFoundError, match=r"video_0081: missing raw event recording \*\.aedat4"):
        open_dataset("visevent", tmp_path).load_sequence("video_0081")
    ev, frames, frame_t = recording(5, 4)
    write_davis(d / "a.aedat4", ev, frames, frame_t)
    assert open_dataset("visevent", tmp_path).load_sequence("video_0081").num_frames == 3
    write_davis(d / "b.aedat4", ev, frames, frame_t)
    with pytest.raises(ValueError, match=r"2 files match \*\.aedat4 \(a\.aedat4, b\.aedat4\)"):
        open_dataset("visevent", tmp_path).load_sequence("video_0081")


def test_visevent_real_toolkit_annotations_use_1_for_absent() -> None:
    annos = sample_dir("visevent-annos")
    expected = {"00147_tank_outdoor2": (104, 11), "dvSave-2021_02_04_21_21_24": (220, 20),
                "00490_UAV_outdoor6": (88, 13)}
    for name, (n, n_absent) in expected.items():
        boxes, present = read_toolkit_annotations(annos, name)
        raw = read_boxes(annos / "gt_rect" / f"{name}.txt")
        assert boxes.shape == (n, 4) and int((~present).sum()) == n_absent
        assert present[0] and np.isfinite(boxes[0]).all()  # the toolkit's copies start with a visible target
        np.testing.assert_array_equal(~present, raw[:, 2] * raw[:, 3] == 0)  # absent exactly where the box is empty
        assert np.isnan(boxes[~present]).all()
        np.testing.assert_array_equal(boxes[present], raw[present])
        # read with the dataset's own polarity (absent_label.txt: 1 = present) the flags come out inverted
        np.testing.assert_array_equal(read_flags(annos / "absent" / f"{name}.txt", n), ~present)


# ------------------------------------------------------------------------------------------------ COESOT


def test_coesot_rows_align_from_frame_0_zero_rows_absent_and_clipped(tmp_path: Path) -> None:
    name = "dvSave-2021_07_30_11_04_12"
    d = tmp_path / "test" / name
    d.mkdir(parents=True)
    ev, frames, frame_t = recording(5, 8)
    write_davis(d / f"{name}.aedat4", ev, frames, frame_t)
    write_images(d / f"{name}_aps", frames[:7], "frame{:04d}.png", first=0)  # the last frame has no image
    boxes = boxes_for(9, seed=5)
    boxes[[0, 7, 8]] = 0  # rows outside start..end are 0,0,0,0 ...
    boxes[6] = [50, 50, 20, 20]  # ... and a row outside is absent whatever it holds
    write_gt(d / "groundtruth.txt", boxes)
    (d / "absent.txt").write_text("0\n1\n1\n0\n1\n1\n0\n0\n0\n")  # 1 = present
    (d / "start_end_index.txt").write_text("2,6")  # 1-based inclusive, no trailing newline
    seq = open_dataset("coesot", tmp_path).load_sequence(name)
    # row r <-> _aps/frame{r:04d} <-> APS frame r from frame 0 (start_end_index does not shift them)
    np.testing.assert_array_equal(seq.frame_t_us, frame_t[:7] + EXPOSURE_US)
    np.testing.assert_array_equal(seq.frames, frames[:7])
    np.testing.assert_allclose(seq.boxes[1:3], boxes[1:3], atol=1e-4)
    np.testing.assert_allclose(seq.boxes[4:6], boxes[4:6], atol=1e-4)
    assert np.isnan(seq.boxes[[0, 3, 6]]).all()
    assert seq.meta["annotated_rows"] == [2, 6] and seq.meta["event_window"] == "aps_exposure"
    assert seq.meta["repair_gt_rows_clipped"] == 2  # 9 rows, 7 images
    assert seq.meta["repair_frames_unannotated"] == 1 and seq.meta["repair_boxes_absent"] == 3
    (d / "start_end_index.txt").write_text("6,2")
    with pytest.raises(ValueError, match="start_end_index.txt: expected 1 <= start <= end"):
        open_dataset("coesot", tmp_path).load_sequence(name)


def test_coesot_fewer_rows_than_frames_and_range_past_the_rows(tmp_path: Path) -> None:
    name = "dvSave-2022_03_21_11_12_27"
    d = tmp_path / "train" / name
    d.mkdir(parents=True)
    ev, frames, frame_t = recording(6, 6)
    write_davis(d / f"{name}.aedat4", ev, frames, frame_t)
    boxes = boxes_for(4, seed=6)
    write_gt(d / "groundtruth.txt", boxes)
    (d / "start_end_index.txt").write_text("1,9")  # end past the rows, as real files have
    seq = open_dataset("coesot", tmp_path).load_sequence(name)  # no _aps folder: APS frames of the recording
    np.testing.assert_array_equal(seq.frames, frames[:4])
    np.testing.assert_allclose(seq.boxes, boxes, atol=1e-4)
    assert seq.meta["repair_gt_rows_clipped"] == 0 and seq.meta["repair_frames_unannotated"] == 2


# ------------------------------------------------------------------------------------------------ EventVOT


def make_eventvot(root: Path, name: str, csv: str, n_boxes: int = 4) -> Path:
    d = root / "test" / name
    d.mkdir(parents=True)
    (d / f"{name}.csv").write_text(csv)
    write_gt(d / "groundtruth.txt", np.tile([[100, 100, 50, 40]], (n_boxes, 1)))
    (d / "absent.txt").write_text("1\n" * n_boxes)
    (d / "img").mkdir()
    return d


def test_eventvot_header_by_name_windows_and_repairs(tmp_path: Path) -> None:
    name = "recording_2022-10-10_17-28-24"
    rows = [(1, 5, 6, 1000), (0, 7, 8, 2000), (1, 1280, 3, 2500), (1, 9, 10, 1500), (0, 11, 12, 5000)]
    make_eventvot(tmp_path, name, "p,x,y,t\n" + "\n".join(",".join(map(str, r)) for r in rows) + "\n")
    seq = open_dataset("eventvot", tmp_path).load_sequence(name)
    assert seq.sensor_size == (1280, 720) and seq.frames is None
    np.testing.assert_array_equal(seq.events["t"], [1000, 1500, 2000, 5000])
    np.testing.assert_array_equal(seq.events["x"], [5, 9, 7, 11])
    np.testing.assert_array_equal(seq.events["p"], [1, 1, 0, 0])
    assert seq.meta["repair_events_reordered"] == 1 and seq.meta["repair_events_out_of_bounds"] == 1
    assert seq.meta["repair_csv_first_line_dropped"] == 0
    # default 'image' rule: deltaT = (5000 - 1000) // 4 = 1000, box k's window [1000 + (k+1) 1000, 1000 + (k+2) 1000)
    np.testing.assert_array_equal(seq.frame_t_us, [3000, 4000, 5000, 6000])
    assert seq.meta["event_window"] == "equal_time_image" and seq.meta["event_window_median_us"] == 1000
    # 'voxel' rule: deltaT = 4000 // 3 = 1333 from the first event
    voxel = open_dataset("eventvot", tmp_path, windows="voxel").load_sequence(name)
    np.testing.assert_array_equal(voxel.frame_t_us, [2333, 3666, 4999, 6332])
    assert voxel.meta["event_window"] == "equal_time_voxel"
    np.testing.assert_array_equal(event_windows(1000, 5000, 4, "voxel")[0], [1000, 2333])
    with pytest.raises(ValueError, match="windows must be one of image, voxel"):
        open_dataset("eventvot", tmp_path, windows="centre").load_sequence(name)


def test_eventvot_headerless_csv_drops_the_first_line_and_checks_columns(tmp_path: Path) -> None:
    name = "recording_2022-10-11_10-00-00"
    rows = [(5, 6, 1, 1000), (7, 8, 0, 2000), (9, 10, 1, 3000), (11, 12, 0, 5000), (13, 14, 1, 9000)]
    d = make_eventvot(tmp_path, name, "% exported\n" + "\n".join(",".join(map(str, r)) for r in rows) + "\n", 2)
    seq = open_dataset("eventvot", tmp_path).load_sequence(name)
    np.testing.assert_array_equal(seq.events["t"], [2000, 3000, 5000, 9000])  # the first row went, as the authors'
    assert seq.meta["repair_csv_first_line_dropped"] == 1
    (d / f"{name}.csv").write_text("t,x,y,p\n1000,5,6,1\n3000,7,8,0\n")  # named in another order: read by name
    seq = open_dataset("eventvot", tmp_path).load_sequence(name)
    np.testing.assert_array_equal(seq.events["x"], [5, 7])
    np.testing.assert_array_equal(seq.events["t"], [1000, 3000])
    (d / f"{name}.csv").write_text("x,y,pol,time\n1,2,1,5\n")
    with pytest.raises(ValueError, match="header 'x,y,pol,time' must name the columns x, y, p, t"):
        open_dataset("eventvot", tmp_path).load_sequence(name)
    (d / f"{name}.csv").write_text("0,0,0,0\n1000,5,6,1\n2000,7,8,0\n")  # headerless t,x,y,p: misread -> refused
    with pytest.raises(ValueError, match="column p holds values other than 0/1"):
        open_dataset("eventvot", tmp_path).load_sequence(name)
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
        assert callable(mod.list_sequences) and callable(mod.load_sequence) and callable(mod.check_root)
        assert isinstance(mod.OPTIONS, dict)
    assert get_adapter("fe108").OPTIONS == {"start_index": None}
    assert get_adapter("eventvot").OPTIONS == {"windows": "image"}


# ------------------------------------------------------------------------------------------------ import-dataset


def test_import_dataset_round_trip_resume_and_skips(tmp_path: Path, capsys) -> None:
    from had_snn.cli import main
    from had_snn.data.io import read_sequence

    root, out, offsets = tmp_path / "FE108", tmp_path / "native", tmp_path / "pair.txt"
    ev, frames, frame_t, boxes = make_fe108(root, "test", "airplane", 4, 5, seed=7, img=False, start=1,
                                            offsets=offsets)
    make_fe108(root, "test", "ball", 3, 3, seed=8, img=False, offsets=offsets)
    (root / "test" / "broken").mkdir()
    write_gt(root / "test" / "broken" / "groundtruth_rect.txt", boxes_for(2))
    flag = ["--fe108-start-index", str(offsets)]

    assert main(["import-dataset", "fe108", str(root), "--out", str(out), "--workers", "1"]) == 1
    assert "start_frame_idx_FE108.txt not found" in capsys.readouterr().err  # refused before any sequence
    assert main(["import-dataset", "fe108", str(root), "--out", str(out), "--workers", "2", *flag]) == 0
    text = capsys.readouterr().out
    assert "converted 2, already done 0, skipped 1" in text and "events.aedat4" in text
    seq = read_sequence(out / "test" / "airplane.h5")
    np.testing.assert_array_equal(seq.events, ev)
    np.testing.assert_array_equal(seq.frames, frames[1:])
    np.testing.assert_array_equal(seq.frame_t_us, [*frame_t[2:], frame_t[4] + 20_000])
    np.testing.assert_allclose(seq.boxes, boxes, atol=1e-4)
    assert seq.meta["aps_first_frame"] == 1 and seq.meta["repair_frames_unannotated"] == 1
    index = json.loads((out / "index.json").read_text())
    assert sorted(index["splits"]["test"]) == ["airplane", "ball"]
    assert index["sequences"]["ball"]["num_frames"] == 3
    assert index["generator"]["options"] == {"start_index": str(offsets)}

    (out / "test" / "ball.h5").write_bytes(b"truncated")
    assert main(["import-dataset", "fe108", str(root), "--out", str(out), "--workers", "1", *flag]) == 0
    text = capsys.readouterr().out
    assert "converted 1, already done 1, skipped 1" in text and "rewrote invalid test/ball" in text
    assert read_sequence(out / "test" / "ball.h5").num_frames == 3


def test_converted_dataset_feeds_eval_and_index_keeps_other_splits(tmp_path: Path, capsys) -> None:
    from had_snn.cli import main
    from had_snn.data.dataset import read_index

    root, out = tmp_path / "FE108", tmp_path / "native"
    make_fe108(root, "train", "dove", 3, 3, seed=9, img=False)
    _, _, _, cup_boxes = make_fe108(root, "test", "cup", 5, 5, seed=10, img=False)
    assert main(["import-dataset", "fe108", str(root), "--out", str(out), "--split", "train", "--workers", "1"]) == 0
    assert main(["import-dataset", "fe108", str(root), "--out", str(out), "--split", "test", "--workers", "1"]) == 0
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
    assert main(["import-dataset", "coesot", str(tmp_path / "nowhere"), "--out", str(out)]) == 1
    assert "nowhere is not a directory" in capsys.readouterr().err
    assert main(["import-dataset", "fe108", str(root), "--out", str(out), "--eventvot-windows", "voxel"]) == 1
    assert "--eventvot-windows applies to eventvot only, not fe108" in capsys.readouterr().err


def test_import_dataset_exit_code_tells_the_truth_and_the_folder_is_locked(tmp_path: Path, capsys) -> None:
    from had_snn.cli import main
    from had_snn.util.runlock import run_folder_lock

    root, out = tmp_path / "FE108", tmp_path / "native"
    make_fe108(root, "test", "ball", 3, 3, seed=8, img=False)
    (root / "test" / "broken").mkdir()
    write_gt(root / "test" / "broken" / "groundtruth_rect.txt", boxes_for(2))
    args = ["import-dataset", "fe108", str(root), "--out", str(out), "--workers", "1"]
    # some sequences fail: 0 by default (the summary names them), 1 with --strict; the good one is converted anyway
    assert main([*args, "--strict"]) == 1
    captured = capsys.readouterr()
    assert "skipped test/broken" in captured.out
    assert "1 of 2 sequence(s) failed to convert (--strict" in captured.err
    assert (out / "test" / "ball.h5").is_file() and (out / "index.json").is_file()
    assert main(args) == 0
    assert "already done 1, skipped 1" in capsys.readouterr().out
    # every sequence fails: exit 1 and no index.json that would look like a converted dataset
    only_broken, out2 = tmp_path / "FE108b", tmp_path / "native2"
    (only_broken / "test" / "broken").mkdir(parents=True)
    write_gt(only_broken / "test" / "broken" / "groundtruth_rect.txt", boxes_for(2))
    (only_broken / "start_frame_idx_FE108.txt").write_text("broken,0\r\n")
    assert main(["import-dataset", "fe108", str(only_broken), "--out", str(out2), "--workers", "1"]) == 1
    assert "all 1 sequence(s) failed to convert" in capsys.readouterr().err
    assert not (out2 / "index.json").exists()
    # a second process on the same output folder is refused, and nothing in it changes
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*.h5")}
    with run_folder_lock(out):
        assert main(args) == 1
    assert "in use by another had-snn run" in capsys.readouterr().err
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.h5")} == before


def test_convert_eventvot_with_the_voxel_window_rule(tmp_path: Path, capsys) -> None:
    from had_snn.cli import main
    from had_snn.data.io import read_sequence

    name = "recording_2022-10-12_09-00-00"
    rows = [(5, 6, 1, 1000), (7, 8, 0, 2000), (9, 10, 1, 3000), (11, 12, 0, 5000)]
    make_eventvot(tmp_path / "EventVOT", name, "x,y,p,t\n" + "\n".join(",".join(map(str, r)) for r in rows) + "\n")
    out = tmp_path / "native"
    args = ["import-dataset", "eventvot", str(tmp_path / "EventVOT"), "--out", str(out), "--workers", "1"]
    assert main([*args, "--eventvot-windows", "voxel"]) == 0
    assert "converted 1" in capsys.readouterr().out
    seq = read_sequence(out / "test" / f"{name}.h5")
    np.testing.assert_array_equal(seq.frame_t_us, [2333, 3666, 4999, 6332])
    assert seq.meta["event_window"] == "equal_time_voxel" and seq.meta["load_options"] == {"windows": "voxel"}
    assert seq.meta["alignment_version"] == ALIGNMENT_VERSION
    assert main([*args, "--eventvot-windows", "voxel"]) == 0
    assert "already done 1" in capsys.readouterr().out
    assert main(args) == 0  # other options than the file was converted with: rewritten, not kept
    assert "rewrote invalid" in capsys.readouterr().out
    np.testing.assert_array_equal(read_sequence(out / "test" / f"{name}.h5").frame_t_us, [3000, 4000, 5000, 6000])


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
