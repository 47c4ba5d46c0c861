"""Track with the Loihi fixed-point student: the quantised network, run by the bit-exact emulator, in the tracker loop.

:class:`EmulatedStudent` has the model interface :class:`~had_snn.tracking.tracker.ModelTracker` expects
(``forward(batch) -> heatmap/size/offset``). On a new template (a new sequence) it re-quantises only the correlation
layer, as the deployed network does at track start. Each search window runs ``T + L`` emulator steps from the zero
state (``L`` synaptic layers each add one step of latency; the input is zero-padded) and the read-out ``v`` of the
last ``T`` steps, divided by the read-out scale, replaces the float membrane. Operation counts of every window are
kept for the energy model.

A template whose stage-3 spikes are all silent gives an all-zero correlation kernel, which has no fixed-point scale:
the deployed network cannot track from it. :class:`EmulatedTracker` then keeps the initial box for that sequence
(the static baseline's answer) and lists the sequence in ``silent_sequences`` so reports can say so.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from had_snn.conversion.emulator import COUNT_NAMES, LoihiEmulator
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


class EmulatedStudent:
    """Callable stand-in for a trained student that computes its outputs in Loihi fixed point."""

    def __init__(self, student: nn.Module, qnet: QuantizedNetwork, weight_percentile: float = 100.0,
                 device: str | torch.device = "cpu") -> None:
        if getattr(student, "kind", None) != "student":
            raise ValueError(f"EmulatedStudent needs the spiking student, got {getattr(student, 'kind', student)!r}")
        self.student = student.eval()
        self.base = qnet
        self.weight_percentile = float(weight_percentile)
        self.device = torch.device(device)
        self.config = student.config  # lets crop_config_for() read template_px / search_px
        self._template: torch.Tensor | None = None
        self.qnet = qnet
        self.emulator = LoihiEmulator(qnet.layers, self.device)
        self.layer_names = list(self.emulator.layer_names)
        self._counts: list[dict[str, np.ndarray]] = []

    @property
    def latency_steps(self) -> int:
        """Steps of pipeline latency (one per synaptic layer; the emulator's ``fill_steps``)."""
        return self.emulator.fill_steps

    def _set_template(self, template: torch.Tensor) -> None:
        if self._template is not None and torch.equal(self._template, template):
            return
        if is_silent(self.student, template.cpu()):
            raise SilentTemplateError("the template's stage-3 spikes are all zero")
        self.qnet = correlation_layer(self.student, self.base, template.cpu(), self.weight_percentile)
        self.emulator = LoihiEmulator(self.qnet.layers, self.device)
        self._template = template.clone()

    def run_window(self, search_spikes: torch.Tensor) -> tuple[torch.Tensor, dict[str, np.ndarray]]:
        """Read-out membrane (B, 5, H, W) averaged over T, and the window's counts ``{name: (L, T + L, B)}``."""
        n_steps = search_spikes.shape[0]
        lat = self.latency_steps
        res = self.emulator.run(self.emulator.flushed(search_spikes).to(self.device))
        v = res.v_out[lat: lat + n_steps].double() / self.qnet.readout_scale
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
        """Counts of every window run so far, ``{name: (L, T + L, windows)}`` (the emulator's counter layout)."""
        if not self._counts:
            raise ValueError("no search window has been run yet")
        return {k: np.concatenate([c[k] for c in self._counts], axis=2) for k in COUNT_NAMES}


class EmulatedTracker(ModelTracker):
    """:class:`ModelTracker` around an :class:`EmulatedStudent`; sequences with a silent template keep their initial
    box and are listed in ``silent_sequences``. ``fingerprint`` and ``box_update`` as :class:`ModelTracker`."""

    def __init__(self, emulated: EmulatedStudent, crop: CropConfig, window_influence: float = 0.25,
                 device: str | torch.device = "cpu", name: str = "student_loihi", fingerprint: str | None = None,
                 box_update: BoxUpdate | None = None) -> None:
        super().__init__(emulated, crop, window_influence, device=device, name=name, fingerprint=fingerprint,
                         box_update=box_update)
        self.silent_sequences: list[str] = []
        self._silent = False

    def initialize(self, seq: Sequence, box: np.ndarray | None = None) -> np.ndarray:
        self._silent = False
        return super().initialize(seq, box)

    def update(self, k: int) -> np.ndarray:
        """As :meth:`ModelTracker.update`; after a silent template the box stays where it started."""
        if not self._silent:
            try:
                return super().update(k)
            except SilentTemplateError:
                self._silent = True
                self.silent_sequences.append(self._seq.name)
        return self._box
