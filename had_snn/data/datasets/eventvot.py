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

from pathlib import Path

import numpy as np

from had_snn.data.datasets.files import require_file
from had_snn.data.datasets.loader import Layout, Recording
from had_snn.data.events import make_events

NAME = "eventvot"
SENSOR_SIZE = (1280, 720)  # Prophesee EVK4 HD (IMX636), (W, H) px
SPLITS = ("train", "val", "test")
CSV_COLUMNS = ("x", "y", "p", "t")  # Metavision CSV order


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


def read_csv_recording(layout: Layout, d: Path, n_boxes: int) -> Recording:
    """Raw events of ``<seq>.csv``; box k at the end of the k-th of ``n_boxes`` equal windows; no frames."""
    path = d / layout.event_file.format(seq=d.name)
    events = read_metavision_csv(path)
    if len(events) == 0:
        raise ValueError(f"{path}: no events")
    try:
        t_us = window_end_times(events["t"], n_boxes)
    except ValueError as exc:
        raise ValueError(f"{d}: {exc}") from exc
    return Recording(events, None, t_us, layout.sensor_size)


LAYOUT = Layout(NAME, "EventVOT", SENSOR_SIZE, SPLITS, gt_file="groundtruth.txt", event_file="{seq}.csv",
                read_recording=read_csv_recording, absent_file="absent.txt", present_value=1, flags_first=True)
list_sequences, load_sequence = LAYOUT.list_sequences, LAYOUT.load_sequence
