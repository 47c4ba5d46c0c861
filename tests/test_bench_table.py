"""The bench table (scripts/bench_table.py): result lines parsed, runs summarised, the README block replaced, and
a real bench run end to end (twice, with the second resuming)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _module():
    spec = importlib.util.spec_from_file_location("bench_table", ROOT / "scripts" / "bench_table.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["bench_table"] = mod
    spec.loader.exec_module(mod)
    return mod


bt = _module()


def _line(what: str, ratio: float, goal: float | None = 2.0) -> str:
    return bt.PREFIX + json.dumps({"what": what, "peer": "P", "peer_s": ratio * 0.01, "ours_s": 0.01, "ratio": ratio,
                                   "unit": "call", "goal": goal, "checked": "outputs equal"})


def test_parse_and_summarise_take_medians_and_ranges() -> None:
    runs = [bt.parse_results(f"noise\n{_line('a', r)}\n{_line('b', 1.0, None)}\n", "x.py") for r in (1.0, 3.0, 2.5)]
    summary = bt.summarise(runs)
    assert [s["what"] for s in summary] == ["a", "b"]
    a = summary[0]
    assert (a["runs"], a["ratio_median"], a["ratio_min"], a["ratio_max"]) == (3, 2.5, 1.0, 3.0)
    assert a["peer_s"] == pytest.approx(0.025) and a["ours_s"] == pytest.approx(0.01)
    assert bt.goal_status(a) == ">= 2x: met"
    assert bt.goal_status({**a, "ratio_median": 1.5}) == ">= 2x: short (75% of it)"
    assert bt.goal_status(summary[1]) == ""
    table = bt.render(summary, {"date": "D", "cpu": "C", "cores": 2, "python": "3", "torch": "t", "commit": "c"}, 3)
    assert "| `x.py` | a | P | 25 ms/call | 10 ms/call | **2.5x** [1-3] | >= 2x: met | outputs equal |" in table
    assert "on D: C, 2 cores" in table


def test_bad_result_lines_are_named() -> None:
    with pytest.raises(ValueError, match="x.py: unreadable result line"):
        bt.parse_results(bt.PREFIX + "{not json", "x.py")
    with pytest.raises(ValueError, match=r"x.py: result line lacks \['goal'"):
        bt.parse_results(bt.PREFIX + json.dumps({"what": "a", "peer": "P", "peer_s": 1, "ours_s": 1, "ratio": 1,
                                                 "unit": "s", "checked": ""}), "x.py")


def test_replace_block_between_markers_only() -> None:
    text = f"top\n{bt.START}\nold\n{bt.END}\nbottom\n"
    assert bt.replace_block(text, "new\n") == f"top\n{bt.START}\nnew\n{bt.END}\nbottom\n"
    for bad in ("no markers", f"{bt.END}\n{bt.START}\n", f"{bt.START}\n{bt.START}\n{bt.END}\n"):
        with pytest.raises(ValueError, match="README: needs one"):
            bt.replace_block(bad, "new\n")


def test_real_bench_into_readme_and_resume(tmp_path: Path, capsys) -> None:
    bench = "bench_sinkhorn.py --batch 2 --tokens 16 --iters 3 --repeats 1"
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n{bt.START}\nold table\n{bt.END}\nafter\n")
    out = tmp_path / "bench"
    assert bt.main(["--bench", bench, "--runs", "2", "--out", str(out), "--readme", str(readme)]) == 0
    saved = json.loads((out / "bench.json").read_text())
    assert [r["key"] for r in saved["runs"]] == [f"0:{bench}", f"1:{bench}"]
    row = saved["runs"][0]["rows"][0]
    assert row["what"] == "batched Sinkhorn, B=2, 16x16, 3 it (cpu)" and row["ratio"] > 0
    text = readme.read_text()
    assert "old table" not in text and text.endswith(f"{bt.END}\nafter\n")
    assert "| `bench_sinkhorn.py --batch 2" in text and "2 run(s) of every bench" in text
    assert (out / "bench.md").read_text() in text
    capsys.readouterr()
    assert bt.main(["--bench", bench, "--runs", "2", "--out", str(out)]) == 0  # nothing left to run
    assert "all 2 run(s) of every bench are done" in capsys.readouterr().out
    assert json.loads((out / "bench.json").read_text())["runs"] == saved["runs"]
    assert bt.main(["--from-json", str(out / "bench.json")]) == 0


def test_failing_bench_stops_with_its_name(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match=r"bench/bench_sinkhorn.py --iters x failed \(exit 2\)"):
        bt.main(["--bench", "bench_sinkhorn.py --iters x", "--out", str(tmp_path)])
    assert not (tmp_path / "bench.json").exists()
