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

import os
import re
from pathlib import Path

from had_snn.data.adapters import (
    LoadReport,
    align_annotated_frames,
    annotated_frames,
    check_sensor,
    checked_sequence,
    find_sequence_dir,
    read_boxes,
    read_present_flags,
    require_file,
    sequence_names,
    split_dir,
)
from had_snn.data.sequence import Sequence

NAME = "coesot"
SENSOR_SIZE = (346, 260)  # DAVIS346, (W, H) px
SPLITS = ("train", "test")


def list_sequences(root: str | os.PathLike, split: str) -> list[str]:
    """Sequence folder names of ``split`` (``list.txt`` order when present, else sorted)."""
    return sequence_names(split_dir(Path(root), split, SPLITS, NAME))


def read_start_index(path: Path, n_boxes: int) -> int:
    """First annotated APS frame index from ``start_end_index.txt``, checked against the number of boxes."""
    nums = re.findall(r"-?\d+", path.read_text())
    if len(nums) != 2:
        raise ValueError(f"{path}: expected two integers (start and end frame index), got {len(nums)}")
    start, end = int(nums[0]), int(nums[1])
    if n_boxes not in (end - start + 1, end - start):
        raise ValueError(f"{path}: frames {start}..{end} do not match the {n_boxes} ground-truth boxes")
    return start


def load_sequence(root: str | os.PathLike, name: str) -> Sequence:
    """Load one COESOT sequence (``name`` or ``split/name``): events, APS frames, boxes and absence flags."""
    from had_snn.data.aedat import read_aedat4

    d = find_sequence_dir(Path(root), name, SPLITS, NAME)
    src = str(d)
    boxes = read_boxes(d / "groundtruth.txt")
    aedat = require_file(d / f"{d.name}.aedat4", f"event recording {d.name}.aedat4")
    events, aps, frame_t_us, sensor = read_aedat4(aedat)
    check_sensor(aedat, sensor, SENSOR_SIZE, "COESOT")
    start = read_start_index(d / "start_end_index.txt", len(boxes)) if (d / "start_end_index.txt").is_file() else 0
    present = read_present_flags(d / "absent.txt", len(boxes)) if (d / "absent.txt").is_file() else None
    report = LoadReport()
    t_us = align_annotated_frames(frame_t_us, len(boxes), src, report, start=start)
    frames = annotated_frames(d / f"{d.name}_aps", aps, len(boxes), "groundtruth.txt", start=start)
    return checked_sequence(d.name, events, sensor, t_us, boxes, source=src, frames=frames, present=present,
                            report=report, meta={"dataset": NAME, "split": d.parent.name, "first_frame": start})
