"""The code in README.md and docs/*.md: Python blocks run, had-snn command lines parse, YAML blocks are valid.

- Every fenced ``python`` block runs (in a fresh namespace, the working directory a temporary folder holding a link
  to ``experiments/``) unless the line before it is ``<!-- not run: REASON -->``; such a block must still compile
  and import only names that exist.
- Every ``had-snn ...`` line of a ``bash`` block must be accepted by the CLI's argument parser (the README's tour is
  also run for real, by ``tests/test_tour.py``), so a renamed command or option fails here.
- Every ``yaml`` block must be valid YAML; a ``distill:`` section must pass the training config's distill check.
"""

from __future__ import annotations

import ast
import importlib
import re
import shlex
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
NOT_RUN = re.compile(r"<!-- not run: [^>]+-->\s*$")
SHELL_OPERATORS = {"&&", "||", ";", "|", ">", ">>"}
FENCE = re.compile(r"^```(\w+)[^\n]*\n(.*?)^```\s*$", re.M | re.S)


def code_blocks(lang: str) -> list[tuple[str, bool, str]]:
    """``(where, runnable, code)`` for every fenced block of ``lang`` in the docs; ``where`` is ``file:line``."""
    found = []
    for path in DOCS:
        text = path.read_text()
        for m in FENCE.finditer(text):
            if m.group(1) != lang:
                continue
            before = text[:m.start()].rstrip("\n").rsplit("\n", 1)[-1]
            line = text.count("\n", 0, m.start()) + 1
            found.append((f"{path.relative_to(ROOT)}:{line}", not NOT_RUN.search(before), m.group(2)))
    return found


def cli_lines() -> list[tuple[str, list[str]]]:
    """Every ``had-snn`` command of the docs' bash blocks (continuations joined, comments dropped)."""
    out = []
    for where, _, code in code_blocks("bash"):
        for line in re.sub(r"\\\n\s*", " ", code).splitlines():
            words = shlex.split(line, comments=True)
            cut = [i for i, w in enumerate(words) if w in SHELL_OPERATORS]
            words = words[:cut[0]] if cut else words
            if words and words[0] == "had-snn":
                out.append((where, words[1:]))
    return out


PYTHON = code_blocks("python")


def test_the_docs_have_examples_of_each_kind() -> None:
    assert any(runnable for _, runnable, _ in PYTHON)
    assert len(cli_lines()) >= 20 and code_blocks("yaml")


@pytest.mark.parametrize(("where", "runnable", "code"), PYTHON, ids=[w for w, _, _ in PYTHON])
def test_python_example_runs(where: str, runnable: bool, code: str, tmp_path: Path,
                             monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    if not runnable:  # needs data we do not have: it must still compile and import only names that exist
        tree = ast.parse(code, where)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                module = importlib.import_module(node.module)
                for alias in node.names:
                    assert hasattr(module, alias.name), f"{where}: {node.module} has no {alias.name}"
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    importlib.import_module(alias.name)
        return
    (tmp_path / "experiments").symlink_to(ROOT / "experiments")
    monkeypatch.chdir(tmp_path)
    exec(compile(code, where, "exec"), {"__name__": "__docs_example__"})  # noqa: S102 - our own docs


def test_cli_lines_parse() -> None:
    from had_snn.cli import build_parser

    parser = build_parser()
    for where, argv in cli_lines():
        try:
            parser.parse_args(argv)
        except SystemExit as exc:
            pytest.fail(f"{where}: `had-snn {shlex.join(argv)}` is refused by the CLI (exit {exc.code})")


def test_yaml_examples_are_valid() -> None:
    import yaml

    from had_snn.train.distill_hook import parse_distill_section

    for where, _, code in code_blocks("yaml"):
        raw = yaml.safe_load(code)
        if isinstance(raw, dict) and "distill" in raw:
            parse_distill_section(raw["distill"], f"{where}: distill")
