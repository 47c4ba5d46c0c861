"""The one loader every dataset shares, driven by a :class:`Layout` (where that dataset keeps its files).

A sequence loads in this order: ground truth, event recording (:attr:`Layout.read_recording`), first annotated frame,
visibility flags (before the recording where :attr:`Layout.flags_first`), annotated frames; then
:func:`~had_snn.data.datasets.checks.checked_sequence` checks and builds it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from had_snn.data.datasets.checks import LoadReport, align_annotated_frames, checked_sequence
from had_snn.data.datasets.files import (
    annotated_frames,
    check_sensor,
    find_sequence_dir,
    read_boxes,
    read_present_flags,
    require_file,
    sequence_names,
    split_dir,
)
from had_snn.data.sequence import Sequence


class Recording(NamedTuple):
    """A sequence's event file: events, APS frames (None if none), frame times in us and sensor size (W, H) px."""

    events: np.ndarray
    aps: np.ndarray | None
    frame_t_us: np.ndarray
    sensor: tuple[int, int]


def read_aedat_recording(layout: Layout, d: Path, n_boxes: int) -> Recording:
    """The DAVIS346 ``.aedat4`` recording of sequence folder ``d``, refused if its sensor is not the dataset's."""
    from had_snn.data.aedat import read_aedat4

    path = d / layout.event_file.format(seq=d.name)
    recording = Recording(*read_aedat4(require_file(path, layout.event_what.format(file=path.name))))
    check_sensor(path, recording.sensor, layout.sensor_size, layout.title)
    return recording


@dataclass(frozen=True)
class Layout:
    """Where one dataset keeps its files (``{seq}`` in a name stands for the sequence folder's name)."""

    name: str  # registry key
    title: str  # as written in error messages
    sensor_size: tuple[int, int]  # (W, H) px
    splits: tuple[str, ...]
    gt_file: str  # x,y,w,h (or 8-value polygon) a line, one line per annotated frame
    event_file: str
    event_what: str = "event recording {file}"  # how a missing event file is named
    read_recording: Callable[[Layout, Path, int], Recording] = read_aedat_recording
    frames_dir: str | None = None  # exported RGB frames, one per box (else APS frames; None: no RGB frames)
    absent_file: str | None = None  # optional 0/1 a line, one per box
    present_value: int = 1  # the flag in absent_file meaning "target present"
    flags_first: bool = False  # absent_file is read before the event file
    first_frame: Callable[[Path, int], int] | None = None  # first annotated recorded frame (else 0), in meta

    def list_sequences(self, root: str | os.PathLike, split: str) -> list[str]:
        """Sequence folder names of ``split`` (``list.txt`` order when present, else sorted)."""
        return sequence_names(split_dir(Path(root), split, self.splits, self.name))

    def load_sequence(self, root: str | os.PathLike, name: str) -> Sequence:
        """Load sequence ``name`` (or ``split/name``): events, frames, boxes and visibility flags."""
        d = find_sequence_dir(Path(root), name, self.splits, self.name)
        src = str(d)
        boxes = read_boxes(d / self.gt_file)
        present = self._present(d, len(boxes)) if self.flags_first else None
        rec = self.read_recording(self, d, len(boxes))
        start = self.first_frame(d, len(boxes)) if self.first_frame else 0
        if not self.flags_first:
            present = self._present(d, len(boxes))
        report = LoadReport()
        t_us = align_annotated_frames(rec.frame_t_us, len(boxes), src, report, start=start)
        frames = None
        if self.frames_dir is not None:
            img_dir = d / self.frames_dir.format(seq=d.name)
            frames = annotated_frames(img_dir, rec.aps, len(boxes), self.gt_file, start=start)
        meta = {"dataset": self.name, "split": d.parent.name}
        if self.first_frame:
            meta["first_frame"] = start
        return checked_sequence(d.name, rec.events, rec.sensor, t_us, boxes, source=src, frames=frames,
                                present=present, report=report, meta=meta)

    def _present(self, d: Path, n_boxes: int) -> np.ndarray | None:
        """Per-box visibility from ``absent_file`` (None when the dataset or the sequence has none)."""
        if self.absent_file is None or not (d / self.absent_file).is_file():
            return None
        flags = read_present_flags(d / self.absent_file, n_boxes)
        return flags if self.present_value == 1 else ~flags
