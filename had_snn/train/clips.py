"""Training clips for the chip's stream mode: one template and K consecutive search frames, run as ONE stream.

The student is trained on pairs from the zero state (:mod:`had_snn.train.sampler`), but on the chip's stream mode
every frame starts from the state the previous frames left: the membrane is never reset inside a sequence. A clip
item holds the template of frame ``i`` and the search windows of frames ``j, j + 1, ..., j + K - 1`` (all annotated,
``|j - i| <= max_gap``); the student runs the K windows back to back (K * T steps, the state carried over) and each
frame's read-out is scored against that frame's target (:meth:`had_snn.models.student.SpikingStudent.forward`
with ``clip_frames``).

The crops follow the target as a tracker's do: one jitter draw per clip (log-normal size factor, centre shift in
units of the box size, as :func:`~had_snn.train.sampler.jitter_box`) is applied to every frame's ground-truth box,
so the crop moves with the target at a constant offset instead of jumping about between frames. Items depend only
on ``(seed, epoch, index)``.
"""

from __future__ import annotations

from collections.abc import Sequence as SequenceList

import numpy as np
import torch
from torch.utils.data import Dataset

from had_snn.data.sequence import Sequence
from had_snn.tracking.config import CropConfig
from had_snn.tracking.crop import make_sample
from had_snn.train.sampler import valid_frames

#: keys of a clip item that hold one entry per search frame
PER_FRAME = ("search_spikes", "target_box", "target_heatmap")


def clip_box(box: np.ndarray, scale: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """``box`` (x, y, w, h) with its size times ``scale`` and its centre moved by ``shift`` x sqrt(new area)."""
    wh = box[2:] * scale
    centre = box[:2] + box[2:] / 2 + shift * np.sqrt(wh.prod())
    return np.concatenate([centre - wh / 2, wh])


class ClipDataset(Dataset):
    """``samples_per_epoch`` random clips of ``clip_frames`` consecutive search frames per epoch (module docstring).

    Sequences without ``clip_frames`` consecutive annotated frames are skipped; ValueError when none is left."""

    def __init__(self, sequences: SequenceList[Sequence], clip_frames: int, crop: CropConfig | None = None,
                 samples_per_epoch: int = 1000, max_gap: int = 10, center_jitter: float = 3.0,
                 scale_jitter: float = 0.25, seed: int = 0) -> None:
        if clip_frames < 2:
            raise ValueError(f"clip_frames must be >= 2 (1 is a plain pair: PairDataset), got {clip_frames}")
        if samples_per_epoch < 1 or max_gap < 1:
            raise ValueError(f"samples_per_epoch and max_gap must be >= 1, got {samples_per_epoch}, {max_gap}")
        self.k, self.crop = int(clip_frames), crop or CropConfig()
        self.samples_per_epoch, self.max_gap = int(samples_per_epoch), int(max_gap)
        self.center_jitter, self.scale_jitter = float(center_jitter), float(scale_jitter)
        self.seed, self.epoch = int(seed), 0
        self.sequences, self.frames, self.starts = [], [], []
        for seq in sequences:
            frames = valid_frames(seq)
            valid = set(frames.tolist())
            starts = np.array([j for j in frames if all(j + m in valid for m in range(self.k))], dtype=np.int64)
            if len(starts):
                self.sequences.append(seq)
                self.frames.append(frames)
                self.starts.append(starts)
        if not self.sequences:
            raise ValueError(f"no sequence has {self.k} consecutive annotated frames for a clip (got "
                             f"{[s.name for s in sequences]}); lower data.clip_frames")

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.samples_per_epoch

    def draw(self, index: int) -> tuple[Sequence, int, int, np.ndarray, np.ndarray]:
        """Sequence, template frame, first search frame, size factor and centre shift of item ``index``."""
        rng = np.random.default_rng([self.seed, self.epoch, int(index)])
        n = int(rng.integers(len(self.sequences)))
        seq, frames, starts = self.sequences[n], self.frames[n], self.starts[n]
        j = int(rng.choice(starts))
        near = frames[np.abs(frames - j) <= self.max_gap]
        i = int(rng.choice(near))
        scale = np.exp(rng.standard_normal(2) * self.scale_jitter)
        shift = (rng.random(2) - 0.5) * self.center_jitter
        return seq, i, j, scale, shift

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        if not 0 <= index < self.samples_per_epoch:
            raise IndexError(index)
        seq, i, j, scale, shift = self.draw(index)
        samples = [make_sample(seq, i, seq.boxes[i], f, clip_box(seq.boxes[f].astype(np.float64), scale, shift),
                               self.crop, target_box=seq.boxes[f]) for f in range(j, j + self.k)]
        item = {k: torch.from_numpy(v) for k, v in samples[0].items() if k.startswith("template_")}
        item.update({k: torch.from_numpy(np.stack([s[k] for s in samples])) for k in PER_FRAME})
        return item


def collate_clips(samples: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Batch clip items: ``template_spikes`` (T, B, ...), ``search_spikes`` the K windows back to back (K * T, B, ...),
    the per-frame targets frame-major (K * B, ...) (row ``k * B + b``: frame k of item b) and ``clip_frames`` K."""
    k = samples[0]["search_spikes"].shape[0]
    batch = {name: torch.stack([s[name] for s in samples]) for name in samples[0]}
    batch["template_spikes"] = batch["template_spikes"].transpose(0, 1).contiguous()
    spikes = batch["search_spikes"]  # (B, K, T, C, H, W)
    batch["search_spikes"] = spikes.permute(1, 2, 0, 3, 4, 5).reshape(-1, *spikes.shape[:1], *spikes.shape[3:])
    for name in ("target_box", "target_heatmap"):
        x = batch[name]  # (B, K, ...)
        batch[name] = x.transpose(0, 1).reshape(-1, *x.shape[2:]).contiguous()
    batch["clip_frames"] = torch.tensor(k)
    return batch
