"""COESOT (Tang et al., "Revisiting Color-Event based Tracking: A Unified Network, Dataset, and Metric", 2022).

Sources read for this adapter (https://github.com/Event-AHU/COESOT):
- ``README.md``: ``ROOT/{train,test}/<seq>/`` holding ``<seq>_aps/``, ``<seq>_dvs/``, ``<seq>.aedat4``,
  ``groundtruth.txt``, ``absent.txt`` and ``start_end_index.txt``; sequences are named after the DV recording
  (``dvSave-2021_09_01_06_59_10``); sensor DAVIS346 (346x260 px);
- ``CEUTrack/lib/test/evaluation/coesotdataset.py``: ``groundtruth.txt`` read with ``delimiter=','`` and reshaped to
  (-1, 4), frames ``<seq>_aps/*.png|bmp`` sorted by the 4 digits before the suffix,
  split list ``ROOT/<split>/list.txt``.

Layout read::

    ROOT/{train,test}/<seq>/<seq>.aedat4, groundtruth.txt[, absent.txt][, start_end_index.txt][, <seq>_aps/]

Alignment: ``start_end_index.txt`` holds the first and last recorded APS frame index covered by the annotation
(two integers separated by a comma, spaces or a newline; the last index may be inclusive or exclusive, both are
accepted when they agree with the number of boxes). Without it the annotation starts at the first APS frame.
``absent.txt``: one 0/1 a line, 1 = target present (the VisEvent convention of the same group).
"""

from __future__ import annotations

import re
from pathlib import Path

from had_snn.data.datasets.loader import Layout

NAME = "coesot"
SENSOR_SIZE = (346, 260)  # DAVIS346, (W, H) px
SPLITS = ("train", "test")


def read_start_index(path: Path, n_boxes: int) -> int:
    """First annotated APS frame index from ``start_end_index.txt``, checked against the number of boxes."""
    nums = re.findall(r"-?\d+", path.read_text())
    if len(nums) != 2:
        raise ValueError(f"{path}: expected two integers (start and end frame index), got {len(nums)}")
    start, end = int(nums[0]), int(nums[1])
    if n_boxes not in (end - start + 1, end - start):
        raise ValueError(f"{path}: frames {start}..{end} do not match the {n_boxes} ground-truth boxes")
    return start


def first_frame(d: Path, n_boxes: int) -> int:
    """First annotated APS frame of sequence folder ``d``: from ``start_end_index.txt``, 0 without it."""
    path = d / "start_end_index.txt"
    return read_start_index(path, n_boxes) if path.is_file() else 0


LAYOUT = Layout(NAME, "COESOT", SENSOR_SIZE, SPLITS, gt_file="groundtruth.txt", event_file="{seq}.aedat4",
                frames_dir="{seq}_aps", absent_file="absent.txt", present_value=1, first_frame=first_frame)
list_sequences, load_sequence = LAYOUT.list_sequences, LAYOUT.load_sequence
