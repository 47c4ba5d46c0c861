"""Procedural scenes for the synthetic benchmark: textures, smooth non-linear motion paths and layered rendering.

Everything is plain numpy and vectorised over pixels. Images are float32 linear reflectance in ``[0, 1]``, shape
``(H, W, 3)``; the illumination map multiplies it into scene radiance later (see :mod:`had_snn.data.synthetic`).
Layers are rendered with exact per-pixel area coverage at their borders and bilinear texture sampling, so sub-pixel
motion changes pixel values smoothly (which the event model needs at a 1 kHz render rate).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LUMA_RGB = np.array([0.299, 0.587, 0.114], dtype=np.float32)  # ITU-R BT.601 luma weights


def _pink_noise(rng: np.random.Generator, h: int, w: int, beta: float, min_period_px: float) -> np.ndarray:
    """Band-limited 1/f^beta Gaussian noise on an (h, w) grid, standardised to zero mean and unit variance."""
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    f = np.sqrt(fx**2 + fy**2)
    f[0, 0] = 1.0
    amp = f ** (-beta / 2.0) * (f <= 1.0 / min_period_px)
    amp[0, 0] = 0.0
    spec = (rng.normal(size=amp.shape) + 1j * rng.normal(size=amp.shape)) * amp
    img = np.fft.irfft2(spec, s=(h, w))
    return (img - img.mean()) / max(float(img.std()), 1e-12)


def random_colors(rng: np.random.Generator) -> np.ndarray:
    """A (2, 3) pair of RGB reflectances, one bright and one dark, so textures built from them have contrast."""
    return np.stack([rng.uniform(0.45, 0.97, size=3), rng.uniform(0.03, 0.4, size=3)])


def procedural_texture(
    rng: np.random.Generator,
    h: int,
    w: int,
    *,
    colors: np.ndarray | None = None,
    contrast: float = 0.8,
    patchiness: float = 0.5,
    min_period_px: float = 3.0,
) -> np.ndarray:
    """A random (h, w, 3) float32 reflectance texture in ``[0.03, 0.97]``.

    Pink noise supplies smooth shading; a thresholded second noise field adds patches with sharp edges
    (``patchiness`` in 0..1 is their weight). The pattern blends two RGB ``colors`` ((2, 3) array, from
    :func:`random_colors` when None) with weight ``contrast``, so textures made with the same colours look alike
    (used for distractors).
    """
    if colors is None:
        colors = random_colors(rng)
    shade = np.clip(0.5 + 0.25 * _pink_noise(rng, h, w, beta=2.0, min_period_px=min_period_px), 0.0, 1.0)
    patches = (_pink_noise(rng, h, w, beta=3.0, min_period_px=2 * min_period_px) > 0).astype(np.float64)
    lum = (1.0 - patchiness) * shade + patchiness * patches
    lum = 0.5 + contrast * (lum - 0.5)
    tex = lum[..., None] * colors[0] + (1.0 - lum[..., None]) * colors[1]
    return np.clip(tex, 0.03, 0.97).astype(np.float32)


def _bilinear_grid(tex: np.ndarray, v: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Sample ``tex`` (h, w, C) bilinearly on the separable grid of row coords ``v`` and column coords ``u``.

    Two 1-D passes (rows, then columns) over only the texture columns the grid touches.
    """
    h, w = tex.shape[:2]
    v = np.clip(v, 0.0, h - 1.0)
    u = np.clip(u, 0.0, w - 1.0)
    y0 = np.minimum(v.astype(np.int64), max(h - 2, 0))
    x0 = np.minimum(u.astype(np.int64), max(w - 2, 0))
    y1, x1 = np.minimum(y0 + 1, h - 1), np.minimum(x0 + 1, w - 1)
    fy = (v - y0).astype(np.float32)[:, None, None]
    fx = (u - x0).astype(np.float32)[None, :, None]
    lo, hi = int(x0.min()), int(x1.max()) + 1
    sub = tex[:, lo:hi]
    top = sub[y0]
    rows = top + fy * (sub[y1] - top)
    left = rows[:, x0 - lo]
    return left + fx * (rows[:, x1 - lo] - left)


def _coverage_1d(lo: float, hi: float, start: int, stop: int) -> np.ndarray:
    """Fraction of each pixel ``[i, i+1)`` for i in ``start..stop-1`` covered by the interval ``[lo, hi)``."""
    px = np.arange(start, stop, dtype=np.float64)
    return np.clip(np.minimum(px + 1.0, hi) - np.maximum(px, lo), 0.0, 1.0).astype(np.float32)


def paste_box(canvas: np.ndarray, tex: np.ndarray, box: np.ndarray) -> None:
    """Composite ``tex`` stretched over ``box`` (x, y, w, h px, sub-pixel) onto ``canvas`` in place.

    Border pixels blend with their exact area coverage (anti-aliasing); parts outside the canvas are skipped.
    """
    x, y, bw, bh = (float(b) for b in box)
    H, W = canvas.shape[:2]
    c0, c1 = max(int(np.floor(x)), 0), min(int(np.ceil(x + bw)), W)
    r0, r1 = max(int(np.floor(y)), 0), min(int(np.ceil(y + bh)), H)
    if c0 >= c1 or r0 >= r1 or bw <= 0 or bh <= 0:
        return
    th, tw = tex.shape[:2]
    u = (np.arange(c0, c1) + 0.5 - x) / bw * tw - 0.5
    v = (np.arange(r0, r1) + 0.5 - y) / bh * th - 0.5
    patch = _bilinear_grid(tex, v, u)
    alpha = (_coverage_1d(y, y + bh, r0, r1)[:, None] * _coverage_1d(x, x + bw, c0, c1)[None, :])[..., None]
    region = canvas[r0:r1, c0:c1]
    region += alpha * (patch - region)


def view_window(tex: np.ndarray, top_left_yx: tuple[float, float], h: int, w: int) -> np.ndarray:
    """The (h, w) window of a larger texture at a sub-pixel offset (used for camera pan over the background)."""
    oy, ox = top_left_yx
    return _bilinear_grid(tex, np.arange(h) + oy, np.arange(w) + ox)


def fold_into(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Reflect values into ``[lo, hi]`` (a triangle wave): a continuous path that bounces off the limits."""
    span = max(hi - lo, 1e-9)
    z = np.mod(x - lo, 2.0 * span)
    return lo + np.where(z > span, 2.0 * span - z, z)


@dataclass
class SinePath:
    """A smooth non-linear 1-D path ``offset + sum_k a_k sin(2 pi f_k t + phi_k)`` (t in seconds)."""

    offset: float
    amplitudes: np.ndarray
    freqs_hz: np.ndarray
    phases: np.ndarray

    @classmethod
    def random(
        cls, rng: np.random.Generator, offset: float, amplitude: float, freq_hz: tuple[float, float], n: int = 3
    ) -> SinePath:
        """A random path whose component amplitudes sum to ``amplitude`` and frequencies lie in ``freq_hz``."""
        w = rng.dirichlet(np.ones(n))
        return cls(offset, amplitude * w, rng.uniform(*freq_hz, size=n), rng.uniform(0, 2 * np.pi, size=n))

    def __call__(self, t_s: np.ndarray) -> np.ndarray:
        t = np.asarray(t_s, dtype=np.float64)[..., None]
        return self.offset + np.sum(self.amplitudes * np.sin(2 * np.pi * self.freqs_hz * t + self.phases), axis=-1)

    def peak_speed(self) -> float:
        """Upper bound of ``|dx/dt|`` in units per second."""
        return float(np.sum(np.abs(self.amplitudes) * 2 * np.pi * self.freqs_hz))


@dataclass
class MovingBox:
    """A box whose centre follows two folded sine paths and whose size scales by ``exp(log_scale(t))``.

    The centre is folded into the range that keeps the largest possible box inside ``bounds_wh`` (when it fits).
    """

    base_wh: tuple[float, float]
    cx: SinePath
    cy: SinePath
    log_scale: SinePath
    bounds_wh: tuple[float, float]

    def boxes(self, t_s: np.ndarray) -> np.ndarray:
        """(K, 4) float64 boxes ``x, y, w, h`` px at the times ``t_s`` (seconds)."""
        t = np.atleast_1d(np.asarray(t_s, dtype=np.float64))
        s = np.exp(self.log_scale(t))
        w, h = self.base_wh[0] * s, self.base_wh[1] * s
        s_max = np.exp(np.sum(np.abs(self.log_scale.amplitudes)) + self.log_scale.offset)
        hw, hh = 0.5 * self.base_wh[0] * s_max, 0.5 * self.base_wh[1] * s_max
        W, H = self.bounds_wh
        cx = fold_into(self.cx(t), hw, W - hw) if W > 2 * hw else np.full_like(t, W / 2)
        cy = fold_into(self.cy(t), hh, H - hh) if H > 2 * hh else np.full_like(t, H / 2)
        return np.stack([cx - w / 2, cy - h / 2, w, h], axis=-1)
