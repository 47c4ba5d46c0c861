"""The small spiking student shipped with the package: ``had-snn track`` uses it when no ``--checkpoint`` is given.

It is the demo's no-KD student (seed 0), trained on the synthetic benchmark by ``make bundled-student``
(``scripts/bundle_student.py``), stripped to its weights, configs and where it came from. It tracks the synthetic
benchmark's targets at the demo's level; on other recordings it is a first look, not a trained tracker.
"""

from __future__ import annotations

from pathlib import Path

BUNDLED_STUDENT = Path(__file__).resolve().parent / "bundled_student.pt"
BUNDLED_COMMAND = "make bundled-student"


def bundled_student() -> Path:
    """The bundled checkpoint's path; FileNotFoundError saying how to make it when the package lacks it."""
    if not BUNDLED_STUDENT.is_file():
        raise FileNotFoundError(f"the bundled student {BUNDLED_STUDENT} is missing; make it with `{BUNDLED_COMMAND}` "
                                "or give --checkpoint CKPT")
    return BUNDLED_STUDENT


def bundled_description(state: dict) -> str:
    """One line on what the bundled student is, from the ``bundled`` record its checkpoint carries."""
    b = state.get("bundled") or {}
    sr = b.get("test_sr")
    score = f", SR {sr:.1f} on its test split" if isinstance(sr, (int, float)) else ""
    return (f"the bundled student (trained on the synthetic benchmark by `{b.get('command', BUNDLED_COMMAND)}`{score}; "
            "a first look: train your own with `had-snn train` for real use)")
