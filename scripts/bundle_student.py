"""Make the student shipped in the package (``had_snn/models/bundled_student.pt``): ``make bundled-student``.

It runs the demo's own ``data`` and ``student`` steps (``experiments/configs/demo.yaml``, seed 0: the synthetic
benchmark and the spiking student without KD, about 2 minutes on 2 cores) into ``runs/bundled-student``, scores the
student on the test split with ``had-snn eval``, and writes its weights, configs and that score (no optimiser state)
atomically. The same command on the same machine writes the same weights.

    .venv/bin/python scripts/bundle_student.py [--out runs/bundled-student]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from had_snn.cli import main as cli
from had_snn.demo.config import CONFIG_DIR, load_demo_config
from had_snn.demo.pipeline import run_steps
from had_snn.demo.steps import build_steps
from had_snn.models.bundled import BUNDLED_COMMAND, BUNDLED_STUDENT
from had_snn.models.checkpoint import load_checkpoint, save_checkpoint
from had_snn.util.errors import script_main

KEEP = ("kind", "model_config", "model", "train_config", "extra_modules")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/bundled-student"), help="run folder of the steps")
    args = parser.parse_args(argv)
    cfg = load_demo_config(CONFIG_DIR / "demo.yaml")
    steps = [s for s in build_steps(cfg, lava=(False, "not needed")) if s.name in ("data", "student")]
    records = {r.name: r.outputs for r in run_steps(steps, args.out)}
    ckpt, data = args.out / records["student"]["checkpoint"], args.out / records["data"]["root"]
    evaluated = args.out / "eval"
    if cli(["eval", "--tracker", f"student={ckpt}", "--data", str(data), "--split", cfg["eval"]["split"],
            "--window-influence", str(cfg["eval"]["window_influence"]), "--out", str(evaluated), "--no-plots",
            "--force"]) != 0:
        return 1
    sr = json.loads((evaluated / "results.json").read_text())["trackers"]["student"]["subsets"]["all"]["SR_AUC"]
    state = load_checkpoint(ckpt)
    bundle = {k: state[k] for k in KEEP if k in state}
    bundle["bundled"] = {"command": BUNDLED_COMMAND, "config": "experiments/configs/demo.yaml (steps data, student)",
                         "seed": int(cfg["seed"]), "test_split": cfg["eval"]["split"],
                         "test_sequences": int(records["data"]["splits"][cfg["eval"]["split"]]),
                         "test_sr": round(100 * float(sr), 2)}
    save_checkpoint(BUNDLED_STUDENT, bundle)
    print(f"wrote {BUNDLED_STUDENT} ({BUNDLED_STUDENT.stat().st_size / 1e3:.0f} kB): SR {100 * sr:.1f} on the "
          f"{cfg['eval']['split']} split of {data}")
    return 0


if __name__ == "__main__":
    script_main(main, "scripts/bundle_student.py")
