"""Real RGB+event tracking datasets behind one API: registry, split lists and the dataset-level checks.

Each adapter module (:mod:`had_snn.data.fe108`, :mod:`~had_snn.data.visevent`, :mod:`~had_snn.data.coesot`,
:mod:`~had_snn.data.eventvot`) reads its dataset as the authors distribute it and defines ``NAME``, ``SENSOR_SIZE``
(W, H) px, ``SPLITS``, ``list_sequences(root, split)`` and ``load_sequence(root, name)``.
:func:`open_dataset` wraps one of them for a dataset root.

Every loader passes its raw arrays through :func:`checked_sequence`, which never repairs silently: missing files and
malformed ground truth raise ``FileNotFoundError`` / ``ValueError`` naming the file; disorder that has an unambiguous
fix is repaired, counted in a :class:`LoadReport` (stored in ``Sequence.meta`` as ``repair_*`` keys) and logged.
"""

from __future__ import annotations

import importlib
import logging
import os
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from types import ModuleType

import numpy as np

from had_snn.data.events import EVENT_DTYPE
from had_snn.data.sequence import Sequence

log = logging.getLogger(__name__)

#: dataset name -> adapter module (imported on first use, so ``import had_snn.data.adapters`` stays light).
ADAPTERS: dict[str, str] = {
    "fe108": "had_snn.data.fe108",
    "visevent": "had_snn.data.visevent",
    "coesot": "had_snn.data.coesot",
    "eventvot": "had_snn.data.eventvot",
}

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


@dataclass
class LoadReport:
    """Counted repairs made while loading one sequence (all zero for a clean sequence)."""

    events_reordered: int = 0  # events whose timestamp went backwards; fixed by a stable sort on t
    events_out_of_bounds: int = 0  # events with x >= W or y >= H; dropped
    polarity_remapped: int = 0  # events with polarity -1 (Prophesee/-1,1 convention); mapped to 0
    boxes_clipped: int = 0  # boxes reaching outside the sensor; clipped to it
    boxes_absent: int = 0  # frames where the target is absent (absent flag, zero-size or fully outside box) -> NaN
    frames_unannotated: int = 0  # recorded frames without a ground-truth line; dropped
    empty_windows: int = 0  # inter-frame windows without a single event (kept, reported)

    def as_meta(self) -> dict[str, int]:
        return {f"repair_{k}": int(v) for k, v in asdict(self).items()}

    def nonzero(self) -> dict[str, int]:
        return {k: int(v) for k, v in asdict(self).items() if v}


# ---------------------------------------------------------------------------------------------- registry


def get_adapter(name: str) -> ModuleType:
    """The adapter module registered under ``name`` (case-insensitive)."""
    key = name.lower()
    if key not in ADAPTERS:
        raise ValueError(f"unknown dataset {name!r}; expected one of {', '.join(sorted(ADAPTERS))}")
    return importlib.import_module(ADAPTERS[key])


class Dataset:
    """A real dataset read in place: ``open_dataset("fe108", root).load_sequence("airplane")``."""

    def __init__(self, name: str, root: str | os.PathLike) -> None:
        self.adapter = get_adapter(name)
        self.name = self.adapter.NAME
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"{self.name} root {self.root} is not a directory")

    @property
    def sensor_size(self) -> tuple[int, int]:
        return self.adapter.SENSOR_SIZE

    def splits(self) -> list[str]:
        """The splits of ``adapter.SPLITS`` that exist under the root."""
        return [s for s in self.adapter.SPLITS if (self.root / s).is_dir()]

    def list_sequences(self, split: str) -> list[str]:
        return self.adapter.list_sequences(self.root, split)

    def load_sequence(self, name: str) -> Sequence:
        return self.adapter.load_sequence(self.root, name)

    def iter_sequences(self, split: str) -> Iterator[Sequence]:
        for name in self.list_sequences(split):
            yield self.load_sequence(name)

    def __repr__(self) -> str:
        return f"Dataset({self.name!r}, {str(self.root)!r})"


def open_dataset(name: str, root: str | os.PathLike) -> Dataset:
    """Open dataset ``name`` (a key of :data:`ADAPTERS`) stored at ``root`` in its authors' layout."""
    return Dataset(name, root)


# ---------------------------------------------------------------------------------------------- layout helpers


def split_dir(root: Path, split: str, splits: tuple[str, ...], dataset: str) -> Path:
    """``root/split`` after checking the split name and that the folder exists."""
    if split not in splits:
        raise ValueError(f"{dataset}: unknown split {split!r}; expected one of {', '.join(splits)}")
    d = Path(root) / split
    if not d.is_dir():
        raise FileNotFoundError(f"{dataset}: split folder {d} not found (expected ROOT/{split}/<sequence>/...)")
    return d


def sequence_names(folder: Path, list_file: str = "list.txt") -> list[str]:
    """Sequence names of a split folder: its ``list.txt`` (one name a line, as the pytracking/OSTrack loaders of
    these datasets read) when present, else the sorted sub-folders. Names listed but missing raise."""
    lst = folder / list_file
    if lst.is_file():
        names = [ln.strip() for ln in lst.read_text().splitlines() if ln.strip()]
        missing = [n for n in names if not (folder / n).is_dir()]
        if missing:
            raise FileNotFoundError(f"{lst}: {len(missing)} listed sequence folder(s) missing, e.g. {missing[0]!r}")
        return names
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def find_sequence_dir(root: Path, name: str, splits: tuple[str, ...], dataset: str) -> Path:
    """The folder of sequence ``name`` (or ``split/name``) in any split of ``root``."""
    root = Path(root)
    if "/" in name:
        d = root / name
        if d.is_dir():
            return d
        raise FileNotFoundError(f"{dataset}: sequence folder {d} not found")
    for split in splits:
        d = root / split / name
        if d.is_dir():
            return d
    raise FileNotFoundError(
        f"{dataset}: sequence {name!r} not found under {root}/{{{','.join(splits)}}}/ (expected a folder per sequence)"
    )


def require_file(path: Path, what: str) -> Path:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing {what}")
    return path


def _numeric_key(p: Path) -> tuple[int, str]:
    digits = re.findall(r"\d+", p.stem)
    return (int(digits[-1]) if digits else -1, p.name)


def list_images(folder: Path) -> list[Path]:
    """Image files of a folder sorted by the last number in their name (``frame0009`` < ``frame0010``)."""
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: missing frame folder")
    return sorted((p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES), key=_numeric_key)


def load_images(paths: list[Path]) -> np.ndarray:
    """Read image files into (N, H, W, 3) uint8 RGB (Pillow, a matplotlib dependency, imported here)."""
    from PIL import Image

    out = []
    for p in paths:
        try:
            with Image.open(p) as im:
                out.append(np.asarray(im.convert("RGB"), dtype=np.uint8))
        except OSError as exc:
            raise ValueError(f"{p}: unreadable image ({exc})") from exc
        if out[-1].shape != out[0].shape:
            raise ValueError(f"{p}: image size {out[-1].shape[:2]} differs from {paths[0].name} {out[0].shape[:2]}")
    return np.stack(out) if out else np.empty((0, 0, 0, 3), dtype=np.uint8)


def annotated_frames(img_dir: Path, aps: np.ndarray | None, n_boxes: int, gt_file: str,
                     start: int = 0) -> np.ndarray | None:
    """RGB frames of the annotated boxes: the dataset's exported images when ``img_dir`` exists (exactly one per box),
    else the recording's APS frames ``start .. start + n_boxes`` (None for an event-only recording)."""
    if img_dir.is_dir():
        paths = list_images(img_dir)
        if len(paths) != n_boxes:
            raise ValueError(f"{img_dir}: {len(paths)} images but {n_boxes} lines in {gt_file}")
        return load_images(paths)
    return None if aps is None else aps[start:start + n_boxes]


def check_sensor(recording: Path, sensor: tuple[int, int], expected: tuple[int, int], dataset: str) -> None:
    """Refuse a recording whose sensor size is not the dataset's camera."""
    if tuple(sensor) != tuple(expected):
        raise ValueError(f"{recording}: sensor {sensor[0]}x{sensor[1]} px, {dataset} is DAVIS346 "
                         f"{expected[0]}x{expected[1]}")


# ---------------------------------------------------------------------------------------------- text files


def read_boxes(path: Path) -> np.ndarray:
    """Ground-truth boxes from an OTB-style text file -> (N, 4) float64 ``x, y, w, h``.

    Separators: comma, tab or spaces (the datasets mix them). Rows of 8 numbers are polygons (x1,y1,...,x4,y4) and
    become their axis-aligned bounding box, as VisEvent's ``prepare_VisEvent_train_data.py`` does. ``nan`` is allowed.
    """
    path = require_file(Path(path), "ground-truth file")
    rows = []
    for i, line in enumerate(path.read_text().splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        parts = [p for p in re.split(r"[,\s]+", line) if p]
        try:
            vals = [float(p) for p in parts]
        except ValueError as exc:
            raise ValueError(f"{path}:{i}: expected numbers separated by commas or spaces, got {line!r}") from exc
        if len(vals) == 8:
            xs, ys = vals[0::2], vals[1::2]
            vals = [min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)]
        if len(vals) != 4:
            raise ValueError(f"{path}:{i}: expected 4 (x,y,w,h) or 8 (polygon) values, got {len(vals)}")
        rows.append(vals)
    if not rows:
        raise ValueError(f"{path}: no ground-truth boxes")
    boxes = np.asarray(rows, dtype=np.float64)
    bad = np.flatnonzero((boxes[:, 2] < 0) | (boxes[:, 3] < 0))
    if len(bad):
        raise ValueError(f"{path}:{_line_of(path, bad[0])}: negative box width/height {boxes[bad[0]].tolist()}")
    return boxes


def _line_of(path: Path, row: int) -> int:
    lines = [i for i, ln in enumerate(path.read_text().splitlines(), start=1) if ln.strip()]
    return lines[row]


def read_present_flags(path: Path, n: int) -> np.ndarray:
    """Per-frame visibility flags (``absent.txt`` / ``absent_label.txt``): one 0/1 a line, **1 = target present**
    (VisEvent's ``load_dianwokeji_json_file.m`` writes 1 for an annotated frame and 0 with a 0,0,0,0 box)."""
    vals = []
    for i, line in enumerate(Path(path).read_text().splitlines(), start=1):
        if line.strip():
            try:
                vals.append(int(float(line.strip())))
            except ValueError as exc:
                raise ValueError(f"{path}:{i}: expected 0 or 1, got {line.strip()!r}") from exc
    flags = np.asarray(vals, dtype=np.int64)
    if len(flags) != n:
        raise ValueError(f"{path}: {len(flags)} flags but {n} ground-truth boxes")
    if not np.isin(flags, (0, 1)).all():
        raise ValueError(f"{path}: flags must be 0 or 1")
    return flags.astype(bool)


# ---------------------------------------------------------------------------------------------- checks


def align_annotated_frames(frame_t_us: np.ndarray, n_boxes: int, source: str, report: LoadReport,
                           start: int = 0) -> np.ndarray:
    """Timestamps of the ``n_boxes`` annotated frames: recorded frames ``start .. start+n_boxes-1``.

    Fewer recorded frames than boxes is an error; recorded frames after the last annotated one are dropped and
    counted in ``report.frames_unannotated``.
    """
    if start < 0 or start + n_boxes > len(frame_t_us):
        raise ValueError(
            f"{source}: {n_boxes} ground-truth boxes from frame {start} but the recording has {len(frame_t_us)} frames"
        )
    report.frames_unannotated += len(frame_t_us) - n_boxes
    return np.asarray(frame_t_us[start:start + n_boxes], dtype=np.int64)


def checked_sequence(
    name: str,
    events: np.ndarray,
    sensor_size: tuple[int, int],
    frame_t_us: np.ndarray,
    boxes: np.ndarray,
    *,
    source: str,
    frames: np.ndarray | None = None,
    present: np.ndarray | None = None,
    report: LoadReport | None = None,
    meta: dict | None = None,
) -> Sequence:
    """Validate and (countably) repair one sequence, then build the :class:`Sequence`.

    Errors (``ValueError`` naming ``source``): box count != frame count, frames of another size than the sensor, frame
    timestamps going backwards, no events at all. Counted repairs: see :class:`LoadReport`.
    """
    report = report or LoadReport()
    width, height = int(sensor_size[0]), int(sensor_size[1])
    frame_t_us = np.asarray(frame_t_us, dtype=np.int64)
    boxes = np.array(boxes, dtype=np.float64).reshape(-1, 4)
    if len(boxes) != len(frame_t_us):
        raise ValueError(f"{source}: {len(boxes)} ground-truth boxes but {len(frame_t_us)} frames")
    if len(frame_t_us) == 0:
        raise ValueError(f"{source}: no annotated frames")
    if np.any(np.diff(frame_t_us) <= 0):
        k = int(np.flatnonzero(np.diff(frame_t_us) <= 0)[0])
        raise ValueError(f"{source}: frame timestamps not increasing at frame {k + 1} ({frame_t_us[k]} -> "
                         f"{frame_t_us[k + 1]} us)")
    if frames is not None:
        if len(frames) != len(frame_t_us):
            raise ValueError(f"{source}: {len(frames)} frames but {len(frame_t_us)} ground-truth boxes")
        if frames.shape[1:3] != (height, width):
            raise ValueError(f"{source}: frames are {frames.shape[2]}x{frames.shape[1]} px but the event sensor is "
                             f"{width}x{height} px")

    if events.dtype != EVENT_DTYPE:
        raise ValueError(f"{source}: events must have dtype {EVENT_DTYPE}, got {events.dtype}")
    if len(events) == 0:
        raise ValueError(f"{source}: no events")
    backwards = int(np.count_nonzero(np.diff(events["t"]) < 0))
    if backwards:
        events = events[np.argsort(events["t"], kind="stable")]
        report.events_reordered += backwards
    oob = (events["x"] >= width) | (events["y"] >= height)
    if oob.any():
        report.events_out_of_bounds += int(oob.sum())
        events = events[~oob]
    neg = events["p"] == -1
    if neg.any():
        events = events.copy()
        events["p"][neg] = 0
        report.polarity_remapped += int(neg.sum())
    if not np.isin(events["p"], (0, 1)).all():
        raise ValueError(f"{source}: event polarities must be 0/1 (or -1/1)")

    boxes = _clip_boxes(boxes, width, height, report)
    if present is not None:
        gone = ~present & ~np.isnan(boxes[:, 0])
        boxes[gone] = np.nan
        report.boxes_absent += int(gone.sum())

    edges = np.searchsorted(events["t"], frame_t_us, side="right")
    report.empty_windows += int(np.count_nonzero(np.diff(edges) == 0))

    repairs = report.nonzero()
    if repairs:
        log.warning("%s: repaired %s", source, ", ".join(f"{k}={v}" for k, v in repairs.items()))
    return Sequence(
        name=name,
        events=events,
        sensor_size=(width, height),
        frame_t_us=frame_t_us,
        boxes=boxes.astype(np.float32),
        frames=frames,
        meta={**(meta or {}), **report.as_meta()},
    )


def _clip_boxes(boxes: np.ndarray, width: int, height: int, report: LoadReport) -> np.ndarray:
    """Clip boxes to the sensor; zero-size or fully-outside boxes become NaN rows (target absent)."""
    out = boxes.copy()
    valid = ~np.isnan(out).any(axis=1)
    x0, y0 = out[:, 0], out[:, 1]
    x1, y1 = x0 + out[:, 2], y0 + out[:, 3]
    cx0, cy0 = np.clip(x0, 0, width), np.clip(y0, 0, height)
    cx1, cy1 = np.clip(x1, 0, width), np.clip(y1, 0, height)
    changed = valid & ((cx0 != x0) | (cy0 != y0) | (cx1 != x1) | (cy1 != y1))
    empty = valid & ((cx1 - cx0 <= 0) | (cy1 - cy0 <= 0))
    report.boxes_clipped += int((changed & ~empty).sum())
    report.boxes_absent += int(empty.sum())
    out[:, 0], out[:, 1], out[:, 2], out[:, 3] = cx0, cy0, cx1 - cx0, cy1 - cy0
    out[empty | ~valid] = np.nan
    return out
