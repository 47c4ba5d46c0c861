"""An ESIM / v2e-style event camera model driven by a stream of rendered luminance images.

Each pixel keeps a reference log intensity. When the current log intensity departs from it by ``k`` whole contrast
thresholds, the pixel emits ``k`` events of that polarity; their timestamps are linearly interpolated between the two
render times at which the log intensity crosses each threshold level (as ESIM, Rebecq et al. 2018, and v2e,
Hu et al. 2021). Thresholds vary per pixel (Gaussian spread ``sigma``, fixed at construction, as fixed-pattern
mismatch). An event closer than ``refractory_us`` to the pixel's previous event is dropped while the reference still
advances (the v2e convention: the event is lost, not delayed). Background-activity noise is a homogeneous Poisson
process per pixel with random polarity.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from had_snn.data.events import EVENT_DTYPE, make_events

try:  # the compiled inner loop (numba, in the ``train`` extra); same events as the numpy loop below
    from had_snn.data.event_kernel import run_pixels as _KERNEL
except ImportError:  # pragma: no cover - numba missing
    _KERNEL = None


def canonical_order(events: np.ndarray) -> np.ndarray:
    """``events`` sorted by time, then ``y``, ``x`` and polarity (one order whatever produced them)."""
    return events[np.lexsort((events["p"], events["x"], events["y"], events["t"]))]


@dataclass
class EventCameraConfig:
    """Parameters of the event camera model.

    Attributes:
        contrast_threshold: mean ON and OFF threshold C in log-intensity units.
        threshold_sigma: standard deviation of the per-pixel thresholds (log units).
        min_threshold: thresholds are clipped below at this value.
        refractory_us: minimum time between two events of one pixel (microseconds).
        noise_rate_hz: background-activity noise events per pixel per second.
        log_eps: offset inside ``log(I + eps)`` (linear intensity units, 1.0 = bright white), which keeps the
            dark end finite.
    """

    contrast_threshold: float = 0.25
    threshold_sigma: float = 0.03
    min_threshold: float = 0.01
    refractory_us: int = 100
    noise_rate_hz: float = 0.1
    log_eps: float = 1e-4

    def __post_init__(self) -> None:
        if self.contrast_threshold <= 0 or self.min_threshold <= 0:
            raise ValueError(f"contrast_threshold and min_threshold must be > 0, got {self}")
        if self.threshold_sigma < 0 or self.refractory_us < 0 or self.noise_rate_hz < 0 or self.log_eps <= 0:
            raise ValueError(f"threshold_sigma, refractory_us, noise_rate_hz must be >= 0 and log_eps > 0, got {self}")


class EventCamera:
    """Stateful per-pixel event generator for a ``width x height`` sensor.

    Call :meth:`reset` with the first luminance image, then :meth:`step` with each following image (or
    :meth:`step_many` with a chunk of them, which is faster and gives the same events); every call returns the
    events in ``(t_prev_us, t_us]`` as an EVENT_DTYPE array in :func:`canonical_order`. The per-pixel loop runs
    compiled (:mod:`had_snn.data.event_kernel`) when numba is installed, else in numpy; both give the same events.
    """

    def __init__(self, cfg: EventCameraConfig, width: int, height: int, rng: np.random.Generator) -> None:
        self.cfg = cfg
        self.width, self.height = int(width), int(height)
        n = self.width * self.height
        spread = rng.normal(0.0, cfg.threshold_sigma, size=(2, n))
        self.c_on = np.maximum(cfg.contrast_threshold + spread[0], cfg.min_threshold)
        self.c_off = np.maximum(cfg.contrast_threshold + spread[1], cfg.min_threshold)
        self.ref = np.zeros(n)
        self.log_prev = np.zeros(n)
        self.last_event_us = np.full(n, np.iinfo(np.int64).min // 2, dtype=np.int64)
        self.t_prev_us = 0

    def _log(self, lum: np.ndarray) -> np.ndarray:
        if lum.shape != (self.height, self.width):
            raise ValueError(f"luminance image must have shape {(self.height, self.width)}, got {lum.shape}")
        return np.log(lum.reshape(-1).astype(np.float64) + self.cfg.log_eps)

    def reset(self, lum: np.ndarray, t_us: int) -> None:
        """Set every pixel's reference to the log of ``lum`` (H, W) at time ``t_us``."""
        self.log_prev = self._log(lum)
        self.ref = self.log_prev.copy()
        self.t_prev_us = int(t_us)

    def step(self, lum: np.ndarray, t_us: int) -> np.ndarray:
        """Advance to the luminance image ``lum`` at ``t_us`` (> previous time) and return the events emitted."""
        t_us = int(t_us)
        if t_us <= self.t_prev_us:
            raise ValueError(f"render times must increase: {t_us} after {self.t_prev_us}")
        return self.step_log(self._log(lum)[None], np.array([t_us], dtype=np.int64))

    def step_many(self, lum: np.ndarray, t_us: np.ndarray) -> np.ndarray:
        """Advance through ``T`` luminance images ``lum`` (T, H, W) at increasing times ``t_us`` (T,) in one call.

        Identical events to ``T`` calls of :meth:`step` (same arithmetic per pixel), but only the pixels whose log
        intensity leaves the band between their ON and OFF thresholds somewhere in the chunk are stepped.
        """
        lum = np.asarray(lum)
        if lum.ndim != 3 or lum.shape[1:] != (self.height, self.width):
            raise ValueError(f"luminance images must have shape (T, {self.height}, {self.width}), got {lum.shape}")
        t_us = np.asarray(t_us, dtype=np.int64).reshape(-1)
        if len(t_us) != len(lum):
            raise ValueError(f"{len(lum)} luminance images but {len(t_us)} times")
        if len(t_us) and (t_us[0] <= self.t_prev_us or np.any(np.diff(t_us) <= 0)):
            raise ValueError(f"render times must increase: {t_us[:4].tolist()}... after {self.t_prev_us}")
        flat = lum.reshape(len(lum), -1)
        if len(t_us) == 0:
            return np.empty(0, dtype=EVENT_DTYPE)
        # A pixel can only fire in this chunk if its log intensity reaches ref + c_on or ref - c_off (its reference
        # only moves when it fires; log is monotonic, so the extremes of the luminance decide), so only those pixels
        # are stepped, and only their log intensities are computed.
        log_hi, log_lo = (np.log(v.astype(np.float64) + self.cfg.log_eps) for v in (flat.max(axis=0), flat.min(axis=0)))
        active = np.flatnonzero((log_hi - self.ref >= self.c_on) | (self.ref - log_lo >= self.c_off))
        events = self._run(np.log(flat[:, active].astype(np.float64) + self.cfg.log_eps), active, t_us)
        self.log_prev = np.log(flat[-1].astype(np.float64) + self.cfg.log_eps)
        return events

    def step_log(self, logs: np.ndarray, t_us: np.ndarray) -> np.ndarray:
        """:meth:`step_many` on log intensities: ``logs`` (T, H*W) at the (already checked) times ``t_us`` (T,)."""
        if len(t_us) == 0:
            return np.empty(0, dtype=EVENT_DTYPE)
        up, down = logs.max(axis=0) - self.ref, self.ref - logs.min(axis=0)
        active = np.flatnonzero((up >= self.c_on) | (down >= self.c_off))
        events = self._run(logs[:, active], active, t_us)
        self.log_prev = logs[-1].copy()
        return events

    def _run(self, sub_logs: np.ndarray, active: np.ndarray, t_us: np.ndarray) -> np.ndarray:
        """Step the ``active`` pixels through their log intensities ``sub_logs`` (T, len(active)); the other pixels
        cannot fire. Updates references, refractory clocks and the time (not ``log_prev``); returns the events."""
        if len(active) and _KERNEL is not None:
            ref, log_prev, last = self.ref[active], self.log_prev[active], self.last_event_us[active]
            pix, t, p = _KERNEL(np.ascontiguousarray(sub_logs), self.c_on[active], self.c_off[active], ref, log_prev,
                                last, np.ascontiguousarray(t_us, dtype=np.int64), np.int64(self.t_prev_us),
                                np.int64(self.cfg.refractory_us))
            self.ref[active], self.last_event_us[active] = ref, last
            pix_out, t_out, p_out = [active[pix]], [t], [p]
        else:
            pix_out, t_out, p_out = self._run_numpy(sub_logs, active, t_us)
        self.t_prev_us = int(t_us[-1])
        if not pix_out or not sum(len(x) for x in pix_out):
            return np.empty(0, dtype=EVENT_DTYPE)
        y, x = np.divmod(np.concatenate(pix_out), self.width)
        return canonical_order(make_events(x, y, np.concatenate(t_out), np.concatenate(p_out)))

    def _run_numpy(self, sub_logs: np.ndarray, active: np.ndarray,
                   t_us: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
        """The numpy loop of :meth:`_run` (over time steps, vectorised over pixels): (pixels, times, polarities)."""
        pix_out: list[np.ndarray] = []
        t_out: list[np.ndarray] = []
        p_out: list[np.ndarray] = []
        if len(active):
            c_on, c_off = self.c_on[active], self.c_off[active]
            ref, log_prev = self.ref[active], self.log_prev[active]
            last = self.last_event_us[active]
            t_prev = self.t_prev_us
            for k in range(len(t_us)):
                log_now = sub_logs[k]
                diff = log_now - ref
                r_on, r_off = diff / c_on, -diff / c_off  # whole thresholds crossed, as floor(max(+-diff, 0) / c)
                on, off = np.flatnonzero(r_on >= 1.0), np.flatnonzero(r_off >= 1.0)
                t_now = int(t_us[k])
                for idx, ratio, sign, c in ((on, r_on, 1, c_on), (off, r_off, -1, c_off)):
                    if len(idx) == 0:
                        continue
                    n = np.floor(ratio[idx]).astype(np.int64)
                    pix, t = self._emit(idx, n, c[idx], ref[idx], log_prev[idx], log_now[idx], last, sign, t_prev,
                                        t_now)
                    pix_out.append(active[pix])
                    t_out.append(t)
                    p_out.append(np.full(len(pix), 1 if sign > 0 else 0, dtype=np.int8))
                    ref[idx] = ref[idx] + sign * (n * c[idx])
                log_prev = log_now
                t_prev = t_now
            self.ref[active] = ref
            self.last_event_us[active] = last
        return pix_out, t_out, p_out

    def _emit(self, idx: np.ndarray, n: np.ndarray, c: np.ndarray, ref: np.ndarray, lp: np.ndarray,
              log_now: np.ndarray, last: np.ndarray, sign: int, t0: int, t_us: int) -> tuple[np.ndarray, np.ndarray]:
        """(sub-pixel indices, times) of the events of polarity ``sign`` for the sub-pixels ``idx`` crossing ``n``
        threshold levels (``c``, ``ref``, ``lp``, ``log_now`` are theirs), minus refractory drops; ``last`` (last
        event time per sub-pixel) is updated in place."""
        span = log_now - lp
        span = np.where(np.abs(span) < 1e-12, sign * 1e-12, span)
        dur = t_us - t0
        pix_out, t_out = [], []
        for j in range(1, int(n.max()) + 1):
            sel = n >= j if j > 1 else slice(None)
            sub = idx[sel]
            frac = np.clip((ref[sel] + sign * j * c[sel] - lp[sel]) / span[sel], 0.0, 1.0)
            t = np.clip(t0 + np.rint(frac * dur).astype(np.int64), t0 + 1, t_us)
            ok = t - last[sub] >= self.cfg.refractory_us
            last[sub[ok]] = t[ok]
            pix_out.append(sub[ok])
            t_out.append(t[ok])
        return np.concatenate(pix_out), np.concatenate(t_out)

    def noise(self, t0_us: int, t1_us: int, rng: np.random.Generator, rate_scale: float = 1.0) -> np.ndarray:
        """Background-activity noise in ``[t0_us, t1_us)``: Poisson, ``noise_rate_hz * rate_scale`` per pixel."""
        rate = self.cfg.noise_rate_hz * rate_scale
        n = int(rng.poisson(rate * self.width * self.height * (t1_us - t0_us) * 1e-6))
        return make_events(
            rng.integers(0, self.width, n),
            rng.integers(0, self.height, n),
            rng.integers(t0_us, t1_us, n),
            rng.integers(0, 2, n),
        )
