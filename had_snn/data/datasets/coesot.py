"""COESOT (Tang et al., "Revisiting Color-Event based Tracking: A Unified Network, Dataset, and Metric", 2022).

Sources read for this adapter (https://github.com/Event-AHU/COESOT):
- ``README.md``: ``ROOT/{train,test}/<seq>/`` holding ``<seq>_aps/``, ``<seq>_dvs/``, ``<seq>.aedat4``,
  ``groundtruth.txt``, ``absent.txt`` and ``start_end_index.txt``; sequences are named after the DV recording
  (``dvSave-2021_09_01_06_59_10``); sensor DAVIS346 (346x260 px);
- ``CEUTrack/lib/test/evaluation/coesotdataset.py``: ``groundtruth.txt`` read with ``delimiter=','`` and reshaped to
  (-1, 4), frames ``<seq>_aps/*.png|bmp`` sorted by the 4 digits before the suffix (``frame0000`` first),
  split list ``ROOT/<split>/list.txt``;
- ``CEUTrack/scripts/event_to_voxel_coesot.py``: frame ``frame{k:04d}`` and its events come from aedat4 frame k, the
  events of that frame's exposure (``use_mode = 'frame_exposure_time'``), for ``k`` in ``range(0, frame_num - 1)``;
- the dataset files themselves: ``absent.txt`` is 1 = present (the toolkit inverts it); ``start_end_index.txt`` is one
  line ``start,end``, 1-based and inclusive, in ground-truth row numbers. It marks the annotated stretch and does
  **not** shift the ground truth: row i (1-based) belongs to ``<seq>_aps/frame{i-1:04d}``, and the rows outside
  ``[start, end]`` are ``0,0,0,0`` with absent flag 0. ``end - start + 1`` is often not the number of rows
  (``35,1061`` with 1061 rows), and the row count need not equal the number of ``_aps`` images.

Layout read::

    ROOT/{train,test}/<seq>/<seq>.aedat4, groundtruth.txt[, absent.txt][, start_end_index.txt][, <seq>_aps/]

Alignment: row r (0-based) <-> recorded APS frame r <-> ``_aps`` image r, from frame 0. When the rows outnumber the
frames (the ``_aps`` images when the folder exists, else the recorded frames) the extra rows are dropped and counted
(``gt_rows_clipped``); recorded frames past the last row are dropped and counted. Rows outside ``[start, end]`` are
absent whatever they hold. Events: the frame's exposure window; the box time is the end of the exposure.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from had_snn.data.datasets.loader import Alignment, Layout, SequenceFiles, exposure_windows

NAME = "coesot"
SENSOR_SIZE = (346, 260)  # DAVIS346, (W, H) px
SPLITS = ("train", "test")


def read_start_end(path: Path) -> tuple[int, int]:
    """``(start, end)`` of ``start_end_index.txt``: 1-based inclusive ground-truth rows of the annotated stretch."""
    nums = re.findall(r"-?\d+", Path(path).read_text())
    if len(nums) != 2:
        raise ValueError(f"{path}: expected two integers 'start,end', got {len(nums)}")
    start, end = int(nums[0]), int(nums[1])
    if start < 1 or end < start:
        raise ValueError(f"{path}: expected 1 <= start <= end (1-based ground-truth rows), got {start},{end}")
    return start, end


def align(layout: Layout, files: SequenceFiles) -> Alignment:
    """Row r <-> APS frame r (from frame 0), clipped to the frames there are; rows outside start..end absent."""
    n_rec = len(files.recording.exposure_start_us)
    n_img = len(files.images) if files.images is not None else n_rec
    if n_img > n_rec:
        raise ValueError(f"{files.dir}: {n_img} images in {layout.frames_dir.format(seq=files.dir.name)} but the "
                         f"recording has {n_rec} APS frames")
    n = min(len(files.boxes), n_img)
    if n == 0:
        raise ValueError(f"{files.dir}: no frames to align the ground truth with")
    files.report.gt_rows_clipped += len(files.boxes) - n
    files.report.frames_unannotated += n_rec - n
    rows = np.arange(n)
    present = np.ones(n, dtype=bool) if files.present is None else files.present[:n].copy()
    meta: dict = {"event_window": "aps_exposure"}
    path = files.dir / "start_end_index.txt"
    if path.is_file():
        start, end = read_start_end(path)
        present &= (rows + 1 >= start) & (rows + 1 <= end)
        meta["annotated_rows"] = [start, end]
    return Alignment(rows, exposure_windows(files.recording, rows), rows, present, meta)


LAYOUT = Layout(NAME, "COESOT", SENSOR_SIZE, SPLITS, gt_file="groundtruth.txt", event_file="{seq}.aedat4",
                align=align, frames_dir="{seq}_aps", absent_file="absent.txt", present_value=1)
OPTIONS = LAYOUT.options
list_sequences, load_sequence, check_root = LAYOUT.list_sequences, LAYOUT.load_sequence, LAYOUT.check_root
