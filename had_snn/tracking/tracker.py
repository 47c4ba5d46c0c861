"""Online single-object tracking over a :class:`~had_snn.data.sequence.Sequence`, plus trivial baselines.

A tracker maps a sequence to one ``x, y, w, h`` px box per frame; frame 0 gets the first ground-truth box (the
OTB one-pass evaluation protocol).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from had_snn.data.sequence import Sequence, valid_box_mask
from had_snn.tracking.config import CropConfig
from had_snn.tracking.crop import MIN_BOX_PX, box_to_target, crop_inputs, search_region, target_to_box
from had_snn.tracking.decode import decode
from had_snn.util.atomic import atomic_path

InputFn = Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]]
#: Model kinds whose input includes RGB frames (they cannot track a sequence without frames).
FRAME_KINDS = ("teacher", "teacher_rgb")


class Tracker(Protocol):
    """What the evaluation runs: ``initialize`` on frame 0, ``update`` once per later window, or ``track`` for all."""

    name: str
    fingerprint: str | None  # identifies what produced the boxes (evaluation reuses boxes only on a match)

    def initialize(self, seq: Sequence, box: np.ndarray | None = None) -> np.ndarray:
        """Start on frame 0 of ``seq`` from ``box`` (default: the first ground-truth box); returns the initial box."""
        ...

    def update(self, k: int) -> np.ndarray:
        """The ``x, y, w, h`` px estimate after frame ``k``'s window."""
        ...

    def track(self, seq: Sequence) -> np.ndarray:
        """Boxes (N, 4) ``x, y, w, h`` px for every frame of ``seq``."""
        ...


def init_box(seq: Sequence) -> np.ndarray:
    """The first ground-truth box, which must be valid on the sensor (see :func:`valid_box_mask`)."""
    box = seq.boxes[0].astype(np.float64)
    if not valid_box_mask(box[None], seq.sensor_size)[0]:
        raise ValueError(f"sequence {seq.name!r}: first ground-truth box {box.tolist()} cannot initialise a tracker "
                         "(frame 0 has no valid box: target absent, or an invalid box read as absent)")
    return box


class StaticTracker:
    """Baseline: the box stays where it started."""

    name = "static"
    fingerprint = "static"
    identity = "static"  # what the tracker is (evaluation refuses to mix another tracker's boxes under its name)
    source = "static"
    needs_frames = False
    measures_speed = False  # it runs no model: its frames per second mean nothing

    def __init__(self) -> None:
        self._box = np.zeros(4)

    def initialize(self, seq: Sequence, box: np.ndarray | None = None) -> np.ndarray:
        self._box = init_box(seq) if box is None else np.asarray(box, dtype=np.float64)
        return self._box

    def update(self, k: int) -> np.ndarray:
        return self._box

    def track(self, seq: Sequence) -> np.ndarray:
        return np.tile(self.initialize(seq), (seq.num_frames, 1))


def crop_config_for(model: torch.nn.Module, student_steps: int = CropConfig.student_steps,
                    train_crop: dict | None = None) -> CropConfig:
    """Crop geometry matching a model: ``template_px``, ``search_px`` and ``voxel_bins`` from its config, the crop
    contexts and event window from ``train_crop`` (the ``data.crop`` section of its training config, when the
    checkpoint records one; CropConfig's defaults otherwise), and ``student_steps`` spike steps per window."""
    mc = getattr(model, "config", None)
    defaults = CropConfig()
    train_crop = train_crop or {}

    def trained(name: str):
        return train_crop.get(name, getattr(defaults, name))

    return CropConfig(
        template_px=int(getattr(mc, "template_px", trained("template_px"))),
        search_px=int(getattr(mc, "search_px", trained("search_px"))),
        voxel_bins=int(getattr(mc, "voxel_bins", trained("voxel_bins"))),
        template_context=float(trained("template_context")),
        search_context=float(trained("search_context")),
        window_frames=float(trained("window_frames")),
        heatmap_stride=int(trained("heatmap_stride")),
        student_steps=int(student_steps),
        graded_spikes=bool(trained("graded_spikes")),
    )


def clip_box(box: np.ndarray, width_px: int, height_px: int) -> np.ndarray:
    """Keep a box's centre inside the image and its size within ``[MIN_BOX_PX, image size]``."""
    w = float(np.clip(box[2], MIN_BOX_PX, width_px))
    h = float(np.clip(box[3], MIN_BOX_PX, height_px))
    cx = float(np.clip(box[0] + box[2] / 2, 0, width_px))
    cy = float(np.clip(box[1] + box[3] / 2, 0, height_px))
    return np.array([cx - w / 2, cy - h / 2, w, h])


@dataclass(frozen=True)
class BoxUpdate:
    """How a decoded box becomes the tracker's new estimate: the standard Siamese-tracker size safeguards.

    - ``size_lr``: size damping, ``new = (1 - lr) * previous + lr * predicted`` with ``lr = size_lr * score`` (the
      penalised peak score), as SiamRPN / pysot (``cfg.TRACK.LR``: 0.4 default config, 0.38 for SiamRPN++ r50,
      mmtracking 0.33); SiamFC damps its scale the same way (``scale_lr`` 0.59). The centre is not damped.
    - ``penalty_k``: SiamRPN's scale / aspect-change penalty on the heat map (:func:`size_change_penalty`;
      pysot ``cfg.TRACK.PENALTY_K`` 0.04). OSTrack has neither (box replaced each frame, only clipped to the image).
    - ``max_scale_step``: per-frame bound on the size ratio new / previous, per side.
    - ``init_scale_range``: bounds on the size relative to the first box (SiamFC's ``minSFactor`` 0.2 and
      ``maxSFactor`` 5).
    - ``max_size_frac``: the box is at most this fraction of the sensor's width / height.
    - ``centre_gain`` (alpha) and ``velocity_gain`` (beta): an alpha-beta filter on the box centre, the steady-state
      Kalman filter of a constant-velocity target (:func:`filter_centre`): the centre is predicted from the previous
      one and the velocity (px per frame), then moved by ``alpha`` times the measurement's residual, and the velocity
      by ``beta`` times it. It smooths the per-frame noise of the sub-cell offsets (a box that shakes by a pixel
      while the target moves steadily) without lagging a steadily moving target; alpha = 1, beta = 0 takes the
      decoded centre as it is. The defaults (0.5, 0.1) were chosen on the demo benchmark's validation split.

    :meth:`none` is the unguarded update (the predicted box replaces the estimate, only clipped to the sensor).
    """

    size_lr: float = 0.4
    penalty_k: float = 0.04
    max_scale_step: float = 1.1
    init_scale_range: tuple[float, float] = (0.2, 5.0)
    max_size_frac: float = 1.0
    centre_gain: float = 0.5
    velocity_gain: float = 0.1

    def __post_init__(self) -> None:
        if not 0.0 <= self.size_lr <= 1.0:
            raise ValueError(f"BoxUpdate.size_lr must be in [0, 1], got {self.size_lr}")
        if not self.penalty_k >= 0.0:
            raise ValueError(f"BoxUpdate.penalty_k must be >= 0, got {self.penalty_k}")
        if not self.max_scale_step >= 1.0:
            raise ValueError(f"BoxUpdate.max_scale_step must be >= 1 (1 = size frozen), got {self.max_scale_step}")
        lo, hi = self.init_scale_range
        if not 0.0 <= lo <= 1.0 <= hi:
            raise ValueError(f"BoxUpdate.init_scale_range must satisfy 0 <= low <= 1 <= high, got {(lo, hi)}")
        if not 0.0 < self.max_size_frac <= 1.0:
            raise ValueError(f"BoxUpdate.max_size_frac must be in (0, 1], got {self.max_size_frac}")
        if not 0.0 < self.centre_gain <= 1.0:
            raise ValueError(f"BoxUpdate.centre_gain must be in (0, 1] (1 = the decoded centre), got "
                             f"{self.centre_gain}")
        if not 0.0 <= self.velocity_gain <= self.centre_gain:
            raise ValueError(f"BoxUpdate.velocity_gain must be in [0, centre_gain = {self.centre_gain:g}] (a "
                             f"well-damped filter), got {self.velocity_gain}")

    @classmethod
    def none(cls) -> BoxUpdate:
        """No safeguards: every frame takes the predicted box as it is (clipped to the sensor)."""
        return cls(size_lr=1.0, penalty_k=0.0, max_scale_step=math.inf, init_scale_range=(0.0, math.inf),
                   centre_gain=1.0, velocity_gain=0.0)

    def key(self) -> str:
        """Stable text of the settings, for evaluation fingerprints."""
        lo, hi = self.init_scale_range
        return (f"size_lr={self.size_lr:g}:penalty_k={self.penalty_k:g}:max_scale_step={self.max_scale_step:g}:"
                f"init_scale={lo:g}-{hi:g}:max_size_frac={self.max_size_frac:g}:centre_gain={self.centre_gain:g}:"
                f"velocity_gain={self.velocity_gain:g}")


def filter_centre(prev_centre: np.ndarray, velocity: np.ndarray, measured: np.ndarray, rule: BoxUpdate
                  ) -> tuple[np.ndarray, np.ndarray]:
    """One alpha-beta filter step on a box centre (px; velocity in px per frame): predict ``prev + velocity``, then
    ``centre = predicted + alpha * r`` and ``velocity + beta * r`` for the residual ``r = measured - predicted``
    (``alpha``, ``beta``: :class:`BoxUpdate`'s ``centre_gain``, ``velocity_gain``). Returns (centre, velocity)."""
    predicted = prev_centre + velocity
    residual = measured - predicted
    return predicted + rule.centre_gain * residual, velocity + rule.velocity_gain * residual


def update_box(
    prev: np.ndarray, pred: np.ndarray, score: float, init_wh: np.ndarray, sensor_size: tuple[int, int],
    rule: BoxUpdate,
) -> np.ndarray:
    """New ``x, y, w, h`` px estimate from the previous one and the decoded ``pred`` (see :class:`BoxUpdate`):
    ``pred``'s centre (the tracker passes it through :func:`filter_centre` first), damped and clamped size, then
    :func:`clip_box` to the sensor."""
    lr = min(max(rule.size_lr * float(score), 0.0), 1.0)
    wh = (1 - lr) * prev[2:] + lr * pred[2:]
    wh = np.clip(wh, prev[2:] / rule.max_scale_step, prev[2:] * rule.max_scale_step)
    lo, hi = rule.init_scale_range
    wh = np.clip(wh, init_wh * lo, init_wh * hi)
    wh = np.minimum(wh, rule.max_size_frac * np.asarray(sensor_size, dtype=np.float64))
    centre = pred[:2] + pred[2:] / 2
    return clip_box(np.concatenate([centre - wh / 2, wh]), *sensor_size)


class ModelTracker:
    """Siamese tracking with any model following the tracker interface (``forward(batch) -> heatmap/size/offset``).

    The template is cut once from frame 0 around the initial box; each later frame is searched in a crop around
    the previous estimate, placed so that estimate sits on a heat-map cell centre (:func:`search_region`), and
    decoded with a cosine window. :meth:`initialize` + :meth:`update` per window is the
    online interface; :meth:`track` runs it over a whole sequence. ``input_fn`` (optional) transforms each batch before
    the model sees it (e.g. a quantised input path); ``model`` may be any callable with the same interface (e.g.
    the fixed-point emulator). ``box_update`` sets the size safeguards (:class:`BoxUpdate`, on by default).
    ``fingerprint`` (e.g. a checkpoint hash) lets an evaluation resume; the tracker appends its box-update settings
    so boxes tracked with other settings are not reused.
    """

    def __init__(
        self,
        model: Callable[[dict], dict],
        crop: CropConfig | None = None,
        window_influence: float = 0.25,
        input_fn: InputFn | None = None,
        device: str | torch.device = "cpu",
        name: str | None = None,
        fingerprint: str | None = None,
        box_update: BoxUpdate | None = None,
    ) -> None:
        self.model = model
        self.crop = crop or (crop_config_for(model) if isinstance(model, torch.nn.Module) else CropConfig())
        self.window_influence = float(window_influence)
        self.input_fn = input_fn
        self.device = torch.device(device)
        self.name = name or str(getattr(model, "kind", type(model).__name__))
        self.box_update = box_update or BoxUpdate()
        self.fingerprint = None if fingerprint is None else f"{fingerprint}|{self.box_update.key()}"
        self.identity: str | None = None  # what the model is (e.g. its checkpoint's hash), set by `had-snn eval`
        self.needs_frames = getattr(model, "kind", None) in FRAME_KINDS  # reads RGB frames
        self.source: str | None = None  # where it came from (e.g. the checkpoint path), for messages
        self._seq: Sequence | None = None
        self._box = self._init_wh = np.zeros(4)
        self._velocity = np.zeros(2)  # of the box centre, px per frame (BoxUpdate's alpha-beta filter)
        self._template: dict[str, np.ndarray] = {}
        self.last_score = float("nan")  # the penalised peak score behind the latest box (NaN before the first update)

    def _batch(self, template: dict[str, np.ndarray], search: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
        batch = {}
        for prefix, crop in (("template", template), ("search", search)):
            for key in ("rgb", "voxel", "spikes"):
                t = torch.from_numpy(crop[key]).to(self.device)
                batch[f"{prefix}_{key}"] = t.unsqueeze(1) if key == "spikes" else t.unsqueeze(0)
        return self.input_fn(batch) if self.input_fn is not None else batch

    def initialize(self, seq: Sequence, box: np.ndarray | None = None) -> np.ndarray:
        """Start tracking ``seq`` at frame 0 from ``box`` (default: its first ground-truth box): cut the template.
        Returns the initial box."""
        if isinstance(self.model, torch.nn.Module):
            self.model.eval()
        cfg = self.crop
        self._seq = seq
        self._box = init_box(seq) if box is None else np.asarray(box, dtype=np.float64)
        self._init_wh = self._box[2:].copy()
        self._velocity = np.zeros(2)
        self._template = crop_inputs(seq, 0, self._box, cfg.template_context, cfg.template_px, cfg)
        return self._box

    def update(self, k: int) -> np.ndarray:
        """Track one window: search frame ``k``'s window around the current estimate; returns the new box."""
        return self._track_window(k, self._box)

    @torch.no_grad()
    def _track_window(self, k: int, crop_box: np.ndarray) -> np.ndarray:
        """Search frame ``k``'s window in the crop around ``crop_box``, decode, and update the current estimate
        (size damping against the current estimate); returns the new box."""
        search, batch = self._search(k, crop_box)
        return self._decode_update(self.model(batch), search)

    def _search(self, k: int, crop_box: np.ndarray) -> tuple[dict[str, np.ndarray], dict[str, torch.Tensor]]:
        """Frame ``k``'s search crop around ``crop_box`` and the model's batch of it (with the template)."""
        if self._seq is None:
            raise RuntimeError(f"tracker {self.name!r}: call initialize() before update()")
        cfg = self.crop
        search = crop_inputs(self._seq, k, crop_box, cfg.search_context, cfg.search_px, cfg,
                             region=search_region(crop_box, cfg))
        return search, self._batch(self._template, search)

    @torch.no_grad()
    def _decode_update(self, out: dict[str, torch.Tensor], search: dict[str, np.ndarray]) -> np.ndarray:
        """Decode the model's output ``out`` for the crop ``search`` and update the current estimate (the centre
        filter, then size damping against the current estimate); returns the new box."""
        cfg, box = self.crop, self._box
        region = tuple(search["region"].tolist())
        prev_wh = torch.as_tensor(box_to_target(box, region, cfg.search_px)[None, 2:], dtype=torch.float32)
        norm, score = decode(out, self.window_influence, prev_wh.to(self.device), self.box_update.penalty_k)
        pred = target_to_box(norm[0].double().cpu().numpy(), region, cfg.search_px)
        centre, self._velocity = filter_centre(box[:2] + box[2:] / 2, self._velocity, pred[:2] + pred[2:] / 2,
                                               self.box_update)
        pred = np.concatenate([centre - pred[2:] / 2, pred[2:]])
        self.last_score = float(score[0])
        self._box = update_box(box, pred, self.last_score, self._init_wh, self._seq.sensor_size, self.box_update)
        return self._box

    def close(self) -> None:
        """Release what the tracker holds beyond its model (nothing here; a Lava tracker ends its Lava session)."""

    def track(self, seq: Sequence) -> np.ndarray:
        """One-pass tracking: :meth:`initialize` on frame 0, then :meth:`update` for every later frame."""
        boxes = np.empty((seq.num_frames, 4))
        boxes[0] = self.initialize(seq)
        for k in range(1, seq.num_frames):
            boxes[k] = self.update(k)
        return boxes


def write_otb(path: str | os.PathLike, boxes: np.ndarray) -> None:
    """Write boxes in the OTB text format (``x,y,w,h`` per line), atomically (temp file then rename)."""
    with atomic_path(path) as tmp:
        np.savetxt(tmp, np.asarray(boxes, dtype=np.float64).reshape(-1, 4), fmt="%.3f", delimiter=",")


def read_otb(path: str | os.PathLike) -> np.ndarray:
    """Read an OTB box file (comma, tab or space separated ``x y w h`` rows; ``nan`` allowed) as (N, 4)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no OTB box file at {path}")
    rows = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        parts = line.replace(",", " ").replace("\t", " ").split()
        if len(parts) != 4:
            raise ValueError(f"{path}:{n}: expected 4 values x,y,w,h, got {len(parts)}: {line!r}")
        try:
            rows.append([float(v) for v in parts])
        except ValueError as exc:
            raise ValueError(f"{path}:{n}: non-numeric box value in {line!r}") from exc
    return np.asarray(rows, dtype=np.float64).reshape(-1, 4)
