"""``had-snn train`` owns its run folder: refusals leave it byte-identical, --force starts fresh, a held lock is
refused, Ctrl-C names the resume command, validation every epoch keeps best.pt, and a kill between the checkpoint,
best.pt and metrics writes is repaired on resume."""

from __future__ import annotations

import json
import shlex
import time
from pathlib import Path

import pytest
import torch

from had_snn.cli import main
from had_snn.models.checkpoint import load_checkpoint, load_model
from had_snn.train import loop
from had_snn.train.config import load_config
from had_snn.util.runlock import LOCK_NAME, run_folder_lock

CONFIG = Path(__file__).resolve().parents[1] / "experiments" / "configs" / "tiny_student.yaml"


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    """A tiny benchmark: train / val / test with 2 sequences each, 64x48 px, 0.3 s."""
    from had_snn.data.benchmark import build_benchmark
    from had_snn.data.synthetic import SynthConfig

    root = tmp_path_factory.mktemp("train_runs") / "data"
    build_benchmark(root, 6, 0, (1, 1, 1), SynthConfig(width_px=64, height_px=48, duration_s=0.3, fps=30),
                    progress=False)
    return root


@pytest.fixture(autouse=True)
def one_thread() -> None:
    torch.set_num_threads(1)


def argv(data: Path, out: Path, *extra: str) -> list[str]:
    return ["train", "student", "--config", str(CONFIG), "--data", str(data), "--out", str(out), "--no-progress",
            *extra]


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def metrics(folder: Path) -> list[dict]:
    return json.loads((folder / "metrics.json").read_text())


def test_finished_run_has_val_and_best_and_refuses_a_second_train(data: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    assert main(argv(data, out, "--val-sequences", "2")) == 0
    assert "val SR" in capsys.readouterr().out
    rows = metrics(out)
    assert [r["epoch"] for r in rows] == [1, 2]
    assert all(0.0 <= r["val_sr"] <= 1.0 for r in rows)
    assert "val_sr" in (out / "metrics.csv").read_text().splitlines()[0].split(",")
    best = load_checkpoint(out / "best.pt")
    best_row = max(rows, key=lambda r: r["val_sr"])
    assert best["epoch"] == best_row["epoch"] and best["val_sr"] == best_row["val_sr"]
    assert len(best["val_names"]) == 2
    assert load_checkpoint(out / "last.pt")["best"]["epoch"] == best["epoch"]
    from had_snn.data.dataset import load_split

    cfg = load_config(out / "config.yaml")  # best.pt holds the weights that scored best_row's val_sr
    val = load_split(data, "val", load_frames=False)[:2]
    assert loop.validate(load_model(out / "best.pt"), val, cfg.data.crop_config()) == best_row["val_sr"]
    assert not (out / LOCK_NAME).exists()

    before = snapshot(out)
    assert main(argv(data, out, "--val-sequences", "2")) == 1
    err = capsys.readouterr().err
    assert "finished run" in err and "--resume" in err and "--force" in err
    assert snapshot(out) == before
    # --resume of a finished run trains nothing and changes nothing
    assert main(argv(data, out, "--val-sequences", "2", "--resume")) == 0
    assert snapshot(out) == before


def test_refused_resume_leaves_the_folder_untouched(data: Path, tmp_path: Path, capsys) -> None:
    missing = tmp_path / "never"
    assert main(argv(data, missing, "--resume")) == 1
    assert "nothing to resume" in capsys.readouterr().err
    assert not missing.exists()

    out = tmp_path / "run"
    assert main(argv(data, out, "--epochs", "1", "--val-sequences", "0")) == 0
    before = snapshot(out)
    other = tmp_path / "other.yaml"
    other.write_text(CONFIG.read_text().replace("lr: 3.0e-3", "lr: 1.0e-2"))
    assert main(["train", "student", "--config", str(other), "--data", str(data), "--out", str(out), "--resume",
                 "--val-sequences", "0"]) == 1
    err = capsys.readouterr().err
    assert "differs" in err and "lr" in err
    assert snapshot(out) == before
    # validating on other sequences than the run did is refused too, before anything is written
    assert main(argv(data, out, "--resume", "--epochs", "2", "--val-sequences", "1")) == 1
    assert "validated on 0 sequence(s)" in capsys.readouterr().err
    assert snapshot(out) == before
    # the same config with more epochs continues
    assert main(argv(data, out, "--resume", "--epochs", "2", "--val-sequences", "0")) == 0
    assert [r["epoch"] for r in metrics(out)] == [1, 2]


def test_a_locked_folder_is_refused(data: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    with run_folder_lock(out):
        assert main(argv(data, out, "--epochs", "1")) == 1
        assert "in use by another had-snn run" in capsys.readouterr().err
        assert sorted(p.name for p in out.iterdir()) == [LOCK_NAME]


def test_force_starts_fresh(data: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    assert main(argv(data, out, "--val-sequences", "1")) == 0
    assert (out / "best.pt").is_file()
    (out / "notes.txt").write_text("mine")
    orphan = out / ".last.k3j9x0qa.tmp.pt"  # what a kill during an atomic checkpoint write leaves
    orphan.write_bytes(b"half")
    assert main(argv(data, out, "--epochs", "1", "--val-sequences", "0", "--force")) == 0
    assert not orphan.exists()
    assert [r["epoch"] for r in metrics(out)] == [1]
    assert "val_sr" not in metrics(out)[0]
    assert not (out / "best.pt").exists()  # the old run's best model does not survive beside the new run
    assert load_checkpoint(out / "last.pt")["epoch"] == 1
    assert "epochs: 1" in (out / "config.yaml").read_text()
    assert (out / "notes.txt").read_text() == "mine"  # files that are not run files are left alone


def test_ctrl_c_prints_where_it_stopped_and_the_resume_command(data: Path, tmp_path: Path, capsys,
                                                              monkeypatch) -> None:
    out = tmp_path / "run"
    real_loss, calls = loop.tracking_loss, {"n": 0}

    def interrupt_at_step_6(*a, **k):
        calls["n"] += 1
        if calls["n"] == 6:
            raise KeyboardInterrupt
        return real_loss(*a, **k)

    monkeypatch.setattr(loop, "tracking_loss", interrupt_at_step_6)
    assert main(argv(data, out, "--val-sequences", "1")) == 130
    err = capsys.readouterr().err
    assert "stopped in epoch 2/2 at step 5" in err
    assert f"the last checkpoint {out / 'last.pt'} holds epoch 1 (step 4)" in err
    hint = err.split("Continue with: ")[1].strip()
    assert hint.endswith("--resume") and f"--out {out}" in hint and "--val-sequences 1" in hint
    assert not (out / LOCK_NAME).exists()
    monkeypatch.setattr(loop, "tracking_loss", real_loss)
    assert main(shlex.split(hint)[1:]) == 0
    assert [r["step"] for r in metrics(out)] == [4, 8]
    assert load_checkpoint(out / "best.pt")["epoch"] == max(metrics(out), key=lambda r: r["val_sr"])["epoch"]


def test_ctrl_c_before_the_first_checkpoint_reruns_the_same_command(data: Path, tmp_path: Path, capsys,
                                                                   monkeypatch) -> None:
    out = tmp_path / "run"

    def interrupt(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(loop, "tracking_loss", interrupt)
    assert main(argv(data, out, "--epochs", "1", "--val-sequences", "0")) == 130
    err = capsys.readouterr().err
    assert "no checkpoint was written yet" in err
    hint = err.split("Continue with: ")[1].strip()
    assert "--resume" not in hint
    monkeypatch.undo()
    assert main(shlex.split(hint)[1:]) == 0  # the folder holds only this run's config.yaml: not refused


class Killed(Exception):
    """Stands for the process dying at that point."""


def test_kill_after_the_checkpoint_before_the_metrics_is_repaired_on_resume(data: Path, tmp_path: Path,
                                                                            monkeypatch) -> None:
    cfg = load_config(CONFIG, {"epochs": 3, "data": {"dir": str(data), "samples_per_epoch": 8, "max_gap": 4,
                                                     "crop": {"student_steps": 4}}})
    from had_snn.data.dataset import load_split

    seqs, val = load_split(data, "train", load_frames=False), load_split(data, "val", load_frames=False)[:1]
    out = tmp_path / "run"
    real_write = loop.write_metrics

    def die_at_epoch_2(folder: Path, history: list[dict]) -> None:
        if len(history) == 2:
            raise Killed
        real_write(folder, history)

    monkeypatch.setattr(loop, "write_metrics", die_at_epoch_2)
    with pytest.raises(Killed):
        loop.train(cfg, out, seqs, progress=False, val_sequences=val)
    assert load_checkpoint(out / "last.pt")["epoch"] == 2
    assert [r["epoch"] for r in metrics(out)] == [1]  # behind, never ahead of the checkpoint
    monkeypatch.setattr(loop, "write_metrics", real_write)
    # a metrics row the checkpoint does not know (e.g. written by hand) is dropped on resume
    real_write(out, metrics(out) + [{"epoch": 9, "step": 99}, {"epoch": 10, "step": 100}])
    history = loop.train(cfg, out, seqs, progress=False, val_sequences=val, resume=True).history
    assert [r["epoch"] for r in history] == [1, 2, 3]
    assert metrics(out) == json.loads(json.dumps(history))
    assert (out / "metrics.csv").read_text().count("\n") == 4


def test_kill_between_last_and_best_rewrites_best_on_resume(data: Path, tmp_path: Path, monkeypatch) -> None:
    cfg = load_config(CONFIG, {"epochs": 2, "data": {"dir": str(data), "samples_per_epoch": 8, "max_gap": 4,
                                                     "crop": {"student_steps": 4}}})
    from had_snn.data.dataset import load_split

    seqs, val = load_split(data, "train", load_frames=False), load_split(data, "val", load_frames=False)[:1]
    out = tmp_path / "run"

    def die(*a, **k):
        raise Killed

    monkeypatch.setattr(loop, "_save_best", die)
    with pytest.raises(Killed):
        loop.train(cfg, out, seqs, progress=False, val_sequences=val)
    monkeypatch.undo()
    state = load_checkpoint(out / "last.pt")
    assert state["epoch"] == 1 and state["best"]["epoch"] == 1
    assert not (out / "best.pt").exists() and not (out / "metrics.json").exists()
    loop.train(cfg, out, seqs, progress=False, val_sequences=val, resume=True)
    rows = metrics(out)
    assert [r["epoch"] for r in rows] == [1, 2]
    best = load_checkpoint(out / "best.pt")
    assert best["epoch"] == max(rows, key=lambda r: r["val_sr"])["epoch"]
    if best["epoch"] == 1:  # restored from epoch 1's checkpoint: the weights trained in epoch 1
        torch.testing.assert_close(best["model"], state["model"])


DDP_WORKER = """
import json, os, sys, torch
from had_snn.data.dataset import load_split
from had_snn.train.config import load_config
from had_snn.train.loop import train
torch.set_num_threads(1)
out, config, data = sys.argv[1:4]
cfg = load_config(config, {"epochs": 2, "data": {"samples_per_epoch": 16, "max_gap": 4,
                                                  "crop": {"student_steps": 4}}})
run = train(cfg, out + "/run", load_split(data, "train", load_frames=False), device="cpu", progress=False,
            val_sequences=load_split(data, "val", load_frames=False)[:1])
with open(f"{out}/rank{os.environ['RANK']}.json", "w") as f:
    json.dump(run.history, f)
"""


@pytest.mark.slow
def test_under_ddp_only_rank_0_validates(data: Path, tmp_path: Path) -> None:
    import socket
    import subprocess
    import sys

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    script = tmp_path / "worker.py"
    script.write_text(DDP_WORKER)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_addr=127.0.0.1",
           f"--master_port={port}", str(script), str(tmp_path), str(CONFIG), str(data)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rank0, rank1 = (json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2))
    assert [r["step"] for r in rank0] == [r["step"] for r in rank1] == [2, 4]
    assert all("val_sr" in r for r in rank0) and not any("val_sr" in r for r in rank1)
    assert metrics(tmp_path / "run") == rank0
    best = load_checkpoint(tmp_path / "run" / "best.pt")
    assert best["epoch"] == max(rank0, key=lambda r: r["val_sr"])["epoch"]


def test_teacher_option_distills_and_may_change_on_resume(data: Path, tmp_path: Path, capsys) -> None:
    configs = CONFIG.parent
    teacher_run = tmp_path / "teacher"
    assert main(["train", "teacher", "--config", str(configs / "tiny_teacher.yaml"), "--data", str(data), "--out",
                 str(teacher_run), "--epochs", "1", "--val-sequences", "0", "--no-progress"]) == 0
    moved = tmp_path / "elsewhere.pt"
    moved.write_bytes((teacher_run / "last.pt").read_bytes())
    out = tmp_path / "had"
    had = ["train", "student", "--config", str(configs / "tiny_student_had.yaml"), "--data", str(data), "--out",
           str(out), "--val-sequences", "1", "--no-progress"]
    assert main([*had, "--epochs", "1", "--teacher", str(teacher_run / "last.pt")]) == 0
    assert f"teacher: {teacher_run / 'last.pt'}" in (out / "config.yaml").read_text()
    assert "extra/ot/stage3" in metrics(out)[0] and "val_sr" in metrics(out)[0]
    # the teacher's path is not part of what a resume must keep
    assert main([*had, "--epochs", "2", "--teacher", str(moved), "--resume"]) == 0, capsys.readouterr().err
    assert [r["epoch"] for r in metrics(out)] == [1, 2]
    assert f"teacher: {moved}" in (out / "config.yaml").read_text()


def test_resume_hint_keeps_the_options_and_force_until_a_checkpoint(tmp_path: Path) -> None:
    from had_snn.cli import build_parser
    from had_snn.commands.train import resume_hint

    out = tmp_path / "my run"
    args = build_parser().parse_args(["train", "student", "--config", "c.yaml", "--out", str(out), "--force",
                                      "--teacher", "t.pt", "--epochs", "3", "--val-sequences", "2", "--device",
                                      "cpu"])
    expected = ["had-snn", "train", "student", "--config", "c.yaml", "--out", str(out), "--teacher", "t.pt",
                "--epochs", "3", "--val-sequences", "2", "--device", "cpu"]
    assert shlex.split(resume_hint(args)) == [*expected, "--force"]  # no checkpoint yet: the same command
    out.mkdir()
    (out / "last.pt").write_bytes(b"")
    args.started_s = time.time() + 60  # the checkpoint is the old run's, which --force was replacing
    assert shlex.split(resume_hint(args)) == [*expected, "--force"]
    args.started_s = time.time() - 60  # this run wrote it
    assert shlex.split(resume_hint(args)) == [*expected, "--resume"]
