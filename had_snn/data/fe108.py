"""FE108 (Zhang et al., "Object Tracking by Jointly Exploiting Frame and Event Domain", ICCV 2021).

Sources read for this adapter:
- dataset page https://zhangjiqing.com/dataset/ and the authors' tracker repository
  https://github.com/Jee-King/ICCV2021_Event_Frame_Tracking (``ltr/dataset/eotb.py``: one folder per sequence,
  ``groundtruth_rect.txt`` read with ``delimiter=','``, frames ``img/{:04}.jpg`` numbered from 1,
  valid box iff w, h > 0);
- the raw-event layout used by SDTrack (https://github.com/YmShan/SDTrack, README "Data Prepare") and CEUTrack's
  ``lib/test/evaluation/fe108dataset.py`` (https://github.com/Event-AHU/COESOT): ``ROOT/{train,test}/<seq>/`` with
  ``events.aedat4`` (DAVIS346, 346x260 px, events + APS frames) and ``groundtruth_rect.txt``; optional ``list.txt``.

Layout read::

    ROOT/train/<seq>/events.aedat4, groundtruth_rect.txt[, img/0001.jpg ...]
    ROOT/test/<seq>/...

Alignment: one ground-truth line per APS frame, in order, starting at the first frame of ``events.aedat4``; frame
time = centre of exposure. APS frames after the last annotated one are dropped and counted. RGB frames come from
``img/`` when it exists (what the annotators saw), else from the APS stream of the aedat4 file.
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
    require_file,
    sequence_names,
    split_dir,
)
from had_snn.data.sequence import Sequence

NAME = "fe108"
SENSOR_SIZE = (346, 260)  # DAVIS346, (W, H) px
SPLITS = ("train", "test")


def list_sequences(root: str | os.PathLike, split: str) -> list[str]:
    """Sequence folder names of ``split`` (``list.txt`` order when present, else sorted)."""
    return sequence_names(split_dir(Path(root), split, SPLITS, NAME))


def load_sequence(root: str | os.PathLike, name: str) -> Sequence:
    """Load one FE108 sequence (``name`` or ``split/name``) with its events, frames and boxes."""
    from had_snn.data.aedat import read_aedat4

    d = find_sequence_dir(Path(root), name, SPLITS, NAME)
    boxes = read_boxes(d / "groundtruth_rect.txt")
    events, aps, frame_t_us, sensor = read_aedat4(require_file(d / "events.aedat4", "event recording events.aedat4"))
    check_sensor(d / "events.aedat4", sensor, SENSOR_SIZE, "FE108")
    report = LoadReport()
    src = str(d)
    t_us = align_annotated_frames(frame_t_us, len(boxes), src, report)
    frames = annotated_frames(d / "img", aps, len(boxes), "groundtruth_rect.txt")
    return checked_sequence(d.name, events, sensor, t_us, boxes, source=src, frames=frames, report=report,
                            meta={"dataset": NAME, "split": d.parent.name})
