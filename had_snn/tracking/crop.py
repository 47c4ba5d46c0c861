"""Template / search crops around a box, for RGB frames and for events, and the box <-> crop transforms.

A crop region is a square ``(x0, y0, side, side)`` in image px (SiamFC / OSTrack: ``side = context * sqrt(w * h)``
centred on the box) resampled to ``out_px x out_px``. Coordinates are continuous: image point ``u`` maps to crop
point ``(u - x0) * out_px / side``; pixel ``k`` has its centre at ``k + 0.5``. This is the convention of
:mod:`had_snn.data.binning`, so frame crops and event crops of one region are aligned pixel for pixel.
Outside the image, frames are zero-padded and there are no events.
"""

from __future__ import annotations

import numpy as np

from had_snn.data.binning import to_frames, voxel_grid
from had_snn.data.sequence import Sequence
from had_snn.tracking.config import CropConfig

Region = tuple[float, float, float, float]
MIN_BOX_PX = 1.0


def crop_region(box: np.ndarray, context: float) -> Region:
    """Square region ``(x0, y0, side, side)`` px of side ``context * sqrt(w * h)`` centred on ``box = x, y, w, h``.

    Sizes below :data:`MIN_BOX_PX` are raised to it so a degenerate box still yields a usable crop.
    """
    x, y, w, h = (float(v) for v in box)
    if not np.isfinite([x, y, w, h]).all():
        raise ValueError(f"cannot crop around a non-finite box {box!r}")
    w, h = max(w, MIN_BOX_PX), max(h, MIN_BOX_PX)
    side = context * float(np.sqrt(w * h))
    return (x + w / 2 - side / 2, y + h / 2 - side / 2, side, side)


def search_region(box: np.ndarray, cfg: CropConfig) -> Region:
    """The tracker's search region around ``box``: :func:`crop_region` at ``cfg.search_context``, placed so the box
    centre falls on the centre of a heat-map cell.

    With an even heat map (8 x 8, 16 x 16) the centre of a centred crop lies on the corner of four cells, where the
    peak is ambiguous and a half-cell error of the offset head flips the box one cell back and forth every frame; the
    region is moved by half a cell (``heatmap_stride / 2`` crop px) up and left, so a target that stays put or moves
    less than half a cell per frame stays inside one cell. With an odd heat map (SiamFC's 17 x 17) the centre already
    is a cell centre and the region is :func:`crop_region`'s.
    """
    x0, y0, side, _ = crop_region(box, cfg.search_context)
    shift_px = ((cfg.heatmap_px // 2 + 0.5) * cfg.heatmap_stride - cfg.search_px / 2) * side / cfg.search_px
    return (x0 - shift_px, y0 - shift_px, side, side)


def box_to_crop(box: np.ndarray, region: Region, out_px: int) -> np.ndarray:
    """Image box(es) ``x, y, w, h`` -> the same box(es) in crop px."""
    b = np.asarray(box, dtype=np.float64)
    s = out_px / region[2]
    return np.concatenate([(b[..., :2] - np.asarray(region[:2])) * s, b[..., 2:] * s], axis=-1)


def crop_to_box(box_crop: np.ndarray, region: Region, out_px: int) -> np.ndarray:
    """Crop-px box(es) ``x, y, w, h`` -> image px (inverse of :func:`box_to_crop`)."""
    b = np.asarray(box_crop, dtype=np.float64)
    s = region[2] / out_px
    return np.concatenate([b[..., :2] * s + np.asarray(region[:2]), b[..., 2:] * s], axis=-1)


def box_to_target(box: np.ndarray, region: Region, out_px: int) -> np.ndarray:
    """Image box -> training target ``(cx, cy, w, h)`` normalised to [0, 1] of the crop side."""
    c = box_to_crop(box, region, out_px) / out_px
    return np.concatenate([c[..., :2] + c[..., 2:] / 2, c[..., 2:]], axis=-1)


def target_to_box(target: np.ndarray, region: Region, out_px: int) -> np.ndarray:
    """Normalised ``(cx, cy, w, h)`` in the crop -> image box ``x, y, w, h`` px (inverse of :func:`box_to_target`)."""
    t = np.asarray(target, dtype=np.float64) * out_px
    return crop_to_box(np.concatenate([t[..., :2] - t[..., 2:] / 2, t[..., 2:]], axis=-1), region, out_px)


def crop_frame(frame: np.ndarray, region: Region, out_px: int) -> np.ndarray:
    """Bilinear crop-and-resize of an ``(H, W, 3)`` uint8 frame to float32 ``(3, out_px, out_px)`` in [0, 1].

    Output pixel ``j`` samples image position ``x0 + (j + 0.5) * side / out_px`` (pixel-centre convention);
    samples outside the image read zeros.
    """
    if frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"frame must be (H, W, 3), got shape {frame.shape}")
    img = frame.astype(np.float32) * (1.0 / 255.0)
    h_img, w_img = img.shape[:2]
    pos = (np.arange(out_px) + 0.5) * (region[2] / out_px) - 0.5
    out = np.zeros((out_px, out_px, 3), dtype=np.float32)

    def taps(coords: np.ndarray, size: int) -> list[tuple[np.ndarray, np.ndarray]]:
        lo = np.floor(coords).astype(np.intp)
        frac = (coords - lo).astype(np.float32)
        res = []
        for idx, wgt in ((lo, 1.0 - frac), (lo + 1, frac)):
            inside = (idx >= 0) & (idx < size)
            res.append((np.clip(idx, 0, size - 1), np.where(inside, wgt, 0.0).astype(np.float32)))
        return res

    for yi, wy in taps(pos + region[1], h_img):
        for xi, wx in taps(pos + region[0], w_img):
            out += (wy[:, None] * wx[None, :])[..., None] * img[yi[:, None], xi[None, :]]
    np.clip(out, 0.0, 1.0, out=out)  # weights sum to 1 only up to float rounding
    return np.ascontiguousarray(out.transpose(2, 0, 1))


def frame_interval_us(seq: Sequence) -> int:
    """Median interval between frames of ``seq`` in microseconds."""
    if seq.num_frames < 2:
        raise ValueError(f"sequence {seq.name!r}: need at least 2 frames to know the frame interval")
    dt = int(np.median(np.diff(seq.frame_t_us)))
    if dt <= 0:
        raise ValueError(f"sequence {seq.name!r}: frame_t_us must increase, median step is {dt} us")
    return dt


def event_window_us(seq: Sequence, frame_index: int, cfg: CropConfig) -> tuple[int, int]:
    """Event window ``[t0, t1)`` us of a frame: ``cfg.window_frames`` frame intervals ending at the frame time."""
    t1 = int(seq.frame_t_us[frame_index])
    return t1 - int(round(cfg.window_frames * frame_interval_us(seq))), t1


def bin_crop_window(
    events: np.ndarray,
    sensor_size: tuple[int, int],
    region: Region,
    out_px: int,
    window_us: tuple[int, int],
    steps: int,
    voxel_bins: int,
    graded: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Events of ``window_us`` inside ``region``: binary spikes float32 ``(steps, 2, out_px, out_px)`` for the
    student (``graded``: the event count of each pixel, step and polarity instead of 0/1) and a voxel grid float32
    ``(voxel_bins, out_px, out_px)`` for the teacher.

    Both use binary search on ``t`` to cut the window before binning, so the cost is that of the window's events.
    """
    t0, t1 = window_us
    hw = (out_px, out_px)
    spikes = to_frames(events, sensor_size, steps, t0_us=t0, t1_us=t1, region=region, out_hw=hw,
                       binary=not graded)
    voxel = voxel_grid(events, sensor_size, voxel_bins, t0_us=t0, t1_us=t1, region=region, out_hw=hw)
    return spikes, voxel


def gaussian_radius(h_cells: float, w_cells: float, min_overlap: float = 0.7) -> float:
    """CornerNet / CenterNet Gaussian radius: the largest centre shift keeping IoU >= ``min_overlap`` (as used by
    OSTrack's centre-head targets)."""
    r1_b = h_cells + w_cells
    r1_c = w_cells * h_cells * (1 - min_overlap) / (1 + min_overlap)
    r1 = (r1_b + np.sqrt(r1_b**2 - 4 * r1_c)) / 2
    r2_b = 2 * (h_cells + w_cells)
    r2_c = (1 - min_overlap) * w_cells * h_cells
    r2 = (r2_b + np.sqrt(r2_b**2 - 16 * r2_c)) / 2
    r3_a, r3_b = 4 * min_overlap, -2 * min_overlap * (h_cells + w_cells)
    r3_c = (min_overlap - 1) * w_cells * h_cells
    r3 = (r3_b + np.sqrt(r3_b**2 - 4 * r3_a * r3_c)) / 2
    return float(min(r1, r2, r3))


def target_heatmap(target: np.ndarray, heatmap_px: int) -> np.ndarray:
    """CenterNet target: float32 ``(1, heatmap_px, heatmap_px)`` Gaussian peaking at exactly 1 on the cell holding
    the centre of ``target = (cx, cy, w, h)`` (normalised), with ``sigma = (2 * radius + 1) / 6`` cells."""
    cx, cy, w, h = (float(v) for v in target)
    ix = int(np.clip(np.floor(cx * heatmap_px), 0, heatmap_px - 1))
    iy = int(np.clip(np.floor(cy * heatmap_px), 0, heatmap_px - 1))
    radius = max(0, int(gaussian_radius(h * heatmap_px, w * heatmap_px)))
    sigma = (2 * radius + 1) / 6
    g = np.arange(heatmap_px, dtype=np.float32)
    hm = np.exp(-((g[None, :] - ix) ** 2 + (g[:, None] - iy) ** 2) / (2 * sigma**2))
    return hm.astype(np.float32)[None]


def crop_inputs(seq: Sequence, index: int, box: np.ndarray, context: float, out_px: int,
                cfg: CropConfig, region: Region | None = None) -> dict[str, np.ndarray]:
    """Model inputs of one crop of frame ``index`` around ``box``: ``rgb`` (3, P, P) (zeros for event-only
    sequences), ``spikes`` (T, 2, P, P), ``voxel`` (bins, P, P) and ``region`` (4,) image px, all float32.
    ``region`` (image px) replaces the centred :func:`crop_region` (e.g. the tracker's :func:`search_region`)."""
    region = crop_region(box, context) if region is None else region
    if seq.frames is not None:
        rgb = crop_frame(seq.frames[index], region, out_px)
    else:
        rgb = np.zeros((3, out_px, out_px), dtype=np.float32)
    spikes, voxel = bin_crop_window(
        seq.events, seq.sensor_size, region, out_px, event_window_us(seq, index, cfg), cfg.student_steps,
        cfg.voxel_bins, cfg.graded_spikes,
    )
    return {"rgb": rgb, "spikes": spikes, "voxel": voxel, "region": np.asarray(region, dtype=np.float32)}


def make_sample(
    seq: Sequence,
    template_index: int,
    template_box: np.ndarray,
    search_index: int,
    search_box: np.ndarray,
    cfg: CropConfig,
    target_box: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """One (template, search) sample as float32 numpy arrays without the batch axis.

    The template is cut around ``template_box`` in frame ``template_index``; the search region around
    ``search_box`` (the previous estimate when tracking, a jittered GT box when training) in frame ``search_index``.
    Keys: ``template_rgb`` (3, Pt, Pt), ``search_rgb`` (3, Ps, Ps) (zeros for event-only sequences),
    ``template_voxel``/``search_voxel`` (bins, P, P), ``template_spikes``/``search_spikes`` (T, 2, P, P) and
    ``search_region`` (4,) image px. With ``target_box`` (image px) also ``target_box`` (4,) normalised
    ``(cx, cy, w, h)`` and ``target_heatmap`` (1, Hm, Wm).
    """
    template = crop_inputs(seq, template_index, template_box, cfg.template_context, cfg.template_px, cfg)
    search = crop_inputs(seq, search_index, search_box, cfg.search_context, cfg.search_px, cfg)
    out = {f"template_{k}": template[k] for k in ("rgb", "spikes", "voxel")}
    out.update({f"search_{k}": v for k, v in search.items()})
    if target_box is not None:
        tgt = box_to_target(target_box, tuple(search["region"].tolist()), cfg.search_px).astype(np.float32)
        out["target_box"] = tgt
        out["target_heatmap"] = target_heatmap(tgt, cfg.heatmap_px)
    return out
