"""Track with the Loihi fixed-point student: the quantised network, run by the bit-exact emulator, in the tracker loop.

:class:`EmulatedStudent` has the model interface :class:`~had_snn.tracking.tracker.ModelTracker` expects
(``forward(batch) -> heatmap/size/offset``). On a new template (a new sequence) it re-quantises only the correlation
layer, as the deployed network does at track start. The emulator's :meth:`~had_snn.conversion.emulator.LoihiEmulator.
run_aligned` runs each search window and returns the read-out ``v`` of the ``T`` steps that read the window (``L``
synaptic layers each add one step of delay); divided by the read-out scale and averaged it replaces the float
membrane. Two modes (``mode``):

* ``reset`` (default): every window runs ``T + L`` steps from the zero state (``L`` zero steps drain the pipeline);
  each frame is billed ``T + L`` steps.
* ``stream``: the chip runs continuously, one stream state per sequence (zero at track start): frame ``k + 1``'s
  steps enter while frame ``k`` drains, no reset, no flush; each frame is billed its ``T`` steps. Because the read-out
  of a frame completes ``L`` steps after its last input step, :class:`EmulatedTracker` centres the crop of frame
  ``j`` on the box of the newest frame whose read-out had finished when frame ``j``'s first step entered
  (``crop_lag_frames = 1 + ceil(L / T)`` frames back; 1 in reset mode).

Operation counts of every window (the billed steps) are kept for the energy model.

A template whose stage-3 spikes are all silent gives an all-zero correlation kernel, which has no fixed-point scale:
the deployed network cannot track from it. :class:`EmulatedTracker` then keeps the initial box for that sequence
(the static baseline's answer) and lists the sequence in ``silent_sequences`` so reports can say so.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from had_snn.conversion.emulator import COUNT_NAMES, EmulatorState, LoihiEmulator
from had_snn.conversion.quantize import QuantizedNetwork, correlation_layer, template_kernel_for
from had_snn.data.sequence import Sequence
from had_snn.models.heads import split_head
from had_snn.tracking.config import CropConfig
from had_snn.tracking.tracker import BoxUpdate, ModelTracker
from had_snn.tracking.windows import spike_windows


class SilentTemplateError(ValueError):
    """The template's stage-3 spikes are all zero, so the correlation kernel is zero and cannot be quantised."""


def is_silent(student: nn.Module, template: torch.Tensor) -> bool:
    """True when the template gives an all-zero correlation kernel."""
    return not bool(template_kernel_for(student, template).abs().max() > 0)


def first_live_template(student: nn.Module, sequences: list[Sequence], crop: CropConfig
                        ) -> tuple[Sequence, torch.Tensor]:
    """The first sequence whose template gives a non-zero correlation kernel, with that template."""
    for seq in sequences:
        template = torch.from_numpy(spike_windows(seq, crop)[0])
        if not is_silent(student, template):
            return seq, template
    raise SilentTemplateError(f"every template of the {len(sequences)} sequences gives an all-zero correlation kernel "
                              "(silent stage-3 spikes); the student cannot be converted with them")


MODES = ("reset", "stream")


def check_mode(mode: str) -> str:
    """``mode`` if it is a Loihi run mode (``reset`` or ``stream``), else a ValueError naming ``--loihi-mode``."""
    if mode not in MODES:
        raise ValueError(f"--loihi-mode must be one of {', '.join(MODES)}, got {mode!r}")
    return mode


class EmulatedStudent:
    """Callable stand-in for a trained student that computes its outputs in Loihi fixed point.

    ``mode``: ``reset`` (each window from the zero state, ``T + L`` steps) or ``stream`` (continuous run per sequence,
    ``T`` steps per window; call :meth:`start_sequence` at each track start), see the module docstring.
    """

    def __init__(self, student: nn.Module, qnet: QuantizedNetwork, weight_percentile: float = 100.0,
                 device: str | torch.device = "cpu", mode: str = "reset") -> None:
        if getattr(student, "kind", None) != "student":
            raise ValueError(f"EmulatedStudent needs the spiking student, got {getattr(student, 'kind', student)!r}")
        self.student = student.eval()
        self.base = qnet
        self.weight_percentile = float(weight_percentile)
        self.device = torch.device(device)
        self.mode = check_mode(mode)
        self.config = student.config  # lets crop_config_for() read template_px / search_px
        self._template: torch.Tensor | None = None
        self.qnet = qnet
        self.emulator = LoihiEmulator(qnet.layers, self.device)
        self.layer_names = list(self.emulator.layer_names)
        self._counts: list[dict[str, np.ndarray]] = []
        self._stream: EmulatorState | None = None

    @property
    def latency_steps(self) -> int:
        """Steps of pipeline latency L (one per synaptic layer; the emulator's ``fill_steps``)."""
        return self.emulator.fill_steps

    def billed_steps(self, input_steps: int) -> int:
        """Steps the chip runs (and is billed) per frame of ``input_steps``: ``T + L`` in reset mode, ``T`` in
        stream mode."""
        return input_steps + (self.latency_steps if self.mode == "reset" else 0)

    def start_sequence(self) -> None:
        """A new sequence starts: the stream state goes back to zero (the chip is reset once per track)."""
        self._stream = None

    def _set_template(self, template: torch.Tensor) -> None:
        if self._template is not None and torch.equal(self._template, template):
            return
        if is_silent(self.student, template.cpu()):
            raise SilentTemplateError("the template's stage-3 spikes are all zero")
        self.qnet = correlation_layer(self.student, self.base, template.cpu(), self.weight_percentile)
        self.emulator = LoihiEmulator(self.qnet.layers, self.device)
        self._template = template.clone()
        self._stream = None  # a new correlation kernel is a new network: its stream starts from zero

    def run_window(self, search_spikes: torch.Tensor) -> tuple[torch.Tensor, dict[str, np.ndarray]]:
        """Read-out membrane (B, 5, H, W) averaged over the window's T aligned steps, and the window's counts
        ``{name: (L, S, B)}`` over its billed steps (S = T + L in reset mode, T in stream mode)."""
        x = search_spikes.to(self.device)
        if self.mode == "stream":
            if self._stream is None:
                self._stream = self.emulator.zero_state(x.shape[1])
            res = self.emulator.run_aligned(x, stream=self._stream)
            self._stream = res.state
        else:
            res = self.emulator.run_aligned(x)
        v = res.readout_v.double() / self.qnet.readout_scale
        counts = {k: res.counts[k].cpu().numpy() for k in COUNT_NAMES}
        return v.mean(0).float(), counts

    def __call__(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        template, search = batch["template_spikes"], batch["search_spikes"]
        if template.shape[1] != 1:
            raise ValueError(f"EmulatedStudent tracks one sequence at a time, got a batch of {template.shape[1]}")
        self._set_template(template)
        membrane, counts = self.run_window(search)
        self._counts.append(counts)
        return split_head(membrane.to(search.device))

    def counts(self) -> dict[str, np.ndarray]:
        """Counts of every window run so far, ``{name: (L, S, windows)}`` (the emulator's counter layout; S the billed
        steps per frame, see :meth:`billed_steps`)."""
        if not self._counts:
            raise ValueError("no search window has been run yet")
        return {k: np.concatenate([c[k] for c in self._counts], axis=2) for k in COUNT_NAMES}


class EmulatedTracker(ModelTracker):
    """:class:`ModelTracker` around an :class:`EmulatedStudent`; sequences with a silent template keep their initial
    box and are listed in ``silent_sequences``. ``fingerprint`` and ``box_update`` as :class:`ModelTracker`.

    In ``stream`` mode the crop of frame ``j`` is centred on the box of frame ``j - crop_lag_frames`` (the newest
    read-out complete when frame ``j`` starts on the chip; frame 0's box before that); the box reported for frame
    ``j`` is still decoded from frame ``j``'s own read-out in frame ``j``'s crop. ``crop_lag`` (a diagnostic,
    ``experiments/stream_diagnostic.py``) replaces the mode's own lag: a reset tracker whose crops lag as a stream
    one's do, or a stream tracker with crops newer than the chip could have them (not causal on the chip).
    """

    def __init__(self, emulated: EmulatedStudent, crop: CropConfig, window_influence: float = 0.25,
                 device: str | torch.device = "cpu", name: str = "student_loihi", fingerprint: str | None = None,
                 box_update: BoxUpdate | None = None, crop_lag: int | None = None) -> None:
        if crop_lag is not None and crop_lag < 1:
            raise ValueError(f"crop_lag must be >= 1 frame, got {crop_lag}")
        if emulated.mode != "reset" and fingerprint is not None:
            fingerprint = f"{fingerprint}|loihi_mode={emulated.mode}"
        if crop_lag is not None and fingerprint is not None:
            fingerprint = f"{fingerprint}|crop_lag={crop_lag}"
        self._crop_lag = crop_lag
        super().__init__(emulated, crop, window_influence, device=device, name=name, fingerprint=fingerprint,
                         box_update=box_update)
        self.emulated = emulated
        self.silent_sequences: list[str] = []
        self._silent = False
        self._boxes: dict[int, np.ndarray] = {}

    @property
    def mode(self) -> str:
        """``reset`` or ``stream`` (the :class:`EmulatedStudent`'s)."""
        return self.emulated.mode

    @property
    def crop_lag_frames(self) -> int:
        """How many frames back the box that centres a frame's crop is: 1 in reset mode (the previous frame's read-out
        is complete after its flush), ``1 + ceil(L / T)`` in stream mode (frame ``k``'s read-out ends ``L`` steps
        after its last input step, while frames ``k + 1...`` already run); the ``crop_lag`` given, if any."""
        if self._crop_lag is not None:
            return self._crop_lag
        if self.mode == "reset":
            return 1
        return 1 + math.ceil(self.emulated.latency_steps / self.crop.student_steps)

    def initialize(self, seq: Sequence, box: np.ndarray | None = None) -> np.ndarray:
        self._silent = False
        self.emulated.start_sequence()
        first = super().initialize(seq, box)
        self._boxes = {0: first.copy()}
        return first

    def update(self, k: int) -> np.ndarray:
        """As :meth:`ModelTracker.update` (the crop lagging by :attr:`crop_lag_frames`); after a silent template the
        box stays where it started."""
        if self._seq is None:
            raise RuntimeError(f"tracker {self.name!r}: call initialize() before update()")
        if not self._silent:
            try:
                known = [i for i in self._boxes if i <= k - self.crop_lag_frames]
                crop_box = self._boxes[max(known)] if known else self._boxes[0]
                box = self._track_window(k, crop_box)
                self._remember(k, box)
                return box
            except SilentTemplateError:
                self._silent = True
                self.silent_sequences.append(self._seq.name)
        self._remember(k, self._box)
        return self._box

    def _remember(self, k: int, box: np.ndarray) -> None:
        """Keep frame ``k``'s box for later crops (and frame 0's); older boxes no crop can use are dropped."""
        self._boxes[k] = box.copy()
        for old in [i for i in self._boxes if 0 < i < k - self.crop_lag_frames]:
            del self._boxes[old]


def fixed_point_trackers(student: nn.Module, sequences: list[Sequence], crop: CropConfig, weight_percentile: float,
                         window_influence: float, device: str | torch.device = "cpu",
                         names: dict[str, str] | None = None) -> dict[str, EmulatedTracker]:
    """The student in Loihi fixed point, one :class:`EmulatedTracker` per mode (``reset``, ``stream``), named
    ``names[mode]`` (default ``fixed_<mode>``): quantised once with the first live template of ``sequences``
    (:func:`first_live_template`), the correlation layer re-quantised per sequence as each one tracks. What the demo's
    evaluation and every frontier point track and bill."""
    from had_snn.conversion.quantize import quantize_student

    qnet = quantize_student(student, first_live_template(student, sequences, crop)[1], weight_percentile)
    return {mode: EmulatedTracker(EmulatedStudent(student, qnet, weight_percentile, device=device, mode=mode), crop,
                                  window_influence, device=device, name=(names or {}).get(mode, f"fixed_{mode}"))
            for mode in MODES}


def emulator_counts(trackers: dict[str, EmulatedTracker], input_steps: int) -> dict[str, dict]:
    """The operation counts each mode's tracker billed while it tracked, as counts files
    (:func:`had_snn.hardware.counts.counts_from_emulator`), keyed by mode."""
    from had_snn.hardware.counts import counts_from_emulator

    return {mode: counts_from_emulator(t.emulated.layer_names, t.emulated.counts(), input_steps=input_steps, mode=mode)
            for mode, t in trackers.items()}
