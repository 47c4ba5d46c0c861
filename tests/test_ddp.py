"""DDP: the training entry point under torchrun with 2 CPU processes (gloo) ends with identical weights."""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

CONFIGS = Path(__file__).resolve().parents[1] / "experiments" / "configs"

WORKER = textwrap.dedent("""
    import os, sys, torch
    from had_snn.data.synthetic import SynthConfig, generate_sequence
    from had_snn.train.config import load_config
    from had_snn.train.loop import train
    torch.set_num_threads(1)
    out, config = sys.argv[1], sys.argv[2]
    seqs = [generate_sequence(SynthConfig(width_px=96, height_px=72, duration_s=0.5), seed=i, attributes=(),
                              name=f"s{i}") for i in range(2)]
    cfg = load_config(config, {"epochs": 1, "data": {"samples_per_epoch": 16, "max_gap": 4,
                                                      "crop": {"student_steps": 4}}})
    run = train(cfg, out + "/run", seqs, device="cpu", progress=False)
    params = {k: v.detach().clone() for k, v in run.model.named_parameters()}
    torch.save({"params": params, "steps": [r["step"] for r in run.history]}, f"{out}/rank{os.environ['RANK']}.pt")
""")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_cpu_ranks_end_with_identical_weights(tmp_path: Path) -> None:
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_addr=127.0.0.1",
           f"--master_port={free_port()}", str(script), str(tmp_path), str(CONFIGS / "tiny_student.yaml")]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(2)]
    assert ranks[0]["steps"] == ranks[1]["steps"] == [2]  # 16 samples / (batch 4 x 2 ranks)
    assert ranks[0]["params"].keys() == ranks[1]["params"].keys()
    for k, v in ranks[0]["params"].items():
        assert torch.equal(v, ranks[1]["params"][k]), k
    ckpt = torch.load(tmp_path / "run" / "last.pt", weights_only=True)
    initial = _initial_params()
    assert any(not torch.equal(v, initial[k]) for k, v in ranks[0]["params"].items())  # training moved them
    for k, v in ranks[0]["params"].items():
        assert torch.equal(v, ckpt["model"][k]), k


def _initial_params() -> dict[str, torch.Tensor]:
    from had_snn.models import build_model
    from had_snn.train.config import load_config

    cfg = load_config(CONFIGS / "tiny_student.yaml")
    torch.manual_seed(cfg.seed)
    return dict(build_model("student", **cfg.model_config).named_parameters())
