"""Ctrl-C is never lost: the latch remembers a SIGINT Python dropped, and synth stops and resumes on one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import weakref
from pathlib import Path

import pytest

from had_snn.util.interrupt import interrupt_latch, raise_if_interrupted


def _finished(root: Path) -> list[Path]:
    """Sequence files written whole (not the hidden temporary files they are written through)."""
    return [p for p in root.glob("*/*.h5") if not p.name.startswith(".")]


class _Obj:
    pass


def test_sigint_dropped_in_weakref_callback_is_raised_again(monkeypatch):
    dropped = []
    monkeypatch.setattr(sys, "unraisablehook", lambda u: dropped.append(u.exc_type))
    obj = _Obj()
    ref = weakref.ref(obj, lambda _r: signal.raise_signal(signal.SIGINT))  # the handler runs inside the callback
    with interrupt_latch():
        del obj  # Python prints "Exception ignored in ..." and drops the KeyboardInterrupt
        assert ref() is None
        assert dropped == [KeyboardInterrupt]
        with pytest.raises(KeyboardInterrupt):
            raise_if_interrupted()
    raise_if_interrupted()  # the latch forgets it once its block ends
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_latch_raises_sigint_as_usual():
    with interrupt_latch(), pytest.raises(KeyboardInterrupt):
        signal.raise_signal(signal.SIGINT)
        time.sleep(1)  # not reached: the handler raises at once


def test_synth_interrupted_stops_with_130_and_resumes(tmp_path: Path):
    out = tmp_path / "bench"
    cmd = [sys.executable, "-m", "had_snn.cli", "synth", "--out", str(out), "--sequences", "200", "--size", "64x48",
           "--duration-s", "2"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 60
    while not _finished(out) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "synth: interrupted; finished work is kept. Continue with:" in err
    assert not (out / "index.json").exists()
    kept = len(_finished(out))
    assert 1 <= kept < 200
    assert not list(out.glob("*/.*.tmp.h5"))  # no partial file left


def test_interrupt_chained_inside_another_error_counts_as_ctrl_c(capsys):
    """A Ctrl-C that lands in a numba kernel comes back as SystemError("... returned a result with an exception
    set") with the KeyboardInterrupt as its cause: the boundary reports the interruption, not an internal error."""
    from had_snn.util.errors import caused_by_interrupt, run_guarded

    def kernel_interrupted():
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as ki:
            raise SystemError("CPUDispatcher(<function run_pixels>) returned a result with an exception set") from ki

    assert run_guarded(kernel_interrupted, "had-snn synth", lambda: "had-snn synth --out X") == 130
    assert "had-snn synth: interrupted; finished work is kept. Continue with: had-snn synth --out X" in (
        capsys.readouterr().err)
    plain = SystemError("a bug")
    assert not caused_by_interrupt(plain)
    try:  # raised while the interrupt was being handled: chained as its context
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt:
            raise OSError("cleanup failed") from None
    except OSError as exc:
        assert exc.__context__ is not None and caused_by_interrupt(exc)

    def bug():
        raise plain

    assert run_guarded(bug, "had-snn synth", lambda: "") == 1
    assert "internal error (SystemError): a bug" in capsys.readouterr().err
