"""Stream training clips: K consecutive search frames run as one stream; each frame's read-out is the chip's."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from had_snn.data.synthetic import SynthConfig, generate_sequence
from had_snn.models import SpikingStudent, StudentConfig
from had_snn.models.heads import split_head
from had_snn.tracking.config import CropConfig
from had_snn.train.clips import ClipDataset, collate_clips
from tests.conftest import randomise_student

CROP = CropConfig(template_px=16, search_px=32, student_steps=3)
K = 3


@pytest.fixture(scope="module")
def seqs():
    return [generate_sequence(SynthConfig(width_px=64, height_px=48, duration_s=0.3, fps=30), seed=s,
                              attributes=("fast_motion",), name=f"s{s}") for s in (3, 4)]


def test_a_clip_is_k_consecutive_frames_with_one_crop_offset(seqs) -> None:
    data = ClipDataset(seqs, K, CROP, samples_per_epoch=8, seed=1)
    item = data[5]
    assert item["search_spikes"].shape == (K, 3, 2, 32, 32) and item["template_spikes"].shape == (3, 2, 16, 16)
    assert item["target_box"].shape == (K, 4) and item["target_heatmap"].shape[0] == K
    assert all(torch.equal(item[k], data[5][k]) for k in item)  # determined by (seed, epoch, index)
    data.set_epoch(1)
    assert not torch.equal(data[5]["search_spikes"], item["search_spikes"])
    # the same offset of the crop from the target in every frame, in units of the target size: crops follow it
    seq, _, j, scale, shift = data.draw(5)
    from had_snn.train.clips import clip_box

    for f in range(j, j + K):
        box = seq.boxes[f].astype(np.float64)
        crop = clip_box(box, scale, shift)
        wh = box[2:] * scale
        offset = (crop[:2] + crop[2:] / 2 - box[:2] - box[2:] / 2) / np.sqrt(wh.prod())
        np.testing.assert_allclose(offset, shift)
    batch = collate_clips([data[0], data[1]])
    assert batch["search_spikes"].shape == (K * 3, 2, 2, 32, 32) and int(batch["clip_frames"]) == K
    assert batch["target_box"].shape == (K * 2, 4)
    # frame k of item b: its window is steps [3k, 3k + 3) of column b, its target row k * B + b
    torch.testing.assert_close(batch["search_spikes"][3:6, 1], data[1]["search_spikes"][1], rtol=0, atol=0)
    torch.testing.assert_close(batch["target_box"][2 * 2 + 0], data[0]["target_box"][2], rtol=0, atol=0)


def test_clips_refuse_what_they_cannot_make(seqs) -> None:
    with pytest.raises(ValueError, match="clip_frames must be >= 2"):
        ClipDataset(seqs, 1, CROP)
    with pytest.raises(ValueError, match="no sequence has 100 consecutive annotated frames"):
        ClipDataset(seqs, 100, CROP)


def test_each_frames_heads_are_the_emulated_stream_trackers(seqs) -> None:
    """QAT student, a batch of 2 clips: frame k's heads equal an EmulatedStudent in stream mode fed the same
    windows one after another (its correlation quantised from that clip's template), bit for bit."""
    from had_snn.conversion.quantize import quantize_student
    from had_snn.tracking.loihi import EmulatedStudent

    torch.manual_seed(3)
    model = randomise_student(SpikingStudent(StudentConfig(widths=(4, 6, 8), head_channels=4, search_px=32,
                                                           template_px=16, threshold=0.3, qat=True)), decays=True)
    model.eval()
    data = ClipDataset(seqs, K, CROP, samples_per_epoch=4, seed=0)
    items = [data[0], data[1]]
    with torch.no_grad():
        out = model(collate_clips(items))
    assert out["heatmap"].shape[0] == K * 2
    for b, item in enumerate(items):
        template = item["template_spikes"][:, None]
        emulated = EmulatedStudent(model, quantize_student(model, template), mode="stream")
        emulated._set_template(template)
        for k in range(K):
            membrane, _ = emulated.run_window(item["search_spikes"][k][:, None])
            expected = split_head(membrane)
            for key in ("heatmap", "size", "offset"):
                torch.testing.assert_close(out[key][k * 2 + b], expected[key][0], rtol=0, atol=0, msg=key)
    assert out["heatmap"].abs().max() > 0


def test_stream_training_through_the_cli(tmp_path, capsys) -> None:
    from had_snn.cli import main
    from had_snn.data.benchmark import build_benchmark

    torch.set_num_threads(1)
    config = str(Path(__file__).resolve().parents[1] / "experiments" / "configs" / "tiny_student.yaml")
    data = tmp_path / "data"
    build_benchmark(data, 3, 0, (1, 1, 1), SynthConfig(width_px=64, height_px=48, duration_s=0.3, fps=30),
                    progress=False)
    common = ["train", "student", "--config", config, "--data", str(data), "--epochs", "1", "--no-progress",
              "--val-sequences", "0", "--samples-per-epoch", "8", "--batch-size", "4"]
    assert main([*common, "--out", str(tmp_path / "clip"), "--clip-frames", "3"]) == 0
    saved = (tmp_path / "clip" / "config.yaml").read_text()
    assert "clip_frames: 3" in saved
    row = json.loads((tmp_path / "clip" / "metrics.json").read_text())[0]
    assert np.isfinite(row["loss"]) and 0 <= row["iou"] <= 1
    capsys.readouterr()
    assert main(["train", "teacher", "--config", config.replace("tiny_student", "tiny_teacher"), "--data",
                 str(data), "--epochs", "1", "--no-progress", "--val-sequences", "0", "--out", str(tmp_path / "t"),
                 "--clip-frames", "3"]) == 1
    assert "needs the spiking student" in capsys.readouterr().err
