"""Rows: ``had-snn synth`` options out of range and output folders holding something else (ids ``synth-``)."""

from __future__ import annotations

import json
import shutil

from tests.bad_input_cases import Case, Env

_TINY = ("--sequences", "3", "--split-fractions", "1,1,1", "--size", "32x24", "--duration-s", "0.2", "--fps", "15")


def _argv(**options: str) -> tuple[str, ...]:
    """``synth --out {tmp}/b`` with the tiny options, ``options`` (``duration_s="nan"``) replacing some."""
    args = dict(zip(_TINY[::2], _TINY[1::2], strict=True))
    args.update({f"--{k.replace('_', '-')}": v for k, v in options.items()})
    return ("synth", "--out", "{tmp}/b", *[x for kv in args.items() for x in kv])


def _nothing_written(env: Env) -> None:
    assert not (env.tmp / "b").exists()


def _copy_benchmark(env: Env) -> None:
    shutil.copytree(env.data, env.tmp / "b")


def _stray_file(env: Env) -> None:
    (env.tmp / "b" / "test").mkdir(parents=True)
    (env.tmp / "b" / "test" / "mine.h5").write_bytes(b"someone else's file")


def _benchmark_untouched(env: Env) -> None:
    assert (env.tmp / "b" / "index.json").read_bytes() == (env.data / "index.json").read_bytes()
    assert sorted(p.name for p in (env.tmp / "b").rglob("*.h5")) == sorted(p.name for p in env.data.rglob("*.h5"))


def _old_generator(env: Env) -> None:
    """A copy of the shared benchmark whose index.json says it was made before generator versions existed."""
    shutil.copytree(env.data, env.tmp / "b")
    index = json.loads((env.tmp / "b" / "index.json").read_text())
    del index["generator"]["version"]
    (env.tmp / "b" / "index.json").write_text(json.dumps(index))
    (env.tmp / "index.json.before").write_text(json.dumps(index))


def _old_generator_untouched(env: Env) -> None:
    assert (env.tmp / "b" / "index.json").read_text() == (env.tmp / "index.json.before").read_text()
    assert sorted(p.name for p in (env.tmp / "b").rglob("*.h5")) == sorted(p.name for p in env.data.rglob("*.h5"))


def _stray_kept(env: Env) -> None:
    assert [p.name for p in (env.tmp / "b").rglob("*.h5")] == ["mine.h5"]
    assert not (env.tmp / "b" / "index.json").exists()


def _file_untouched(env: Env) -> None:
    assert (env.tmp / "b").read_text() == "a file\n"


# The shared benchmark {data}: 6 sequences, seed 0, fractions 1,1,1, 64x48 px, 0.3 s at 30 fps.
_SHARED = ("--sequences", "6", "--split-fractions", "1,1,1", "--size", "64x48", "--duration-s", "0.3", "--fps", "30")

CASES = [
    Case("synth-size-zero", _argv(size="0x0"), 1, ("--size", "between 16 and 4096"), check=_nothing_written),
    Case("synth-size-absurd", _argv(size="100000x100000"), 1, ("--size", "100000x100000"), check=_nothing_written),
    Case("synth-size-text", _argv(size="big"), 2, ("--size", "widthxheight"), check=_nothing_written),
    Case("synth-duration-nan", _argv(duration_s="nan"), 1, ("--duration-s", "nan"), check=_nothing_written),
    Case("synth-duration-negative", _argv(duration_s="-1"), 1, ("--duration-s", "(0, 600]"),
         check=_nothing_written),
    Case("synth-fps-inf", _argv(fps="inf"), 1, ("--fps", "inf"), check=_nothing_written),
    Case("synth-fps-above-render", _argv(fps="900"), 1, ("--fps", "half of --render-hz"), check=_nothing_written),
    Case("synth-render-too-low", _argv(render_hz="100"), 1, ("--render-hz", "[1000, 100000]"),
         check=_nothing_written),
    Case("synth-too-few-frames", _argv(duration_s="0.05"), 1, ("--duration-s", "fewer than 2 frames"),
         check=_nothing_written),
    Case("synth-sequences-zero", _argv(sequences="0"), 1, ("--sequences", ">= 1"), check=_nothing_written),
    Case("synth-seed-negative", _argv(seed="-5"), 1, ("--seed", ">= 0"), check=_nothing_written),
    Case("synth-fractions-zero", _argv(split_fractions="0,0,0"), 1, ("--split-fractions", "positive sum"),
         check=_nothing_written),
    Case("synth-workers-zero", _argv(workers="0"), 1, ("--workers",), check=_nothing_written),
    Case("synth-other-seed", ("synth", "--out", "{tmp}/b", *_SHARED, "--seed", "1"), 1,
         ("other settings", "seed 0 (now 1)", "--force"), _copy_benchmark, _benchmark_untouched),
    Case("synth-other-size", ("synth", "--out", "{tmp}/b", *_SHARED[:4], "--size", "80x48", *_SHARED[6:]), 1,
         ("other settings", "width_px 64 (now 80)"), _copy_benchmark, _benchmark_untouched),
    Case("synth-old-generator", ("synth", "--out", "{tmp}/b", *_SHARED), 1,
         ("another synthetic generator", "before generator versions were recorded", "version 2", "--force"),
         _old_generator, _old_generator_untouched),
    Case("synth-stray-file", _argv(), 1, ("test/mine.h5", "--force"), _stray_file, _stray_kept),
    Case("synth-out-is-file", _argv(), 1, ("is a file",),
         lambda env: (env.tmp / "b").write_text("a file\n"), _file_untouched),
]
