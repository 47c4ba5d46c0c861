"""The scene attributes where RGB frames know more than events (pause, color_distractor, textureless), the
colour cue on every scene, attribute coverage of the default benchmark and determinism across worker counts."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from had_snn.data.benchmark import build_benchmark, plan_benchmark, split_counts
from had_snn.data.event_sim import EventCamera, EventCameraConfig
from had_snn.data.limits import ATTRIBUTES, DEFAULT_NUM_SEQUENCES
from had_snn.data.scene import LUMA_RGB, chroma_basis, paste_box
from had_snn.data.synthetic import SynthConfig, generate_sequence, layout, render_chunk, scene_of

QUIET = SynthConfig(width_px=64, height_px=48, duration_s=1.0, events=EventCameraConfig(noise_rate_hz=0.0))


def _inside(seq, boxes_at_events: np.ndarray, margin_px: float) -> np.ndarray:
    x, y = seq.events["x"] + 0.5, seq.events["y"] + 0.5
    b = boxes_at_events
    return ((x >= b[:, 0] - margin_px) & (x <= b[:, 0] + b[:, 2] + margin_px)
            & (y >= b[:, 1] - margin_px) & (y <= b[:, 1] + b[:, 3] + margin_px))


def test_new_attributes_are_listed_after_the_first_six() -> None:
    assert ATTRIBUTES[:6] == ("fast_motion", "low_light", "hdr", "occlusion", "distractor", "camera_motion")
    assert ATTRIBUTES[6:] == ("pause", "color_distractor", "textureless")


@pytest.mark.parametrize("seed", [0, 1])
def test_pause_target_is_silent_in_events_but_seen_in_frames(seed: int) -> None:
    seq = generate_sequence(QUIET, seed, ("pause",))
    scene = scene_of(QUIET, seed, ("pause",))
    knots = scene.target_time[0]
    pauses = [(knots[j], knots[j + 1]) for j in range(1, len(knots) - 1, 2)]
    paused_s = sum(b - a for a, b in pauses)
    assert 0.4 <= paused_s / QUIET.duration_s <= 0.6
    # between pauses the target covers its whole path (as an unpaused one would over the sequence), moving first
    assert np.interp(QUIET.duration_s, *scene.target_time) == pytest.approx(QUIET.duration_s)
    assert knots[1] >= 0.1 * QUIET.duration_s
    t_s = seq.events["t"] * 1e-6
    in_pause = np.zeros(len(t_s), bool)
    for a, b in pauses:
        in_pause |= (t_s > a) & (t_s < b)
    # the target box does not move during a pause
    tt = seq.trajectory_t_us * 1e-6
    for a, b in pauses:
        still = seq.trajectory_boxes[(tt >= a) & (tt <= b)]
        assert np.ptp(still, axis=0).max() == 0.0
    # events on the target (not on the moving look-alike): a pause has almost none, motion plenty
    et = seq.events["t"].astype(np.float64)
    on_target = _inside(seq, seq.box_at(et), 1.0)
    lay = layout(QUIET, scene, et * 1e-6)
    on_distractor = np.zeros(len(et), bool)
    for boxes in lay.distractors:
        on_distractor |= _inside(seq, boxes, 2.0)
    rate_pause = np.sum(on_target & ~on_distractor & in_pause) / paused_s
    rate_move = np.sum(on_target & ~on_distractor & ~in_pause) / (QUIET.duration_s - paused_s)
    assert rate_move > 200
    assert rate_pause < 0.05 * rate_move
    # ... while a frame taken in a pause shows the target's colour in its box
    mid = np.mean(pauses[0])
    k = int(np.argmin(np.abs(seq.frame_t_us * 1e-6 - mid)))
    x, y, w, h = np.round(seq.boxes[k]).astype(int)
    lin = (seq.frames[k].astype(np.float64) / 255.0) ** QUIET.gamma
    tex_chroma = scene.target_tex.reshape(-1, 3).mean(0) - scene.target_tex.reshape(-1, 3).mean(0) @ LUMA_RGB
    d = tex_chroma / np.linalg.norm(tex_chroma)
    chroma = (lin - (lin @ LUMA_RGB)[..., None]) @ d
    inside = np.zeros(chroma.shape, bool)
    inside[y + 2 : y + h - 2, x + 2 : x + w - 2] = True
    assert chroma[inside].mean() > 0.05 + chroma[~inside].mean()


def test_color_distractor_has_the_targets_luma_but_another_hue_and_crosses_it() -> None:
    scene = scene_of(QUIET, 4, ("color_distractor",))
    assert len(scene.distractors) == 1
    tex, mover = scene.distractors[0]
    np.testing.assert_allclose(tex @ LUMA_RGB, scene.target_tex @ LUMA_RGB, atol=1e-5)  # equal luma per pixel
    assert np.abs(tex - scene.target_tex).mean() > 0.1  # but RGB differs
    t_s = np.linspace(0, QUIET.duration_s, 1001)
    a, b = scene.target_boxes(t_s), mover.boxes(t_s)
    np.testing.assert_allclose(a[:, 2:], b[:, 2:])  # same size and scale change
    gap = np.hypot(*(a[:, :2] - b[:, :2]).T)
    assert gap.min() < 2.0 and gap.max() > 10.0  # beside the target, then across it
    # a change detector cannot tell them apart: the same path over the same background gives the same events
    W, H = QUIET.width_px, QUIET.height_px
    events = []
    for texture in (scene.target_tex, tex):
        cam = EventCamera(QUIET.events, W, H, np.random.default_rng(0))
        lum = []
        for box in a[::5]:
            canvas = scene.background[:H, :W].copy()
            paste_box(canvas, texture, box)
            lum.append((canvas * scene.illumination[..., None]) @ LUMA_RGB)
        cam.reset(lum[0], 0)
        events.append(cam.step_many(np.stack(lum[1:]), np.arange(1, len(lum)) * 5000))
    assert len(events[0]) > 100
    assert abs(len(events[0]) - len(events[1])) <= 0.01 * len(events[0])


def test_textureless_target_is_flat_and_fires_only_at_its_edges() -> None:
    scene = scene_of(QUIET, 5, ("textureless",))
    assert float(np.ptp(scene.target_tex.reshape(-1, 3), axis=0).max()) == 0.0  # one colour
    textured = scene_of(QUIET, 5, ())
    assert float(textured.target_tex.reshape(-1, 3).std(axis=0).max()) > 0.05
    seq = generate_sequence(QUIET, 5, ("textureless",))
    et = seq.events["t"].astype(np.float64)
    b = seq.box_at(et)
    core = np.concatenate([b[:, :2] + 0.25 * b[:, 2:], 0.5 * b[:, 2:]], axis=1)  # the central quarter of the box
    near = _inside(seq, b, 2.0)
    assert near.mean() > 0.95
    assert _inside(seq, core, 0.0).mean() < 0.05


def test_target_hue_stands_out_from_the_background() -> None:
    assert np.abs(chroma_basis() @ LUMA_RGB).max() < 1e-7  # chroma directions leave luma unchanged

    def chroma(img: np.ndarray) -> float:
        """Mean distance of each pixel from the grey of its own luma."""
        px = img.reshape(-1, 3).astype(np.float64)
        return float(np.linalg.norm(px - (px @ LUMA_RGB)[:, None], axis=1).mean())

    for seed in range(3):
        scene = scene_of(SynthConfig(width_px=64, height_px=48), seed, ())
        assert chroma(scene.target_tex) > 2.5 * chroma(scene.background)


def test_step_many_equals_single_steps() -> None:
    rng = np.random.default_rng(0)
    lum = np.exp(np.cumsum(rng.normal(0, 0.15, (40, 6, 7)), axis=0)) * 0.5
    cfg = EventCameraConfig(noise_rate_hz=0.0, refractory_us=150)
    one, many = (EventCamera(cfg, 7, 6, np.random.default_rng(3)) for _ in range(2))
    one.reset(lum[0], 0)
    many.reset(lum[0], 0)
    t = np.arange(1, 40) * 1000
    a = np.concatenate([one.step(lum[i], int(t[i - 1])) for i in range(1, 40)])
    b = np.concatenate([many.step_many(lum[1:17], t[:16]), many.step_many(lum[17:], t[16:])])
    assert len(a) > 50
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(one.ref, many.ref)


def test_compiled_and_numpy_event_loops_agree(monkeypatch) -> None:
    from had_snn.data import event_sim

    if event_sim._KERNEL is None:
        pytest.skip("numba is not installed: only the numpy loop exists")
    rng = np.random.default_rng(1)
    lum = np.exp(np.cumsum(rng.normal(0, 0.2, (60, 8, 9)), axis=0)) * 0.4
    t = np.arange(1, 60) * 1000
    out = []
    for kernel in (event_sim._KERNEL, None):
        monkeypatch.setattr(event_sim, "_KERNEL", kernel)
        cam = EventCamera(EventCameraConfig(refractory_us=200), 9, 8, np.random.default_rng(2))
        cam.reset(lum[0], 0)
        out.append((np.concatenate([cam.step_many(lum[1:30], t[:29]), cam.step_many(lum[30:], t[29:])]),
                    cam.ref.copy(), cam.last_event_us.copy()))
    assert len(out[0][0]) > 200
    for a, b in zip(out[0], out[1], strict=True):
        np.testing.assert_array_equal(a, b)


def test_paste_boxes_equals_paste_box_per_step() -> None:
    from had_snn.data.scene import paste_boxes

    rng = np.random.default_rng(0)
    tex = rng.random((20, 24, 3)).astype(np.float32)
    for _ in range(10):
        boxes = np.stack([rng.uniform(-5, 40, 5), rng.uniform(-5, 30, 5), rng.uniform(0.5, 20, 5),
                          rng.uniform(0.5, 20, 5)], axis=1)
        boxes[2, 2] = 0.0  # an empty box pastes nothing
        base = rng.random((5, 30, 40, 3)).astype(np.float32)
        chunk, single = base.copy(), base.copy()
        paste_boxes(chunk, tex, boxes)
        for k in range(5):
            paste_box(single[k], tex, boxes[k])
        np.testing.assert_allclose(chunk, single, atol=1e-5)
        np.testing.assert_array_equal(chunk[2], base[2])


def test_chunked_render_matches_step_by_step() -> None:
    cfg = dataclasses.replace(QUIET, duration_s=0.1)
    attrs = ("camera_motion", "occlusion", "distractor", "color_distractor")
    scene = scene_of(cfg, 2, attrs)
    lay = layout(cfg, scene, np.arange(101) * 1e-3)
    chunk = render_chunk(cfg, scene, lay, 10, 40)
    for k in (0, 13, 29):
        np.testing.assert_allclose(chunk[k], render_chunk(cfg, scene, lay, 10 + k, 11 + k)[0], atol=1e-6)


def test_default_benchmark_size_and_attribute_coverage() -> None:
    counts = split_counts(DEFAULT_NUM_SEQUENCES, (0.6, 0.2, 0.2))
    assert counts["test"] >= 40
    plans = plan_benchmark(DEFAULT_NUM_SEQUENCES, seed=0, fractions=(0.6, 0.2, 0.2), extra_prob=0.2)
    for split in ("train", "val", "test"):
        tags = [p.attributes for p in plans if p.split == split]
        assert all(tags)  # every sequence tagged
        assert {a for t in tags for a in t} == set(ATTRIBUTES), split
    small = plan_benchmark(len(ATTRIBUTES) * 3, seed=1, fractions=(0.6, 0.2, 0.2), extra_prob=0.0)
    for split in ("train", "val", "test"):
        assert sorted(a for p in small if p.split == split for a in p.attributes) == sorted(ATTRIBUTES)


def test_benchmark_is_identical_whatever_the_worker_count(tmp_path) -> None:
    from had_snn.data.io import read_sequence

    cfg = SynthConfig(width_px=32, height_px=24, duration_s=0.2, fps=15)
    for workers in (1, 2):
        build_benchmark(tmp_path / f"w{workers}", 4, seed=5, fractions=(1, 1, 0), cfg=cfg, workers=workers,
                        progress=False)
    files = sorted(p.relative_to(tmp_path / "w1") for p in (tmp_path / "w1").rglob("*.h5"))
    assert len(files) == 4
    for f in files:
        a, b = read_sequence(tmp_path / "w1" / f), read_sequence(tmp_path / "w2" / f)
        np.testing.assert_array_equal(a.events, b.events)
        np.testing.assert_array_equal(a.frames, b.frames)
        np.testing.assert_array_equal(a.boxes, b.boxes)
        assert a.attributes == b.attributes and a.meta == b.meta


def test_synth_command_mirrors_the_data_constants() -> None:
    from had_snn.commands import synth

    assert synth.NUM_ATTRIBUTES == len(ATTRIBUTES) == 9
    import argparse

    parser = argparse.ArgumentParser()
    synth.add_arguments(parser)
    help_text = parser.format_help().replace("\n", " ")
    assert all(a in " ".join(help_text.split()) for a in ATTRIBUTES)
    assert parser.parse_args(["--out", "x"]).sequences == DEFAULT_NUM_SEQUENCES
