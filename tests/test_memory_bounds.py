"""Inputs that would allocate far more than the machine has are refused first: run under a 2 GB address-space limit
(``RLIMIT_AS``, in a subprocess), each must end in a one-line ``had-snn CMD: error:`` naming the option or file,
never a MemoryError or the kernel's OOM killer."""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.bad_input_cases import Env
from tests.bad_input_cases.hostile import _huge_weight

LIMIT_BYTES = 2 << 30


def _limited() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (LIMIT_BYTES, LIMIT_BYTES))


def _events(path: Path) -> None:
    rng = np.random.default_rng(0)
    ev = np.zeros(20_000, dtype=[("t", "<i8"), ("x", "<u2"), ("y", "<u2"), ("p", "u1")])
    ev["t"] = np.sort(rng.integers(0, 590_000, len(ev)))
    ev["x"], ev["y"], ev["p"] = rng.integers(0, 64, len(ev)), rng.integers(0, 48, len(ev)), rng.integers(0, 2, len(ev))
    np.save(path, ev)


CASES = {
    "track-rate-1e9": (["track", "{tmp}/ev.npy", "--sensor", "64", "48", "--init", "10", "10", "8", "8", "--rate-hz",
                        "1e9", "--no-progress", "--out", "{tmp}/o"], ("--rate-hz", "output times")),
    "show-sensor-100000": (["show", "{tmp}/ev.npy", "--sensor", "100000", "100000", "--out", "{tmp}/x.png"],
                           ("--sensor", "1..16384")),
    "show-sensor-area": (["show", "{tmp}/ev.npy", "--sensor", "16384", "16384", "--out", "{tmp}/x.png"],
                         ("16777216",)),
    "track-video-sensor-area": (["track", "{tmp}/ev.npy", "--sensor", "16384", "4096", "--init", "10", "10", "8", "8",
                                 "--video", "{tmp}/v.gif", "--no-progress", "--out", "{tmp}/o"], ("pixels",)),
    "deploy-netx-6000x6000x3x3": (["deploy", "{tmp}/cv", "--input", "{tmp}/win.npz"], ("'weight'", "6000")),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_refused_within_2_gb(case: str, tmp_path: Path) -> None:
    _events(tmp_path / "ev.npy")
    _huge_weight(Env(tmp=tmp_path, data=tmp_path, student=tmp_path, teacher=tmp_path, seq=tmp_path))
    argv, words = CASES[case]
    code = "import sys; from had_snn.cli import main; sys.exit(main(sys.argv[1:]))"
    proc = subprocess.run([sys.executable, "-c", code, *(a.format(tmp=tmp_path) for a in argv)], capture_output=True,
                          text=True, preexec_fn=_limited, timeout=120)
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("had-snn ")]
    assert proc.returncode == 1, f"exit {proc.returncode}: {proc.stderr[-2000:]}"
    assert lines and ": error: " in lines[-1], proc.stderr[-2000:]
    assert "MemoryError" not in proc.stderr and "Traceback" not in proc.stderr and "internal error" not in lines[-1]
    for word in words:
        assert word in lines[-1], (word, lines[-1])
