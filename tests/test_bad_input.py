"""The bad-input table: every row runs the real CLI in-process and checks exit code, message and folder state.

No row may end in a Python traceback: an exception escaping ``had_snn.cli.main`` fails the row. Rows live in
``tests/bad_input_cases/<area>.py``.
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

import pytest

import tests.bad_input_cases as cases_pkg
from had_snn.cli import main
from tests.bad_input_cases import Case, Env


def _all_cases() -> list[Case]:
    rows: list[Case] = []
    for mod in sorted(pkgutil.iter_modules(cases_pkg.__path__), key=lambda m: m.name):
        rows.extend(importlib.import_module(f"tests.bad_input_cases.{mod.name}").CASES)
    ids = [c.id for c in rows]
    assert len(ids) == len(set(ids)), "duplicate case ids"
    return rows


CASES = _all_cases()


@pytest.fixture(scope="session")
def shared(tmp_path_factory, firing_tiny_student) -> dict[str, Path]:
    import torch

    from had_snn.data.benchmark import build_benchmark
    from had_snn.data.dataset import split_paths
    from had_snn.data.synthetic import SynthConfig
    from had_snn.models import build_model
    from had_snn.models.checkpoint import model_state, save_checkpoint

    root = tmp_path_factory.mktemp("bad_input_shared")
    data = root / "data"
    build_benchmark(data, 6, 0, (1, 1, 1), SynthConfig(width_px=64, height_px=48, duration_s=0.3, fps=30),
                    progress=False)
    student = firing_tiny_student(root / "student" / "last.pt")
    torch.manual_seed(0)
    teacher = build_model("teacher", widths=(4, 8, 8), head_channels=8, search_px=32, template_px=16)
    (root / "teacher").mkdir()
    save_checkpoint(root / "teacher" / "last.pt", model_state(teacher))
    return {"data": data, "student": student, "teacher": root / "teacher" / "last.pt",
            "seq": split_paths(data, "test")[0]}


def test_enough_rows() -> None:
    assert len(CASES) >= 60, f"the bad-input table has {len(CASES)} rows; the table must keep at least 60"


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, shared: dict[str, Path], tmp_path: Path, capsys) -> None:
    env = Env(tmp=tmp_path, **shared)
    if case.setup:
        case.setup(env)
    argv = [a.format(tmp=env.tmp, data=env.data, student=env.student, teacher=env.teacher, seq=env.seq)
            for a in case.argv]
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse usage errors
        code = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    assert code == case.code, f"exit {code}, expected {case.code}\nstdout: {out}\nstderr: {err}"
    if case.code != 0:
        lines = [ln for ln in err.splitlines() if ln.startswith("had-snn")]
        assert lines, f"no 'had-snn ...' error line in stderr: {err!r}"
        text = lines[-1].lower()
        assert "internal error" not in text, f"an expected failure reported as a bug: {text!r}"
    else:
        text = (out + err).lower()
    for word in case.words:
        assert word.lower() in text, f"{word!r} not in {text!r}"
    if case.check:
        case.check(env)
