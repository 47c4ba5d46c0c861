"""Track in the chip's stream mode with the network running in Lava: one graph per sequence, built and compiled once.

:class:`LavaStreamStudent` is the :class:`~had_snn.tracking.loihi.EmulatedStudent` of stream mode with its windows
run by Lava (:class:`~had_snn.hardware.lava_stream.LavaStream`) instead of the emulator: at a sequence's first window
it quantises the correlation layer from the template (as the deployed network does at track start), opens a graph
for the sequence's ``(N - 1) * T + L`` steps (its N - 1 search windows, then L drain steps) and feeds each window's T
steps as the tracker cuts it. The chip's state is never reset inside a sequence.

Frame ``k``'s read-out (chip steps ``kT + L ... kT + L + T - 1`` of the stream) completes while frame ``k + 1``'s
first steps run, and unlike the emulator Lava cannot peek ahead on a copy of its state. :class:`LavaStreamTracker`
therefore feeds ``ceil(L / T)`` windows ahead of the frame it decodes; their crops need only boxes of frames up to
``k - 1`` (the stream crop lag is ``1 + ceil(L / T)`` frames, :attr:`EmulatedTracker.crop_lag_frames`), so the boxes
are the emulated stream tracker's, step for step. Counts are the emulator's operation counts of Lava's own spikes.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from had_snn.conversion.emulator import COUNT_NAMES
from had_snn.conversion.quantize import QuantizedNetwork
from had_snn.data.sequence import Sequence
from had_snn.models.heads import split_head
from had_snn.tracking.config import CropConfig
from had_snn.tracking.loihi import EmulatedStudent, EmulatedTracker, SilentTemplateError
from had_snn.tracking.tracker import BoxUpdate


class LavaStreamStudent(EmulatedStudent):
    """The student in Loihi fixed point, stream mode, every window run by Lava in one graph per sequence.

    ``lava``: an open :class:`~had_snn.hardware.lava_stream.LavaStream` session (the caller owns it).
    :meth:`begin` plans a sequence of ``windows`` search windows; :meth:`feed` runs the next one; :meth:`head`
    gives a fed window's heads once its read-out is complete (feeding the drain after the last window)."""

    def __init__(self, student: nn.Module, qnet: QuantizedNetwork, lava, weight_percentile: float = 100.0) -> None:
        super().__init__(student, qnet, weight_percentile, device="cpu", mode="stream")
        self.lava = lava
        self._windows = 0
        self._v: list[np.ndarray] = []  # the read-out v of every step fed, in order
        self._steps: int | None = None  # T of this sequence's windows
        self._fed = 0

    def begin(self, windows: int) -> None:
        """A new sequence with ``windows`` search windows; closes the previous sequence's graph."""
        if self.lava.steps_open:
            self.lava.close()
        self.start_sequence()
        self._windows, self._v, self._steps, self._fed = int(windows), [], None, 0

    def feed(self, batch: dict[str, torch.Tensor]) -> None:
        """Run the next search window of ``batch`` (template and search spikes of one frame) in Lava."""
        template, search = batch["template_spikes"], batch["search_spikes"]
        if template.shape[1] != 1 or search.shape[1] != 1:
            raise ValueError("LavaStreamStudent tracks one sequence at a time, got a batch of "
                             f"{search.shape[1]}")
        if self._fed >= self._windows:
            raise ValueError(f"all {self._windows} windows of this sequence were fed already")
        self._set_template(template)
        x = search[:, 0].cpu().numpy().astype(np.uint8)  # (T, C, H, W)
        if self._fed == 0:
            self._steps = int(x.shape[0])
            self.lava.open(self.qnet.layers, self._windows * self._steps + self.latency_steps)
        elif x.shape[0] != self._steps:
            raise ValueError(f"every window of a stream needs the same T; got {x.shape[0]} after {self._steps}")
        spikes, v = self.lava.feed(x)
        counts = self.emulator.count_ops(torch.from_numpy(x[:, None]), [torch.from_numpy(s[:, None]) for s in spikes])
        self._counts.append({k: counts[k].cpu().numpy() for k in COUNT_NAMES})
        self._v.append(v)
        self._fed += 1
        if self._fed == self._windows:  # the drain: L zero steps finish the last frame's read-out
            _, v = self.lava.feed(np.zeros((self.latency_steps, *x.shape[1:]), np.uint8))
            self._v.append(v)

    def head(self, window: int) -> dict[str, torch.Tensor]:
        """Heads of fed window ``window`` (0-based in the sequence) from its T aligned read-out steps."""
        t, fill = self._steps, self.latency_steps
        if t is None:
            raise ValueError("no window has been fed yet")
        v = np.concatenate(self._v)
        lo, hi = window * t + fill, window * t + fill + t
        if hi > len(v):
            raise ValueError(f"window {window}'s read-out needs stream steps up to {hi}; {len(v)} have run (feed "
                             f"{math.ceil((hi - len(v)) / t)} more window(s) first)")
        membrane = torch.from_numpy(v[lo:hi]).double() / self.qnet.readout_scale
        return split_head(membrane.mean(0, keepdim=True).float())

    def __call__(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        raise TypeError("LavaStreamStudent runs inside LavaStreamTracker (feed, then head), not as a model call")


class LavaStreamTracker(EmulatedTracker):
    """:class:`EmulatedTracker` in stream mode with the windows run by Lava (see the module docstring);
    ``update(k)`` must come for ``k = 1, 2, ...`` in order. A silent template keeps the initial box, as there."""

    def __init__(self, lava_student: LavaStreamStudent, crop: CropConfig, window_influence: float = 0.25,
                 name: str = "student_lava", fingerprint: str | None = None,
                 box_update: BoxUpdate | None = None) -> None:
        super().__init__(lava_student, crop, window_influence, name=name,
                         fingerprint=None if fingerprint is None else f"{fingerprint}|backend=lava",
                         box_update=box_update)
        self.lava_student = lava_student
        self._crops: dict[int, dict[str, np.ndarray]] = {}
        self._next_feed = 1
        self._next_update = 1

    @property
    def windows_ahead(self) -> int:
        """Windows fed beyond the frame being decoded: ``ceil(L / T)``."""
        return math.ceil(self.lava_student.latency_steps / self.crop.student_steps)

    def initialize(self, seq: Sequence, box: np.ndarray | None = None) -> np.ndarray:
        first = super().initialize(seq, box)
        self.lava_student.begin(seq.num_frames - 1)
        self._crops, self._next_feed, self._next_update = {}, 1, 1
        return first

    def update(self, k: int) -> np.ndarray:
        if self._seq is None:
            raise RuntimeError(f"tracker {self.name!r}: call initialize() before update()")
        if k != self._next_update:
            raise ValueError(f"tracker {self.name!r}: Lava streams frames in order; expected frame "
                             f"{self._next_update}, got {k}")
        self._next_update += 1
        if not self._silent:
            try:
                last = min(k + self.windows_ahead, self._seq.num_frames - 1)
                while self._next_feed <= last:
                    j = self._next_feed
                    known = [i for i in self._boxes if i <= j - self.crop_lag_frames]
                    search, batch = self._search(j, self._boxes[max(known)] if known else self._boxes[0])
                    self.lava_student.feed(batch)
                    self._crops[j] = search
                    self._next_feed += 1
                box = self._decode_update(self.lava_student.head(k - 1), self._crops.pop(k))
                self._remember(k, box)
                if k == self._seq.num_frames - 1:
                    self.lava_student.lava.close()
                return box
            except SilentTemplateError:
                self._silent = True
                self.silent_sequences.append(self._seq.name)
        self._remember(k, self._box)
        return self._box

    def close(self) -> None:
        """End the Lava session (its graph and its Python 3.10 process)."""
        self.lava_student.lava.shutdown()

    @property
    def lava_timing_s(self) -> dict[str, float]:
        """Seconds the Lava session spent so far, by part (:attr:`LavaStream.timing_s`)."""
        return dict(self.lava_student.lava.timing_s)
