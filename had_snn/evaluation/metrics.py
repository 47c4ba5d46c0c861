"""OTB / LaSOT tracking metrics as computed by pytracking (numpy only).

Definitions follow ``pytracking/analysis/extract_results.py`` (visionml/pytracking):

* success curve: fraction of valid frames with ``IoU > thr`` for ``thr in arange(0, 1.05, 0.05)`` (21 thresholds,
  strict ``>`` as pytracking); the success rate **SR / AUC** is the mean of that curve (the area under it).
* precision curve: fraction of valid frames with centre error ``<= thr`` px, ``thr = 0..50``; **PR** is the value at
  20 px.
* normalised precision curve: centre error after dividing both centres by the GT ``(w, h)`` (LaSOT, Fan et al. 2019,
  as pytracking's ``calc_err_center(normalized=True)``), ``thr = 0, 0.01, .., 0.5``; **NPR** is the value at 0.2.
* over a dataset the per-sequence curves are averaged (every sequence weighs the same), as pytracking does.

Box convention: ``x, y, w, h`` px with a top-left origin, **continuous** coordinates (a box covers
``[x, x + w) x [y, y + h)``, as the GOT-10k toolkit). pytracking uses inclusive pixel boxes (``x + w - 1``) for the
IoU only; for centre errors the ``- 1`` cancels, so PR and NPR are identical to pytracking's.

Degenerate boxes (pytracking raises on NaN predictions; we keep scoring and document the rule):

* ground truth NaN, or ``w <= 0`` or ``h <= 0``: the frame is **excluded** (target absent; pytracking's ``valid``
  mask). With ``frame_size`` given, a GT box that cannot be a target in the image is excluded too: entirely
  outside it, or over twice its width or height (:func:`had_snn.data.sequence.valid_box_mask`, the rule the
  readers apply when they load ground truth), so absurd boxes never score.
* prediction NaN/inf or negative size: the frame counts as a **failure** (IoU 0, infinite centre error).
* prediction of zero width or height: IoU 0 (it covers no area) but its centre is still scored for PR/NPR.
* boxes are never clipped to the frame; a prediction outside the image simply has IoU 0 with a GT inside it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from had_snn.data.sequence import valid_box_mask

IOU_THRESHOLDS = np.linspace(0.0, 1.0, 21)
CENTER_THRESHOLDS_PX = np.arange(0, 51, dtype=np.float64)
NORM_CENTER_THRESHOLDS = np.arange(0, 51, dtype=np.float64) / 100.0
PRECISION_AT_PX = 20.0
NORM_PRECISION_AT = 0.2
#: the headline metrics: short name -> results key (``results.json``'s per-subset fields), in report order
HEADLINE_METRICS = {"SR": "SR_AUC", "PR": "PR20", "NPR": "NPR0.2"}
#: how tables and plots label each results key
METRIC_LABELS = {"SR_AUC": "SR (AUC)", "PR20": "PR@20", "NPR0.2": "NPR@0.2"}


def _as_boxes(boxes: np.ndarray, name: str) -> np.ndarray:
    b = np.asarray(boxes, dtype=np.float64)
    if b.ndim == 1 and b.shape[0] == 4:
        b = b[None]
    if b.ndim != 2 or b.shape[1] != 4:
        raise ValueError(f"{name}: expected boxes of shape (N, 4) as x, y, w, h px, got shape {b.shape}")
    return b


def valid_gt_mask(gt: np.ndarray, frame_size: tuple[int, int] | None = None) -> np.ndarray:
    """Frames whose ground truth is scored: finite, ``w > 0``, ``h > 0`` and (if ``frame_size=(W, H)`` px is given)
    a valid box on that sensor (:func:`had_snn.data.sequence.valid_box_mask`: overlapping it, at most twice its
    size)."""
    g = _as_boxes(gt, "ground truth")
    if frame_size is not None:
        return valid_box_mask(g, frame_size)
    with np.errstate(invalid="ignore"):
        return np.isfinite(g).all(axis=1) & (g[:, 2] > 0) & (g[:, 3] > 0)


def _valid_pred_mask(pred: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return np.isfinite(pred).all(axis=1) & (pred[:, 2] >= 0) & (pred[:, 3] >= 0)


def iou(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Per-frame IoU of ``(N, 4)`` boxes (continuous coordinates). Invalid predictions (NaN, negative size) give 0;
    frames with an invalid ground truth give NaN (callers exclude them)."""
    p, g = _as_boxes(pred, "prediction"), _as_boxes(gt, "ground truth")
    if p.shape != g.shape:
        raise ValueError(f"prediction has {len(p)} boxes but ground truth has {len(g)}")
    with np.errstate(invalid="ignore", divide="ignore"):
        iw = np.minimum(p[:, 0] + p[:, 2], g[:, 0] + g[:, 2]) - np.maximum(p[:, 0], g[:, 0])
        ih = np.minimum(p[:, 1] + p[:, 3], g[:, 1] + g[:, 3]) - np.maximum(p[:, 1], g[:, 1])
        inter = np.clip(iw, 0, None) * np.clip(ih, 0, None)
        union = p[:, 2] * p[:, 3] + g[:, 2] * g[:, 3] - inter
        out = np.where(union > 0, inter / union, 0.0)
    out[~_valid_pred_mask(p)] = 0.0
    out[~valid_gt_mask(g)] = np.nan
    return out


def center_error(pred: np.ndarray, gt: np.ndarray, normalized: bool = False) -> np.ndarray:
    """Per-frame Euclidean distance of box centres in px (or, ``normalized``, after dividing both centres by the GT
    ``w, h``). Invalid predictions give ``inf``; invalid ground truths give NaN."""
    p, g = _as_boxes(pred, "prediction"), _as_boxes(gt, "ground truth")
    if p.shape != g.shape:
        raise ValueError(f"prediction has {len(p)} boxes but ground truth has {len(g)}")
    with np.errstate(invalid="ignore", divide="ignore"):
        d = (p[:, :2] + 0.5 * p[:, 2:]) - (g[:, :2] + 0.5 * g[:, 2:])
        if normalized:
            d = d / g[:, 2:]
        out = np.sqrt((d**2).sum(axis=1))
    out[~_valid_pred_mask(p)] = np.inf
    out[~valid_gt_mask(g)] = np.nan
    return out


@dataclass
class SequenceScore:
    """Curves of one sequence over its valid frames (see module docstring)."""

    success: np.ndarray  # (21,) over IOU_THRESHOLDS
    precision: np.ndarray  # (51,) over CENTER_THRESHOLDS_PX
    norm_precision: np.ndarray  # (51,) over NORM_CENTER_THRESHOLDS
    num_valid_frames: int
    mean_iou: float

    @property
    def auc(self) -> float:
        return float(self.success.mean())

    @property
    def pr20(self) -> float:
        return float(self.precision[int(np.argmin(np.abs(CENTER_THRESHOLDS_PX - PRECISION_AT_PX)))])

    @property
    def npr(self) -> float:
        return float(self.norm_precision[int(np.argmin(np.abs(NORM_CENTER_THRESHOLDS - NORM_PRECISION_AT)))])


def score_sequence(pred: np.ndarray, gt: np.ndarray, frame_size: tuple[int, int] | None = None) -> SequenceScore:
    """Success, precision and normalised-precision curves of one sequence.

    Raises ValueError when the lengths differ or no frame has a valid ground truth.
    """
    p, g = _as_boxes(pred, "prediction"), _as_boxes(gt, "ground truth")
    if len(p) != len(g):
        raise ValueError(f"prediction has {len(p)} boxes but ground truth has {len(g)}")
    valid = valid_gt_mask(g, frame_size)
    n = int(valid.sum())
    if n == 0:
        raise ValueError("no frame has a valid ground-truth box (all NaN, empty or outside the frame)")
    ov = iou(p, g)[valid]
    ce = center_error(p, g)[valid]
    cen = center_error(p, g, normalized=True)[valid]
    return SequenceScore(
        success=(ov[:, None] > IOU_THRESHOLDS[None]).mean(axis=0),
        precision=(ce[:, None] <= CENTER_THRESHOLDS_PX[None]).mean(axis=0),
        norm_precision=(cen[:, None] <= NORM_CENTER_THRESHOLDS[None]).mean(axis=0),
        num_valid_frames=n,
        mean_iou=float(ov.mean()),
    )


@dataclass
class Summary:
    """Sequence-averaged curves and headline numbers (fractions in [0, 1])."""

    success: np.ndarray
    precision: np.ndarray
    norm_precision: np.ndarray
    num_sequences: int
    num_frames: int
    auc: float = field(init=False)
    pr20: float = field(init=False)
    npr: float = field(init=False)

    def __post_init__(self) -> None:
        s = SequenceScore(self.success, self.precision, self.norm_precision, self.num_frames, float("nan"))
        self.auc, self.pr20, self.npr = s.auc, s.pr20, s.npr

    def as_dict(self) -> dict:
        return {
            "SR_AUC": self.auc,
            "PR20": self.pr20,
            "NPR0.2": self.npr,
            "num_sequences": self.num_sequences,
            "num_frames": self.num_frames,
            "success_curve": self.success.tolist(),
            "precision_curve": self.precision.tolist(),
            "norm_precision_curve": self.norm_precision.tolist(),
        }


def summarize(scores: list[SequenceScore]) -> Summary:
    """Average per-sequence curves (pytracking's dataset aggregation)."""
    if not scores:
        raise ValueError("no sequence scores to summarise")
    return Summary(
        success=np.mean([s.success for s in scores], axis=0),
        precision=np.mean([s.precision for s in scores], axis=0),
        norm_precision=np.mean([s.norm_precision for s in scores], axis=0),
        num_sequences=len(scores),
        num_frames=int(sum(s.num_valid_frames for s in scores)),
    )


NORMAL_LIGHT = "normal_light"
# Tags of sequences whose frames are badly exposed; "normal_light" is derived as the sequences carrying none of them.
POOR_LIGHT_ATTRIBUTES = ("low_light", "hdr")


def subset_members(names: list[str], attributes: Mapping[str, tuple[str, ...]]) -> dict[str, list[str]]:
    """Sequence names of every subset, in report order: ``"all"``, the derived ``"normal_light"`` (tagged with none
    of :data:`POOR_LIGHT_ATTRIBUTES`; left out when empty, or when a dataset has its own tag of that name), then one
    subset per attribute tag (sorted). ValueError when a name has no attributes entry."""
    missing = [n for n in names if n not in attributes]
    if missing:
        raise ValueError(f"no attributes given for sequences {sorted(missing)}")
    tags = sorted({a for name in names for a in attributes[name]})
    out = {"all": list(names)}
    normal = [n for n in names if not set(attributes[n]) & set(POOR_LIGHT_ATTRIBUTES)]
    if normal and NORMAL_LIGHT not in tags:
        out[NORMAL_LIGHT] = normal
    for tag in tags:
        out[tag] = [n for n in names if tag in attributes[n]]
    return out


def per_attribute(
    scores: Mapping[str, SequenceScore], attributes: Mapping[str, tuple[str, ...]]
) -> dict[str, Summary]:
    """Summaries over all sequences (key ``"all"``), over the derived ``"normal_light"`` subset (sequences tagged
    with neither ``low_light`` nor ``hdr``, when there are any) and over the sequences carrying each attribute tag.

    ``scores`` and ``attributes`` are keyed by sequence name; attributes without any sequence are left out.
    """
    members = subset_members(list(scores), attributes)
    return {subset: summarize([scores[n] for n in names]) for subset, names in members.items()}
