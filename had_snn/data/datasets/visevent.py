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

from had_snn.data.datasets.loader import Layout

NAME = "visevent"
SENSOR_SIZE = (346, 260)  # DAVIS346, (W, H) px
SPLITS = ("train", "test")
LAYOUT = Layout(NAME, "VisEvent", SENSOR_SIZE, SPLITS, gt_file="groundtruth.txt", event_file="{seq}.aedat4",
                event_what="raw event recording {file} (VisEvent raw events)", frames_dir="vis_imgs",
                absent_file="absent_label.txt", present_value=1)
list_sequences, load_sequence = LAYOUT.list_sequences, LAYOUT.load_sequence
