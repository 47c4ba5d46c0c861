"""Distillation wired into training: config section, frozen teacher, adapters saved apart from the student, CLI."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from had_snn.data.synthetic import SynthConfig, generate_sequence
from had_snn.models.checkpoint import load_checkpoint, load_model
from had_snn.train.config import load_config
from had_snn.train.distill_hook import build_distillation, parse_distill_section
from had_snn.train.loop import train

CONFIGS = Path(__file__).resolve().parents[1] / "experiments" / "configs"


@pytest.fixture(scope="module")
def sequences() -> list:
    cfg = SynthConfig(width_px=96, height_px=72, duration_s=0.5)
    return [generate_sequence(cfg, seed=i, attributes=(), name=f"s{i}") for i in range(2)]


@pytest.fixture(scope="module")
def teacher_ckpt(sequences: list, tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("teacher")
    train(load_config(CONFIGS / "tiny_teacher.yaml", {"model": "teacher", "epochs": 1}), out, sequences, progress=False)
    return out / "last.pt"


def student_cfg(name: str, teacher: Path, **distill):
    raw = load_config(CONFIGS / name).to_dict()
    return load_config(CONFIGS / name, {"distill": {**raw["distill"], "teacher": str(teacher), **distill}})


def test_distill_section_parsing_and_errors(tmp_path: Path) -> None:
    assert not parse_distill_section(None).enabled
    assert not parse_distill_section({}).enabled
    assert parse_distill_section({"mode": "vanilla", "teacher": "t.pt"}).config.mode == "vanilla_kd"
    only_teacher = parse_distill_section({"teacher": "t.pt"})
    assert only_teacher.config.mode == "had" and only_teacher.teacher_path == Path("t.pt")
    with pytest.raises(ValueError, match=r"run.yaml: distill.teacher: mode 'had' needs the path"):
        parse_distill_section({"mode": "had"}, "run.yaml: distill")
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['epsilon'\]"):
        parse_distill_section({"teacher": "t.pt", "epsilon": 0.1})
    with pytest.raises(ValueError, match="stage_weights"):
        parse_distill_section({"teacher": "t.pt", "stages": ["stage3"], "stage_weights": [1.0, 1.0]})
    missing = load_config(CONFIGS / "tiny_student_had.yaml",
                          {"distill": {"mode": "had", "teacher": str(tmp_path / "nope.pt")}})
    with pytest.raises(FileNotFoundError, match="nope.pt"):
        build_distillation(missing)
    for name in ("student_had.yaml", "student_kd.yaml", "tiny_student_kd.yaml"):
        assert parse_distill_section(load_config(CONFIGS / name).distill).enabled


def test_teacher_crop_mismatch_names_the_teacher(teacher_ckpt: Path) -> None:
    cfg = student_cfg("tiny_student_had.yaml", teacher_ckpt)
    cfg.data.crop["voxel_bins"] = 3
    with pytest.raises(ValueError, match=r"last.pt: teacher expects voxel_bins=5 but data.crop gives 3"):
        build_distillation(cfg)
    with pytest.raises(ValueError, match="trains a student"):
        build_distillation(load_config(CONFIGS / "tiny_teacher.yaml",
                                       {"model": "teacher", "distill": {"teacher": str(teacher_ckpt)}}))


def test_had_training_logs_terms_trains_adapters_and_keeps_teacher_frozen(
    sequences: list, teacher_ckpt: Path, tmp_path: Path
) -> None:
    torch.set_num_threads(1)
    cfg = student_cfg("tiny_student_had.yaml", teacher_ckpt)
    distill = build_distillation(cfg)
    assert distill.needs_frames  # the RGB+event teacher reads frames
    adapters_before = {k: v.clone() for k, v in distill.loss.state_dict().items()}
    teacher_before = {k: v.clone() for k, v in distill.teacher.state_dict().items()}
    history = train(cfg, tmp_path, sequences, progress=False, extra_loss=distill.extra_loss,
                    extra_modules=distill.extra_modules).history

    for term in ("extra/ot/stage2", "extra/ot/stage3", "extra/response_kl", "extra/distill"):
        assert all(term in row and row[term] > 0 for row in history), term
    header = (tmp_path / "metrics.csv").read_text().splitlines()[0]
    assert "extra/ot/stage2" in header and "extra/response_kl" in header
    # The teacher is untouched (no gradient, eval mode) and identical to its checkpoint.
    assert not distill.teacher.training
    for k, v in distill.teacher.state_dict().items():
        torch.testing.assert_close(v, teacher_before[k], msg=k)
    # The adapters trained (the GRU output conv starts at zero and moves away from it).
    state = load_checkpoint(tmp_path / "last.pt")
    (saved,) = state["extra_modules"]
    assert set(saved) == set(adapters_before)
    assert saved["folds.stage3.out.weight"].abs().sum() > 0
    assert any(not torch.equal(saved[k], adapters_before[k]) for k in saved)
    # The exported student holds no adapter weights and rebuilds as a plain student.
    assert not any(k.startswith(("folds", "projections")) for k in state["model"])
    student = load_model(tmp_path / "last.pt")
    assert student.kind == "student" and set(student.state_dict()) == set(state["model"])


def test_resume_restores_the_adapters(sequences: list, teacher_ckpt: Path, tmp_path: Path) -> None:
    torch.set_num_threads(1)
    cfg = student_cfg("tiny_student_kd.yaml", teacher_ckpt)
    full = build_distillation(cfg)
    train(cfg, tmp_path / "full", sequences, progress=False, extra_loss=full.extra_loss,
          extra_modules=full.extra_modules)
    first = build_distillation(cfg)
    calls = {"n": 0}

    def interrupt_at_step_6(out: dict, batch: dict):
        calls["n"] += 1
        if calls["n"] == 6:
            raise KeyboardInterrupt
        return first.extra_loss(out, batch)

    with pytest.raises(KeyboardInterrupt):
        train(cfg, tmp_path / "cut", sequences, progress=False, extra_loss=interrupt_at_step_6,
              extra_modules=first.extra_modules)
    second = build_distillation(cfg)
    resumed = train(cfg, tmp_path / "cut", sequences, progress=False, resume=True, extra_loss=second.extra_loss,
                    extra_modules=second.extra_modules).history
    assert [r["epoch"] for r in resumed] == [1, 2]
    a = load_checkpoint(tmp_path / "full" / "last.pt")
    b = load_checkpoint(tmp_path / "cut" / "last.pt")
    assert "extra/mse/stage3" in resumed[1] and "extra/response_kl" in resumed[1]
    for k, v in a["extra_modules"][0].items():
        torch.testing.assert_close(v, b["extra_modules"][0][k], msg=k)
    with pytest.raises(ValueError, match="extra modules"):
        train(cfg, tmp_path / "cut", sequences, progress=False, resume=True)


def test_train_cli_distills_from_the_config(sequences: list, teacher_ckpt: Path, tmp_path: Path) -> None:
    import yaml

    from had_snn.cli import main
    from had_snn.data.dataset import index_entry, write_index
    from had_snn.data.io import write_sequence

    root = tmp_path / "data"
    (root / "train").mkdir(parents=True)
    for seq in sequences:
        write_sequence(root / "train" / f"{seq.name}.h5", seq)
    write_index(root, {"train": [s.name for s in sequences]},
                {s.name: index_entry(s, "train", f"train/{s.name}.h5") for s in sequences}, {"name": "test"})
    raw = yaml.safe_load((CONFIGS / "tiny_student_had.yaml").read_text())
    raw["distill"]["teacher"] = str(teacher_ckpt)
    config = tmp_path / "had.yaml"
    config.write_text(yaml.safe_dump(raw))
    args = ["train", "student", "--config", str(config), "--data", str(root), "--out", str(tmp_path / "run"),
            "--epochs", "1", "--no-progress"]
    assert main(args) == 0
    state = load_checkpoint(tmp_path / "run" / "last.pt")
    assert len(state["extra_modules"]) == 1 and "extra/ot/stage3" in state["history"][0]
    assert "teacher: " in (tmp_path / "run" / "config.yaml").read_text()


def _load_table_script():
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "experiments" / "had_table.py"
    spec = importlib.util.spec_from_file_location("had_table", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file executes
    spec.loader.exec_module(module)
    return module


def _parse_markdown_rows(text: str) -> dict[str, list[str]]:
    """The first table of a results page: ``{method: cells after the method}``."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    end = next((i for i in range(start, len(lines)) if not lines[i].startswith("|")), len(lines))
    rows = [line.strip("|").split("|") for line in lines[start:end]]
    header, body = rows[0], rows[2:]
    assert [h.strip() for h in header[:2]] == ["Method", "Seeds"] and len(header) == 9
    return {cells[0].strip(): [c.strip() for c in cells[1:]] for cells in body}


def test_had_table_aggregate_and_markdown() -> None:
    """Mean and sample std over seeds per subset; the table prints percentages and '-' where nothing ran (the
    script itself runs in tests/test_experiments.py)."""
    table = _load_table_script()
    runs = [{"method": "had", "seed": s, "subsets": {"all": {"SR": v, "PR": 0.5, "NPR": 0.25}}}
            for s, v in enumerate([0.2, 0.4, 0.6])]
    subsets = ["all", "low_light"]
    agg = table.aggregate(runs, ["had", "student"], subsets)
    assert agg["had"]["all"]["SR"]["mean"] == pytest.approx(0.4)
    assert agg["had"]["all"]["SR"]["std"] == pytest.approx(0.2)  # sample std over 3 seeds
    assert agg["had"]["low_light"]["SR"]["n"] == 0
    rows = _parse_markdown_rows(table.markdown_table(agg, {}, "note", subsets))
    assert rows["had"][:4] == ["3", "40.0 ± 20.0", "50.0 ± 0.0", "25.0 ± 0.0"]
    assert rows["had"][4] == "-" and rows["student"][:2] == ["0", "-"]


def test_diagnostics_and_adapter_lr_scale_in_training(sequences: list, teacher_ckpt: Path, tmp_path: Path) -> None:
    """Each epoch row holds the gradient-norm ratios and the OT diagnostics of its first batch; the adapters train
    in their own parameter group at lr x adapter_lr_scale, on the same schedule as the student."""
    torch.set_num_threads(1)
    cfg = student_cfg("tiny_student_had.yaml", teacher_ckpt, adapter_lr_scale=0.5, balance="running",
                      warmup_steps=3)
    distill = build_distillation(cfg)
    history = train(cfg, tmp_path, sequences, progress=False, extra_loss=distill.extra_loss,
                    extra_modules=distill.extra_modules).history
    for row in history:
        assert row["diag/grad/track"] > 0
        for term in ("ot/stage2", "ot/stage3", "response_kl", "distill"):
            assert row[f"diag/grad/{term}"] >= 0 and -1 <= row[f"diag/cos/{term}"] <= 1, term
        for stage in ("stage2", "stage3"):
            assert 0 <= row[f"extra/ot_entropy/{stage}"] <= 1 and row[f"extra/ot_distance/{stage}"] >= 0
        assert row["lr_adapters"] == pytest.approx(0.5 * row["lr"])
    # the first batch of epoch 1 runs at warm-up 0: no distillation gradient at all
    assert history[0]["diag/grad/distill"] == 0.0 and history[1]["diag/grad/distill"] > 0
    state = load_checkpoint(tmp_path / "last.pt")
    groups = state["optimizer"]["param_groups"]
    n_student = sum(1 for p in load_model(tmp_path / "last.pt").parameters() if p.requires_grad)
    assert len(groups) == 2 and len(groups[0]["params"]) == n_student
    assert len(groups[1]["params"]) == len(list(distill.loss.parameters()))
    assert groups[1]["initial_lr"] == pytest.approx(0.5 * cfg.lr)
    combiner_state = {k for k in state["extra_modules"][0] if k.startswith("combiner.")}
    assert combiner_state == {"combiner.steps", "combiner.running_ot/stage2", "combiner.running_ot/stage3",
                              "combiner.running_response_kl"}
    assert int(state["extra_modules"][0]["combiner.steps"]) == history[-1]["step"]
    # diagnostics_every N: only those steps log (4 steps per epoch, every 3rd: steps 0 and 3, then 6)
    cfg = student_cfg("tiny_student_had.yaml", teacher_ckpt, diagnostics_every=3)
    distill = build_distillation(cfg)
    every = train(cfg, tmp_path / "every", sequences, progress=False, extra_loss=distill.extra_loss,
                  extra_modules=[distill.loss]).history
    assert all("diag/grad/track" in row for row in every) and "lr_adapters" not in every[0]


def test_resume_from_a_checkpoint_with_one_parameter_group(sequences: list, teacher_ckpt: Path,
                                                           tmp_path: Path) -> None:
    """Checkpoints written before the adapters had their own optimiser group (student and adapters in one) resume,
    and the resumed run equals an uninterrupted one."""
    from had_snn.models.checkpoint import save_checkpoint

    torch.set_num_threads(1)
    cfg = student_cfg("tiny_student_kd.yaml", teacher_ckpt)
    full = build_distillation(cfg)
    train(cfg, tmp_path / "full", sequences, progress=False, extra_loss=full.extra_loss,
          extra_modules=full.extra_modules)
    one = build_distillation(cfg)
    calls = {"n": 0}

    def interrupt_in_epoch_2(out: dict, batch: dict):
        calls["n"] += 1
        if calls["n"] == 6:
            raise KeyboardInterrupt
        return one.extra_loss(out, batch)

    with pytest.raises(KeyboardInterrupt):
        train(cfg, tmp_path / "cut", sequences, progress=False, extra_loss=interrupt_in_epoch_2,
              extra_modules=one.extra_modules)
    state = load_checkpoint(tmp_path / "cut" / "last.pt")
    opt, sched = state["optimizer"], state["scheduler"]
    student_group, adapter_group = opt["param_groups"]
    assert student_group["lr"] == adapter_group["lr"]
    opt["param_groups"] = [{**student_group, "params": student_group["params"] + adapter_group["params"]}]
    sched["base_lrs"], sched["_last_lr"], sched["lr_lambdas"] = sched["base_lrs"][:1], sched["_last_lr"][:1], [None]
    save_checkpoint(tmp_path / "cut" / "last.pt", state)  # as an old run wrote it

    second = build_distillation(cfg)
    resumed = train(cfg, tmp_path / "cut", sequences, progress=False, resume=True, extra_loss=second.extra_loss,
                    extra_modules=second.extra_modules).history
    assert [r["epoch"] for r in resumed] == [1, 2]
    a, b = load_checkpoint(tmp_path / "full" / "last.pt"), load_checkpoint(tmp_path / "cut" / "last.pt")
    assert len(b["optimizer"]["param_groups"]) == 2 and len(b["scheduler"]["base_lrs"]) == 2
    for k, v in a["model"].items():
        torch.testing.assert_close(v, b["model"][k], msg=k)
    for k, v in a["extra_modules"][0].items():
        torch.testing.assert_close(v, b["extra_modules"][0][k], msg=k)
