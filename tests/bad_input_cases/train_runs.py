"""Rows: ``had-snn train`` invocations that must be refused, with the output folder checked to be as it was."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from tests.bad_input_cases import Case, Env

CONFIG = str(Path(__file__).resolve().parents[2] / "experiments" / "configs" / "tiny_student.yaml")
TEACHER_CONFIG = str(Path(CONFIG).with_name("tiny_teacher.yaml"))
TRAIN = ("train", "student", "--config", CONFIG, "--data", "{data}", "--no-progress")
_held_locks: dict[Path, int] = {}


def _state(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _save_run(run: Path, epoch: int, **overrides) -> None:
    """A run folder as ``had-snn train`` leaves it after ``epoch`` of 2 epochs (tiny weights, no real training)."""
    import torch

    from had_snn.models import build_model
    from had_snn.models.checkpoint import model_state, save_checkpoint
    from had_snn.train.config import load_config, save_config
    from had_snn.train.loop import write_metrics

    cfg = load_config(CONFIG, overrides)
    torch.manual_seed(0)
    model = build_model("student", **cfg.model_config)
    history = [{"epoch": e, "step": 4 * e, "loss": 1.0, "iou": 0.1} for e in range(1, epoch + 1)]
    run.mkdir(parents=True, exist_ok=True)
    save_config(cfg, run / "config.yaml")
    write_metrics(run, history)
    save_checkpoint(run / "last.pt", {**model_state(model), "epoch": epoch, "step": 4 * epoch, "history": history,
                                      "train_config": cfg.to_dict(), "best": None, "val_names": []})
    (run / "STATE").write_text(repr(sorted(_state(run).items())))


def _unchanged(env: Env) -> None:
    """The run folder holds exactly what the setup left there (STATE records it), and no lock file."""
    run = env.tmp / "run"
    recorded = (run / "STATE").read_text()
    assert repr(sorted((k, v) for k, v in _state(run).items() if k != "STATE")) == recorded
    assert not (run / ".had-snn.lock").exists()


def _no_run(env: Env) -> None:
    assert not (env.tmp / "run").exists(), "a refused run created its output folder"


def _finished(env: Env) -> None:
    _save_run(env.tmp / "run", 2)


def _unfinished(env: Env) -> None:
    _save_run(env.tmp / "run", 1)


def _other_lr(env: Env) -> None:
    _save_run(env.tmp / "run", 1, lr=0.5)


def _stale_metrics(env: Env) -> None:
    run = env.tmp / "run"
    run.mkdir()
    (run / "metrics.csv").write_text("epoch,step,loss\n1,4,1.0\n")
    (run / "STATE").write_text(repr(sorted(_state(run).items())))


def _other_config(env: Env) -> None:
    run = env.tmp / "run"
    run.mkdir()
    (run / "config.yaml").write_text("model: teacher\nepochs: 30\n")
    (run / "STATE").write_text(repr(sorted(_state(run).items())))


def _corrupt_checkpoint(env: Env) -> None:
    run = env.tmp / "run"
    run.mkdir()
    (run / "last.pt").write_bytes(b"half a checkpoint")
    (run / "STATE").write_text(repr(sorted(_state(run).items())))


def _out_file(env: Env) -> None:
    (env.tmp / "run").write_text("not a folder")


def _out_file_kept(env: Env) -> None:
    assert (env.tmp / "run").read_text() == "not a folder"


def _locked(env: Env) -> None:
    run = env.tmp / "run"
    run.mkdir()
    fd = os.open(run / ".had-snn.lock", os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    _held_locks[run] = fd


def _locked_untouched(env: Env) -> None:
    run = env.tmp / "run"
    fd = _held_locks.pop(run)
    try:
        assert sorted(p.name for p in run.iterdir()) == [".had-snn.lock"], "a refused run wrote into a busy folder"
    finally:
        os.close(fd)


CASES = [
    Case("train-finished-run-refused", (*TRAIN, "--out", "{tmp}/run"), 1,
         ("holds a finished run", "epoch 2 of 2", "--resume", "--force"), _finished, _unchanged),
    Case("train-unfinished-run-refused", (*TRAIN, "--out", "{tmp}/run"), 1,
         ("holds an unfinished run", "epoch 1 of 2", "--resume"), _unfinished, _unchanged),
    Case("train-resume-nothing", (*TRAIN, "--out", "{tmp}/run", "--resume"), 1,
         ("--resume", "nothing to resume"), None, _no_run),
    Case("train-resume-without-checkpoint", (*TRAIN, "--out", "{tmp}/run", "--resume"), 1,
         ("nothing to resume", "metrics.csv", "no checkpoint", "--force"), _stale_metrics, _unchanged),
    Case("train-resume-other-config", (*TRAIN, "--out", "{tmp}/run", "--resume"), 1,
         ("--resume", "differs", "lr", "--force"), _other_lr, _unchanged),
    Case("train-corrupt-checkpoint-refused", (*TRAIN, "--out", "{tmp}/run"), 1,
         ("last.pt", "cannot be read", "--force"), _corrupt_checkpoint, _unchanged),
    Case("train-resume-corrupt-checkpoint", (*TRAIN, "--out", "{tmp}/run", "--resume"), 1,
         ("last.pt",), _corrupt_checkpoint, _unchanged),
    Case("train-stale-metrics-refused", (*TRAIN, "--out", "{tmp}/run"), 1,
         ("another run", "metrics.csv", "--force"), _stale_metrics, _unchanged),
    Case("train-other-config-refused", (*TRAIN, "--out", "{tmp}/run"), 1,
         ("config.yaml", "different run", "--force"), _other_config, _unchanged),
    Case("train-locked-folder", (*TRAIN, "--out", "{tmp}/run", "--epochs", "1"), 1,
         ("in use by another had-snn run",), _locked, _locked_untouched),
    Case("train-out-is-a-file", (*TRAIN, "--out", "{tmp}/run"), 1,
         ("--out", "is a file", "output folder"), _out_file, _out_file_kept),
    Case("train-config-is-a-folder", ("train", "student", "--config", "{tmp}", "--data", "{data}", "--out",
                                      "{tmp}/run"), 1, ("--config", "is a folder", "expected a file"), None, _no_run),
    Case("train-teacher-is-a-folder", (*TRAIN, "--out", "{tmp}/run", "--teacher", "{tmp}"), 1,
         ("--teacher", "is a folder"), None, _no_run),
    Case("train-data-is-a-file", ("train", "student", "--config", CONFIG, "--data", "{seq}", "--out", "{tmp}/run"),
         1, ("--data", "is a file", "index.json"), None, _no_run),
    Case("train-resume-and-force", (*TRAIN, "--out", "{tmp}/run", "--resume", "--force"), 2,
         ("not allowed with",), None, _no_run),
    Case("train-negative-val-sequences", (*TRAIN, "--out", "{tmp}/run", "--val-sequences", "-1"), 1,
         ("--val-sequences", ">= 0"), None, _no_run),
    Case("train-kind-mismatch-writes-nothing", ("train", "teacher", "--config", CONFIG, "--data", "{data}", "--out",
                                                "{tmp}/run"), 1, ("config trains model 'student'",), None, _no_run),
    Case("train-qat-without-init", (*TRAIN, "--out", "{tmp}/run", "--qat"), 1,
         ("--qat", "--init CKPT", "init_from"), None, _no_run),
    Case("train-qat-teacher", ("train", "teacher", "--config", TEACHER_CONFIG, "--data", "{data}", "--out",
                               "{tmp}/run", "--qat", "--init", "{teacher}"), 1, ("--qat", "student", "'teacher'"),
         None, _no_run),
    Case("train-init-missing", (*TRAIN, "--out", "{tmp}/run", "--init", "{tmp}/nope.pt"), 1,
         ("--init", "nope.pt", "does not exist"), None, _no_run),
    Case("train-init-is-a-folder", (*TRAIN, "--out", "{tmp}/run", "--init", "{tmp}"), 1,
         ("--init", "is a folder"), None, _no_run),
    Case("train-init-is-h5", (*TRAIN, "--out", "{tmp}/run", "--qat", "--init", "{seq}"), 1,
         ("--init", "an hdf5 file", "not a had-snn checkpoint"), None, _no_run),
    Case("train-init-is-teacher", (*TRAIN, "--out", "{tmp}/run", "--qat", "--init", "{teacher}"), 1,
         ("--init", "holds a 'teacher' model"), None, _no_run),
]
