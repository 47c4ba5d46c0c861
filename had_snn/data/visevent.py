"""VisEvent (Wang et al., "VisEvent: Reliable Object Tracking via Collaboration of Frame and Event Flows", 2021).

Sources read for this adapter (https://github.com/wangxiao5791509/VisEvent_SOT_Benchmark):
- ``scripts/prepare_VisEvent_train_data.py``: per sequence ``vis_imgs/*.bmp``, ``event_imgs/*.bmp`` and
  ``groundtruth.txt`` (``np.loadtxt(..., delimiter=',')``), one box per visible image, rows of 8 values are polygons
  converted to their bounding box;
- ``scripts/read_aedat4.py``: the raw DAVIS346 recording ``<seq>.aedat4``; APS image k and event image k are cut at
  the exposure of aedat4 frame k (``range(0, frame_num - 1)``, so the last recorded frame has no image);
- ``scripts/load_dianwokeji_json_file.m``: ``absent_label.txt`` holds 1 for an annotated frame and 0 (box 0,0,0,0)
  where the target is absent;
- the raw layout used by SDTrack (https://github.com/YmShan/SDTrack README): ``ROOT/{train,test}/<seq>/<seq>.aedat4``
  with ``groundtruth.txt``. Sensor: DAVIS346, 346x260 px.

Layout read::

    ROOT/{train,test}/<seq>/<seq>.aedat4, groundtruth.txt[, absent_label.txt][, vis_imgs/*.bmp]

Sequences shipped without their ``.aedat4`` (part of the training split is distributed as images only) cannot give an
event stream and raise ``FileNotFoundError``; ``convert-dataset`` lists them as skipped.
"""

from __future__ import annotations

import os
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

NAME = "visevent"
SENSOR_SIZE = (346, 260)  # DAVIS346, (W, H) px
SPLITS = ("train", "test")


def list_sequences(root: str | os.PathLike, split: str) -> list[str]:
    """Sequence folder names of ``split`` (``list.txt`` order when present, else sorted)."""
    return sequence_names(split_dir(Path(root), split, SPLITS, NAME))


def load_sequence(root: str | os.PathLike, name: str) -> Sequence:
    """Load one VisEvent sequence (``name`` or ``split/name``): raw events, visible frames, boxes, absence flags."""
    from had_snn.data.aedat import read_aedat4

    d = find_sequence_dir(Path(root), name, SPLITS, NAME)
    src = str(d)
    boxes = read_boxes(d / "groundtruth.txt")
    aedat = require_file(d / f"{d.name}.aedat4", f"raw event recording {d.name}.aedat4 (VisEvent raw events)")
    events, aps, frame_t_us, sensor = read_aedat4(aedat)
    check_sensor(aedat, sensor, SENSOR_SIZE, "VisEvent")
    present = None
    if (d / "absent_label.txt").is_file():
        present = read_present_flags(d / "absent_label.txt", len(boxes))
    report = LoadReport()
    t_us = align_annotated_frames(frame_t_us, len(boxes), src, report)
    frames = annotated_frames(d / "vis_imgs", aps, len(boxes), "groundtruth.txt")
    return checked_sequence(d.name, events, sensor, t_us, boxes, source=src, frames=frames, present=present,
                            report=report, meta={"dataset": NAME, "split": d.parent.name})
