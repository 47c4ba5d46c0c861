"""VisEvent (Wang et al., "VisEvent: Reliable Object Tracking via Collaboration of Frame and Event Flows", 2021).

Sources read for this adapter (https://github.com/wangxiao5791509/VisEvent_SOT_Benchmark):
- ``scripts/prepare_VisEvent_train_data.py``: per sequence ``vis_imgs/*.bmp``, ``event_imgs/*.bmp`` and
  ``groundtruth.txt`` (``np.loadtxt(..., delimiter=',')``), one box per visible image, rows of 8 values are polygons
  converted to their bounding box;
- ``scripts/read_aedat4.py``: APS image k and event image k come from aedat4 frame k, the event image from the events
  of that frame's exposure, ``[start_of_exposure, end_of_exposure)``; it loops ``range(0, frame_num - 1)``, so the last
  recorded frame gets no image;
- ``scripts/load_dianwokeji_json_file.m``: ``absent_label.txt`` holds 1 for an annotated frame and 0 (box 0,0,0,0)
  where the target is absent;
- the evaluation toolkit's annotations (``annos/annos.zip``: ``gt_rect/<seq>.txt``, ``absent/<seq>.txt``) and
  ``utils/calc_seq_err_robust.m``, which drops the rows whose absent flag is 1: there **1 = absent**, the opposite of
  ``absent_label.txt``. :func:`read_toolkit_annotations` reads them;
- the raw layout used by SDTrack (https://github.com/YmShan/SDTrack README): ``ROOT/{train,test}/<seq>/`` with the raw
  ``.aedat4`` and ``groundtruth.txt``. The recording is not always named ``<seq>.aedat4``, so the one ``*.aedat4`` in
  the folder is taken (none or several is an error), and part of the training set ships without one. Sensor:
  DAVIS346, 346x260 px.

Layout read::

    ROOT/{train,test}/<seq>/<any name>.aedat4, groundtruth.txt[, absent_label.txt][, vis_imgs/*.bmp]

Alignment: ground-truth row k belongs to recorded APS frame k (and ``vis_imgs`` image k, when present: one per row),
its event window is frame k's exposure and the box time the end of that exposure. Recorded frames after the last
row (at least the last one, which has no image) are dropped and counted. Sequences shipped without a ``.aedat4`` cannot
give an event stream and raise ``FileNotFoundError``; ``import-dataset`` lists them as skipped.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from had_snn.data.datasets.files import read_boxes, read_flags
from had_snn.data.datasets.loader import Layout

NAME = "visevent"
SENSOR_SIZE = (346, 260)  # DAVIS346, (W, H) px
SPLITS = ("train", "test")


def read_toolkit_annotations(annos_dir: str | Path, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Boxes and visibility of sequence ``name`` from the evaluation toolkit's ``annos/`` folder.

    Reads ``annos_dir/gt_rect/<name>.txt`` (x,y,w,h a line) and ``annos_dir/absent/<name>.txt`` (one 0/1 a line,
    **1 = target absent**). Returns ``(boxes, present)``: (N, 4) float64 with NaN rows where the target is absent, and
    (N,) bool, True = present. These files may start later than the raw sequence's ``groundtruth.txt`` (the toolkit's
    copies begin with a visible target), so use them for scoring, not to replace a raw sequence's rows.
    """
    annos_dir = Path(annos_dir)
    boxes = read_boxes(annos_dir / "gt_rect" / f"{name}.txt")
    present = read_flags(annos_dir / "absent" / f"{name}.txt", len(boxes), present_value=0)
    boxes = boxes.copy()
    boxes[~present] = np.nan
    return boxes, present


LAYOUT = Layout(NAME, "VisEvent", SENSOR_SIZE, SPLITS, gt_file="groundtruth.txt", event_file="*.aedat4",
                event_what="raw event recording {file} (VisEvent raw events; part of the set ships without them)",
                frames_dir="vis_imgs", absent_file="absent_label.txt", present_value=1)
OPTIONS = LAYOUT.options
list_sequences, load_sequence, check_root = LAYOUT.list_sequences, LAYOUT.load_sequence, LAYOUT.check_root
