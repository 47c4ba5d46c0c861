"""Convert a real dataset (read by its adapter) to native HDF5 sequence files laid out like the synthetic benchmark.

Output: ``OUT/<split>/<name>.h5`` (:func:`had_snn.data.io.write_sequence`, atomic) and ``OUT/index.json``
(:func:`had_snn.data.dataset.write_index`). Sequences are converted in parallel worker processes with a tqdm bar.
Re-running resumes: files that exist, read back valid and were loaded with the same options and the same alignment
rules (:data:`~had_snn.data.datasets.loader.ALIGNMENT_VERSION`) are kept; the others are rewritten. Sequences that
cannot be loaded (missing files, malformed ground truth) are skipped with their reason instead of stopping the run;
the summary lists them (the command exits non-zero when every sequence failed, or with ``--strict`` when any did).
When every sequence of the run failed and OUT had no index, no ``index.json`` is written (an empty index would look
like a converted dataset). OUT is locked for the run (:func:`had_snn.util.runlock.run_folder_lock`).
Dataset loading options (``options``: FE108 ``start_index``, EventVOT ``windows``) reach every sequence's loader.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from had_snn.data.datasets import Dataset, open_dataset
from had_snn.data.datasets.loader import ALIGNMENT_VERSION
from had_snn.util.interrupt import interrupt_latch, raise_if_interrupted
from had_snn.util.runlock import run_folder_lock


@dataclass
class ConvertSummary:
    """What a conversion did, per sequence name."""

    converted: list[str] = field(default_factory=list)
    already_done: list[str] = field(default_factory=list)
    rewritten: dict[str, str] = field(default_factory=dict)  # name -> why the existing file was not valid
    skipped: dict[str, str] = field(default_factory=dict)  # name -> why it could not be converted
    repairs: Counter = field(default_factory=Counter)  # summed LoadReport counts of the converted sequences
    index_written: bool = True

    @property
    def total(self) -> int:
        """Sequences this run was asked to convert."""
        return len(self.converted) + len(self.already_done) + len(self.skipped)

    @property
    def all_failed(self) -> bool:
        return self.total > 0 and len(self.skipped) == self.total

    def lines(self) -> list[str]:
        out = [f"converted {len(self.converted)}, already done {len(self.already_done)}, "
               f"skipped {len(self.skipped)}"]
        out += [f"  rewrote invalid {n}: {why}" for n, why in sorted(self.rewritten.items())]
        out += [f"  skipped {n}: {why}" for n, why in sorted(self.skipped.items())]
        if self.repairs:
            out.append("  repairs: " + ", ".join(f"{k}={v}" for k, v in sorted(self.repairs.items())))
        return out


def _options_meta(options: dict) -> dict[str, str]:
    """Loading options as stored in a converted sequence's meta (``load_options``) and in index.json."""
    return {k: str(v) for k, v in sorted(options.items())}


def _valid_existing(path: Path, options: dict) -> tuple[dict | None, str]:
    """(record, "") when ``path`` is a readable sequence file loaded with ``options``, else (None, reason)."""
    from had_snn.data.io import read_sequence

    try:
        seq = read_sequence(path, load_frames=False)
    except (OSError, ValueError) as exc:
        return None, str(exc)
    if seq.meta.get("alignment_version") != ALIGNMENT_VERSION:
        return None, (f"converted by an adapter with alignment version {seq.meta.get('alignment_version')}, "
                      f"now {ALIGNMENT_VERSION}")
    done_with = seq.meta.get("load_options", {})
    if done_with != _options_meta(options):
        return None, f"converted with options {done_with}, now {_options_meta(options)}"
    return _record(seq, path), ""


def _record(seq, path: Path) -> dict:
    """Index entry (``had_snn.data.dataset.index_entry``) plus the load repairs of a converted sequence."""
    from had_snn.data.dataset import index_entry

    entry = index_entry(seq, path.parent.name, f"{path.parent.name}/{path.name}")
    repairs = {k[len("repair_"):]: int(v) for k, v in seq.meta.items() if k.startswith("repair_") and v}
    return {"entry": entry, "repairs": repairs}


def _convert_one(task: tuple[str, str, str, str, str, dict]) -> tuple[str, str, str, str, dict | None]:
    """Worker: convert one sequence. Returns (split, name, status, detail, record)."""
    from had_snn.data.aedat import MissingExtraError
    from had_snn.data.io import write_sequence

    dataset, root, split, name, out_path, options = task
    out = Path(out_path)
    why_rewrite = ""
    if out.exists():
        record, why_rewrite = _valid_existing(out, options)
        if record is not None:
            return split, name, "done", "", record
    try:
        seq = open_dataset(dataset, root, **options).load_sequence(f"{split}/{name}")
    except (FileNotFoundError, ValueError, MissingExtraError) as exc:
        return split, name, "skipped", str(exc), None
    seq.meta["source_root"] = str(root)
    seq.meta["load_options"] = _options_meta(options)
    seq.meta["alignment_version"] = ALIGNMENT_VERSION
    write_sequence(out, seq)
    return split, name, ("rewritten" if why_rewrite else "converted"), why_rewrite, _record(seq, out)


def import_dataset(
    dataset: str,
    root: str | os.PathLike,
    out: str | os.PathLike,
    splits: list[str] | None = None,
    workers: int = 1,
    progress: bool = True,
    options: dict | None = None,
) -> ConvertSummary:
    """Convert ``splits`` (default: every split present under ``root``) of ``dataset`` into ``out``.

    ``options`` are the dataset's loading options (see :func:`had_snn.data.datasets.open_dataset`). An existing
    ``out/index.json`` keeps its entries for splits not converted in this run. ``out`` is locked for the run.
    """
    ds: Dataset = open_dataset(dataset, root, **(options or {}))
    splits = splits or ds.splits()
    if not splits:
        raise FileNotFoundError(f"{ds.name}: none of the splits {', '.join(ds.adapter.SPLITS)} exist under {ds.root}")
    out = Path(out)
    with run_folder_lock(out, kind="benchmark"):
        return _convert_locked(ds, splits, out, workers, progress)


def _convert_locked(ds: Dataset, splits: list[str], out: Path, workers: int, progress: bool) -> ConvertSummary:
    """:func:`import_dataset` once OUT's lock is held."""
    from had_snn.data.dataset import read_index, write_index

    tasks = []
    for split in splits:
        (out / split).mkdir(parents=True, exist_ok=True)
        for name in ds.list_sequences(split):
            tasks.append((ds.name, str(ds.root), split, name, str(out / split / f"{name}.h5"), ds.options))

    summary = ConvertSummary()
    records: dict[str, dict] = {}
    split_names: dict[str, list[str]] = {}
    if (out / "index.json").is_file():
        old = read_index(out)
        for split, names in old["splits"].items():
            if split not in splits:
                split_names[split] = list(names)
                records.update({n: old["sequences"][n] for n in names})
    split_names.update({s: [] for s in splits})
    bar = tqdm(total=len(tasks), desc=f"convert {ds.name}", unit="seq", disable=not progress)
    with interrupt_latch():
        if workers > 1 and len(tasks) > 1:
            # fork where available (no re-import of __main__, fast start); the parent holds no open recordings
            method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
            with multiprocessing.get_context(method).Pool(min(workers, len(tasks))) as pool:
                results = list(_tracked(pool.imap_unordered(_convert_one, tasks), bar))
        else:
            results = list(_tracked(map(_convert_one, tasks), bar))
    bar.close()

    by_key = {(r[0], r[1]): r for r in results}
    for task in tasks:  # list order, not completion order
        split, name, status, detail, record = by_key[(task[2], task[3])]
        key = f"{split}/{name}"
        if status == "skipped":
            summary.skipped[key] = detail
            continue
        if status == "done":
            summary.already_done.append(key)
        else:
            summary.converted.append(key)
            summary.repairs.update(record["repairs"])
        if status == "rewritten":
            summary.rewritten[key] = detail
        split_names[split].append(name)
        records[name] = record["entry"]
    if (summary.all_failed or summary.total == 0) and not (out / "index.json").is_file():
        summary.index_written = False
        return summary
    write_index(out, splits=split_names, sequences=records,
                generator={"source": "import-dataset", "dataset": ds.name, "root": str(ds.root),
                           "options": _options_meta(ds.options)})
    return summary


def _tracked(results, bar):
    """Yield ``results`` one by one, advancing ``bar``; a Ctrl-C Python dropped on the way ends the loop."""
    for r in results:
        raise_if_interrupted()
        bar.update(1)
        yield r
