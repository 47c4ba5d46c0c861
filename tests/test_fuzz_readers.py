"""The readers under mutation fuzzing (``tests/fuzz_readers.py``): 2000 seeded cases over every format, run in a
subprocess under a 2 GB address-space limit; every case is refused with a message naming the file or decodes into
something the project accepts, none hangs (a watchdog ends a case after ``CASE_TIMEOUT_S``; the run goes on with the
next case) and none takes more memory than the bound. The AEDAT4 reader's own watchdog (dv-processing loops on some
corrupt packets) runs with a 3 s limit here instead of its size-based default."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fuzz_readers import CASE_TIMEOUT_S

CASES, SEED = 2000, 0
AEDAT_WATCHDOG = {"HAD_SNN_AEDAT_TIMEOUT_S": "3"}  # the sample decodes in 0.1 s; a looping dv-processing is ended
LIMIT_BYTES = 2 << 30
ROOT = Path(__file__).resolve().parents[1]


def _limited() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (LIMIT_BYTES, LIMIT_BYTES))


def fuzz(log: Path, cases: int = CASES, seed: int = SEED) -> dict[int, dict]:
    """Run the plan to the end, restarting after a case that ended the process; the last record of every case."""
    records: dict[int, dict] = {}
    ended: dict[int, dict] = {}  # cases that ended the process
    start = 0
    while start < cases:
        proc = subprocess.run([sys.executable, "-m", "tests.fuzz_readers", str(log), "--cases", str(cases),
                               "--seed", str(seed), "--start", str(start)], cwd=ROOT, capture_output=True, text=True,
                              preexec_fn=_limited, timeout=600, env={**os.environ, **AEDAT_WATCHDOG})
        for line in log.read_text().splitlines():
            r = json.loads(line)
            records[r["case"]] = ended.get(r["case"], r)
        last = max(records, default=start - 1)
        if records.get(last, {}).get("outcome") == "start":  # the process ended inside this case
            problem = "hang" if "Timeout" in proc.stderr else f"crash (exit {proc.returncode})"
            ended[last] = records[last] = {**records[last], "outcome": "failure",
                                           "problem": f"{problem}: {proc.stderr[-300:]}"}
        elif proc.returncode != 0:
            pytest.fail(f"the fuzz run failed outside a case (exit {proc.returncode}): {proc.stderr[-2000:]}")
        start = last + 1
    return records


@pytest.mark.slow
def test_readers_survive_mutations(tmp_path: Path) -> None:
    records = fuzz(tmp_path / "fuzz.jsonl")
    assert len(records) == CASES
    failures = [r for r in records.values() if r["outcome"] == "failure"]
    shown = "\n".join(f"case {r['case']} {r['target']} {r['mutation']}: {r['problem']}" for r in failures[:20])
    assert not failures, f"{len(failures)} of {CASES} cases (timeout {CASE_TIMEOUT_S} s):\n{shown}"
    refused = sum(r["outcome"] == "refused" for r in records.values())
    assert 0.2 * CASES < refused < CASES  # the mutations reach the decoders: many refused, some harmless
