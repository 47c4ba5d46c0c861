"""Diagnostic variants of the model tracker: what a tracker's score owes to its closed loop and to BatchNorm.

- :class:`OpenLoopTracker` searches every frame around the previous frame's ground-truth box (where a perfect
  tracker would have left its estimate) and keeps each decoded box as it is (no centre filter, no size damping):
  its SR is the per-frame localisation accuracy, free of the drift a closed loop accumulates.
- :func:`batch_statistics_model` wraps a model so that, in evaluation, every BatchNorm layer normalises with the
  statistics of the crop it sees (the batch of one window: steps x pixels) instead of its running statistics, and
  leaves the running statistics unchanged.
- :class:`PreviousTruthTracker` answers the previous frame's ground truth: the open-loop score of a model that
  always returns the box its crop was cut around.
"""

from __future__ import annotations

import zlib

import numpy as np
import torch
from torch import nn

from had_snn.data.sequence import valid_box_mask
from had_snn.tracking.tracker import BoxUpdate, ModelTracker


def shifted_box(box: np.ndarray, shift: float, sequence: str, k: int) -> np.ndarray:
    """``box`` moved by ``U(-0.5, 0.5) * shift * sqrt(w * h)`` px per axis (the training sampler's centre jitter),
    drawn from a generator seeded by the sequence name and frame ``k``, so every tracker sees the same shifts."""
    if shift == 0:
        return box.copy()
    rng = np.random.default_rng([zlib.crc32(sequence.encode()), int(k)])
    out = box.copy()
    out[:2] += (rng.random(2) - 0.5) * shift * np.sqrt(box[2] * box[3])
    return out


class OpenLoopTracker(ModelTracker):
    """Open-loop evaluation: frame ``k`` is searched around the ground-truth box of frame ``k - 1`` (the tracker's
    own estimate where that box is absent or invalid), moved by ``shift`` (:func:`shifted_box`; 0: centred), with
    the unguarded box update (:meth:`BoxUpdate.none`)."""

    def __init__(self, *args, shift: float = 0.0, **kwargs) -> None:
        kwargs.setdefault("box_update", BoxUpdate.none())
        super().__init__(*args, **kwargs)
        self.shift = float(shift)

    def update(self, k: int) -> np.ndarray:
        if self._seq is None:
            raise RuntimeError(f"tracker {self.name!r}: call initialize() before update()")
        truth = np.asarray(self._seq.boxes[k - 1], dtype=np.float64)
        if valid_box_mask(truth[None], self._seq.sensor_size)[0]:
            self._box = shifted_box(truth, self.shift, self._seq.name, k)
            self._velocity = np.zeros(2)
        return self._track_window(k, self._box)


class BatchStatisticsModel(nn.Module):
    """``model`` with its BatchNorm layers on the statistics of each forward's own batch in evaluation too (their
    momentum set to 0, so the running statistics stay as trained). ``kind`` and ``config`` are the model's."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.kind = getattr(model, "kind", type(model).__name__)
        self.config = getattr(model, "config", None)
        self._norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        if not self._norms:
            raise ValueError(f"{self.kind}: has no BatchNorm layer to evaluate with batch statistics")
        for bn in self._norms:
            bn.momentum = 0.0

    def train(self, mode: bool = True) -> BatchStatisticsModel:
        super().train(mode)
        for bn in self._norms:
            bn.train()
        return self

    def forward(self, batch: dict[str, torch.Tensor]) -> dict:
        return self.model(batch)


def batch_statistics_model(model: nn.Module) -> BatchStatisticsModel:
    """:class:`BatchStatisticsModel` of ``model`` (which it modifies: its BN momenta become 0)."""
    return BatchStatisticsModel(model)


class PreviousTruthTracker:
    """Reference for open-loop scores: frame ``k``'s box is the ground truth of frame ``k - 1`` (the last valid one
    before it) moved by ``shift`` as :class:`OpenLoopTracker` moves its crops: what a model that only keeps the box
    its crop was cut around would answer open loop."""

    needs_frames = False
    measures_speed = False

    def __init__(self, shift: float = 0.0, name: str = "previous_truth") -> None:
        self.shift = float(shift)
        self.name = self.fingerprint = self.identity = self.source = name
        self._seq = None
        self._box = np.zeros(4)

    def initialize(self, seq, box: np.ndarray | None = None) -> np.ndarray:
        from had_snn.tracking.tracker import init_box

        self._seq = seq
        self._box = init_box(seq) if box is None else np.asarray(box, dtype=np.float64)
        return self._box

    def update(self, k: int) -> np.ndarray:
        truth = np.asarray(self._seq.boxes[k - 1], dtype=np.float64)
        if valid_box_mask(truth[None], self._seq.sensor_size)[0]:
            self._box = shifted_box(truth, self.shift, self._seq.name, k)
        return self._box

    def track(self, seq) -> np.ndarray:
        boxes = np.empty((seq.num_frames, 4))
        boxes[0] = self.initialize(seq)
        for k in range(1, seq.num_frames):
            boxes[k] = self.update(k)
        return boxes
