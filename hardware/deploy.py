"""Main-venv side of the Lava backend: find the Python 3.10 Lava venv, run the runner as a subprocess, read results.

The Lava venv is looked up in ``$HAD_SNN_LAVA_PYTHON`` (a python executable) or ``.venv-lava/bin/python`` in the
current directory or any parent of this package's source folder; ``make setup-lava`` creates it.

The two sides talk through files (the netx HDF5 network, an ``.npz`` of input spikes, an ``.npz`` of results) and
the runner's stdout, on which it prints one progress line per event (see :mod:`had_snn.hardware.lava_runner`);
:func:`run_lava` streams those lines to a callback while Lava runs, and times the whole subprocess.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

import numpy as np

from had_snn.util.errors import UserError

LAVA_PYTHON_ENV = "HAD_SNN_LAVA_PYTHON"
#: must equal had_snn.hardware.lava_runner.PROGRESS_PREFIX (that module is importable in the Lava venv only)
PROGRESS_PREFIX = "had-snn-progress "
SETUP_HINT = "create it with `make setup-lava` (needs Python 3.10) or set $HAD_SNN_LAVA_PYTHON to its python"
#: timings the runner reports per sample (seconds), in the order they happen
SAMPLE_TIMING_KEYS = ("build_s", "first_step_s", "run_s", "read_s", "stop_s")


class LavaUnavailable(UserError, RuntimeError):
    """No usable Lava venv (the message says where it was looked for and how to create it)."""


class LavaRunFailed(RuntimeError):
    """The Lava runner subprocess exited with an error (the message holds the tail of its output)."""


def find_lava_python() -> Path:
    """Path of the Lava venv's python; raises LavaUnavailable naming the places searched."""
    explicit = os.environ.get(LAVA_PYTHON_ENV)
    if explicit:
        if Path(explicit).is_file():
            return Path(explicit)
        raise LavaUnavailable(f"${LAVA_PYTHON_ENV}={explicit} is not a file; {SETUP_HINT}")
    searched = []
    for root in (Path.cwd(), *Path(__file__).resolve().parents):
        candidate = root / ".venv-lava" / "bin" / "python"
        searched.append(str(candidate))
        if candidate.is_file():
            return candidate
    raise LavaUnavailable(f"no Lava venv found: {SETUP_HINT}; looked at " + ", ".join(dict.fromkeys(searched)))


def lava_available() -> tuple[bool, str]:
    """(True, path) when the Lava venv exists and imports lava, else (False, reason)."""
    try:
        python = find_lava_python()
    except LavaUnavailable as exc:
        return False, str(exc)
    probe = subprocess.run([str(python), "-c", "import lava.proc.lif.process"], capture_output=True, text=True)
    if probe.returncode != 0:
        return False, f"{python} cannot import lava: {probe.stderr.strip().splitlines()[-1:]}; {SETUP_HINT}"
    return True, str(python)


def kill_process_group(proc: subprocess.Popen) -> None:
    """Kill the runner and the processes it started (its own session / process group)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()


def run_lava(
    net_path: str | os.PathLike,
    spikes: np.ndarray,
    timeout_s: float | None = None,
    progress: Callable[[dict], None] | None = None,
    mode: str = "reset",
    lavadl_netx: bool = False,
) -> dict[str, np.ndarray]:
    """Run ``spikes`` (T, B, C, H, W) through the netx network in Lava; returns the runner's arrays.

    ``mode="reset"``: each of the B windows runs as given in a fresh Lava graph (append the flush steps yourself);
    ``mode="stream"``: the B windows are consecutive frames of one stream, run in one graph without reset, then L
    zero drain steps (L = synaptic layers): outputs (B * T + L, 1, ...), as ``LoihiEmulator.run`` on
    ``lava_runner.stream_of(spikes, L)``. ``lavadl_netx``: Lava runs the graph lava-dl's ``netx.hdf5.Network`` builds
    from the file (the loader Lava users have) instead of our own processes.

    Keys: ``spikes_<i>`` per synaptic layer, ``v_out``, ``layer_names``, per-sample ``build_s``, ``first_step_s``
    (compile + step 1), ``run_s`` (steps 2..T), ``read_s``, ``stop_s`` and, measured here, ``wall_s`` (the whole
    subprocess, from launch to results read back) and ``startup_s`` (launch until the runner starts the first sample:
    Python and Lava-side imports, reading the network and the input). ``progress`` receives the runner's events
    (dicts, see :mod:`had_snn.hardware.lava_runner`) as they happen. Raises :class:`LavaUnavailable`,
    :class:`LavaRunFailed` or ``TimeoutError``.
    """
    if mode not in ("reset", "stream"):
        raise ValueError(f"Lava mode must be 'reset' or 'stream', got {mode!r}")
    python = find_lava_python()
    t_launch = time.perf_counter()
    startup_s: float | None = None
    other_lines: deque[str] = deque(maxlen=40)
    with tempfile.TemporaryDirectory(prefix="had_snn_lava_") as tmp:
        inp, out, err_path = Path(tmp) / "input.npz", Path(tmp) / "output.npz", Path(tmp) / "stderr.txt"
        np.savez(inp, spikes=np.asarray(spikes, dtype=np.uint8))
        with open(err_path, "w+") as err:
            proc = subprocess.Popen(
                [str(python), "-u", "-m", "had_snn.hardware.lava_runner", "--mode", mode,
                 *(["--netx"] if lavadl_netx else []), str(net_path), str(inp), str(out)],
                stdout=subprocess.PIPE, stderr=err, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
                start_new_session=True,  # its own process group: a kill also ends Lava's worker processes
            )
            timed_out = threading.Event()

            def _kill() -> None:
                timed_out.set()
                kill_process_group(proc)

            timer = threading.Timer(timeout_s, _kill) if timeout_s else None
            try:
                if timer:
                    timer.start()
                assert proc.stdout is not None
                for line in proc.stdout:
                    if not line.startswith(PROGRESS_PREFIX):
                        other_lines.append(line.rstrip())
                        continue
                    try:
                        event = json.loads(line[len(PROGRESS_PREFIX):])
                    except json.JSONDecodeError:
                        other_lines.append(line.rstrip())
                        continue
                    if event.get("event") == "start":
                        startup_s = time.perf_counter() - t_launch
                    if progress is not None:
                        progress(event)
                code = proc.wait()
            finally:
                if timer:
                    timer.cancel()
                if proc.poll() is None:  # Ctrl-C or an exception in the callback: do not leave Lava running
                    kill_process_group(proc)
                    proc.wait()
            if timed_out.is_set():
                raise TimeoutError(f"Lava runner on {net_path} did not finish within {timeout_s:g} s")
            err.seek(0)
            stderr = err.read()
        if code != 0:
            lines = (stderr.strip().splitlines() or list(other_lines))[-15:]
            text = "\n".join(lines)
            if "No module named 'lava" in text or "No module named 'had_snn" in text or "lava-dl is not" in text:
                raise LavaUnavailable(f"{python} cannot run the Lava runner ({lines[-1].strip()}); {SETUP_HINT}")
            raise LavaRunFailed(f"Lava runner failed (exit {code}) on {net_path}:\n{text}")
        with np.load(out) as f:
            result = {k: f[k] for k in f.files}
    wall_s = time.perf_counter() - t_launch
    result["wall_s"] = np.float64(wall_s)
    result["startup_s"] = np.float64(wall_s if startup_s is None else startup_s)
    return result


def lava_timing(result: dict[str, np.ndarray]) -> dict[str, float]:
    """Seconds spent in the Lava subprocess, summed over samples: ``wall_s`` is the real time of the whole call (what a
    user waits for); the parts are ``startup_s`` (process start, imports, reading files), per-sample ``build_s``,
    ``first_step_s`` (compile + step 1), ``run_s`` (remaining steps), ``read_s`` (read-back), ``stop_s``; and
    ``other_s`` = the rest (writing/reading the result file, process exit)."""
    timing = {"wall_s": float(result["wall_s"]), "startup_s": float(result["startup_s"])}
    for key in SAMPLE_TIMING_KEYS:
        if key in result:
            timing[key] = float(np.sum(result[key]))
    timing["other_s"] = max(0.0, timing["wall_s"] - sum(v for k, v in timing.items() if k != "wall_s"))
    return timing
