"""Main-venv side of a Lava graph that runs a whole stream: one graph per sequence, fed window by window.

:class:`LavaStream` starts :mod:`had_snn.hardware.lava_session` in the Lava venv once and keeps it: :meth:`open`
builds and compiles one graph for a netx network and a known number of steps, :meth:`feed` sends the next steps'
input spikes and returns their outputs (per-layer spikes and the read-out ``v``) as soon as Lava has computed them,
:meth:`close` ends the graph. The chip's state carries over between feeds, as on the chip in stream mode. Arrays go
through files in a private temporary folder, commands and answers through the session's stdin and stdout.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import tempfile
import threading
import time
from collections import deque
from pathlib import Path

import numpy as np

from had_snn.hardware.deploy import SETUP_HINT, LavaRunFailed, LavaUnavailable, find_lava_python, kill_process_group
from had_snn.hardware.netx import NetxLayer, layer_spikes, write_netx

#: must equal had_snn.hardware.lava_session.REPLY_PREFIX (that module imports Lava, the Lava venv's only)
REPLY_PREFIX = "had-snn-reply "


class LavaStream:
    """A long-lived Lava session (a Python 3.10 subprocess); use as a context manager or call :meth:`shutdown`.

    ``timeout_s`` bounds every command (open: build + compile; feed: the steps given); a command that takes longer
    kills the session and raises ``TimeoutError``. ``timing_s`` sums the session's own timings: ``startup_s``
    (launch to the first answer), ``build_s``, ``start_s`` (compile and runtime start), ``run_s`` (stepping and
    reading back), ``stop_s``, and ``io_s`` (the files and the round trips on this side)."""

    def __init__(self, timeout_s: float | None = 600.0) -> None:
        self.timeout_s = timeout_s
        self._python = find_lava_python()
        self._dir = tempfile.TemporaryDirectory(prefix="had_snn_lava_stream_")
        self.timing_s = {k: 0.0 for k in ("startup_s", "build_s", "start_s", "run_s", "stop_s", "io_s")}
        self._feeds = 0
        self.steps_open = self.steps_fed = 0
        self._launch()

    def _launch(self) -> None:
        """Start the session process and the thread that reads its answers."""
        self._err = open(Path(self._dir.name) / "stderr.txt", "w+")  # noqa: SIM115 - closed in _end()
        self._proc = subprocess.Popen(
            [str(self._python), "-u", "-m", "had_snn.hardware.lava_session"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._err, text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"}, start_new_session=True,  # a kill also ends Lava's workers
        )
        self._replies: queue.Queue[dict | None] = queue.Queue()
        self._other: deque[str] = deque(maxlen=40)
        self._reader = threading.Thread(target=self._read_stdout, daemon=True)
        self._reader.start()
        self._t_launch = time.perf_counter()
        self._started = False

    def _end(self, kill: bool) -> None:
        """End the session process: ``quit`` (graph complete or none), or a kill of its process group."""
        if self._proc.poll() is None:
            try:
                if kill:
                    raise OSError("kill")
                assert self._proc.stdin is not None
                self._proc.stdin.write(json.dumps({"cmd": "quit"}) + "\n")
                self._proc.stdin.close()
                self._proc.wait(timeout=30)
            except (BrokenPipeError, subprocess.TimeoutExpired, OSError):
                kill_process_group(self._proc)
                self._proc.wait()
        self._err.close()

    def _read_stdout(self) -> None:
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            if line.startswith(REPLY_PREFIX):
                try:
                    self._replies.put(json.loads(line[len(REPLY_PREFIX):]))
                    continue
                except json.JSONDecodeError:
                    pass
            self._other.append(line.rstrip())
        self._replies.put(None)  # the session ended

    def _failure(self, what: str) -> LavaRunFailed:
        code = self._proc.poll()
        self._err.flush()
        self._err.seek(0)
        lines = (self._err.read().strip().splitlines() or list(self._other))[-15:]
        text = "\n".join(lines)
        if "No module named 'lava" in text or "No module named 'had_snn" in text:
            return LavaUnavailable(f"{self._python} cannot run the Lava session ({lines[-1].strip()}); {SETUP_HINT}")
        return LavaRunFailed(f"Lava session {what} (exit {code}):\n{text}")

    def _command(self, cmd: dict, expect: str) -> dict:
        if self._proc.poll() is not None:
            raise self._failure(f"had ended before {cmd['cmd']}")
        assert self._proc.stdin is not None
        try:
            self._proc.stdin.write(json.dumps(cmd) + "\n")
            self._proc.stdin.flush()
        except BrokenPipeError:
            raise self._failure(f"ended before {cmd['cmd']}") from None
        if not self._started:  # the session says "ready" once Python and Lava are imported
            self._answer("start")
            self.timing_s["startup_s"] += time.perf_counter() - self._t_launch
            self._started = True
        answer = self._answer(cmd["cmd"])
        if answer.get("reply") == "error":
            kill_process_group(self._proc)  # Lava's worker processes outlive the session's exit
            self._proc.wait()
            raise LavaRunFailed(f"Lava session: {cmd['cmd']} failed: {answer.get('message')}")
        if answer.get("reply") != expect:
            raise LavaRunFailed(f"Lava session: expected {expect!r} after {cmd['cmd']}, got {answer}")
        return answer

    def _answer(self, what: str) -> dict:
        """The session's next answer; TimeoutError (the session killed) after ``timeout_s``."""
        try:
            answer = self._replies.get(timeout=self.timeout_s)
        except queue.Empty:
            kill_process_group(self._proc)
            raise TimeoutError(f"Lava session: {what} did not finish within {self.timeout_s:g} s") from None
        if answer is None:
            self._proc.wait()
            raise self._failure(f"ended during {what}")
        return answer

    def open(self, net: str | os.PathLike | list[NetxLayer], steps: int) -> None:
        """Build and compile one graph for ``net`` (a netx file or its layers) that will run ``steps`` steps; any
        open graph is closed first."""
        if not isinstance(net, (str, os.PathLike)):
            path = Path(self._dir.name) / "net.h5"
            write_netx(path, net)
            net = path
        answer = self._command({"cmd": "open", "net": str(net), "steps": int(steps)}, "opened")
        self.timing_s["build_s"] += answer["build_s"]
        self.timing_s["start_s"] += answer["start_s"]
        self.steps_open, self.steps_fed = int(steps), 0

    def feed(self, spikes_tchw: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
        """Run the next S steps of input spikes (S, C, H, W); their per-layer spikes (S, C, H, W) bool and read-out
        ``v`` (S, C, H, W) int64."""
        spikes_tchw = np.asarray(spikes_tchw)
        if spikes_tchw.ndim != 4:
            raise ValueError(f"Lava stream input must be (steps, C, H, W), got shape {spikes_tchw.shape}")
        t0 = time.perf_counter()
        self._feeds += 1
        inp, out = Path(self._dir.name) / f"in_{self._feeds}.npy", Path(self._dir.name) / f"out_{self._feeds}.npz"
        np.save(inp, spikes_tchw.astype(np.uint8))
        answer = self._command({"cmd": "feed", "input": str(inp), "output": str(out)}, "fed")
        with np.load(out) as f:
            arrays = {k: f[k] for k in f.files}
        inp.unlink()
        out.unlink()
        self.timing_s["run_s"] += answer["run_s"]
        self.timing_s["io_s"] += time.perf_counter() - t0 - answer["run_s"]
        self.steps_fed = int(answer["done"])
        return layer_spikes(arrays), arrays["v_out"]

    def close(self) -> None:
        """End the open graph. A graph not fed all its steps waits for input and cannot be stopped cleanly in
        Lava 0.10: the session is then killed and a fresh one started (the next :meth:`open` pays its start-up)."""
        if self.steps_fed < self.steps_open:
            self._end(kill=True)
            self._launch()
        else:
            answer = self._command({"cmd": "close"}, "closed")
            self.timing_s["stop_s"] += answer["stop_s"]
        self.steps_open = self.steps_fed = 0

    def shutdown(self) -> None:
        """Stop the session and its graph and remove the temporary folder (again: nothing to do)."""
        self._end(kill=self.steps_fed < self.steps_open)
        self.steps_open = self.steps_fed = 0
        self._dir.cleanup()

    def __enter__(self) -> LavaStream:
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is not None:  # an error or Ctrl-C: do not wait for Lava
            self._end(kill=True)
        self.shutdown()
