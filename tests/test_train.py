"""Training loop: the loss goes down, resume continues from the same step, checkpoints are weights_only, configs."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from had_snn.data.synthetic import SynthConfig, generate_sequence
from had_snn.models.checkpoint import load_checkpoint, load_model
from had_snn.train.config import config_from_dict, load_config
from had_snn.train.loop import train
from had_snn.train.losses import tracking_loss
from had_snn.train.sampler import PairDataset, collate_pairs

CONFIGS = Path(__file__).resolve().parents[1] / "experiments" / "configs"


@pytest.fixture(scope="module")
def sequences() -> list:
    cfg = SynthConfig(width_px=96, height_px=72, duration_s=0.5)
    return [generate_sequence(cfg, seed=i, attributes=(), name=f"s{i}") for i in range(2)]


def tiny(kind: str, **overrides):
    return load_config(CONFIGS / f"tiny_{'student' if kind == 'student' else 'teacher'}.yaml",
                       {"model": kind, **overrides})


def fixed_loss(model: torch.nn.Module, sequences: list, cfg) -> float:
    """Tracking loss of ``model`` (eval mode) on 16 fixed pairs drawn with another seed."""
    data = PairDataset(sequences, cfg.data.crop_config(), 16, cfg.data.max_gap, seed=123)
    batch = collate_pairs([data[i] for i in range(16)])
    model.eval()
    with torch.no_grad():
        return tracking_loss(model(batch), batch)[0].item()


@pytest.mark.parametrize(("kind", "factor"), [("teacher", 0.85), ("student", 0.93)])
def test_tiny_training_run_lowers_the_loss(kind: str, factor: float, sequences: list, tmp_path: Path) -> None:
    torch.set_num_threads(1)
    cfg = tiny(kind, epochs=6, data={"samples_per_epoch": 32, "max_gap": 4, "crop": {"student_steps": 4}})
    torch.manual_seed(cfg.seed)
    from had_snn.models import build_model

    before = fixed_loss(build_model(kind, **cfg.model_config), sequences, cfg)
    history = train(cfg, tmp_path, sequences, progress=False).history
    after = fixed_loss(load_model(tmp_path / "last.pt"), sequences, cfg)
    assert [r["epoch"] for r in history] == [1, 2, 3, 4, 5, 6]
    assert history[-1]["step"] == 6 * 8
    assert after < factor * before, (before, after)  # seeded: 4.33 -> 3.91 for the student
    assert history[-1]["loss"] < history[0]["loss"]
    if kind == "student":
        assert 0 < history[-1]["rate/backbone.2"] < 1
    for name in ("config.yaml", "metrics.csv", "metrics.json", "last.pt"):
        assert (tmp_path / name).is_file()
    assert (tmp_path / "metrics.csv").read_text().count("\n") == 7


class Interrupt(Exception):
    pass


def test_resume_after_interruption_matches_an_uninterrupted_run(sequences: list, tmp_path: Path) -> None:
    torch.set_num_threads(1)
    cfg = tiny("student")  # 2 epochs x 4 steps
    full = train(cfg, tmp_path / "full", sequences, progress=False).history
    calls = {"n": 0}

    def interrupt_at_step_6(out: dict, batch: dict):
        calls["n"] += 1
        if calls["n"] == 6:
            raise Interrupt
        return out["heatmap"].sum() * 0.0, {}

    with pytest.raises(Interrupt):
        train(cfg, tmp_path / "cut", sequences, progress=False, extra_loss=interrupt_at_step_6)
    assert load_checkpoint(tmp_path / "cut" / "last.pt")["step"] == 4  # epoch 1 was saved
    resumed = train(cfg, tmp_path / "cut", sequences, progress=False, resume=True).history
    assert [r["step"] for r in resumed] == [4, 8]
    assert resumed[1]["loss"] == pytest.approx(full[1]["loss"], rel=1e-5)
    a = load_checkpoint(tmp_path / "full" / "last.pt")["model"]
    b = load_checkpoint(tmp_path / "cut" / "last.pt")["model"]
    for k in a:
        torch.testing.assert_close(a[k], b[k], msg=k)


def test_checkpoint_is_weights_only_and_rebuilds_the_model(sequences: list, tmp_path: Path) -> None:
    cfg = tiny("teacher_events", epochs=1)
    train(cfg, tmp_path, sequences, progress=False)
    state = torch.load(tmp_path / "last.pt", weights_only=True)
    assert state["kind"] == "teacher_events" and state["step"] == 4
    model = load_model(tmp_path / "last.pt")
    assert model.config.modalities == "events" and not model.training
    torch.testing.assert_close(model.state_dict()["stage1.0.0.weight"], state["model"]["stage1.0.0.weight"])
    with pytest.raises(ValueError, match=r"differs from the checkpoint.s run in .*model_config.widths"):
        train(tiny("teacher_events", model_config={"widths": [4, 8, 16]}), tmp_path, sequences, resume=True,
              progress=False)
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="bad.pt"):
        load_model(tmp_path / "bad.pt")
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        load_model(tmp_path / "missing.pt")


def test_config_errors_name_the_file_and_field(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("model: student\nepoch: 3\n")
    with pytest.raises(ValueError, match=r"c.yaml.*unknown field\(s\) \['epoch'\]"):
        load_config(path)
    path.write_text("data: {dirr: x}\n")
    with pytest.raises(ValueError, match=r"c.yaml.*data: unknown field\(s\) \['dirr'\]"):
        load_config(path)
    with pytest.raises(ValueError, match="model must be one of"):
        config_from_dict({"model": "cnn"})
    with pytest.raises(ValueError, match="CropConfig.search_px"):
        config_from_dict({"data": {"crop": {"search_px": 100}}})
    assert load_config(CONFIGS / "student.yaml").model_config["widths"] == [16, 32, 64]
    assert load_config(CONFIGS / "teacher.yaml", {"model": "teacher_rgb"}).lr == 2e-3


def test_train_cli_runs_and_checks_the_kind(sequences: list, tmp_path: Path, capsys) -> None:
    from had_snn.cli import main
    from had_snn.data.dataset import index_entry, write_index
    from had_snn.data.io import write_sequence

    root = tmp_path / "data"
    (root / "train").mkdir(parents=True)
    for seq in sequences:
        write_sequence(root / "train" / f"{seq.name}.h5", seq)
    write_index(root, {"train": [s.name for s in sequences]},
                {s.name: index_entry(s, "train", f"train/{s.name}.h5") for s in sequences}, {"name": "test"})
    args = ["--config", str(CONFIGS / "tiny_student.yaml"), "--data", str(root), "--out", str(tmp_path / "run")]
    assert main(["train", "teacher", *args]) == 1
    assert "config trains model 'student'" in capsys.readouterr().err
    assert main(["train", "student", *args, "--epochs", "1", "--no-progress"]) == 0
    assert load_checkpoint(tmp_path / "run" / "last.pt")["step"] == 4
    assert "model: student" in (tmp_path / "run" / "config.yaml").read_text()


def test_activity_regularisation_is_logged_per_layer_and_lowers_synops(sequences: list, tmp_path: Path) -> None:
    """A strong fan-out penalty trains a student whose estimated synaptic ops per frame fall below the same run's
    without it (weight 0: logged, no effect); every epoch row logs rate, synops and penalty per spiking layer."""
    torch.set_num_threads(1)
    runs = {}
    for weight in (0.0, 50.0):
        cfg = tiny("student", epochs=3, activity={"mode": "fanout", "weight": weight})
        runs[weight] = train(cfg, tmp_path / str(weight), sequences, progress=False).history
    names = ("backbone.0", "backbone.3", "backbone.6", "xcorr", "head.0")
    for row in runs[0.0] + runs[50.0]:
        for name in names:
            assert {f"activity/{name}/{k}" for k in ("rate", "synops", "penalty")} <= set(row)
    assert runs[0.0][-1]["activity/penalty"] == 0.0
    assert runs[50.0][-1]["activity/penalty"] > 0
    assert runs[50.0][-1]["activity/synops"] < runs[0.0][-1]["activity/synops"]
    assert "activity/head.0/synops" in (tmp_path / "50.0" / "metrics.csv").read_text()


def test_extra_modules_get_their_own_param_group_and_sparse_logs_average_over_their_steps(
    sequences: list, tmp_path: Path
) -> None:
    """Extra (adapter) modules train in a second optimiser group on the same schedule; a value logged on some steps
    only is averaged over those steps; no diagnostics without a TermCombiner."""
    torch.set_num_threads(1)
    cfg = tiny("student", epochs=1, data={"samples_per_epoch": 16, "max_gap": 4, "crop": {"student_steps": 4}})
    adapter = torch.nn.Linear(1, 1)
    calls = {"n": 0}

    def extra_loss(out: dict, batch: dict):
        calls["n"] += 1
        logs = {"every": float(calls["n"])}
        if calls["n"] in (2, 4):
            logs["sparse"] = 10.0 * calls["n"]
        return 1e-3 * adapter(out["heatmap"].mean().reshape(1, 1)).sum(), logs

    (row,) = train(cfg, tmp_path, sequences, progress=False, extra_loss=extra_loss, extra_modules=[adapter]).history
    assert calls["n"] == 4
    assert row["extra/every"] == pytest.approx(2.5) and row["extra/sparse"] == pytest.approx(30.0)
    assert not any(k.startswith("diag/") for k in row) and "lr_adapters" not in row
    groups = load_checkpoint(tmp_path / "last.pt")["optimizer"]["param_groups"]
    assert len(groups) == 2 and len(groups[1]["params"]) == 2 and groups[0]["lr"] == groups[1]["lr"]
