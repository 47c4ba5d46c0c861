"""EventVOT (Wang et al., "Event Stream-based Visual Object Tracking: A High-Resolution Benchmark Dataset and A Novel
Baseline", CVPR 2024, arXiv:2309.14611).

Sources read for this adapter (https://github.com/Event-AHU/EventVOT_Benchmark):
- ``README.md``: Prophesee EVK4 HD event camera, 1280x720 px, event-only; ``ROOT/{train,test,val}/<seq>/`` holding
  ``img/`` (event images), ``<seq>.csv`` (raw events, "Complete version"), ``groundtruth.txt`` and ``absent.txt``;
  sequences named ``recording_2022-10-10_17-28-38``;
- ``HDETrack/lib/test/evaluation/eventvotdataset.py``: ``groundtruth.txt`` read with ``delimiter=','``, reshaped to
  (-1, 4); ``img/*.png|bmp`` sorted by the 4 digits before the suffix; split list ``ROOT/<split>/list.txt``;
- the authors' scripts that turn ``<seq>.csv`` into event voxels and event images: the CSV holds columns x, y, p, t
  (t in us; Metavision's export may shift the timestamps to start near 0) and is read with its first line consumed
  as a header. There are no frame timestamps: the recording is cut into equal time windows, and the two scripts cut
  them differently. The voxel script uses ``deltaT = (t_last - t_first) // 499`` and windows starting at the first
  event; the image script uses ``// 500`` and starts one window later.

Layout read::

    ROOT/{train,val,test}/<seq>/<seq>.csv, groundtruth.txt[, absent.txt][, img/0000.png ...]

Event CSV: ``%`` comment lines are skipped; a first line naming the columns is read by name (``x``, ``y``,
``p``/``polarity``, ``t``/``ts``/``timestamp``, in any order; other names are an error); a first line of numbers is
dropped as the authors' reader drops it (counted as ``csv_first_line_dropped``) and the columns are taken as x, y, p, t.

Windows (option ``windows``, ``import-dataset --eventvot-windows``), for N ground-truth rows, t_first / t_last the
first / last event of the file:

- ``image`` (default): ``deltaT = (t_last - t_first) // N``, box k's window ``[t_first + (k+1) deltaT,
  t_first + (k+2) deltaT)``: the rule of the image script, whose event images are what the boxes were drawn on;
- ``voxel``: ``deltaT = (t_last - t_first) // (N - 1)``, box k's window ``[t_first + k deltaT,
  t_first + (k+1) deltaT)``: the rule of the voxel script (the trackers' input).

With N = 500 these are the scripts' own divisors (500 and 499). The box time is the end of its window. There are no RGB
frames (``Sequence.frames`` is None).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from had_snn.data.datasets.checks import LoadReport
from had_snn.data.datasets.files import require_file
from had_snn.data.datasets.loader import Alignment, Layout, RawRecording, SequenceFiles
from had_snn.data.events import make_events

log = logging.getLogger(__name__)

NAME = "eventvot"
SENSOR_SIZE = (1280, 720)  # Prophesee EVK4 HD (IMX636), (W, H) px
SPLITS = ("train", "val", "test")


CSV_COLUMNS = ("x", "y", "p", "t")  # the authors' column order
COLUMN_NAMES = {"x": "x", "y": "y", "p": "p", "pol": "p", "polarity": "p", "t": "t", "ts": "t", "timestamp": "t"}
WINDOWS = ("image", "voxel")


def read_metavision_csv(path: Path, report: LoadReport | None = None) -> np.ndarray:
    """Events of an EventVOT CSV (x, y, p, t) as EVENT_DTYPE, in file order.

    A header line is read by column name; a numeric first line is dropped, as the authors' reader consumes it as a
    header (counted in ``report.csv_first_line_dropped`` and logged).
    """
    path = require_file(Path(path), "raw event file")
    columns, skip, dropped = CSV_COLUMNS, 0, False
    with path.open() as fh:
        for line in fh:
            s = line.strip()
            if s.startswith("%") or not s:
                skip += 1
                continue
            skip += 1  # the first line is a header, named or not
            if any(c.isalpha() for c in s):
                names = tuple(c.strip().lower() for c in s.split(","))
                unknown = [c for c in names if c not in COLUMN_NAMES]
                columns = tuple(COLUMN_NAMES.get(c, c) for c in names)
                if unknown or sorted(columns) != sorted(CSV_COLUMNS):
                    raise ValueError(f"{path}: header {s!r} must name the columns x, y, p, t")
            else:
                dropped = True
            break
    if dropped:
        log.warning("%s: first line has no column names; dropped as the EventVOT authors' reader drops it, "
                    "columns taken as x, y, p, t", path)
        if report is not None:
            report.csv_first_line_dropped += 1
    try:
        data = np.loadtxt(path, delimiter=",", comments="%", skiprows=skip, dtype=np.int64, ndmin=2)
    except ValueError as exc:
        raise ValueError(f"{path}: expected integer rows x,y,p,t ({exc})") from exc
    if data.size == 0:
        return make_events([], [], [], [])
    if data.shape[1] != 4:
        raise ValueError(f"{path}: expected 4 columns x,y,p,t, got {data.shape[1]}")
    col = {c: data[:, i] for i, c in enumerate(columns)}
    if (col["x"] < 0).any() or (col["y"] < 0).any():
        raise ValueError(f"{path}: negative pixel coordinates")
    if not np.isin(col["p"], (-1, 0, 1)).all():
        raise ValueError(f"{path}: column p holds values other than 0/1 (or -1/1); are the columns x, y, p, t?")
    return make_events(col["x"], col["y"], col["t"], col["p"])


def event_windows(t_first: int, t_last: int, n: int, rule: str = "image") -> np.ndarray:
    """(n, 2) int64 event windows ``[t0, t1)`` of n ground-truth rows under window rule ``rule`` (module docstring)."""
    if rule not in WINDOWS:
        raise ValueError(f"EventVOT windows must be one of {', '.join(WINDOWS)}, got {rule!r}")
    if n < 1 or (rule == "voxel" and n < 2):
        raise ValueError(f"cannot cut {n} {rule} window(s)")
    span = int(t_last) - int(t_first)
    delta = span // (n if rule == "image" else n - 1)
    if delta <= 0:
        raise ValueError(f"events span {span} us, too short for {n} windows")
    k = np.arange(n, dtype=np.int64) + (1 if rule == "image" else 0)
    return np.stack([t_first + k * delta, t_first + (k + 1) * delta], axis=1).astype(np.int64)


def read_csv_recording(layout: Layout, d: Path, options: dict[str, Any], report: LoadReport) -> RawRecording:
    """Raw events of ``<seq>.csv``; no frames (the windows are cut in :func:`align`)."""
    events = read_metavision_csv(d / layout.event_file.format(seq=d.name), report)
    if len(events) == 0:
        raise ValueError(f"{d / layout.event_file.format(seq=d.name)}: no events")
    empty = np.empty(0, dtype=np.int64)
    return RawRecording(events, None, empty, empty, layout.sensor_size)


def align(layout: Layout, files: SequenceFiles) -> Alignment:
    """Box k <-> the k-th equal time window of the recording, by the ``windows`` option's rule."""
    t = files.recording.events["t"]
    rule = files.options["windows"]
    try:
        window = event_windows(int(t[0]), int(t[-1]), len(files.boxes), rule)
    except ValueError as exc:
        raise ValueError(f"{files.dir}: {exc}") from exc
    rows = np.arange(len(files.boxes))
    return Alignment(rows, window, None, files.present, {"event_window": f"equal_time_{rule}"})


LAYOUT = Layout(NAME, "EventVOT", SENSOR_SIZE, SPLITS, gt_file="groundtruth.txt", event_file="{seq}.csv",
                read_recording=read_csv_recording, align=align, absent_file="absent.txt", present_value=1,
                flags_first=True, options={"windows": "image"})
OPTIONS = LAYOUT.options
list_sequences, load_sequence, check_root = LAYOUT.list_sequences, LAYOUT.load_sequence, LAYOUT.check_root
