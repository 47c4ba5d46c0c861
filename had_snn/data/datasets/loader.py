"""The one loader every dataset shares, driven by a :class:`Layout` (where that dataset keeps its files).

A sequence loads in this order: ground truth (all rows), visibility flags (before the recording where
:attr:`Layout.flags_first`), event recording (:attr:`Layout.read_recording`), the frame images, then the dataset's
:attr:`Layout.align` hook decides which ground-truth rows become boxes, which recorded frame each belongs to and the
event window ``[t0, t1)`` of each; :func:`~had_snn.data.datasets.checks.checked_sequence` then checks and builds it.

Time convention (all datasets): a box's time in ``Sequence.frame_t_us`` is the **end** of the event window its
dataset's authors cut for it, so every event they attribute to the box comes before the box and a tracker that reads
the window ending at the frame time sees them. ``Sequence.meta["event_window"]`` names the window rule and
``meta["event_window_median_us"]`` its median length.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from had_snn.data.datasets.checks import LoadReport, checked_sequence
from had_snn.data.datasets.files import (
    check_sensor,
    find_sequence_dir,
    list_images,
    load_images,
    read_boxes,
    read_flags,
    require_file,
    sequence_names,
    split_dir,
)
from had_snn.data.sequence import Sequence

#: Bumped whenever what a loaded box's frame, time or window means changes, so that ``import-dataset`` rewrites files
#: converted under the old rules. 2: FE108 frame offsets, exposure / frame-interval windows, COESOT from frame 0.
ALIGNMENT_VERSION = 2


class RawRecording(NamedTuple):
    """A sequence's event file: events (file order), APS frames (None if none), the start and duration of each APS
    frame's exposure in us (empty for an event-only recording) and the sensor size (W, H) px."""

    events: np.ndarray
    aps: np.ndarray | None
    exposure_start_us: np.ndarray
    exposure_us: np.ndarray
    sensor: tuple[int, int]


@dataclass
class SequenceFiles:
    """What the loader has read of one sequence folder before aligning it."""

    dir: Path
    boxes: np.ndarray  # every ground-truth row, (R, 4)
    present: np.ndarray | None  # per ground-truth row, True = target present (None: no flags file)
    recording: RawRecording
    images: list[Path] | None  # the frame folder's images in order (None: no such folder)
    options: dict[str, Any]
    report: LoadReport


class Alignment(NamedTuple):
    """Which ground-truth rows become boxes and where they sit in the recording."""

    rows: np.ndarray  # ground-truth row of each box, (N,)
    window_us: np.ndarray  # (N, 2) int64 event window [t0, t1) of each box; the box time is t1
    aps_index: np.ndarray | None  # recorded APS frame of each box (None: event-only)
    present: np.ndarray | None  # per box, True = target present (None: unknown)
    meta: dict
    trajectory: tuple[np.ndarray, np.ndarray] | None = None  # (t_us, ground-truth rows) when denser than the boxes


def event_file(layout: Layout, d: Path) -> Path:
    """The event file of sequence folder ``d``: ``layout.event_file`` with ``{seq}`` filled in; a name with ``*`` is a
    pattern that must match exactly one file."""
    pattern = layout.event_file.format(seq=d.name)
    if "*" not in pattern:
        return require_file(d / pattern, layout.event_what.format(file=pattern))
    matches = sorted(p for p in d.glob(pattern) if p.is_file())
    if not matches:
        raise FileNotFoundError(f"{d}: missing {layout.event_what.format(file=pattern)}")
    if len(matches) > 1:
        raise ValueError(f"{d}: {len(matches)} files match {pattern} ({', '.join(p.name for p in matches)}); "
                         f"expected exactly one {layout.event_what.format(file=pattern)}")
    return matches[0]


def read_aedat_recording(layout: Layout, d: Path, options: dict[str, Any], report: LoadReport) -> RawRecording:
    """The DAVIS346 ``.aedat4`` recording of sequence folder ``d``, refused if its sensor is not the dataset's."""
    from had_snn.data.aedat import read_aedat4_recording

    path = event_file(layout, d)
    rec = read_aedat4_recording(path)
    check_sensor(path, rec.sensor_size, layout.sensor_size, layout.title)
    return RawRecording(rec.events, rec.frames, rec.exposure_start_us, rec.exposure_us, rec.sensor_size)


def exposure_windows(rec: RawRecording, frames: np.ndarray) -> np.ndarray:
    """Event windows ``[start_of_exposure, end_of_exposure)`` of recorded APS ``frames``, (N, 2) int64."""
    t0 = rec.exposure_start_us[frames]
    return np.stack([t0, t0 + rec.exposure_us[frames]], axis=1).astype(np.int64)


def require_frames(files: SequenceFiles, first: int, count: int, what: str) -> None:
    """Error naming the sequence unless the recording holds APS frames ``first .. first + count - 1``."""
    n_rec = len(files.recording.exposure_start_us)
    if first < 0 or first + count > n_rec:
        raise ValueError(f"{files.dir}: {what} need recorded APS frames {first}..{first + count - 1} but the recording "
                         f"has {n_rec} frames")


def align_exposure(layout: Layout, files: SequenceFiles) -> Alignment:
    """Ground-truth row k <-> recorded APS frame k (and frame image k), events of the frame's exposure."""
    n = len(files.boxes)
    if files.images is not None and len(files.images) != n:
        raise ValueError(f"{files.dir / layout.frames_dir.format(seq=files.dir.name)}: {len(files.images)} images but "
                         f"{n} lines in {layout.gt_file}")
    require_frames(files, 0, n, f"{n} ground-truth boxes")
    files.report.frames_unannotated += len(files.recording.exposure_start_us) - n
    idx = np.arange(n)
    return Alignment(idx, exposure_windows(files.recording, idx), idx, files.present,
                     {"event_window": "aps_exposure"})


@dataclass(frozen=True)
class Layout:
    """Where one dataset keeps its files (``{seq}`` in a name stands for the sequence folder's name)."""

    name: str  # registry key
    title: str  # as written in error messages
    sensor_size: tuple[int, int]  # (W, H) px
    splits: tuple[str, ...]
    gt_file: str  # x,y,w,h (or 8-value polygon) a line
    event_file: str  # file name, or a pattern with * that must match exactly one file
    event_what: str = "event recording {file}"  # how a missing event file is named
    read_recording: Callable[[Layout, Path, dict, LoadReport], RawRecording] = read_aedat_recording
    align: Callable[[Layout, SequenceFiles], Alignment] = align_exposure
    frames_dir: str | None = None  # exported RGB frames (else APS frames; None: no RGB frames)
    absent_file: str | None = None  # optional 0/1 a line, one per ground-truth row
    present_value: int = 1  # the flag in absent_file meaning "target present"
    flags_first: bool = False  # absent_file is read before the event file
    options: dict[str, Any] = field(default_factory=dict)  # option name -> default
    root_check: Callable[[Path, dict], None] | None = None  # refuses a root that cannot load (e.g. a missing file)

    def resolve_options(self, options: dict[str, Any]) -> dict[str, Any]:
        """The dataset's options with ``options`` applied; an option the dataset does not take is an error."""
        unknown = sorted(set(options) - set(self.options))
        if unknown:
            known = ", ".join(sorted(self.options)) or "none"
            raise ValueError(f"{self.title}: unknown option(s) {', '.join(unknown)} (options: {known})")
        return {**self.options, **{k: v for k, v in options.items() if v is not None}}

    def check_root(self, root: str | os.PathLike, **options: Any) -> None:
        """Refuse, before any sequence is read, a dataset root that cannot load with these options."""
        opts = self.resolve_options(options)
        if self.root_check is not None:
            self.root_check(Path(root), opts)

    def list_sequences(self, root: str | os.PathLike, split: str) -> list[str]:
        """Sequence folder names of ``split`` (``list.txt`` order when present, else sorted)."""
        return sequence_names(split_dir(Path(root), split, self.splits, self.name))

    def load_sequence(self, root: str | os.PathLike, name: str, **options: Any) -> Sequence:
        """Load sequence ``name`` (or ``split/name``): events, frames, boxes and visibility flags."""
        opts = self.resolve_options(options)
        d = find_sequence_dir(Path(root), name, self.splits, self.name)
        boxes = read_boxes(d / self.gt_file)
        present = self._present(d, len(boxes)) if self.flags_first else None
        report = LoadReport()
        rec = self.read_recording(self, d, opts, report)
        if not self.flags_first:
            present = self._present(d, len(boxes))
        images = None
        if self.frames_dir is not None and (d / self.frames_dir.format(seq=d.name)).is_dir():
            images = list_images(d / self.frames_dir.format(seq=d.name))
        al = self.align(self, SequenceFiles(d, boxes, present, rec, images, opts, report))
        n = len(al.rows)
        window = np.asarray(al.window_us, dtype=np.int64).reshape(n, 2)
        frames = None
        if images is not None:
            frames = load_images(images[:n])
        elif rec.aps is not None and al.aps_index is not None:
            frames = rec.aps[al.aps_index]
        meta = {"dataset": self.name, "split": d.parent.name, **al.meta}
        if n:
            meta["event_window_median_us"] = int(np.median(window[:, 1] - window[:, 0]))
        trajectory = None
        if al.trajectory is not None:
            traj_t, traj_rows = al.trajectory
            traj_present = None if present is None else present[traj_rows]
            trajectory = (np.asarray(traj_t, dtype=np.int64), boxes[traj_rows], traj_present)
        return checked_sequence(d.name, rec.events, rec.sensor, window[:, 1], boxes[al.rows], source=str(d),
                                frames=frames, present=al.present, report=report, meta=meta, trajectory=trajectory,
                                window_start_us=window[:, 0])

    def _present(self, d: Path, n_rows: int) -> np.ndarray | None:
        """Per-row visibility from ``absent_file`` (None when the dataset or the sequence has none)."""
        if self.absent_file is None or not (d / self.absent_file).is_file():
            return None
        return read_flags(d / self.absent_file, n_rows, present_value=self.present_value)
