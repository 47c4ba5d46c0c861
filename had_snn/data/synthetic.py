"""Synthetic RGB+event tracking sequences (the embedded default benchmark).

A textured target moves on a textured background (smooth non-linear motion, scale change, optional camera pan,
similar-looking distractors, a passing occluder). The scene is rendered at ``render_hz`` (>= 1 kHz); each render feeds
the event camera model of :mod:`had_snn.data.event_sim` (log intensity, so it is blind to the global illumination
level) and the RGB camera, which integrates the renders inside its exposure window (motion blur), adds photon shot
noise and read noise, clips at full scale and applies gamma. Low light scales the illumination down with a fixed
camera gain (dark, noisy frames); HDR splits the view into a very bright and a dim half (saturated / crushed frames).
Events keep the motion in both cases, and in ``fast_motion`` (blurred frames), ``occlusion``, ``distractor`` and
``camera_motion`` scenes. Frames know more in the other three: ``pause`` (the target stands still for 40-60 % of the
sequence, so it emits no events, while a similar-looking distractor keeps moving), ``color_distractor`` (a copy of the
target that differs only in hue, at equal luma per pixel, so it is invisible to a change detector, and crosses the
target) and ``textureless`` (a flat target on a textured background: events only at its moving edges). The target
always has a saturated hue on a desaturated background, so RGB frames can tell it apart.

Object motions are defined in image coordinates (they already are the apparent motion); a camera pan shifts the
background only. Ground-truth boxes are the full target extent, also while the occluder hides it.

The benchmark built from these sequences (splits, seeds, attribute coverage) is :mod:`had_snn.data.benchmark`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from typing import get_type_hints

import numpy as np

from had_snn.data.event_sim import EventCamera, EventCameraConfig, canonical_order
from had_snn.data.events import EVENT_DTYPE
from had_snn.data.limits import (
    ATTRIBUTES,
    MAX_DURATION_S,
    MAX_RENDER_HZ,
    MIN_RENDER_HZ,
    SYNTH_MAX_SENSOR_PX,
    SYNTH_MIN_SENSOR_PX,
)
from had_snn.data.scene import (
    LUMA_RGB,
    MovingBox,
    SinePath,
    chroma_basis,
    colorize,
    hue_colors,
    paste_boxes,
    procedural_texture,
    random_colors,
    texture_luma,
    view_window,
)
from had_snn.data.sequence import Sequence
from had_snn.util.config_check import check_value

GENERATOR_NAME = "had_snn.data.synthetic"
#: Bumped whenever the same seed and config render different data; stored in index.json and each file's meta, so
#: folders made by an older generator are refused (or rebuilt with --force) instead of mixed.
GENERATOR_VERSION = 2
#: Rendered pixel values per chunk of render steps (bounds the memory of the time-vectorised renderer).
CHUNK_VALUES = 4_000_000


@dataclass
class SynthConfig:
    """Generation parameters (saved into ``index.json``; sizes in px, times in s unless named otherwise).

    Attributes:
        width_px, height_px: sensor size.
        duration_s: sequence length.
        render_hz: internal render rate (>= 1000).
        fps: RGB frame rate; ``exposure_fraction`` of each frame period is integrated (motion blur).
        target_height_frac: range of the target's base height as a fraction of the sensor height.
        target_aspect: range of the target's width / height.
        motion_amplitude_frac, motion_freq_hz: centre path amplitude (fraction of the sensor size) and component
            frequencies for normal motion; ``fast_*`` for the ``fast_motion`` attribute.
        scale_log_amplitude: amplitude of ``log(scale)`` over time (scale change).
        pan_margin_px, pan_freq_hz: camera-pan amplitude and frequencies (``camera_motion``).
        num_distractors: similar-looking objects added for ``distractor``.
        occluder_speed_px_s: speed range of the bar that crosses the target (``occlusion``).
        low_light_level: illumination factor for ``low_light``; ``low_light_noise_scale`` multiplies the event
            noise rate there (DVS background activity rises in the dark).
        hdr_bright_gain, hdr_dark_level: illumination of the bright and dim halves for ``hdr``.
        full_well_e: electrons at full scale for photon shot noise (0 disables it); ``read_noise``: Gaussian read
            noise as a fraction of full scale; ``gamma``: output gamma.
        extra_attribute_prob: probability of each further attribute beyond a sequence's primary one (0.15: about
            2.2 tags per sequence with the nine attributes).
        target_saturation: chroma of the target's colours (0..1 of the most its luma allows; one random hue), so
            RGB frames can pick it out; ``background_saturation``: the background's colours are pulled towards
            grey to this fraction of their chroma.
        pause_fraction: range of the fraction of the sequence during which a ``pause`` target stands still (in
            one or two pauses).
        color_distractor_offset_frac: largest offset (fraction of the sensor width) of the ``color_distractor``
            from the target; the offset passes through zero, so the two cross.
        events: the event camera model.
    """

    width_px: int = 160
    height_px: int = 120
    duration_s: float = 2.0
    render_hz: float = 1000.0
    fps: float = 30.0
    exposure_fraction: float = 0.5
    target_height_frac: tuple[float, float] = (0.2, 0.35)
    target_aspect: tuple[float, float] = (0.6, 1.6)
    motion_amplitude_frac: float = 0.15
    motion_freq_hz: tuple[float, float] = (0.2, 0.6)
    fast_motion_amplitude_frac: float = 0.3
    fast_motion_freq_hz: tuple[float, float] = (0.7, 1.5)
    scale_log_amplitude: float = 0.2
    pan_margin_px: int = 20
    pan_freq_hz: tuple[float, float] = (0.2, 0.6)
    num_distractors: int = 2
    occluder_speed_px_s: tuple[float, float] = (120.0, 240.0)
    low_light_level: float = 0.03
    low_light_noise_scale: float = 4.0
    hdr_bright_gain: float = 25.0
    hdr_dark_level: float = 0.3
    full_well_e: float = 2000.0
    read_noise: float = 0.01
    gamma: float = 2.2
    extra_attribute_prob: float = 0.15
    target_saturation: float = 0.9
    background_saturation: float = 0.3
    pause_fraction: tuple[float, float] = (0.4, 0.6)
    color_distractor_offset_frac: float = 0.3
    events: EventCameraConfig = field(default_factory=EventCameraConfig)

    def __post_init__(self) -> None:
        if isinstance(self.events, dict):
            unknown = sorted(set(self.events) - {f.name for f in fields(EventCameraConfig)})
            if unknown:
                raise ValueError(f"SynthConfig.events: unknown field(s) {unknown}; expected some of "
                                 f"{sorted(f.name for f in fields(EventCameraConfig))}")
            self.events = EventCameraConfig(**self.events)
        for f in fields(self):
            if isinstance(getattr(self, f.name), list):
                setattr(self, f.name, tuple(getattr(self, f.name)))
        self._check_types()
        if not all(SYNTH_MIN_SENSOR_PX <= v <= SYNTH_MAX_SENSOR_PX for v in (self.width_px, self.height_px)):
            raise ValueError(f"sensor size must be between {SYNTH_MIN_SENSOR_PX}x{SYNTH_MIN_SENSOR_PX} and "
                             f"{SYNTH_MAX_SENSOR_PX}x{SYNTH_MAX_SENSOR_PX} px, got {self.width_px}x{self.height_px}")
        if not 0 < self.duration_s <= MAX_DURATION_S:
            raise ValueError(f"duration_s must be in (0, {MAX_DURATION_S}] s, got {self.duration_s}")
        if not MIN_RENDER_HZ <= self.render_hz <= MAX_RENDER_HZ:
            raise ValueError(f"render_hz must be in [{MIN_RENDER_HZ}, {MAX_RENDER_HZ}] (events need a fine time "
                             f"grid), got {self.render_hz}")
        if not 0 < self.fps <= self.render_hz / 2:
            raise ValueError(f"fps must be in (0, render_hz/2], got {self.fps}")
        if not 0 < self.exposure_fraction <= 1:
            raise ValueError(f"exposure_fraction must be in (0, 1], got {self.exposure_fraction}")
        if self.duration_s * self.fps < 2:
            raise ValueError(f"duration_s={self.duration_s} gives fewer than 2 frames at fps={self.fps}")
        for name in ("target_saturation", "background_saturation"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"SynthConfig.{name}: expected a number in [0, 1], got {getattr(self, name)}")
        if not 0 <= self.pause_fraction[0] <= self.pause_fraction[1] < 1:
            raise ValueError(f"SynthConfig.pause_fraction: expected 0 <= low <= high < 1, got {self.pause_fraction}")

    def _check_types(self) -> None:
        """Each field against its type hint (:func:`had_snn.util.config_check.check_value`: an integer is fine for a
        number, booleans are not numbers, numbers must be finite); ValueError names the field and the value."""
        hints = get_type_hints(type(self))
        for f in fields(self):
            if f.name != "events":
                setattr(self, f.name, check_value(getattr(self, f.name), hints[f.name], f"SynthConfig.{f.name}"))

    def to_dict(self) -> dict:
        """Plain JSON-serialisable dict (tuples become lists)."""
        return json.loads(json.dumps(asdict(self)))

    @classmethod
    def from_dict(cls, d: dict) -> SynthConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise a ValueError naming them."""
        unknown = set(d) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown SynthConfig fields: {sorted(unknown)}")
        return cls(**d)


@dataclass
class Scene:
    """The random draw of one sequence: textures, object motions and the illumination map.

    ``target_time`` (knot times, warped times, both in s) time-warps the target's motion (``pause``): the target
    is where its path was at ``np.interp(t, *target_time)``; None means no warp.
    """

    background: np.ndarray
    pan_y: SinePath | None
    pan_x: SinePath | None
    target_tex: np.ndarray
    target: MovingBox
    distractors: list[tuple[np.ndarray, MovingBox]]
    occluder: tuple[np.ndarray, float, float, float] | None  # texture, x at t_mid (px), t_mid (s), speed (px/s)
    illumination: np.ndarray
    noise_scale: float
    target_time: tuple[np.ndarray, np.ndarray] | None = None

    def target_boxes(self, t_s: np.ndarray) -> np.ndarray:
        """(K, 4) float64 target boxes ``x, y, w, h`` px at the times ``t_s`` (s), with the pause warp applied."""
        return _warped_boxes(self.target, self.target_time, t_s)


def _warped_boxes(target: MovingBox, target_time: tuple[np.ndarray, np.ndarray] | None, t_s) -> np.ndarray:
    """``target.boxes`` at the times ``t_s`` (s) after the optional time warp (see :class:`Scene`)."""
    t = np.atleast_1d(np.asarray(t_s, dtype=np.float64))
    if target_time is not None:
        t = np.interp(t, *target_time)
    return target.boxes(t)


def _random_path(rng: np.random.Generator, cfg: SynthConfig, size_px: float, start: float, fast: bool) -> SinePath:
    amp = (cfg.fast_motion_amplitude_frac if fast else cfg.motion_amplitude_frac) * size_px
    return SinePath.random(rng, start, amp, cfg.fast_motion_freq_hz if fast else cfg.motion_freq_hz)


def _moving_box(rng: np.random.Generator, cfg: SynthConfig, base_wh: tuple[float, float], fast: bool) -> MovingBox:
    W, H = cfg.width_px, cfg.height_px
    return MovingBox(
        base_wh=base_wh,
        cx=_random_path(rng, cfg, W, rng.uniform(0.3, 0.7) * W, fast),
        cy=_random_path(rng, cfg, H, rng.uniform(0.3, 0.7) * H, fast),
        log_scale=SinePath.random(rng, 0.0, cfg.scale_log_amplitude, (0.2, 0.8), n=2),
        bounds_wh=(W, H),
    )


def _with_component(path: SinePath, amplitude: float, freq_hz: float, phase: float) -> SinePath:
    """``path`` plus one more sine component."""
    return SinePath(path.offset, np.append(path.amplitudes, amplitude), np.append(path.freqs_hz, freq_hz),
                    np.append(path.phases, phase))


def _crossing_copy(rng: np.random.Generator, cfg: SynthConfig, target: MovingBox) -> MovingBox:
    """The target's motion (same size, scale change and path) plus an offset that oscillates through zero once in
    the middle half of the sequence, so the copy moves like the target, beside it, and crosses it."""
    D = cfg.duration_s
    f = rng.uniform(0.5, 0.9) / D  # about half a period over the sequence: one zero crossing near t_cross
    t_cross = rng.uniform(0.3, 0.7) * D
    phase = -2 * np.pi * f * t_cross
    amp_x = cfg.color_distractor_offset_frac * cfg.width_px * rng.choice([-1.0, 1.0])
    amp_y = 0.5 * cfg.color_distractor_offset_frac * cfg.height_px * rng.uniform(-1.0, 1.0)
    return MovingBox(target.base_wh, _with_component(target.cx, amp_x, f, phase),
                     _with_component(target.cy, amp_y, f, phase), target.log_scale, target.bounds_wh)


def _pause_warp(rng: np.random.Generator, cfg: SynthConfig) -> tuple[np.ndarray, np.ndarray]:
    """Knots of a time warp that stops the target for one or two pauses covering ``pause_fraction`` of the
    sequence. In between it moves along its whole path (as an unpaused target over the full duration, so faster:
    by 1 / (1 - paused fraction)); the first moving stretch covers at least 10 % of the sequence."""
    D = cfg.duration_s
    k = int(rng.integers(1, 3))
    pause_each = rng.uniform(*cfg.pause_fraction) * D / k
    moving = D - k * pause_each
    lead = 0.1 * D  # the target moves first, so the first frame's (static) box is not a free answer
    moves = rng.dirichlet(np.ones(k + 1)) * (moving - lead)
    moves[0] += lead
    speed = D / moving
    t, tau = [0.0], [0.0]
    for j in range(k):
        t += [t[-1] + moves[j], t[-1] + moves[j] + pause_each]
        tau += [tau[-1] + speed * moves[j], tau[-1] + speed * moves[j]]
    t.append(D + 1.0)  # the last stretch moves on at the same speed (past the end, for safety)
    tau.append(tau[-1] + speed * (D + 1.0 - t[-2]))
    return np.array(t), np.array(tau)


def _target_lumas_and_hue(pair: np.ndarray) -> tuple[np.ndarray, float]:
    """Bright and dark luma (in [0.45, 0.8] and [0.06, 0.25]) and a hue angle (rad) from a random colour pair."""
    luma = pair @ LUMA_RGB.astype(np.float64)
    bright = 0.45 + (luma[0] - 0.45) * (0.35 / 0.52)  # random_colors: bright luma in [0.45, 0.97]
    dark = 0.06 + (luma[1] - 0.03) * (0.19 / 0.37)  # dark luma in [0.03, 0.4]
    chroma = chroma_basis() @ (pair[0] - luma[0])
    return np.array([bright, dark]), float(np.arctan2(chroma[1], chroma[0]))


def _desaturate(colors: np.ndarray, saturation: float) -> np.ndarray:
    """Colours pulled towards the grey of equal luma, keeping ``saturation`` of their chroma."""
    grey = (colors @ LUMA_RGB.astype(np.float64))[:, None]
    return grey + saturation * (colors - grey)


def _illumination(rng: np.random.Generator, cfg: SynthConfig, attributes: tuple[str, ...]) -> np.ndarray:
    W, H = cfg.width_px, cfg.height_px
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float64)
    r2 = ((xx - W / 2) / (W / 2)) ** 2 + ((yy - H / 2) / (H / 2)) ** 2
    illum = 0.9 * (1.0 - 0.1 * r2)  # mild vignetting
    if "hdr" in attributes:  # a soft straight boundary near the centre between a dim and a very bright half
        ang = rng.uniform(0, 2 * np.pi)
        d = (xx - W / 2 - rng.uniform(-0.1, 0.1) * W) * np.cos(ang) + (yy - H / 2) * np.sin(ang)
        bright = 1.0 / (1.0 + np.exp(-d / 3.0))
        illum *= cfg.hdr_dark_level + (cfg.hdr_bright_gain - cfg.hdr_dark_level) * bright
    if "low_light" in attributes:
        illum *= cfg.low_light_level
    return illum.astype(np.float32)


def build_scene(cfg: SynthConfig, rng: np.random.Generator, attributes: tuple[str, ...]) -> Scene:
    """Draw the scene of one sequence with the given attribute tags (see the module docstring for each)."""
    W, H = cfg.width_px, cfg.height_px
    m = cfg.pan_margin_px if "camera_motion" in attributes else 0
    bg_colors = _desaturate(random_colors(rng), cfg.background_saturation)
    background = procedural_texture(rng, H + 2 * m + 1, W + 2 * m + 1, colors=bg_colors, contrast=0.6,
                                    patchiness=0.3)
    pan_y = pan_x = None
    if m:
        pan_y = SinePath.random(rng, m, 0.9 * m, cfg.pan_freq_hz, n=2)
        pan_x = SinePath.random(rng, m, 0.9 * m, cfg.pan_freq_hz, n=2)
    h = rng.uniform(*cfg.target_height_frac) * H
    base_wh = (h * rng.uniform(*cfg.target_aspect), h)
    # One saturated hue at a bright and a dark luma (the colour distractor gets another hue at the same lumas),
    # derived from a random colour pair so the random draws of the first six attributes' scenes keep their order.
    lumas, hue = _target_lumas_and_hue(random_colors(rng))
    colors = hue_colors(lumas, hue, cfg.target_saturation)
    tex_side = 48
    flat = "textureless" in attributes
    target_lum = texture_luma(rng, tex_side, tex_side, contrast=0.0 if flat else 0.9, patchiness=0.6)
    target_tex = colorize(target_lum, colors)
    target = _moving_box(rng, cfg, base_wh, fast="fast_motion" in attributes)
    distractors = []

    def add_similar() -> None:  # same colours, another texture, its own (unpaused) motion
        tex = procedural_texture(rng, tex_side, tex_side, colors=colors, contrast=0.9, patchiness=0.6)
        wh = (base_wh[0] * rng.uniform(0.85, 1.15), base_wh[1] * rng.uniform(0.85, 1.15))
        distractors.append((tex, _moving_box(rng, cfg, wh, fast=False)))

    for _ in range(cfg.num_distractors if "distractor" in attributes else 0):
        add_similar()
    occluder = None
    if "occlusion" in attributes:
        t_mid = rng.uniform(0.3, 0.7) * cfg.duration_s
        speed = rng.uniform(*cfg.occluder_speed_px_s) * rng.choice([-1.0, 1.0])
        occ_tex = procedural_texture(rng, 64, 16, contrast=0.7, patchiness=0.4)
        occluder = (occ_tex, t_mid, speed)
    illumination = _illumination(rng, cfg, attributes)
    noise_scale = cfg.low_light_noise_scale if "low_light" in attributes else 1.0
    # The frame-favouring attributes draw last.
    target_time = None
    if "pause" in attributes:
        target_time = _pause_warp(rng, cfg)
        add_similar()  # something that looks alike keeps moving while the target stands still
    if "color_distractor" in attributes:  # equal luma per pixel, another hue, the target's motion plus an offset
        other = hue_colors(lumas, hue + rng.uniform(0.6, 1.4) * np.pi, cfg.target_saturation)
        distractors.append((colorize(target_lum, other), _crossing_copy(rng, cfg, target)))
    if occluder is not None:  # the bar crosses the target's centre at t_mid
        occ_tex, t_mid, speed = occluder
        x_mid = float(_warped_boxes(target, target_time, np.array([t_mid]))[0, 0] + base_wh[0] / 2)
        occluder = (occ_tex, x_mid, t_mid, speed)
    return Scene(background, pan_y, pan_x, target_tex, target, distractors, occluder, illumination, noise_scale,
                 target_time)


@dataclass
class ScenePositions:
    """Where everything is at each render step: camera pan (M, 2) y/x px or None, target boxes (M, 4), distractor
    boxes (D, M, 4) and occluder boxes (M, 4) or None."""

    pan_yx: np.ndarray | None
    target: np.ndarray
    distractors: np.ndarray
    occluder: np.ndarray | None


def layout(cfg: SynthConfig, scene: Scene, t_s: np.ndarray) -> ScenePositions:
    """Evaluate every motion of ``scene`` at the times ``t_s`` (vectorised over time)."""
    pan = None if scene.pan_x is None else np.stack([scene.pan_y(t_s), scene.pan_x(t_s)], axis=-1)
    distractors = np.stack([mover.boxes(t_s) for _, mover in scene.distractors]) if scene.distractors else \
        np.empty((0, len(t_s), 4))
    occ = None
    if scene.occluder is not None:
        _, x_mid, t_mid, speed = scene.occluder
        bar_w = 0.5 * scene.target.base_wh[0] + 4.0
        x = x_mid + speed * (t_s - t_mid) - bar_w / 2
        occ = np.stack([x, np.full_like(x, -1.0), np.full_like(x, bar_w), np.full_like(x, cfg.height_px + 2.0)], -1)
    return ScenePositions(pan, scene.target_boxes(t_s), distractors, occ)


def render_reflectance(cfg: SynthConfig, scene: Scene, lay: ScenePositions, i: int) -> np.ndarray:
    """The (H, W, 3) reflectance image at render step ``i`` (background, distractors, target, occluder on top)."""
    return render_chunk(cfg, scene, lay, i, i + 1)[0]


def render_chunk(cfg: SynthConfig, scene: Scene, lay: ScenePositions, i0: int, i1: int) -> np.ndarray:
    """The (i1 - i0, H, W, 3) reflectance images of render steps ``i0..i1-1``, vectorised over time."""
    W, H = cfg.width_px, cfg.height_px
    T = i1 - i0
    if lay.pan_yx is not None:
        canvas = np.empty((T, H, W, 3), dtype=np.float32)
        for k in range(T):
            canvas[k] = view_window(scene.background, (float(lay.pan_yx[i0 + k, 0]), float(lay.pan_yx[i0 + k, 1])),
                                    H, W)
    else:
        canvas = np.repeat(scene.background[None, :H, :W], T, axis=0)
    for (tex, _), boxes in zip(scene.distractors, lay.distractors, strict=True):
        paste_boxes(canvas, tex, boxes[i0:i1])
    paste_boxes(canvas, scene.target_tex, lay.target[i0:i1])
    if lay.occluder is not None:
        paste_boxes(canvas, scene.occluder[0], lay.occluder[i0:i1])
    return canvas


def _expose(cfg: SynthConfig, radiance: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Sensor model: shot noise, read noise, clipping at full scale, gamma, 8-bit quantisation."""
    signal = np.clip(radiance, 0.0, None).astype(np.float64)
    if cfg.full_well_e > 0:
        signal = rng.poisson(signal * cfg.full_well_e) / cfg.full_well_e
    if cfg.read_noise > 0:
        signal = signal + rng.normal(0.0, cfg.read_noise, size=signal.shape)
    out = np.clip(signal, 0.0, 1.0) ** (1.0 / cfg.gamma)
    return np.rint(out * 255.0).astype(np.uint8)


def frame_schedule(cfg: SynthConfig) -> tuple[np.ndarray, np.ndarray, int]:
    """Render-step times (us), the first render step of each frame's exposure, and render steps per exposure."""
    n_steps = int(round(cfg.duration_s * cfg.render_hz)) + 1
    t_us = np.rint(np.arange(n_steps) * 1e6 / cfg.render_hz).astype(np.int64)
    per_exposure = max(1, int(round(cfg.exposure_fraction * cfg.render_hz / cfg.fps)))
    n_frames = int(np.floor((n_steps - per_exposure) * cfg.fps / cfg.render_hz)) + 1
    starts = np.rint(np.arange(n_frames) * cfg.render_hz / cfg.fps).astype(np.int64)
    return t_us, starts[starts + per_exposure <= n_steps], per_exposure


def scene_of(cfg: SynthConfig, seed: int, attributes: tuple[str, ...]) -> Scene:
    """The scene :func:`generate_sequence` renders for ``seed`` and ``attributes`` (for checks and plots)."""
    return build_scene(cfg, np.random.default_rng(np.random.SeedSequence(seed).spawn(4)[0]), tuple(attributes))


def generate_sequence(cfg: SynthConfig, seed: int, attributes: tuple[str, ...], name: str = "synth") -> Sequence:
    """Render one sequence deterministically from ``seed`` with the given attribute tags.

    Frame boxes are the target's exact box at each frame's exposure centre; the dense trajectory holds the box at
    every render step, so :meth:`Sequence.box_at` works at any time. Boxes are the full target extent even while
    the occluder hides it.
    """
    unknown = set(attributes) - set(ATTRIBUTES)
    if unknown:
        raise ValueError(f"unknown attributes {sorted(unknown)}; expected a subset of {ATTRIBUTES}")
    scene_ss, camera_ss, noise_ss, frame_ss = np.random.SeedSequence(seed).spawn(4)
    scene = scene_of(cfg, seed, attributes)
    t_us, starts, per_exposure = frame_schedule(cfg)
    lay = layout(cfg, scene, t_us * 1e-6)
    traj = lay.target
    camera = EventCamera(cfg.events, cfg.width_px, cfg.height_px, np.random.default_rng(camera_ss))
    frame_rng = np.random.default_rng(frame_ss)
    frame_of_step = np.full(len(t_us), -1)
    for k, s in enumerate(starts):
        frame_of_step[s : s + per_exposure] = k
    frames = np.empty((len(starts), cfg.height_px, cfg.width_px, 3), dtype=np.uint8)
    acc = np.zeros((cfg.height_px, cfg.width_px, 3), dtype=np.float32)
    chunk = max(1, CHUNK_VALUES // (cfg.height_px * cfg.width_px * 3))
    chunks = []
    for i0 in range(0, len(t_us), chunk):  # render a chunk of steps at once, then feed both cameras
        i1 = min(i0 + chunk, len(t_us))
        radiance = render_chunk(cfg, scene, lay, i0, i1)
        radiance *= scene.illumination[None, :, :, None]
        lum = radiance @ LUMA_RGB
        if i0 == 0:
            camera.reset(lum[0], int(t_us[0]))
        first = 1 if i0 == 0 else 0
        chunks.append(camera.step_many(lum[first:], t_us[i0 + first : i1]))
        ks = frame_of_step[i0:i1]
        for k in np.unique(ks[ks >= 0]):  # the exposure of frame k is the contiguous steps starts[k] + [0, per)
            a, b = max(int(starts[k]), i0), min(int(starts[k]) + per_exposure, i1)
            acc += radiance[a - i0 : b - i0].sum(axis=0)
            if starts[k] + per_exposure <= i1:  # exposure complete
                frames[k] = _expose(cfg, acc / per_exposure, frame_rng)
                acc[:] = 0.0
    chunks.append(camera.noise(int(t_us[0]), int(t_us[-1]) + 1, np.random.default_rng(noise_ss), scene.noise_scale))
    events = np.concatenate(chunks) if chunks else np.empty(0, dtype=EVENT_DTYPE)
    events = canonical_order(events)  # by time, then y, x, polarity
    frame_t_us = np.rint((t_us[starts] + t_us[starts + per_exposure - 1]) / 2.0).astype(np.int64)  # exposure centre
    return Sequence(
        name=name,
        events=events,
        sensor_size=(cfg.width_px, cfg.height_px),
        frame_t_us=frame_t_us,
        boxes=scene.target_boxes(frame_t_us * 1e-6),
        frames=frames,
        trajectory_t_us=t_us,
        trajectory_boxes=traj.astype(np.float32),
        attributes=tuple(a for a in ATTRIBUTES if a in attributes),
        meta={"generator": GENERATOR_NAME, "generator_version": GENERATOR_VERSION, "seed": int(seed),
              "config": cfg.to_dict()},
    )
