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


def texture_luma(
    rng: np.random.Generator, h: int, w: int, *, contrast: float = 0.8, patchiness: float = 0.5,
    min_period_px: float = 3.0,
) -> np.ndarray:
    """The (h, w) blend weight in ``[0, 1]`` of a procedural texture (see :func:`procedural_texture`).

    Pink noise supplies smooth shading; a thresholded second noise field adds patches with sharp edges
    (``patchiness`` in 0..1 is their weight); ``contrast`` 0 gives a flat (textureless) field of 0.5.
    """
    shade = np.clip(0.5 + 0.25 * _pink_noise(rng, h, w, beta=2.0, min_period_px=min_period_px), 0.0, 1.0)
    patches = (_pink_noise(rng, h, w, beta=3.0, min_period_px=2 * min_period_px) > 0).astype(np.float64)
    lum = (1.0 - patchiness) * shade + patchiness * patches
    return 0.5 + contrast * (lum - 0.5)


def colorize(lum: np.ndarray, colors: np.ndarray) -> np.ndarray:
    """(h, w, 3) float32 texture blending ``colors[0]`` (weight ``lum``) and ``colors[1]``, clipped to [0.03, 0.97].

    Two textures made from one ``lum`` with colour pairs of equal luma have equal luma at every pixel.
    """
    tex = lum[..., None] * colors[0] + (1.0 - lum[..., None]) * colors[1]
    return np.clip(tex, 0.03, 0.97).astype(np.float32)


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

    The pattern (:func:`texture_luma`) blends two RGB ``colors`` ((2, 3) array, from :func:`random_colors` when
    None) with weight ``contrast``, so textures made with the same colours look alike (used for distractors).
    """
    if colors is None:
        colors = random_colors(rng)
    lum = texture_luma(rng, h, w, contrast=contrast, patchiness=patchiness, min_period_px=min_period_px)
    return colorize(lum, colors)


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
    """The (h, w) window of a larger texture at a sub-pixel offset (used for camera pan over the background).

    Bilinear sampling at one fractional offset for the whole window: a blend of four shifted slices (no gather).
    The window must lie inside the texture (``0 <= offset`` and ``offset + size <= texture size - 1``); else it
    falls back to clamped bilinear sampling.
    """
    oy, ox = float(top_left_yx[0]), float(top_left_yx[1])
    th, tw = tex.shape[:2]
    y0, x0 = int(np.floor(oy)), int(np.floor(ox))
    if y0 < 0 or x0 < 0 or y0 + h + 1 > th or x0 + w + 1 > tw:
        return _bilinear_grid(tex, np.arange(h) + oy, np.arange(w) + ox)
    fy, fx = np.float32(oy - y0), np.float32(ox - x0)
    top = tex[y0 : y0 + h, x0 : x0 + w + 1]
    rows = top + fy * (tex[y0 + 1 : y0 + h + 1, x0 : x0 + w + 1] - top)
    left = rows[:, :w]
    return left + fx * (rows[:, 1:] - left)


def paste_boxes(canvas: np.ndarray, tex: np.ndarray, boxes: np.ndarray) -> None:
    """:func:`paste_box` for a chunk of time steps at once: ``canvas`` (T, H, W, C), ``boxes`` (T, 4) px.

    Works on the union of the boxes' pixel ranges; each step's pixels outside its own box get coverage 0 and keep
    their value, so the result equals ``T`` calls of :func:`paste_box` (to float rounding).
    """
    T, H, W = canvas.shape[:3]
    b = np.asarray(boxes, dtype=np.float64).reshape(T, 4)
    x, y, bw, bh = b[:, 0], b[:, 1], b[:, 2], b[:, 3]
    ok = (bw > 0) & (bh > 0)
    if not ok.any():
        return
    c0, c1 = max(int(np.floor(x[ok].min())), 0), min(int(np.ceil((x + bw)[ok].max())), W)
    r0, r1 = max(int(np.floor(y[ok].min())), 0), min(int(np.ceil((y + bh)[ok].max())), H)
    if c0 >= c1 or r0 >= r1:
        return
    th, tw = tex.shape[:2]
    safe_w, safe_h = np.where(ok, bw, 1.0), np.where(ok, bh, 1.0)
    cols, rows_px = np.arange(c0, c1, dtype=np.float64), np.arange(r0, r1, dtype=np.float64)
    u = np.clip((cols[None] + 0.5 - x[:, None]) / safe_w[:, None] * tw - 0.5, 0.0, tw - 1.0)  # (T, nc)
    v = np.clip((rows_px[None] + 0.5 - y[:, None]) / safe_h[:, None] * th - 0.5, 0.0, th - 1.0)  # (T, nr)
    yi0 = np.minimum(v.astype(np.int64), max(th - 2, 0))
    xi0 = np.minimum(u.astype(np.int64), max(tw - 2, 0))
    yi1, xi1 = np.minimum(yi0 + 1, th - 1), np.minimum(xi0 + 1, tw - 1)
    fy = (v - yi0).astype(np.float32)[:, :, None, None]
    fx = (u - xi0).astype(np.float32)[:, None, :, None]
    flat = tex.reshape(th * tw, -1)  # four corner gathers by flat index (faster than row, then column gathers)
    base0, base1 = (yi0 * tw)[:, :, None], (yi1 * tw)[:, :, None]
    c00, c01 = flat.take(base0 + xi0[:, None, :], axis=0), flat.take(base0 + xi1[:, None, :], axis=0)
    c10, c11 = flat.take(base1 + xi0[:, None, :], axis=0), flat.take(base1 + xi1[:, None, :], axis=0)
    left = c00 + fy * (c10 - c00)  # rows first, then columns, as _bilinear_grid
    patch = left + fx * (c01 + fy * (c11 - c01) - left)
    cov_x = np.clip(np.minimum(cols[None] + 1.0, (x + bw)[:, None]) - np.maximum(cols[None], x[:, None]), 0.0, 1.0)
    cov_y = np.clip(np.minimum(rows_px[None] + 1.0, (y + bh)[:, None]) - np.maximum(rows_px[None], y[:, None]),
                    0.0, 1.0)
    cov_x[~ok] = 0.0
    alpha = (cov_y.astype(np.float32)[:, :, None] * cov_x.astype(np.float32)[:, None, :])[..., None]
    region = canvas[:, r0:r1, c0:c1]
    region += alpha * (patch - region)


def chroma_basis() -> np.ndarray:
    """(2, 3) orthonormal RGB directions with zero luma (``v @ LUMA_RGB == 0``): adding them changes only colour."""
    y = LUMA_RGB.astype(np.float64) / np.linalg.norm(LUMA_RGB)
    a = np.array([1.0, 0.0, 0.0]) - y[0] * y
    a /= np.linalg.norm(a)
    return np.stack([a, np.cross(y, a)])


def hue_colors(luma: np.ndarray, hue_rad: float, saturation: float) -> np.ndarray:
    """RGB colours with exactly the given ``luma`` values (K,) and one hue: ``luma * grey + s * chroma(hue)``.

    Each colour's chroma amplitude is ``saturation`` (0..1) of the largest that keeps it in ``[0.03, 0.97]``, so
    two calls with the same ``luma`` and another hue give colours a change detector cannot tell apart.
    """
    luma = np.asarray(luma, dtype=np.float64).reshape(-1)
    basis = chroma_basis()
    d = np.cos(hue_rad) * basis[0] + np.sin(hue_rad) * basis[1]
    with np.errstate(divide="ignore"):  # largest s with 0.03 <= luma + s * d <= 0.97 per channel
        lim = np.where(d > 0, (0.97 - luma[:, None]) / d, np.where(d < 0, (0.03 - luma[:, None]) / d, np.inf))
    s = saturation * np.maximum(lim.min(axis=1), 0.0)[:, None]
    return np.clip(luma[:, None] + s * d[None, :], 0.03, 0.97)


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
