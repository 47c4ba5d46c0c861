"""The synthetic benchmark: plan the sequences of each split (seeds, attribute tags) and build them.

:func:`build_benchmark` writes ``ROOT/<split>/<name>.h5`` and ``ROOT/index.json`` from a deterministic plan
(:func:`plan_benchmark`), rendering each sequence with :func:`had_snn.data.synthetic.generate_sequence`.

ROOT is owned for the length of the build (:func:`had_snn.util.runlock.run_folder_lock`: a second process is
refused). A ROOT that already holds a benchmark made with other settings (seed, number of sequences, split
fractions or generator config; by another generator version, ``GENERATOR_VERSION``, whose scenes differ; or a
dataset from ``import-dataset``) is refused with what differs
(:class:`BenchmarkMismatch`), as are stray ``.h5`` files in its split folders that the plan does not name. With
``force=True`` the folder is rebuilt cleanly instead: the ``.h5`` files under ``ROOT/<split>/`` that are not in the
new plan are deleted, files whose content does not match the plan are regenerated, and the index describes exactly
the planned files. The same settings resume (valid files are kept).
"""

from __future__ import annotations

import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from had_snn.data.dataset import INDEX_NAME, index_entry, read_index, write_index
from had_snn.data.io import read_sequence, write_sequence
from had_snn.data.limits import ATTRIBUTES
from had_snn.data.sequence import Sequence
from had_snn.data.synthetic import GENERATOR_NAME, GENERATOR_VERSION, SynthConfig, generate_sequence
from had_snn.util.errors import UserError
from had_snn.util.interrupt import interrupt_latch, raise_if_interrupted
from had_snn.util.runlock import run_folder_lock

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class SequencePlan:
    """What one benchmark sequence will be: its split, name, seed and attribute tags."""

    split: str
    name: str
    seed: int
    attributes: tuple[str, ...]

    @property
    def file(self) -> str:
        return f"{self.split}/{self.name}.h5"


def split_counts(n: int, fractions: tuple[float, ...]) -> dict[str, int]:
    """Sequences per split (train/val/test) for ``n`` sequences split by ``fractions`` (normalised).

    Largest-remainder rounding, then splits with a positive fraction are topped up (taking from the largest
    split) to ``len(ATTRIBUTES)`` sequences when ``n`` allows it, else to 1, so attribute coverage can hold.
    """
    if len(fractions) != len(SPLITS) or any(f < 0 for f in fractions) or sum(fractions) <= 0:
        raise ValueError(f"split fractions must be {len(SPLITS)} non-negative numbers with a positive sum, "
                         f"got {fractions}")
    if n < 1:
        raise ValueError(f"number of sequences must be >= 1, got {n}")
    f = np.asarray(fractions, dtype=np.float64) / sum(fractions)
    counts = np.floor(n * f).astype(int)
    for i in np.argsort(-(n * f - counts), kind="stable")[: n - counts.sum()]:
        counts[i] += 1
    active = np.flatnonzero(f > 0)
    floor = len(ATTRIBUTES) if n >= len(ATTRIBUTES) * len(active) else (1 if n >= len(active) else 0)
    for i in active:
        while counts[i] < floor:
            donor = int(np.argmax(counts))
            counts[donor] -= 1
            counts[i] += 1
    return dict(zip(SPLITS, (int(c) for c in counts), strict=True))


def assign_attributes(n: int, rng: np.random.Generator, extra_prob: float) -> list[tuple[str, ...]]:
    """Attribute tags for ``n`` sequences of one split.

    Sequence ``j`` always carries the primary attribute ``perm[j % len(ATTRIBUTES)]`` of a random permutation of
    :data:`ATTRIBUTES` (so any ``len(ATTRIBUTES)`` (9) consecutive sequences cover them all), plus each other
    attribute with probability
    ``extra_prob``. ``low_light`` and ``hdr`` exclude each other (the primary wins, else one is dropped at random).
    """
    perm = [ATTRIBUTES[i] for i in rng.permutation(len(ATTRIBUTES))]
    out = []
    for j in range(n):
        primary = perm[j % len(perm)]
        draws = rng.random(len(ATTRIBUTES))
        tags = {primary} | {a for a, u in zip(ATTRIBUTES, draws, strict=True) if u < extra_prob}
        if {"low_light", "hdr"} <= tags:
            tags.discard(({"low_light", "hdr"} - {primary}).pop() if primary in ("low_light", "hdr")
                         else ("low_light", "hdr")[int(rng.integers(2))])
        out.append(tuple(a for a in ATTRIBUTES if a in tags))
    return out


def plan_benchmark(n: int, seed: int, fractions: tuple[float, ...], extra_prob: float) -> list[SequencePlan]:
    """The deterministic plan of a benchmark: per-split attribute draws and per-sequence seeds from ``seed``.

    Sequence ``j`` of split ``s`` gets seed ``SeedSequence([seed, s, j])`` and name ``<split>_<j:04d>``, so
    growing ``n`` keeps the existing sequences of each split unchanged.
    """
    plans = []
    for s, (split, count) in enumerate(split_counts(n, fractions).items()):
        attrs = assign_attributes(count, np.random.default_rng([seed, s]), extra_prob)
        for j in range(count):
            seq_seed = int(np.random.SeedSequence([seed, s, j]).generate_state(1)[0])
            plans.append(SequencePlan(split, f"{split}_{j:04d}", seq_seed, attrs[j]))
    return plans


def _is_done(path: Path, plan: SequencePlan, cfg: SynthConfig) -> Sequence | None:
    """The sequence at ``path`` if it reads back cleanly and was generated from this plan and config, else None."""
    try:
        seq = read_sequence(path)
    except (OSError, ValueError):
        return None
    m = seq.meta
    same = (m.get("generator") == GENERATOR_NAME and m.get("generator_version") == GENERATOR_VERSION
            and m.get("seed") == plan.seed and m.get("config") == cfg.to_dict()
            and seq.attributes == plan.attributes and seq.name == plan.name)
    return seq if same else None


def _make_one(task: tuple[str, SequencePlan, dict]) -> tuple[SequencePlan, dict, bool, float]:
    """Worker: generate and write one planned sequence unless a valid file exists (returns its index entry)."""
    root, plan, cfg_dict = task
    cfg = SynthConfig.from_dict(cfg_dict)
    path = Path(root) / plan.file
    t0 = time.perf_counter()
    seq = _is_done(path, plan, cfg)
    made = seq is None
    if made:
        seq = generate_sequence(cfg, plan.seed, plan.attributes, plan.name)
        write_sequence(path, seq)  # atomic: temporary file, then os.replace
    return plan, index_entry(seq, plan.split, plan.file), made, time.perf_counter() - t0


class BenchmarkMismatch(UserError):
    """The output folder holds a different benchmark (or other files) than the one asked for."""


def generator_record(n: int, seed: int, fractions: tuple[float, ...], cfg: SynthConfig) -> dict:
    """The ``generator`` section of a synthetic benchmark's index.json (what identifies the benchmark)."""
    return {"name": GENERATOR_NAME, "version": GENERATOR_VERSION, "seed": int(seed), "num_sequences": int(n),
            "split_fractions": [float(f) for f in fractions], "config": cfg.to_dict()}


def _differences(old: dict, new: dict, prefix: str = "") -> list[str]:
    """``key: old -> new`` for every leaf that differs between two generator records."""
    out = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key, "<unset>"), new.get(key, "<unset>")
        if isinstance(a, dict) and isinstance(b, dict):
            out += _differences(a, b, f"{prefix}{key}.")
        elif a != b:
            out.append(f"{prefix}{key} {a} (now {b})")
    return out


def check_existing(root: Path, generator: dict, plans: list[SequencePlan]) -> list[Path]:
    """What in ``root`` conflicts with the benchmark about to be built: raises :class:`BenchmarkMismatch` naming the
    difference for an index of another benchmark; returns the stray ``.h5`` files (not in ``plans``)."""
    hint = "choose another --out, or pass --force to rebuild it (files not in the new plan are deleted)"
    if (root / INDEX_NAME).is_file():
        try:
            old = read_index(root).get("generator", {})
        except (OSError, ValueError) as exc:
            raise BenchmarkMismatch(f"{root}: holds an unreadable {INDEX_NAME} ({exc}); {hint}") from None
        if old.get("name") != GENERATOR_NAME:
            raise BenchmarkMismatch(f"{root}: holds a dataset that is not a synthetic benchmark "
                                    f"(index.json generator {old.get('source') or old.get('name')!r}); {hint}")
        if old.get("version") != generator.get("version"):
            made = (f"version {old['version']}" if "version" in old
                    else "a version from before generator versions were recorded")
            raise BenchmarkMismatch(f"{root}: holds a benchmark made by another synthetic generator ({made}; this is "
                                    f"version {generator.get('version')}, whose scenes differ); {hint}")
        diff = _differences(old, generator)
        if diff:
            shown = "; ".join(diff[:4]) + (f"; and {len(diff) - 4} more" if len(diff) > 4 else "")
            raise BenchmarkMismatch(f"{root}: holds a benchmark made with other settings: {shown}; {hint}")
    return check_existing_files(root, plans)


@dataclass
class BenchmarkSummary:
    """What :func:`build_benchmark` did."""

    index_path: Path
    generated: list[str]
    reused: list[str]
    seconds_per_generated: float
    removed: list[str] = field(default_factory=list)  # stray files deleted by ``force``


def build_benchmark(
    root: str | os.PathLike,
    n: int,
    seed: int,
    fractions: tuple[float, ...] = (0.6, 0.2, 0.2),
    cfg: SynthConfig | None = None,
    workers: int = 1,
    progress: bool = True,
    force: bool = False,
) -> BenchmarkSummary:
    """Write ``n`` synthetic sequences as ``ROOT/<split>/<name>.h5`` plus ``ROOT/index.json`` (holding ROOT's lock).

    Resumable: a sequence whose file exists, reads back and matches its plan (seed, attributes, config) is kept.
    Files are written atomically, so an interrupted run leaves no partial file; the index is written last.
    A ROOT holding another benchmark or stray ``.h5`` files raises :class:`BenchmarkMismatch` unless ``force``,
    which deletes the ``.h5`` files of ROOT's split folders that the new plan does not name and rebuilds.
    """
    cfg = cfg or SynthConfig()
    root = Path(root)
    plans = plan_benchmark(n, seed, fractions, cfg.extra_attribute_prob)
    generator = generator_record(n, seed, fractions, cfg)
    others = sorted(p.name for p in root.iterdir() if not p.name.startswith(".")) if root.is_dir() else []
    if others and not (root / INDEX_NAME).is_file() and not (set(others) <= {"train", "val", "test"}):
        raise UserError(f"{root}: holds {len(others)} other file(s) or folder(s) ({', '.join(others[:3])}) and no "
                        f"{INDEX_NAME}; a benchmark is written into a new or empty folder, or one holding a benchmark")
    with run_folder_lock(root, kind="benchmark"):
        removed = []
        if force:
            for f in check_existing_files(root, plans):
                f.unlink()
                removed.append(f"{f.parent.name}/{f.name}")
            (root / INDEX_NAME).unlink(missing_ok=True)
        else:
            stray = check_existing(root, generator, plans)
            if stray:
                names = ", ".join(f"{f.parent.name}/{f.name}" for f in stray[:3])
                raise BenchmarkMismatch(f"{root}: holds {len(stray)} sequence file(s) this benchmark does not plan "
                                        f"({names}{', ...' if len(stray) > 3 else ''}); choose another --out, or "
                                        f"pass --force to rebuild it (they are deleted)")
        summary = _build(root, plans, generator, cfg, workers, progress)
    summary.removed = removed
    return summary


def check_existing_files(root: Path, plans: list[SequencePlan]) -> list[Path]:
    """The ``.h5`` files under ``ROOT/<split>/`` that ``plans`` does not name."""
    planned = {p.file for p in plans}
    return sorted(f for split in SPLITS if (root / split).is_dir() for f in (root / split).glob("*.h5")
                  if f"{split}/{f.name}" not in planned)


def _build(root: Path, plans: list[SequencePlan], generator: dict, cfg: SynthConfig, workers: int,
           progress: bool) -> BenchmarkSummary:
    """Generate (or keep) every planned sequence and write the index last."""
    tasks = [(str(root), p, cfg.to_dict()) for p in plans]
    for split in SPLITS:
        (root / split).mkdir(parents=True, exist_ok=True)
    results = []
    with tqdm(total=len(tasks), desc="synth", unit="seq", disable=not progress) as bar:
        if workers > 1 and len(tasks) > 1:
            try:  # compile the event kernel once here, so the workers load it from numba's cache
                from had_snn.data.event_kernel import warm_up
            except ImportError:  # numba missing: the workers use the numpy loop
                pass
            else:
                warm_up()
            ctx = multiprocessing.get_context("spawn")
            with interrupt_latch(), ProcessPoolExecutor(min(workers, len(tasks)), mp_context=ctx) as pool:
                for r in pool.map(_make_one, tasks):
                    raise_if_interrupted()
                    results.append(r)
                    bar.update(1)
        else:
            with interrupt_latch():
                for task in tasks:
                    results.append(_make_one(task))
                    raise_if_interrupted()
                    bar.update(1)
    splits = {s: [p.name for p in plans if p.split == s] for s in SPLITS}
    entries = {plan.name: entry for plan, entry, _, _ in results}
    index_path = write_index(root, splits=splits, sequences=entries, generator=generator)
    made = [(plan.name, dt) for plan, _, m, dt in results if m]
    return BenchmarkSummary(index_path, [m[0] for m in made], [p.name for p, _, m, _ in results if not m],
                            float(np.mean([m[1] for m in made])) if made else 0.0)
