"""Real RGB+event tracking datasets behind one API: registry, split lists and the dataset-level checks.

Each dataset module (:mod:`had_snn.data.datasets.fe108`, :mod:`~had_snn.data.datasets.visevent`,
:mod:`~had_snn.data.datasets.coesot`, :mod:`~had_snn.data.datasets.eventvot`) describes the layout its authors
distribute as a :class:`~had_snn.data.datasets.loader.Layout` (plus a hook for what cannot be data) and exposes
``NAME``, ``SENSOR_SIZE`` (W, H) px, ``SPLITS``, ``OPTIONS`` (option name -> default), ``check_root(root, **options)``,
``list_sequences(root, split)`` and ``load_sequence(root, name, **options)``; the one loader in
:mod:`~had_snn.data.datasets.loader` reads them all. :func:`open_dataset` wraps one for a dataset root and its options
(FE108: ``start_index``, the frame offsets file; EventVOT: ``windows``, the window rule). Every sequence passes
:func:`~had_snn.data.datasets.checks.checked_sequence` (errors name the file; repairs are counted in a
:class:`LoadReport`).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

from had_snn.data.datasets.checks import LoadReport
from had_snn.data.datasets.files import read_boxes, read_flags
from had_snn.data.sequence import Sequence

__all__ = ["ADAPTERS", "Dataset", "LoadReport", "get_adapter", "open_dataset", "read_boxes", "read_flags"]

#: dataset name -> dataset module (imported on first use, so ``import had_snn.data.datasets`` stays light).
ADAPTERS: dict[str, str] = {
    "fe108": "had_snn.data.datasets.fe108",
    "visevent": "had_snn.data.datasets.visevent",
    "coesot": "had_snn.data.datasets.coesot",
    "eventvot": "had_snn.data.datasets.eventvot",
}


def get_adapter(name: str) -> ModuleType:
    """The dataset module registered under ``name`` (case-insensitive)."""
    key = name.lower()
    if key not in ADAPTERS:
        raise ValueError(f"unknown dataset {name!r}; expected one of {', '.join(sorted(ADAPTERS))}")
    return importlib.import_module(ADAPTERS[key])


class Dataset:
    """A real dataset read in place: ``open_dataset("fe108", root).load_sequence("airplane")``.

    ``options`` are the dataset's loading options (``adapter.OPTIONS``); None values keep the default. A root that
    cannot load with them (e.g. FE108 without its frame offsets file) is refused here, before any sequence is read.
    """

    def __init__(self, name: str, root: str | os.PathLike, **options: Any) -> None:
        self.adapter = get_adapter(name)
        self.name = self.adapter.NAME
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"{self.name} root {self.root} is not a directory")
        self.options = {k: v for k, v in options.items() if v is not None}
        self.adapter.check_root(self.root, **self.options)

    @property
    def sensor_size(self) -> tuple[int, int]:
        return self.adapter.SENSOR_SIZE

    def splits(self) -> list[str]:
        """The splits of ``adapter.SPLITS`` that exist under the root."""
        return [s for s in self.adapter.SPLITS if (self.root / s).is_dir()]

    def list_sequences(self, split: str) -> list[str]:
        return self.adapter.list_sequences(self.root, split)

    def load_sequence(self, name: str) -> Sequence:
        return self.adapter.load_sequence(self.root, name, **self.options)

    def iter_sequences(self, split: str) -> Iterator[Sequence]:
        for name in self.list_sequences(split):
            yield self.load_sequence(name)

    def __repr__(self) -> str:
        return f"Dataset({self.name!r}, {str(self.root)!r})"


def open_dataset(name: str, root: str | os.PathLike, **options: Any) -> Dataset:
    """Open dataset ``name`` (a key of :data:`ADAPTERS`) stored at ``root`` in its authors' layout."""
    return Dataset(name, root, **options)
