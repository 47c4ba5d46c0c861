"""The student diagnostic's pieces: the ANN twin, graded input, BN frozen in training, the open-loop and BN
batch-statistics trackers, and experiments/student_diagnostic.py on the quick preset."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from had_snn.data.synthetic import SynthConfig, generate_sequence
from had_snn.models import build_model
from had_snn.models.checkpoint import load_model
from had_snn.tracking.config import CropConfig
from had_snn.tracking.crop import crop_inputs
from had_snn.tracking.diagnostic import OpenLoopTracker, PreviousTruthTracker, batch_statistics_model, shifted_box
from had_snn.tracking.tracker import BoxUpdate, ModelTracker, crop_config_for
from had_snn.train.config import load_config
from had_snn.train.loop import train
from tests.test_tracker import OracleModel, moving_square_sequence

ROOT = Path(__file__).resolve().parents[1]
TINY = {"widths": (4, 8, 8), "head_channels": 8, "search_px": 32, "template_px": 16}


def _batch(steps: int = 4, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {"template_spikes": (torch.rand(steps, 2, 2, 16, 16, generator=g) < 0.2).float(),
            "search_spikes": (torch.rand(steps, 2, 2, 32, 32, generator=g) < 0.2).float()}


def test_ann_twin_has_the_students_layers_and_no_time() -> None:
    """The twin's convolutions match the student's one for one; its outputs have the student's shapes, do not
    depend on the order of the steps (it sees their sum) and train; QAT is refused."""
    torch.manual_seed(0)
    student, twin = build_model("student", **TINY), build_model("student_ann", **TINY)
    convs = lambda m: [tuple(c.weight.shape) for c in m.modules() if isinstance(c, torch.nn.Conv2d)]  # noqa: E731
    assert convs(twin) == convs(student) and twin.kind == "student_ann"
    twin.eval()
    batch = _batch()
    out = twin(batch)
    ref = student.eval()(batch)
    for key in ("heatmap", "size", "offset"):
        assert out[key].shape == ref[key].shape, key
    flipped = {k: v.flip(0) for k, v in batch.items()}
    torch.testing.assert_close(twin(flipped)["heatmap"], out["heatmap"])
    twin.train()
    twin(batch)["heatmap"].sum().backward()
    assert all(p.grad is not None for p in twin.parameters())
    with pytest.raises(ValueError, match="qat"):
        build_model("student_ann", **TINY, qat=True)


def test_graded_spikes_are_the_binary_steps_counts() -> None:
    seq = generate_sequence(SynthConfig(width_px=96, height_px=72, duration_s=0.3), seed=1, attributes=(), name="g")
    box = seq.boxes[0].astype(np.float64)
    binary = crop_inputs(seq, 3, box, 4.0, 32, CropConfig(search_px=32, student_steps=4))["spikes"]
    graded = crop_inputs(seq, 3, box, 4.0, 32, CropConfig(search_px=32, student_steps=4, graded_spikes=True))["spikes"]
    assert set(np.unique(binary)) <= {0.0, 1.0} and graded.max() > 1
    np.testing.assert_array_equal(binary, (graded > 0).astype(np.float32))
    model = build_model("student", **TINY)
    assert crop_config_for(model, 4, {"graded_spikes": True}).graded_spikes is True
    assert crop_config_for(model, 4).graded_spikes is False


@pytest.fixture(scope="module")
def sequences() -> list:
    cfg = SynthConfig(width_px=96, height_px=72, duration_s=0.5)
    return [generate_sequence(cfg, seed=i, attributes=(), name=f"s{i}") for i in range(2)]


def test_bn_freeze_epoch_keeps_the_running_statistics(sequences: list, tmp_path: Path) -> None:
    """From ``bn_freeze_epoch`` on the running statistics stay as they were while the weights keep training."""
    torch.set_num_threads(1)
    crop = {"student_steps": 2, "search_px": 32, "template_px": 16}

    def run(out: Path, epochs: int, freeze: int):
        cfg = load_config(ROOT / "experiments" / "configs" / "tiny_student.yaml",
                          {"epochs": epochs, "bn_freeze_epoch": freeze, "model_config": TINY,
                           "data": {"samples_per_epoch": 16, "crop": crop}})
        train(cfg, out, sequences, progress=False)
        return load_model(out / "last.pt").state_dict()

    one = run(tmp_path / "one", 1, 0)
    frozen = run(tmp_path / "frozen", 2, 2)
    free = run(tmp_path / "free", 2, 0)
    stats = [k for k in one if k.endswith(("running_mean", "running_var"))]
    assert stats
    for k in stats:
        torch.testing.assert_close(frozen[k], one[k])  # epoch 2 left them as epoch 1 ended
    assert any(not torch.equal(free[k], one[k]) for k in stats)
    assert not torch.equal(frozen["head.3.weight"], one["head.3.weight"])  # the weights still trained


def test_open_loop_tracker_searches_around_the_previous_ground_truth() -> None:
    """Frame k's crop is cut around the ground truth of frame k - 1 (its own estimate where that box is absent),
    and the decoded box is kept as it is."""
    seq = moving_square_sequence(n_frames=8)
    seq.boxes[4] = np.nan  # absent at frame 4: frame 5 is searched around the tracker's own estimate
    tracker = OpenLoopTracker(OracleModel(), window_influence=0.0)
    assert tracker.box_update == BoxUpdate.none()
    crops: list[np.ndarray] = []
    search = tracker._search
    tracker._search = lambda k, box: (crops.append(box.copy()), search(k, box))[1]
    boxes = tracker.track(seq)
    for k in (1, 2, 3, 4, 6, 7):
        np.testing.assert_allclose(crops[k - 1], seq.boxes[k - 1])
    np.testing.assert_allclose(crops[4], boxes[4])
    np.testing.assert_allclose(boxes[[0, 1, 2, 3, 5, 6, 7], 0], seq.boxes[[0, 1, 2, 3, 5, 6, 7], 0], atol=0.5)
    # shifted: the crops move off the target by the same seeded amounts for every tracker; the oracle still finds it
    shifted = OpenLoopTracker(OracleModel(), window_influence=0.0, shift=1.0)
    moved: list[np.ndarray] = []
    search2 = shifted._search
    shifted._search = lambda k, box: (moved.append(box.copy()), search2(k, box))[1]
    found = shifted.track(seq)
    for k in (1, 2, 6):
        np.testing.assert_allclose(moved[k - 1], shifted_box(seq.boxes[k - 1], 1.0, seq.name, k))
        assert 0 < np.abs(moved[k - 1][:2] - seq.boxes[k - 1][:2]).max() <= 0.5 * seq.boxes[k - 1][2]
    np.testing.assert_allclose(found[[1, 2, 3, 6, 7], 0], seq.boxes[[1, 2, 3, 6, 7], 0], atol=0.5)
    lazy = PreviousTruthTracker(shift=1.0, name="moved").track(seq)
    np.testing.assert_allclose(lazy[2], shifted_box(seq.boxes[1], 1.0, seq.name, 2))


def test_batch_statistics_model_normalises_each_crop_by_itself() -> None:
    """In evaluation BN uses each forward's own statistics, leaves the running ones unchanged, and the output
    differs from the running-statistics one."""
    torch.manual_seed(0)
    model = build_model("student", **TINY).eval()
    batch = _batch(seed=3)
    before = {k: v.clone() for k, v in model.state_dict().items() if "running" in k}
    ref = model(batch)["heatmap"]
    wrapped = batch_statistics_model(model)
    wrapped.eval()
    assert all(m.training for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d))
    with torch.no_grad():
        out = wrapped(batch)["heatmap"]
    assert not torch.allclose(out, ref)
    for k, v in before.items():
        torch.testing.assert_close(model.state_dict()[k], v)
    seq = moving_square_sequence(n_frames=4)
    boxes = ModelTracker(wrapped, CropConfig(template_px=16, search_px=32, student_steps=4)).track(seq)
    assert np.isfinite(boxes).all()
    with pytest.raises(ValueError, match="no BatchNorm"):
        batch_statistics_model(OracleModel())


def _load(name: str):
    path = ROOT / "experiments" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_student_diagnostic_quick_preset(tmp_path: Path) -> None:
    """The diagnostic script end to end on the quick preset: its rows, the open-loop and BN columns, the learning
    curve (3x the epochs, validation SR per epoch) and its plot; the student step is the HAD table's own."""
    diag = _load("student_diagnostic")
    out = tmp_path / "diag"
    argv = ["--preset", "quick", "--out", str(out), "--seeds", "1", "--rows", "ann_twin", "epochs_30",
            "--sequences", "9", "--duration-s", "0.3", "--epochs", "1", "--samples-per-epoch", "16",
            "--device", "cpu", "--bootstrap", "200", "--no-progress", "--parallel", "1"]
    assert diag.main(argv) == 0
    page = (out / "diagnostic.md").read_text()
    for row in ("static", "previous_truth", "teacher_events", "student", "ann_twin", "epochs_30", "student+bn_batch",
                "student+bn_recal"):
        assert re.search(rf"^\| {re.escape(row)} \| ", page, re.M), row
    ann = re.search(r"^\| ann_twin \|.*$", page, re.M).group(0).split("|")
    assert re.fullmatch(r" [+-]\d+\.\d \[[+-]\d+\.\d, [+-]\d+\.\d\] ", ann[5]), ann  # vs the student
    assert re.fullmatch(r" \d+\.\d ", ann[6]) and re.fullmatch(r" 0\.\d{3} ", ann[10]), ann  # open loop, IoU
    truth = re.search(r"^\| previous_truth \|.*$", page, re.M).group(0).split("|")
    assert truth[4].strip() == "-" and re.fullmatch(r" \d+\.\d ", truth[6]), truth  # an open-loop reference only
    assert re.fullmatch(r" \d+\.\d ", truth[8]) and re.fullmatch(r" \d+\.\d ", ann[8]), (truth, ann)  # shifted
    result = json.loads((out / "diagnostic.json").read_text())
    curve = result["learning_curve"]["0"]
    assert [h["epoch"] for h in curve] == [1, 2, 3] and all(0 <= h["val_sr"] <= 1 for h in curve)
    assert (out / "plots" / "learning_curve.png").stat().st_size > 0
    student = json.loads((out / "runs" / "student" / "seed0" / "stamp.json").read_text())
    table = _load("had_table")
    cfg = table.method_config("student", table.METHODS["student"], 0, table.PRESETS["quick"], None,
                              {"epochs": 1, "data": {"samples_per_epoch": 16}})
    assert student["config"]["train"] == cfg  # the HAD table's student step: shared when --out is its folder
    # the box-update sweep on the same folder: the val split of each seed's draw, one row per setting
    sweep = _load("box_update_sweep")
    assert sweep.main(["--table", str(out), "--rows", "student", "ann_twin", "--size-lr", "0.4", "0.2",
                       "--scale-range", "0.2,5", "--parallel", "1"]) == 0
    rows = re.findall(r"^\| size_lr (0\.4|0\.2), scale 0\.2-5 \| (\d+\.\d) ± \d+\.\d \|",
                      (out / "box_update_sweep.md").read_text(), re.M)
    assert [r[0] for r in rows] == ["0.4", "0.2"], rows
    data = json.loads((out / "box_update_sweep.json").read_text())["results"]
    assert all(0 <= v["SR"] <= 1 and v["size_ratio"] > 0 for s in data.values() for r in s.values() for v in r)
    with pytest.raises(SystemExit):
        sweep.main(["--table", str(out), "--scale-range", "2,5"])


def test_train_student_ann_from_a_student_config(tmp_path: Path) -> None:
    """`had-snn train student_ann` takes a student config (the twin shares it) and writes a twin checkpoint."""
    from had_snn.cli import main
    from had_snn.data.benchmark import build_benchmark

    torch.set_num_threads(1)
    build_benchmark(tmp_path / "data", 9, seed=0, cfg=SynthConfig(width_px=96, height_px=72, duration_s=0.3),
                    workers=1, progress=False)
    config = ROOT / "experiments" / "configs" / "tiny_student.yaml"
    assert main(["train", "student_ann", "--config", str(config), "--data", str(tmp_path / "data"), "--out",
                 str(tmp_path / "run"), "--epochs", "1", "--samples-per-epoch", "16", "--no-progress"]) == 0
    assert load_model(tmp_path / "run" / "last.pt").kind == "student_ann"


def test_recalibrate_batch_norm_averages_the_final_weights_statistics() -> None:
    """The running statistics become the mean of the batches' statistics under the current weights; weights and
    momenta stay as they were; a model without BN or an empty batch list is refused."""
    from had_snn.train.bn_recalibration import recalibrate_batch_norm

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv2d(1, 3, 1)
            self.bn = torch.nn.BatchNorm2d(3, momentum=0.3)

        def forward(self, batch: dict) -> torch.Tensor:
            return self.bn(self.conv(batch["x"]))

    torch.manual_seed(0)
    net = Net()
    batches = [{"x": torch.randn(4, 1, 5, 5) * (1 + i)} for i in range(3)]
    weight = net.conv.weight.clone()
    assert recalibrate_batch_norm(net, batches) == 3
    with torch.no_grad():
        means = torch.stack([net.conv(b["x"]).mean(dim=(0, 2, 3)) for b in batches])
    torch.testing.assert_close(net.bn.running_mean, means.mean(0))
    assert net.bn.momentum == 0.3 and not net.training and torch.equal(net.conv.weight, weight)
    student = build_model("student", **TINY)
    recalibrate_batch_norm(student, [_batch(seed=s) for s in range(2)])
    assert int(student.backbone[1].num_batches_tracked) == 4  # each batch runs the template and the search crop
    with pytest.raises(ValueError, match="no BatchNorm"):
        recalibrate_batch_norm(torch.nn.Linear(2, 2), [])
    with pytest.raises(ValueError, match="no batch"):
        recalibrate_batch_norm(net, [])


def test_event_ann_fed_spike_counts_sees_the_students_input() -> None:
    """``event_input: spike_counts``: the event-only ANN reads the student's spike steps summed (2 channels) and
    ignores the voxel grid; an unknown input is refused."""
    torch.manual_seed(0)
    tiny = {"widths": (4, 8, 8), "head_channels": 8, "stem_channels": 4, "search_px": 32, "template_px": 16}
    model = build_model("teacher_events", **tiny, event_input="spike_counts").eval()
    batch = _batch()
    out = model(batch)["heatmap"]
    flipped = {k: v.flip(0) for k, v in batch.items()}  # the order of the steps does not matter: their sum does
    torch.testing.assert_close(model(flipped)["heatmap"], out)
    assert model.event_stem[0].in_channels == 2
    with pytest.raises(ValueError, match="search_spikes"):
        model({"template_spikes": batch["template_spikes"]})
    with pytest.raises(ValueError, match="event_input"):
        build_model("teacher_events", **tiny, event_input="frames")
