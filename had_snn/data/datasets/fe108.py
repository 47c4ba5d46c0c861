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

from had_snn.data.datasets.loader import Layout

NAME = "fe108"
SENSOR_SIZE = (346, 260)  # DAVIS346, (W, H) px
SPLITS = ("train", "test")
LAYOUT = Layout(NAME, "FE108", SENSOR_SIZE, SPLITS, gt_file="groundtruth_rect.txt", event_file="events.aedat4",
                frames_dir="img")
list_sequences, load_sequence = LAYOUT.list_sequences, LAYOUT.load_sequence
