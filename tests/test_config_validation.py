"""Config fields validated by name and type, safe checkpoint errors, and where ``distill.teacher`` resolves."""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from had_snn.models.checkpoint import CheckpointError, load_checkpoint, load_model, model_state, save_checkpoint
from had_snn.train.config import config_from_dict, load_config
from had_snn.train.distill_hook import build_distillation
from had_snn.util.errors import UserError

CONFIGS = Path(__file__).resolve().parents[1] / "experiments" / "configs"


# ------------------------------------------------------------------------------------------------- config fields
@pytest.mark.parametrize(("text", "words"), [
    ("epochs: ten", ["epochs: expected an integer, got 'ten' (a string)"]),
    ("epochs: 1.7", ["epochs: expected an integer, got 1.7"]),
    ("epochs: true", ["epochs: expected an integer, got True (a boolean)"]),
    ("epochs: 0", ["epochs: expected a value >= 1, got 0"]),
    ("batch_size: -4", ["batch_size: expected a value >= 1, got -4"]),
    ("lr: .nan", ["lr: expected a finite number, got nan"]),
    ("lr: fast", ["lr: expected a number, got 'fast'"]),
    ("lr: 0", ["lr: expected a value > 0"]),
    ("seed: -1", ["seed: expected a value >= 0"]),
    ("model_config: {widths: [4, -8, 8]}", ["model_config.widths[1]: expected a value >= 1", "got -8"]),
    ("model_config: {widths: [4, 1.7, 8]}", ["model_config.widths[1]: expected an integer, got 1.7"]),
    ("model_config: {widths: [4, 8]}", ["model_config.widths: expected a list of 3 integers, got 2 value(s)"]),
    ("model_config: {widths: [4, 8, 100000]}", ["model_config.widths[2]: expected a value >= 1 and <= 4096"]),
    ("model_config: {learn_decay: 1}", ["model_config.learn_decay: expected true or false, got 1"]),
    ("model_config: {alpha: 1.5}", ["model_config.alpha: expected a value >= 0 and <= 1"]),
    ("model_config: {widthz: [4, 8, 8]}", ["model_config: unknown field(s) ['widthz']"]),
    ("model_config: [4, 8, 8]", ["model_config: expected a mapping, got [4, 8, 8] (a list)"]),
    ("data: [train]", ["data: expected a mapping of DataConfig fields, got ['train'] (a list)"]),
    ("data: {samples_per_epoch: 0}", ["data.samples_per_epoch: expected a value >= 1"]),
    ("data: {dir: 5}", ["data.dir: expected a string or null, got 5"]),
    ("data: {crop: {student_steps: 2.5}}", ["data.crop.student_steps: expected an integer, got 2.5"]),
    ("data: {crop: {template_px: -16}}", ["data.crop.template_px: expected a value >= 1"]),
    ("data: {crop: [1]}", ["data.crop: expected a mapping"]),
    ("loss_weights: {focal: high}", ["loss_weights.focal: expected a number, got 'high'"]),
    ("loss_weights: {focus: 1.0}", ["loss_weights: unknown term(s) ['focus']"]),
    ("loss_weights: [1, 2]", ["loss_weights: expected a mapping"]),
    ("distill: [had]", ["distill: expected a mapping"]),
    ("distill: {teacher: 3}", ["distill.teacher: expected the path of a teacher checkpoint (a string), got 3"]),
    ("distill: {stage_weights: [1, x]}", ["distill.stage_weights[1]: expected a number, got 'x'"]),
    ("distill: {temporal: 'no'}", ["distill.temporal: expected true or false"]),
    ("epoch: 3", ["unknown field(s) ['epoch']"]),
])
def test_bad_config_field_names_file_field_value_and_type(tmp_path: Path, text: str, words: list[str]) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text + "\n")
    with pytest.raises(ValueError) as info:
        load_config(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ") and message.count(str(path)) == 1, message
    for word in words:
        assert word in message


def test_good_values_are_accepted_as_written() -> None:
    cfg = config_from_dict({"lr": 1, "weight_decay": "1e-4", "epochs": 2, "model_config": {"widths": [4, 8, 8]},
                            "data": {"dir": None, "center_jitter": 0, "crop": {"window_frames": 1}},
                            "loss_weights": {"l1": 5}, "distill": {"mode": "had", "teacher": None}})
    assert cfg.lr == 1.0 and isinstance(cfg.lr, float)
    assert cfg.weight_decay == pytest.approx(1e-4)  # PyYAML reads 1e-4 (no dot) as text: taken as the number
    assert cfg.model_config == {"widths": [4, 8, 8]}
    for path in sorted(CONFIGS.glob("*.yaml")):
        if not path.name.startswith("demo"):
            load_config(path, {"model": "teacher"} if "teacher" in path.name else None)


def test_config_file_that_is_a_folder_or_binary_names_it(tmp_path: Path) -> None:
    folder = f"{tmp_path}: is a folder, expected a file \\(a YAML training config\\)"
    with pytest.raises(IsADirectoryError, match=folder):
        load_config(tmp_path)
    (tmp_path / "bin.yaml").write_bytes(b"\x89HDF\r\n\x1a\n\xff\xfe")
    with pytest.raises(ValueError, match="bin.yaml: not a text file"):
        load_config(tmp_path / "bin.yaml")
    (tmp_path / "broken.yaml").write_text("epochs: [1, 2\n")
    with pytest.raises(ValueError, match=r"broken.yaml: not valid YAML \(.*line 2"):
        load_config(tmp_path / "broken.yaml")


def test_config_must_be_a_mapping() -> None:
    with pytest.raises(ValueError, match=r"x.yaml: expected a mapping of config fields, got \[1\] \(a list\)"):
        config_from_dict([1], "x.yaml")  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------------- checkpoints
class Arbitrary:
    """Any Python object a safe load must refuse."""


def _bad_checkpoints(tmp: Path) -> dict[str, tuple[Path, str]]:
    import h5py

    good = tmp / "good.pt"
    torch.save({"kind": "student", "model_config": {"loihi_faithful": True}, "model": {"w": torch.zeros(4096)}}, good)
    files: dict[str, tuple[Path, str]] = {}
    (tmp / "notes.txt").write_text("hello\n")
    files["text"] = (tmp / "notes.txt", "a text file or another format?")
    with zipfile.ZipFile(tmp / "z.pt", "w") as zf:
        zf.writestr("readme.txt", "hi")
    files["zip"] = (tmp / "z.pt", "a zip archive that is not a torch checkpoint")
    with h5py.File(tmp / "seq.h5", "w") as fh:
        fh["x"] = np.zeros(3)
    files["h5"] = (tmp / "seq.h5", "an HDF5 file")
    (tmp / "cut.pt").write_bytes(good.read_bytes()[:2000])
    files["truncated"] = (tmp / "cut.pt", "truncated or corrupt")
    torch.save({"kind": "student", "model_config": {}, "model": {}, "extra": Arbitrary()}, tmp / "objects.pt")
    files["objects"] = (tmp / "objects.pt", "holds Python objects other than tensors")
    (tmp / "raw.pkl").write_bytes(pickle.dumps({"a": Arbitrary()}))
    files["pickle"] = (tmp / "raw.pkl", "holds Python objects other than tensors")
    torch.save({"weights": torch.zeros(2)}, tmp / "keys.pt")
    files["no keys"] = (tmp / "keys.pt", "lacks ['kind', 'model_config', 'model']")
    torch.save([torch.zeros(2)], tmp / "list.pt")
    files["list"] = (tmp / "list.pt", "holds a list, not a dict")
    (tmp / "empty.pt").write_bytes(b"")
    files["empty"] = (tmp / "empty.pt", "an empty file")
    files["folder"] = (tmp, "is a folder")
    files["weights"] = (good, "its weights do not fit its model_config")
    return files


def test_non_checkpoints_give_one_clear_line(tmp_path: Path) -> None:
    for what, (path, words) in _bad_checkpoints(tmp_path).items():
        with pytest.raises(CheckpointError) as info:
            load_model(path)
        message = str(info.value)
        assert isinstance(info.value, UserError) and isinstance(info.value, ValueError)
        assert str(path) in message and words in message, (what, message)
        assert "weights_only" not in message and "\n" not in message, (what, message)
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        load_checkpoint(tmp_path / "missing.pt")


def test_real_checkpoint_still_loads(tmp_path: Path) -> None:
    from had_snn.models import build_model

    torch.manual_seed(0)
    model = build_model("student", widths=(4, 8, 8), head_channels=8, search_px=32, template_px=16)
    save_checkpoint(tmp_path / "last.pt", {**model_state(model), "epoch": 1})
    again = load_model(tmp_path / "last.pt")
    for k, v in model.state_dict().items():
        torch.testing.assert_close(again.state_dict()[k], v)


# ------------------------------------------------------------------------------------------ distill.teacher path
@pytest.fixture(scope="module")
def tiny_teacher(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from had_snn.models import build_model

    torch.manual_seed(0)
    teacher = build_model("teacher", stem_channels=4, widths=(4, 8, 8), convs_per_stage=1, head_channels=8)
    path = tmp_path_factory.mktemp("teacher") / "runs" / "teacher" / "last.pt"
    path.parent.mkdir(parents=True)
    save_checkpoint(path, model_state(teacher))
    return path


def _student_config(folder: Path, teacher: str | None) -> Path:
    raw = yaml.safe_load((CONFIGS / "tiny_student_had.yaml").read_text())
    raw["distill"]["teacher"] = teacher
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "had.yaml").write_text(yaml.safe_dump(raw))
    return folder / "had.yaml"


def test_teacher_resolves_against_the_config_folder_not_the_cwd(tiny_teacher: Path, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    root = tiny_teacher.parents[2]  # ROOT/runs/teacher/last.pt
    config = _student_config(root / "configs", "../runs/teacher/last.pt")
    monkeypatch.chdir(tmp_path)  # somewhere else entirely
    cfg = load_config(config)
    distill = build_distillation(cfg, str(config))
    assert distill.section.teacher_path == tiny_teacher
    assert cfg.distill["teacher"] == str(tiny_teacher) and Path(cfg.distill["teacher"]).is_absolute()
    # the saved config names the absolute path, so it resumes from any folder
    from had_snn.train.config import save_config

    save_config(cfg, tmp_path / "run" / "config.yaml")
    saved = load_config(tmp_path / "run" / "config.yaml")
    monkeypatch.chdir(root.parent)
    assert build_distillation(saved, str(tmp_path / "run" / "config.yaml")).section.teacher_path == tiny_teacher


def test_missing_teacher_error_names_key_value_resolved_path_and_option(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    config = _student_config(tmp_path / "configs", "runs/teacher/last.pt")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError) as info:
        build_distillation(load_config(config), str(config))
    message = str(info.value)
    for words in (str(config), "distill.teacher", "'runs/teacher/last.pt'",
                  str(tmp_path / "configs" / "runs" / "teacher" / "last.pt"), "config file's folder", "--teacher"):
        assert words in message, message


def test_a_path_found_only_from_the_cwd_is_used_with_a_warning(tiny_teacher: Path, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    config = _student_config(tmp_path / "configs", "runs/teacher/last.pt")
    monkeypatch.chdir(tiny_teacher.parents[2])  # where the old cwd-relative resolution finds it
    cfg = load_config(config)
    with pytest.warns(UserWarning, match=r"distill.teacher .runs/teacher/last.pt. is not at .* \(relative to the "
                                         r"current folder"):
        distill = build_distillation(cfg, str(config))
    assert distill.section.teacher_path == tiny_teacher and cfg.distill["teacher"] == str(tiny_teacher)


def test_teacher_option_overrides_the_config(tiny_teacher: Path, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    config = _student_config(tmp_path / "configs", "nowhere/last.pt")
    monkeypatch.chdir(tiny_teacher.parent)
    cfg = load_config(config)
    distill = build_distillation(cfg, str(config), teacher="last.pt")  # relative to the current folder
    assert distill.section.teacher_path == tiny_teacher and cfg.distill["teacher"] == str(tiny_teacher)
    # null in the config, path from the option (the mode stays the config's)
    cfg = load_config(_student_config(tmp_path / "c2", None))
    assert build_distillation(cfg, "c2/had.yaml", teacher=tiny_teacher).section.config.mode == "had"
    with pytest.raises(FileNotFoundError, match=r"--teacher missing.pt: .*missing.pt does not exist"):
        build_distillation(load_config(config), str(config), teacher="missing.pt")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(CheckpointError, match=r"--teacher: .*notes.txt: not a had-snn checkpoint"):
        build_distillation(load_config(config), str(config), teacher=tmp_path / "notes.txt")
    with pytest.raises(ValueError, match=r"--teacher last.pt: .*does not distill"):
        build_distillation(load_config(CONFIGS / "tiny_student.yaml"), "tiny_student.yaml", teacher="last.pt")


def test_old_two_argument_call_resolves_against_the_cwd(tiny_teacher: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tiny_teacher.parents[2])
    cfg = config_from_dict({**yaml.safe_load((CONFIGS / "tiny_student_had.yaml").read_text()),
                            "distill": {"mode": "had", "teacher": "runs/teacher/last.pt"}}, "student (built)")
    assert build_distillation(cfg, "student (built)").section.teacher_path == tiny_teacher
    assert build_distillation(cfg).section.teacher_path == tiny_teacher
