"""Training pairs for Siamese trackers: template from frame i, search from frame j of the same sequence.

Each item is fully determined by ``(seed, epoch, index)`` (its own numpy generator), so results do not depend on
the number of DataLoader workers or DDP ranks. Jitter follows OSTrack's ``processing`` step: the search crop is cut
around the GT box with its size scaled by ``exp(N(0, 1) * scale_jitter)`` and its centre moved by
``U(-0.5, 0.5) * center_jitter * sqrt(w' * h')``; with the default search context 4 the target centre always stays
inside the crop.
"""

from __future__ import annotations

from collections.abc import Sequence as SequenceList

import numpy as np
import torch
from torch.utils.data import Dataset

from had_snn.data.sequence import Sequence, valid_box_mask
from had_snn.tracking.config import CropConfig
from had_snn.tracking.crop import make_sample

SPIKE_KEYS = ("template_spikes", "search_spikes")


def valid_frames(seq: Sequence) -> np.ndarray:
    """Indices of frames with a valid GT box on the sensor (see :func:`valid_box_mask`)."""
    return np.flatnonzero(valid_box_mask(seq.boxes, seq.sensor_size))


def jitter_box(box: np.ndarray, rng: np.random.Generator, center_jitter: float, scale_jitter: float) -> np.ndarray:
    """OSTrack-style jitter of ``x, y, w, h``: log-normal size, uniform centre shift scaled by the new size."""
    wh = box[2:] * np.exp(rng.standard_normal(2) * scale_jitter)
    centre = box[:2] + box[2:] / 2 + (rng.random(2) - 0.5) * center_jitter * np.sqrt(wh.prod())
    return np.concatenate([centre - wh / 2, wh])


class PairDataset(Dataset):
    """``samples_per_epoch`` random (template, search) pairs per epoch from ``sequences``.

    A sequence is drawn uniformly, then template frame ``i`` and search frame ``j`` among its annotated frames with
    ``|i - j| <= max_gap``. Items are dicts of float32 tensors (see :func:`had_snn.tracking.crop.make_sample`);
    batch them with :func:`collate_pairs`. Call :meth:`set_epoch` to draw new pairs each epoch.
    """

    def __init__(
        self,
        sequences: SequenceList[Sequence],
        crop: CropConfig | None = None,
        samples_per_epoch: int = 1000,
        max_gap: int = 10,
        center_jitter: float = 3.0,
        scale_jitter: float = 0.25,
        seed: int = 0,
    ) -> None:
        self.crop = crop or CropConfig()
        self.samples_per_epoch = int(samples_per_epoch)
        self.max_gap, self.center_jitter, self.scale_jitter = int(max_gap), float(center_jitter), float(scale_jitter)
        self.seed, self.epoch = int(seed), 0
        if self.samples_per_epoch < 1 or self.max_gap < 1:
            raise ValueError(f"samples_per_epoch and max_gap must be >= 1, got {samples_per_epoch}, {max_gap}")
        self.sequences, self.frames = [], []
        for seq in sequences:
            idx = valid_frames(seq)
            if len(idx) >= 2:
                self.sequences.append(seq)
                self.frames.append(idx)
        if not self.sequences:
            names = [s.name for s in sequences]
            raise ValueError(f"no sequence has 2 or more annotated frames to sample pairs from (got {names})")

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.samples_per_epoch

    def draw(self, index: int) -> tuple[Sequence, int, int, np.ndarray]:
        """The sequence, template frame, search frame and jittered search-centre box of item ``index``."""
        rng = np.random.default_rng([self.seed, self.epoch, int(index)])
        k = int(rng.integers(len(self.sequences)))
        seq, frames = self.sequences[k], self.frames[k]
        i = int(rng.choice(frames))
        near = frames[(np.abs(frames - i) <= self.max_gap) & (frames != i)]
        j = int(rng.choice(near)) if len(near) else i
        box = seq.boxes[j].astype(np.float64)
        return seq, i, j, jitter_box(box, rng, self.center_jitter, self.scale_jitter)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        if not 0 <= index < self.samples_per_epoch:
            raise IndexError(index)
        seq, i, j, search_box = self.draw(index)
        sample = make_sample(seq, i, seq.boxes[i], j, search_box, self.crop, target_box=seq.boxes[j])
        return {k: torch.from_numpy(v) for k, v in sample.items()}


def collate_pairs(samples: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Stack items into a batch; spike tensors become time-first ``(T, B, 2, H, W)``."""
    batch = {k: torch.stack([s[k] for s in samples]) for k in samples[0]}
    for k in SPIKE_KEYS:
        if k in batch:
            batch[k] = batch[k].transpose(0, 1).contiguous()
    return batch
