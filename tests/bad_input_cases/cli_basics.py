"""Rows: options argparse itself must refuse (usage errors exit 2 with the option named)."""

from tests.bad_input_cases import Case

CASES = [
    Case("eval-no-tracker", ("eval", "--data", "{data}", "--out", "{tmp}/ev"), 2, ("--tracker",)),
    Case("train-unknown-kind", ("train", "robot", "--config", "x.yaml"), 2, ("invalid choice",)),
]
