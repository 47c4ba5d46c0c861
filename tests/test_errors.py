"""The one error boundary (had_snn.util.errors.run_guarded), shared by the CLI and the experiment scripts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from had_snn.util.errors import UserError, run_guarded

ROOT = Path(__file__).resolve().parents[1]


def _raise(exc: BaseException):
    def run() -> int:
        raise exc
    return run


def test_expected_failures_are_one_line_and_exit_1(capsys) -> None:
    for exc in (UserError("f.h5: field x: expected a number"), ValueError("bad\nvalue"), FileNotFoundError("gone")):
        assert run_guarded(_raise(exc), "tool", lambda: "tool again") == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("tool: error: ") and "Traceback" not in err
    assert run_guarded(_raise(KeyError("x")), "tool", lambda: "") == 1
    assert capsys.readouterr().err == "tool: error: missing key 'x'\n"


def test_a_bug_is_one_line_internal_error_and_debug_lets_it_through(capsys, monkeypatch) -> None:
    monkeypatch.delenv("HAD_SNN_DEBUG", raising=False)
    assert run_guarded(_raise(ZeroDivisionError("division by zero")), "tool", lambda: "") == 1
    err = capsys.readouterr().err
    assert err.startswith("tool: internal error (ZeroDivisionError): division by zero; rerun with --debug")
    with pytest.raises(ZeroDivisionError):
        run_guarded(_raise(ZeroDivisionError()), "tool", lambda: "", debug=True)
    monkeypatch.setenv("HAD_SNN_DEBUG", "1")
    with pytest.raises(ValueError):
        run_guarded(_raise(ValueError()), "tool", lambda: "")


def test_ctrl_c_says_how_to_continue_and_exits_130(capsys) -> None:
    asked = []
    assert run_guarded(_raise(KeyboardInterrupt()), "tool", lambda: asked.append(1) or "tool --resume") == 130
    assert capsys.readouterr().err == "\ntool: interrupted; finished work is kept. Continue with: tool --resume\n"
    assert run_guarded(lambda: 0, "tool", lambda: asked.append(2) or "") == 0
    assert asked == [1]  # the continuation is asked for only when interrupted
    assert run_guarded(lambda: None, "tool", lambda: "") == 0 and run_guarded(lambda: 3, "tool", lambda: "") == 3


@pytest.mark.parametrize(("script", "argv", "message"), [
    ("experiments/had_table.py", ["--set", "nokey"], "--set: expected KEY=VALUE, got 'nokey'"),
    ("experiments/modality_baselines.py", ["--out", "{tmp}/m", "--sequences", "-5"], "failed with exit code 1"),
])
def test_experiment_scripts_report_user_errors_in_one_line(tmp_path, script, argv, message) -> None:
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    proc = subprocess.run([sys.executable, str(ROOT / script), *argv], capture_output=True, text=True, cwd=tmp_path,
                          timeout=120)
    assert proc.returncode == 1, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith(f"{script}: error: ") and message in last, proc.stderr
    assert "Traceback" not in proc.stderr


def test_interrupt_of_a_command_that_writes_at_the_end(capsys) -> None:
    assert run_guarded(_raise(KeyboardInterrupt()), "tool", lambda: "tool x", resumes=False) == 130
    err = capsys.readouterr().err
    assert "interrupted before its outputs were written" in err and "finished work is kept" not in err
    assert err.rstrip().endswith("run it again: tool x")
