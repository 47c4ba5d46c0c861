"""FE108 (Zhang et al., "Object Tracking by Jointly Exploiting Frame and Event Domain", ICCV 2021).

Sources read for this adapter:
- dataset page https://zhangjiqing.com/dataset/ and the authors' tracker repository
  https://github.com/Jee-King/ICCV2021_Event_Frame_Tracking (``ltr/dataset/eotb.py``: one folder per sequence,
  ``groundtruth_rect.txt`` read with ``delimiter=','``, frames ``img/{:04}.jpg`` numbered from 1,
  valid box iff w, h > 0);
- the raw-event layout used by SDTrack (https://github.com/YmShan/SDTrack, README "Data Prepare") and CEUTrack's
  ``lib/test/evaluation/fe108dataset.py`` (https://github.com/Event-AHU/COESOT): ``ROOT/{train,test}/<seq>/`` with
  ``events.aedat4`` (DAVIS346, 346x260 px, events + APS frames) and ``groundtruth_rect.txt``; optional ``list.txt``;
- the frame offsets: ``scripts/start_frame_idx_FE108.txt`` of https://github.com/wangxiao5791509/VisEvent_SOT_Benchmark
  (the same pairs are ``CEUTrack/scripts/fe108/pair.txt`` in the COESOT repository), one ``name,k`` a line, read by
  CEUTrack's ``scripts/event_to_voxel_FE108.py``: ``img/0001.jpg`` and the first ground-truth line show APS frame
  ``k`` (0-based) of ``events.aedat4``, not frame 0, and the events stacked for ground-truth line i are those of APS
  frame ``k + i``;
- SDTrack's ``lib/train/dataset/FE108.py``, which reads the same ``groundtruth_rect.txt`` as 240 Hz Vicon boxes (6
  lines per 40 FPS image, 12/16/24 for folders named ``20fps``/``15fps``/``10fps``), while the authors' tools use one
  line per image: the downloads differ, so the rate is detected per sequence here.

Layout read::

    ROOT/start_frame_idx_FE108.txt            (or the file given as the ``start_index`` option)
    ROOT/train/<seq>/events.aedat4, groundtruth_rect.txt[, img/0001.jpg ...]
    ROOT/test/<seq>/...

Alignment: with ``k`` the sequence's entry in the offsets file, image j (``img/{j+1:04d}.jpg``) is recorded APS frame
``k + j``. Ground-truth rows per image ``r = len(groundtruth) / len(img)`` must be a whole number (1 for the authors'
files, 6 for 240 Hz boxes on 40 FPS images); otherwise loading fails naming the sequence. Without ``img/`` r is 1.
Box j is row ``j * r`` (the row of the image's own instant, as SDTrack pairs them); with r > 1 every row is kept in
``Sequence.trajectory_*``, spread evenly from box j's time to box j+1's. The event window of image j runs from the
start of frame ``k + j`` to the start of frame ``k + j + 1`` (the last image: one median frame interval), and the box
time is its end. dv-processing reports a frame's start of exposure, not its start of frame, so that is the boundary
used. A missing offsets file, or a sequence without an entry, is an error: assuming k = 0 would pair each box with a
frame seconds away. RGB frames come from ``img/`` when it exists (what the annotators saw), else from the APS stream.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from had_snn.data.datasets.files import require_file
from had_snn.data.datasets.loader import Alignment, Layout, SequenceFiles, require_frames

NAME = "fe108"
SENSOR_SIZE = (346, 260)  # DAVIS346, (W, H) px
SPLITS = ("train", "test")
START_INDEX_FILE = "start_frame_idx_FE108.txt"  # name,k a line: img/0001.jpg is APS frame k of events.aedat4


def read_start_index(path: str | Path) -> dict[str, int]:
    """Sequence name -> index of its first annotated APS frame, from ``start_frame_idx_FE108.txt`` (``name,k`` a line;
    commas, tabs or spaces; CRLF accepted)."""
    path = require_file(Path(path), f"FE108 frame offsets file ({START_INDEX_FILE})")
    out: dict[str, int] = {}
    for i, line in enumerate(path.read_text().splitlines(), start=1):
        parts = [p for p in re.split(r"[,\s]+", line.strip()) if p]
        if not parts:
            continue
        if len(parts) != 2 or not re.fullmatch(r"\d+", parts[1]):
            raise ValueError(f"{path}:{i}: expected 'name,frame_index', got {line.strip()!r}")
        if parts[0] in out:
            raise ValueError(f"{path}:{i}: sequence {parts[0]!r} listed twice")
        out[parts[0]] = int(parts[1])
    if not out:
        raise ValueError(f"{path}: no entries")
    return out


def start_index_path(root: Path, options: dict[str, Any]) -> Path:
    """The offsets file: the ``start_index`` option, else ``ROOT/start_frame_idx_FE108.txt``; missing is an error."""
    path = Path(options["start_index"]) if options.get("start_index") else Path(root) / START_INDEX_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"FE108: frame offsets file {path} not found. Ground-truth line 1 of each sequence belongs to APS frame "
            f"k of events.aedat4, with k listed in {START_INDEX_FILE} (VisEvent_SOT_Benchmark scripts/, or "
            f"CEUTrack/scripts/fe108/pair.txt); put it at the dataset root or pass it with --fe108-start-index FILE"
        )
    return path


def _check_offsets(root: Path, options: dict[str, Any]) -> None:
    read_start_index(start_index_path(root, options))


def rows_per_image(n_rows: int, n_images: int, seq: str) -> int:
    """Ground-truth rows per ``img/`` image: a whole number >= 1, else an error naming the sequence."""
    if n_images == 0:
        raise ValueError(f"FE108 {seq}: img/ holds no images")
    if n_rows < n_images or n_rows % n_images:
        raise ValueError(f"FE108 {seq}: {n_rows} ground-truth rows for {n_images} images in img/ is not a whole number "
                         f"of rows per image (expected 1, or e.g. 6 for 240 Hz boxes on 40 FPS images)")
    return n_rows // n_images


def align(layout: Layout, files: SequenceFiles) -> Alignment:
    """Image j <-> APS frame k + j, box j = ground-truth row j * r, events from the start of frame k + j to the next."""
    seq = files.dir.name
    path = start_index_path(files.dir.parent.parent, files.options)
    offsets = read_start_index(path)
    if seq not in offsets:
        raise ValueError(f"FE108 {seq}: no entry in {path}; its ground truth cannot be placed in events.aedat4")
    k = offsets[seq]
    n_rows = len(files.boxes)
    n_img = len(files.images) if files.images is not None else n_rows
    r = rows_per_image(n_rows, n_img, seq)
    require_frames(files, k, n_img, f"{n_img} annotated images from frame {k} ({path.name})")
    starts = files.recording.exposure_start_us
    if k + n_img < len(starts):
        last_end = int(starts[k + n_img])
    elif len(starts) >= 2:
        last_end = int(starts[-1]) + int(np.median(np.diff(starts)))
    else:
        raise ValueError(f"{files.dir}: one APS frame only; its event window has no end")
    frame_idx = k + np.arange(n_img)
    ends = np.append(starts[frame_idx[1:]], last_end).astype(np.int64)
    window = np.stack([starts[frame_idx], ends], axis=1).astype(np.int64)
    files.report.frames_unannotated += len(starts) - n_img
    rows = np.arange(n_img) * r
    present = None if files.present is None else files.present[rows]
    trajectory = None
    if r > 1:  # rows j*r .. j*r + r-1 spread evenly from box j's time to box j+1's
        gap = np.append(np.diff(ends), ends[-1] - starts[frame_idx[-1]])
        traj_t = (ends[:, None] + (np.arange(r)[None, :] * gap[:, None]) // r).ravel()
        trajectory = (traj_t, np.arange(n_img * r))
    meta = {"event_window": "aps_frame_interval", "aps_first_frame": k, "gt_rows_per_frame": r}
    return Alignment(rows, window, frame_idx, present, meta, trajectory)


LAYOUT = Layout(NAME, "FE108", SENSOR_SIZE, SPLITS, gt_file="groundtruth_rect.txt", event_file="events.aedat4",
                align=align, frames_dir="img", options={"start_index": None}, root_check=_check_offsets)
OPTIONS = LAYOUT.options
list_sequences, load_sequence, check_root = LAYOUT.list_sequences, LAYOUT.load_sequence, LAYOUT.check_root
