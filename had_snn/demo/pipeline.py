"""A small step runner with caching: each step's outputs are reused while its resolved config and inputs are unchanged.

A :class:`Step` has a name, a JSON-able resolved ``config``, the names of the steps it ``depends`` on and a ``run``
function. Its cache key is the SHA-256 of ``(name, config, keys of its dependencies)``, so changing anything upstream
invalidates everything downstream. Layout inside the run directory::

    RUN/<step>/.started.json   key of the attempt in progress (written when the step starts)
    RUN/<step>/stamp.json      key, config, inputs, outputs, seconds (written atomically when the step completes)

A step whose ``stamp.json`` holds the current key and whose listed output files all exist is skipped. A step
started with the same key but not finished (interrupted) runs again in the same folder, so it can resume from what
it left there (training steps continue from their checkpoints); a folder left by a different key is cleared first.
Output paths in stamps are relative to the run directory, so a run folder can be moved.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from had_snn.util.atomic import write_json_atomic

STAMP_NAME = "stamp.json"
STARTED_NAME = ".started.json"
STAMP_FORMAT = 1


@dataclass
class StepContext:
    """What a step's ``run`` function sees: its own folder, the run folder and its dependencies' outputs."""

    step_dir: Path
    run_dir: Path
    inputs: dict[str, dict[str, Any]]
    resuming: bool

    def path(self, rel: str | os.PathLike) -> Path:
        """Absolute path of a run-relative output path (as stored in stamps)."""
        return self.run_dir / rel

    def rel(self, path: str | os.PathLike) -> str:
        """Run-relative form of a path inside the run folder (what stamps store)."""
        return Path(path).resolve().relative_to(self.run_dir.resolve()).as_posix()


@dataclass
class Step:
    """One pipeline step. ``run(ctx)`` returns a JSON-able dict of outputs; its ``files`` entry (optional) lists
    run-relative paths that must still exist for the cached result to be reused. The name is the step's folder
    under the run directory and may hold ``/`` (``runs/had/seed0``); no step's folder may lie inside another's."""

    name: str
    title: str
    config: dict[str, Any]
    run: Callable[[StepContext], dict[str, Any]]
    depends: tuple[str, ...] = ()


@dataclass
class StepRecord:
    """What happened to one step in a pipeline run."""

    name: str
    title: str
    key: str
    status: str  # "ran" or "cached"
    seconds: float
    cpu_seconds: float = 0.0
    outputs: dict[str, Any] = field(default_factory=dict)


def cpu_seconds() -> float:
    """User + system CPU time of this process and its finished children (all threads), in seconds."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def canonical_json(obj: Any) -> str:
    """Deterministic JSON text (sorted keys, no whitespace) used for hashing; ValueError if not JSON-able."""
    try:
        return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=True)
    except TypeError as exc:
        raise ValueError(f"step config is not JSON-serialisable: {exc}") from None


def step_key(step: Step, input_keys: dict[str, str]) -> str:
    """SHA-256 of the step's name, resolved config and its inputs' keys."""
    payload = canonical_json({"format": STAMP_FORMAT, "step": step.name, "config": step.config, "inputs": input_keys})
    return hashlib.sha256(payload.encode()).hexdigest()


def read_stamp(step_dir: Path) -> dict[str, Any] | None:
    """The completed-step stamp in ``step_dir``, or None when absent or unreadable (then the step re-runs)."""
    path = step_dir / STAMP_NAME
    try:
        stamp = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return None
    return stamp if isinstance(stamp, dict) and stamp.get("format") == STAMP_FORMAT else None


def _cached(step_dir: Path, run_dir: Path, key: str) -> dict[str, Any] | None:
    stamp = read_stamp(step_dir)
    if stamp is None or stamp.get("key") != key:
        return None
    outputs = stamp.get("outputs", {})
    if not all((run_dir / f).exists() for f in outputs.get("files", [])):
        return None
    return stamp


def _prepare_dir(step_dir: Path, key: str) -> bool:
    """Create the step folder; clear it if it holds another key's work. Returns True when resuming this key."""
    started = step_dir / STARTED_NAME
    resuming = False
    if step_dir.exists():
        try:
            resuming = json.loads(started.read_text()).get("key") == key
        except (OSError, json.JSONDecodeError, UnicodeDecodeError, AttributeError):
            resuming = False
        if not resuming:
            shutil.rmtree(step_dir)
    step_dir.mkdir(parents=True, exist_ok=True)
    (step_dir / STAMP_NAME).unlink(missing_ok=True)
    write_json_atomic(started, {"key": key}, indent=1)
    return resuming


def run_steps(
    steps: Sequence[Step],
    run_dir: str | os.PathLike,
    fresh: bool = False,
    log: Callable[[str], None] = print,
) -> list[StepRecord]:
    """Run ``steps`` in order (dependencies must come first), skipping those whose cached outputs are current.

    ``fresh`` re-runs every step from an empty folder. Returns one record per step.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    names = [s.name for s in steps]
    if len(set(names)) != len(names):
        raise ValueError(f"step names must be unique, got {names}")
    keys: dict[str, str] = {}
    outputs: dict[str, dict[str, Any]] = {}
    records: list[StepRecord] = []
    for i, step in enumerate(steps, start=1):
        missing = [d for d in step.depends if d not in keys]
        if missing:
            raise ValueError(f"step {step.name!r} depends on {missing}, which do not run before it")
        input_keys = {d: keys[d] for d in step.depends}
        key = step_key(step, input_keys)
        step_dir = run_dir / step.name
        header = f"== [{i}/{len(steps)}] {step.title} ({step.name})"
        if fresh and step_dir.exists():
            shutil.rmtree(step_dir)
        stamp = _cached(step_dir, run_dir, key)
        if stamp is not None:
            log(f"{header}: cached, skipped (key {key[:12]})")
            keys[step.name], outputs[step.name] = key, stamp["outputs"]
            records.append(StepRecord(step.name, step.title, key, "cached", 0.0, 0.0, stamp["outputs"]))
            continue
        resuming = _prepare_dir(step_dir, key)
        log(f"{header}{': resuming' if resuming else ''}")
        ctx = StepContext(step_dir, run_dir, {d: outputs[d] for d in step.depends}, resuming)
        t0, c0 = time.perf_counter(), cpu_seconds()
        result = step.run(ctx)
        seconds, cpu = time.perf_counter() - t0, cpu_seconds() - c0
        canonical_json(result)  # fail here, not in a later run, if the outputs cannot be stamped
        write_json_atomic(step_dir / STAMP_NAME, {
            "format": STAMP_FORMAT, "step": step.name, "title": step.title, "key": key, "config": step.config,
            "inputs": input_keys, "outputs": result, "seconds": round(seconds, 3),
            "cpu_seconds": round(cpu, 3),
        })
        (step_dir / STARTED_NAME).unlink(missing_ok=True)
        log(f"   {step.name} done in {seconds:.1f} s ({cpu:.1f} CPU s)")
        keys[step.name], outputs[step.name] = key, result
        records.append(StepRecord(step.name, step.title, key, "ran", seconds, cpu, result))
    return records


def with_dependencies(step: Step, by_name: dict[str, Step]) -> list[Step]:
    """``step`` after every step it depends on, directly or not, in the order given by ``by_name``."""
    needed, todo = set(), [step.name]
    while todo:
        name = todo.pop()
        if name not in needed:
            needed.add(name)
            todo += list(by_name[name].depends)
    return [s for s in by_name.values() if s.name in needed]


def run_steps_parallel(steps: Sequence[Step], run_dir: str | os.PathLike, parallel: int,
                       worker: Callable[[Step], Sequence[str]] | None = None, local: Sequence[str] = (),
                       poll_s: float = 0.2, log: Callable[[str], None] = print) -> None:
    """Run ``steps`` ``parallel`` at a time, each once every step it depends on has finished.

    The steps named in ``local`` run first, here, in order. Each other step runs in the process that
    ``worker(step)`` (a command line) starts, which must run that step with :func:`run_steps` in ``run_dir`` (its
    dependencies are cached by then); without ``worker`` it runs in a thread of this process (for steps that spend
    their time waiting on processes of their own). Every step keeps its own key and folder, so the results equal a
    serial run's and an interrupted run resumes either way; call :func:`run_steps` afterwards for the records (every
    step cached). A failed step raises once the worker processes are stopped (threads finish their step first)."""
    import subprocess
    from concurrent.futures import Future, ThreadPoolExecutor

    from had_snn.util.errors import UserError

    if parallel < 1:
        raise ValueError(f"parallel must be >= 1, got {parallel}")
    by_name = {s.name: s for s in steps}
    run_steps([by_name[n] for n in local], run_dir, log=log)
    done = set(local)
    pending = [s for s in steps if s.name not in done]
    running: dict[str, subprocess.Popen | Future] = {}
    pool = ThreadPoolExecutor(parallel) if worker is None else None
    try:
        while pending or running:
            for name, job in list(running.items()):
                if isinstance(job, Future):
                    if not job.done():
                        continue
                    del running[name]
                    job.result()  # the step's own error, if it failed
                else:
                    code = job.poll()
                    if code is None:
                        continue
                    del running[name]
                    if code != 0:
                        raise UserError(f"step {name} failed (exit code {code}; its error is above); rerun the same "
                                        "command to resume")
                done.add(name)
            for step in [s for s in pending if all(d in done for d in s.depends)][:parallel - len(running)]:
                pending.remove(step)
                running[step.name] = (subprocess.Popen(list(worker(step))) if worker is not None else
                                      pool.submit(run_steps, with_dependencies(step, by_name), run_dir, log=log))
            if not running and pending:
                raise UserError(f"steps {[s.name for s in pending]} depend on steps that do not run")
            if running:
                time.sleep(poll_s)
    finally:
        for job in running.values():
            if not isinstance(job, Future):
                job.terminate()
        for job in running.values():
            if not isinstance(job, Future):
                job.wait()
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
