"""tune_malloc: a freed 100 MB array is reused without page faults when on, faulted in afresh by default glibc."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

PROBE = """
import resource, numpy as np
from had_snn.util.malloc import tune_malloc
print(tune_malloc())
a = np.ones(100 << 17); del a
f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
a = np.ones(100 << 17); del a
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0)
"""


def _probe(setting: str) -> tuple[str, int]:
    env = {**os.environ, "HAD_SNN_MALLOC_TUNING": setting}
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True).stdout
    applied, faults = out.split()
    return applied, int(faults)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt is Linux-only")
def test_tuned_malloc_reuses_freed_memory_and_can_be_switched_off() -> None:
    on, off = _probe("1"), _probe("0")
    assert on[0] == "True" and off[0] == "False"
    assert off[1] > 10 * max(on[1], 1), (on, off)  # default glibc maps the second array afresh


def test_tune_malloc_is_applied_once(monkeypatch) -> None:
    from had_snn.util import malloc

    monkeypatch.setattr(malloc, "_applied", None)
    monkeypatch.setenv("HAD_SNN_MALLOC_TUNING", "0")
    assert malloc.tune_malloc() is False
    monkeypatch.setenv("HAD_SNN_MALLOC_TUNING", "1")
    assert malloc.tune_malloc() is False  # decided once per process
