"""The on-disk benchmark layout shared by the synthetic generator and the dataset converters.

::

    ROOT/index.json            {"format": 1, "generator": {...}, "splits": {split: [names]},
                                "sequences": {name: {"split", "attributes", "file", "num_frames", "num_events"}}}
    ROOT/<split>/<name>.h5     native HDF5 sequence files (:func:`had_snn.data.io.write_sequence`)

``file`` is relative to ROOT. Names are unique across splits.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from had_snn.data.io import read_sequence
from had_snn.data.sequence import Sequence
from had_snn.util.atomic import write_json_atomic

INDEX_NAME = "index.json"
INDEX_FORMAT = 1
ENTRY_FIELDS = {"split": str, "attributes": list, "file": str, "num_frames": int, "num_events": int}


def _check_index(index: dict, where: str) -> None:
    """Validate the structure of an index dict; ValueError naming ``where`` and the field at fault."""
    if not isinstance(index, dict):
        raise ValueError(f"{where}: expected a JSON object, got {type(index).__name__}")
    for key, typ in (("format", int), ("generator", dict), ("splits", dict), ("sequences", dict)):
        if not isinstance(index.get(key), typ):
            raise ValueError(f"{where}: field '{key}' missing or not a {typ.__name__}")
    if index["format"] != INDEX_FORMAT:
        raise ValueError(f"{where}: field 'format' is {index['format']}, this version reads format {INDEX_FORMAT}")
    for name, entry in index["sequences"].items():
        if not isinstance(entry, dict):
            raise ValueError(f"{where}: sequences['{name}'] must be an object")
        for key, typ in ENTRY_FIELDS.items():
            if not isinstance(entry.get(key), typ):
                raise ValueError(f"{where}: field sequences['{name}']['{key}'] missing or not a {typ.__name__}")
        if Path(entry["file"]).is_absolute() or ".." in Path(entry["file"]).parts:
            raise ValueError(f"{where}: sequences['{name}']['file'] must be a relative path inside the root, "
                             f"got {entry['file']!r}")
    seen: set[str] = set()
    for split, names in index["splits"].items():
        if not isinstance(names, list):
            raise ValueError(f"{where}: splits['{split}'] must be a list of sequence names")
        for name in names:
            if name not in index["sequences"]:
                raise ValueError(f"{where}: splits['{split}'] lists '{name}', which is not in 'sequences'")
            if index["sequences"][name]["split"] != split:
                raise ValueError(f"{where}: '{name}' is listed in split '{split}' but its entry says "
                                 f"'{index['sequences'][name]['split']}'")
            if name in seen:
                raise ValueError(f"{where}: sequence '{name}' appears twice in 'splits'")
            seen.add(name)
    missing = set(index["sequences"]) - seen
    if missing:
        raise ValueError(f"{where}: sequences {sorted(missing)} are not listed in any split")


def index_entry(seq: Sequence, split: str, file: str) -> dict:
    """The index record of a sequence stored at ``file`` (relative to the root) in ``split``."""
    return {"split": split, "attributes": list(seq.attributes), "file": file,
            "num_frames": int(seq.num_frames), "num_events": int(len(seq.events))}


def write_index(root: str | os.PathLike, splits: dict[str, list[str]], sequences: dict[str, dict],
                generator: dict) -> Path:
    """Validate and atomically write ``ROOT/index.json``; returns its path.

    Args:
        splits: split name -> ordered sequence names.
        sequences: name -> {"split", "attributes", "file", "num_frames", "num_events"}.
        generator: how the data was made (e.g. the synthetic generator's config and seed); must be JSON-serialisable.
    """
    root = Path(root)
    index = {"format": INDEX_FORMAT, "generator": generator, "splits": {k: list(v) for k, v in splits.items()},
             "sequences": sequences}
    path = root / INDEX_NAME
    _check_index(json.loads(json.dumps(index)), str(path))
    return write_json_atomic(path, index, indent=1)


def read_index(root: str | os.PathLike) -> dict:
    """Read and validate ``ROOT/index.json`` (FileNotFoundError when absent, ValueError when malformed)."""
    path = Path(root) / INDEX_NAME
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no benchmark index (expected {INDEX_NAME} written by `had-snn synth` "
                                f"or `had-snn import-dataset`)")
    try:
        index = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from None
    _check_index(index, str(path))
    return index


def split_paths(root: str | os.PathLike, split: str) -> list[Path]:
    """Sequence files of ``split`` in index order (ValueError naming the available splits if unknown)."""
    index = read_index(root)
    if split not in index["splits"]:
        raise ValueError(f"{Path(root) / INDEX_NAME}: no split '{split}'; available: {sorted(index['splits'])}")
    return [Path(root) / index["sequences"][name]["file"] for name in index["splits"][split]]


def load_split(root: str | os.PathLike, split: str, load_frames: bool = True) -> list[Sequence]:
    """Read every sequence of ``split`` (frames skipped when ``load_frames`` is False)."""
    return [read_sequence(p, load_frames=load_frames) for p in split_paths(root, split)]


def write_benchmark(root: str | os.PathLike, splits: dict[str, list[Sequence]], source: str) -> Path:
    """Write your own sequences as a benchmark that ``had-snn train`` / ``eval`` read: ``ROOT/<split>/<name>.h5``
    per sequence (validated and written atomically by :func:`had_snn.data.io.write_sequence`) and ``index.json``
    (``generator: {"source": source}``); returns the index path. Names must be unique across splits."""
    from had_snn.data.io import write_sequence

    root = Path(root)
    names = [seq.name for seqs in splits.values() for seq in seqs]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"write_benchmark: sequence names {twice} appear more than once; names must be unique")
    entries: dict[str, dict] = {}
    for split, seqs in splits.items():
        (root / split).mkdir(parents=True, exist_ok=True)
        for seq in seqs:
            write_sequence(root / split / f"{seq.name}.h5", seq)
            entries[seq.name] = index_entry(seq, split, f"{split}/{seq.name}.h5")
    return write_index(root, {s: [q.name for q in seqs] for s, seqs in splits.items()}, entries, {"source": source})
