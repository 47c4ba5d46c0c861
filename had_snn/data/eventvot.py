"""EventVOT (Wang et al., "Event Stream-based Visual Object Tracking: A High-Resolution Benchmark Dataset and A Novel
Baseline", CVPR 2024, arXiv:2309.14611).

Sources read for this adapter (https://github.com/Event-AHU/EventVOT_Benchmark):
- ``README.md``: Prophesee EVK4 HD event camera, 1280x720 px, event-only; ``ROOT/{train,test,val}/<seq>/`` holding
  ``img/`` (event images), ``<seq>.csv`` (raw events, "Complete version"), ``groundtruth.txt`` and ``absent.txt``;
  sequences named ``recording_2022-10-10_17-28-38``;
- ``HDETrack/lib/test/evaluation/eventvotdataset.py``: ``groundtruth.txt`` read with ``delimiter=','``, reshaped to
  (-1, 4); ``img/*.png|bmp`` sorted by the 4 digits before the suffix; split list ``ROOT/<split>/list.txt``.

The raw ``.csv`` is a Metavision CSV export: one event a line ``x,y,p,t`` (t in us), optional ``%`` comment lines or
one header line naming the columns (then the columns are taken by name). EventVOT ships no frame timestamps: event
image k accumulates the k-th of N equal windows of the recording, so ground-truth box k is placed at the end of that
window, ``t_first + (k + 1) * (t_last - t_first) / N``. There are no RGB frames (``Sequence.frames`` is None).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from had_snn.data.adapters import (
    LoadReport,
    checked_sequence,
    find_sequence_dir,
    read_boxes,
    read_present_flags,
    require_file,
    sequence_names,
    split_dir,
)
from had_snn.data.events import make_events
from had_snn.data.sequence import Sequence

NAME = "eventvot"
SENSOR_SIZE = (1280, 720)  # Prophesee EVK4 HD (IMX636), (W, H) px
SPLITS = ("train", "val", "test")
CSV_COLUMNS = ("x", "y", "p", "t")  # Metavision CSV order


def list_sequences(root: str | os.PathLike, split: str) -> list[str]:
    """Sequence folder names of ``split`` (``list.txt`` order when present, else sorted)."""
    return sequence_names(split_dir(Path(root), split, SPLITS, NAME))


def read_metavision_csv(path: Path) -> np.ndarray:
    """Events of a Metavision CSV export (``x,y,p,t``) as EVENT_DTYPE, in file order."""
    path = require_file(Path(path), "raw event file")
    columns, skip = CSV_COLUMNS, 0
    with path.open() as fh:
        for line in fh:
            s = line.strip()
            if s.startswith("%") or not s:
                skip += 1
                continue
            if any(c.isalpha() for c in s):  # a header naming the columns
                columns = tuple(c.strip().lower() for c in s.split(","))
                skip += 1
            break
    if sorted(columns) != sorted(CSV_COLUMNS):
        raise ValueError(f"{path}: header columns {columns} must be x, y, p, t")
    try:
        data = np.loadtxt(path, delimiter=",", comments="%", skiprows=skip, dtype=np.int64, ndmin=2)
    except ValueError as exc:
        raise ValueError(f"{path}: expected integer rows x,y,p,t ({exc})") from exc
    if data.shape[1] != 4:
        raise ValueError(f"{path}: expected 4 columns x,y,p,t, got {data.shape[1]}")
    col = {c: data[:, i] for i, c in enumerate(columns)}
    if (col["x"] < 0).any() or (col["y"] < 0).any():
        raise ValueError(f"{path}: negative pixel coordinates")
    return make_events(col["x"], col["y"], col["t"], col["p"])


def window_end_times(events_t_us: np.ndarray, n: int) -> np.ndarray:
    """End times of ``n`` equal windows spanning the recording (where EventVOT's event images are cut)."""
    t0, t1 = int(events_t_us.min()), int(events_t_us.max())
    if t1 <= t0:
        raise ValueError("events span no time; cannot place the ground-truth boxes")
    return t0 + ((np.arange(1, n + 1, dtype=np.float64) * (t1 - t0)) / n).round().astype(np.int64)


def load_sequence(root: str | os.PathLike, name: str) -> Sequence:
    """Load one EventVOT sequence (``name`` or ``split/name``): raw events and boxes, no RGB frames."""
    d = find_sequence_dir(Path(root), name, SPLITS, NAME)
    src = str(d)
    boxes = read_boxes(d / "groundtruth.txt")
    present = read_present_flags(d / "absent.txt", len(boxes)) if (d / "absent.txt").is_file() else None
    events = read_metavision_csv(d / f"{d.name}.csv")
    if len(events) == 0:
        raise ValueError(f"{d / (d.name + '.csv')}: no events")
    try:
        t_us = window_end_times(events["t"], len(boxes))
    except ValueError as exc:
        raise ValueError(f"{src}: {exc}") from exc
    return checked_sequence(d.name, events, SENSOR_SIZE, t_us, boxes, source=src, present=present,
                            report=LoadReport(), meta={"dataset": NAME, "split": d.parent.name})
