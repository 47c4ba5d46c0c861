"""Synthetic benchmark: event camera model, scene statistics, frame degradations, ground truth, split planning."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from had_snn.data import scene as scene_mod
from had_snn.data.benchmark import assign_attributes, plan_benchmark, split_counts
from had_snn.data.event_sim import EventCamera, EventCameraConfig
from had_snn.data.limits import ATTRIBUTES
from had_snn.data.scene import SinePath, fold_into, paste_box, view_window
from had_snn.data.synthetic import SynthConfig, generate_sequence

SMALL = SynthConfig(width_px=48, height_px=36, duration_s=0.3)
QUIET = dataclasses.replace(SMALL, events=EventCameraConfig(noise_rate_hz=0.0))


def _box_mask(seq, margin_px: float) -> np.ndarray:
    """Whether each event lies within ``margin_px`` of the target box at its own timestamp."""
    b = seq.box_at(seq.events["t"].astype(np.float64))
    x, y = seq.events["x"] + 0.5, seq.events["y"] + 0.5
    return ((x >= b[:, 0] - margin_px) & (x <= b[:, 0] + b[:, 2] + margin_px)
            & (y >= b[:, 1] - margin_px) & (y <= b[:, 1] + b[:, 3] + margin_px))


# ------------------------------------------------------------------------------------------------------ scenes
def test_bilinear_sampling_matches_scipy() -> None:
    from scipy.ndimage import map_coordinates

    rng = np.random.default_rng(0)
    tex = rng.random((20, 30, 3)).astype(np.float32)
    v, u = rng.uniform(0, 19, 7), rng.uniform(0, 29, 9)
    vv, uu = np.meshgrid(v, u, indexing="ij")
    ref = np.stack([map_coordinates(tex[..., c].astype(np.float64), [vv, uu], order=1) for c in range(3)], -1)
    np.testing.assert_allclose(view_window(tex, (0.0, 0.0), 20, 30), tex, atol=1e-6)
    np.testing.assert_allclose(scene_mod._bilinear_grid(tex, v, u), ref, atol=1e-5)


def test_paste_box_blends_by_pixel_coverage() -> None:
    canvas = np.zeros((4, 6, 3), np.float32)
    paste_box(canvas, np.ones((8, 8, 3), np.float32), np.array([1.5, 1.0, 2.0, 2.0]))
    np.testing.assert_allclose(canvas[..., 0], [[0, 0, 0, 0, 0, 0], [0, 0.5, 1, 0.5, 0, 0],
                                                [0, 0.5, 1, 0.5, 0, 0], [0, 0, 0, 0, 0, 0]])
    assert canvas.sum() / 3 == pytest.approx(4.0)  # the box area in px


def test_sine_path_and_folding() -> None:
    path = SinePath(offset=10.0, amplitudes=np.array([3.0]), freqs_hz=np.array([2.0]), phases=np.array([0.0]))
    assert path(np.array([0.125]))[0] == pytest.approx(13.0)
    assert path.peak_speed() == pytest.approx(3.0 * 2 * np.pi * 2.0)
    np.testing.assert_allclose(fold_into(np.array([-1.0, 0.5, 2.5, 4.5]), 0.0, 2.0), [1.0, 0.5, 1.5, 0.5])


# ------------------------------------------------------------------------------------------------- event camera
def test_event_camera_interpolates_threshold_crossings() -> None:
    cfg = EventCameraConfig(contrast_threshold=0.25, threshold_sigma=0.0, refractory_us=0, noise_rate_hz=0.0,
                            log_eps=1e-9)
    cam = EventCamera(cfg, 2, 1, np.random.default_rng(0))
    cam.reset(np.array([[1.0, 1.0]]), 0)
    ev = cam.step(np.array([[np.exp(1.0 + 1e-6), np.exp(-0.6)]]), 1000)  # +1.0 and -0.6 in log intensity
    on, off = ev[ev["p"] == 1], ev[ev["p"] == 0]
    assert on["x"].tolist() == [0, 0, 0, 0] and off["x"].tolist() == [1, 1]
    np.testing.assert_array_equal(np.sort(on["t"]), [250, 500, 750, 1000])  # levels at 1/4, 2/4, 3/4, 1 of the step
    np.testing.assert_array_equal(np.sort(off["t"]), [417, 833])  # -0.25 and -0.5 of -0.6
    # The reference advanced by whole thresholds: 0.1 of pixel 1's change is kept for later.
    ev2 = cam.step(np.array([[np.exp(1.0 + 1e-6), np.exp(-0.76)]]), 2000)
    assert len(ev2) == 1 and ev2["x"][0] == 1 and ev2["p"][0] == 0


def test_event_camera_refractory_drops_close_events() -> None:
    cfg = EventCameraConfig(contrast_threshold=0.25, threshold_sigma=0.0, refractory_us=300, noise_rate_hz=0.0,
                            log_eps=1e-9)
    cam = EventCamera(cfg, 1, 1, np.random.default_rng(0))
    cam.reset(np.ones((1, 1)), 0)
    ev = cam.step(np.full((1, 1), np.exp(1.0 + 1e-6)), 1000)
    np.testing.assert_array_equal(ev["t"], [250, 750])  # 500 and 1000 fall inside 300 us of the previous event


def test_event_camera_threshold_spread_and_noise_rate() -> None:
    cfg = EventCameraConfig(contrast_threshold=0.3, threshold_sigma=0.05, noise_rate_hz=5.0)
    cam = EventCamera(cfg, 100, 100, np.random.default_rng(1))
    assert abs(cam.c_on.mean() - 0.3) < 0.005 and abs(cam.c_on.std() - 0.05) < 0.005
    noise = cam.noise(0, 2_000_000, np.random.default_rng(2))
    expected = 5.0 * 100 * 100 * 2.0
    assert abs(len(noise) - expected) < 4 * np.sqrt(expected)
    assert abs(noise["p"].mean() - 0.5) < 0.02


def test_event_camera_rejects_bad_input() -> None:
    cam = EventCamera(EventCameraConfig(), 4, 3, np.random.default_rng(0))
    with pytest.raises(ValueError, match="shape"):
        cam.reset(np.ones((4, 3)), 0)
    cam.reset(np.ones((3, 4)), 10)
    with pytest.raises(ValueError, match="increase"):
        cam.step(np.ones((3, 4)), 10)
    with pytest.raises(ValueError, match="contrast_threshold"):
        EventCameraConfig(contrast_threshold=0.0)


# ---------------------------------------------------------------------------------------------------- sequences
def test_generation_is_deterministic_per_seed() -> None:
    attrs = ("distractor", "camera_motion", "occlusion")
    a = generate_sequence(SMALL, 7, attrs, "a")
    b = generate_sequence(SMALL, 7, attrs, "a")
    c = generate_sequence(SMALL, 8, attrs, "a")
    np.testing.assert_array_equal(a.events, b.events)
    np.testing.assert_array_equal(a.frames, b.frames)
    np.testing.assert_array_equal(a.trajectory_boxes, b.trajectory_boxes)
    assert len(a.events) > 100
    assert not np.array_equal(a.frames, c.frames)
    assert np.all(np.diff(a.events["t"]) >= 0)
    assert a.attributes == ("occlusion", "distractor", "camera_motion")  # canonical ATTRIBUTES order


def test_events_concentrate_on_the_moving_target() -> None:
    seq = generate_sequence(QUIET, 3, ("fast_motion",))
    near = _box_mask(seq, margin_px=2.0)
    b = seq.boxes
    area_frac = float(np.mean((b[:, 2] + 4) * (b[:, 3] + 4)) / (seq.width * seq.height))
    assert len(seq.events) > 500
    assert near.mean() > 0.95  # only the target moves: all its events lie on it
    assert near.mean() > 10 * area_frac


def test_static_noiseless_scene_gives_no_events() -> None:
    static = dataclasses.replace(QUIET, motion_amplitude_frac=0.0, scale_log_amplitude=0.0)
    assert len(generate_sequence(static, 3, ()).events) == 0
    noisy = dataclasses.replace(static, events=EventCameraConfig(noise_rate_hz=20.0))
    n = len(generate_sequence(noisy, 3, ()).events)
    expected = 20.0 * static.width_px * static.height_px * static.duration_s
    assert abs(n - expected) < 4 * np.sqrt(expected)


def test_low_light_frames_are_dark_but_events_stay() -> None:
    normal = generate_sequence(SMALL, 4, ())
    dark = generate_sequence(SMALL, 4, ("low_light",))
    assert dark.frames.mean() < 0.35 * normal.frames.mean()
    assert dark.frames.mean() < 70
    ratio = len(dark.events) / len(normal.events)
    assert 0.5 < ratio < 3.0
    quiet_normal = generate_sequence(QUIET, 4, ())
    quiet_dark = generate_sequence(QUIET, 4, ("low_light",))
    assert _box_mask(quiet_dark, 2.0).mean() > 0.95  # in the dark the events still follow the target
    assert 0.8 < len(quiet_dark.events) / len(quiet_normal.events) < 1.25


def test_hdr_frames_saturate_while_events_keep_the_motion() -> None:
    normal = generate_sequence(QUIET, 5, ())
    hdr = generate_sequence(QUIET, 5, ("hdr",))
    saturated = lambda s: float(np.mean(np.any(s.frames == 255, axis=-1)))  # noqa: E731
    assert saturated(normal) < 0.01
    assert saturated(hdr) > 0.2
    assert 0.5 < len(hdr.events) / len(normal.events) < 2.0
    assert _box_mask(hdr, 2.0).mean() > 0.95


def test_fast_motion_blurs_frames() -> None:
    base = dataclasses.replace(QUIET, full_well_e=0.0, read_noise=0.0, fast_motion_amplitude_frac=0.4)
    sharp = generate_sequence(dataclasses.replace(base, exposure_fraction=base.fps / base.render_hz), 6,
                              ("fast_motion",))
    blurred = generate_sequence(dataclasses.replace(base, exposure_fraction=1.0), 6, ("fast_motion",))
    np.testing.assert_array_equal(sharp.trajectory_boxes, blurred.trajectory_boxes)  # same scene, other exposure

    def edge_energy(seq) -> float:
        """Mean absolute gradient of the grey frames inside the target box (the background does not move)."""
        total = []
        for frame, (x, y, w, h) in zip(seq.frames, seq.boxes.astype(int), strict=True):
            g = frame[y : y + h, x : x + w].astype(np.float64).mean(axis=-1)
            total.append(np.mean(np.abs(np.diff(g, axis=0))) + np.mean(np.abs(np.diff(g, axis=1))))
        return float(np.mean(total))

    assert edge_energy(blurred) < 0.85 * edge_energy(sharp)


def test_frame_noise_follows_the_sensor_model() -> None:
    clean = generate_sequence(dataclasses.replace(SMALL, full_well_e=0.0, read_noise=0.0), 2, ("low_light",))
    noisy = generate_sequence(SMALL, 2, ("low_light",))
    diff = noisy.frames.astype(np.float64) - clean.frames
    assert diff.std() > 3.0  # shot + read noise dominate in the dark


def test_ground_truth_at_any_time_matches_frame_boxes() -> None:
    seq = generate_sequence(SMALL, 9, ("fast_motion",))
    assert seq.num_frames == 9  # 0.3 s at 30 fps with half-period exposure
    np.testing.assert_allclose(seq.box_at(seq.frame_t_us), seq.boxes, atol=0.05)
    np.testing.assert_array_equal(seq.box_at(seq.trajectory_t_us), seq.trajectory_boxes)
    assert seq.trajectory_t_us[1] - seq.trajectory_t_us[0] == 1000  # dense at the 1 kHz render rate
    b = seq.trajectory_boxes
    assert np.all(b[:, 0] >= -1e-3) and np.all(b[:, 0] + b[:, 2] <= seq.width + 1e-3)
    assert np.all(b[:, 1] >= -1e-3) and np.all(b[:, 1] + b[:, 3] <= seq.height + 1e-3)
    assert np.ptp(b[:, 2]) > 0  # scale changes over time


def test_bad_generation_arguments() -> None:
    with pytest.raises(ValueError, match="unknown attributes"):
        generate_sequence(SMALL, 0, ("rain",))
    with pytest.raises(ValueError, match="render_hz"):
        SynthConfig(render_hz=500)
    with pytest.raises(ValueError, match="unknown SynthConfig fields"):
        SynthConfig.from_dict({"width": 3})
    assert SynthConfig.from_dict(SMALL.to_dict()) == SMALL


# ------------------------------------------------------------------------------------------------ split planning
def test_split_counts() -> None:
    assert split_counts(100, (0.6, 0.2, 0.2)) == {"train": 60, "val": 20, "test": 20}
    assert split_counts(27, (0.6, 0.2, 0.2)) == {"train": 9, "val": 9, "test": 9}  # topped up for coverage
    assert split_counts(200, (0.6, 0.2, 0.2)) == {"train": 120, "val": 40, "test": 40}  # the synth default
    assert split_counts(10, (0.6, 0.2, 0.2)) == {"train": 6, "val": 2, "test": 2}
    assert split_counts(3, (1, 1, 1)) == {"train": 1, "val": 1, "test": 1}
    assert split_counts(5, (1, 0, 0)) == {"train": 5, "val": 0, "test": 0}
    with pytest.raises(ValueError, match="fractions"):
        split_counts(5, (0.5, 0.5))


def test_every_attribute_in_every_split() -> None:
    plans = plan_benchmark(27, seed=3, fractions=(0.6, 0.2, 0.2), extra_prob=0.2)
    for split in ("train", "val", "test"):
        tags = {a for p in plans if p.split == split for a in p.attributes}
        assert tags == set(ATTRIBUTES), split
    assert len({p.seed for p in plans}) == 27 and len({p.name for p in plans}) == 27
    assert plan_benchmark(27, 3, (0.6, 0.2, 0.2), 0.2) == plans
    # growing the benchmark keeps the existing sequences of a split
    bigger = {p.name: p for p in plan_benchmark(45, 3, (0.6, 0.2, 0.2), 0.2)}
    assert all(bigger[p.name] == p for p in plans if p.split in ("val", "test"))


def test_low_light_and_hdr_exclude_each_other() -> None:
    tags = assign_attributes(200, np.random.default_rng(0), extra_prob=0.5)
    assert not any({"low_light", "hdr"} <= set(t) for t in tags)
    assert all(len(t) >= 1 for t in tags)


# ------------------------------------------------------------------------------------- synth: options and folders
TINY_SYNTH = ["--sequences", "3", "--split-fractions", "1,1,1", "--size", "32x24", "--duration-s", "0.2",
              "--fps", "15"]


def test_synth_config_types_and_bounds() -> None:
    for bad, word in [({"width_px": 16.5}, "width_px"), ({"width_px": True}, "width_px"),
                      ({"duration_s": float("nan")}, "duration_s"), ({"fps": float("inf")}, "fps"),
                      ({"width_px": 100_000}, "sensor size"), ({"duration_s": -1.0}, "duration_s"),
                      ({"render_hz": 1e9}, "render_hz"), ({"target_aspect": [0.5]}, "target_aspect"),
                      ({"num_distractors": "2"}, "num_distractors")]:
        with pytest.raises(ValueError, match=word):
            SynthConfig(**bad)
    assert SynthConfig(duration_s=1, fps=30).duration_s == 1  # an integer is fine where a number is expected


@pytest.mark.parametrize("option, value, words", [
    ("--size", "0x0", "--size: expected a width and height between 16 and 4096"),
    ("--size", "99999x48", "--size"),
    ("--duration-s", "nan", "--duration-s: expected seconds in (0, 600]"),
    ("--duration-s", "-1", "--duration-s"),
    ("--fps", "inf", "--fps"),
    ("--fps", "600", "at most half of --render-hz"),
    ("--render-hz", "10", "--render-hz"),
    ("--sequences", "0", "--sequences"),
    ("--sequences", "100000000", "--sequences"),
    ("--seed", "-1", "--seed"),
    ("--workers", "0", "--workers"),
    ("--split-fractions", "0,0,0", "--split-fractions"),
])
def test_synth_refuses_bad_options_before_allocating(option, value, words, tmp_path, capsys) -> None:
    from had_snn.cli import main

    args = dict(zip(TINY_SYNTH[::2], TINY_SYNTH[1::2], strict=True)) | {option: value}
    assert main(["synth", "--out", str(tmp_path / "b"), *[x for kv in args.items() for x in kv]]) == 1
    err = capsys.readouterr().err
    assert words in err and "internal error" not in err
    assert not (tmp_path / "b").exists()


def test_synth_refuses_another_benchmark_and_force_rebuilds_cleanly(tmp_path, capsys) -> None:
    from had_snn.cli import main
    from had_snn.data.dataset import read_index

    out = tmp_path / "bench"
    assert main(["synth", "--out", str(out), *TINY_SYNTH, "--seed", "1"]) == 0
    index = read_index(out)
    files = {p: p.read_bytes() for p in out.rglob("*.h5")}
    capsys.readouterr()
    # another seed / count / size into the same folder: refused, naming what differs; nothing changes
    for extra, words in [(["--seed", "2"], "seed 1 (now 2)"), (["--seed", "1", "--size", "48x24"],
                                                                  "config.width_px 32 (now 48)")]:
        assert main(["synth", "--out", str(out), *TINY_SYNTH, *extra]) == 1
        err = capsys.readouterr().err
        assert "holds a benchmark made with other settings" in err and words in err and "--force" in err
        assert read_index(out) == index and {p: p.read_bytes() for p in out.rglob("*.h5")} == files
    # the same settings resume
    assert main(["synth", "--out", str(out), *TINY_SYNTH, "--seed", "1"]) == 0
    assert "0 generated, 3 reused" in capsys.readouterr().out
    # --force with fewer sequences: files the new plan does not name are deleted; the index describes the folder
    assert main(["synth", "--out", str(out), *TINY_SYNTH[2:], "--sequences", "2", "--split-fractions", "1,1,0",
                 "--seed", "2", "--force"]) == 0
    assert "2 generated, 0 reused (already valid), 1 stray file(s) removed" in capsys.readouterr().out
    index = read_index(out)
    assert index["generator"]["seed"] == 2
    on_disk = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.h5"))
    assert on_disk == sorted(e["file"] for e in index["sequences"].values()) == ["train/train_0000.h5",
                                                                                  "val/val_0000.h5"]
    # a stray sequence file (no index, e.g. copied in) is refused too, and --force removes it
    (out / "index.json").unlink()
    (out / "test").mkdir(exist_ok=True)
    (out / "test" / "other.h5").write_bytes(b"x")
    args = ["synth", "--out", str(out), *TINY_SYNTH[2:], "--sequences", "2", "--split-fractions", "1,1,0",
            "--seed", "2"]
    assert main(args) == 1
    assert "test/other.h5" in capsys.readouterr().err
    assert main([*args, "--force"]) == 0 and not (out / "test" / "other.h5").exists()


def test_synth_refuses_a_folder_in_use_or_holding_a_converted_dataset(tmp_path, capsys) -> None:
    from had_snn.cli import main
    from had_snn.data.dataset import write_index
    from had_snn.util.runlock import run_folder_lock

    out = tmp_path / "bench"
    with run_folder_lock(out):
        assert main(["synth", "--out", str(out), *TINY_SYNTH]) == 1
    assert "in use by another had-snn run" in capsys.readouterr().err
    assert not list(out.rglob("*.h5"))
    write_index(out, splits={"test": []}, sequences={}, generator={"source": "import-dataset", "dataset": "fe108"})
    assert main(["synth", "--out", str(out), *TINY_SYNTH]) == 1
    assert "not a synthetic benchmark" in capsys.readouterr().err
