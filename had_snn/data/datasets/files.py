"""Files of a dataset in its authors' layout: split and sequence folders, image folders and the ground-truth text files.

Missing files and malformed text raise ``FileNotFoundError`` / ``ValueError`` naming the file (and line).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


def split_dir(root: Path, split: str, splits: tuple[str, ...], dataset: str) -> Path:
    """``root/split`` after checking the split name and that the folder exists."""
    if split not in splits:
        raise ValueError(f"{dataset}: unknown split {split!r}; expected one of {', '.join(splits)}")
    d = Path(root) / split
    if not d.is_dir():
        raise FileNotFoundError(f"{dataset}: split folder {d} not found (expected ROOT/{split}/<sequence>/...)")
    return d


def sequence_names(folder: Path, list_file: str = "list.txt") -> list[str]:
    """Sequence names of a split folder: its ``list.txt`` (one name a line, as the pytracking/OSTrack loaders of
    these datasets read) when present, else the sorted sub-folders. Names listed but missing raise."""
    lst = folder / list_file
    if lst.is_file():
        names = [ln.strip() for ln in lst.read_text().splitlines() if ln.strip()]
        missing = [n for n in names if not (folder / n).is_dir()]
        if missing:
            raise FileNotFoundError(f"{lst}: {len(missing)} listed sequence folder(s) missing, e.g. {missing[0]!r}")
        return names
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def find_sequence_dir(root: Path, name: str, splits: tuple[str, ...], dataset: str) -> Path:
    """The folder of sequence ``name`` (or ``split/name``) in any split of ``root``."""
    root = Path(root)
    if "/" in name:
        d = root / name
        if d.is_dir():
            return d
        raise FileNotFoundError(f"{dataset}: sequence folder {d} not found")
    for split in splits:
        d = root / split / name
        if d.is_dir():
            return d
    raise FileNotFoundError(
        f"{dataset}: sequence {name!r} not found under {root}/{{{','.join(splits)}}}/ (expected a folder per sequence)"
    )


def require_file(path: Path, what: str) -> Path:
    """``path`` if it is a file; a folder is a ValueError ("is a folder, expected a file"), a missing path
    FileNotFoundError, both naming ``what``."""
    if path.is_dir():
        raise ValueError(f"{path}: is a folder, expected a file ({what})")
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing {what}")
    return path


def _numeric_key(p: Path) -> tuple[int, str]:
    digits = re.findall(r"\d+", p.stem)
    return (int(digits[-1]) if digits else -1, p.name)


def list_images(folder: Path) -> list[Path]:
    """Image files of a folder sorted by the last number in their name (``frame0009`` < ``frame0010``)."""
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: missing frame folder")
    return sorted((p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES), key=_numeric_key)


def load_images(paths: list[Path]) -> np.ndarray:
    """Read image files into (N, H, W, 3) uint8 RGB (Pillow, a matplotlib dependency, imported here)."""
    from PIL import Image

    out = []
    for p in paths:
        try:
            with Image.open(p) as im:
                out.append(np.asarray(im.convert("RGB"), dtype=np.uint8))
        except OSError as exc:
            raise ValueError(f"{p}: unreadable image ({exc})") from exc
        if out[-1].shape != out[0].shape:
            raise ValueError(f"{p}: image size {out[-1].shape[:2]} differs from {paths[0].name} {out[0].shape[:2]}")
    return np.stack(out) if out else np.empty((0, 0, 0, 3), dtype=np.uint8)


def check_sensor(recording: Path, sensor: tuple[int, int], expected: tuple[int, int], dataset: str) -> None:
    """Refuse a recording whose sensor size is not the dataset's camera."""
    if tuple(sensor) != tuple(expected):
        raise ValueError(f"{recording}: sensor {sensor[0]}x{sensor[1]} px, {dataset} is DAVIS346 "
                         f"{expected[0]}x{expected[1]}")


def read_boxes(path: Path) -> np.ndarray:
    """Ground-truth boxes from an OTB-style text file -> (N, 4) float64 ``x, y, w, h``.

    Separators: comma, tab or spaces (the datasets mix them). Rows of 8 numbers are polygons (x1,y1,...,x4,y4) and
    become their axis-aligned bounding box, as VisEvent's ``prepare_VisEvent_train_data.py`` does. ``nan`` is allowed.
    """
    path = require_file(Path(path), "ground-truth file")
    rows = []
    for i, line in enumerate(path.read_text().splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        parts = [p for p in re.split(r"[,\s]+", line) if p]
        try:
            vals = [float(p) for p in parts]
        except ValueError as exc:
            raise ValueError(f"{path}:{i}: expected numbers separated by commas or spaces, got {line!r}") from exc
        if len(vals) == 8:
            xs, ys = vals[0::2], vals[1::2]
            vals = [min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)]
        if len(vals) != 4:
            raise ValueError(f"{path}:{i}: expected 4 (x,y,w,h) or 8 (polygon) values, got {len(vals)}")
        rows.append(vals)
    if not rows:
        raise ValueError(f"{path}: no ground-truth boxes")
    boxes = np.asarray(rows, dtype=np.float64)
    bad = np.flatnonzero((boxes[:, 2] < 0) | (boxes[:, 3] < 0))
    if len(bad):
        raise ValueError(f"{path}:{_line_of(path, bad[0])}: negative box width/height {boxes[bad[0]].tolist()}")
    return boxes


def _line_of(path: Path, row: int) -> int:
    lines = [i for i, ln in enumerate(path.read_text().splitlines(), start=1) if ln.strip()]
    return lines[row]


def read_flags(path: Path, n: int | None = None, present_value: int = 1) -> np.ndarray:
    """Per-frame visibility flags, one 0/1 a line -> bool array, True = target present.

    ``present_value`` is the flag that means "present": 1 for the datasets' own files (VisEvent's
    ``absent_label.txt``, written by its ``load_dianwokeji_json_file.m``; COESOT's and EventVOT's ``absent.txt``),
    0 for the VisEvent evaluation toolkit's ``annos/absent/<seq>.txt`` (1 = absent). ``n`` (when given) is the number of
    ground-truth rows the file must match.
    """
    if present_value not in (0, 1):
        raise ValueError(f"present_value must be 0 or 1, got {present_value!r}")
    path = require_file(Path(path), "visibility flags file")
    vals = []
    for i, line in enumerate(path.read_text().splitlines(), start=1):
        if line.strip():
            try:
                vals.append(int(float(line.strip())))
            except ValueError as exc:
                raise ValueError(f"{path}:{i}: expected 0 or 1, got {line.strip()!r}") from exc
    flags = np.asarray(vals, dtype=np.int64)
    if n is not None and len(flags) != n:
        raise ValueError(f"{path}: {len(flags)} flags but {n} ground-truth boxes")
    if not np.isin(flags, (0, 1)).all():
        raise ValueError(f"{path}: flags must be 0 or 1")
    return flags == present_value
