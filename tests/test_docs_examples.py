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


def check_demo_fragment(fragment: dict, where: str, tmp_path: Path) -> None:
    """A demo-config fragment (``train:`` overrides ...) merged onto the quick demo config must load."""
    import yaml

    from had_snn.demo.config import deep_merge, load_demo_config

    configs = ROOT / "experiments" / "configs"
    base = yaml.safe_load((configs / "demo.yaml").read_text())
    for spec in base["train"].values():  # the merged file lives elsewhere: training configs by absolute path
        if "config" in spec:
            spec["config"] = str(configs / spec["config"])
    path = tmp_path / f"docs_fragment_{abs(hash(where))}.yaml"
    path.write_text(yaml.safe_dump(deep_merge(base, fragment)))
    load_demo_config(path)


def test_yaml_examples_are_valid(tmp_path: Path) -> None:
    """Every YAML block is a section of one of the project's configs and passes that config's own check; a block
    no check knows fails, so a docs example can never go unchecked."""
    import yaml

    from had_snn.train.activity import check_activity
    from had_snn.train.distill_hook import parse_distill_section

    checks = {
        "distill": lambda raw, where: parse_distill_section(raw["distill"], f"{where}: distill"),
        "activity": lambda raw, where: check_activity(raw["activity"]),
        "train": lambda raw, where: check_demo_fragment(raw, where, tmp_path),
    }
    blocks = code_blocks("yaml")
    assert blocks
    for where, _, code in blocks:
        raw = yaml.safe_load(code)
        assert isinstance(raw, dict) and len(raw) == 1 and next(iter(raw)) in checks, (
            f"{where}: a YAML example must be one section of a config this test checks ({sorted(checks)}), got "
            f"{sorted(raw) if isinstance(raw, dict) else type(raw).__name__}")
        checks[next(iter(raw))](raw, where)


def test_yaml_check_refuses_a_bad_example(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        check_demo_fragment({"train": {"student_had_qat": {"overrides": {"epochs": -1}}}}, "bad", tmp_path)
