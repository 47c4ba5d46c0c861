"""The README's CLI tour, run as written at tiny sizes: a renamed command, option or output file fails here.

The tour is the fenced block after the ``<!-- tour: ... -->`` comment in README.md. Every ``had-snn`` line of it
(continuation lines joined, comments dropped) runs in-process through :func:`had_snn.cli.main`, in order, with the
working directory a temporary folder that holds only a link to ``experiments/``. The only changes to the README's
lines, all listed in :data:`TINY`:

- each command gets a few size options appended (argparse keeps the last value): 6 short 96x72 px sequences (2 per
  split, so ``compare`` has 2 test sequences to bootstrap), one epoch of training, one search window for Lava;
- ``experiments/configs/NAME.yaml`` becomes a copy of ``experiments/configs/tiny_NAME.yaml`` (same keys, tiny
  widths) with ``demo_tiny.yaml``'s crops (32/64 px, T = 4) and, for students, the spiking threshold lowered to
  :data:`STUDENT_THRESHOLD` so that a student trained for one epoch spikes and can be converted;
- ``track`` follows the synthetic test sequence from its first ground-truth box instead of the README's real
  ``sample.aedat4`` recording (not shipped) and its box.

After each command the files the README's "what it writes" table promises for it must exist in its output (``--out``,
or the default the README relies on), and the Lava lines are skipped only where ``.venv-lava`` is missing.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
TOUR_MARK = "<!-- tour:"
# Options appended to each command (the tour's own values are what users run; these make it take seconds).
TINY: dict[str, list[str]] = {
    "synth": ["--sequences", "6", "--split-fractions", "1,1,1", "--size", "96x72", "--duration-s", "0.3"],
    "train": ["--epochs", "1", "--val-sequences", "1", "--no-progress", "--device", "cpu"],
    "windows": ["--frames", "1"],
    "track": ["--no-progress"],
}
STUDENT_THRESHOLD = 0.1
CROP_PX = {"template_px": 32, "search_px": 64}  # as demo_tiny.yaml
STUDENT_STEPS = 4
FILE_TOKEN = re.compile(r"^(?:OUT/)?[A-Za-z0-9_.-]+\.(?:json|md|png|pt|h5|nir|npz|txt|csv|yaml|gif)$")


def tour_commands(text: str) -> list[list[str]]:
    """The ``had-snn`` command lines of the README's tour block, as argument lists (without ``had-snn``)."""
    if text.count(TOUR_MARK) != 1:
        raise AssertionError(f"README.md must hold exactly one '{TOUR_MARK} ...' comment before the tour block")
    block = text.split(TOUR_MARK, 1)[1].split("```bash\n", 1)[1].split("\n```", 1)[0]
    joined = re.sub(r"\\\n\s*", " ", block)
    commands = []
    for line in joined.splitlines():
        words = shlex.split(line, comments=True)
        if words and words[0] == "had-snn":
            commands.append(words[1:])
    return commands


def promised_files(text: str) -> dict[str, list[str]]:
    """Command -> the file names its row of the README's "command | what it writes" table puts in backticks."""
    table = text.split("| command | what it writes |", 1)[1].split("\n\n", 1)[0]
    rows: dict[str, list[str]] = {}
    for line in table.splitlines()[2:]:
        cells = line.strip("|").split("|", 1)
        names = re.findall(r"`([^`]+)`", cells[0])
        files = [t for t in re.findall(r"`([^`]+)`", cells[1]) if FILE_TOKEN.match(t)]
        for name in names:
            rows[name] = files
    return rows


def _option(argv: list[str], name: str) -> str | None:
    values = [argv[i + 1] for i, a in enumerate(argv[:-1]) if a == name]
    return values[-1] if values else None


def _tiny_config(name: str) -> str:
    """The tiny twin of ``experiments/configs/NAME.yaml``, written beside the run (students spike more easily)."""
    import yaml

    twin = ROOT / "experiments" / "configs" / f"tiny_{name}.yaml"
    assert twin.is_file(), f"no tiny twin {twin} of the tour's experiments/configs/{name}.yaml"
    raw = yaml.safe_load(twin.read_text())
    raw.setdefault("model_config", {}).update(CROP_PX)
    raw.setdefault("data", {}).setdefault("crop", {}).update(CROP_PX)
    if raw.get("model") == "student":
        raw["model_config"]["threshold"] = STUDENT_THRESHOLD
        raw["data"]["crop"]["student_steps"] = STUDENT_STEPS
    path = Path("tiny-configs") / f"{name}.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(yaml.safe_dump(raw))
    return str(path)


def _tiny(argv: list[str], seq: Path | None) -> list[str]:
    """The README's command with the test's size options and substitutions (see the module docstring)."""
    out = []
    for word in argv:
        m = re.fullmatch(r"experiments/configs/(\w+)\.yaml", word)
        out.append(_tiny_config(m.group(1)) if m else word)
    if out[0] == "track":
        assert seq is not None and out[1] == "sample.aedat4", f"the tour's track line changed: {argv}"
        from had_snn.data.io import read_sequence

        box = read_sequence(seq, load_frames=False).boxes[0]
        i = out.index("--init")
        out[1] = str(seq)
        out[i + 1:i + 5] = [f"{v:g}" for v in box]
    return out + TINY.get(out[0], [])


def _output(argv: list[str]) -> Path | None:
    """Where a command's files go: --out, or the default the tour relies on (deploy: NET/deploy_<backend> or
    NET/deploy_compare, then _stream in stream mode)."""
    from had_snn.commands.deploy import default_out_name

    out = _option(argv, "--out")
    if out is None and argv[0] == "deploy":
        backend = "compare" if "--compare" in argv else (_option(argv, "--backend") or "emulator")
        out = f"{argv[1]}/{default_out_name(backend, _option(argv, '--mode') or 'reset')}"
    return Path(out) if out is not None else None


def _row(argv: list[str], rows: dict[str, list[str]]) -> str:
    """The table row of a command: the longest row name (``deploy --compare`` before ``deploy``) whose words it has."""
    fits = [name for name in rows if name.split()[0] == argv[0] and set(name.split()[1:]) <= set(argv)]
    assert fits, f"`had-snn {argv[0]}` runs in the tour but has no row in the README's output table"
    return max(fits, key=len)


def _check_outputs(argv: list[str], rows: dict[str, list[str]]) -> None:
    row = _row(argv, rows)
    out = _output(argv)
    if out is None:
        return
    assert out.exists(), f"had-snn {shlex.join(argv)}: wrote no {out}"
    if out.is_file():
        return
    for name in rows[row]:
        found = (out / name[4:]).exists() if name.startswith("OUT/") else any(out.rglob(name))
        assert found, f"had-snn {shlex.join(argv)}: the README says it writes {name}, not found under {out}"
    video = _option(argv, "--video")
    if video:
        assert Path(video).stat().st_size > 0


def test_tour_parser_reads_the_block() -> None:
    text = README.read_text()
    commands = tour_commands(text)
    assert [c[0] for c in commands][:3] == ["synth", "show", "info"]
    assert {"train", "eval", "windows", "convert", "deploy", "energy", "track"} <= {c[0] for c in commands}
    rows = promised_files(text)
    assert "last.pt" in rows["train"] and "student.h5" in rows["convert"] and "OUT/index.json" in rows["synth"]
    assert _row(["deploy", "NET", "--compare"], rows) == "deploy --compare"
    assert _row(["deploy", "NET"], rows) == "deploy"
    with pytest.raises(AssertionError, match="no row"):
        _row(["nonesuch"], rows)


@pytest.mark.slow
def test_readme_tour_runs_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture) -> None:
    from had_snn.cli import main
    from had_snn.hardware.deploy import lava_available

    text = README.read_text()
    rows = promised_files(text)
    (tmp_path / "experiments").symlink_to(ROOT / "experiments")
    monkeypatch.chdir(tmp_path)
    lava_ok, lava_why = lava_available()
    seq: Path | None = None
    ran = []
    for argv in tour_commands(text):
        argv = _tiny(argv, seq)
        uses_lava = _option(argv, "--backend") == "lava" or (argv[0] == "deploy" and "--compare" in argv)
        if uses_lava and not lava_ok:
            print(f"skipped (no Lava: {lava_why}): had-snn {shlex.join(argv)}")
            continue
        code = main(argv)
        captured = capsys.readouterr()
        assert code == 0, f"had-snn {shlex.join(argv)} exited {code}: {captured.err.strip()[-2000:]}"
        _check_outputs(argv, rows)
        if argv[0] == "synth":
            index = json.loads((Path(_option(argv, "--out")) / "index.json").read_text())
            seq = Path(_option(argv, "--out")) / "test" / f"{index['splits']['test'][0]}.h5"
        ran.append(argv[0])
    assert ran.count("train") == 4 and ran.count("eval") == 3 + lava_ok and ran.count("track") == 2
    from had_snn.models.bundled import BUNDLED_STUDENT  # the track line without --checkpoint: the shipped student

    assert json.loads(Path("runs/track_first/track.json").read_text())["checkpoint"] == str(BUNDLED_STUDENT)
    results = json.loads(Path("runs/eval/results.json").read_text())
    assert {"static", "teacher", "student", "student_had", "student_had_qat", "student_had_loihi",
            "student_had_loihi_stream"} <= set(results["trackers"])
    if lava_ok:  # the streaming tracker with its network in Lava: the emulated stream tracker's boxes
        boxes = Path("runs/eval/boxes")
        lava_boxes = sorted((boxes / "student_had_lava_stream").glob("*.txt"))
        assert lava_boxes and all(
            p.read_text() == (boxes / "student_had_loihi_stream" / p.name).read_text() for p in lava_boxes)
    energy = json.loads(Path("runs/energy/report.json").read_text())  # deploy's counts of both modes, side by side
    assert set(energy["modes"]) == {"reset", "stream"} and energy["mode"] == energy["chip_mode"] == "stream"
    # the teacher (--teacher) billed compute-only and with memory access; the like-for-like rows and the paragraph
    assert energy["energy"]["ann_45nm_memory"]["memory_uj"] > 0 and energy["headline"]["mode"] == "stream"
    assert any(c["like_for_like"] for c in energy["comparisons"]) and energy["explanation"]["text"]
    stray = sorted(p.name for p in tmp_path.iterdir())
    assert stray == ["data", "experiments", "runs", "tiny-configs"], f"the tour wrote outside data/ and runs/: {stray}"


def test_output_check_fails_when_a_promised_file_is_missing(tmp_path: Path) -> None:
    rows = promised_files(README.read_text())
    out = tmp_path / "run"
    out.mkdir()
    for name in rows["train"]:
        (out / name.removeprefix("OUT/")).write_text("x")
    _check_outputs(["train", "student", "--out", str(out)], rows)
    (out / "best.pt").unlink()
    with pytest.raises(AssertionError, match="the README says it writes best.pt"):
        _check_outputs(["train", "student", "--out", str(out)], rows)
    with pytest.raises(AssertionError, match="wrote no"):
        _check_outputs(["deploy", str(tmp_path / "net"), "--compare"], rows)
